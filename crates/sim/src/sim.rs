//! The event loop: pops the earliest event, steps the server it concerns, interprets the
//! server's outputs, and shows every happening to the checkers and the trace.

mod clients;

use crate::checking::Checkers;
use crate::faults::{self, Armed, Planned};
use crate::network::{conn_key, Partition};
use crate::outcome::{ElectionRecord, Outcome, SyncRecord};
use crate::queue::Queue;
use crate::rng::{between, stream, Stream};
use crate::trace::{self, TraceHash, TraceWriter};
use crate::world::World;
use check::{Happening, Violation};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use scenario::{Action, OnKind, Scenario, Selector, Trigger};
use std::collections::BTreeSet;
use std::sync::Arc;
use zab::{
    BugSet, Channel, Config, DiskImage, Endpoint, Event, Input, Message, Output, Outputs, Server,
    ServerId, ServerState, Txn, ZkVersion,
};

/// Something scheduled to happen.
#[derive(Debug)]
pub enum Ev {
    /// The SendWorker of a connection is free: the queued election notification, if any,
    /// leaves (see `Conn::queued_vote`).
    SendQueuedVote {
        from: Endpoint,
        to: Endpoint,
        gen: u64,
    },
    Deliver {
        from: Endpoint,
        to: Endpoint,
        channel: Channel,
        /// The connection (`Network::index_of`) and its generation when the message left.
        conn: u32,
        gen: u64,
        msg: Message,
    },
    /// A server's next deadline (`Server::next_deadline`) has come, if it is still `at`.
    Wake {
        id: ServerId,
        inc: u64,
        at: u64,
    },
    DiskDone {
        id: ServerId,
        inc: u64,
        write: u64,
    },
    /// Tell a server that a connection broke (held while paused). `gen` is the connection's
    /// generation after the break: if it has been opened again since, the news is about a
    /// socket that no longer exists, and is dropped.
    Notify {
        id: ServerId,
        inc: u64,
        peer: Endpoint,
        channel: Channel,
        gen: u64,
    },
    /// A durable write whose completion the paused server learns about on resume.
    HeldDiskDone {
        id: ServerId,
        inc: u64,
        write: u64,
    },
    Fault(Planned),
    Restart(ServerId),
    Heal(u64),
    Resume(ServerId),
    LivenessDeadline,
    /// A client's next deadline has come, if it is still `at`.
    ClientWake {
        id: zab::ClientId,
        inc: u64,
        at: u64,
    },
    /// Tell a client that its connection to a server broke (held while paused).
    ClientNotify {
        id: zab::ClientId,
        inc: u64,
        peer: Endpoint,
    },
    /// A closed connection's last message has arrived: the connection ends now.
    CloseConn {
        from: Endpoint,
        to: Endpoint,
        channel: Channel,
        gen: u64,
    },
    ClientStart(zab::ClientId),
    ClientRestart(zab::ClientId),
    ClientResume(zab::ClientId),
}

/// How to run a scenario.
pub struct Options {
    pub seed: u64,
    /// Bug variants on top of the scenario's own.
    pub bugs: BugSet,
    /// The release to model (`--zk`), over the scenario's `zk` key.
    pub zk: Option<ZkVersion>,
    /// Bugs and hazards to switch off even where the release or the scenario carries them:
    /// how a failure is attributed (rerun with one fixed at a time).
    pub fixes: BugSet,
    /// Where to write the JSON Lines trace, if anywhere.
    pub trace: Option<Box<dyn std::io::Write>>,
    /// Run the invariant checkers (benchmarks switch them off to measure the bare cost).
    pub checkers: bool,
}

impl Options {
    pub fn new(seed: u64) -> Options {
        Options {
            seed,
            bugs: BugSet::default(),
            zk: None,
            fixes: BugSet::default(),
            trace: None,
            checkers: true,
        }
    }
}

pub struct Sim {
    pub world: World,
    queue: Queue<Ev>,
    out: Outputs,
    rng_net: ChaCha8Rng,
    rng_disk: ChaCha8Rng,
    rng_faults: ChaCha8Rng,
    rng_workload: ChaCha8Rng,
    clients: Option<clients::ClientsState>,
    delay_us: (u64, u64),
    fsync_us: (u64, u64),
    reset: f64,
    /// Connection resets are a fault family: with `[random]` they stop when it does, so
    /// that the liveness phase is calm.
    reset_until_us: u64,
    reorder: bool,
    armed: Vec<Armed>,
    next_partition: u64,
    faults_over_us: u64,
    liveness_us: u64,
    end_us: u64,
    checkers: Checkers,
    violations: Vec<Violation>,
    trace: Option<TraceWriter>,
    hash: TraceHash,
    events: u64,
    elections: Vec<ElectionRecord>,
    no_leader_since: Option<u64>,
    established_leaders: BTreeSet<ServerId>,
    /// The run is past its planned end, waiting for a leader (see [`Sim::run`]).
    grace: bool,
    /// When the ensemble last lost its established leader.
    last_leader_lost_us: Option<u64>,
    /// The longest delivered sequence any server reached: how many txns are committed.
    max_delivered: usize,
    /// A leader that just established its epoch; its next Delivered shows what it committed.
    establishing: Option<(ServerId, u64)>,
    fault_log: Vec<(u64, String)>,
    executed: Vec<crate::export::ExecutedFault>,
    last_crashed_leader: Option<ServerId>,
    /// Servers that refused to start, for the summary (see [`Event::StartupFailed`]).
    startup_failures: Vec<(u64, ServerId, String)>,
    /// The first time each switched-on bug changed what a server did.
    fired: Vec<(u64, ServerId, zab::Bug)>,
    /// Every sync decision a leader took.
    syncs: Vec<SyncRecord>,
    /// The txns `[expect] never_delivered` names, and those of them some server delivered.
    watched: Vec<zab::Zxid>,
    watched_delivered: BTreeSet<zab::Zxid>,
}

