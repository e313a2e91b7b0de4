//! The accept loops: admission (connection caps, total and per address), the HTTP request's
//! time limit, and one task per TCP connection that serves HTTP/1.1 and hands WebSocket upgrades
//! to the router.
//!
//! Written here rather than taken from `axum::serve`, which sleeps a second after an accept error
//! and has no time limit for reading a request: a client that opens sockets and sends nothing
//! (or a byte at a time) would keep them forever and, at the file limit, stall the loop for
//! everyone. Here an accepted socket over a cap is answered `503` and closed at once, a request
//! head not read within `connection.header_timeout_ms` closes its socket, and an accept error
//! (the file limit reached) costs a pause of milliseconds, not a second.
//!
//! Owns: [`Admission`], [`Slot`], [`serve`]. Must not touch: what requests mean (the router).

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How many connections may be open, in all and from one address.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The server holds its maximum of connections.
    Total,
    /// This address holds its maximum.
    Address,
}

/// An admitted connection's place; dropping it gives the place back. The WebSocket task keeps
/// it (through the request's extensions) once the HTTP exchange has become a WebSocket.
#[derive(Debug)]
pub struct Slot {
    admission: Arc<Admission>,
    addr: IpAddr,
}

impl Slot {
    /// The client's address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
}

impl Admission {
    /// Caps of `max_total` connections, `max_per_address` from one address.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max_total,
            max_per_address,
            open: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a connection from `addr`, unless a cap is reached.
    pub fn admit(self: &Arc<Self>, addr: IpAddr) -> Result<Slot, Refused> {
        let mut open = self.lock();
        if open.total >= self.max_total {
            return Err(Refused::Total);
        }
        let mine = open.by_address.entry(addr).or_default();
        if *mine >= self.max_per_address {
            return Err(Refused::Address);
        }
        *mine += 1;
        open.total += 1;
        Ok(Slot {
            admission: self.clone(),
            addr,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.admission.lock();
        open.total -= 1;
        crate::counts::lower(&mut open.by_address, &self.addr);
    }
}

/// Who is on the other end of a request: its address and, on the game listener, its place.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// Its place among the admitted connections (`None` on the admin listener).
    pub slot: Option<Arc<Slot>>,
}

/// How one listener serves.
pub struct ServeParams {
    /// Caps (`None`: the admin listener, which has no caps of its own).
    pub admission: Option<Arc<Admission>>,
    /// Time allowed to read a request's head.
    pub header_timeout: Duration,
    /// Kernel send buffer per socket, bytes.
    pub send_buffer: Option<usize>,
    /// Cancelled at shutdown: stop accepting, let connections finish their request.
    pub shutdown: CancellationToken,
    /// Connection tasks are tracked here, so shutdown waits for them.
    pub tracker: TaskTracker,
    /// Counts refused connections.
    pub on_refused: Arc<dyn Fn(Refused) + Send + Sync>,
}

/// Accepts connections on `listener` until shutdown, serving `router` on each.
pub async fn serve(listener: TcpListener, router: Router, p: ServeParams) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = p.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors (or a socket that died before it was accepted): try
                // again shortly. Nothing sleeps longer, so the loop resumes as soon as sockets
                // are given back.
                tracing::warn!("accept error: {e}");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let slot = match &p.admission {
            None => None,
            Some(admission) => match admission.admit(addr.ip()) {
                Ok(slot) => Some(Arc::new(slot)),
                Err(why) => {
                    (p.on_refused)(why);
                    refuse(&tcp, why);
                    continue;
                }
            },
        };
        tune(&tcp, p.send_buffer);
        let peer = Peer { addr, slot };
        let router = router.clone();
        let shutdown = p.shutdown.clone();
        let header_timeout = p.header_timeout;
        p.tracker.spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer.addr));
                req.extensions_mut().insert(peer.clone());
                router.clone().oneshot(req)
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = http
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

/// Answers a connection over a cap without reading it, and closes it.
fn refuse(tcp: &TcpStream, why: Refused) {
    let reason = match why {
        Refused::Total => "the server holds its maximum of connections",
        Refused::Address => "too many connections from your address",
    };
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 5\r\nconnection: close\r\n\
         content-type: text/plain\r\ncontent-length: {}\r\n\r\n{reason}",
        reason.len()
    );
    // A fresh socket's send buffer takes this at once; if not, the client gets the close alone.
    let _ = tcp.try_write(response.as_bytes());
}

/// Updates are small and latency matters: never let Nagle hold an ack behind an update.
fn tune(tcp: &TcpStream, send_buffer: Option<usize>) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
    if let Some(bytes) = send_buffer
        && let Err(e) = socket2::SockRef::from(tcp).set_send_buffer_size(bytes)
    {
        tracing::debug!("cannot set the send buffer size: {e}");
    }
}

/// The most connections the file limit leaves room for: the soft limit on open files, raised
/// to the hard limit first where the system allows, less `reserve` for everything else the
/// server opens (listeners, databases, module files). `None` where the limit cannot be read.
pub fn file_limit_allows(reserve: usize) -> Option<usize> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            let raised = rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                limit = raised;
            }
        }
        let soft = limit.current.map_or(usize::MAX, |n| n as usize);
        Some(soft.saturating_sub(reserve))
    }
    #[cfg(not(unix))]
    {
        let _ = reserve;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_open_connections_in_all_and_per_address() {
        let admission = Admission::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = admission.admit(a).expect("first");
        let a2 = admission.admit(a).expect("second");
        assert_eq!(admission.admit(a).err(), Some(Refused::Address));
        let b1 = admission.admit(b).expect("another address");
        assert_eq!(admission.admit(b).err(), Some(Refused::Total));
        drop(a1);
        assert_eq!(admission.open(), 2);
        let a3 = admission.admit(a).expect("a place was given back");
        drop((a2, a3, b1));
        assert_eq!(admission.open(), 0);
        assert!(admission.lock().by_address.is_empty(), "no address kept");
    }
}
