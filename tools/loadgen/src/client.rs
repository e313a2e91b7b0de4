//! One simulated player: a single WebSocket that says hello, takes a seat and then moves as soon as
//! the latest update awaits its seat. It owns its socket and its own latency samples; it knows
//! nothing about other clients except the room id it is handed.

use crate::proto::{self, Incoming};
use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Consecutive `busy`/`rate_limited` refusals of one move before the client gives up.
const MAX_RETRIES: u32 = 100;

/// Where the whole run is: clients hold their first move until `Play`, and leave on `Stop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Rooms are being created and filled.
    Setup,
    /// Every room is ready: move.
    Play,
    /// The run's deadline passed: report what you have and leave.
    Stop,
}

/// What one client measured.
#[derive(Debug, Default)]
pub struct ClientOutcome {
    /// Move latencies (act sent -> the mover's next update), in µs.
    pub latencies_us: Vec<u32>,
    /// Error codes received (`error` frames).
    pub error_codes: Vec<String>,
    /// When this client saw the game end, if it did.
    pub finished_at: Option<Instant>,
}

/// The latest update the client has seen.
#[derive(Debug, Default)]
struct Latest {
    seq: u64,
    awaiting: Vec<u32>,
    finished: bool,
}

/// A move in flight.
struct Pending {
    on_seq: u64,
    request: u64,
    sent: Instant,
}

/// A connected, greeted player.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    latest: Latest,
    outcome: ClientOutcome,
}

