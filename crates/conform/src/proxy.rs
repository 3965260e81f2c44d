//! The harness's network: a TCP proxy for every ordered pair of servers, which can cut links
//! and which parses quorum traffic so packets can be logged and held.
//!
//! Each proxied connection has two pump threads, one per direction. A pump reads what its
//! side sent, then, holding the network's *gate* lock, decides what happens to it: parse it
//! into packets, log them, fire triggers, drop it if the link is cut. It forwards the bytes
//! after letting go of the gate. A trigger's callback runs while its pump holds the gate, so
//! no other connection can forward anything until it returns: that is what makes "crash the
//! leader when it sends its first COMMIT" mean that no follower sees any COMMIT.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::packet::{Chunk, FrameParser};
use crate::spec::Layout;

/// Which of a server's two peer ports a connection goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortKind {
    /// The leader's learner port (ZAB).
    Quorum,
    /// The election port (FastLeaderElection via QuorumCnxManager).
    Election,
}

/// One quorum packet the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketRecord {
    /// When the proxy read it, ms since the Unix epoch.
    pub time_ms: i64,
    /// Sender.
    pub from: u64,
    /// Receiver.
    pub to: u64,
    /// Packet type (see [`crate::packet::kind`]).
    pub kind: i32,
    /// Its zxid field.
    pub zxid: i64,
    /// Whether it was forwarded (false: a cut link, a crashed sender or a trigger dropped it).
    pub delivered: bool,
}

/// What to do with the packet that fired a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerAction {
    /// Forward it (it was already sent when the callback ran).
    Forward,
    /// Drop it, as if the sender had stopped just before sending it.
    Drop,
}

/// Which packet fires a trigger: the `nth` (from 1) packet of type `kind` sent by `sender`
/// (or by anyone, counted together), to `to` or to anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerSpec {
    /// The server sending it; `None` counts every sender's packets together (for packets only
    /// a leader sends, "the leader's nth COMMIT" whoever leads).
    pub sender: Option<u64>,
    /// Packet type (see [`crate::packet::kind`]).
    pub kind: i32,
    /// Which occurrence, counting from 1.
    pub nth: usize,
    /// Only packets to this server count, if set.
    pub to: Option<u64>,
}

/// The packet that fired a trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredPacket {
    /// The trigger.
    pub spec: TriggerSpec,
    /// The sender of this packet.
    pub from: u64,
    /// The receiver of this packet.
    pub to: u64,
    /// Its zxid.
    pub zxid: i64,
}

/// A trigger's callback.
pub type TriggerFn = Box<dyn FnOnce(&FiredPacket) -> TriggerAction + Send>;

struct Trigger {
    spec: TriggerSpec,
    seen: usize,
    callback: Option<TriggerFn>,
}

#[derive(Default)]
struct Gate {
    triggers: Vec<Trigger>,
    log: Vec<PacketRecord>,
    resets: Option<Resets>,
}

/// Connection resets at random, as the simulator's `[network] reset`: each packet (each read
/// of an election connection, whose messages the proxy does not parse) breaks its
/// connection with this chance, until the deadline.
struct Resets {
    chance: f64,
    until_ms: i64,
    rng: rand_chacha::ChaCha8Rng,
}

impl Resets {
    fn draw(&mut self, now_ms: i64) -> bool {
        use rand::Rng;
        now_ms < self.until_ms && self.rng.gen_bool(self.chance)
    }
}

struct Conn {
    from: u64,
    to: u64,
    /// To `to`'s quorum port: `from` is its learner.
    quorum: bool,
    sockets: Vec<TcpStream>,
    lost: AtomicBool,
    /// Shut down. A connection that ended by itself stays in the list; this says it is gone.
    closed: AtomicBool,
}

