//! What a run produced, and whether it matches the scenario's `[expect]` table.

use check::{Kind, Violation};
use scenario::Scenario;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use zab::{ServerId, TxnId};

/// One leader establishing its epoch, and how long the ensemble was without a leader before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElectionRecord {
    pub epoch: u64,
    pub leader: ServerId,
    /// When the ensemble last had no established leader (start of run, crash or step-down).
    pub started_us: u64,
    pub established_us: u64,
    /// Txns of earlier epochs that no server had delivered before this leader established
    /// its epoch: committed by the new leader's history (for example because the previous
    /// leader crashed before its COMMIT left).
    pub recovered: Vec<TxnId>,
}

/// A leader's choice of how to synchronize a learner (`LearnerHandler.syncFollower`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SyncRecord {
    pub at_us: u64,
    pub leader: ServerId,
    pub learner: ServerId,
    pub mode: zab::SyncMode,
    /// The DIFF or TRUNC target, or the snapshot's zxid.
    pub zxid: zab::Zxid,
}

/// What one client slot did over the run (all its processes, if it was restarted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientRecord {
    pub client: zab::ClientId,
    /// Distinct sessions it held (a restarted process opens a new one).
    pub sessions: u32,
    /// Session (re)establishments, failovers included.
    pub connects: u32,
    pub disconnects: u32,
    pub expired: u32,
    pub crashes: u32,
    pub pauses: u32,
    pub submitted: u64,
    pub ok: u64,
    /// Answered with a ZooKeeper error (NoNode, NodeExists, BadVersion, ...).
    pub errors: u64,
    /// Ended with CONNECTIONLOSS or SESSIONEXPIRED: the outcome is unknown to the client.
    pub lost: u64,
    pub watches: u64,
    /// Terms led (election recipe) or locks acquired.
    pub claims: u64,
    pub resource_accepted: u64,
    pub resource_refused: u64,
}

impl ClientRecord {
    pub(crate) fn new(client: zab::ClientId) -> ClientRecord {
        ClientRecord {
            client,
            sessions: 0,
            connects: 0,
            disconnects: 0,
            expired: 0,
            crashes: 0,
            pauses: 0,
            submitted: 0,
            ok: 0,
            errors: 0,
            lost: 0,
            watches: 0,
            claims: 0,
            resource_accepted: 0,
            resource_refused: 0,
        }
    }

    pub(crate) fn count(&mut self, event: &zab::client_api::ClientEvent) {
        use zab::client_api::{ClientEvent as E, KeeperError, RecipeEvent as R};
        match event {
            E::Connected { .. } => self.connects += 1,
            E::Disconnected { .. } => self.disconnects += 1,
            E::Expired { .. } => self.expired += 1,
            E::Crashed => self.crashes += 1,
            E::Paused => self.pauses += 1,
            E::Submitted { .. } => self.submitted += 1,
            E::Answered { result, .. } => match result {
                Ok(_) => self.ok += 1,
                Err(KeeperError::ConnectionLoss | KeeperError::SessionExpired) => self.lost += 1,
                Err(_) => self.errors += 1,
            },
            E::Watch { .. } => self.watches += 1,
            E::Recipe(R::Leading { .. } | R::LockAcquired { .. }) => self.claims += 1,
            E::ResourceUsed { accepted: true, .. } => self.resource_accepted += 1,
            E::ResourceUsed {
                accepted: false, ..
            } => self.resource_refused += 1,
            _ => {}
        }
    }
}

/// What a run produced, as the event loop hands it over.
pub struct Results {
    /// The servers' configuration: the release and the deviations switched on.
    pub cfg: std::sync::Arc<zab::Config>,
    pub violations: Vec<Violation>,
    pub elections: Vec<ElectionRecord>,
    pub leader: Option<(ServerId, u64)>,
    pub max_epoch: u64,
    pub committed: u64,
    pub events: u64,
    pub sim_us: u64,
    pub trace_hash: u64,
    pub faults: Vec<(u64, String)>,
    pub executed: Vec<crate::export::ExecutedFault>,
    pub trace_error: Option<String>,
    pub delivered: BTreeMap<ServerId, zab::AppliedTxns>,
    pub clients: Vec<ClientRecord>,
    pub startup_failures: Vec<(u64, ServerId, String)>,
    pub fired: Vec<(u64, ServerId, zab::Bug)>,
    pub syncs: Vec<SyncRecord>,
    /// Of the txns `[expect] never_delivered` names, those some server delivered.
    pub watched_delivered: Vec<zab::Zxid>,
    /// The servers' disks at the moment [`crate::Options::capture`] asked for, if the run
    /// reached it.
    pub disks: Option<crate::capture::DiskCapture>,
    /// When the run ended at its first unexpected violation ([`crate::Options::stop_at_failure`]).
    pub stopped_at_us: Option<u64>,
    /// The protocol situations the run reached ([`crate::coverage`]).
    pub coverage: crate::Coverage,
}

