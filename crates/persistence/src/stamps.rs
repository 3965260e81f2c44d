//! What a `TxnHeader` holds that the model's `Txn` does not: the leader's wall clock when it
//! prepared the txn, and the session of the request it answers.
//!
//! The model has no wall clock and names the client, not the session, that sent a request.
//! The simulator records both when a leader proposes (`sim::capture`): the simulated time
//! of the proposal, and the session the client had then. This module turns them into header
//! fields: `time` is [`SIM_EPOCH_MS`] plus the simulated time in whole milliseconds, so that
//! a txn's time, the `ctime`/`mtime` of the znodes it touched (which ZooKeeper copies from the
//! header) and the digests over those stats agree in every file of every server.

use std::collections::HashMap;
use zab::{SessionId, Txn, TxnId, Zxid};

/// The wall-clock time of simulated time 0, in ms since the Unix epoch
/// (2023-11-14T22:13:20Z). A fixed value keeps the files a pure function of the run.
pub const SIM_EPOCH_MS: i64 = 1_700_000_000_000;

/// One txn's header fields from the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnStamp {
    /// `TxnHeader.time`: ms since the Unix epoch.
    pub time_ms: i64,
    /// The session of the request, `SessionId::NONE` when it had none.
    pub session: SessionId,
}

impl TxnStamp {
    /// A txn proposed at `sim_us` of simulated time for `session`.
    pub fn at(sim_us: u64, session: SessionId) -> TxnStamp {
        let ms = i64::try_from(sim_us / 1000).unwrap_or(i64::MAX - SIM_EPOCH_MS);
        TxnStamp {
            time_ms: SIM_EPOCH_MS + ms,
            session,
        }
    }

    /// What a txn the run did not propose gets: a scenario's initial txns, which are older
    /// than the run, are stamped with its start and no session.
    pub const UNKNOWN: TxnStamp = TxnStamp {
        time_ms: SIM_EPOCH_MS,
        session: SessionId::NONE,
    };
}

/// Every txn's stamp, by the txn's identity (a zxid alone is ambiguous once two leaders
/// share an epoch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stamps {
    by_txn: HashMap<TxnId, TxnStamp>,
}

impl Stamps {
    pub fn new() -> Stamps {
        Stamps::default()
    }

    pub fn insert(&mut self, txn: TxnId, stamp: TxnStamp) {
        self.by_txn.insert(txn, stamp);
    }

    /// The stamp of `txn`, or [`TxnStamp::UNKNOWN`].
    pub fn get(&self, txn: TxnId) -> TxnStamp {
        self.by_txn.get(&txn).copied().unwrap_or(TxnStamp::UNKNOWN)
    }

    pub fn len(&self) -> usize {
        self.by_txn.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_txn.is_empty()
    }
}

/// The header time of the txn behind each zxid of one history, for a znode's `ctime` and
/// `mtime`: ZooKeeper sets them from the header of the txn that created or last changed the
/// znode (`DataTree.processTxn` passes `header.getTime()` to `createNode` and `setData`,
/// DataTree.java:867-878 and 932-940 at `release-3.8.0-1`, 872-884 and 937-945 at
/// `release-3.9.4`).
///
/// A znode's stat names its txns by zxid only; the history it belongs to (a data tree's
/// applied txns, in order) says which txn that zxid was, so that a diverged history's
/// znodes get their own txn's time.
#[derive(Clone, Debug, Default)]
pub struct ZxidTimes {
    by_zxid: HashMap<Zxid, i64>,
}

impl ZxidTimes {
    /// The times of a history's txns; a zxid applied twice keeps its later txn.
    pub fn of(applied: impl IntoIterator<Item = TxnId>, stamps: &Stamps) -> ZxidTimes {
        let mut t = ZxidTimes::default();
        for id in applied {
            t.by_zxid.insert(id.zxid, stamps.get(id).time_ms);
        }
        t
    }

    /// Adds one more applied txn.
    pub fn push(&mut self, txn: &Txn, stamps: &Stamps) {
        self.by_zxid.insert(txn.zxid, stamps.get(txn.id()).time_ms);
    }

    /// The time of the txn with this zxid: 0 for zxid 0 (the fresh tree's nodes, which no txn
    /// made), the run's start for a zxid the history does not hold.
    pub fn time(&self, zxid: Zxid) -> i64 {
        if zxid == Zxid::default() {
            return 0;
        }
        self.by_zxid.get(&zxid).copied().unwrap_or(SIM_EPOCH_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab::ServerId;

    #[test]
    fn time_is_the_simulated_ms_after_the_fixed_epoch() {
        let s = TxnStamp::at(1_234_567, SessionId(9));
        assert_eq!(s.time_ms, SIM_EPOCH_MS + 1234);
        assert_eq!(s.session, SessionId(9));
        let mut stamps = Stamps::new();
        let id = TxnId {
            zxid: Zxid::new(1, 1),
            proposer: ServerId(3),
        };
        stamps.insert(id, s);
        assert_eq!(stamps.get(id), s);
        let other = TxnId {
            proposer: ServerId(2),
            ..id
        };
        assert_eq!(
            stamps.get(other),
            TxnStamp::UNKNOWN,
            "same zxid, other leader"
        );
        let times = ZxidTimes::of([id], &stamps);
        assert_eq!(times.time(Zxid::new(1, 1)), SIM_EPOCH_MS + 1234);
        assert_eq!(times.time(Zxid::default()), 0);
    }
}
