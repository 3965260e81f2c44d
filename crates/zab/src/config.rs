//! Ensemble configuration shared by every server of a run, and quorum arithmetic.

use crate::bug::{Bug, BugSet};
use crate::ids::ServerId;
use crate::version::ZkVersion;

/// What zoo.cfg tells every server: who votes, who observes, and the timing limits.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Voting members, ascending.
    pub participants: Vec<ServerId>,
    /// Non-voting members, ascending.
    pub observers: Vec<ServerId>,
    /// tickTime in microseconds of simulated time.
    pub tick_us: u64,
    /// Ticks a learner may take to connect and sync (initLimit).
    pub init_limit: u32,
    /// Ticks a learner may fall silent once synced (syncLimit).
    pub sync_limit: u32,
    /// Txns between periodic snapshots (snapCount).
    pub snap_count: u32,
    /// Counter a new epoch's first proposal continues from (`zookeeper.testingonly.initialZxid`).
    pub initial_zxid_counter: u64,
    /// Every deviation from the correct protocol switched on: the release's own (see
    /// [`ZkVersion::carried`]) and the scenario's and command line's bug variants.
    pub bugs: BugSet,
    /// The release modelled; its behaviour is entirely in `bugs`, this names it.
    pub version: ZkVersion,
    /// The run's seed, from which each server seeds its own random choices.
    pub seed: u64,
}

/// FastLeaderElection's finalizeWait: how long a server waits for a better vote once its own
/// proposal has a quorum.
pub const FINALIZE_WAIT_US: u64 = 200_000;
/// FastLeaderElection's maxNotificationInterval: the cap of the notification backoff.
pub const MAX_NOTIFICATION_INTERVAL_US: u64 = 60_000_000;

impl Config {
    pub fn is_participant(&self, id: ServerId) -> bool {
        self.participants.binary_search(&id).is_ok()
    }

    pub fn is_observer(&self, id: ServerId) -> bool {
        self.observers.binary_search(&id).is_ok()
    }

    pub fn is_member(&self, id: ServerId) -> bool {
        self.is_participant(id) || self.is_observer(id)
    }

    /// Whether `id` counts towards quorums: `QuorumVerifier.getWeight(id) > 0`. The
    /// `observer-votes` variant gives observers a weight too.
    pub fn has_vote(&self, id: ServerId) -> bool {
        self.is_participant(id) || (self.bugs.has(Bug::ObserverVotes) && self.is_observer(id))
    }

    /// `QuorumMaj.containsQuorum`: more than half of the voting members. `ids` must not repeat.
    pub fn is_quorum(&self, ids: impl IntoIterator<Item = ServerId>) -> bool {
        let votes = ids.into_iter().filter(|id| self.has_vote(*id)).count();
        let half = self.participants.len() / 2;
        if self.bugs.has(Bug::QuorumOffByOne) {
            votes >= half.max(1)
        } else {
            votes > half
        }
    }

    pub fn sync_limit_us(&self) -> u64 {
        self.tick_us * u64::from(self.sync_limit)
    }

    pub fn init_limit_us(&self) -> u64 {
        self.tick_us * u64::from(self.init_limit)
    }

    pub fn has(&self, bug: Bug) -> bool {
        self.bugs.has(bug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(n: u8, observers: u8, bugs: &[Bug]) -> Config {
        Config {
            participants: (1..=n).map(ServerId).collect(),
            observers: (n + 1..=n + observers).map(ServerId).collect(),
            tick_us: 100_000,
            init_limit: 10,
            sync_limit: 5,
            snap_count: 100,
            initial_zxid_counter: 0,
            bugs: bugs.iter().copied().collect(),
            version: crate::version::ZkVersion::Fixed,
            seed: 0,
        }
    }

    fn ids(v: &[u8]) -> Vec<ServerId> {
        v.iter().map(|i| ServerId(*i)).collect()
    }

    #[test]
    fn majority_quorums_by_ensemble_size() {
        assert!(cfg(1, 0, &[]).is_quorum(ids(&[1])));
        assert!(!cfg(2, 0, &[]).is_quorum(ids(&[1])));
        assert!(cfg(3, 0, &[]).is_quorum(ids(&[1, 3])));
        assert!(
            !cfg(4, 0, &[]).is_quorum(ids(&[1, 2])),
            "2 of 4 is no majority"
        );
        assert!(cfg(4, 0, &[]).is_quorum(ids(&[1, 2, 4])));
        assert!(!cfg(5, 0, &[]).is_quorum(ids(&[1, 2])));
    }

    #[test]
    fn observers_never_count_unless_the_bug_is_on() {
        let c = cfg(3, 2, &[]);
        assert!(!c.is_quorum(ids(&[1, 4, 5])));
        let c = cfg(3, 2, &[Bug::ObserverVotes]);
        assert!(c.is_quorum(ids(&[1, 4])));
    }

    #[test]
    fn off_by_one_makes_half_a_quorum() {
        assert!(cfg(4, 0, &[Bug::QuorumOffByOne]).is_quorum(ids(&[1, 2])));
        assert!(!cfg(4, 0, &[Bug::QuorumOffByOne]).is_quorum(ids(&[1])));
    }
}
