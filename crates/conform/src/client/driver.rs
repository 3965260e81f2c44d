//! One real client process: a simulator program on a `zookeeper-client` session, driven in
//! wall-clock time on the client's own thread.
//!
//! The loop mirrors the simulated client library's `run_program` (zab/src/client/cnxn.rs):
//! whatever happens (a connection change the library logged, an answer, a watch firing, the
//! program's timer) becomes a [`Notice`] for the program, and the program's [`Action`]s are
//! carried out at once: a submit is queued with the library there and then (see
//! [`super::ops::send`]), so requests leave in the order the program made them. Watches are
//! kept in the simulated client's own [`Watches`] table, so the program hears of a firing once
//! and only if it armed a watch for it, exactly as in simulation.

use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use zab::client::{Action, Ctx, Notice, Program, ProgramSettings, Watches};
use zab::client_api::{ClientEvent, ClientOp, OpResult, RecipeEvent, SessionId};
use zab::{ServerId, Zxid};
use zookeeper_client as zk;

use super::capture::{lock as lock_log, Capture, Log, SessionEventKind, SharedLog};
use super::{ops, ClientPlan, ClientRecord, ClientsSpec, Command, Shared, TimedEvent};

/// How often the loop looks for fault commands while nothing else happens.
const POLL: Duration = Duration::from_millis(5);

