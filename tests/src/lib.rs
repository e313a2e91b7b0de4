//! Helpers for the integration tests: a real server on `127.0.0.1:0` and a WebSocket client that
//! speaks the protocol as a user's program would.

pub mod browser;
pub mod proxy;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tabula::config::Config;
use tabula::server::RunningServer;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expectation may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A shared directory for precompiled modules, so test servers do not recompile them.
fn cache_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tabula-tests-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A configuration for tests: ephemeral port, no bot thinking time, short grace periods, the
/// hostile fixture loaded from a modules directory.
pub fn test_config() -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: cache_dir(),
        ..Config::default()
    };
    let modules = cache_dir().join("extra-modules");
    let _ = std::fs::create_dir_all(&modules);
    let target = modules.join("hostile.wasm");
    if !target.exists() {
        let tmp = modules.join(format!("hostile.{:?}.tmp", std::thread::current().id()));
        std::fs::write(&tmp, tabula_bundle::HOSTILE).expect("write fixture");
        let _ = std::fs::rename(&tmp, &target);
    }
    c.modules_dir = Some(modules);
    // Each test server has its own SQLite file: the default storage, exercised by every test.
    c.database.url = Some(databases::sqlite());
    c.room.bot_think_ms = 0;
    c.room.reconnect_grace_ms = 300;
    c.room.abandoned_close_ms = 200;
    c.room.finished_close_ms = 200;
    c.room.retry_base_ms = 10;
    c.sandbox.fuel_per_call = 200_000_000;
    // Tests drive games as fast as the server answers.
    c.connection.messages_per_second = 5_000;
    c.connection.burst = 5_000;
    // Every test client comes from 127.0.0.1.
    c.connection.max_connections_per_address = 10_000;
    c.connection.sessions_per_address = 100_000;
    c.connection.new_sessions_per_minute = 100_000;
    c
}

/// A running server and its address.
pub struct TestServer {
    /// The server.
    pub server: RunningServer,
}

impl TestServer {
    /// Starts a server with [`test_config`] changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut c = test_config();
        tweak(&mut c);
        let server = tabula::server::start(c).await.expect("server starts");
        TestServer { server }
    }

    /// Starts a server with [`test_config`].
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// A connected client with a new session.
    pub async fn player(&self, name: &str) -> Client {
        let mut c = Client::connect(self.addr(), None).await;
        c.hello(name).await;
        c
    }

    /// An HTTP GET on the server (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr(), path).await
    }
}

/// An HTTP GET on `addr` (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, None).await
}

/// An HTTP request with no body on `addr`, with `bearer` as its `Authorization` (status, body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
) -> (u16, String) {
    http_body(addr, method, path, bearer, "").await
}

/// An HTTP GET on `addr`: the status, the head (status line and headers) and the body.
pub async fn http_head(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    exchange(addr, req.as_bytes()).await
}

/// An HTTP request with a JSON `body` (none when empty); the status and the body.
pub async fn http_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: &str,
) -> (u16, String) {
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let kind = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}{kind}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, body) = exchange(addr, req.as_bytes()).await;
    (status, body)
}

/// Sends a whole HTTP/1.1 `request` (which asks to close the connection) to `addr` and reads
/// the answer: the status, the head (status line and headers) and the body.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("read");
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// The move a simple Liap Tui player makes from its view (`None` when it has none): the first
/// legal declaration, declining redeals, leading its first piece, following with its first
/// pieces. It plays badly, which keeps games long.
pub fn liap_tui_move(view: &Value) -> Option<Value> {
    let can = &view["can"];
    if let Some(values) = can["declare"].as_array() {
        return Some(serde_json::json!({"declare": values[0]}));
    }
    if can["redeal"] == true {
        return Some(serde_json::json!({"redeal": false}));
    }
    let hand = view["hand"].as_array()?;
    let play = &can["play"];
    if play["lead"] == true {
        return Some(serde_json::json!({"play": [hand[0]]}));
    }
    let count = play["count"].as_u64()? as usize;
    Some(serde_json::json!({"play": hand[..count]}))
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// A fresh request id.
pub fn request_id() -> String {
    format!("q{}", REQUEST_IDS.fetch_add(1, Ordering::Relaxed))
}

/// A WebSocket client that keeps frames it was not waiting for.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    backlog: VecDeque<Value>,
    /// The session token after `hello`.
    pub token: String,
    /// The player id after `hello`.
    pub player: String,
}

