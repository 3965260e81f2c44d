//! Every protocol situation a run can count, numbered: the rows of a coverage table.
//!
//! Counting has to cost next to nothing on the hot path (a delivered message), so a situation
//! is an index into a flat array of counters, computed by arithmetic from the message kind,
//! the receiver's state and phase, and so on. This module owns that numbering and the names
//! users read.
//!
//! Not every combination can happen: a LEADERINFO reaches a learner in DISCOVERY and nowhere
//! else. The catalogue marks the combinations a sweep can be expected to reach; a table lists
//! all of them, reached or not, so that what a sweep never exercised shows, and lists any
//! other combination only when a run reached it (never hidden: it would be a surprise worth
//! reading).

use std::sync::OnceLock;
use zab::{ServerState, ZabPhase, MESSAGE_NAMES};

/// One row of a coverage table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Situation {
    /// What kind of situation: `sync`, `receive`, `fault`, `trigger`, `election`, ...
    pub group: &'static str,
    pub name: String,
    /// Listed even when no run reached it (see the module doc).
    pub catalogued: bool,
}

const STATES: [ServerState; 4] = [
    ServerState::Looking,
    ServerState::Following,
    ServerState::Leading,
    ServerState::Observing,
];
const PHASES: [ZabPhase; 4] = [
    ZabPhase::Election,
    ZabPhase::Discovery,
    ZabPhase::Synchronization,
    ZabPhase::Broadcast,
];

fn state_index(s: ServerState) -> usize {
    match s {
        ServerState::Looking => 0,
        ServerState::Following => 1,
        ServerState::Leading => 2,
        ServerState::Observing => 3,
    }
}

fn phase_index(p: ZabPhase) -> usize {
    match p {
        ZabPhase::Election => 0,
        ZabPhase::Discovery => 1,
        ZabPhase::Synchronization => 2,
        ZabPhase::Broadcast => 3,
    }
}

/// A server's role and phase as one of 16 numbers.
pub(crate) fn role_phase(state: ServerState, phase: ZabPhase) -> usize {
    state_index(state) * 4 + phase_index(phase)
}

fn role_phase_name(i: usize) -> String {
    let (s, p) = (STATES[i / 4], PHASES[i % 4]);
    match (s, p) {
        (ServerState::Looking, ZabPhase::Election) => "LOOKING".to_string(),
        _ => format!("{} in {}", s.name(), p.name()),
    }
}

/// The role-and-phase pairs a server is found in: LOOKING (its phase is ELECTION), or a role
/// in one of the three phases after an election.
fn plausible_role_phase(i: usize) -> bool {
    let (s, p) = (STATES[i / 4], PHASES[i % 4]);
    match s {
        ServerState::Looking => p == ZabPhase::Election,
        _ => p != ZabPhase::Election,
    }
}

/// How a leader synchronized a learner: the first packet it sent, and whether txns followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncKind {
    /// DIFF with no txns: the learner was already up to date.
    EmptyDiff,
    Diff,
    /// TRUNC and nothing after it: the learner only had too much.
    Trunc,
    /// TRUNC back to the common point, then the txns it lacked (ZooKeeper's TRUNC+DIFF).
    TruncDiff,
    Snap,
}

const SYNC_KINDS: [(SyncKind, &str); 5] = [
    (SyncKind::EmptyDiff, "DIFF with no txns"),
    (SyncKind::Diff, "DIFF with txns"),
    (SyncKind::Trunc, "TRUNC"),
    (SyncKind::TruncDiff, "TRUNC+DIFF"),
    (SyncKind::Snap, "SNAP"),
];

/// Faults that hit one server: counted by the server's role and phase when it was hit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ServerFault {
    Crash = 0,
    Pause = 1,
}

/// Faults counted by where the ensemble's leader was ([`LeaderPhase`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum EnsembleFault {
    Restart = 0,
    Partition = 1,
    OneWay = 2,
    /// A partition that cut the leader off from a quorum of voters.
    LeaderIsolated = 3,
}

const ENSEMBLE_FAULTS: [&str; 4] = [
    "restart",
    "partition",
    "one-way partition",
    "partition isolating the leader",
];

