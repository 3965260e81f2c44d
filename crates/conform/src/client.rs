//! The scenario's clients, run as real ZooKeeper clients against a real ensemble: the
//! simulator's own application programs (`kv` and the recipes `election`, `lock`, `queue`,
//! `ids`, `config`) on `zookeeper-client` instead of the simulated client library, with a
//! record of what each client did in the simulator's vocabulary.
//!
//! # The same programs
//!
//! A program ([`zab::client::Program`]) is a sans-IO state machine: it hears of connection
//! changes, answers, watch firings and its timer, and answers with operations to submit,
//! recipe events and timer changes. The simulated client library drives it in simulated
//! time; [`driver`] drives the very same program on a real session in wall-clock time, so a
//! real lock client runs exactly the simulated lock recipe (its connect-string handling aside,
//! see below). What each client did is recorded as timed [`zab::ClientEvent`]s, the events the
//! simulator's checkers read: `Connecting`, `Connected`, `Disconnected`, `Expired`,
//! `Submitted`, `Answered`, `Watch`, the recipes' `Recipe` events, `ResourceUsed`, `Crashed`,
//! `Paused`, `Resumed`.
//!
//! The plan follows the simulator's driver (sim/clients.rs): the scenario's `ops` are shared
//! out (client `i` gets `ops / count`, plus one if `i <= ops % count`); each client starts after
//! one think time, then gets its connect string shuffled and its own seed; a restarted client
//! is a new process with a new shuffle and seed and a new session. The draws come from ChaCha8
//! streams seeded from [`ClientsSpec::seed`], so a run's plan is reproducible; they are not the
//! simulator's draws, and real timing is of course not reproducible. See [`plan`].
//!
//! # What the record is made of
//!
//! Each client reaches each server through its own proxy ([`crate::client_proxy`]), which
//! records the protocol's frames. After the run the record is completed from that wire log:
//! * an `Answered` event's zxid is the reply header's zxid for that request (the simulator's
//!   clients record the reply header too; the library does not expose it);
//! * a `Submitted` event's server is the server the request was written to, when it was
//!   written at all (a request made while disconnected goes out after the reconnect).
//!
//! Requests are matched to the wire by their xid: the library numbers the requests of a
//! session 1, 2, 3, ... in the order they are made (session/xid.rs and depot.rs of 0.11.2: an
//! xid is drawn when a request is queued, and the count runs across reconnects), and pings,
//! watch re-registration and auth use fixed negative xids. Every request seen on the wire is
//! checked against the request the program made with that number (its opcode and path), and a
//! mismatch is reported in [`ClientRecord::problems`], never papered over.
//!
//! # The client library
//!
//! `zookeeper-client` (kezhuw, pinned at 0.11.2) was chosen over `zookeeper` (bonifaido, 0.8:
//! blocking, built on mio 0.6 and its own thread, no release in years) and `zookeeper-async`
//! (krojew, 5.0: a tokio port of the former; needs tokio's multi-threaded runtime, its
//! reconnect loop has no session deadline ("TODO only until session times out") and it drops
//! in-flight requests on a reconnect). `zookeeper-client` is maintained, speaks the 3.5+
//! protocol (Create2 answers with a Stat), keeps one session across reconnects with the Java
//! client's resumption (session id and password, the last zxid seen, watches re-registered),
//! fails requests in flight on a broken connection, and queues each request when the call
//! that makes it runs, so requests keep their order and can be pipelined.
//!
//! What differs from ZooKeeper's Java client, which the simulator models:
//!
//! * Timing: the connection is declared dead after 2/5 of the negotiated session timeout
//!   without a byte (Java: 2/3), pings go after 3/20 of it idle (Java: 1/3), and the client
//!   gives the session up itself (Expired, without asking a server) when it has reached no
//!   server for 7/5 of it.
//! * Server order: the library shuffles the connect string itself, and again after every
//!   established connection (Java's StaticHostProvider shuffles once), with `fastrand`; the
//!   harness seeds `fastrand` on the client's thread from the client's seed. Retries wait
//!   50-150 ms between servers and a doubling pause after a whole round, instead of Java's
//!   random 0-1000 ms.
//! * Connection changes are learnt from the library's log messages (see [`capture`]), the only
//!   place it names the server of a connection or reports a failed attempt.
//!
//! # Threads, clocks and faults
//!
//! [`run_clients`] is blocking. Each client runs on an OS thread of its own with a
//! current-thread tokio runtime, so that a thread-local `tracing` subscriber and `fastrand`
//! seed belong to that client alone, and so that stopping the thread stops the whole client:
//! a pause ([`ClientControl::pause`]) blocks the thread, which, like SIGSTOP on a client
//! process, stops its pings, its reads and its program while its connection stays open. A
//! crash drops the session without a closeSession: the library's socket closes, as a killed
//! process's would, and the session is left to expire on the servers.
//!
//! All times are milliseconds since the harness's `t0` (an [`Instant`]), the clock the proxy
//! stamps frames with too; [`ClientsRun::t0_unix_ms`] is `t0` on the wall clock, which
//! [`crate::PacketRecord::time_ms`] and the servers' logs use.

