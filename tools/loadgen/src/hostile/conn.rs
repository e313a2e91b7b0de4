//! The hostile clients' shared socket steps: connecting and saying hello as a lasting identity
//! (the first hello names the player, later ones present its token, so reconnecting does not
//! pile up sessions on the server), and reading frames while counting them in a [`Tally`].
//! Every step has a time limit; failures are counted, never returned as errors, because a
//! hostile client's only answer to a failure is to try again.

use super::tally::{self, Tally};
use crate::proto::{self, Incoming};
use futures_util::{SinkExt, Stream, StreamExt};
use std::io;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, Message, protocol::WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client's WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long connecting, or waiting for the reply to `hello`, may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames longer than this are not parsed whole: their type is read from the start, which is
/// enough for the tally, and keeps a 1 MB `rooms` reply from costing the generator's core a
/// full parse (the server writes `type` first).
const PARSED_BYTES: usize = 4096;

/// A player as the server knows it: the name of its first hello, then its token.
#[derive(Debug)]
pub struct Identity {
    name: String,
    token: Option<String>,
}

impl Identity {
    /// A player yet to say hello.
    pub fn new(name: String) -> Identity {
        Identity { name, token: None }
    }
}

/// What a text frame said, as far as the hostile clients act on it.
#[derive(Debug, Default)]
pub struct Frame {
    /// Its type.
    pub kind: String,
    /// The request it answers.
    pub request_id: Option<String>,
    /// The error code, for `error`.
    pub code: Option<String>,
    /// The suggested wait, for `rate_limited`.
    pub retry_after_ms: Option<u64>,
    /// The session's token, for `welcome`.
    pub token: Option<String>,
}

/// One read: a text frame, or the end of the connection (named as in [`tally::ending`]).
#[derive(Debug)]
pub enum Read {
    /// A text frame, already counted.
    Frame(Frame),
    /// The connection ended, already counted as closed.
    Closed(String),
}

/// Reads the next text frame, counting it and every control or binary frame read on the way.
/// On the end of the connection, counts it as closed and says how.
pub async fn next_frame<S>(ws: &mut S, tally: &Tally) -> Read
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let msg = ws.next().await;
        if let Some(how) = tally::ending(&msg) {
            if matches!(msg, Some(Ok(Message::Close(_)))) {
                tally.received("close", 0);
            }
            tally.closed(&how);
            return Read::Closed(how);
        }
        match msg {
            Some(Ok(Message::Text(text))) => return Read::Frame(absorb(tally, &text)),
            Some(Ok(Message::Binary(b))) => tally.received("binary", b.len()),
            // tungstenite answers pings itself, when the stream is read.
            Some(Ok(Message::Ping(_))) => tally.received("ping", 0),
            Some(Ok(Message::Pong(_))) => tally.received("pong", 0),
            _ => {}
        }
    }
}

/// Counts a text frame by type (and code, for errors) and reads the fields clients act on.
fn absorb(tally: &Tally, text: &str) -> Frame {
    if text.len() > PARSED_BYTES {
        let kind = type_prefix(text).unwrap_or("unreadable");
        tally.received(kind, text.len());
        return Frame {
            kind: kind.to_owned(),
            ..Frame::default()
        };
    }
    let Ok(msg) = serde_json::from_str::<Incoming>(text) else {
        tally.received("unreadable", text.len());
        return Frame {
            kind: "unreadable".to_owned(),
            ..Frame::default()
        };
    };
    tally.received(&msg.kind, text.len());
    if msg.kind == "error" {
        tally.error(msg.code.as_deref().unwrap_or("error_without_code"));
    }
    Frame {
        kind: msg.kind.into_owned(),
        request_id: msg.request_id.map(|r| r.into_owned()),
        code: msg.code.map(|c| c.into_owned()),
        retry_after_ms: msg.retry_after_ms,
        token: msg.token.map(|t| t.into_owned()),
    }
}