impl Client {
    /// Connects and completes `hello`/`welcome`, holding one of `gate`'s permits meanwhile so
    /// that thousands of clients do not stampede the server's accept loop.
    pub async fn connect(url: &str, name: &str, gate: &Semaphore) -> anyhow::Result<Client> {
        let _permit = gate.acquire().await.context("connect gate closed")?;
        // Small frames only: a 4 KiB read buffer instead of tungstenite's zero-filled 128 KiB.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let mut client = Client {
            ws,
            latest: Latest::default(),
            outcome: ClientOutcome::default(),
        };
        client.request(proto::hello(name), "welcome", None).await?;
        Ok(client)
    }

    /// Sends `create_room`; returns the new room's id.
    pub async fn create_room(&mut self, moves: u32) -> anyhow::Result<String> {
        let (room, seat) = self
            .request(proto::create_room(moves), "room", Some("c"))
            .await?;
        match (room, seat) {
            (Some(room), Some(0)) => Ok(room),
            other => bail!("create_room answered {other:?}, expected a room id and seat 0"),
        }
    }

    /// Sends `join` for `seat` of `room` (quoted).
    pub async fn join(&mut self, room: &str, seat: u32) -> anyhow::Result<()> {
        match self
            .request(proto::join(room, seat), "room", Some("j"))
            .await?
        {
            (_, Some(s)) if s == seat => Ok(()),
            other => bail!("join answered {other:?}, expected seat {seat}"),
        }
    }

    /// Sends `frame` and reads until the reply of type `kind` (with `request_id`, if given);
    /// returns its room id and seat. Updates read meanwhile are kept.
    async fn request(
        &mut self,
        frame: String,
        kind: &str,
        request_id: Option<&str>,
    ) -> anyhow::Result<(Option<String>, Option<u32>)> {
        self.ws.send(Message::text(frame)).await?;
        loop {
            let text = self.next_text().await?;
            let Some(msg) = self.absorb(&text) else {
                continue;
            };
            if msg.kind == "error" && msg.request_id.as_deref() == request_id {
                bail!("{kind} refused: {:?}: {:?}", msg.code, msg.message);
            }
            if msg.kind == kind && (request_id.is_none() || msg.request_id.as_deref() == request_id)
            {
                return Ok((msg.room.map(|r| r.id().to_owned()), msg.seat));
            }
        }
    }

    /// Waits for the end of the setup phase, reading meanwhile so that the server's pings are
    /// answered and updates (the game's first) are kept. Returns whether to play.
    pub async fn wait_for_play(
        &mut self,
        phase: &mut watch::Receiver<Phase>,
    ) -> anyhow::Result<bool> {
        loop {
            tokio::select! {
                ph = phase.wait_for(|ph| *ph != Phase::Setup) => return Ok(*ph? == Phase::Play),
                // Cancel-safe: `next_text` only consumes a frame it returns.
                text = self.next_text() => {
                    self.absorb(&text?);
                }
            }
        }
    }

    /// Plays `room` (quoted) for `seat` until the game ends or the phase becomes `Stop`, pausing
    /// `think` before each move. The pause is not part of the move's latency.
    pub async fn play(
        mut self,
        room: &str,
        seat: u32,
        think: Duration,
        mut phase: watch::Receiver<Phase>,
    ) -> anyhow::Result<ClientOutcome> {
        let mut pending: Option<Pending> = None;
        let mut requests = 0u64;
        let mut retries = 0u32;
        while !self.latest.finished {
            if pending.is_none() && self.latest.awaiting.contains(&seat) {
                requests += 1;
                // Vary the move a little so the server sees more than one action shape.
                let add = (requests % 3) as u8 + 1;
                if !think.is_zero() {
                    tokio::time::sleep(think).await;
                }
                let sent = Instant::now();
                self.ws
                    .send(Message::text(proto::act(room, requests, add)))
                    .await?;
                pending = Some(Pending {
                    on_seq: self.latest.seq,
                    request: requests,
                    sent,
                });
            }
            // Cancel-safe: `next_text` only consumes a frame it returns.
            let text = tokio::select! {
                biased;
                changed = phase.changed() => match changed {
                    Ok(()) if *phase.borrow() != Phase::Stop => continue,
                    _ => break,
                },
                text = self.next_text() => text?,
            };
            let (Some(msg), Some(p)) = (self.absorb(&text), &pending) else {
                continue;
            };
            if msg.kind == "update" && self.latest.seq > p.on_seq {
                let us = p.sent.elapsed().as_micros();
                self.outcome
                    .latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
                pending = None;
                retries = 0;
            } else if msg.kind == "error"
                && msg.request_id.as_deref() == Some(format!("a{}", p.request).as_str())
            {
                let code = msg.code.as_deref().unwrap_or("");
                if !matches!(code, "busy" | "rate_limited") || retries >= MAX_RETRIES {
                    bail!(
                        "act refused: {code}: {}",
                        msg.message.as_deref().unwrap_or("")
                    );
                }
                retries += 1;
                tokio::time::sleep(Duration::from_millis(msg.retry_after_ms.unwrap_or(1))).await;
                pending = None;
            }
        }
        // The server owes us nothing more; a close frame without waiting for its echo is enough.
        let _ = self.ws.close(None).await;
        Ok(self.outcome)
    }

    /// The next text frame; pings are answered by tungstenite, other frames skipped.
    async fn next_text(&mut self) -> anyhow::Result<tokio_tungstenite::tungstenite::Utf8Bytes> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text),
                Some(Ok(Message::Close(frame))) => return Err(anyhow!("server closed: {frame:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => bail!("server closed the connection"),
            }
        }
    }

    /// Reads a frame, remembering the newest update and counting error frames. A frame that is
    /// not a protocol object is counted as `unreadable_frame` and skipped.
    fn absorb<'t>(&mut self, text: &'t str) -> Option<Incoming<'t>> {
        let Ok(mut msg) = serde_json::from_str::<Incoming>(text) else {
            self.outcome.error_codes.push("unreadable_frame".into());
            return None;
        };
        match (msg.kind.as_ref(), msg.seq) {
            // Out-of-order or repeated updates say nothing new.
            ("update", Some(seq)) if seq > self.latest.seq => {
                self.latest = Latest {
                    seq,
                    awaiting: msg.awaiting.take().unwrap_or_default(),
                    finished: msg.finished(),
                };
                if self.latest.finished {
                    self.outcome.finished_at = Some(Instant::now());
                }
            }
            ("error", _) => {
                let code = msg.code.as_deref().unwrap_or("error_without_code");
                self.outcome.error_codes.push(code.to_owned());
            }
            _ => {}
        }
        Some(msg)
    }
}
