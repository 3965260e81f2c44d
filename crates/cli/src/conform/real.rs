//! Carrying a [`Plan`] out on real ZooKeeper servers, and reading what they did.
//!
//! Timed faults fire at their `at_ms` after the run starts (the moment every server answers
//! on its client port: the simulator boots them all at 0, real JVMs take a second or more); packet-triggered faults fire inside the harness's proxy, before the packet is
//! forwarded, with every other connection held meanwhile, as the simulator fires a send
//! trigger before the message leaves. Follow-ups (restart after, heal after, resume after)
//! are timed from the moment their fault fired.

use super::plan::{Plan, Step, Target, When};
use conform::{Control, Ensemble, EventKind, Install, Mode, TriggerAction, TriggerSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One election as the real servers' logs and the proxies show it.
#[derive(Clone, Debug, PartialEq)]
pub struct RealElection {
    pub epoch: u64,
    pub leader: u64,
    /// When the ensemble last had no established leader (run start, a crash of the leader,
    /// or its step-down), in ms since the run started.
    pub started_ms: f64,
    /// When the leader reached broadcast ("Peer state changed: leading - broadcast").
    pub established_ms: f64,
}

/// What a real run showed, in the terms of a simulated outcome.
#[derive(Clone, Debug, Default)]
pub struct RealRun {
    pub leader: Option<u64>,
    pub epoch: u64,
    pub elections: Vec<RealElection>,
    /// Each server's last zxid (srvr, else its txn log), as `epoch:counter`.
    pub last_zxid: BTreeMap<u64, Option<zab::Zxid>>,
    /// The txns in the final leader's log (all committed once it leads in broadcast).
    pub committed: Vec<zab::Zxid>,
    /// Every pair of servers' txn logs agree where they overlap, and every initial txn the
    /// scenario says is committed is kept.
    pub same_history: bool,
    /// The initial txns `[cluster] committed` names that the servers lost.
    pub lost_committed: Vec<zab::Zxid>,
    /// How the leaders synchronized each learner, from the DIFF, TRUNC and SNAP packets the
    /// proxies carried, sorted.
    pub syncs: Vec<super::compare::Sync>,
    /// Faults carried out, in the order they were.
    pub faults: Vec<RealFault>,
    /// Every server's log events the harness reads, by time (the report draws them).
    pub log_events: Vec<conform::LogEvent>,
    /// Every quorum packet the proxies saw.
    pub packets: Vec<conform::PacketRecord>,
    /// What each real client did.
    pub clients: Vec<conform::ClientRecord>,
    /// The final reads from each server, one auditor client per server.
    pub audit: Vec<conform::ClientRecord>,
    /// Every client-protocol frame the client proxies carried.
    pub wire: Vec<conform::client_proxy::WireRecord>,
    /// What each server's files, `srvr` and process showed at the end.
    pub servers: BTreeMap<u64, conform::ServerOutcome>,
    pub wall_ms: f64,
    /// The run's time 0 on the wall clock (ms since the Unix epoch), to line its times up
    /// with the servers' logs.
    pub t0_unix_ms: i64,
}

/// A fault the harness carried out on the real ensemble.
#[derive(Clone, Debug, PartialEq)]
pub enum Done {
    Crash(u64),
    Restart(u64),
    Pause(u64),
    Resume(u64),
    /// Links between the sides cut (only from earlier sides to later ones when one-way).
    Partition {
        sides: Vec<Vec<u64>>,
        one_way: bool,
    },
    /// Every link of one server cut.
    Isolate(u64),
    /// The links a partition or isolation cut (the index of its entry in the fault log)
    /// restored, or every link (`None`).
    Heal(Option<usize>),
    /// Client processes: crashed (session left to expire), restarted (a new session),
    /// paused and resumed.
    ClientCrash(u32),
    ClientRestart(u32),
    ClientPause(u32),
    ClientResume(u32),
    /// A fault that found nothing to act on, with why.
    Skipped(String),
}

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Done::Crash(id) => write!(f, "crash s{id}"),
            Done::Restart(id) => write!(f, "restart s{id}"),
            Done::Pause(id) => write!(f, "pause s{id}"),
            Done::Resume(id) => write!(f, "resume s{id}"),
            Done::Partition { sides, one_way } => {
                let names: Vec<String> = sides
                    .iter()
                    .map(|s| {
                        s.iter()
                            .map(|id| format!("s{id}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect();
                let arrow = if *one_way { " -/-> " } else { " | " };
                write!(f, "partition {}", names.join(arrow))
            }
            Done::Isolate(id) => write!(f, "isolate s{id}"),
            Done::Heal(_) => write!(f, "heal"),
            Done::ClientCrash(c) => write!(f, "crash c{c}"),
            Done::ClientRestart(c) => write!(f, "restart c{c}"),
            Done::ClientPause(c) => write!(f, "pause c{c}"),
            Done::ClientResume(c) => write!(f, "resume c{c}"),
            Done::Skipped(why) => f.write_str(why),
        }
    }
}

/// One entry of the fault log: what was done, when (ms since the run started).
#[derive(Clone, Debug, PartialEq)]
pub struct RealFault {
    pub at_ms: f64,
    pub done: Done,
}

/// Something the callback of a packet trigger or a timed fault leaves for later.
#[derive(Clone, Debug)]
enum Later {
    Restart(u64),
    Resume(u64),
    ClientRestart(u32),
    ClientResume(u32),
    /// Restore the links an earlier fault (its index in the fault log) cut.
    Heal(Vec<(u64, u64)>, usize),
    Fault(usize),
    Arm(usize),
}

/// State shared with the proxy's trigger callbacks.
struct Shared {
    start: Instant,
    later: Vec<(Duration, Later)>,
    log: Vec<RealFault>,
    /// The leader crashed last (the `leader` selector of a restart), and leaders the harness
    /// crashed, with when.
    last_crashed_leader: Option<u64>,
    leader_losses: Vec<(f64, u64)>,
    seed: u64,
    /// The running clients, for client faults.
    clients: Option<conform::ClientControl>,
    /// The client crashed last (the `client` selector of a restart).
    last_crashed_client: Option<u32>,
}

impl Shared {
    fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
    /// Logs what was done; returns its index in the log.
    fn note(&mut self, done: Done) -> usize {
        let at_ms = self.now_ms();
        self.log.push(RealFault { at_ms, done });
        self.log.len() - 1
    }
}

fn leader_of(c: &Control) -> Option<u64> {
    c.statuses().into_iter().find_map(|(id, s)| {
        let s = s?;
        (s.serving && matches!(s.mode, Some(Mode::Leader | Mode::Standalone))).then_some(id)
    })
}

/// Resolves a target now; `None` when nothing matches (the fault is then skipped and says so).
fn resolve(c: &Control, sh: &Shared, t: Target, sender: Option<u64>) -> Option<u64> {
    let spec = c.spec();
    let pick = |ids: Vec<u64>| -> Option<u64> {
        // The simulator draws from its seed; a real run takes the seed's pick among the
        // candidates in id order.
        (!ids.is_empty()).then(|| ids[(sh.seed as usize) % ids.len()])
    };
    match t {
        Target::Server(id) => Some(id),
        Target::Sender => sender,
        Target::Leader => leader_of(c),
        Target::Follower => pick(
            c.statuses()
                .into_iter()
                .filter(|(_, s)| {
                    s.as_ref()
                        .is_some_and(|s| s.serving && s.mode == Some(Mode::Follower))
                })
                .map(|(id, _)| id)
                .collect(),
        ),
        Target::Observer => pick(spec.observers.clone()),
        Target::Any => pick(
            spec.all_ids()
                .into_iter()
                .filter(|id| c.is_running(*id))
                .collect(),
        ),
        Target::Client | Target::ClientN(_) | Target::RecipeLeader => None,
    }
}

/// Resolves a client target now: a client whose process is `up` (or crashed, for a
/// restart). `None` when nothing matches.
fn resolve_client(sh: &Shared, t: Target, up: bool) -> Option<u32> {
    let control = sh.clients.as_ref()?;
    let candidates: Vec<u32> = control
        .up()
        .into_iter()
        .filter(|(_, u)| *u == up)
        .map(|(c, _)| c)
        .collect();
    match t {
        Target::ClientN(n) => candidates.into_iter().find(|c| *c == n),
        Target::Client if !up => sh.last_crashed_client.filter(|c| candidates.contains(c)),
        // The simulator draws from its seed; a real run takes the seed's pick among the
        // candidates in number order.
        Target::Client => {
            (!candidates.is_empty()).then(|| candidates[(sh.seed as usize) % candidates.len()])
        }
        Target::RecipeLeader => control.recipe_leader().filter(|c| candidates.contains(c)),
        _ => None,
    }
}

/// Carries out a crash, restart or pause of a client process.
fn carry_out_on_client(sh: &mut Shared, line: usize, step: &Step) {
    let ms = |v: u64| Duration::from_millis(v);
    let now = sh.start.elapsed();
    let Some(control) = sh.clients.clone() else {
        return;
    };
    match step {
        Step::Crash {
            target,
            restart_after_ms,
        } => {
            let Some(c) = resolve_client(sh, *target, true) else {
                sh.note(Done::Skipped(format!(
                    "line {line}: crash skipped: no such client running now"
                )));
                return;
            };
            control.crash(c);
            sh.last_crashed_client = Some(c);
            sh.note(Done::ClientCrash(c));
            if let Some(after) = restart_after_ms {
                sh.later.push((now + ms(*after), Later::ClientRestart(c)));
            }
        }
        Step::Restart { target } => {
            if let Some(c) = resolve_client(sh, *target, false) {
                control.restart(c);
                sh.note(Done::ClientRestart(c));
            }
        }
        Step::Pause {
            target,
            duration_ms,
        } => {
            let Some(c) = resolve_client(sh, *target, true) else {
                sh.note(Done::Skipped(format!(
                    "line {line}: pause skipped: no such client running now"
                )));
                return;
            };
            control.pause(c);
            sh.note(Done::ClientPause(c));
            sh.later
                .push((now + ms(*duration_ms), Later::ClientResume(c)));
        }
        _ => {}
    }
}

/// Carries out one fault step now. Returns whether the packet that fired it (if any) is
/// dropped: a crash of its sender stops it from leaving.
fn carry_out(c: &Control, sh: &mut Shared, line: usize, step: &Step, sender: Option<u64>) -> bool {
    let ms = |v: u64| Duration::from_millis(v);
    let now = sh.start.elapsed();
    let on_client = match step {
        Step::Crash { target, .. } | Step::Restart { target } | Step::Pause { target, .. } => {
            target.is_client()
        }
        _ => false,
    };
    if on_client {
        carry_out_on_client(sh, line, step);
        return false;
    }
    match step {
        Step::Crash {
            target,
            restart_after_ms,
        } => {
            let Some(id) = resolve(c, sh, *target, sender) else {
                sh.note(Done::Skipped(format!(
                    "line {line}: crash skipped: no such server now"
                )));
                return false;
            };
            // Asked of the proxies, not the servers: a `srvr` round to every server takes
            // tens of ms, which would part crashes that are due together.
            let was_leader =
                *target == Target::Sender || *target == Target::Leader || c.has_learners(id);
            if was_leader {
                sh.last_crashed_leader = Some(id);
                let t = sh.now_ms();
                sh.leader_losses.push((t, id));
            }
            let _ = c.crash(id);
            sh.note(Done::Crash(id));
            if let Some(after) = restart_after_ms {
                sh.later.push((now + ms(*after), Later::Restart(id)));
            }
            sender == Some(id)
        }
        Step::Restart { target } => {
            let id = match target {
                Target::Leader => sh.last_crashed_leader,
                t => resolve(c, sh, *t, sender),
            };
            if let Some(id) = id {
                let _ = c.restart(id);
                sh.note(Done::Restart(id));
            }
            false
        }
        Step::Partition {
            groups,
            rest,
            one_way,
            heal_after_ms,
        } => {
            let all = c.spec().all_ids();
            let mut sides: Vec<Vec<u64>> = groups
                .iter()
                .map(|g| {
                    g.iter()
                        .filter_map(|t| resolve(c, sh, *t, sender))
                        .collect()
                })
                .collect();
            if let Some(r) = rest {
                let named: BTreeSet<u64> = sides.iter().flatten().copied().collect();
                sides[*r].extend(all.iter().filter(|id| !named.contains(id)));
            }
            let mut cut = Vec::new();
            for (i, a) in sides.iter().enumerate() {
                for b in sides.iter().skip(i + 1) {
                    for x in a {
                        for y in b {
                            if *one_way {
                                c.cut_one_way(*x, *y);
                                cut.push((*x, *y));
                            } else {
                                c.cut(*x, *y);
                                cut.push((*x, *y));
                                cut.push((*y, *x));
                            }
                        }
                    }
                }
            }
            let at = sh.note(Done::Partition {
                sides,
                one_way: *one_way,
            });
            if let Some(after) = heal_after_ms {
                sh.later.push((now + ms(*after), Later::Heal(cut, at)));
            }
            false
        }
        Step::Isolate {
            target,
            heal_after_ms,
        } => {
            let Some(id) = resolve(c, sh, *target, sender) else {
                return false;
            };
            c.isolate(id);
            let at = sh.note(Done::Isolate(id));
            if let Some(after) = heal_after_ms {
                let pairs = c
                    .spec()
                    .all_ids()
                    .into_iter()
                    .filter(|o| *o != id)
                    .flat_map(|o| [(id, o), (o, id)])
                    .collect();
                sh.later.push((now + ms(*after), Later::Heal(pairs, at)));
            }
            false
        }
        Step::Heal => {
            c.heal_all();
            sh.note(Done::Heal(None));
            false
        }
        Step::Pause {
            target,
            duration_ms,
        } => {
            let Some(id) = resolve(c, sh, *target, sender) else {
                return false;
            };
            let _ = c.pause(id);
            sh.note(Done::Pause(id));
            sh.later.push((now + ms(*duration_ms), Later::Resume(id)));
            false
        }
    }
}

/// Registers the packet trigger of fault `i`.
fn arm(c: &Control, shared: &Arc<Mutex<Shared>>, plan: &Plan, i: usize) {
    let f = plan.faults[i].clone();
    let When::Packet {
        kind,
        sender,
        to,
        nth,
        ..
    } = f.when
    else {
        return;
    };
    let sh = Arc::clone(shared);
    c.on_packet(
        TriggerSpec {
            sender,
            kind,
            nth,
            to,
        },
        move |packet, control| {
            let mut sh = sh.lock().unwrap_or_else(|p| p.into_inner());
            if carry_out(control, &mut sh, f.line, &f.step, Some(packet.from)) {
                TriggerAction::Drop
            } else {
                TriggerAction::Forward
            }
        },
    );
}

/// Runs the plan for its duration on a fresh ensemble and reads the outcome; everything
/// started is stopped and removed when this returns.
///
/// The initial data directories are written in `zk`'s file formats.
pub fn run(
    install: Install,
    plan: &Plan,
    seed: u64,
    zk: zab::ZkVersion,
) -> Result<RealRun, conform::Error> {
    let ensemble = Ensemble::create(install, plan.spec.clone())?;
    let c = ensemble.control();
    for (id, image) in &plan.initial {
        let server = zab::ServerId(u8::try_from(*id).unwrap_or(u8::MAX));
        let files = persistence::data_dir(server, image, zk, &persistence::Stamps::new());
        let dir = ensemble.server_dir(*id).join("data");
        persistence::write_data_dir(&dir, &files)
            .map_err(|e| conform::Error::io(format!("writing {}", dir.display()), e))?;
    }
    let shared = Arc::new(Mutex::new(Shared {
        start: Instant::now(),
        later: Vec::new(),
        log: Vec::new(),
        last_crashed_leader: None,
        leader_losses: Vec::new(),
        seed,
        clients: None,
        last_crashed_client: None,
    }));
    {
        let mut sh = shared.lock().unwrap_or_else(|p| p.into_inner());
        for (i, f) in plan.faults.iter().enumerate() {
            match &f.when {
                When::At(0) if cuts_links(&f.step) => {}
                When::At(at) => sh.later.push((Duration::from_millis(*at), Later::Fault(i))),
                When::Packet { after_ms: 0, .. } => {}
                When::Packet { after_ms, .. } => sh
                    .later
                    .push((Duration::from_millis(*after_ms), Later::Arm(i))),
            }
        }
    }
    for (i, f) in plan.faults.iter().enumerate() {
        if matches!(f.when, When::Packet { after_ms: 0, .. }) {
            arm(&c, &shared, plan, i);
        }
    }
    // Links cut at 0 ms are cut before any server starts, as the simulator's are before
    // the first message arrives; their heals count from the run's time 0 (below).
    {
        let mut sh = shared.lock().unwrap_or_else(|p| p.into_inner());
        for f in &plan.faults {
            if f.when == When::At(0) && cuts_links(&f.step) {
                carry_out(&c, &mut sh, f.line, &f.step, None);
            }
        }
    }
    let order = start_order(plan);
    c.start_in_order(&order)?;
    // The simulator boots every server at time 0; a JVM takes a second or more to start,
    // and the servers are started one after another. The run's time starts once every
    // server answers on its client port (looking for a leader, or already past it).
    for id in &order {
        c.wait_until_up(*id, Duration::from_secs(30))?;
    }
    let start = Instant::now();
    let t0_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    shared.lock().unwrap_or_else(|p| p.into_inner()).start = start;
    if plan.reset > 0.0 {
        // The simulator's resets start with the run and stop with its random faults.
        let until = plan
            .reset_until_ms
            .map_or(i64::MAX, |u| t0_ms.saturating_add(u as i64));
        c.set_resets(plan.reset, until, seed);
    }
    let end = Duration::from_millis(plan.duration_ms);
    let clients = match &plan.clients {
        Some(spec) => Some(conform::run_clients(&c.client_addrs(), spec, end, start)?),
        None => None,
    };
    shared.lock().unwrap_or_else(|p| p.into_inner()).clients =
        clients.as_ref().map(|r| r.control());
    while start.elapsed() < end {
        let due: Vec<Later> = {
            let mut sh = shared.lock().unwrap_or_else(|p| p.into_inner());
            let now = start.elapsed();
            let (due, keep): (Vec<_>, Vec<_>) = sh.later.drain(..).partition(|(t, _)| *t <= now);
            sh.later = keep;
            let mut due = due;
            due.sort_by_key(|(t, _)| *t);
            due.into_iter().map(|(_, l)| l).collect()
        };
        for l in due {
            let mut sh = shared.lock().unwrap_or_else(|p| p.into_inner());
            match l {
                Later::Fault(i) => {
                    let f = &plan.faults[i];
                    carry_out(&c, &mut sh, f.line, &f.step, None);
                }
                Later::Arm(i) => {
                    drop(sh);
                    arm(&c, &shared, plan, i);
                }
                Later::Restart(id) => {
                    let _ = c.restart(id);
                    sh.note(Done::Restart(id));
                }
                Later::Resume(id) => {
                    let _ = c.resume(id);
                    sh.note(Done::Resume(id));
                }
                Later::ClientRestart(n) => {
                    if let Some(control) = &sh.clients {
                        control.restart(n);
                    }
                    sh.note(Done::ClientRestart(n));
                }
                Later::ClientResume(n) => {
                    if let Some(control) = &sh.clients {
                        control.resume(n);
                    }
                    sh.note(Done::ClientResume(n));
                }
                Later::Heal(pairs, of) => {
                    for (a, b) in pairs {
                        c.heal_one_way(a, b);
                    }
                    sh.note(Done::Heal(Some(of)));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    // The servers' outcome is read before the final reads, whose sessions are txns too.
    let (clients, out) = match clients {
        Some(r) => {
            let (run, out) = r.join_then_audit(|| c.outcome());
            (Some(run), out)
        }
        None => (None, c.outcome()),
    };
    let sh = shared.lock().unwrap_or_else(|p| p.into_inner());
    let elections = elections(&out, t0_ms, &sh.leader_losses);
    let leader = out.leader;
    let epoch = out
        .leader_epoch
        .map(u64::from)
        .or_else(|| out.servers.values().filter_map(|s| s.current_epoch).max())
        .unwrap_or(0);
    let last_zxid = out
        .servers
        .iter()
        .map(|(id, s)| {
            let z = s
                .srvr
                .as_ref()
                .and_then(|s| s.zxid)
                .or_else(|| s.txns.last().map(|t| t.zxid));
            (*id, z.map(|z| zab::Zxid(z as u64)))
        })
        .collect();
    let committed = leader
        .and_then(|l| out.servers.get(&l))
        .map(|s| s.txns.iter().map(|t| zab::Zxid(t.zxid as u64)).collect())
        .unwrap_or_default();
    // A learner synced by SNAP keeps its old log files: ZooKeeper replaces its tree with
    // the leader's (Learner.java:579 at release-3.8.0-1) and, on a restart, replays only the
    // records after its newest snapshot (FileTxnSnapLog.java:330), so the records before it
    // are no longer its history, and may well disagree with the leader's.
    let snapped: BTreeSet<u64> = out
        .packets
        .iter()
        .filter(|p| p.kind == conform::packet::kind::SNAP && p.delivered)
        .map(|p| p.to)
        .collect();
    let logs: Vec<Vec<i64>> = out
        .servers
        .iter()
        .map(|(id, s)| {
            let replaced_upto = if snapped.contains(id) {
                s.snapshots.last().copied().unwrap_or(0)
            } else {
                0
            };
            s.txns
                .iter()
                .map(|t| t.zxid)
                .filter(|z| *z > replaced_upto)
                .collect()
        })
        .collect();
    let same_history = logs.iter().enumerate().all(|(i, a)| {
        logs.iter().skip(i + 1).all(|b| {
            let upto = a
                .last()
                .copied()
                .unwrap_or(0)
                .min(b.last().copied().unwrap_or(0));
            let cut = |l: &Vec<i64>| l.iter().copied().filter(|z| *z <= upto).collect::<Vec<_>>();
            let (ca, cb) = (cut(a), cut(b));
            // A log that starts later (after a snapshot) agrees on the part both hold.
            let from = ca.first().copied().max(cb.first().copied()).unwrap_or(0);
            let tail = |l: Vec<i64>| l.into_iter().filter(|z| *z >= from).collect::<Vec<_>>();
            tail(ca) == tail(cb)
        })
    });
    let lost_committed = lost_committed(&out, leader, &plan.committed);
    let mut syncs: Vec<super::compare::Sync> = out
        .packets
        .iter()
        .filter_map(|p| {
            let mode = match p.kind {
                conform::packet::kind::DIFF => "DIFF",
                conform::packet::kind::TRUNC => "TRUNC",
                conform::packet::kind::SNAP => "SNAP",
                _ => return None,
            };
            Some((p.to, mode, zab::Zxid(p.zxid as u64)))
        })
        .collect();
    syncs.sort();
    let same_history = same_history && lost_committed.is_empty();
    let faults = sh.log.clone();
    drop(sh);
    drop(ensemble);
    Ok(RealRun {
        leader,
        epoch,
        elections,
        last_zxid,
        committed,
        same_history,
        lost_committed,
        syncs,
        faults,
        log_events: out.events,
        packets: out.packets,
        servers: out.servers,
        clients: clients
            .as_ref()
            .map(|r| r.clients.clone())
            .unwrap_or_default(),
        audit: clients
            .as_ref()
            .map(|r| r.audit.clone())
            .unwrap_or_default(),
        wire: clients.map(|r| r.wire).unwrap_or_default(),
        wall_ms,
        t0_unix_ms: t0_ms,
    })
}

/// Whether a fault step only cuts or heals links, which the proxies can do before any
/// server runs.
fn cuts_links(step: &Step) -> bool {
    matches!(
        step,
        Step::Partition { .. } | Step::Isolate { .. } | Step::Heal
    )
}

/// The servers to start, and in which order: every one not crashed at 0 ms, the one
/// FastLeaderElection prefers first (a participant, then currentEpoch, last zxid and id:
/// FastLeaderElection.java's totalOrderPredicate), so that a server with a newer history is
/// up before two others can settle on a leader without it. Servers of equal histories come
/// highest id first, as [`conform::Control::start_all`] starts them.
fn start_order(plan: &Plan) -> Vec<u64> {
    let disk = |id: u64| plan.initial.iter().find(|(s, _)| *s == id).map(|(_, d)| d);
    let mut ids: Vec<u64> = plan
        .spec
        .all_ids()
        .into_iter()
        .filter(|id| !plan.start_down.contains(id))
        .collect();
    ids.sort_by_key(|id| {
        let d = disk(*id);
        std::cmp::Reverse((
            plan.spec.participants.contains(id),
            d.map_or(0, |d| d.current_epoch),
            d.map_or(zab::Zxid::default(), |d| d.last_zxid()),
            *id,
        ))
    });
    ids
}

/// The committed initial txns the servers lost: with a leader at the end, the ones its log
/// does not hold; without one, the ones missing from a log that goes on past them. A txn up
/// to a server's newest snapshot counts as held (a SNAP sync brings it there, not into the
/// log), so a loss hidden in a snapshot is not reported.
fn lost_committed(
    out: &conform::Outcome,
    leader: Option<u64>,
    committed: &[zab::Zxid],
) -> Vec<zab::Zxid> {
    let servers: Vec<&conform::ServerOutcome> = match leader.and_then(|l| out.servers.get(&l)) {
        Some(s) => vec![s],
        None => out.servers.values().collect(),
    };
    committed
        .iter()
        .copied()
        .filter(|z| {
            servers.iter().any(|s| {
                let log: Vec<zab::Zxid> = s.txns.iter().map(|t| zab::Zxid(t.zxid as u64)).collect();
                let snapshot = s
                    .snapshots
                    .last()
                    .map_or(zab::Zxid(0), |x| zab::Zxid(*x as u64));
                let past = leader.is_some() || log.last().is_some_and(|last| last > z);
                past && *z > snapshot && !log.contains(z)
            })
        })
        .collect()
}

/// Elections from the servers' logs: each "leading - broadcast" is an established leader,
/// its epoch the one its NEWLEADER packets carry (else its zxid's epoch at the end).
fn elections(out: &conform::Outcome, t0_ms: i64, losses: &[(f64, u64)]) -> Vec<RealElection> {
    let ms = |t: i64| (t - t0_ms) as f64;
    let mut established: Vec<(f64, u64)> = out
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::PeerState(s) if s == "leading - broadcast"))
        .map(|e| (ms(e.time_ms), e.server))
        .collect();
    // A leader's first UPTODATE shows it established too: its LearnerHandler sends UPTODATE
    // only once a quorum acknowledged NEWLEADER (LearnerHandler.java:600-620 at
    // release-3.8.0-1), the moment the leader thread logs "leading - broadcast". The two race,
    // and a fault triggered by that UPTODATE can kill the leader before the log line.
    // The same establishment shows both ways; the earlier counts (see the dedup below).
    let mut sent_newleader: BTreeSet<u64> = BTreeSet::new();
    for p in &out.packets {
        if p.kind == conform::packet::kind::NEWLEADER {
            sent_newleader.insert(p.from);
        } else if p.kind == conform::packet::kind::UPTODATE && sent_newleader.contains(&p.from) {
            established.push((ms(p.time_ms), p.from));
        }
    }
    established.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Step-downs from the logs join the harness's crashes of leaders.
    let mut lost: Vec<(f64, u64)> = losses.to_vec();
    lost.extend(
        out.events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::LeaderShutdown { .. }))
            .map(|e| (ms(e.time_ms), e.server)),
    );
    lost.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut result: Vec<RealElection> = Vec::new();
    let mut seen: BTreeSet<(u64, u64)> = BTreeSet::new();
    for (t, leader) in established {
        let epoch = out
            .packets
            .iter()
            .filter(|p| p.from == leader && p.kind == conform::packet::kind::NEWLEADER)
            .filter(|p| ms(p.time_ms) <= t)
            .map(|p| (p.zxid as u64) >> 32)
            .max()
            .or_else(|| out.leader_epoch.map(u64::from))
            .unwrap_or(0);
        if !seen.insert((leader, epoch)) {
            continue;
        }
        // The ensemble was without an established leader since the last loss of the
        // previous leader (or since the start).
        let started = match result.last() {
            None => 0.0,
            Some(prev) => lost
                .iter()
                .filter(|(lt, id)| *id == prev.leader && *lt >= prev.established_ms && *lt <= t)
                .map(|(lt, _)| *lt)
                .next()
                .unwrap_or(t),
        };
        result.push(RealElection {
            epoch,
            leader,
            started_ms: started,
            established_ms: t,
        });
    }
    result
}
