//! The simulator's `kv` workload, run by real ZooKeeper clients against a real ensemble, with a
//! record of what each client saw.
//!
//! # What a client does
//!
//! It mirrors `zab::client` (kv.rs, app.rs, the driver in sim/clients.rs and docs/clients.md):
//!
//! * The scenario's `ops` are shared out as the simulator does: client `i` (1-based) gets
//!   `ops / clients`, plus one if `i <= ops % clients`.
//! * Each client starts after one think time, then gets its connect string shuffled and its
//!   own seed; it opens a session with the scenario's session timeout.
//! * Once connected it thinks (uniform in `think_ms`, inclusive), and if it is still connected
//!   it issues one operation on a key drawn from `/kv-0`..`/kv-7`: a write with probability
//!   `write_ratio`, else a read (getData). A write is setData of a value unique to the client
//!   and write, `(client << 32) | n` for its nth write, stored as decimal text. One write in
//!   four is pipelined with a getData of the same key, sent before the write's answer. A write
//!   answered NoNode becomes a create of the same value, and a create answered NodeExists a
//!   write again; these follow-ups do not count against the budget (as in kv.rs). A request
//!   whose connection is lost is not resubmitted: after a reconnect the client thinks and
//!   carries on with a new operation.
//! * The client stops when it has issued its budget and had every answer, when its session
//!   expires, or at the deadline.
//!
//! Every draw (start delay, connect-string order, each client's seed, think times, keys,
//! reads or writes, pipelining) comes from ChaCha8 streams seeded from [`KvSpec::seed`], so a
//! run's plan is reproducible; the draws are not the simulator's own (its workload stream is
//! seeded differently), and real timing of course is not reproducible. See [`plan`].
//!
//! # The client library
//!
//! `zookeeper-client` (kezhuw, pinned at 0.11.2) was chosen over `zookeeper` (bonifaido, 0.8:
//! blocking, built on mio 0.6 and its own thread, no release in years) and `zookeeper-async`
//! (krojew, 5.0: a tokio port of the former; needs tokio's multi-threaded runtime, its
//! reconnect loop has no session deadline ("TODO only until session times out") and it drops
//! in-flight requests on a reconnect). `zookeeper-client` is maintained, speaks the 3.5+
//! protocol (Create2 answers with a Stat, so a create's zxid is known; multi, persistent
//! watches, getEphemerals), keeps one session across reconnects with the Java client's
//! resumption (session id and password, the last zxid seen, watches re-registered), reports
//! session state through a [`zk::StateWatcher`] (Disconnected, SyncConnected, Expired, Closed),
//! fails requests in flight on a broken connection (with the error that broke it: usually
//! `ConnectionLoss`, or "no response from connection in N ms", or an I/O error), and sends
//! each request when its future is created, so a write and a read can be pipelined in order.
//!
//! What differs from ZooKeeper's Java client, which the simulator models:
//!
//! * Timing: the connection is declared dead after 2/5 of the negotiated session timeout
//!   without a byte (Java: 2/3), pings go after 3/20 of it idle (Java: 1/3), and the client
//!   gives the session up itself (Expired, without asking a server) when it has reached no
//!   server for 7/5 of it.
//! * Server order: the library shuffles the connect string itself, and again after every
//!   established connection (Java's StaticHostProvider shuffles once), with `fastrand`; the
//!   harness seeds `fastrand` on the client's thread from the client's seed, so the order
//!   follows from the seed given the same sequence of events. Retries wait 50-150 ms between
//!   servers and a doubling pause after a whole round, instead of Java's random 0-1000 ms.
//! * Neither the zxid of a reply header nor the server connected to is exposed. A write's zxid
//!   is taken from the Stat it returns (`mzxid` of setData, `czxid` of create), a read's is the
//!   `mzxid` of the node it read. The server comes from the library's own log messages (see
//!   [`capture`]): the last session established before the answer was seen.
//!
//! # Threads and clocks
//!
//! [`run_kv`] is blocking. Each client runs on an OS thread of its own with a current-thread
//! tokio runtime (tokio's `rt` and `time` only), so that a thread-local `tracing` subscriber
//! and `fastrand` seed belong to that client alone. The library does its socket I/O and
//! timers through `async-io`'s reactor thread and spawns its session task onto the tokio
//! runtime it finds. Sessions are opened "detached": when `run_kv` returns, the clients are
//! dropped without a closeSession, as if the client processes had stopped; their sessions then
//! expire on the servers. A client that finished early keeps its session (and heartbeats)
//! until every client has finished or the deadline passes.
//!
//! All times are milliseconds since the harness's `t0` (an [`Instant`]); [`KvRun::t0_unix_ms`]
//! is `t0` on the wall clock, which [`crate::PacketRecord::time_ms`] and the servers' logs use.

