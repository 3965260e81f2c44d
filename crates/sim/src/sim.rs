//! The event loop: pops the earliest event and hands it to whoever it concerns. What a process
//! does with an input is in `process`, what the network does with a message in
//! [`crate::network`], how a fault is carried out in [`crate::faults`], and what the run keeps
//! for its outcome in [`crate::records`]. Every happening passes through [`Sim::note`] to the
//! checkers and the trace.

mod clients;
mod process;

use crate::capture::{CaptureAt, Capturer, Moment};
use crate::checking::Checkers;
use crate::faults::{self, Armed, Planned};
use crate::network::{Network, Transport};
use crate::outcome::Results;
use crate::queue::Queue;
use crate::records::Records;
use crate::rng::{stream, Stream};
use crate::trace::{self, TraceHash, TraceWriter};
use crate::world::World;
use check::{Happening, Violation};
use rand_chacha::ChaCha8Rng;
use scenario::{Scenario, Trigger};
use std::sync::Arc;
use zab::{BugSet, Channel, Config, Endpoint, Message, Outputs, ServerId, ZkVersion};

pub(crate) use process::Incoming;

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
    /// A wake-up the process is owed (see [`crate::wakes`]), queued at `place`: its time and
    /// sequence number, which a held one keeps.
    Wake {
        who: Endpoint,
        inc: u64,
        place: crate::wakes::Place,
    },
    /// Tell a process that a connection broke (held while paused). `gen` is the connection's
    /// generation after the break: if it has been opened again since, the news is about a
    /// socket that no longer exists, and is dropped.
    Notify {
        who: Endpoint,
        inc: u64,
        peer: Endpoint,
        channel: Channel,
        gen: u64,
    },
    DiskDone {
        id: ServerId,
        inc: u64,
        write: u64,
    },
    /// A durable write whose completion the paused server learns about on resume.
    HeldDiskDone {
        id: ServerId,
        inc: u64,
        write: u64,
    },
    /// A closed connection's last message has arrived: the connection ends now.
    CloseConn {
        from: Endpoint,
        to: Endpoint,
        channel: Channel,
        gen: u64,
    },
    Fault(Planned),
    Restart(Endpoint),
    Resume(Endpoint),
    Heal(u64),
    LivenessDeadline,
    /// A client process starts for the first time.
    ClientStart(zab::ClientId),
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
    /// Sees every happening with its simulated time, as the checkers do: how a test asserts
    /// on what happened with types rather than by reading the trace's JSON.
    pub observer: Option<Observer>,
    /// Copy every server's durable disk at this moment, for `sim run --zk-data` (see
    /// [`crate::capture`]); the run itself goes exactly as without.
    pub capture: Option<CaptureAt>,
    /// End the run at the first violation of an invariant the scenario does not expect:
    /// its verdict is known then, and a sweep needs no more (`sim fuzz`, `sim hunt`; a
    /// failing seed of a vote storm ran for seconds after it had failed). The run is the
    /// same up to there, so its first violations are those of the whole run, which
    /// `sim run` of the seed still runs to the end.
    pub stop_at_failure: bool,
    /// Count the protocol situations the run reaches ([`crate::coverage`]): `sim fuzz`
    /// tabulates them. Off, [`crate::Outcome::coverage`] is empty and the run costs a few
    /// percent less.
    pub coverage: bool,
}

