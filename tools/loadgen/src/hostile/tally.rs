//! What one hostile kind did and what the server answered: connections made, frames sent and
//! received (by type), error codes, and how each connection ended. Shared by all clients of a
//! kind through an `Arc`; counters are atomics and the maps sit behind a mutex that is never
//! held across an `.await`. Knows nothing of sockets beyond naming how they ended.

use serde::Serialize;
use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio_tungstenite::tungstenite::{self, Message, error::ProtocolError};

/// The counts of one kind of hostile client.
#[derive(Debug, Default)]
pub struct Tally {
    connects: AtomicU64,
    reconnects: AtomicU64,
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    bytes_received: AtomicU64,
    maps: Mutex<Maps>,
}

/// The counts kept by name.
#[derive(Debug, Default, Clone, Serialize)]
struct Maps {
    /// Frames received by type (`welcome`, `rooms`, `error`, `ping`, `http_408`, ...).
    received: BTreeMap<String, u64>,
    /// `error` frames by code.
    errors: BTreeMap<String, u64>,
    /// Connections ended, by how: a close code, `eof`, `reset`, ...
    closes: BTreeMap<String, u64>,
    /// Attempts that never became a usable connection, by why.
    connect_failures: BTreeMap<String, u64>,
}

/// What one kind did over the whole mix, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    /// The kind's name.
    pub kind: &'static str,
    /// Clients of this kind (tasks, each holding one connection at a time).
    pub clients: u32,
    /// Connections made (WebSocket kinds: welcomed; raw sockets: TCP established).
    pub connects: u64,
    /// Of those, connections made again after the previous one ended.
    pub reconnects: u64,
    /// Frames written (raw sockets: none).
    pub frames_sent: u64,
    /// Frames read, control frames included.
    pub frames_received: u64,
    /// Bytes read (payloads of text and binary frames; raw sockets: everything).
    pub bytes_received: u64,
    /// Frames read by type.
    pub received: BTreeMap<String, u64>,
    /// `error` frames by code.
    pub errors: BTreeMap<String, u64>,
    /// Connections ended, by how.
    pub closes: BTreeMap<String, u64>,
    /// Attempts that failed before the connection was usable, by why.
    pub connect_failures: BTreeMap<String, u64>,
}

impl Tally {
    /// A connection is usable; `again` when it replaces one that ended.
    pub fn connected(&self, again: bool) {
        self.connects.fetch_add(1, Relaxed);
        if again {
            self.reconnects.fetch_add(1, Relaxed);
        }
    }

    /// An attempt to connect (or to say hello) failed.
    pub fn connect_failed(&self, why: &str) {
        bump(&mut self.lock().connect_failures, why);
    }

    /// `n` frames were written.
    pub fn sent(&self, n: u64) {
        self.frames_sent.fetch_add(n, Relaxed);
    }

    /// A frame of `kind` and `bytes` was read.
    pub fn received(&self, kind: &str, bytes: usize) {
        self.frames_received.fetch_add(1, Relaxed);
        self.bytes_received.fetch_add(bytes as u64, Relaxed);
        bump(&mut self.lock().received, kind);
    }

    /// Bytes read from a raw socket, outside any frame.
    pub fn raw_bytes(&self, bytes: usize) {
        self.bytes_received.fetch_add(bytes as u64, Relaxed);
    }

    /// An `error` frame with `code` was read.
    pub fn error(&self, code: &str) {
        bump(&mut self.lock().errors, code);
    }

    /// A connection ended, as `how` says.
    pub fn closed(&self, how: &str) {
        bump(&mut self.lock().closes, how);
    }

    /// The counts so far.
    pub fn report(&self, kind: &'static str, clients: u32) -> KindReport {
        let maps = self.lock().clone();
        KindReport {
            kind,
            clients,
            connects: self.connects.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            frames_sent: self.frames_sent.load(Relaxed),
            frames_received: self.frames_received.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            received: maps.received,
            errors: maps.errors,
            closes: maps.closes,
            connect_failures: maps.connect_failures,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        // A panic elsewhere cannot leave a count map half-updated in a way that matters.
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

impl KindReport {
    /// One line for a terminal, and a second for the maps.
    pub fn text(&self) -> String {
        let map = |m: &BTreeMap<String, u64>| {
            let items: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
            if items.is_empty() {
                "-".to_owned()
            } else {
                items.join(", ")
            }
        };
        format!(
            "  {:<12} {:>4} clients: {} connects ({} reconnects), {} frames sent, {} received \
             ({} KiB)\n    received: {}\n    errors: {}\n    closes: {}\n    connect failures: {}\n",
            self.kind,
            self.clients,
            self.connects,
            self.reconnects,
            self.frames_sent,
            self.frames_received,
            self.bytes_received / 1024,
            map(&self.received),
            map(&self.errors),
            map(&self.closes),
            map(&self.connect_failures),
        )
    }
}

/// How a WebSocket ended, named for the tally: the close code the server sent (e.g. `4008`),
/// `close_without_code`, `eof` (the stream ended after or without a close frame), `reset`, ...
/// `None` when `msg` is not the end.
pub fn ending(msg: &Option<Result<Message, tungstenite::Error>>) -> Option<String> {
    Some(match msg {
        Some(Ok(Message::Close(Some(frame)))) => u16::from(frame.code).to_string(),
        Some(Ok(Message::Close(None))) => "close_without_code".to_owned(),
        Some(Ok(_)) => return None,
        None => "eof".to_owned(),
        Some(Err(e)) => error_name(e),
    })
}

/// A short name for a WebSocket error.
pub fn error_name(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => "eof".into(),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            "eof_without_close".into()
        }
        tungstenite::Error::Protocol(p) => format!("protocol: {p}"),
        tungstenite::Error::Io(e) => io_name(e),
        tungstenite::Error::Http(response) => format!("http_{}", response.status().as_u16()),
        other => format!("{other}"),
    }
}

/// A short name for an I/O error: `reset`, `refused`, ...
pub fn io_name(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "reset".into(),
        io::ErrorKind::ConnectionRefused => "refused".into(),
        io::ErrorKind::BrokenPipe => "broken_pipe".into(),
        io::ErrorKind::TimedOut => "timeout".into(),
        kind => format!("io_{kind:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};

    #[test]
    fn endings_are_named_by_close_code() {
        // A close frame names its code; a stream that just ends is `eof`; data is not an end.
        let close = Some(Ok(Message::Close(Some(CloseFrame {
            code: CloseCode::from(4008),
            reason: "too many messages".into(),
        }))));
        assert_eq!(ending(&close).as_deref(), Some("4008"));
        assert_eq!(ending(&None).as_deref(), Some("eof"));
        assert_eq!(ending(&Some(Ok(Message::text("x")))), None);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(
            ending(&Some(Err(tungstenite::Error::Io(reset)))).as_deref(),
            Some("reset")
        );
    }

    #[test]
    fn the_report_carries_every_count() {
        // What was counted comes out under the kind's name.
        let t = Tally::default();
        t.connected(false);
        t.connected(true);
        t.sent(3);
        t.received("error", 10);
        t.error("bad_json");
        t.error("bad_json");
        t.closed("4008");
        let r = t.report("flood", 1);
        assert_eq!((r.connects, r.reconnects, r.frames_sent), (2, 1, 3));
        assert_eq!((r.frames_received, r.bytes_received), (1, 10));
        assert_eq!(r.errors.get("bad_json"), Some(&2));
        assert_eq!(r.closes.get("4008"), Some(&1));
    }
}