mod capture;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use capture::{lock, Capture, Log, SharedLog};
pub use capture::{SessionEvent, SessionEventKind};

/// Keys `/kv-0` .. `/kv-7`, as in the simulator.
pub const KEYS: u32 = 8;

/// The `[clients]` settings of a kv scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct KvSpec {
    /// How many clients.
    pub clients: u32,
    /// Operations in all, shared out among the clients as the simulator does.
    pub ops: u32,
    /// The share of operations that are writes (clamped to 0..=1).
    pub write_ratio: f64,
    /// Think time between operations, ms, inclusive (either order).
    pub think_ms: (u64, u64),
    /// The session timeout the clients ask for.
    pub session_timeout_ms: u32,
    /// Seeds every random choice of the plan.
    pub seed: u64,
    /// Keep every session alive until the deadline, as the simulator's clients stay
    /// connected until the run ends; otherwise sessions are dropped (and later expire on
    /// the servers) once every client has finished.
    pub keep_sessions: bool,
}

impl KvSpec {
    /// Client `client`'s (1-based) share of the operations.
    pub fn ops_of(&self, client: u32) -> u32 {
        let n = self.clients.max(1);
        self.ops / n + u32::from(client <= self.ops % n)
    }
}

/// What a request was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// getData.
    Read { path: String },
    /// setData with any version.
    Write { path: String, data: u64 },
    /// A persistent create (after a write found no node).
    Create { path: String, data: u64 },
}

/// What a read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadValue {
    /// The value, if the node holds a kv value (decimal text).
    pub data: Option<u64>,
    /// The node's data version.
    pub version: i32,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// Done. `zxid`: a write's own zxid (the Stat's `mzxid` for setData, `czxid` for create);
    /// a read's is the `mzxid` of the node it read (the write whose value it saw).
    Ok {
        zxid: Option<i64>,
        read: Option<ReadValue>,
    },
    /// The server answered with an error, which means the request did not change anything
    /// (`NoNode`, `NodeExists`, `BadVersion`, ...: the library's error name).
    Err(String),
    /// No answer: the connection broke, the session expired, or the deadline came first. A
    /// write may or may not have happened. The library's message, or "deadline".
    Unknown(String),
}

/// One request of one client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOp {
    /// The client (1-based).
    pub client: u32,
    /// The request's number within the client, from 1, in the order they were sent.
    pub op: u32,
    /// What it was.
    pub kind: OpKind,
    /// Whether it was sent before the answer to the request before it (the pipelined read).
    pub pipelined: bool,
    /// When it was sent, ms since `t0`.
    pub invoked_ms: f64,
    /// When its answer was seen, ms since `t0`; `None` when it had none.
    pub completed_ms: Option<f64>,
    /// How it ended.
    pub result: OpResult,
    /// For an answered request, the server the answer came from; otherwise the server the
    /// client was connected to when it sent the request (if it was).
    pub server: Option<u64>,
}

/// Everything one client did and saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRecord {
    /// The client (1-based).
    pub client: u32,
    /// Its connect string, by server id, in the order the plan shuffled it. The library
    /// shuffles it again before trying servers (see the module docs); the order it really
    /// tried them in is in `connects`.
    pub servers: Vec<u64>,
    /// When it started connecting, ms since `t0`.
    pub started_ms: f64,
    /// Its session, once it had one.
    pub session_id: Option<i64>,
    /// Its requests, in the order sent.
    pub ops: Vec<ClientOp>,
    /// What the library said about the connection, in order.
    pub connects: Vec<SessionEvent>,
    /// Whether its session expired (told by a server or concluded by the library).
    pub expired: bool,
    /// Whether it issued its whole budget and had every answer before the deadline.
    pub finished: bool,
}

/// A run of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct KvRun {
    /// `t0` on the wall clock, ms since the Unix epoch (the packet log's clock).
    pub t0_unix_ms: f64,
    /// Per client, by client number.
    pub clients: Vec<ClientRecord>,
}