impl Conn {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for s in &self.sockets {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Shared state of all proxies of one ensemble.
pub struct Net {
    layout: Layout,
    gate: Mutex<Gate>,
    cut: Mutex<BTreeSet<(u64, u64)>>,
    silenced: Mutex<BTreeSet<u64>>,
    conns: Mutex<Vec<Arc<Conn>>>,
    listeners: Mutex<Vec<SocketAddrV4>>,
    stopping: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a callback must not make the network unusable for cleanup.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Net {
    /// Binds every pair's proxy listeners for `ids` and starts accepting.
    pub fn start(layout: Layout, ids: &[u64]) -> Result<Arc<Net>> {
        let net = Arc::new(Net {
            layout,
            gate: Mutex::new(Gate::default()),
            cut: Mutex::new(BTreeSet::new()),
            silenced: Mutex::new(BTreeSet::new()),
            conns: Mutex::new(Vec::new()),
            listeners: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        for &from in ids {
            for &to in ids {
                if from == to {
                    continue;
                }
                for port in [PortKind::Quorum, PortKind::Election] {
                    let (addr, target) = match port {
                        PortKind::Quorum => (layout.proxy_quorum(from, to), layout.quorum(to)),
                        PortKind::Election => {
                            (layout.proxy_election(from, to), layout.election(to))
                        }
                    };
                    let listener = TcpListener::bind(addr).map_err(|e| {
                        net.stop();
                        Error::io(format!("binding proxy {from}->{to} at {addr}"), e)
                    })?;
                    lock(&net.listeners).push(addr);
                    let n = Arc::clone(&net);
                    std::thread::Builder::new()
                        .name(format!("proxy-{from}-{to}-{port:?}"))
                        .spawn(move || n.accept_loop(listener, from, to, port, target))
                        .map_err(|e| Error::io("starting a proxy thread", e))?;
                }
            }
        }
        Ok(net)
    }

    /// The address plan.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Stops forwarding `from → to` (one way). Bytes sent that way are discarded; new
    /// connections that way are accepted and black-holed.
    pub fn cut(&self, from: u64, to: u64) {
        lock(&self.cut).insert((from, to));
    }

    /// Resumes `from → to`. Connections between the two that lost bytes while cut are closed:
    /// a TCP stream cannot skip bytes and go on.
    pub fn heal(&self, from: u64, to: u64) {
        lock(&self.cut).remove(&(from, to));
        self.close_where(|c| {
            c.lost.load(Ordering::SeqCst)
                && ((c.from == from && c.to == to) || (c.from == to && c.to == from))
        });
    }

    /// Resumes every cut link.
    pub fn heal_all(&self) {
        let cut: Vec<(u64, u64)> = lock(&self.cut).iter().copied().collect();
        for (a, b) in cut {
            self.heal(a, b);
        }
    }

    /// Whether some learner is connected to `id`'s quorum port: `id` leads (or is starting
    /// to). Answered from the proxies' own state, at once, where asking the servers takes a
    /// round trip each.
    pub fn has_learners(&self, id: u64) -> bool {
        lock(&self.conns).iter().any(|c| {
            c.quorum
                && c.to == id
                && !c.lost.load(Ordering::SeqCst)
                && !c.closed.load(Ordering::SeqCst)
        })
    }

    /// The cut links.
    pub fn cut_links(&self) -> Vec<(u64, u64)> {
        lock(&self.cut).iter().copied().collect()
    }

    /// Marks `id` as crashed: whatever it wrote that the proxy has not forwarded yet is
    /// discarded, and its connections are closed. Undone by [`Net::revive`].
    pub fn silence(&self, id: u64) {
        lock(&self.silenced).insert(id);
        self.close_where(|c| c.from == id || c.to == id);
    }

    /// Undoes [`Net::silence`] (the server is starting again).
    pub fn revive(&self, id: u64) {
        lock(&self.silenced).remove(&id);
    }

    /// From now until `until_ms` (ms since the Unix epoch), every packet breaks its
    /// connection with chance `chance` (it is dropped and both sockets are closed; ZooKeeper
    /// reconnects as after any broken connection). Seeded by `seed`, though which packet
    /// draws which number depends on the threads' timing.
    pub fn set_resets(&self, chance: f64, until_ms: i64, seed: u64) {
        use rand::SeedableRng;
        lock(&self.gate).resets = (chance > 0.0).then(|| Resets {
            chance: chance.min(1.0),
            until_ms,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        });
    }

    /// Adds a trigger.
    pub fn add_trigger(&self, spec: TriggerSpec, callback: TriggerFn) {
        lock(&self.gate).triggers.push(Trigger {
            spec,
            seen: 0,
            callback: Some(callback),
        });
    }

    /// Every quorum packet seen so far.
    pub fn packet_log(&self) -> Vec<PacketRecord> {
        lock(&self.gate).log.clone()
    }

    /// Drops every trigger, closes every connection and stops accepting.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        lock(&self.gate).triggers.clear();
        self.close_where(|_| true);
        let listeners: Vec<SocketAddrV4> = lock(&self.listeners).drain(..).collect();
        for addr in listeners {
            // Wake the blocking accept so its thread sees `stopping`.
            let _ = TcpStream::connect_timeout(&SocketAddr::V4(addr), Duration::from_millis(200));
        }
    }

    fn close_where(&self, pred: impl Fn(&Conn) -> bool) {
        let mut conns = lock(&self.conns);
        conns.retain(|c| {
            if pred(c) {
                c.close();
                false
            } else {
                true
            }
        });
    }

    fn is_cut(&self, from: u64, to: u64) -> bool {
        lock(&self.cut).contains(&(from, to))
    }

    fn is_silenced(&self, id: u64) -> bool {
        lock(&self.silenced).contains(&id)
    }

    fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        from: u64,
        to: u64,
        port: PortKind,
        target: SocketAddrV4,
    ) {
        for incoming in listener.incoming() {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let Ok(client) = incoming else { continue };
            let _ = client.set_nodelay(true);
            if self.is_cut(from, to) {
                // A partition: the connection attempt goes nowhere. Accept it (the kernel
                // already completed the handshake) and swallow what the sender writes.
                self.black_hole(client, from, to);
                continue;
            }
            if port == PortKind::Election {
                self.connect_upstream(client, from, to, port, target, 1);
            } else {
                // A learner whose leader is not listening yet (both leave the election at
                // about the same time) has its connection refused and tries again, up to
                // five times 100 ms apart (`LeaderConnector.connectToLeader`, Learner.java
                // :413-457 at 3.8.0). Through the proxy its connection was already accepted,
                // so the proxy makes the same tries upstream; closing at once instead would
                // look to the learner like a leader that hung up, which ends its FOLLOWING
                // role and costs it an election round.
                let net = Arc::clone(&self);
                let _ = std::thread::Builder::new()
                    .name(format!("connect-{from}-{to}"))
                    .spawn(move || net.connect_upstream(client, from, to, port, target, 5));
            }
        }
    }

    /// Connects an accepted connection to its target, trying `tries` times 100 ms apart; if
    /// nobody listens there, the sender sees its connection closed, as it would see a
    /// refusal.
    fn connect_upstream(
        self: &Arc<Self>,
        client: TcpStream,
        from: u64,
        to: u64,
        port: PortKind,
        target: SocketAddrV4,
        tries: u32,
    ) {
        for attempt in 0..tries {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100));
            }
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            if self.is_cut(from, to) {
                self.black_hole(client, from, to);
                return;
            }
            if let Ok(upstream) =
                TcpStream::connect_timeout(&SocketAddr::V4(target), Duration::from_millis(1000))
            {
                let _ = upstream.set_nodelay(true);
                self.connect_pair(client, upstream, from, to, port);
                return;
            }
        }
        let _ = client.shutdown(Shutdown::Both);
    }