/// Where the ensemble's leader is: none, or its phase.
pub(crate) fn leader_phase_name(i: usize) -> &'static str {
    [
        "with no leader",
        "while the leader is in DISCOVERY",
        "while the leader is in SYNCHRONIZATION",
        "while the leader is in BROADCAST",
    ][i]
}

/// Situations counted once each.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Single {
    WonOnEpoch,
    WonOnZxid,
    WonOnId,
    Rollover,
    LostQuorum,
    NoQuorumInTime,
    OtherLeaderShutdown,
    LearnerShutdown,
    ProtocolError,
    StartupRefused,
    StartupRepair,
    SnapshotTaken,
    RestartFromSnapshot,
    RestartFromLog,
    RestartEmpty,
    SessionExpired,
    SessionMoved,
    ClientCrash,
    ClientPause,
}

const SINGLES: [(Single, &str, &str); 19] = [
    (
        Single::WonOnEpoch,
        "election",
        "won on a higher epoch than every other candidate",
    ),
    (
        Single::WonOnZxid,
        "election",
        "won on a higher zxid (epochs tied)",
    ),
    (
        Single::WonOnId,
        "election",
        "won on the higher server id (epoch and zxid tied)",
    ),
    (
        Single::Rollover,
        "leadership",
        "leader gave up at the zxid rollover",
    ),
    (
        Single::LostQuorum,
        "leadership",
        "leader lost its synced quorum",
    ),
    (
        Single::NoQuorumInTime,
        "leadership",
        "new leader found no quorum within initLimit",
    ),
    (
        Single::OtherLeaderShutdown,
        "leadership",
        "leader shut down for another reason",
    ),
    (
        Single::LearnerShutdown,
        "leadership",
        "learner gave up on its leader",
    ),
    (
        Single::ProtocolError,
        "leadership",
        "protocol error (a state ZooKeeper treats as impossible)",
    ),
    (
        Single::StartupRefused,
        "disk",
        "server refused to start from its disk",
    ),
    (
        Single::StartupRepair,
        "disk",
        "start-up repaired the epoch files",
    ),
    (Single::SnapshotTaken, "disk", "snapshot taken"),
    (
        Single::RestartFromSnapshot,
        "disk",
        "restart loading a snapshot and the txn log",
    ),
    (
        Single::RestartFromLog,
        "disk",
        "restart replaying the txn log alone",
    ),
    (Single::RestartEmpty, "disk", "restart from an empty disk"),
    (Single::SessionExpired, "session", "session expired"),
    (
        Single::SessionMoved,
        "session",
        "session resumed on another server",
    ),
    (Single::ClientCrash, "session", "client process crashed"),
    (Single::ClientPause, "session", "client process paused"),
];

/// The packet kinds the swarm arms faults on; triggers on the other kinds count too,
/// outside the catalogue.
fn armed_kind(kind: &str) -> bool {
    crate::swarm::ARMED_KINDS.contains(&kind)
}

/// Where each group of counters starts in the flat array.
pub(crate) struct Layout {
    pub sync: usize,
    pub receive: usize,
    pub server_fault: usize,
    pub ensemble_fault: usize,
    pub trigger: usize,
    pub single: usize,
    /// Per checker (in `check::all_checkers()` order), its first path's index.
    pub checker_starts: Vec<usize>,
    pub situations: Vec<Situation>,
}

const KINDS: usize = MESSAGE_NAMES.len();

