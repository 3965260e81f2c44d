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

pub(crate) struct Results {
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
    pub delivered: BTreeMap<ServerId, Vec<TxnId>>,
    pub clients: Vec<ClientRecord>,
    pub startup_failures: Vec<(u64, ServerId, String)>,
    pub fired: Vec<(u64, ServerId, zab::Bug)>,
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
    pub delivered: BTreeMap<ServerId, Vec<TxnId>>,
    /// What each client did.
    pub clients: Vec<ClientRecord>,
    /// Servers that refused to start from their disk: when, which, and ZooKeeper's reason.
    pub startup_failures: Vec<(u64, ServerId, String)>,
    /// Each switched-on bug that changed what a server did, with when and where it first
    /// did, in that order.
    pub fired: Vec<(u64, ServerId, zab::Bug)>,
    pub verdict: Verdict,
    /// For a failing run, what it is attributed to, once [`crate::attribute`] was asked
    /// (`sim run`, `fuzz` and `hunt` ask; a library call leaves it `None`).
    pub attribution: Option<crate::Attribution>,
}

impl Outcome {
    pub(crate) fn build(sc: &Scenario, seed: u64, sim: crate::sim::Sim) -> Outcome {
        let cfg = &sim.world.cfg;
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
        let r = sim.take_results();
        let verdict = verdict(sc, &r.violations, r.leader.is_some());
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
            verdict,
            attribution: None,
        }
    }
}

/// Compares what happened with `[expect]`: every expected violation must occur and no other
/// may, and a leader must (or must not) be established at the end.
pub fn verdict(sc: &Scenario, violations: &[Violation], has_leader: bool) -> Verdict {
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
    for name in expected.difference(&seen) {
        let msg = format!("expected a violation of {name}, none happened");
        match kind(name) {
            Kind::Safety => safety.push(msg),
            Kind::Liveness => liveness.push(msg),
        }
    }
    if sc.expect.leader != has_leader {
        liveness.push(if sc.expect.leader {
            "expected an established leader with a synced quorum at the end; there is none"
                .to_string()
        } else {
            "expected no established leader at the end; there is one".to_string()
        });
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