impl KvRun {
    /// A time of this run (ms since `t0`) on the packet log's clock.
    pub fn unix_ms(&self, ms: f64) -> f64 {
        self.t0_unix_ms + ms
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
    /// Its own seed (the workload's choices and the library's server order).
    pub seed: u64,
    /// Its budget.
    pub ops: u32,
}

/// The plan of a run, as the simulator draws it: every client's start delay (one think time),
/// then, in the order they start, a shuffle of the connect string and a seed.
pub fn plan(spec: &KvSpec, server_ids: &[u64]) -> Vec<ClientPlan> {
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

/// Runs the kv workload with real clients against the servers at `servers` (`(id, client
/// address)`, e.g. [`crate::Control::client_addrs`]) until every client has finished or
/// `t0 + deadline` has passed. Requests still open then are recorded as
/// `Unknown("deadline")`.
///
/// The servers are given with their ids (rather than as bare addresses) so the record can say
/// which server a client talked to.
pub fn run_kv(
    servers: &[(u64, SocketAddr)],
    spec: &KvSpec,
    deadline: Duration,
    t0: Instant,
) -> KvRun {
    let t0_unix_ms = unix_ms_of(t0);
    let end = t0 + deadline;
    let ids: Vec<u64> = servers.iter().map(|(id, _)| *id).collect();
    let plans = plan(spec, &ids);
    let remaining = Arc::new(AtomicU32::new(plans.len() as u32));
    let mut threads = Vec::new();
    for p in plans {
        let client = p.client;
        let job = Job {
            connect: p
                .servers
                .iter()
                .filter_map(|id| servers.iter().find(|(s, _)| s == id))
                .map(|(id, addr)| (*id, addr.to_string()))
                .collect(),
            plan: p,
            spec: spec.clone(),
            t0,
            end,
            remaining: remaining.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("kv-client-{client}"))
            .spawn(move || job.run());
        threads.push((client, spawned));
    }
    let mut clients: Vec<ClientRecord> = threads
        .into_iter()
        .map(|(client, spawned)| {
            let failed = |what: String| ClientRecord {
                client,
                servers: Vec::new(),
                started_ms: 0.0,
                session_id: None,
                ops: Vec::new(),
                connects: vec![SessionEvent {
                    time_ms: t0.elapsed().as_secs_f64() * 1000.0,
                    kind: SessionEventKind::Other,
                    server: None,
                    text: what,
                }],
                expired: false,
                finished: false,
            };
            match spawned {
                Err(e) => failed(format!("client thread did not start: {e}")),
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| failed("client thread panicked".into())),
            }
        })
        .collect();
    clients.sort_by_key(|c| c.client);
    KvRun {
        t0_unix_ms,
        clients,
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

/// One client's thread: its plan and the run's clock.
struct Job {
    plan: ClientPlan,
    /// `(id, "host:port")` in plan order.
    connect: Vec<(u64, String)>,
    spec: KvSpec,
    t0: Instant,
    end: Instant,
    /// Clients still working; a finished client keeps its session until this reaches 0.
    remaining: Arc<AtomicU32>,
}

impl Job {
    fn run(self) -> ClientRecord {
        let log = Log::new(self.t0, self.connect.clone());
        let _trace = tracing::subscriber::set_default(Capture::new(log.clone()));
        fastrand::seed(self.plan.seed);
        let mut record = ClientRecord {
            client: self.plan.client,
            servers: self.plan.servers.clone(),
            started_ms: self.plan.start_ms as f64,
            session_id: None,
            ops: Vec::new(),
            connects: Vec::new(),
            expired: false,
            finished: false,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread tokio runtime");
        let end = tokio::time::Instant::from_std(self.end);
        let mut kv = Kv {
            client: None,
            log: log.clone(),
            rng: ChaCha8Rng::seed_from_u64(self.plan.seed),
            next_op: 1,
            t0: self.t0,
            record: &mut record,
        };
        let finished = rt.block_on(async {
            tokio::time::timeout_at(end, kv.run(&self.plan, &self.spec))
                .await
                .is_ok()
        });
        let client = kv.client.take();
        self.remaining.fetch_sub(1, Ordering::SeqCst);
        if finished && client.is_some() {
            // Keep the session alive (and watched) like a client process that is still up.
            rt.block_on(async {
                while (self.spec.keep_sessions || self.remaining.load(Ordering::SeqCst) > 0)
                    && tokio::time::Instant::now() < end
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
        if let Some(c) = &client {
            record.expired |= c.state() == zk::SessionState::Expired;
        }
        record.finished = finished && !record.expired;
        drop(client);
        drop(rt);
        let mut log = lock(&log);
        record.expired |= log
            .events
            .iter()
            .any(|e| e.kind == SessionEventKind::Expired);
        record.connects = std::mem::take(&mut log.events);
        record
    }
}

/// A request sent and not yet looked at.
struct Pending {
    /// Its index in the record's ops.
    index: usize,
    task: JoinHandle<Answer>,
}

/// An answer, when it was seen, and the server of the last established connection then.
struct Answer {
    result: Result<Reply, zk::Error>,
    at: Instant,
    server: Option<u64>,
}

enum Reply {
    Stat(zk::Stat),
    Data(Vec<u8>, zk::Stat),
}

/// One client's program and what it has recorded.
struct Kv<'a> {
    client: Option<zk::Client>,
    log: SharedLog,
    rng: ChaCha8Rng,
    next_op: u32,
    t0: Instant,
    record: &'a mut ClientRecord,
}

impl Kv<'_> {
    fn ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.t0).as_secs_f64() * 1000.0
    }

    async fn run(&mut self, plan: &ClientPlan, spec: &KvSpec) {
        tokio::time::sleep_until(tokio::time::Instant::from_std(
            self.t0 + Duration::from_millis(plan.start_ms),
        ))
        .await;
        let connect: Vec<String> = {
            let log = lock(&self.log);
            self.record
                .servers
                .iter()
                .filter_map(|id| log.address_of(*id))
                .collect()
        };
        let client = loop {
            let attempt = zk::Client::connector()
                .with_session_timeout(Duration::from_millis(spec.session_timeout_ms.into()))
                .with_detached()
                .connect(&connect.join(","))
                .await;
            match attempt {
                Ok(c) => break c,
                Err(e) => {
                    lock(&self.log).note(format!("could not open a session: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        self.record.session_id = Some(client.session_id().0);
        let mut state = client.state_watcher();
        self.client = Some(client);

        let budget = plan.ops;
        let write_ratio = spec.write_ratio.clamp(0.0, 1.0);
        let (mut issued, mut writes) = (0u32, 0u64);
        while issued < budget {
            // kv.rs: think once connected, and issue only if still connected when it ends.
            loop {
                if !connected(&mut state).await {
                    self.record.expired = true;
                    return;
                }
                let ms = think(&mut self.rng, spec.think_ms);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                if state.peek_state() == zk::SessionState::SyncConnected {
                    break;
                }
            }
            let key = self.rng.gen_range(0..KEYS);
            let path = format!("/kv-{key}");
            if self.rng.gen_bool(write_ratio) {
                writes += 1;
                let data = (u64::from(plan.client) << 32) | writes;
                let write = self.write(path.clone(), data, false);
                issued += 1;
                let read = (issued < budget && self.rng.gen_range(0..4) == 0).then(|| {
                    issued += 1;
                    self.read(path.clone(), true)
                });
                let mut next = Some(write);
                while let Some(pending) = next.take() {
                    next = match self.finish(pending).await {
                        Some((OpKind::Write { path, data }, Err(zk::Error::NoNode))) => {
                            Some(self.create(path, data))
                        }
                        Some((OpKind::Create { path, data }, Err(zk::Error::NodeExists))) => {
                            Some(self.write(path, data, false))
                        }
                        _ => None,
                    };
                }
                if let Some(read) = read {
                    self.finish(read).await;
                }
            } else {
                let read = self.read(path, false);
                issued += 1;
                self.finish(read).await;
            }
            if self.record.expired {
                return;
            }
        }
    }

    fn client(&self) -> &zk::Client {
        self.client
            .as_ref()
            .expect("connected before the first request")
    }

    /// Records a request about to be sent and returns its index.
    fn sent(&mut self, kind: OpKind, pipelined: bool) -> usize {
        let op = ClientOp {
            client: self.record.client,
            op: self.next_op,
            kind,
            pipelined,
            invoked_ms: self.ms(Instant::now()),
            completed_ms: None,
            result: OpResult::Unknown("deadline".into()),
            server: lock(&self.log).current,
        };
        self.next_op += 1;
        self.record.ops.push(op);
        self.record.ops.len() - 1
    }

    fn spawn(
        &self,
        index: usize,
        reply: impl std::future::Future<Output = Result<Reply, zk::Error>> + Send + 'static,
    ) -> Pending {
        let log = self.log.clone();
        let task = tokio::spawn(async move {
            let result = reply.await;
            Answer {
                result,
                at: Instant::now(),
                server: lock(&log).last_connected,
            }
        });
        Pending { index, task }
    }

    fn write(&mut self, path: String, data: u64, pipelined: bool) -> Pending {
        let index = self.sent(
            OpKind::Write {
                path: path.clone(),
                data,
            },
            pipelined,
        );
        let reply = self
            .client()
            .set_data(&path, data.to_string().as_bytes(), None);
        self.spawn(index, async move { reply.await.map(Reply::Stat) })
    }

    fn read(&mut self, path: String, pipelined: bool) -> Pending {
        let index = self.sent(OpKind::Read { path: path.clone() }, pipelined);
        let reply = self.client().get_data(&path);
        self.spawn(index, async move {
            reply.await.map(|(data, stat)| Reply::Data(data, stat))
        })
    }

    fn create(&mut self, path: String, data: u64) -> Pending {
        let index = self.sent(
            OpKind::Create {
                path: path.clone(),
                data,
            },
            false,
        );
        let client = self.client().clone();
        // The create future borrows the client and path, so it is made inside the task; it is
        // the only request in flight then, so nothing can overtake it.
        self.spawn(index, async move {
            let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            client
                .create(&path, data.to_string().as_bytes(), &options)
                .await
                .map(|(stat, _)| Reply::Stat(stat))
        })
    }

    /// Waits for a request's answer, records it, and returns its kind with the raw result.
    async fn finish(&mut self, pending: Pending) -> Option<(OpKind, Result<(), zk::Error>)> {
        let answer = pending.task.await.ok()?;
        let completed_ms = self.ms(answer.at);
        let op = &mut self.record.ops[pending.index];
        op.completed_ms = Some(completed_ms);
        let raw = answer.result.as_ref().map(|_| ()).map_err(Clone::clone);
        op.result = match answer.result {
            Ok(reply) => {
                op.server = answer.server;
                match reply {
                    Reply::Stat(stat) => OpResult::Ok {
                        zxid: Some(match op.kind {
                            OpKind::Create { .. } => stat.czxid,
                            _ => stat.mzxid,
                        }),
                        read: None,
                    },
                    Reply::Data(data, stat) => OpResult::Ok {
                        zxid: Some(stat.mzxid),
                        read: Some(ReadValue {
                            data: std::str::from_utf8(&data).ok().and_then(|s| s.parse().ok()),
                            version: stat.version,
                        }),
                    },
                }
            }
            Err(e) => {
                if e == zk::Error::SessionExpired {
                    self.record.expired = true;
                }
                classify(&e)
            }
        };
        Some((op.kind.clone(), raw))
    }
}

/// Waits until the session is connected; false if it ended (expired or closed) instead.
async fn connected(state: &mut zk::StateWatcher) -> bool {
    loop {
        match state.state() {
            zk::SessionState::SyncConnected => return true,
            s if s.is_terminated() => return false,
            _ => {}
        }
        state.changed().await;
    }
}

/// A server's definite refusal, or an answer that never came.
fn classify(e: &zk::Error) -> OpResult {
    use zk::Error as E;
    match e {
        E::NoNode
        | E::NodeExists
        | E::BadVersion
        | E::NoAuth
        | E::NotEmpty
        | E::InvalidAcl
        | E::NoChildrenForEphemerals
        | E::QuotaExceeded
        | E::Throttled
        | E::MarshallingError
        | E::Unimplemented
        | E::NotReadOnly
        | E::BadArguments(_) => OpResult::Err(format!("{e:?}")),
        _ => OpResult::Unknown(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> KvSpec {
        KvSpec {
            keep_sessions: false,
            clients: 3,
            ops: 10,
            write_ratio: 0.5,
            think_ms: (10, 100),
            session_timeout_ms: 2000,
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

    #[test]
    fn refusals_are_errors_and_losses_unknown() {
        assert_eq!(classify(&zk::Error::NoNode), OpResult::Err("NoNode".into()));
        assert!(matches!(
            classify(&zk::Error::ConnectionLoss),
            OpResult::Unknown(_)
        ));
        assert!(matches!(
            classify(&zk::Error::SessionExpired),
            OpResult::Unknown(_)
        ));
    }
}