mod audit;
mod capture;
mod driver;
mod ops;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zab::client::Workload;
use zab::client_api::{ClientEvent, ClientOp};
use zab::{ServerId, Zxid};

use crate::client_proxy::{ClientNet, Frame, WireRecord};
use crate::error::Result;
pub use capture::{SessionEvent, SessionEventKind};

/// The `[clients]` settings of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientsSpec {
    /// The program every client runs.
    pub workload: Workload,
    /// How many clients.
    pub clients: u32,
    /// Operations (or terms, items, ids, ... as the workload counts them) in all, shared out
    /// among the clients as the simulator does.
    pub ops: u32,
    /// kv: the share of operations that are writes.
    pub write_ratio: f64,
    /// Think time between steps, ms, inclusive (either order).
    pub think_ms: (u64, u64),
    /// The session timeout the clients ask for.
    pub session_timeout_ms: u32,
    /// The protected resource refuses fencing tokens older than the newest it accepted.
    pub fencing: bool,
    /// Seeds every random choice of the plan.
    pub seed: u64,
}

impl ClientsSpec {
    /// Client `client`'s (1-based) share of the operations.
    pub fn ops_of(&self, client: u32) -> u32 {
        let n = self.clients.max(1);
        self.ops / n + u32::from(client <= self.ops % n)
    }
}

/// One client's part of the plan: everything drawn before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPlan {
    /// The client (1-based).
    pub client: u32,
    /// When it starts, ms after `t0`.
    pub start_ms: u64,
    /// Its connect string, by server id.
    pub servers: Vec<u64>,
    /// Its own seed (the program's choices and the library's server order).
    pub seed: u64,
    /// Its budget.
    pub ops: u32,
}

/// The plan of a run, as the simulator draws it: every client's start delay (one think time),
/// then, in the order they start, a shuffle of the connect string and a seed.
pub fn plan(spec: &ClientsSpec, server_ids: &[u64]) -> Vec<ClientPlan> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut plans: Vec<ClientPlan> = (1..=spec.clients)
        .map(|client| ClientPlan {
            client,
            start_ms: think(&mut rng, spec.think_ms),
            servers: server_ids.to_vec(),
            seed: 0,
            ops: spec.ops_of(client),
        })
        .collect();
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| (plans[i].start_ms, plans[i].client));
    for i in order {
        plans[i].servers.shuffle(&mut rng);
        plans[i].seed = rng.gen();
    }
    plans
}

fn think(rng: &mut ChaCha8Rng, (a, b): (u64, u64)) -> u64 {
    rng.gen_range(a.min(b)..=a.max(b))
}

/// One thing a client did or saw, at `time_ms` after `t0`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedEvent {
    pub time_ms: f64,
    pub event: ClientEvent,
}

/// Everything one client did and saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRecord {
    /// The client (1-based).
    pub client: u32,
    /// Its first process's connect string, by server id, in the order the plan shuffled it.
    pub servers: Vec<u64>,
    /// When its first process started, ms since `t0`.
    pub started_ms: f64,
    /// The sessions it held, in order (a restarted client opens a new one).
    pub sessions: Vec<i64>,
    /// What it did, in order, in the simulator's vocabulary.
    pub events: Vec<TimedEvent>,
    /// What the library said about its connection, in order.
    pub connects: Vec<SessionEvent>,
    /// Its (last) session expired: told by a server or concluded by the library.
    pub expired: bool,
    /// Its last process ran its program to the end and had every answer.
    pub finished: bool,
    /// Anything that makes the record less than exact: a request on the wire that does not
    /// match the one the program made under that number, a session that could not be opened.
    pub problems: Vec<String>,
}