impl Client {
    /// Opens a socket (`?token=` when given).
    pub async fn connect(addr: SocketAddr, token: Option<&str>) -> Client {
        let url = match token {
            Some(t) => format!("ws://{addr}/ws?token={t}"),
            None => format!("ws://{addr}/ws"),
        };
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Client {
            ws,
            backlog: VecDeque::new(),
            token: String::new(),
            player: String::new(),
        }
    }

    /// Opens a socket sending `Origin: origin`; the HTTP status when the upgrade is refused.
    pub async fn connect_from_origin(addr: SocketAddr, origin: &str) -> Result<Client, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{addr}/ws")
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("origin", origin.parse().expect("header value"));
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(Client {
                ws,
                backlog: VecDeque::new(),
                token: String::new(),
                player: String::new(),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("unexpected handshake error: {e}"),
        }
    }

    /// Sends a raw WebSocket frame (for protocol violations).
    pub async fn send_frame(
        &mut self,
        frame: tokio_tungstenite::tungstenite::protocol::frame::Frame,
    ) {
        self.ws.send(Message::Frame(frame)).await.expect("send");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .expect("send");
    }

    /// Opens a socket whose receive buffer is tiny, so that a client that stops reading makes
    /// the server's queue for it fill up quickly.
    pub async fn connect_small_buffer(addr: SocketAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("buffer size");
        let tcp = socket.connect(addr).await.expect("connect");
        let (ws, _) =
            tokio_tungstenite::client_async(format!("ws://{addr}/ws"), MaybeTlsStream::Plain(tcp))
                .await
                .expect("websocket handshake");
        Client {
            ws,
            backlog: VecDeque::new(),
            token: String::new(),
            player: String::new(),
        }
    }

    /// Sends `hello` with a name and keeps the session.
    pub async fn hello(&mut self, name: &str) -> Value {
        self.send(json!({"type": "hello", "name": name})).await;
        let w = self.recv_type("welcome").await;
        self.token = w["token"].as_str().expect("token").into();
        self.player = w["player"].as_str().expect("player").into();
        w
    }