/// The `type` of a frame that starts `{"type":"...`.
fn type_prefix(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(r#"{"type":""#)?;
    rest.get(..rest.find('"')?)
}

/// Connects and says hello as `who`; `None` (counted) when either fails. `again` marks a
/// reconnection for the tally; `rcvbuf`, if given, is the socket's kernel receive buffer.
pub async fn join(
    url: &str,
    who: &mut Identity,
    tally: &Tally,
    again: bool,
    rcvbuf: Option<u32>,
) -> Option<Ws> {
    let mut ws = match timeout(STEP_TIMEOUT, connect(url, rcvbuf)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tally.connect_failed(&tally::error_name(&e));
            return None;
        }
        Err(_) => {
            tally.connect_failed("connect_timeout");
            return None;
        }
    };
    let hello = match &who.token {
        Some(token) => proto::hello_token(token),
        None => proto::hello(&who.name),
    };
    if ws.send(Message::text(hello)).await.is_err() {
        tally.connect_failed("hello_not_sent");
        return None;
    }
    tally.sent(1);
    let welcome = async {
        loop {
            match next_frame(&mut ws, tally).await {
                Read::Frame(f) if f.kind == "welcome" => return Ok(f.token),
                Read::Frame(f) if f.kind == "error" => return Err(f.code),
                Read::Frame(_) => {}
                Read::Closed(_) => return Err(None),
            }
        }
    };
    match timeout(STEP_TIMEOUT, welcome).await {
        Ok(Ok(token)) => {
            who.token = token.or(who.token.take());
            tally.connected(again);
            Some(ws)
        }
        Ok(Err(code)) => {
            if code.as_deref() == Some("bad_token") {
                // The session expired: the next hello names the player afresh.
                who.token = None;
            }
            tally.connect_failed(&format!("hello_{}", code.as_deref().unwrap_or("closed")));
            None
        }
        Err(_) => {
            tally.connect_failed("welcome_timeout");
            None
        }
    }
}

/// Opens the WebSocket, over a socket with the receive buffer `rcvbuf` when one is given.
async fn connect(url: &str, rcvbuf: Option<u32>) -> Result<Ws, tungstenite::Error> {
    // Small frames mostly: a 4 KiB read buffer instead of tungstenite's zero-filled 128 KiB.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Some(bytes) = rcvbuf else {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
        return Ok(ws);
    };
    let unusable = |e: anyhow::Error| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
    let authority = self::authority(url).map_err(unusable)?;
    let addr = tokio::net::lookup_host(&authority)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, authority.clone()))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Set before connecting, so that the window the server sees is small from the start.
    socket.set_recv_buffer_size(bytes)?;
    let stream = socket.connect(addr).await?;
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        url,
        MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await?;
    Ok(ws)
}

/// Reads (answering pings) until the connection ends.
pub async fn idle(ws: &mut Ws, tally: &Tally) {
    while let Read::Frame(_) = next_frame(ws, tally).await {}
}

/// `host:port` of a `ws://host:port/...` URL, for raw TCP connections.
pub fn authority(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| anyhow::anyhow!("raw sockets need a ws:// URL, not {url}"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    anyhow::ensure!(
        host.contains(':'),
        "the URL {url} needs an explicit port for raw sockets"
    );
    Ok(host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_frames_are_counted_by_their_leading_type() {
        // A big `rooms` reply is named without a full parse; a small error yields its code.
        let tally = Tally::default();
        let big = format!(
            r#"{{"type":"rooms","rooms":[{}]}}"#,
            "1,".repeat(3000) + "1"
        );
        assert_eq!(absorb(&tally, &big).kind, "rooms");
        let e = absorb(
            &tally,
            r#"{"type":"error","code":"rate_limited","retry_after_ms":20,"request_id":"l1"}"#,
        );
        assert_eq!(
            (e.code.as_deref(), e.retry_after_ms),
            (Some("rate_limited"), Some(20))
        );
        let r = tally.report("t", 1);
        assert_eq!(r.received.get("rooms"), Some(&1));
        assert_eq!(r.errors.get("rate_limited"), Some(&1));
    }

    #[test]
    fn raw_sockets_connect_to_the_urls_host_and_port() {
        // The path is dropped; a URL without a port is refused rather than guessed.
        assert_eq!(
            authority("ws://127.0.0.1:8080/ws").expect("authority"),
            "127.0.0.1:8080"
        );
        assert!(authority("ws://localhost/ws").is_err());
        assert!(authority("wss://h:1/ws").is_err());
    }
}