    fn black_hole(self: &Arc<Self>, client: TcpStream, from: u64, to: u64) {
        let Ok(reader) = client.try_clone() else {
            return;
        };
        let conn = Arc::new(Conn {
            from,
            to,
            quorum: false,
            sockets: vec![client],
            lost: AtomicBool::new(true),
            closed: AtomicBool::new(false),
        });
        lock(&self.conns).push(Arc::clone(&conn));
        let _ = std::thread::Builder::new()
            .name(format!("blackhole-{from}-{to}"))
            .spawn(move || {
                let mut reader = reader;
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                conn.close();
            });
    }

    fn connect_pair(
        self: &Arc<Self>,
        client: TcpStream,
        upstream: TcpStream,
        from: u64,
        to: u64,
        port: PortKind,
    ) {
        let clones = (
            client.try_clone(),
            upstream.try_clone(),
            upstream.try_clone(),
            client.try_clone(),
        );
        let (Ok(c_read), Ok(u_write), Ok(u_read), Ok(c_write)) = clones else {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
            return;
        };
        let conn = Arc::new(Conn {
            from,
            to,
            quorum: port == PortKind::Quorum,
            sockets: vec![client, upstream],
            lost: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        lock(&self.conns).push(Arc::clone(&conn));
        let quorum = port == PortKind::Quorum;
        // The connecting side is the learner; the leader's side is the one that may send
        // SNAP followed by a raw snapshot.
        let up = Pump {
            net: Arc::clone(self),
            conn: Arc::clone(&conn),
            sender: from,
            receiver: to,
            parser: quorum.then(|| FrameParser::new(false)),
            reset: false,
        };
        let down = Pump {
            net: Arc::clone(self),
            conn,
            sender: to,
            receiver: from,
            parser: quorum.then(|| FrameParser::new(true)),
            reset: false,
        };
        let _ = std::thread::Builder::new()
            .name(format!("pump-{from}-{to}"))
            .spawn(move || up.run(c_read, u_write));
        let _ = std::thread::Builder::new()
            .name(format!("pump-{to}-{from}"))
            .spawn(move || down.run(u_read, c_write));
    }
}

/// One direction of one connection.
struct Pump {
    net: Arc<Net>,
    conn: Arc<Conn>,
    sender: u64,
    receiver: u64,
    parser: Option<FrameParser>,
    /// A reset was drawn: forward what came before it, then break the connection.
    reset: bool,
}

impl Pump {
    fn run(mut self, mut src: TcpStream, mut dst: TcpStream) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let out = self.decide(&buf[..n]);
            if !out.is_empty() && dst.write_all(&out).is_err() {
                break;
            }
            if self.reset {
                break;
            }
        }
        self.conn.close();
    }

