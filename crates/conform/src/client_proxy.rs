//! The real clients' network: a TCP proxy between every client and every server's client
//! port, which records the client protocol's frames as they pass.
//!
//! The client library tells its application what an answer was, but not the reply header it
//! came in: the zxid a server answered at, or which server answered. Those are what the
//! client-visible checkers judge (a session's replies must never go back in zxid, a watch
//! event must come before any answer that reflects the change), so the harness reads them off
//! the wire instead. Each client gets its own listening address per server, so a connection's
//! client is known from the socket it arrived on, before a byte is read.
//!
//! The protocol (ClientCnxnSocketNIO / NIOServerCnxn at release-3.8.0-1) frames every message
//! with a 4-byte big-endian length. The first frame each way is the session handshake
//! (`ConnectRequest` / `ConnectResponse` in zookeeper.jute); after it a client sends
//! `RequestHeader {int xid; int type}` plus the request, and a server answers with
//! `ReplyHeader {int xid; long zxid; int err}` plus the response. Notifications are replies
//! with xid −1 carrying a `WatcherEvent {int type; int state; ustring path}`; pings use xid −2
//! (ClientCnxn.java:125-135 names the special xids). The proxy forwards bytes unchanged and
//! only records; it never holds or drops anything, so it adds no fault of its own.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The request types whose body starts with the znode path (`OpCode` in ZooDefs.java:
/// create 1, delete 2, exists 3, getData 4, setData 5, getACL 6, setACL 7, getChildren 8,
/// sync 9, getChildren2 12, check 13, create2 15, createContainer 19, createTTL 21).
const PATH_FIRST: [i32; 14] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 19, 21];

/// `ClientCnxn.NOTIFICATION_XID`.
pub const NOTIFICATION_XID: i32 = -1;
/// `ClientCnxn.PING_XID`.
pub const PING_XID: i32 = -2;

/// One frame the proxy carried, or the end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client → server: the handshake. `session` is 0 for a new session.
    ConnectRequest {
        session: i64,
        last_zxid_seen: i64,
        timeout_ms: i32,
    },
    /// Server → client: the handshake's answer; a zero timeout means the session expired.
    ConnectResponse { session: i64, timeout_ms: i32 },
    /// Client → server: a request (pings are not recorded).
    Request {
        xid: i32,
        op: i32,
        path: Option<String>,
    },
    /// Server → client: the answer to request `xid`.
    Reply { xid: i32, zxid: i64, err: i32 },
    /// Server → client: a watch fired. `zxid` is −1 on 3.8.0 (NIOServerCnxn.java:693), the
    /// triggering txn's zxid from 3.9.
    Notification { zxid: i64, kind: i32, path: String },
    /// The connection ended; `by_server` says which side closed (or failed) first.
    Closed { by_server: bool },
}

/// A frame with where and when it passed.
#[derive(Debug, Clone, PartialEq)]
pub struct WireRecord {
    /// When the proxy read it (before forwarding it), ms since the run's `t0`.
    pub time_ms: f64,
    /// The client (1-based).
    pub client: u32,
    /// The server.
    pub server: u64,
    /// Numbers the connections of one client, from 1, in the order they were accepted.
    pub conn: u32,
    pub frame: Frame,
}

/// The proxies of one run.
pub struct ClientNet {
    t0: Instant,
    /// `(client, server, listening address)`.
    listeners: Vec<(u32, u64, SocketAddr)>,
    log: Mutex<Vec<WireRecord>>,
    /// Live connections, so `stop` can end them.
    conns: Mutex<Vec<TcpStream>>,
    next_conn: Vec<AtomicU32>,
    stopped: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClientNet {
    /// Starts one listener per client and server, forwarding to `servers` (`(id, client
    /// address)`).
    pub fn start(servers: &[(u64, SocketAddr)], clients: u32, t0: Instant) -> Result<Arc<Self>> {
        let mut bound = Vec::new();
        for client in 1..=clients {
            for &(server, upstream) in servers {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .map_err(|e| Error::io("client proxy bind", e))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| Error::io("client proxy address", e))?;
                bound.push((client, server, upstream, addr, listener));
            }
        }
        let net = Arc::new(ClientNet {
            t0,
            listeners: bound.iter().map(|(c, s, _, a, _)| (*c, *s, *a)).collect(),
            log: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
            next_conn: (0..clients).map(|_| AtomicU32::new(1)).collect(),
            stopped: AtomicBool::new(false),
        });
        for (client, server, upstream, _, listener) in bound {
            let net = net.clone();
            std::thread::Builder::new()
                .name(format!("client-proxy-c{client}-s{server}"))
                .spawn(move || net.accept_loop(listener, client, server, upstream))
                .map_err(|e| Error::io("client proxy thread", e))?;
        }
        Ok(net)
    }