/// Everything a client thread needs.
pub(crate) struct Job {
    /// `(server id, proxy address)` for every server.
    pub addrs: Vec<(u64, std::net::SocketAddr)>,
    pub plan: ClientPlan,
    pub spec: ClientsSpec,
    pub t0: Instant,
    pub end: Instant,
    pub commands: mpsc::Receiver<Command>,
    pub shared: Arc<Mutex<Shared>>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Job {
    pub fn run(self) -> ClientRecord {
        let connect: Vec<(u64, String)> = self
            .addrs
            .iter()
            .map(|(id, a)| (*id, a.to_string()))
            .collect();
        let log = Log::new(self.t0, connect);
        let _trace = tracing::subscriber::set_default(Capture::new(log.clone()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread tokio runtime");
        let (tx, rx) = unbounded_channel();
        let mut d = Driver {
            record: ClientRecord::new(
                self.plan.client,
                self.plan.servers.clone(),
                self.plan.start_ms as f64,
            ),
            restarts: ChaCha8Rng::seed_from_u64(self.plan.seed),
            job: self,
            log: log.clone(),
            seen: 0,
            process: None,
            generation: 0,
            tx,
            rx,
        };
        rt.block_on(d.run());
        if let Some(p) = d.process.take() {
            p.stop();
        }
        drop(rt);
        d.record.connects = std::mem::take(&mut lock_log(&log).events);
        d.record
    }
}

/// What the tasks of a process report to the loop. `generation` tells a crashed process's
/// late reports apart from the current one's.
enum Inbound {
    Session {
        generation: u64,
        client: zk::Client,
    },
    Answer {
        generation: u64,
        op: u64,
        cxid: u64,
        request: ClientOp,
        result: OpResult,
        watcher: Option<zk::OneshotWatcher>,
        at_ms: f64,
    },
    Watch {
        generation: u64,
        event: zk::WatchedEvent,
        at_ms: f64,
    },
}

/// One client process: its session (once open), its program and the program's state.
struct Process {
    generation: u64,
    client: Option<zk::Client>,
    session: SessionId,
    connected: bool,
    /// The server of the live connection, else of the last one.
    server: Option<u64>,
    program: Program,
    rng: ChaCha8Rng,
    next_op: u64,
    /// The library's xid for the next request (see the module docs of `client`).
    next_cxid: u64,
    outstanding: usize,
    watches: Watches,
    timer_us: Option<u64>,
    expired: bool,
    /// Tasks holding the session (the connect, answers, watches): aborted on a crash, so the
    /// library's last handle goes and its socket closes.
    tasks: Vec<JoinHandle<()>>,
}

impl Process {
    fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Driver {
    job: Job,
    record: ClientRecord,
    /// Draws the connect-string shuffle and seed of each restarted process.
    restarts: ChaCha8Rng,
    log: SharedLog,
    /// How many of the library's messages have been acted on.
    seen: usize,
    process: Option<Process>,
    generation: u64,
    tx: UnboundedSender<Inbound>,
    rx: UnboundedReceiver<Inbound>,
}

impl Driver {
    fn ms(&self) -> f64 {
        self.job.t0.elapsed().as_secs_f64() * 1000.0
    }

    fn note(&mut self, event: ClientEvent) {
        let time_ms = self.ms();
        self.note_at(time_ms, event);
    }

    fn note_at(&mut self, time_ms: f64, event: ClientEvent) {
        let c = self.record.client;
        {
            let mut sh = lock(&self.job.shared);
            match &event {
                ClientEvent::Recipe(
                    RecipeEvent::Leading { .. } | RecipeEvent::LockAcquired { .. },
                ) => sh.recipe_leader = Some(c),
                ClientEvent::Recipe(RecipeEvent::NotLeading | RecipeEvent::LockReleased)
                | ClientEvent::Expired { .. }
                | ClientEvent::Crashed
                    if sh.recipe_leader == Some(c) =>
                {
                    sh.recipe_leader = None
                }
                _ => {}
            }
        }
        self.record.events.push(TimedEvent { time_ms, event });
    }

    async fn run(&mut self) {
        let start = self.job.t0 + Duration::from_millis(self.job.plan.start_ms);
        tokio::time::sleep_until(start.into()).await;
        let (servers, seed) = (self.job.plan.servers.clone(), self.job.plan.seed);
        self.start_process(servers, seed);
        let end: tokio::time::Instant = self.job.end.into();
        while tokio::time::Instant::now() < end {
            if !self.commands() {
                break;
            }
            self.library_messages();
            self.timer();
            let wake = end.min(tokio::time::Instant::now() + POLL);
            tokio::select! {
                Some(m) = self.rx.recv() => self.inbound(m),
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Carries out fault commands; false once the deadline passed during a pause.
    fn commands(&mut self) -> bool {
        loop {
            match self.job.commands.try_recv() {
                Ok(Command::Crash) => self.crash(),
                Ok(Command::Restart) => {
                    if self.process.is_none() {
                        let mut servers = self.job.plan.servers.clone();
                        servers.shuffle(&mut self.restarts);
                        let seed = self.restarts.gen();
                        self.start_process(servers, seed);
                    }
                }
                Ok(Command::Pause) if self.process.is_some() => {
                    if !self.pause() {
                        return false;
                    }
                }
                Ok(Command::Pause | Command::Resume) => {}
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return true,
            }
        }
    }

    /// Blocks the thread, and with it the whole client, until resumed (or crashed, or the
    /// deadline). False if the deadline came first.
    fn pause(&mut self) -> bool {
        self.note(ClientEvent::Paused);
        loop {
            let left = self.job.end.saturating_duration_since(Instant::now());
            match self.job.commands.recv_timeout(left) {
                Ok(Command::Resume) => {
                    self.note(ClientEvent::Resumed);
                    return true;
                }
                Ok(Command::Crash) => {
                    self.crash();
                    return true;
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    fn crash(&mut self) {
        let Some(p) = self.process.take() else { return };
        p.stop();
        self.note(ClientEvent::Crashed);
        self.record.finished = false;
        lock(&self.job.shared).up.insert(self.record.client, false);
    }

    fn start_process(&mut self, servers: Vec<u64>, seed: u64) {
        self.generation += 1;
        let generation = self.generation;
        fastrand::seed(seed);
        let connect: Vec<String> = servers
            .iter()
            .filter_map(|id| self.job.addrs.iter().find(|(s, _)| s == id))
            .map(|(_, a)| a.to_string())
            .collect();
        let timeout = Duration::from_millis(self.job.spec.session_timeout_ms.into());
        let tx = self.tx.clone();
        let log = self.log.clone();
        let connecting = tokio::spawn(async move {
            loop {
                let attempt = zk::Client::connector()
                    .with_session_timeout(timeout)
                    .with_detached()
                    .connect(&connect.join(","))
                    .await;
                match attempt {
                    Ok(client) => {
                        let _ = tx.send(Inbound::Session { generation, client });
                        return;
                    }
                    Err(e) => {
                        lock_log(&log).note(format!("could not open a session: {e}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        let spec = &self.job.spec;
        let settings = ProgramSettings {
            workload: spec.workload,
            ops: self.job.plan.ops,
            write_ratio: spec.write_ratio,
            think_ms: spec.think_ms,
            index: self.job.plan.client,
            count: spec.clients,
        };
        self.process = Some(Process {
            generation,
            client: None,
            session: SessionId::NONE,
            connected: false,
            server: None,
            program: Program::new(&settings),
            rng: ChaCha8Rng::seed_from_u64(seed),
            next_op: 1,
            next_cxid: 1,
            outstanding: 0,
            watches: Watches::default(),
            timer_us: None,
            expired: false,
            tasks: vec![connecting],
        });
        self.record.expired = false;
        lock(&self.job.shared).up.insert(self.record.client, true);
    }

    /// Acts on the library's connection messages logged since the last look. A session's
    /// establishment waits for the session handle, which the connect task hands over just
    /// after the library logs it.
    fn library_messages(&mut self) {
        loop {
            let next = {
                let log = lock_log(&self.log);
                log.events
                    .get(self.seen)
                    .map(|e| (e.kind, e.server, e.time_ms))
            };
            let Some((kind, server, at)) = next else {
                return;
            };
            let Some(p) = &mut self.process else {
                self.seen += 1;
                continue;
            };
            let sid = |s: Option<u64>| ServerId(s.and_then(|s| u8::try_from(s).ok()).unwrap_or(0));
            match kind {
                SessionEventKind::Connected => {
                    let Some(client) = &p.client else { return };
                    let session = SessionId(client.session_id().0 as u64);
                    let timeout_ms = client.session_timeout().as_millis() as u32;
                    p.connected = true;
                    p.session = session;
                    p.server = server;
                    if self.record.sessions.last() != Some(&(session.0 as i64)) {
                        self.record.sessions.push(session.0 as i64);
                    }
                    self.seen += 1;
                    self.note_at(
                        at,
                        ClientEvent::Connecting {
                            server: sid(server),
                        },
                    );
                    self.note_at(
                        at,
                        ClientEvent::Connected {
                            session,
                            server: sid(server),
                            timeout_ms,
                        },
                    );
                    self.program(Notice::Connected);
                }
                SessionEventKind::AttemptFailed => {
                    self.seen += 1;
                    self.note_at(
                        at,
                        ClientEvent::Connecting {
                            server: sid(server),
                        },
                    );
                    self.note_at(
                        at,
                        ClientEvent::Disconnected {
                            server: sid(server),
                        },
                    );
                }
                SessionEventKind::Disconnected => {
                    let was = p.server;
                    p.connected = false;
                    self.seen += 1;
                    self.note_at(
                        at,
                        ClientEvent::Disconnected {
                            server: sid(server.or(was)),
                        },
                    );
                    self.program(Notice::Disconnected);
                }
                SessionEventKind::Expired => {
                    p.connected = false;
                    p.expired = true;
                    let session = p.session;
                    self.seen += 1;
                    self.record.expired = true;
                    self.note_at(at, ClientEvent::Expired { session });
                    self.program(Notice::Expired);
                }
                SessionEventKind::NewSession
                | SessionEventKind::Closed
                | SessionEventKind::Other => {
                    self.seen += 1;
                }
            }
        }
    }

    fn timer(&mut self) {
        let now_us = (self.ms() * 1000.0) as u64;
        let Some(p) = &mut self.process else { return };
        if p.timer_us.is_some_and(|t| t <= now_us) {
            p.timer_us = None;
            self.program(Notice::Timer);
        }
    }

    fn inbound(&mut self, m: Inbound) {
        let Some(p) = &mut self.process else { return };
        match m {
            Inbound::Session { generation, client } if generation == p.generation => {
                p.client = Some(client);
            }
            Inbound::Answer {
                generation,
                op,
                cxid,
                request,
                result,
                watcher,
                at_ms,
            } if generation == p.generation => {
                p.outstanding -= 1;
                p.watches.register(&request, &result);
                if let Some(w) = watcher {
                    let tx = self.tx.clone();
                    let t0 = self.job.t0;
                    p.tasks.push(tokio::spawn(async move {
                        let event = w.changed().await;
                        let at_ms = t0.elapsed().as_secs_f64() * 1000.0;
                        let _ = tx.send(Inbound::Watch {
                            generation,
                            event,
                            at_ms,
                        });
                    }));
                }
                self.note_at(
                    at_ms,
                    ClientEvent::Answered {
                        op,
                        cxid,
                        zxid: None,
                        result: result.clone(),
                    },
                );
                self.program(Notice::Answer { op, result });
            }
            Inbound::Watch {
                generation,
                event,
                at_ms,
            } if generation == p.generation => {
                let Some(event) = ops::watched(&event) else {
                    return;
                };
                // Several reads may have armed watches the one notification fires; the
                // table hands it over once.
                if !p.watches.trigger(&event) {
                    return;
                }
                let server = ServerId(p.server.and_then(|s| u8::try_from(s).ok()).unwrap_or(0));
                self.note_at(
                    at_ms,
                    ClientEvent::Watch {
                        event: event.clone(),
                        server,
                    },
                );
                self.program(Notice::Watch(event));
            }
            _ => {}
        }
    }

    /// Hands one notice to the program and carries out what it asks.
    fn program(&mut self, notice: Notice) {
        let now_us = (self.ms() * 1000.0) as u64;
        let Some(p) = &mut self.process else { return };
        let mut ctx = Ctx::new(now_us, p.session, p.connected, &mut p.rng, p.next_op);
        p.program.on(notice, &mut ctx);
        let (next_op, actions) = ctx.finish();
        p.next_op = next_op;
        for action in actions {
            match action {
                Action::Submit(op, request) => self.submit(op, request),
                Action::Recipe(event) => {
                    let token = match &event {
                        RecipeEvent::UseResource { token } => Some(*token),
                        _ => None,
                    };
                    self.note(ClientEvent::Recipe(event));
                    if let Some(token) = token {
                        self.use_resource(token);
                    }
                }
                Action::SetTimer(at_us) => {
                    if let Some(p) = &mut self.process {
                        p.timer_us = Some(at_us);
                    }
                }
                Action::CancelTimer => {
                    if let Some(p) = &mut self.process {
                        p.timer_us = None;
                    }
                }
            }
        }
        if let Some(p) = &self.process {
            if p.program.done() && p.outstanding == 0 && !p.expired {
                self.record.finished = true;
            }
        }
    }

    fn submit(&mut self, op: u64, request: ClientOp) {
        let Some(p) = &mut self.process else { return };
        let server = ServerId(p.server.and_then(|s| u8::try_from(s).ok()).unwrap_or(0));
        let generation = p.generation;
        let Some(client) = &p.client else {
            // Programs act only once connected, and the session handle arrives before the
            // connection is reported; a submit without it would be a harness fault.
            self.record.problems.push(format!(
                "operation {op} was submitted before the session was open"
            ));
            return;
        };
        let cxid = p.next_cxid;
        p.next_cxid += 1;
        p.outstanding += 1;
        let in_flight = ops::send(client, &request);
        let tx = self.tx.clone();
        let t0 = self.job.t0;
        let r = request.clone();
        p.tasks.push(tokio::spawn(async move {
            let (result, watcher) = in_flight.await;
            let at_ms = t0.elapsed().as_secs_f64() * 1000.0;
            let _ = tx.send(Inbound::Answer {
                generation,
                op,
                cxid,
                request: r,
                result,
                watcher,
                at_ms,
            });
        }));
        self.note(ClientEvent::Submitted {
            op,
            cxid,
            server,
            request,
        });
    }

    /// The protected resource: with fencing it refuses a token older than the newest it
    /// accepted (as sim/clients.rs's does).
    fn use_resource(&mut self, token: Zxid) {
        let accepted = {
            let mut sh = lock(&self.job.shared);
            let accepted = !sh.fencing || sh.newest.is_none_or(|n| token >= n);
            if accepted {
                sh.newest = Some(sh.newest.map_or(token, |n| n.max(token)));
            }
            accepted
        };
        self.note(ClientEvent::ResourceUsed { token, accepted });
    }
}