impl ClientRecord {
    /// A record with nothing in it yet, for a client started at `started_ms`.
    pub fn new(client: u32, servers: Vec<u64>, started_ms: f64) -> ClientRecord {
        ClientRecord {
            client,
            servers,
            started_ms,
            sessions: Vec::new(),
            events: Vec::new(),
            connects: Vec::new(),
            expired: false,
            finished: false,
            problems: Vec::new(),
        }
    }

    /// Operations submitted, and how many were answered without error.
    pub fn op_counts(&self) -> (usize, usize) {
        let submitted = self
            .events
            .iter()
            .filter(|e| matches!(e.event, ClientEvent::Submitted { .. }))
            .count();
        let ok = self
            .events
            .iter()
            .filter(|e| matches!(e.event, ClientEvent::Answered { result: Ok(_), .. }))
            .count();
        (submitted, ok)
    }
}

/// A run of the clients.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientsRun {
    /// `t0` on the wall clock, ms since the Unix epoch (the packet log's clock).
    pub t0_unix_ms: f64,
    /// Per client, by client number.
    pub clients: Vec<ClientRecord>,
    /// The final reads, one auditor per server (see [`audit`]), numbered after the clients.
    pub audit: Vec<ClientRecord>,
    /// Every client-protocol frame the proxies carried, in time order.
    pub wire: Vec<WireRecord>,
}

impl ClientsRun {
    /// A time of this run (ms since `t0`) on the packet log's clock.
    pub fn unix_ms(&self, ms: f64) -> f64 {
        self.t0_unix_ms + ms
    }
}

/// What the harness can do to a client process while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Crash,
    Restart,
    Pause,
    Resume,
}

/// What every client thread shares: the protected resource the recipes act on, and who
/// believes it leads (for the `recipe-leader` selector).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Fencing: refuse tokens older than the newest accepted.
    pub fencing: bool,
    /// The newest token the resource accepted.
    pub newest: Option<Zxid>,
    /// The client that believes it leads the election recipe or holds the lock.
    pub recipe_leader: Option<u32>,
    /// Clients whose process is up (not crashed).
    pub up: BTreeMap<u32, bool>,
}

/// A handle on the running clients, for carrying out client faults.
#[derive(Clone)]
pub struct ClientControl {
    commands: Arc<Mutex<BTreeMap<u32, mpsc::Sender<Command>>>>,
    shared: Arc<Mutex<Shared>>,
}

impl ClientControl {
    fn send(&self, client: u32, c: Command) -> bool {
        let commands = self.commands.lock().unwrap_or_else(|p| p.into_inner());
        commands.get(&client).is_some_and(|tx| tx.send(c).is_ok())
    }

    /// Crashes client `client`'s process: its session is left to expire.
    pub fn crash(&self, client: u32) -> bool {
        self.send(client, Command::Crash)
    }
    /// Starts a new process for a crashed client, with a new session.
    pub fn restart(&self, client: u32) -> bool {
        self.send(client, Command::Restart)
    }
    /// Stops the client's process where it is, as SIGSTOP would.
    pub fn pause(&self, client: u32) -> bool {
        self.send(client, Command::Pause)
    }
    pub fn resume(&self, client: u32) -> bool {
        self.send(client, Command::Resume)
    }

    /// The client that believes it leads the election recipe or holds the lock now.
    pub fn recipe_leader(&self) -> Option<u32> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recipe_leader
    }

    /// Clients whose process is up (`true`) or crashed (`false`), by number.
    pub fn up(&self) -> BTreeMap<u32, bool> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .up
            .clone()
    }
}

/// The clients of one run, started: [`RunningClients::control`] carries out faults,
/// [`RunningClients::join`] waits for the end and assembles the record.
pub struct RunningClients {
    control: ClientControl,
    net: Arc<ClientNet>,
    threads: Vec<(u32, std::thread::JoinHandle<ClientRecord>)>,
    t0: Instant,
    /// The server ids, in order: auditor `clients + i` reads server `servers[i - 1]`.
    servers: Vec<u64>,
    clients: u32,
}