    /// Where client `client` reaches each server: `(server id, address)`.
    pub fn addrs_for(&self, client: u32) -> Vec<(u64, SocketAddr)> {
        self.listeners
            .iter()
            .filter(|(c, _, _)| *c == client)
            .map(|(_, s, a)| (*s, *a))
            .collect()
    }

    /// Everything recorded so far, in the order it passed.
    pub fn records(&self) -> Vec<WireRecord> {
        let mut v = lock(&self.log).clone();
        v.sort_by(|a, b| a.time_ms.total_cmp(&b.time_ms));
        v
    }

    /// Closes every connection and stops accepting.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for c in lock(&self.conns).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        for (_, _, addr) in &self.listeners {
            // Wakes the blocking accept so the thread sees `stopped`.
            let _ = TcpStream::connect_timeout(addr, Duration::from_millis(100));
        }
    }

    fn ms(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1000.0
    }

    fn record(&self, client: u32, server: u64, conn: u32, frame: Frame) {
        let time_ms = self.ms();
        lock(&self.log).push(WireRecord {
            time_ms,
            client,
            server,
            conn,
            frame,
        });
    }

    fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        client: u32,
        server: u64,
        up: SocketAddr,
    ) {
        for stream in listener.incoming() {
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let Ok(down) = stream else { continue };
            let _ = down.set_nodelay(true);
            let conn = self.next_conn[client as usize - 1].fetch_add(1, Ordering::SeqCst);
            // A server that is down refuses; so does the proxy, by closing at once.
            let Ok(upstream) = TcpStream::connect_timeout(&up, Duration::from_millis(500)) else {
                let _ = down.shutdown(Shutdown::Both);
                continue;
            };
            let _ = upstream.set_nodelay(true);
            let (Ok(d2), Ok(u2)) = (down.try_clone(), upstream.try_clone()) else {
                continue;
            };
            {
                let mut conns = lock(&self.conns);
                if let (Ok(a), Ok(b)) = (down.try_clone(), upstream.try_clone()) {
                    conns.push(a);
                    conns.push(b);
                }
            }
            let link = Link {
                client,
                server,
                conn,
                ended: Arc::new(AtomicBool::new(false)),
            };
            let (net, l) = (self.clone(), link.clone());
            let _ = std::thread::Builder::new()
                .name(format!("client-pump-c{client}-s{server}-up"))
                .spawn(move || net.pump(down, upstream, l, false));
            let net = self.clone();
            let _ = std::thread::Builder::new()
                .name(format!("client-pump-c{client}-s{server}-down"))
                .spawn(move || net.pump(u2, d2, link, true));
        }
    }

    /// Copies `src` to `dst`, recording each whole frame before forwarding the bytes that
    /// complete it. `from_server` says which way it runs.
    fn pump(&self, mut src: TcpStream, mut dst: TcpStream, link: Link, from_server: bool) {
        let Link {
            client,
            server,
            conn,
            ended,
        } = link;
        let mut parser = Parser::new(from_server);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for frame in parser.feed(&buf[..n]) {
                self.record(client, server, conn, frame);
            }
            if dst.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // Only the first side to end is recorded: the other pump ends because of it.
        if !ended.swap(true, Ordering::SeqCst) {
            self.record(
                client,
                server,
                conn,
                Frame::Closed {
                    by_server: from_server,
                },
            );
        }
        let _ = dst.shutdown(Shutdown::Both);
        let _ = src.shutdown(Shutdown::Both);
    }
}

/// One proxied connection, as both of its pumps know it.
#[derive(Clone)]
struct Link {
    client: u32,
    server: u64,
    conn: u32,
    /// Set by the first pump to stop, so the connection's end is recorded once.
    ended: Arc<AtomicBool>,
}

/// Splits one direction of a connection into frames and decodes the parts the harness needs.
struct Parser {
    from_server: bool,
    buf: Vec<u8>,
    /// The handshake frame has been seen.
    handshaken: bool,
}