/// How long QuorumCnxManager's SendWorker takes to write one notification to its socket.
/// Votes produced faster than this wait in the one-slot send queue, where a newer vote
/// replaces an older one; without this bound a vote circle (zk-1419) would multiply messages
/// without limit in zero simulated time.
const VOTE_WRITE_US: u64 = 100;

/// The release a run models: `--zk`, else the scenario's `zk`, else the default.
pub fn effective_version(sc: &Scenario, zk: Option<ZkVersion>) -> ZkVersion {
    zk.or(sc.zk).unwrap_or_default()
}

/// Every deviation a run has on: the release's own, the scenario's and the command line's
/// variants, less the ones fixed for attribution.
pub fn effective_bugs(sc: &Scenario, opts: &Options) -> BugSet {
    effective_version(sc, opts.zk)
        .carried()
        .union(sc.bugs)
        .union(opts.bugs)
        .difference(opts.fixes)
}

fn us(ms: u64) -> u64 {
    ms.saturating_mul(1000)
}

impl Sim {
    /// Builds the world of a scenario: every server booted from its initial disk, every timed
    /// and random fault scheduled.
    pub fn new(sc: &Scenario, opts: Options) -> Sim {
        let version = effective_version(sc, opts.zk);
        let bugs = effective_bugs(sc, &opts);
        let cfg = Arc::new(Config {
            participants: sc.cluster.participants.clone(),
            observers: sc.cluster.observers.clone(),
            tick_us: us(sc.cluster.tick_ms),
            init_limit: sc.cluster.init_limit,
            sync_limit: sc.cluster.sync_limit,
            snap_count: sc.cluster.snap_count,
            initial_zxid_counter: sc.cluster.initial_zxid_counter,
            bugs,
            version,
            seed: opts.seed,
        });
        let disks = sc
            .cluster
            .all()
            .map(|id| {
                let mut image = DiskImage::default();
                if let Some(init) = sc.servers.iter().find(|s| s.id == id) {
                    image.accepted_epoch = init.accepted_epoch;
                    image.current_epoch = init.current_epoch;
                    image.log = init.log.iter().map(|z| Txn::initial(*z)).collect();
                }
                (id, image)
            })
            .collect();
        let seed = opts.seed;
        let mut sim = Sim {
            world: World::new(cfg, disks),
            queue: Queue::default(),
            out: Outputs::default(),
            rng_net: stream(seed, Stream::Network as u64),
            rng_disk: stream(seed, Stream::Disk as u64),
            rng_faults: stream(seed, Stream::Faults as u64),
            rng_workload: stream(seed, Stream::Workload as u64),
            clients: sc.clients.as_ref().map(clients::ClientsState::new),
            delay_us: (us(sc.network.delay_ms.0), us(sc.network.delay_ms.1)),
            fsync_us: (us(sc.disk.fsync_ms.0), us(sc.disk.fsync_ms.1)),
            reset: sc.network.reset,
            reset_until_us: sc.random.as_ref().map_or(u64::MAX, |r| us(r.until_ms)),
            reorder: sc.network.reorder,
            armed: Vec::new(),
            next_partition: 0,
            faults_over_us: 0,
            liveness_us: us(sc.run.liveness_ms),
            end_us: us(sc.run.duration_ms),
            checkers: Checkers::new(if opts.checkers {
                check::all_checkers()
            } else {
                Vec::new()
            }),
            violations: Vec::new(),
            trace: opts.trace.map(TraceWriter::new),
            hash: TraceHash::default(),
            events: 0,
            elections: Vec::new(),
            no_leader_since: Some(0),
            established_leaders: BTreeSet::new(),
            grace: false,
            last_leader_lost_us: None,
            max_delivered: 0,
            establishing: None,
            fault_log: Vec::new(),
            executed: Vec::new(),
            last_crashed_leader: None,
            startup_failures: Vec::new(),
            fired: Vec::new(),
            syncs: Vec::new(),
            watched: sc.expect.never_delivered.clone(),
            watched_delivered: BTreeSet::new(),
        };
        for (index, f) in sc.faults.iter().enumerate() {
            match f.trigger {
                Trigger::At { at_ms } => {
                    let p = Planned::Scripted {
                        index,
                        action: f.action.clone(),
                    };
                    sim.extend_faults(us(at_ms) + faults::duration_us(&p));
                    sim.queue.push(us(at_ms), Ev::Fault(p));
                }
                Trigger::On { .. } => sim.armed.push(Armed::new(index, f.clone())),
            }
        }
        if let Some(r) = &sc.random {
            for (at, p) in faults::plan_random(r, &mut sim.rng_faults) {
                sim.extend_faults(at + faults::duration_us(&p));
                sim.queue.push(at, Ev::Fault(p));
            }
            if sc.network.reset > 0.0 {
                // Connection resets are random faults too, drawn until `until_ms`: liveness
                // is judged after they stop, not while they still break connections.
                sim.extend_faults(sim.reset_until_us);
            }
        }
        sim.schedule_liveness();
        if let Some(upto) = sc.cluster.committed {
            sim.note(Happening::InitiallyCommitted { upto });
        }
        for i in 0..sim.world.slots.len() {
            let id = sim.world.slots[i].id;
            sim.boot(id);
        }
        sim.start_clients();
        sim
    }

    /// Runs to the end and reports.
    ///
    /// The run ends at `duration_ms` (or the liveness deadline, if later). If the ensemble is
    /// between leaders then, because a leader stepped down, crashed or lost its synced quorum,
    /// the run goes on until a leader has a synced quorum again or `liveness_ms` after the
    /// last leader was lost,
    /// whichever comes first: the end-of-run leader check should judge the ensemble, not race an
    /// election that happened to start just before the end.
    pub fn run(mut self, sc: &Scenario, seed: u64) -> Outcome {
        loop {
            while let Some(at) = self.queue.peek_time() {
                if at > self.end_us {
                    break;
                }
                let (at, ev) = self.queue.pop().expect("peeked");
                self.world.now = at;
                self.events += 1;
                self.handle(ev);
                if self.grace && check::view::leader_with_quorum(&self.world).is_some() {
                    self.end_us = at;
                    break;
                }
            }
            let settled = check::view::leader_with_quorum(&self.world).is_some();
            // A leader that still leads but has just lost its synced quorum (a connection
            // reset a moment ago took a follower) is between leaders too: it steps down or
            // the follower comes back, and the grace period is there to see which.
            let lost = if !settled && !self.established_leaders.is_empty() {
                Some(self.end_us)
            } else {
                self.last_leader_lost_us
            };
            match lost {
                Some(lost) if !self.grace && !settled && lost + self.liveness_us > self.end_us => {
                    self.grace = true;
                    self.end_us = lost + self.liveness_us;
                }
                _ => break,
            }
        }
        self.world.now = self.end_us;
        if let Some(t) = &mut self.trace {
            t.flush();
        }
        Outcome::build(sc, seed, self)
    }