    /// Reconnects as the same session on a new socket.
    pub async fn reconnect(addr: SocketAddr, token: &str) -> Client {
        let mut c = Client::connect(addr, None).await;
        c.send(json!({"type": "hello", "token": token})).await;
        let w = c.recv_type("welcome").await;
        assert_eq!(w["resumed"], true);
        c.token = token.into();
        c.player = w["player"].as_str().expect("player").into();
        c
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next frame from the socket (not the backlog); `None` when closed.
    async fn read(&mut self) -> Option<Result<Value, (u16, String)>> {
        loop {
            let msg = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame arrives in time")?;
            match msg {
                Ok(Message::Text(t)) => {
                    return Some(Ok(serde_json::from_str(&t).expect("server sends JSON")));
                }
                Ok(Message::Close(f)) => {
                    return Some(Err(f.map_or((1005, String::new()), |f| {
                        (u16::from(f.code), f.reason.to_string())
                    })));
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next message (backlog first).
    pub async fn recv(&mut self) -> Value {
        if let Some(v) = self.backlog.pop_front() {
            return v;
        }
        match self.read().await {
            Some(Ok(v)) => v,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The next message of type `ty`; others are kept for later.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        if let Some(i) = self.backlog.iter().position(|v| v["type"] == ty) {
            return self.backlog.remove(i).expect("index");
        }
        loop {
            match self.read().await {
                Some(Ok(v)) if v["type"] == ty => return v,
                Some(Ok(v)) => self.backlog.push_back(v),
                other => panic!("expected a {ty}, got {other:?}"),
            }
        }
    }

    /// Sends `msg` with a fresh request id and returns its reply (`error` included).
    pub async fn request(&mut self, mut msg: Value) -> Value {
        let id = request_id();
        msg["request_id"] = id.clone().into();
        self.send(msg).await;
        self.reply_to(&id).await
    }

    /// The reply to request `id`.
    pub async fn reply_to(&mut self, id: &str) -> Value {
        if let Some(i) = self.backlog.iter().position(|v| v["request_id"] == id) {
            return self.backlog.remove(i).expect("index");
        }
        loop {
            match self.read().await {
                Some(Ok(v)) if v["request_id"] == id => return v,
                Some(Ok(v)) => self.backlog.push_back(v),
                other => panic!("expected the reply to {id}, got {other:?}"),
            }
        }
    }

    /// Creates a room (`fields` besides the type) and returns its id; fails the test on an error.
    pub async fn create_room(&mut self, mut fields: Value) -> String {
        fields["type"] = "create_room".into();
        room_id(&self.ok(fields).await)
    }

    /// Like [`Client::request`] but fails the test on an `error` reply.
    pub async fn ok(&mut self, msg: Value) -> Value {
        let reply = self.request(msg.clone()).await;
        assert_ne!(reply["type"], "error", "{msg} was refused: {reply}");
        reply
    }

    /// Sends `msg` and returns the error code of the reply (fails if it is not an error).
    pub async fn error_code(&mut self, msg: Value) -> String {
        let reply = self.request(msg.clone()).await;
        assert_eq!(reply["type"], "error", "{msg} should be refused: {reply}");
        reply["code"].as_str().expect("code").to_string()
    }

    /// The next `update` for `room` with a sequence number of at least `seq`.
    pub async fn update_at_least(&mut self, room: &str, seq: u64) -> Value {
        loop {
            let u = self.recv_type("update").await;
            if u["room"] == room && u["seq"].as_u64().unwrap_or(0) >= seq {
                return u;
            }
        }
    }

    /// Whether the reply to request `id` has already arrived, without waiting for it (frames that
    /// are already there are kept for later).
    pub async fn has_reply(&mut self, id: &str) -> bool {
        while let Ok(frame) = tokio::time::timeout(Duration::from_millis(5), self.ws.next()).await {
            match frame {
                Some(Ok(Message::Text(t))) => self
                    .backlog
                    .push_back(serde_json::from_str(&t).expect("server sends JSON")),
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        self.backlog.iter().any(|v| v["request_id"] == id)
    }

    /// Sends a WebSocket ping and waits for its pong (frames meanwhile are kept).
    pub async fn ping(&mut self) {
        self.ws
            .send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .expect("send ping");
        loop {
            let msg = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a pong arrives in time")
                .expect("open")
                .expect("a frame");
            match msg {
                Message::Pong(_) => return,
                Message::Text(t) => self
                    .backlog
                    .push_back(serde_json::from_str(&t).expect("server sends JSON")),
                _ => {}
            }
        }
    }

    /// The next message (backlog first), or the close code and reason if the server closes.
    pub async fn recv_or_close(&mut self) -> Result<Value, (u16, String)> {
        if let Some(v) = self.backlog.pop_front() {
            return Ok(v);
        }
        match self.read().await {
            Some(r) => r,
            None => Err((1006, "no close frame".into())),
        }
    }

    /// Reads until the server closes the socket; returns the close code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.read().await {
                Some(Ok(_)) => continue,
                Some(Err(close)) => return close,
                None => return (1006, "no close frame".into()),
            }
        }
    }

    /// Sends a normal close frame and returns the code of the server's answering close frame
    /// (`None` if the connection ended without one).
    pub async fn close_and_wait(&mut self) -> Option<u16> {
        self.ws
            .send(Message::Close(Some(
                tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: CloseCode::Normal,
                    reason: "bye".into(),
                },
            )))
            .await
            .expect("send close");
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(f)))) => return f.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => return None,
                Err(_) => panic!("no answer to the close frame in time"),
            }
        }
    }

    /// Closes the socket without ceremony (a dropped connection).
    pub async fn drop_connection(mut self) {
        let _ = self
            .ws
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Away,
                reason: "bye".into(),
            }))
            .await;
    }
}