impl Parser {
    fn new(from_server: bool) -> Parser {
        Parser {
            from_server,
            buf: Vec::new(),
            handshaken: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut at = 0;
        while self.buf.len() - at >= 4 {
            let len = i32::from_be_bytes(self.buf[at..at + 4].try_into().unwrap_or_default());
            let Ok(len) = usize::try_from(len) else { break };
            if self.buf.len() - at - 4 < len {
                break;
            }
            let body = self.buf[at + 4..at + 4 + len].to_vec();
            if let Some(f) = self.decode(&body) {
                frames.push(f);
            }
            at += 4 + len;
        }
        self.buf.drain(..at);
        frames
    }

    fn decode(&mut self, body: &[u8]) -> Option<Frame> {
        let mut r = Reader(body);
        if !self.handshaken {
            self.handshaken = true;
            return if self.from_server {
                // ConnectResponse {int protocolVersion; int timeOut; long sessionId; buffer passwd}
                let _version = r.i32()?;
                let timeout_ms = r.i32()?;
                let session = r.i64()?;
                Some(Frame::ConnectResponse {
                    session,
                    timeout_ms,
                })
            } else {
                // ConnectRequest {int protocolVersion; long lastZxidSeen; int timeOut;
                // long sessionId; buffer passwd}
                let _version = r.i32()?;
                let last_zxid_seen = r.i64()?;
                let timeout_ms = r.i32()?;
                let session = r.i64()?;
                Some(Frame::ConnectRequest {
                    session,
                    last_zxid_seen,
                    timeout_ms,
                })
            };
        }
        let xid = r.i32()?;
        if self.from_server {
            let zxid = r.i64()?;
            let err = r.i32()?;
            match xid {
                PING_XID => None,
                NOTIFICATION_XID => {
                    let kind = r.i32()?;
                    let _state = r.i32()?;
                    let path = r.string()?;
                    Some(Frame::Notification { zxid, kind, path })
                }
                _ => Some(Frame::Reply { xid, zxid, err }),
            }
        } else {
            let op = r.i32()?;
            if xid == PING_XID {
                return None;
            }
            let path = if PATH_FIRST.contains(&op) {
                r.string()
            } else {
                None
            };
            Some(Frame::Request { xid, op, path })
        }
    }
}

/// Big-endian jute primitives over a byte slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take::<4>().map(i32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take::<8>().map(i64::from_be_bytes)
    }
    /// A ustring: int length (−1 for null), then UTF-8 bytes.
    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.i32()?).ok()?;
        if self.0.len() < len {
            return None;
        }
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(s.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(parts: &[&[u8]]) -> Vec<u8> {
        let body: Vec<u8> = parts.concat();
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend(body);
        v
    }

    fn ustring(s: &str) -> Vec<u8> {
        let mut v = (s.len() as i32).to_be_bytes().to_vec();
        v.extend(s.as_bytes());
        v
    }

    #[test]
    fn the_client_side_reads_handshake_requests_and_skips_pings() {
        let mut p = Parser::new(false);
        let mut bytes = frame(&[
            &0i32.to_be_bytes(),
            &0x1_0000_0005i64.to_be_bytes(),
            &4000i32.to_be_bytes(),
            &0x77i64.to_be_bytes(),
            &16i32.to_be_bytes(),
            &[0u8; 16],
        ]);
        bytes.extend(frame(&[&(-2i32).to_be_bytes(), &11i32.to_be_bytes()]));
        bytes.extend(frame(&[
            &7i32.to_be_bytes(),
            &5i32.to_be_bytes(),
            &ustring("/kv-3"),
            &[0, 0, 0, 1, b'9'],
        ]));
        // Fed in two pieces cut inside a frame.
        let (a, b) = bytes.split_at(30);
        let mut frames = p.feed(a);
        frames.extend(p.feed(b));
        assert_eq!(
            frames,
            [
                Frame::ConnectRequest {
                    session: 0x77,
                    last_zxid_seen: 0x1_0000_0005,
                    timeout_ms: 4000
                },
                Frame::Request {
                    xid: 7,
                    op: 5,
                    path: Some("/kv-3".into())
                }
            ]
        );
    }

    #[test]
    fn the_server_side_reads_replies_and_notifications() {
        let mut p = Parser::new(true);
        let mut bytes = frame(&[
            &0i32.to_be_bytes(),
            &4000i32.to_be_bytes(),
            &0x77i64.to_be_bytes(),
            &16i32.to_be_bytes(),
            &[0u8; 16],
        ]);
        bytes.extend(frame(&[
            &3i32.to_be_bytes(),
            &0x1_0000_0009i64.to_be_bytes(),
            &(-101i32).to_be_bytes(),
        ]));
        bytes.extend(frame(&[
            &(-1i32).to_be_bytes(),
            &(-1i64).to_be_bytes(),
            &0i32.to_be_bytes(),
            &3i32.to_be_bytes(),
            &3i32.to_be_bytes(),
            &ustring("/config"),
        ]));
        bytes.extend(frame(&[
            &(-2i32).to_be_bytes(),
            &0x1_0000_0009i64.to_be_bytes(),
            &0i32.to_be_bytes(),
        ]));
        assert_eq!(
            p.feed(&bytes),
            [
                Frame::ConnectResponse {
                    session: 0x77,
                    timeout_ms: 4000
                },
                Frame::Reply {
                    xid: 3,
                    zxid: 0x1_0000_0009,
                    err: -101
                },
                Frame::Notification {
                    zxid: -1,
                    kind: 3,
                    path: "/config".into()
                }
            ]
        );
    }
}
