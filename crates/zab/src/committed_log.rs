//! `ZKDatabase.committedLog`: the last few hundred committed txns a server keeps in memory,
//! which is all a leader can DIFF a learner from without going to its txn log files
//! (`LearnerHandler.syncFollower`). What it holds decides between DIFF, TRUNC and SNAP, so it
//! is kept exactly as each release keeps it: it is filled by what the server commits and by
//! what a database load replays after its snapshot, and emptied by every load.

use crate::db::Txn;
use crate::ids::Zxid;
use crate::version::ZkVersion;
use std::collections::VecDeque;

/// `ZKDatabase.DEFAULT_COMMIT_LOG_COUNT` (ZKDatabase.java:91 at 3.8.0, :96 at 3.9.4); a
/// configured `zookeeper.commitLogCount` below it is raised to it.
pub(crate) const COMMIT_LOG_COUNT: usize = 500;

#[derive(Clone, Debug)]
pub(crate) struct CommittedLog {
    txns: VecDeque<Txn>,
    /// 3.8.0's `addCommittedProposal` (ZKDatabase.java:317-340): evict before adding, so the
    /// log holds up to 501 txns, and take whatever comes, duplicates and holes included.
    /// 3.9.4's (322-353, ZOOKEEPER-4925): ignore a txn at or below the newest, refuse a hole
    /// within an epoch, evict after adding (500 txns).
    lenient: bool,
}

/// `IllegalStateException("Committed proposal cached out of order ...")` from 3.9.4's
/// `addCommittedProposal` (ZKDatabase.java:333-342).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfOrder {
    pub(crate) zxid: Zxid,
    pub(crate) max: Zxid,
}

impl std::fmt::Display for OutOfOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Committed proposal cached out of order: {} is not the next proposal of {}",
            self.zxid, self.max
        )
    }
}

impl CommittedLog {
    pub(crate) fn new(version: ZkVersion) -> CommittedLog {
        CommittedLog {
            txns: VecDeque::new(),
            lenient: version == ZkVersion::V3_8_0,
        }
    }

    /// `ZKDatabase.clear` (ZKDatabase.java:170-187 / 175-192).
    pub(crate) fn clear(&mut self) {
        self.txns.clear();
    }

    /// `minCommittedLog`, if the log holds anything.
    pub(crate) fn min(&self) -> Option<Zxid> {
        self.txns.front().map(|t| t.zxid)
    }

    /// `maxCommittedLog`: the txn added last.
    pub(crate) fn max(&self) -> Option<Zxid> {
        self.txns.back().map(|t| t.zxid)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.txns.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Txn> + '_ {
        self.txns.iter()
    }

    /// Whether the txns a learner applies during a SNAP or TRUNC sync go in. 3.8.0's Learner
    /// applies them with `processTxn(TxnHeader, Record)` (Learner.java:672, 713;
    /// ZooKeeperServer.java:1773-1776), which leaves the committedLog alone; 3.9.4 removed
    /// that variant (ZOOKEEPER-4925) and uses `processTxn(Request)` (Learner.java:690, 724;
    /// ZooKeeperServer.java:1849-1891, adding at 1888), which adds them.
    pub(crate) fn takes_sync_txns(&self) -> bool {
        !self.lenient
    }

    /// `ZKDatabase.addCommittedProposal`.
    pub(crate) fn add(&mut self, txn: &Txn) -> Result<(), OutOfOrder> {
        if self.lenient {
            if self.txns.len() > COMMIT_LOG_COUNT {
                self.txns.pop_front();
            }
            self.txns.push_back(txn.clone());
            return Ok(());
        }
        if let Some(max) = self.max() {
            if txn.zxid <= max {
                return Ok(());
            }
            if txn.zxid.0 != max.0 + 1 && txn.zxid.epoch() <= max.epoch() {
                return Err(OutOfOrder {
                    zxid: txn.zxid,
                    max,
                });
            }
        }
        self.txns.push_back(txn.clone());
        if self.txns.len() > COMMIT_LOG_COUNT {
            self.txns.pop_front();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(epoch: u64, counter: u64) -> Txn {
        Txn::initial(Zxid::new(epoch, counter))
    }

    fn filled(version: ZkVersion, n: u64) -> CommittedLog {
        let mut log = CommittedLog::new(version);
        for c in 1..=n {
            log.add(&txn(1, c)).expect("in order");
        }
        log
    }

    #[test]
    fn releases_keep_500_or_501_txns() {
        let log = filled(ZkVersion::V3_9_4, 600);
        assert_eq!(log.len(), 500);
        assert_eq!(log.min(), Some(Zxid::new(1, 101)));
        assert_eq!(log.max(), Some(Zxid::new(1, 600)));
        let log = filled(ZkVersion::V3_8_0, 600);
        assert_eq!(log.len(), 501);
        assert_eq!(log.min(), Some(Zxid::new(1, 100)));
        let log = filled(ZkVersion::Fixed, 10);
        assert_eq!((log.len(), log.min()), (10, Some(Zxid::new(1, 1))));
        assert!(log.takes_sync_txns());
        assert!(!CommittedLog::new(ZkVersion::V3_8_0).takes_sync_txns());
    }

    #[test]
    fn release_3_9_4_ignores_old_txns_and_refuses_a_hole_within_an_epoch() {
        let mut log = filled(ZkVersion::V3_9_4, 3);
        assert_eq!(log.add(&txn(1, 2)), Ok(()));
        assert_eq!(log.len(), 3, "a txn at or below the newest is ignored");
        assert_eq!(
            log.add(&txn(1, 5)),
            Err(OutOfOrder {
                zxid: Zxid::new(1, 5),
                max: Zxid::new(1, 3)
            })
        );
        assert_eq!(
            log.add(&txn(2, 7)),
            Ok(()),
            "a new epoch may start anywhere"
        );
        assert_eq!(log.max(), Some(Zxid::new(2, 7)));

        let mut old = filled(ZkVersion::V3_8_0, 3);
        old.add(&txn(1, 2)).expect("3.8.0 takes anything");
        old.add(&txn(1, 9)).expect("3.8.0 takes anything");
        assert_eq!((old.len(), old.max()), (5, Some(Zxid::new(1, 9))));
        old.clear();
        assert_eq!(old.min(), None);
    }
}