    fn extend_faults(&mut self, end: u64) {
        if end > self.faults_over_us {
            self.faults_over_us = end;
            self.schedule_liveness();
        }
    }

    fn schedule_liveness(&mut self) {
        let at = self.faults_over_us + self.liveness_us;
        self.end_us = self.end_us.max(at);
        self.queue.push(at, Ev::LivenessDeadline);
    }

    // ---- happenings ----

    fn note(&mut self, h: Happening<'_>) {
        let Sim {
            checkers,
            world,
            violations,
            trace,
            hash,
            ..
        } = self;
        trace::hash(hash, world.now, &h);
        if let Some(t) = trace.as_mut() {
            let parts = match h {
                Happening::Network => partition_names(world),
                _ => Vec::new(),
            };
            t.happening(world.now, &h, &parts);
        }
        let first_new = violations.len();
        checkers.on(&h, &*world, violations);
        if let Some(t) = trace {
            for v in &violations[first_new..] {
                t.violation(world.now, v);
            }
        }
    }

    fn log_fault(&mut self, text: String) {
        if let Some(t) = &mut self.trace {
            t.fault(self.world.now, &text);
        }
        self.hash.bytes(text.as_bytes());
        self.fault_log.push((self.world.now, text));
    }

    // ---- events ----

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::SendQueuedVote { from, to, gen } => {
                let key = conn_key(from, to, Channel::Election);
                if self.world.net.gen(&key) != gen {
                    return;
                }
                let dir = usize::from(key.0 != from);
                if let Some(msg) = self.world.net.conn(key).queued_vote[dir].take() {
                    self.transmit(from, to, Channel::Election, msg);
                }
            }
            Ev::Deliver {
                from,
                to,
                channel,
                conn,
                gen,
                msg,
            } => self.deliver(from, to, channel, (conn, gen), msg),
            Ev::Wake { id, inc, at } => {
                let Some(slot) = self.world.slot_mut(id) else {
                    return;
                };
                if slot.incarnation != inc || slot.wake_at != Some(at) || !slot.is_up() {
                    return;
                }
                if slot.paused {
                    slot.held.push(Ev::Wake { id, inc, at });
                    return;
                }
                slot.wake_at = None;
                self.step(id, Input::Timeout);
            }
            Ev::DiskDone { id, inc, write } => {
                let Some(slot) = self.world.slot_mut(id) else {
                    return;
                };
                if slot.incarnation != inc {
                    return;
                }
                let Some(op) = slot.disk.complete(write) else {
                    return;
                };
                let paused = slot.paused;
                self.note(Happening::DiskDurable { id, op: &op });
                if paused {
                    let slot = self.world.slot_mut(id).expect("slot");
                    slot.held.push(Ev::HeldDiskDone { id, inc, write });
                } else {
                    self.step(id, Input::DiskDone { id: write });
                }
            }
            Ev::HeldDiskDone { id, inc, write } => {
                if self
                    .world
                    .slot(id)
                    .is_some_and(|s| s.incarnation == inc && s.is_up())
                {
                    self.step(id, Input::DiskDone { id: write });
                }
            }
            Ev::Notify {
                id,
                inc,
                peer,
                channel,
                gen,
            } => {
                let key = conn_key(Endpoint::Server(id), peer, channel);
                if self.world.net.gen(&key) != gen {
                    return;
                }
                let Some(slot) = self.world.slot_mut(id) else {
                    return;
                };
                if slot.incarnation != inc || !slot.is_up() {
                    return;
                }
                if slot.paused {
                    slot.held.push(Ev::Notify {
                        id,
                        inc,
                        peer,
                        channel,
                        gen,
                    });
                    return;
                }
                self.step(id, Input::Disconnected { peer, channel });
            }
            Ev::Fault(p) => self.run_fault(p),
            Ev::Restart(id) => self.restart(id),
            Ev::Heal(pid) => {
                let before = self.world.net.partitions.len();
                self.world.net.partitions.retain(|p| p.id != pid);
                if self.world.net.partitions.len() != before {
                    self.log_fault(format!("heal partition {pid}"));
                    self.note(Happening::Network);
                }
            }
            Ev::Resume(id) => self.resume(id),
            Ev::ClientWake { id, inc, at } => self.client_wake(id, inc, at),
            Ev::ClientNotify { id, inc, peer } => self.client_disconnected(id, inc, peer),
            Ev::CloseConn {
                from,
                to,
                channel,
                gen,
            } => {
                let key = conn_key(from, to, channel);
                if self.world.net.gen(&key) == gen && self.world.net.break_conn(key) {
                    self.notify(to, from, channel);
                }
            }
            Ev::ClientStart(id) => self.start_client((id.0 - 1) as usize),
            Ev::ClientRestart(id) => self.restart_client(id),
            Ev::ClientResume(id) => self.resume_client(id),
            Ev::LivenessDeadline => {
                let now = self.world.now;
                if now == self.faults_over_us + self.liveness_us {
                    let faults_over_us = self.faults_over_us;
                    self.note(Happening::LivenessDeadline { faults_over_us });
                }
            }
        }
    }

    fn deliver(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        channel: Channel,
        (conn, gen): (u32, u64),
        msg: Message,
    ) {
        if self.world.net.gen_at(conn) != gen {
            return; // lost with a broken connection
        }
        let id = match to {
            Endpoint::Server(id) => id,
            Endpoint::Client(c) => return self.client_receive(c, from, (conn, gen), msg),
        };
        let Some(slot) = self.world.slot_mut(id) else {
            return;
        };
        if !slot.is_up() {
            return;
        }
        if slot.paused {
            slot.held.push(Ev::Deliver {
                from,
                to,
                channel,
                conn,
                gen,
                msg,
            });
            return;
        }
        let inc = slot.incarnation;
        self.check_triggers(OnKind::Receive, msg.name(), from, to);
        if !self
            .world
            .slot(id)
            .is_some_and(|s| s.incarnation == inc && s.is_up() && !s.paused)
        {
            return; // the trigger crashed or paused the receiver first
        }
        self.note(Happening::Deliver {
            from,
            to,
            msg: &msg,
        });
        self.step(id, Input::Receive { from, channel, msg });
    }

    fn boot(&mut self, id: ServerId) {
        let now = self.world.now;
        let cfg = self.world.cfg.clone();
        let slot = self.world.slot_mut(id).expect("member");
        let server = Server::boot(cfg, id, &slot.disk.image, now, &mut self.out);
        slot.server = Some(server);
        self.process_outputs(id);
        self.rearm(id);
    }

    fn step(&mut self, id: ServerId, input: Input) {
        let now = self.world.now;
        let slot = self.world.slot_mut(id).expect("member");
        let Some(server) = slot.server.as_mut() else {
            return;
        };
        server.step(now, input, &mut self.out);
        self.process_outputs(id);
        self.rearm(id);
    }

    /// Queues a wake-up for the server's next deadline, unless one is queued for it already.
    fn rearm(&mut self, id: ServerId) {
        let now = self.world.now;
        let Some(slot) = self.world.slot_mut(id) else {
            return;
        };
        let next = slot.server.as_ref().and_then(Server::next_deadline);
        if next == slot.wake_at {
            return;
        }
        slot.wake_at = next;
        if let Some(at) = next {
            let inc = slot.incarnation;
            self.queue.push(at.max(now), Ev::Wake { id, inc, at });
        }
    }

    /// Carries out what a server asked for. A fault triggered by one of the outputs may kill
    /// the server mid-step: its remaining outputs are then lost with it.
    fn process_outputs(&mut self, id: ServerId) {
        let mut items = std::mem::take(&mut self.out.items);
        let inc = self.world.slot(id).expect("member").incarnation;
        for output in items.drain(..) {
            if !self
                .world
                .slot(id)
                .is_some_and(|s| s.incarnation == inc && s.is_up())
            {
                break;
            }
            match output {
                Output::Send { to, channel, msg } => {
                    let from = Endpoint::Server(id);
                    self.check_triggers(OnKind::Send, msg.name(), from, to);
                    if !self
                        .world
                        .slot(id)
                        .is_some_and(|s| s.incarnation == inc && s.is_up())
                    {
                        break;
                    }
                    self.note(Happening::Send {
                        from,
                        to,
                        msg: &msg,
                    });
                    self.send(from, to, channel, msg);
                }
                Output::Disk { id: write, op } => {
                    let latency = between(&mut self.rng_disk, self.fsync_us);
                    self.note(Happening::DiskIssued { id, op: &op });
                    let now = self.world.now;
                    let done = self
                        .world
                        .slot_mut(id)
                        .expect("member")
                        .disk
                        .issue(now, write, op, latency);
                    self.queue.push(done, Ev::DiskDone { id, inc, write });
                }
                Output::Close {
                    peer,
                    channel: Channel::Client,
                } => self.close_after_flush(Endpoint::Server(id), peer, Channel::Client),
                Output::Close { peer, channel } => {
                    let key = conn_key(Endpoint::Server(id), peer, channel);
                    if self.world.net.break_conn(key) {
                        self.notify(peer, Endpoint::Server(id), channel);
                    }
                }
                Output::Fired(bug) => {
                    if !self.fired.iter().any(|(_, _, b)| *b == bug) {
                        self.fired.push((self.world.now, id, bug));
                    }
                }
                Output::Event(event) => {
                    self.track(id, &event);
                    self.note(Happening::Server { id, event: &event });
                    if let Event::State { state, .. } = event {
                        self.check_triggers(
                            OnKind::State,
                            state.name(),
                            Endpoint::Server(id),
                            Endpoint::Server(id),
                        );
                    }
                }
            }
        }
        self.out.items = items;
    }

    /// Election bookkeeping for the summary.
    fn track(&mut self, id: ServerId, event: &Event) {
        let now = self.world.now;
        match event {
            Event::Established { epoch, .. } => {
                self.elections.push(ElectionRecord {
                    epoch: *epoch,
                    leader: id,
                    started_us: self.no_leader_since.unwrap_or(now),
                    established_us: now,
                    recovered: Vec::new(),
                });
                self.establishing = Some((id, *epoch));
                self.no_leader_since = None;
                self.established_leaders.insert(id);
            }
            Event::LeaderShutdown { .. } => self.lost_leader(id),
            Event::StartupFailed { reason } => {
                self.startup_failures.push((now, id, reason.clone()));
            }
            Event::SyncDecision {
                learner,
                mode,
                zxid,
                ..
            } => self.syncs.push(SyncRecord {
                at_us: now,
                leader: id,
                learner: *learner,
                mode: *mode,
                zxid: *zxid,
            }),
            Event::Delivered { from, count } => {
                if !self.watched.is_empty() {
                    if let Some(server) = self.world.running(id) {
                        let applied = &server.tree().applied;
                        for t in &applied[(*from).min(applied.len())..(*count).min(applied.len())] {
                            if self.watched.contains(&t.zxid) {
                                self.watched_delivered.insert(t.zxid);
                            }
                        }
                    }
                }
                let establishing = self.establishing.take();
                if *count <= self.max_delivered {
                    return;
                }
                let from = self.max_delivered;
                self.max_delivered = *count;
                let Some((leader, epoch)) = establishing.filter(|(l, _)| *l == id) else {
                    return;
                };
                let Some(server) = self.world.running(leader) else {
                    return;
                };
                let applied = &server.tree().applied;
                let recovered = applied[from.min(applied.len())..(*count).min(applied.len())]
                    .iter()
                    .filter(|t| t.zxid.epoch() < epoch && t.proposer != ServerId::NONE)
                    .copied();
                if let Some(e) = self.elections.last_mut() {
                    e.recovered.extend(recovered);
                }
            }
            _ => {}
        }
    }

    fn lost_leader(&mut self, id: ServerId) {
        if self.established_leaders.contains(&id) {
            self.last_leader_lost_us = Some(self.world.now);
        }
        if self.established_leaders.remove(&id) && self.established_leaders.is_empty() {
            self.no_leader_since = Some(self.world.now);
        }
    }

    // ---- network ----

    fn delay(&mut self) -> u64 {
        between(&mut self.rng_net, self.delay_us).max(1)
    }

    fn send(&mut self, from: Endpoint, to: Endpoint, channel: Channel, msg: Message) {
        let key = conn_key(from, to, channel);
        if !self.world.endpoint_up(to) || self.world.net.blocked(from, to) {
            let was_open = self.world.net.break_conn(key);
            if channel != Channel::Election {
                self.notify(from, to, channel);
                if was_open {
                    self.notify(to, from, channel);
                }
            }
            return;
        }
        if self.reset > 0.0
            && self.world.now < self.reset_until_us
            && self.rng_net.gen_bool(self.reset)
        {
            self.world.net.break_conn(key);
            if channel != Channel::Election {
                self.notify(from, to, channel);
                self.notify(to, from, channel);
            }
            return;
        }
        let conn = self.world.net.index_of(key);
        if channel != Channel::Election && self.world.net.at(conn).dead {
            if !opens_connection(&msg) {
                // A write on a broken socket fails; the sender finds out.
                self.notify(from, to, channel);
                return;
            }
            // A new socket: news of the old one's failure still on its way is not about it.
            let c = self.world.net.at(conn);
            c.dead = false;
            c.gen += 1;
        }
        if channel == Channel::Election {
            let now = self.world.now;
            let dir = usize::from(key.0 != from);
            let c = self.world.net.at(conn);
            if now < c.vote_busy_until[dir] {
                // The SendWorker is still writing: wait in the queue, replacing an older vote.
                if c.queued_vote[dir].replace(msg).is_none() {
                    let (at, gen) = (c.vote_busy_until[dir], c.gen);
                    self.queue.push(at, Ev::SendQueuedVote { from, to, gen });
                }
                return;
            }
        }
        self.transmit_on(conn, from, to, channel, msg);
    }

    fn transmit(&mut self, from: Endpoint, to: Endpoint, channel: Channel, msg: Message) {
        let conn = self.world.net.index_of(conn_key(from, to, channel));
        self.transmit_on(conn, from, to, channel, msg);
    }

    /// Puts a message on the wire of connection `conn`: delivered after a drawn delay, in
    /// order unless the scenario allows reordering.
    fn transmit_on(
        &mut self,
        conn: u32,
        from: Endpoint,
        to: Endpoint,
        channel: Channel,
        msg: Message,
    ) {
        let now = self.world.now;
        let dir = usize::from(conn_key(from, to, channel).0 != from);
        let delay = self.delay();
        let reorder = self.reorder;
        let c = self.world.net.at(conn);
        c.open = true;
        let at = if reorder {
            now + delay
        } else {
            (now + delay).max(c.last_delivery[dir])
        };
        c.last_delivery[dir] = at;
        if channel == Channel::Election {
            c.vote_busy_until[dir] = now + VOTE_WRITE_US;
        }
        let gen = c.gen;
        self.queue.push(
            at,
            Ev::Deliver {
                from,
                to,
                channel,
                conn,
                gen,
                msg,
            },
        );
    }

    /// Closes a connection the way a socket close does: what was already written still
    /// arrives, then the peer sees the connection end. A server answers an expired session
    /// and closes at once; the answer must not be lost with the close.
    fn close_after_flush(&mut self, from: Endpoint, to: Endpoint, channel: Channel) {
        let key = conn_key(from, to, channel);
        let dir = usize::from(key.0 != from);
        let now = self.world.now;
        let c = self.world.net.conn(key);
        let (gen, at) = (c.gen, c.last_delivery[dir].max(now));
        self.queue.push(
            at,
            Ev::CloseConn {
                from,
                to,
                channel,
                gen,
            },
        );
    }

    /// Tells `who` that its connection to `peer` broke, after a network delay.
    fn notify(&mut self, who: Endpoint, peer: Endpoint, channel: Channel) {
        let id = match who {
            Endpoint::Server(id) => id,
            Endpoint::Client(id) => {
                let Some(inc) = self.client_incarnation(id) else {
                    return;
                };
                let at = self.world.now + self.delay();
                self.queue.push(at, Ev::ClientNotify { id, inc, peer });
                return;
            }
        };
        let Some(slot) = self.world.slot(id) else {
            return;
        };
        if !slot.is_up() {
            return;
        }
        let inc = slot.incarnation;
        let gen = self.world.net.gen(&conn_key(who, peer, channel));
        let at = self.world.now + self.delay();
        self.queue.push(
            at,
            Ev::Notify {
                id,
                inc,
                peer,
                channel,
                gen,
            },
        );
    }

    /// Breaks every open connection a partition now cuts.
    fn cut_connections(&mut self) {
        for key in self.world.net.open_conns_cut() {
            self.world.net.break_conn(key);
            if key.2 != Channel::Election {
                self.notify(key.0, key.1, key.2);
                self.notify(key.1, key.0, key.2);
            }
        }
    }

    // ---- faults ----

    fn check_triggers(&mut self, kind: OnKind, name: &str, from: Endpoint, to: Endpoint) {
        if self.armed.is_empty() {
            return;
        }
        let now = self.world.now;
        let mut fire = Vec::new();
        for i in 0..self.armed.len() {
            let world = &self.world;
            let from_ok = |s: &Selector| matches_selector(world, s, from);
            let to_ok = |s: &Selector| matches_selector(world, s, to);
            if self.armed[i].count(kind, name, now, &from_ok, &to_ok) {
                fire.push(i);
            }
        }
        for i in fire {
            let (index, f) = (self.armed[i].index, self.armed[i].fault.clone());
            let what = match kind {
                OnKind::State => format!("{from} became {name}"),
                OnKind::Send => format!("{name} {from}->{to} about to leave"),
                OnKind::Receive => format!("{name} {from}->{to} about to arrive"),
            };
            self.log_fault(format!(
                "trigger of [[faults]] at line {} matched: {what}",
                f.line
            ));
            let p = Planned::Scripted {
                index,
                action: f.action,
            };
            self.extend_faults(now + faults::duration_us(&p));
            self.run_fault(p);
        }
    }

    fn run_fault(&mut self, p: Planned) {
        match p {
            Planned::Scripted { index, action } => self.run_action(index, action),
            Planned::RandomCrash { restart_after_us } => {
                if let Some(id) = self.pick(|w, s| w.slot(s).is_some_and(|x| x.is_up())) {
                    self.executed(
                        None,
                        Action::Crash {
                            target: Selector::Server(id),
                            restart_after_ms: Some(restart_after_us / 1000),
                        },
                    );
                    self.crash(id, "random crash");
                    self.queue
                        .push(self.world.now + restart_after_us, Ev::Restart(id));
                }
            }
            Planned::RandomPartition {
                heal_after_us,
                one_way,
            } => {
                let mut ids: Vec<ServerId> = self.world.members.clone();
                ids.shuffle(&mut self.rng_faults);
                let k = self.rng_faults.gen_range(1..ids.len().max(2));
                let groups: Vec<Vec<Endpoint>> = vec![
                    ids[..k.min(ids.len())]
                        .iter()
                        .map(|s| Endpoint::Server(*s))
                        .collect(),
                    ids[k.min(ids.len())..]
                        .iter()
                        .map(|s| Endpoint::Server(*s))
                        .collect(),
                ];
                self.executed(
                    None,
                    Action::Partition {
                        groups: selectors(&groups),
                        one_way,
                        heal_after_ms: Some(heal_after_us / 1000),
                    },
                );
                let why = if one_way {
                    "random one-way partition"
                } else {
                    "random partition"
                };
                self.partition(groups, one_way, Some(heal_after_us), why);
            }
            Planned::RandomClientCrash { restart_after_us } => {
                self.random_client_fault(true, restart_after_us)
            }
            Planned::RandomClientPause { duration_us } => {
                self.random_client_fault(false, duration_us)
            }
            Planned::RandomPause { duration_us } => {
                if let Some(id) =
                    self.pick(|w, s| w.slot(s).is_some_and(|x| x.is_up() && !x.paused))
                {
                    self.executed(
                        None,
                        Action::Pause {
                            target: Selector::Server(id),
                            duration_ms: duration_us / 1000,
                        },
                    );
                    self.pause(id, duration_us, "random pause");
                }
            }
        }
    }

    fn run_action(&mut self, index: usize, action: Action) {
        let at = Some(index);
        let now = self.world.now;
        match action {
            Action::Crash {
                target: target @ (Selector::Client | Selector::ClientN(_) | Selector::RecipeLeader),
                restart_after_ms,
            } => {
                let Some(id) = self.resolve_client(target, true) else {
                    return self.skip("crash", target);
                };
                self.executed(
                    at,
                    Action::Crash {
                        target: Selector::ClientN(id.0),
                        restart_after_ms,
                    },
                );
                self.crash_client(id, "crash");
                if let Some(ms) = restart_after_ms {
                    self.queue.push(now + us(ms), Ev::ClientRestart(id));
                }
            }
            Action::Restart {
                target: target @ (Selector::Client | Selector::ClientN(_) | Selector::RecipeLeader),
            } => {
                let Some(id) = self.resolve_client(target, false) else {
                    return self.skip("restart", target);
                };
                self.executed(
                    at,
                    Action::Restart {
                        target: Selector::ClientN(id.0),
                    },
                );
                self.restart_client(id);
            }
            Action::Pause {
                target: target @ (Selector::Client | Selector::ClientN(_) | Selector::RecipeLeader),
                duration_ms,
            } => {
                let Some(id) = self.resolve_client(target, true) else {
                    return self.skip("pause", target);
                };
                self.executed(
                    at,
                    Action::Pause {
                        target: Selector::ClientN(id.0),
                        duration_ms,
                    },
                );
                self.pause_client(id, us(duration_ms), "pause");
            }
            Action::Isolate {
                target: target @ (Selector::Client | Selector::ClientN(_) | Selector::RecipeLeader),
                heal_after_ms,
            } => {
                let Some(id) = self.resolve_client(target, true) else {
                    return self.skip("isolate", target);
                };
                let rest: Vec<Endpoint> = self
                    .world
                    .members
                    .iter()
                    .map(|s| Endpoint::Server(*s))
                    .collect();
                self.executed(
                    at,
                    Action::Isolate {
                        target: Selector::ClientN(id.0),
                        heal_after_ms,
                    },
                );
                self.partition(
                    vec![vec![Endpoint::Client(id)], rest],
                    false,
                    heal_after_ms.map(us),
                    "isolate",
                );
            }
            Action::Crash {
                target,
                restart_after_ms,
            } => {
                let Some(id) = self.resolve(target, true) else {
                    return self.skip("crash", target);
                };
                self.executed(
                    at,
                    Action::Crash {
                        target: Selector::Server(id),
                        restart_after_ms,
                    },
                );
                self.crash(id, "crash");
                if let Some(ms) = restart_after_ms {
                    self.queue.push(now + us(ms), Ev::Restart(id));
                }
            }
            Action::Restart { target } => {
                let Some(id) = self.resolve(target, false) else {
                    return self.skip("restart", target);
                };
                self.executed(
                    at,
                    Action::Restart {
                        target: Selector::Server(id),
                    },
                );
                self.restart(id);
            }
            Action::Partition {
                groups,
                one_way,
                heal_after_ms,
            } => {
                let resolved = self.resolve_groups(&groups);
                self.executed(
                    at,
                    Action::Partition {
                        groups: selectors(&resolved),
                        one_way,
                        heal_after_ms,
                    },
                );
                self.partition(resolved, one_way, heal_after_ms.map(us), "partition");
            }
            Action::Isolate {
                target,
                heal_after_ms,
            } => {
                let Some(id) = self.resolve(target, true) else {
                    return self.skip("isolate", target);
                };
                let rest: Vec<Endpoint> = self
                    .world
                    .members
                    .iter()
                    .filter(|s| **s != id)
                    .map(|s| Endpoint::Server(*s))
                    .collect();
                self.executed(
                    at,
                    Action::Isolate {
                        target: Selector::Server(id),
                        heal_after_ms,
                    },
                );
                self.partition(
                    vec![vec![Endpoint::Server(id)], rest],
                    false,
                    heal_after_ms.map(us),
                    "isolate",
                );
            }
            Action::Heal => {
                self.executed(at, Action::Heal);
                self.world.net.partitions.clear();
                self.log_fault("heal all partitions".into());
                self.note(Happening::Network);
            }
            Action::Pause {
                target,
                duration_ms,
            } => {
                let Some(id) = self.resolve(target, true) else {
                    return self.skip("pause", target);
                };
                self.executed(
                    at,
                    Action::Pause {
                        target: Selector::Server(id),
                        duration_ms,
                    },
                );
                self.pause(id, us(duration_ms), "pause");
            }
        }
    }

    /// Records what a fault turned out to be, with its targets resolved, for `--export`.
    fn executed(&mut self, scripted: Option<usize>, action: Action) {
        self.executed.push(crate::export::ExecutedFault {
            at_us: self.world.now,
            scripted,
            action,
        });
    }

    fn skip(&mut self, what: &str, target: Selector) {
        self.log_fault(format!("{what} skipped: no server matches {target:?} now"));
    }

    /// A random member satisfying `ok`, drawn from the fault stream.
    fn pick(&mut self, ok: impl Fn(&World, ServerId) -> bool) -> Option<ServerId> {
        let candidates: Vec<ServerId> = self
            .world
            .members
            .iter()
            .copied()
            .filter(|s| ok(&self.world, *s))
            .collect();
        candidates.choose(&mut self.rng_faults).copied()
    }

    /// Resolves a selector when the fault fires. `up` asks for a running target (crash, pause,
    /// isolate); otherwise a crashed one (restart).
    fn resolve(&mut self, sel: Selector, up: bool) -> Option<ServerId> {
        let alive = |w: &World, s: ServerId| w.slot(s).is_some_and(|x| x.is_up());
        match sel {
            Selector::Server(id) => self
                .world
                .slot(id)
                .map(|_| id)
                .filter(|id| alive(&self.world, *id) == up),
            Selector::Leader if up => self.current_leader(),
            Selector::Leader => self
                .last_crashed_leader
                .filter(|id| !alive(&self.world, *id)),
            Selector::Follower => self
                .pick(|w, s| alive(w, s) == up && state_of(w, s) == Some(ServerState::Following)),
            Selector::Observer => self.pick(|w, s| w.cfg.is_observer(s) && alive(w, s) == up),
            Selector::Any | Selector::Rest => self.pick(|w, s| alive(w, s) == up),
            Selector::Client | Selector::ClientN(_) | Selector::RecipeLeader => None,
        }
    }

    /// The established leader of the highest epoch, else any server in LEADING.
    fn current_leader(&self) -> Option<ServerId> {
        let w = &self.world;
        let leading = || {
            w.members
                .iter()
                .copied()
                .filter(|s| state_of(w, *s) == Some(ServerState::Leading))
        };
        leading()
            .filter(|s| w.running(*s).is_some_and(|x| x.is_established_leader()))
            .max_by_key(|s| w.running(*s).and_then(|x| x.role_epoch()))
            .or_else(|| leading().next())
    }

    /// Resolves partition groups. "rest" is every server not named; clients are in a
    /// partition only where a group names them.
    fn resolve_groups(&mut self, groups: &[Vec<Selector>]) -> Vec<Vec<Endpoint>> {
        let mut named: BTreeSet<Endpoint> = BTreeSet::new();
        let mut out: Vec<Option<Vec<Endpoint>>> = Vec::new();
        for g in groups {
            if g.contains(&Selector::Rest) {
                out.push(None);
                continue;
            }
            let mut ids = Vec::new();
            for sel in g {
                let e = match sel {
                    Selector::ClientN(n) => Some(Endpoint::Client(zab::ClientId(*n))),
                    Selector::Client | Selector::RecipeLeader => {
                        self.resolve_client(*sel, true).map(Endpoint::Client)
                    }
                    // A named server that is down still belongs to its group.
                    Selector::Server(id) => Some(Endpoint::Server(*id)),
                    _ => self.resolve(*sel, true).map(Endpoint::Server),
                };
                if let Some(e) = e {
                    if named.insert(e) {
                        ids.push(e);
                    }
                }
            }
            out.push(Some(ids));
        }
        let rest: Vec<Endpoint> = self
            .world
            .members
            .iter()
            .map(|s| Endpoint::Server(*s))
            .filter(|e| !named.contains(e))
            .collect();
        out.into_iter()
            .map(|g| g.unwrap_or_else(|| rest.clone()))
            .collect()
    }

    fn crash(&mut self, id: ServerId, why: &str) {
        let was_leader = state_of(&self.world, id) == Some(ServerState::Leading);
        let slot = self.world.slot_mut(id).expect("member");
        if !slot.is_up() {
            return;
        }
        slot.server = None;
        slot.paused = false;
        slot.held.clear();
        slot.wake_at = None;
        slot.incarnation += 1;
        slot.disk.crash();
        if was_leader {
            self.last_crashed_leader = Some(id);
        }
        self.lost_leader(id);
        let me = Endpoint::Server(id);
        for key in self.world.net.conns_of(me) {
            if self.world.net.break_conn(key) && key.2 != Channel::Election {
                let other = if key.0 == me { key.1 } else { key.0 };
                self.notify(other, me, key.2);
            }
        }
        self.log_fault(format!("{why} {id}"));
        self.note(Happening::Crash { id });
    }

    fn restart(&mut self, id: ServerId) {
        if self.world.slot(id).is_none_or(|s| s.is_up()) {
            return;
        }
        self.log_fault(format!("restart {id}"));
        self.note(Happening::Restart { id });
        self.boot(id);
    }

    fn partition(
        &mut self,
        groups: Vec<Vec<Endpoint>>,
        one_way: bool,
        heal_after_us: Option<u64>,
        why: &str,
    ) {
        self.next_partition += 1;
        let pid = self.next_partition;
        let mut map = std::collections::BTreeMap::new();
        for (i, g) in groups.iter().enumerate() {
            for e in g {
                map.insert(*e, i);
            }
        }
        let text: Vec<String> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        self.log_fault(format!(
            "{why} {pid}: [{}]{}",
            text.join("] | ["),
            if one_way { " one-way" } else { "" }
        ));
        self.world.net.partitions.push(Partition {
            id: pid,
            groups: map,
            one_way,
        });
        self.cut_connections();
        self.note(Happening::Network);
        if let Some(d) = heal_after_us {
            self.queue.push(self.world.now + d, Ev::Heal(pid));
        }
    }

    fn pause(&mut self, id: ServerId, duration_us: u64, why: &str) {
        let slot = self.world.slot_mut(id).expect("member");
        if !slot.is_up() || slot.paused {
            return;
        }
        slot.paused = true;
        self.log_fault(format!("{why} {id} for {} ms", duration_us / 1000));
        self.note(Happening::Pause { id });
        self.queue
            .push(self.world.now + duration_us, Ev::Resume(id));
    }

    fn resume(&mut self, id: ServerId) {
        let slot = self.world.slot_mut(id).expect("member");
        if !slot.paused {
            return;
        }
        slot.paused = false;
        let held = std::mem::take(&mut slot.held);
        self.log_fault(format!("resume {id}"));
        self.note(Happening::Resume { id });
        // What piled up is handled now, in order, before anything that arrives at this same
        // instant: a message queued behind the held ones must not overtake them.
        for ev in held {
            self.events += 1;
            self.handle(ev);
        }
    }

    // ---- results ----

    pub(crate) fn take_results(self) -> crate::outcome::Results {
        let leader = check::view::leader_with_quorum(&self.world);
        let max_epoch = self
            .world
            .members
            .iter()
            .filter_map(|id| self.world.running(*id).map(|s| s.current_epoch()))
            .max()
            .unwrap_or(0);
        crate::outcome::Results {
            violations: self.violations,
            elections: self.elections,
            leader,
            max_epoch,
            committed: self.max_delivered as u64,
            events: self.events,
            sim_us: self.world.now,
            trace_hash: self.hash.0,
            faults: self.fault_log,
            executed: self.executed,
            trace_error: self.trace.and_then(|t| t.error).map(|e| e.to_string()),
            delivered: self
                .world
                .members
                .iter()
                .filter_map(|id| {
                    let s = self.world.running(*id)?;
                    Some((*id, s.tree().applied[..s.delivered()].to_vec()))
                })
                .collect(),
            clients: self
                .clients
                .map(|c| c.slots.into_iter().map(|s| s.record).collect())
                .unwrap_or_default(),
            startup_failures: self.startup_failures,
            fired: self.fired,
            syncs: self.syncs,
            watched_delivered: self.watched_delivered.into_iter().collect(),
        }
    }
}

