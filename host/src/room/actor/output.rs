//! Output of a room: the update frames it sends after each step, on joining and on resuming.
//! Each distinct payload is serialised once and shared by its recipients.

use super::RoomActor;
use crate::api::protocol::{UpdateFrame, raw};
use crate::room::Outbox;
use crate::rules::{Step, Viewer};
use bytes::Bytes;

impl RoomActor {
    /// Sends each recipient its update, serialising each distinct payload once.
    pub(super) fn distribute(&self, step: &Step) {
        let mut cache: Vec<(Option<usize>, Vec<usize>, Bytes)> = Vec::new();
        let mut frame_for = |viewer: Viewer| -> Bytes {
            let view = step.view_index(viewer);
            let events: Vec<usize> = step
                .events
                .iter()
                .enumerate()
                .filter(|(_, e)| e.audience.includes(viewer))
                .map(|(i, _)| i)
                .collect();
            if let Some((_, _, frame)) = cache.iter().find(|(v, e, _)| *v == view && *e == events) {
                return frame.clone();
            }
            let frame: Bytes = self
                .update_frame(
                    &step.phase,
                    &step.awaiting,
                    view.map(|i| step.views[i].view.as_str()),
                    events.iter().map(|&i| step.events[i].payload.as_str()),
                    step.result.as_deref(),
                    false,
                )
                .into();
            cache.push((view, events, frame.clone()));
            frame
        };
        for (seat, occupant) in self.seats.iter().enumerate() {
            if let Some(outbox) = occupant.outbox() {
                outbox.push(frame_for(Viewer::Seat(seat as u32)));
            }
        }
        if !self.spectators.is_empty() {
            let frame = frame_for(Viewer::Spectator);
            for outbox in self.spectators.values() {
                outbox.push(frame.clone());
            }
        }
    }

    fn update_frame<'a>(
        &self,
        phase: &str,
        awaiting: &[u32],
        view: Option<&str>,
        events: impl Iterator<Item = &'a str>,
        result: Option<&str>,
        resync: bool,
    ) -> String {
        let frame = UpdateFrame {
            kind: "update",
            room: self.id.as_str(),
            seq: self.seq,
            phase,
            status: self.status.as_str(),
            awaiting,
            view: view.map(raw),
            events: events.map(raw).collect(),
            result: result.map(raw),
            resync,
        };
        serde_json::to_string(&frame).unwrap_or_default()
    }

    /// Sends one recipient the current state (a full resync when `resync`).
    pub(super) fn send_current(&self, outbox: &Outbox, viewer: Viewer, resync: bool) {
        let Some(game) = &self.game else { return };
        let seat = match viewer {
            Viewer::Seat(s) => Some(s),
            Viewer::Spectator => None,
        };
        let view = match self.module.view(&game.state, seat) {
            Ok(v) => v,
            Err(e) => {
                self.count_failure(&e);
                tracing::warn!(room_id = %self.id, "view failed: {e}");
                return;
            }
        };
        let frame = self.update_frame(
            &game.phase,
            &game.awaiting,
            Some(&view),
            std::iter::empty(),
            game.result.as_deref(),
            resync,
        );
        outbox.push(frame.into());
    }

    /// Sends the steps after `last_seq` (their events for `viewer`) then the current view, or
    /// a resync when the gap is older than the buffer.
    pub(super) fn send_missed(&self, outbox: &Outbox, viewer: Viewer, last_seq: u64) {
        let oldest = self.history.front().map_or(self.seq + 1, |s| s.seq);
        if last_seq >= self.seq {
            self.send_current(outbox, viewer, false);
            return;
        }
        if last_seq + 1 < oldest {
            self.send_current(outbox, viewer, true);
            return;
        }
        for log in self
            .history
            .iter()
            .filter(|s| s.seq > last_seq && s.seq < self.seq)
        {
            let frame = UpdateFrame {
                kind: "update",
                room: self.id.as_str(),
                seq: log.seq,
                phase: &log.phase,
                status: log.status.as_str(),
                awaiting: &log.awaiting,
                view: None,
                events: log
                    .events
                    .iter()
                    .filter(|e| e.audience.includes(viewer))
                    .map(|e| raw(&e.payload))
                    .collect(),
                result: log.result.as_deref().map(raw),
                resync: false,
            };
            outbox.push(serde_json::to_string(&frame).unwrap_or_default().into());
        }
        // The last step: its events plus the current view.
        let Some(game) = &self.game else { return };
        let seat = match viewer {
            Viewer::Seat(s) => Some(s),
            Viewer::Spectator => None,
        };
        let Ok(view) = self.module.view(&game.state, seat) else {
            return;
        };
        let last_events: Vec<&str> = self
            .history
            .back()
            .map(|l| {
                l.events
                    .iter()
                    .filter(|e| e.audience.includes(viewer))
                    .map(|e| e.payload.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let frame = self.update_frame(
            &game.phase,
            &game.awaiting,
            Some(&view),
            last_events.into_iter(),
            game.result.as_deref(),
            false,
        );
        outbox.push(frame.into());
    }
}