/// The room id in a `room` reply.
pub fn room_id(reply: &Value) -> String {
    reply["room"]["id"].as_str().expect("room id").to_string()
}

/// A database for one test server: its own SQLite file, or its own PostgreSQL database.
pub mod databases {
    use std::sync::atomic::{AtomicU64, Ordering};

    static NEXT: AtomicU64 = AtomicU64::new(0);

    /// Drops the databases earlier test processes made (their process is gone), once per process.
    async fn drop_leftovers(admin: &mut sqlx::PgConnection) {
        static ONCE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        ONCE.get_or_init(|| async {
            let names: Vec<(String,)> =
                sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'tabula\\_t%'")
                    .fetch_all(&mut *admin)
                    .await
                    .unwrap_or_default();
            for (name,) in names {
                let pid = name
                    .strip_prefix("tabula_t")
                    .and_then(|rest| rest.split('_').next())
                    .and_then(|p| p.parse::<u32>().ok());
                let gone = pid.is_some_and(|p| {
                    p != std::process::id() && !std::path::Path::new(&format!("/proc/{p}")).exists()
                });
                if gone {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut *admin)
                        .await;
                }
            }
        })
        .await;
    }

    /// A fresh SQLite database URL: a new file in the test process's directory.
    pub fn sqlite() -> String {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = super::cache_dir().join(format!("db-{n}.sqlite"));
        format!("sqlite://{}", path.display())
    }

    /// A fresh, empty PostgreSQL database on the server `DATABASE_URL` names (not dropped here:
    /// a killed server may still hold it; a later test process drops it once this one is gone), or
    /// `None` with a visible message when there is no `DATABASE_URL`. With
    /// `TEST_REQUIRE_SERVICES=1`, a missing or unreachable database fails the test instead.
    pub async fn postgres(test: &str) -> Option<String> {
        let required = std::env::var("TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
        let Ok(url) = std::env::var("DATABASE_URL") else {
            assert!(!required, "{test}: DATABASE_URL is not set");
            eprintln!("SKIPPED {test}: set DATABASE_URL to a PostgreSQL server to run it");
            return None;
        };
        use sqlx::Connection;
        let mut admin = match sqlx::PgConnection::connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                assert!(!required, "{test}: cannot reach {url}: {e}");
                eprintln!("SKIPPED {test}: cannot reach {url}: {e}");
                return None;
            }
        };
        let name = format!(
            "tabula_t{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            test.chars()
                .filter(char::is_ascii_alphanumeric)
                .take(20)
                .collect::<String>()
                .to_lowercase()
        );
        drop_leftovers(&mut admin).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let base = match url.rfind('/') {
            Some(i) if url[..i].contains("://") && url[i..].len() > 1 => &url[..i],
            _ => url.as_str(),
        };
        Some(format!("{base}/{name}"))
    }
}

/// A server in a process of its own, which a test can kill as a crash would.
pub struct ServerProcess {
    child: std::process::Child,
    /// The game port.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `bin serve` on `database_url` with the data directory `data_dir`, fast bots and the
    /// limits tests need, plus `env`; waits until it listens (not until it is ready).
    pub fn start(
        bin: &str,
        data_dir: &std::path::Path,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("--data-dir")
            .arg(data_dir)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--database-url")
            .arg(database_url)
            .env("TABULA_LOG", "warn")
            .env("TABULA_CONNECTION__MESSAGES_PER_SECOND", "5000")
            .env("TABULA_CONNECTION__BURST", "5000")
            .env("TABULA_CONNECTION__SESSIONS_PER_ADDRESS", "100000")
            .env("TABULA_CONNECTION__NEW_SESSIONS_PER_MINUTE", "100000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let line = lines
            .next()
            .expect("the server says where it serves")
            .expect("utf-8 output");
        let addr = line
            .split("serving on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        // Keep reading, so that the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess { child, addr }
    }

    /// Waits until `/health/ready` answers 200 (recovery done).
    pub async fn ready(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE * 3;
        loop {
            if http_get(self.addr, "/health/ready").await.0 == 200 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server never became ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the process with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