impl Layout {
    fn new() -> Layout {
        let mut s: Vec<Situation> = Vec::new();
        let mut push = |group: &'static str, name: String, catalogued: bool| {
            s.push(Situation {
                group,
                name,
                catalogued,
            });
        };
        let sync = 0;
        for observer in [false, true] {
            for (_, name) in SYNC_KINDS {
                let to = if observer {
                    "an observer"
                } else {
                    "a follower"
                };
                push("sync", format!("{name} to {to}"), true);
            }
        }
        let receive = sync + 10;
        for (k, kind) in MESSAGE_NAMES.iter().enumerate() {
            for rp in 0..16 {
                let name = format!("{kind} received as {}", role_phase_name(rp));
                let plausible = plausible_role_phase(rp) && receivable(k, rp);
                push("receive", name, plausible);
            }
        }
        let server_fault = receive + KINDS * 16;
        for fault in ["crash", "pause"] {
            for rp in 0..16 {
                let name = format!("{fault} of a server {}", role_phase_name(rp));
                push("fault", name, plausible_role_phase(rp));
            }
        }
        let ensemble_fault = server_fault + 32;
        for fault in ENSEMBLE_FAULTS {
            for lp in 0..4 {
                // An isolated leader needs a leader.
                let plausible = !(fault.ends_with("leader") && lp == 0);
                push(
                    "fault",
                    format!("{fault} {}", leader_phase_name(lp)),
                    plausible,
                );
            }
        }
        let trigger = ensemble_fault + ENSEMBLE_FAULTS.len() * 4;
        for kind in MESSAGE_NAMES {
            for way in ["sending", "receiving"] {
                let name = format!("fault triggered on {way} {kind}");
                push("trigger", name, armed_kind(kind));
            }
        }
        let single = trigger + KINDS * 2;
        for (i, (which, group, name)) in SINGLES.iter().enumerate() {
            debug_assert_eq!(*which as usize, i);
            push(group, name.to_string(), true);
        }
        let mut checker_starts = Vec::new();
        for c in check::all_checkers() {
            checker_starts.push(s.len());
            for (path, _) in c.paths() {
                s.push(Situation {
                    group: "checker",
                    name: format!("{}: {path}", c.name()),
                    catalogued: true,
                });
            }
        }
        Layout {
            sync,
            receive,
            server_fault,
            ensemble_fault,
            trigger,
            single,
            checker_starts,
            situations: s,
        }
    }

    pub(crate) fn sync_index(&self, kind: SyncKind, observer: bool) -> usize {
        let k = SYNC_KINDS
            .iter()
            .position(|(x, _)| *x == kind)
            .expect("listed");
        self.sync + usize::from(observer) * SYNC_KINDS.len() + k
    }

    pub(crate) fn receive_index(&self, kind: usize, rp: usize) -> usize {
        self.receive + kind * 16 + rp
    }

    pub(crate) fn server_fault_index(&self, f: ServerFault, rp: usize) -> usize {
        self.server_fault + f as usize * 16 + rp
    }

    pub(crate) fn ensemble_fault_index(&self, f: EnsembleFault, leader_phase: usize) -> usize {
        self.ensemble_fault + f as usize * 4 + leader_phase
    }

    pub(crate) fn trigger_index(&self, kind: usize, receiving: bool) -> usize {
        self.trigger + kind * 2 + usize::from(receiving)
    }

    pub(crate) fn single_index(&self, s: Single) -> usize {
        self.single + s as usize
    }
}

/// Where a message kind can arrive. Leader-to-learner packets reach learners after the
/// election (sync packets in SYNCHRONIZATION, where a learner is from ACKEPOCH on, and the
/// proposals and commits of a DIFF reach observers too, as do INFORMs: a leader forwards
/// commits to an observer from the end of its syncFollower, before UPTODATE,
/// LearnerHandler.java:924 and Leader.java:1342 at 3.8.0, 925 and 1389 at 3.9.4);
/// learner-to-leader packets reach a leader, and a learner that joins late sends
/// FOLLOWERINFO and ACKEPOCH to an established one; a learner may also connect to a server
/// that no longer leads. Notifications reach a server in any role (FastLeaderElection
/// answers them even when not LOOKING), and a client may connect to a server in any state
/// (one not serving refuses it). What a run reaches outside these is listed as such: stale
/// packets of a connection that outlived its role.
fn receivable(kind: usize, rp: usize) -> bool {
    use ServerState::{Following, Leading, Observing};
    use ZabPhase::{Broadcast, Discovery, Synchronization};
    let state = STATES[rp / 4];
    let phase = PHASES[rp % 4];
    let learner = matches!(state, Following | Observing);
    match MESSAGE_NAMES[kind] {
        "NOTIFICATION" | "FOLLOWERINFO" | "OBSERVERINFO" | "CONNECT" => true,
        "LEADERINFO" => learner && phase == Discovery,
        "DIFF" | "TRUNC" | "SNAP" | "NEWLEADER" | "UPTODATE" => learner && phase == Synchronization,
        "PROPOSAL" | "COMMIT" => {
            (state == Following && phase != Discovery)
                || (state == Observing && phase == Synchronization)
        }
        "INFORM" => state == Observing && phase != Discovery,
        "PING" => learner && phase != Discovery || state == Leading && phase == Broadcast,
        "REVALIDATE" => (learner || state == Leading) && phase == Broadcast,
        "SYNC" => learner && phase == Broadcast,
        "ACKEPOCH" => state == Leading,
        "ACK" => state == Leading && phase != Discovery,
        "REQUEST" => state == Leading && phase == Broadcast,
        "CLIENT_PING" | "CLIENT_REQUEST" | "SET_WATCHES" => {
            state == ServerState::Looking || phase == Broadcast
        }
        // Server-to-client packets: clients are not servers.
        _ => false,
    }
}