    /// Under the gate: what of these bytes goes on.
    fn decide(&mut self, bytes: &[u8]) -> Vec<u8> {
        let net = Arc::clone(&self.net);
        let mut gate = lock(&net.gate);
        let time_ms = now_ms();
        let blocked =
            |net: &Net| net.is_cut(self.sender, self.receiver) || net.is_silenced(self.sender);
        let chunks = match self.parser.as_mut() {
            None => vec![Chunk::Raw(bytes.to_vec())],
            Some(p) => match p.push(bytes) {
                Ok(chunks) => chunks,
                Err(why) => {
                    eprintln!(
                        "conform: quorum stream {}->{} is not parseable ({why}); forwarding it raw",
                        self.sender, self.receiver
                    );
                    let raw = p.take_pending();
                    self.parser = None;
                    vec![Chunk::Raw(raw)]
                }
            },
        };
        let mut out = Vec::new();
        for chunk in chunks {
            if self.reset {
                break;
            }
            let frame = match chunk {
                Chunk::Raw(raw) => {
                    if gate.resets.as_mut().is_some_and(|r| r.draw(time_ms)) {
                        self.reset = true;
                    } else if blocked(&net) {
                        self.conn.lost.store(true, Ordering::SeqCst);
                    } else {
                        out.extend_from_slice(&raw);
                    }
                    continue;
                }
                Chunk::Frame(f) => f,
            };
            let mut action = TriggerAction::Forward;
            let mut fired = Vec::new();
            for t in gate.triggers.iter_mut() {
                let s = t.spec;
                if t.callback.is_some()
                    && s.sender.is_none_or(|sender| sender == self.sender)
                    && s.kind == frame.kind
                    && match s.to {
                        None => true,
                        Some(to) => to == self.receiver,
                    }
                {
                    t.seen += 1;
                    if t.seen == s.nth {
                        if let Some(cb) = t.callback.take() {
                            fired.push((s, cb));
                        }
                    }
                }
            }
            for (spec, cb) in fired {
                let packet = FiredPacket {
                    spec,
                    from: self.sender,
                    to: self.receiver,
                    zxid: frame.zxid,
                };
                if cb(&packet) == TriggerAction::Drop {
                    action = TriggerAction::Drop;
                }
            }
            let mut delivered = action == TriggerAction::Forward && !blocked(&net);
            if delivered && gate.resets.as_mut().is_some_and(|r| r.draw(time_ms)) {
                delivered = false;
                self.reset = true;
            }
            if delivered {
                out.extend_from_slice(&frame.bytes);
            } else {
                self.conn.lost.store(true, Ordering::SeqCst);
            }
            gate.log.push(PacketRecord {
                time_ms,
                from: self.sender,
                to: self.receiver,
                kind: frame.kind,
                zxid: frame.zxid,
                delivered,
            });
        }
        gate.triggers.retain(|t| t.callback.is_some());
        out
    }
}