/// The first message on a new quorum or client connection: only the connecting side (a
/// learner, a client) can re-establish a broken one. Election connections are re-established
/// by QuorumCnxManager on any send.
fn opens_connection(msg: &Message) -> bool {
    matches!(
        msg,
        Message::FollowerInfo { .. } | Message::ObserverInfo { .. } | Message::Connect { .. }
    )
}

/// Concrete selectors for resolved partition groups.
fn selectors(groups: &[Vec<Endpoint>]) -> Vec<Vec<Selector>> {
    groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|e| match e {
                    Endpoint::Server(id) => Selector::Server(*id),
                    Endpoint::Client(c) => Selector::ClientN(c.0),
                })
                .collect()
        })
        .collect()
}

fn state_of(w: &World, id: ServerId) -> Option<ServerState> {
    w.running(id).map(|s| s.state())
}

/// Does an endpoint match a trigger's `from`/`to` selector right now?
fn matches_selector(w: &World, sel: &Selector, e: Endpoint) -> bool {
    match (sel, e) {
        (Selector::Any | Selector::Rest, Endpoint::Server(_)) => true,
        (Selector::Server(id), Endpoint::Server(s)) => *id == s,
        (Selector::Leader, Endpoint::Server(s)) => state_of(w, s) == Some(ServerState::Leading),
        (Selector::Follower, Endpoint::Server(s)) => state_of(w, s) == Some(ServerState::Following),
        (Selector::Observer, Endpoint::Server(s)) => w.cfg.is_observer(s),
        (Selector::Client, Endpoint::Client(_)) => true,
        (Selector::RecipeLeader, Endpoint::Client(c)) => w.recipe_leader == Some(c),
        (Selector::ClientN(n), Endpoint::Client(c)) => *n == c.0,
        _ => false,
    }
}

/// Active partitions as named groups, for the trace.
fn partition_names(w: &World) -> Vec<Vec<Vec<String>>> {
    w.net
        .partitions
        .iter()
        .map(|p| {
            let n = p.groups.values().max().map(|m| m + 1).unwrap_or(0);
            (0..n)
                .map(|g| {
                    p.groups
                        .iter()
                        .filter(|(_, i)| **i == g)
                        .map(|(e, _)| e.to_string())
                        .collect()
                })
                .collect()
        })
        .collect()
}