/// The numbering, built once per process.
pub(crate) fn layout() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(Layout::new)
}

/// Every situation a table can have, in counter order.
pub fn situations() -> &'static [Situation] {
    &layout().situations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> usize {
        MESSAGE_NAMES
            .iter()
            .position(|n| *n == name)
            .expect("a kind")
    }

    #[test]
    fn each_index_names_its_situation() {
        let l = layout();
        let name = |i: usize| l.situations[i].name.as_str();
        let rp = role_phase(ServerState::Leading, ZabPhase::Broadcast);
        assert_eq!(
            name(l.receive_index(kind("ACK"), rp)),
            "ACK received as LEADING in BROADCAST"
        );
        let looking = role_phase(ServerState::Looking, ZabPhase::Election);
        assert_eq!(
            name(l.receive_index(kind("NOTIFICATION"), looking)),
            "NOTIFICATION received as LOOKING"
        );
        assert_eq!(
            name(l.sync_index(SyncKind::TruncDiff, true)),
            "TRUNC+DIFF to an observer"
        );
        assert_eq!(
            name(l.sync_index(SyncKind::EmptyDiff, false)),
            "DIFF with no txns to a follower"
        );
        let obs_sync = role_phase(ServerState::Observing, ZabPhase::Synchronization);
        assert_eq!(
            name(l.server_fault_index(ServerFault::Pause, obs_sync)),
            "pause of a server OBSERVING in SYNCHRONIZATION"
        );
        assert_eq!(
            name(l.ensemble_fault_index(EnsembleFault::LeaderIsolated, 3)),
            "partition isolating the leader while the leader is in BROADCAST"
        );
        assert_eq!(
            name(l.ensemble_fault_index(EnsembleFault::Restart, 0)),
            "restart with no leader"
        );
        assert_eq!(
            name(l.trigger_index(kind("PROPOSAL"), true)),
            "fault triggered on receiving PROPOSAL"
        );
        assert_eq!(
            name(l.single_index(Single::SessionMoved)),
            "session resumed on another server"
        );
        assert_eq!(
            l.single_index(Single::ClientPause) + 1,
            l.checker_starts[0],
            "the checkers' paths follow the singles"
        );
        assert_eq!(
            super::super::Counter::new().counts.len(),
            l.situations.len()
        );
    }

    #[test]
    fn the_catalogue_leaves_out_what_cannot_happen() {
        let l = layout();
        let at =
            |k: &str, s, p| l.situations[l.receive_index(kind(k), role_phase(s, p))].catalogued;
        assert!(at(
            "LEADERINFO",
            ServerState::Following,
            ZabPhase::Discovery
        ));
        assert!(!at(
            "LEADERINFO",
            ServerState::Following,
            ZabPhase::Broadcast
        ));
        assert!(!at(
            "CLIENT_REPLY",
            ServerState::Leading,
            ZabPhase::Broadcast
        ));
        assert!(!at(
            "NOTIFICATION",
            ServerState::Looking,
            ZabPhase::Broadcast
        ));
        assert!(at("INFORM", ServerState::Observing, ZabPhase::Broadcast));
        assert!(at(
            "INFORM",
            ServerState::Observing,
            ZabPhase::Synchronization
        ));
        assert!(!at("INFORM", ServerState::Observing, ZabPhase::Discovery));
        assert!(!at("INFORM", ServerState::Following, ZabPhase::Broadcast));
    }
}
