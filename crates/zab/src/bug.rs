//! Deliberate bug variants: small, named deviations from the correct protocol.
//!
//! Each variant switches one decision at the place where the historical bug lived, so that a
//! scenario can show which invariant catches it. Names with a number mirror the ZooKeeper JIRA
//! issue of that number.

use crate::version::ZkVersion;
use std::fmt;

macro_rules! bugs {
    ($($variant:ident = $name:literal [$($carrier:ident),*] : $doc:literal,)*) => {
        /// A deliberate deviation from ZooKeeper's correct behaviour.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Bug { $( #[doc = $doc] $variant, )* }

        impl Bug {
            /// Every variant, in the order DESIGN.md lists them.
            pub const ALL: &'static [Bug] = &[$(Bug::$variant,)*];

            /// The contract name used by `bugs = [...]` and `--bug`.
            pub fn name(self) -> &'static str {
                match self { $(Bug::$variant => $name,)* }
            }

            /// One line on what the variant changes.
            pub fn description(self) -> &'static str {
                match self { $(Bug::$variant => $doc,)* }
            }

            /// The modelled releases that ship with this behaviour; empty for a bug fixed
            /// before every one of them and for the teaching variants no release ever had.
            /// A release's profile ([`ZkVersion::carried`]) is read off this column.
            pub fn carried_by(self) -> &'static [ZkVersion] {
                match self { $(Bug::$variant => &[$(ZkVersion::$carrier),*],)* }
            }
        }
    };
}

bugs! {
    Zk335 = "zk-335" []: "the new epoch is derived from the last logged zxid, not from a quorum of acceptedEpochs",
    Zk790 = "zk-790" []: "the leader starts serving before a quorum has acknowledged NEWLEADER",
    Zk1154 = "zk-1154" []: "the leader sends DIFF to a follower that holds a txn the leader lacks, instead of TRUNC",
    Zk1277 = "zk-1277" []: "the zxid counter is allowed to overflow into the epoch bits",
    Zk1419 = "zk-1419" []: "FastLeaderElection's vote order without the epoch parentheses: not a total order",
    Zk2355 = "zk-2355" []: "a follower advances its last zxid to the DIFF target before applying the txns",
    Zk2845 = "zk-2845" []: "a server that leaves its role does not apply the txns it logged to its data tree, so it votes and syncs from a tree behind its log",
    Zk3911 = "zk-3911" []: "a follower acknowledges NEWLEADER before the synced txns are durable",
    Zk4643 = "zk-4643" [V3_8_0]: "a follower writes currentEpoch before the synced txns are durable",
    Zk4685 = "zk-4685" [V3_8_0]: "a proposal ACK can overtake the NEWLEADER ack and the leader drops it",
    Zk4712 = "zk-4712" [V3_8_0]: "a follower's log writer from the old epoch keeps logging after it reported its last zxid",
    Zk2354 = "zk-2354" [V3_8_0, V3_9_4]: "no updatingEpoch marker: a crash between persisting NEWLEADER's history and currentEpoch leaves a log ahead of currentEpoch, and the server refuses to start",
    Zk4394 = "zk-4394" [V3_8_0]: "at NEWLEADER a follower hands its uncommitted proposals to the log writer and empties its queue, so a COMMIT before UPTODATE throws and ends the role",
    Zk4646 = "zk-4646" [V3_8_0]: "at NEWLEADER a follower hands the synced txns to its log writer and acknowledges NEWLEADER without waiting for them to be durable",
    TruncKeepsSnapshot = "trunc-keeps-snapshot" [V3_8_0, V3_9_4]: "a TRUNC leaves newer snapshots on disk and the learner reloads the newest, so txns the TRUNC removes from the log come back",
    TruncSnapshotUnsynced = "trunc-snapshot-unsynced" [V3_8_0, V3_9_4]: "after TRUNC the learner's NEWLEADER snapshot is written without fsync, and the NEWLEADER ack does not wait for it",
    CommitBeforeQuorum = "commit-before-quorum" []: "the leader commits a proposal after its own ACK alone",
    QuorumOffByOne = "quorum-off-by-one" []: "a quorum is n/2 servers instead of n/2+1 (2 of 4 counts as a majority)",
    ObserverVotes = "observer-votes" []: "observers' ACKs and votes count towards quorums",
    StaleReadOwnWrite = "stale-read-own-write" []: "a follower answers a client's read before applying that client's own write",
    AckOutlivesTrunc = "ack-outlives-trunc" [V3_8_0, V3_9_4]: "the leader keeps counting a follower's ACK of a proposal that the follower's next sync truncates",
    ObserverEarlySync = "observer-early-sync" [V3_8_0, V3_9_4]: "the leader syncs an observer before a quorum has acknowledged NEWLEADER, so the observer can snapshot history no quorum holds, which a later leader's TRUNC cannot remove",
    TruncIntoSnapshot = "trunc-into-snapshot" [V3_8_0, V3_9_4]: "ACKEPOCH does not say where the learner's snapshot ends, so a leader can send TRUNC below a txn the snapshot holds (one a SNAP brought in an epoch never established), which the learner cannot carry out",
}

impl Bug {
    /// Whether the server reports (`Output::Fired`) each time this variant changes what it
    /// does. Every bug a release carries does, so that a failure is put down only to a
    /// hazard that acted; the teaching variants and long-fixed bugs, switched on by hand, are
    /// taken to act throughout.
    pub fn reports_firing(self) -> bool {
        matches!(
            self,
            Bug::AckOutlivesTrunc
                | Bug::ObserverEarlySync
                | Bug::TruncIntoSnapshot
                | Bug::Zk2354
                | Bug::Zk2845
                | Bug::Zk3911
                | Bug::Zk4394
                | Bug::Zk4643
                | Bug::Zk4646
                | Bug::Zk4685
                | Bug::Zk4712
                | Bug::TruncSnapshotUnsynced
                | Bug::TruncKeepsSnapshot
        )
    }

    /// Looks a variant up by its contract name.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.iter().copied().find(|b| b.name() == name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of variants switched on for one run. A bit set, so that the hot path asks
/// `bugs.has(Bug::X)` for the price of a mask test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BugSet(u64);

impl BugSet {
    pub fn has(self, bug: Bug) -> bool {
        self.0 & (1 << bug as u32) != 0
    }
    pub fn insert(&mut self, bug: Bug) {
        self.0 |= 1 << bug as u32;
    }
    pub fn remove(&mut self, bug: Bug) {
        self.0 &= !(1 << bug as u32);
    }
    pub fn union(self, other: BugSet) -> BugSet {
        BugSet(self.0 | other.0)
    }
    pub fn difference(self, other: BugSet) -> BugSet {
        BugSet(self.0 & !other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.iter().copied().filter(move |b| self.has(*b))
    }
}

impl FromIterator<Bug> for BugSet {
    fn from_iter<I: IntoIterator<Item = Bug>>(iter: I) -> Self {
        let mut set = BugSet::default();
        for b in iter {
            set.insert(b);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_carried_bug_reports_when_it_acts() {
        for b in Bug::ALL {
            if !b.carried_by().is_empty() {
                assert!(b.reports_firing(), "{b} is carried by a release");
            }
        }
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        for b in Bug::ALL {
            assert_eq!(Bug::from_name(b.name()), Some(*b));
        }
        let set: BugSet = Bug::ALL.iter().copied().collect();
        assert_eq!(set.iter().count(), Bug::ALL.len());
        assert_eq!(Bug::from_name("zk-9999"), None);
    }
}