/// How the run compares with `[expect]`; the exit codes of DESIGN.md.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub passed: bool,
    /// 0 as expected, 1 a safety outcome differs, 3 a liveness outcome differs.
    pub exit_code: i32,
    /// Why it did not pass, one line each.
    pub reasons: Vec<String>,
}

/// Everything `sim run` reports about one run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub scenario: String,
    pub path: std::path::PathBuf,
    pub seed: u64,
    /// The release modelled.
    pub zk_version: zab::ZkVersion,
    /// Variants switched on by the scenario or the command line, beyond what the release
    /// carries.
    pub bugs: Vec<&'static str>,
    /// The bugs and hazards of the release that were on in this run (all of them, unless
    /// some were fixed to attribute a failure).
    pub carried: Vec<&'static str>,
    pub violations: Vec<Violation>,
    pub elections: Vec<ElectionRecord>,
    /// The leader with a synced quorum at the end, and its epoch.
    pub leader: Option<(ServerId, u64)>,
    /// The final leader's epoch, else the highest currentEpoch of a running server.
    pub epoch: u64,
    pub committed: u64,
    pub events: u64,
    pub sim_us: u64,
    pub trace_hash: u64,
    /// Faults carried out (or skipped), with their times.
    pub faults: Vec<(u64, String)>,
    /// The faults carried out, with their targets resolved (what `--export` writes).
    pub executed: Vec<crate::export::ExecutedFault>,
    pub trace_error: Option<String>,
    /// Each running server's delivered txns at the end, in order.
    pub delivered: BTreeMap<ServerId, zab::AppliedTxns>,
    /// What each client did.
    pub clients: Vec<ClientRecord>,
    /// Servers that refused to start from their disk: when, which, and ZooKeeper's reason.
    pub startup_failures: Vec<(u64, ServerId, String)>,
    /// Each switched-on bug that changed what a server did, with when and where it first
    /// did, in that order.
    pub fired: Vec<(u64, ServerId, zab::Bug)>,
    /// Every sync decision a leader took, in order.
    pub syncs: Vec<SyncRecord>,
    pub verdict: Verdict,
    /// For a failing run, what it is attributed to, once [`crate::attribute`] was asked
    /// (`sim run`, `fuzz` and `hunt` ask; a library call leaves it `None`).
    pub attribution: Option<crate::Attribution>,
    /// The servers' disks at the moment [`crate::Options::capture`] asked for, if the run
    /// reached it.
    pub disks: Option<crate::capture::DiskCapture>,
    /// When the run ended at its first unexpected violation ([`crate::Options::stop_at_failure`]):
    /// what the end of a run shows (leader, delivered txns, the `[expect]` facts) is then not
    /// judged, since the run did not get there.
    pub stopped_at_us: Option<u64>,
    /// The protocol situations the run reached ([`crate::coverage`]).
    pub coverage: crate::Coverage,
}

impl Outcome {
    pub fn build(sc: &Scenario, seed: u64, r: Results) -> Outcome {
        let cfg = &r.cfg;
        let carried_set = cfg.version.carried();
        let bugs = cfg
            .bugs
            .difference(carried_set)
            .iter()
            .map(|b| b.name())
            .collect();
        let carried = cfg
            .bugs
            .iter()
            .filter(|b| carried_set.has(*b))
            .map(|b| b.name())
            .collect();
        let zk_version = cfg.version;
        let verdict = verdict(sc, &r);
        Outcome {
            scenario: sc.name.clone(),
            path: sc.path.clone(),
            seed,
            zk_version,
            bugs,
            carried,
            violations: r.violations,
            elections: r.elections,
            leader: r.leader,
            epoch: r.leader.map(|(_, e)| e).unwrap_or(r.max_epoch),
            committed: r.committed,
            events: r.events,
            sim_us: r.sim_us,
            trace_hash: r.trace_hash,
            faults: r.faults,
            executed: r.executed,
            trace_error: r.trace_error,
            delivered: r.delivered,
            clients: r.clients,
            startup_failures: r.startup_failures,
            fired: r.fired,
            syncs: r.syncs,
            verdict,
            attribution: None,
            disks: r.disks,
            stopped_at_us: r.stopped_at_us,
            coverage: r.coverage,
        }
    }
}