/// Starts the clients of `spec` against the servers at `servers` (`(id, client address)`,
/// e.g. [`crate::Control::client_addrs`]); they run until `t0 + deadline`.
pub fn run_clients(
    servers: &[(u64, SocketAddr)],
    spec: &ClientsSpec,
    deadline: Duration,
    t0: Instant,
) -> Result<RunningClients> {
    // One more proxy set per server for the auditors.
    let net = ClientNet::start(servers, spec.clients + servers.len() as u32, t0)?;
    let ids: Vec<u64> = servers.iter().map(|(id, _)| *id).collect();
    let shared = Arc::new(Mutex::new(Shared {
        fencing: spec.fencing,
        ..Shared::default()
    }));
    let commands = Arc::new(Mutex::new(BTreeMap::new()));
    let mut threads = Vec::new();
    for p in plan(spec, &ids) {
        let client = p.client;
        let (tx, rx) = mpsc::channel();
        commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(client, tx);
        let job = driver::Job {
            addrs: net.addrs_for(client),
            plan: p,
            spec: spec.clone(),
            t0,
            end: t0 + deadline,
            commands: rx,
            shared: shared.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("client-{client}"))
            .spawn(move || job.run())
            .map_err(|e| crate::Error::io("client thread", e))?;
        threads.push((client, handle));
    }
    Ok(RunningClients {
        control: ClientControl { commands, shared },
        net,
        threads,
        t0,
        servers: ids,
        clients: spec.clients,
    })
}

impl RunningClients {
    pub fn control(&self) -> ClientControl {
        self.control.clone()
    }

    /// Waits for every client (they stop at the deadline), stops the proxies and completes
    /// each record from the wire log; no final reads.
    pub fn join(self) -> ClientsRun {
        self.join_then_audit(|| ()).0
    }

    /// Waits for every client, then runs `between` (the harness reads the servers' outcome
    /// there, before the auditors' sessions add their own txns), then the final reads (see
    /// [`audit`]) from every server, then stops the proxies and completes each record from
    /// the wire log.
    pub fn join_then_audit<T>(self, between: impl FnOnce() -> T) -> (ClientsRun, T) {
        let t0 = self.t0;
        let mut clients: Vec<ClientRecord> = self
            .threads
            .into_iter()
            .map(|(client, h)| {
                h.join().unwrap_or_else(|_| {
                    let mut r = ClientRecord::new(client, Vec::new(), 0.0);
                    r.problems.push("the client's thread panicked".into());
                    r
                })
            })
            .collect();
        let between = between();
        let paths = acknowledged_paths(&clients);
        let mut audit = Vec::new();
        if !paths.is_empty() {
            for (i, id) in self.servers.iter().enumerate() {
                let auditor = self.clients + 1 + i as u32;
                let Some(addr) = self
                    .net
                    .addrs_for(auditor)
                    .into_iter()
                    .find(|(s, _)| s == id)
                else {
                    continue;
                };
                audit.push(audit::audit(auditor, addr, &paths, t0));
            }
        }
        self.net.stop();
        let wire = self.net.records();
        for c in clients.iter_mut().chain(audit.iter_mut()) {
            complete_from_wire(c, &wire);
        }
        clients.sort_by_key(|c| c.client);
        (
            ClientsRun {
                t0_unix_ms: unix_ms_of(t0),
                clients,
                audit,
                wire,
            },
            between,
        )
    }
}

