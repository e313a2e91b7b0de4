//! A TCP proxy for tests: forwards every connection made to its local port to a target on the
//! loopback interface (a database), and can cut them — every live connection dropped, every new
//! one closed as soon as it is accepted — then let connections through again. A database going
//! away and coming back, without touching the database.
//!
//! Owns: its listener and the tasks forwarding each connection. Must not touch: anything but the
//! bytes it forwards. It only forwards to loopback addresses.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A running proxy; it stops (dropping its connections) when dropped.
pub struct TestProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

struct Shared {
    /// Whether connections go through.
    open: AtomicBool,
    /// Cancelled to drop every connection forwarded so far; replaced by a fresh one each cut.
    cut: Mutex<CancellationToken>,
}

impl Shared {
    fn cut_token(&self) -> CancellationToken {
        self.cut.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl TestProxy {
    /// A proxy on `127.0.0.1:0` forwarding to `target`, which must be a loopback address.
    pub async fn start(target: SocketAddr) -> io::Result<TestProxy> {
        if !target.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the test proxy forwards to loopback addresses only, not {target}"),
            ));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            open: AtomicBool::new(true),
            cut: Mutex::new(CancellationToken::new()),
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, target, shared.clone(), stop.clone()));
        Ok(TestProxy { addr, shared, stop })
    }

    /// Where to connect instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every live connection and closes new ones at once, until [`TestProxy::restore`].
    pub fn cut(&self) {
        self.shared.open.store(false, Ordering::SeqCst);
        let mut token = self.shared.cut.lock().unwrap_or_else(|p| p.into_inner());
        token.cancel();
        *token = CancellationToken::new();
    }

    /// Lets new connections through again.
    pub fn restore(&self) {
        self.shared.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.shared.cut_token().cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((mut client, _)) = accepted else {
            continue;
        };
        if !shared.open.load(Ordering::SeqCst) {
            // Refused: closed before a byte is exchanged.
            drop(client);
            continue;
        }
        let cut = shared.cut_token();
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(target).await else {
                return;
            };
            // Either side closing, or a cut, ends both (dropping the sockets closes them).
            tokio::select! {
                _ = cut.cancelled() => {}
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn echoes(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 4];
        stream.write_all(b"ping").await.is_ok()
            && stream.read_exact(&mut buf).await.is_ok()
            && &buf == b"ping"
    }

    #[tokio::test]
    async fn a_cut_drops_connections_and_a_restore_lets_new_ones_through() {
        // The proxy forwards, drops every connection when cut, refuses new ones while cut, and
        // forwards again after a restore.
        let proxy = TestProxy::start(echo_server().await).await.expect("proxy");
        let mut live = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert!(echoes(&mut live).await);
        proxy.cut();
        assert!(!echoes(&mut live).await, "a live connection is dropped");
        let mut refused = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert!(!echoes(&mut refused).await, "a new connection is closed");
        proxy.restore();
        let mut again = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert!(echoes(&mut again).await);
    }

    #[tokio::test]
    async fn only_loopback_targets() {
        // The proxy never forwards off the machine.
        let far: SocketAddr = "192.0.2.1:5432".parse().expect("addr");
        assert!(TestProxy::start(far).await.is_err());
    }
}