/// Compares what happened with `[expect]`: every expected violation must occur and no other
/// may, a leader must (or must not) be established at the end, and the facts the scenario
/// states must hold.
pub(crate) fn verdict(sc: &Scenario, r: &Results) -> Verdict {
    let violations = &r.violations;
    let has_leader = r.leader.is_some();
    let seen: BTreeSet<&str> = violations.iter().map(|v| v.invariant).collect();
    let expected: BTreeSet<&str> = sc.expect.violations.iter().map(String::as_str).collect();
    let mut safety = Vec::new();
    let mut liveness = Vec::new();
    let kind = |name: &str| {
        check::invariant(name)
            .map(|i| i.kind)
            .unwrap_or(Kind::Safety)
    };
    for name in seen.difference(&expected) {
        let msg = format!("unexpected violation of {name}");
        match kind(name) {
            Kind::Safety => safety.push(msg),
            Kind::Liveness => liveness.push(msg),
        }
    }
    // A run ended at its first unexpected violation failed on it; what only its end can
    // show was never reached.
    let ended = r.stopped_at_us.is_none();
    for name in expected.difference(&seen).filter(|_| ended) {
        let msg = format!("expected a violation of {name}, none happened");
        match kind(name) {
            Kind::Safety => safety.push(msg),
            Kind::Liveness => liveness.push(msg),
        }
    }
    if ended && sc.expect.leader != has_leader {
        liveness.push(if sc.expect.leader {
            "expected an established leader with a synced quorum at the end; there is none"
                .to_string()
        } else {
            "expected no established leader at the end; there is one".to_string()
        });
    }
    if ended {
        facts(sc, r, &mut safety, &mut liveness);
    }
    let exit_code = if !safety.is_empty() {
        1
    } else if !liveness.is_empty() {
        3
    } else {
        0
    };
    safety.extend(liveness);
    Verdict {
        passed: exit_code == 0,
        exit_code,
        reasons: safety,
    }
}

/// The facts of `[expect]`: who leads and how often leaders were elected are liveness
/// outcomes; which txns are delivered, and how learners are synced, are safety outcomes.
fn facts(sc: &Scenario, r: &Results, safety: &mut Vec<String>, liveness: &mut Vec<String>) {
    let e = &sc.expect;
    if let Some(want) = e.leader_id {
        match r.leader {
            Some((got, _)) if got == want => {}
            Some((got, epoch)) => liveness.push(format!(
                "expected {want} to lead at the end; {got} leads epoch {epoch}"
            )),
            None => {} // already reported: no leader at all
        }
    }
    if let Some(want) = e.elections {
        let got = r.elections.len();
        if got != want as usize {
            let epochs: Vec<String> = r
                .elections
                .iter()
                .map(|e| format!("{} by {}", e.epoch, e.leader))
                .collect();
            liveness.push(format!(
                "expected {want} elections; there were {got} (epochs {})",
                epochs.join(", ")
            ));
        }
    }
    for zxid in &e.delivered {
        let missing: Vec<String> = r
            .delivered
            .iter()
            .filter(|(_, h)| !h.iter().any(|t| t.zxid == *zxid))
            .map(|(id, _)| id.to_string())
            .collect();
        if !missing.is_empty() {
            safety.push(format!(
                "expected every running server to have delivered {zxid}; {} did not",
                missing.join(", ")
            ));
        }
    }
    for zxid in &r.watched_delivered {
        safety.push(format!("expected {zxid} never to be delivered; it was"));
    }
    if let Some(want) = e.committed_at_least {
        if r.committed < want {
            safety.push(format!(
                "expected at least {want} committed txns; there were {}",
                r.committed
            ));
        }
    }
    if e.same_history {
        let mut it = r.delivered.iter();
        if let Some((first_id, first)) = it.next() {
            for (id, h) in it {
                if h != first {
                    safety.push(format!(
                        "expected every running server to end with the same delivered \
                         history; {id} ({} txns) and {first_id} ({} txns) differ",
                        h.len(),
                        first.len()
                    ));
                    break;
                }
            }
        }
    }
    for want in &e.syncs {
        let seen = r.syncs.iter().any(|s| {
            s.learner == want.learner
                && s.mode == want.mode
                && want.zxid.is_none_or(|z| z == s.zxid)
        });
        if !seen {
            let zxid = want.zxid.map(|z| format!(" {z}")).unwrap_or_default();
            let got: Vec<String> = r
                .syncs
                .iter()
                .filter(|s| s.learner == want.learner)
                .map(|s| format!("{} {}", s.mode.name(), s.zxid))
                .collect();
            safety.push(format!(
                "expected {} to be synced with {}{zxid}; it got {}",
                want.learner,
                want.mode.name(),
                if got.is_empty() {
                    "no sync".to_string()
                } else {
                    got.join(", ")
                }
            ));
        }
    }
}