/// A caller's view of every happening of a run (see [`Options::observer`]).
pub type Observer = Box<dyn FnMut(u64, &Happening<'_>)>;

impl Options {
    pub fn new(seed: u64) -> Options {
        Options {
            seed,
            bugs: BugSet::default(),
            zk: None,
            fixes: BugSet::default(),
            trace: None,
            checkers: true,
            observer: None,
            capture: None,
            stop_at_failure: false,
            coverage: false,
        }
    }
}

pub struct Sim {
    pub(crate) world: World,
    pub(crate) queue: Queue<Ev>,
    out: Outputs,
    rng_disk: ChaCha8Rng,
    pub(crate) rng_faults: ChaCha8Rng,
    rng_workload: ChaCha8Rng,
    clients: Option<clients::ClientsState>,
    fsync_us: (u64, u64),
    pub(crate) armed: Vec<Armed>,
    pub(crate) next_partition: u64,
    faults_over_us: u64,
    liveness_us: u64,
    end_us: u64,
    checkers: Checkers,
    /// What situations the run reached ([`crate::coverage`]).
    pub(crate) coverage: Option<crate::coverage::Counter>,
    violations: Vec<Violation>,
    trace: Option<TraceWriter>,
    observer: Option<Observer>,
    hash: TraceHash,
    events: u64,
    pub(crate) records: Records,
    /// The run is past its planned end, waiting for a leader (see [`Sim::run`]).
    grace: bool,
    fault_log: Vec<(u64, String)>,
    pub(crate) executed: Vec<crate::export::ExecutedFault>,
    capture: Option<Capturer>,
    /// With [`Options::stop_at_failure`]: the invariants the scenario expects to break,
    /// which do not end the run.
    stop_unless: Option<Vec<String>>,
    /// When the run ended at a failure, before its planned end.
    stopped_at_us: Option<u64>,
}

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

pub(crate) fn us(ms: u64) -> u64 {
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
            .map(|id| (id, crate::initial::disk(sc, id)))
            .collect();
        let seed = opts.seed;
        let net = Network::new(Transport {
            rng: stream(seed, Stream::Network as u64),
            delay_us: (us(sc.network.delay_ms.0), us(sc.network.delay_ms.1)),
            reset: sc.network.reset,
            reset_until_us: sc.random.as_ref().map_or(u64::MAX, |r| us(r.until_ms)),
            reorder: sc.network.reorder,
        });
        let mut sim = Sim {
            world: World::new(cfg, disks, net),
            queue: Queue::default(),
            out: Outputs::default(),
            rng_disk: stream(seed, Stream::Disk as u64),
            rng_faults: stream(seed, Stream::Faults as u64),
            rng_workload: stream(seed, Stream::Workload as u64),
            clients: sc.clients.as_ref().map(clients::ClientsState::new),
            fsync_us: (us(sc.disk.fsync_ms.0), us(sc.disk.fsync_ms.1)),
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
            coverage: opts.coverage.then(crate::coverage::Counter::new),
            violations: Vec::new(),
            trace: opts.trace.map(TraceWriter::new),
            observer: opts.observer,
            hash: TraceHash::default(),
            events: 0,
            records: Records::new(sc.expect.never_delivered.clone()),
            grace: false,
            fault_log: Vec::new(),
            executed: Vec::new(),
            capture: opts.capture.map(Capturer::new),
            stop_unless: opts.stop_at_failure.then(|| sc.expect.violations.clone()),
            stopped_at_us: None,
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
                sim.extend_faults(us(r.until_ms));
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

    /// Runs to the end and returns what the run produced.
    ///
    /// The run ends at `duration_ms` (or the liveness deadline, if later). If the ensemble is
    /// between leaders then, because a leader stepped down, crashed or lost its synced quorum,
    /// the run goes on until a leader has a synced quorum again or `liveness_ms` after the
    /// last leader was lost, whichever comes first: the end-of-run leader check should judge
    /// the ensemble, not race an election that happened to start just before the end.
    pub fn run(mut self) -> Results {
        self.capture_after_violation();
        loop {
            while let Some(at) = self.queue.peek_time() {
                if at > self.end_us {
                    break;
                }
                self.capture_before(at);
                let (at, ev) = self.queue.pop().expect("peeked");
                self.world.now = at;
                self.events += 1;
                let known = self.violations.len();
                self.handle(ev);
                self.capture_after_violation();
                if self.failed_since(known) {
                    self.stopped_at_us = Some(at);
                    self.end_us = at;
                    break;
                }
                if self.grace && check::view::leader_with_quorum(&self.world).is_some() {
                    self.end_us = at;
                    break;
                }
            }
            if self.stopped_at_us.is_some() {
                break;
            }
            let settled = check::view::leader_with_quorum(&self.world).is_some();
            // A leader that still leads but has just lost its synced quorum (a connection
            // reset a moment ago took a follower) is between leaders too: it steps down or
            // the follower comes back, and the grace period is there to see which.
            let lost = if !settled && !self.records.established_leaders.is_empty() {
                Some(self.end_us)
            } else {
                self.records.last_leader_lost_us
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
        self.capture_at_end();
        if let Some(t) = &mut self.trace {
            t.flush();
        }
        self.results()
    }

    /// Whether a violation found since the first `known` ones is one the scenario does not
    /// expect, with [`Options::stop_at_failure`] on.
    fn failed_since(&self, known: usize) -> bool {
        let Some(expected) = &self.stop_unless else {
            return false;
        };
        self.violations[known..]
            .iter()
            .any(|v| !expected.iter().any(|e| e == v.invariant))
    }

    /// Takes a capture asked for at a time before the next event, due at `next_us`.
    fn capture_before(&mut self, next_us: u64) {
        let Some(t) = self.capture.as_ref().and_then(|c| c.due_before(next_us)) else {
            return;
        };
        self.take_capture(t, Moment::Asked);
    }

    /// Takes a capture asked for at the first violation, once there is one.
    fn capture_after_violation(&mut self) {
        let wanted = self
            .capture
            .as_ref()
            .is_some_and(|c| c.taken.is_none() && c.at == CaptureAt::FirstViolationOrEnd);
        if wanted && !self.violations.is_empty() {
            self.take_capture(self.world.now, Moment::FirstViolation);
        }
    }

    /// The run is over: a capture at the end, or at an asked time after the last event.
    fn capture_at_end(&mut self) {
        let Some(c) = &self.capture else { return };
        if c.taken.is_some() {
            return;
        }
        match c.at {
            CaptureAt::Time(t) if t <= self.end_us => self.take_capture(t, Moment::Asked),
            CaptureAt::Time(_) => {}
            CaptureAt::FirstViolationOrEnd => self.take_capture(self.end_us, Moment::End),
        }
    }

    fn take_capture(&mut self, at_us: u64, moment: Moment) {
        let Sim { capture, world, .. } = self;
        if let Some(c) = capture {
            let disks = world.slots.iter().map(|s| (s.id, s.disk.image.clone()));
            c.take(&world.cfg, at_us, moment, disks);
        }
    }

    pub(crate) fn extend_faults(&mut self, end: u64) {
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

    /// Shows a happening to the trace and the checkers, and records what they find.
    pub(crate) fn note(&mut self, h: Happening<'_>) {
        let Sim {
            checkers,
            coverage,
            world,
            violations,
            trace,
            observer,
            hash,
            capture,
            ..
        } = self;
        if let Some(o) = observer {
            o(world.now, &h);
        }
        if let Some(c) = capture {
            c.on(world.now, &h);
        }
        trace::hash(hash, world.now, &h);
        if let Some(c) = coverage {
            c.on(&h, world);
        }
        if let Some(t) = trace.as_mut() {
            let parts = match h {
                Happening::Network => world.net.partition_names(),
                _ => Vec::new(),
            };
            t.happening(world.now, &h, &parts);
        }
        let first_new = violations.len();
        // What a delivery adds is worked out once for every checker that watches deliveries.
        if !checkers.all().is_empty() {
            if let Happening::Server {
                id,
                event: zab::Event::Delivered { from, count },
            } = h
            {
                world.take_in_delivery(id, *from..*count);
            }
        }
        checkers.on(&h, &*world, violations);
        if let Some(t) = trace {
            for v in &violations[first_new..] {
                t.violation(world.now, v);
            }
        }
    }

    /// Records a fault, or what became of it, in the trace and the summary.
    pub(crate) fn log_fault(&mut self, text: String) {
        if let Some(t) = &mut self.trace {
            t.fault(self.world.now, &text);
        }
        self.hash.bytes(text.as_bytes());
        self.fault_log.push((self.world.now, text));
    }

    pub(crate) fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::SendQueuedVote { from, to, gen } => {
                let now = self.world.now;
                if let Some(wire) = self.world.net.send_queued_vote(now, from, to, gen) {
                    self.put_on_wire(from, to, Channel::Election, wire);
                }
            }
            Ev::Deliver {
                from,
                to,
                channel,
                conn,
                gen,
                msg,
            } => {
                if self.world.net.gen_at(conn) == gen {
                    self.deliver(from, to, channel, (conn, gen), msg);
                }
                // else: lost with a broken connection
            }
            Ev::Wake { who, inc, place } => self.wake(who, inc, place),
            Ev::Notify {
                who,
                inc,
                peer,
                channel,
                gen,
            } => self.disconnected(who, inc, peer, channel, gen),
            Ev::DiskDone { id, inc, write } => self.disk_done(id, inc, write),
            Ev::HeldDiskDone { id, inc, write } => {
                let who = Endpoint::Server(id);
                if self.incarnation(who) == Some(inc) {
                    self.feed(who, Incoming::DiskDone(write));
                }
            }
            Ev::CloseConn {
                from,
                to,
                channel,
                gen,
            } => {
                let key = crate::network::conn_key(from, to, channel);
                if self.world.net.gen(&key) == gen && self.world.net.break_conn(key) {
                    self.notify(to, from, channel);
                }
            }
            Ev::Fault(p) => self.run_fault(p),
            Ev::Restart(who) => self.restart(who),
            Ev::Resume(who) => self.resume(who),
            Ev::Heal(pid) => self.heal(pid),
            Ev::ClientStart(id) => self.start_client(id),
            Ev::LivenessDeadline => {
                let now = self.world.now;
                if now == self.faults_over_us + self.liveness_us {
                    let faults_over_us = self.faults_over_us;
                    self.note(Happening::LivenessDeadline { faults_over_us });
                }
            }
        }
    }

    /// What the run produced, for [`crate::Outcome::build`].
    fn results(self) -> Results {
        let w = &self.world;
        let leader = check::view::leader_with_quorum(w);
        let max_epoch = w
            .members
            .iter()
            .filter_map(|id| w.running(*id).map(|s| s.current_epoch()))
            .max()
            .unwrap_or(0);
        let delivered = w
            .members
            .iter()
            .filter_map(|id| {
                let s = w.running(*id)?;
                Some((*id, s.tree().applied.truncated(s.delivered())))
            })
            .collect();
        let r = self.records;
        Results {
            cfg: self.world.cfg.clone(),
            violations: self.violations,
            elections: r.elections,
            leader,
            max_epoch,
            committed: r.max_delivered as u64,
            events: self.events,
            sim_us: self.world.now,
            trace_hash: self.hash.0,
            faults: self.fault_log,
            executed: self.executed,
            trace_error: self.trace.and_then(|t| t.error).map(|e| e.to_string()),
            delivered,
            clients: self
                .clients
                .map(|c| c.slots.into_iter().map(|s| s.record).collect())
                .unwrap_or_default(),
            startup_failures: r.startup_failures,
            fired: r.fired,
            syncs: r.syncs,
            watched_delivered: r.watched_delivered.into_iter().collect(),
            disks: self.capture.and_then(|c| c.taken),
            stopped_at_us: self.stopped_at_us,
            coverage: self
                .coverage
                .map(|c| c.finish(self.checkers.all()))
                .unwrap_or_default(),
        }
    }
}