/// Fills in each answer's reply-header zxid and each request's server from the wire, and
/// checks that the wire carried the requests the program made.
fn complete_from_wire(c: &mut ClientRecord, wire: &[WireRecord]) {
    // Per session: the server each xid was written to, and its reply's zxid.
    let mut session_of_conn: BTreeMap<(u64, u32), i64> = BTreeMap::new();
    let mut sent: BTreeMap<(i64, i32), (u64, i32, Option<String>)> = BTreeMap::new();
    let mut replies: BTreeMap<(i64, i32), i64> = BTreeMap::new();
    for w in wire.iter().filter(|w| w.client == c.client) {
        let key = (w.server, w.conn);
        match &w.frame {
            Frame::ConnectResponse { session, .. } => {
                session_of_conn.insert(key, *session);
            }
            Frame::Request { xid, op, path } if *xid > 0 => {
                if let Some(s) = session_of_conn.get(&key) {
                    sent.insert((*s, *xid), (w.server, *op, path.clone()));
                }
            }
            Frame::Reply { xid, zxid, .. } if *xid > 0 => {
                if let Some(s) = session_of_conn.get(&key) {
                    replies.insert((*s, *xid), *zxid);
                }
            }
            _ => {}
        }
    }
    // Which session each event belongs to: the one of the latest Connected before it.
    let mut session: Option<i64> = None;
    let mut requests: BTreeMap<(i64, u64), ClientOp> = BTreeMap::new();
    for e in &mut c.events {
        match &mut e.event {
            ClientEvent::Connected { session: s, .. } => session = Some(s.0 as i64),
            ClientEvent::Crashed => session = None,
            ClientEvent::Submitted {
                cxid,
                server,
                request,
                ..
            } => {
                let Some(s) = session else { continue };
                requests.insert((s, *cxid), request.clone());
                let Ok(xid) = i32::try_from(*cxid) else {
                    continue;
                };
                if let Some((to, op, path)) = sent.get(&(s, xid)) {
                    *server = ServerId(u8::try_from(*to).unwrap_or(u8::MAX));
                    if !opcode_matches(request, *op)
                        || path.as_deref() != request.path().map(|p| p.as_str())
                    {
                        c.problems.push(format!(
                            "session {s:#x} xid {xid}: the program made {} {} but the wire carried opcode {op} {}",
                            request.name(),
                            request.path().map_or("", |p| p.as_str()),
                            path.as_deref().unwrap_or("")
                        ));
                    }
                }
            }
            ClientEvent::Answered {
                cxid, zxid, result, ..
            } => {
                let Some(s) = session else { continue };
                let Ok(xid) = i32::try_from(*cxid) else {
                    continue;
                };
                // A request failed by the library (connection lost, session expired) has no
                // reply header, whatever the wire carried after the library gave up on it.
                let failed = matches!(
                    result,
                    Err(zab::KeeperError::ConnectionLoss | zab::KeeperError::SessionExpired)
                );
                *zxid = match (failed, replies.get(&(s, xid))) {
                    (false, Some(z)) => Some(Zxid(u64::try_from(*z).unwrap_or(0))),
                    _ => None,
                };
            }
            _ => {}
        }
    }
}

/// Every znode an acknowledged write changed, in order: what the auditors read back.
fn acknowledged_paths(clients: &[ClientRecord]) -> Vec<zab::Path> {
    let mut paths = std::collections::BTreeSet::new();
    for c in clients {
        let mut writes: BTreeMap<u64, &ClientOp> = BTreeMap::new();
        for e in &c.events {
            match &e.event {
                ClientEvent::Submitted { op, request, .. } if request.is_write() => {
                    writes.insert(*op, request);
                }
                ClientEvent::Answered {
                    op, result: Ok(r), ..
                } => {
                    let Some(request) = writes.remove(op) else {
                        continue;
                    };
                    let path = match r {
                        zab::client_api::Reply::Created { path } => Some(path),
                        _ => request.path(),
                    };
                    paths.extend(path.cloned());
                }
                _ => {}
            }
        }
    }
    paths.into_iter().collect()
}

/// Whether wire opcode `op` is the one the library uses for `request` (ZooDefs.OpCode:
/// create2 15 for every create against a 3.5+ server, getChildren2 12 for getChildren).
fn opcode_matches(request: &ClientOp, op: i32) -> bool {
    op == match request {
        ClientOp::Create { .. } => 15,
        ClientOp::Delete { .. } => 2,
        ClientOp::SetData { .. } => 5,
        ClientOp::GetData { .. } => 4,
        ClientOp::Exists { .. } => 3,
        ClientOp::GetChildren { .. } => 8,
        ClientOp::Sync { .. } => 9,
        ClientOp::CloseSession => -11,
    }
}

/// `at` on the wall clock, ms since the Unix epoch.
fn unix_ms_of(at: Instant) -> f64 {
    let now = SystemTime::now();
    let since = Instant::now().saturating_duration_since(at);
    now.checked_sub(since)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> ClientsSpec {
        ClientsSpec {
            workload: Workload::Kv,
            clients: 3,
            ops: 10,
            write_ratio: 0.5,
            think_ms: (10, 100),
            session_timeout_ms: 2000,
            fencing: false,
            seed,
        }
    }

    #[test]
    fn ops_are_shared_out_as_the_simulator_does() {
        let s = spec(1);
        assert_eq!((1..=3).map(|c| s.ops_of(c)).collect::<Vec<_>>(), [4, 3, 3]);
    }

    #[test]
    fn the_plan_follows_from_the_seed() {
        let a = plan(&spec(7), &[1, 2, 3]);
        assert_eq!(a, plan(&spec(7), &[1, 2, 3]));
        assert_ne!(a, plan(&spec(8), &[1, 2, 3]));
        for p in &a {
            let mut s = p.servers.clone();
            s.sort_unstable();
            assert_eq!(s, [1, 2, 3]);
            assert!((10..=100).contains(&p.start_ms));
        }
    }
}
