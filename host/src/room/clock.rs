//! The host clock rooms give to modules: milliseconds that advance with tokio's clock, so tests
//! with a paused clock control every deadline.

use tokio::time::Instant;

/// Milliseconds since the Unix epoch at creation, advancing with tokio's monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
    base_ms: u64,
}

impl Clock {
    /// A clock reading wall time now.
    pub fn new() -> Self {
        let base_ms = crate::store::now_ms();
        Clock {
            base: Instant::now(),
            base_ms,
        }
    }

    /// Host milliseconds now.
    pub fn now_ms(&self) -> u64 {
        self.base_ms + self.base.elapsed().as_millis() as u64
    }

    /// The instant at which host time reaches `ms` (now, if it already has).
    pub fn instant_at(&self, ms: u64) -> Instant {
        self.base + std::time::Duration::from_millis(ms.saturating_sub(self.base_ms))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
