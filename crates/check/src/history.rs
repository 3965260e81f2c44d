//! What the delivery checkers know about the replicated history, kept incrementally: which
//! entries of a server's `tree.applied` a `Delivered` event adds, and which txns are known to
//! be committed.
//!
//! `Event::Delivered{count}` only says how long a server's delivered prefix now is. Counting
//! here, from the events alone, gives exactly the entries it adds (`prev..count`) without ever
//! rescanning a history: `TreeReset{kept}` lowers the count to what is known unchanged, and a
//! crash drops it to zero (a restart boots with `TreeReset{kept: 0}` as well). Each checker
//! owns its own instances, so checkers stay independent of one another.

use crate::txn_map::TxnMap;
use crate::{Happening, View};
use std::fmt;
use std::ops::Range;
use zab::{Event, ServerId, TxnId, Zxid};

/// Each server's delivered count, followed from the happenings.
#[derive(Debug, Default)]
pub(crate) struct DeliveredCounts {
    /// Indexed by server id: a `Delivered` is the commonest happening most delivery checkers
    /// act on, so this is a plain array lookup rather than a map search.
    counts: Vec<usize>,
}

impl DeliveredCounts {
    /// Follows one happening. For a `Delivered` that adds entries, returns the server and the
    /// range of its `tree.applied` that has just become delivered.
    pub(crate) fn follow(&mut self, h: &Happening<'_>) -> Option<(ServerId, Range<usize>)> {
        match h {
            Happening::Server {
                id,
                event: Event::Delivered { count },
            } => {
                let prev = std::mem::replace(self.slot(*id), *count);
                (*count > prev).then_some((*id, prev..*count))
            }
            Happening::Server {
                id,
                event: Event::TreeReset { kept },
            } => {
                let c = self.slot(*id);
                *c = (*c).min(*kept);
                None
            }
            Happening::Crash { id } | Happening::Restart { id } => {
                *self.slot(*id) = 0;
                None
            }
            _ => None,
        }
    }

    fn slot(&mut self, id: ServerId) -> &mut usize {
        let i = usize::from(id.0);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        &mut self.counts[i]
    }

    /// How many txns the server has delivered now.
    pub(crate) fn get(&self, id: ServerId) -> usize {
        self.counts.get(usize::from(id.0)).copied().unwrap_or(0)
    }
}

/// The server's `tree.applied` up to `end` (clamped), or `None` if it is down.
pub(crate) fn applied_upto(view: &dyn View, id: ServerId, end: usize) -> Option<&[TxnId]> {
    let applied = view.applied(id)?;
    Some(&applied[..end.min(applied.len())])
}

/// Why a txn counts as committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum How {
    /// An initial txn the scenario declares committed (`[cluster] committed`).
    Declared,
    /// The leader reported `Committed` for it.
    CommittedBy(ServerId),
    /// A server delivered it (only committed txns may be delivered).
    DeliveredBy(ServerId),
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            How::Declared => write!(f, "declared committed by the scenario"),
            How::CommittedBy(s) => write!(f, "committed by {s}"),
            How::DeliveredBy(s) => write!(f, "delivered by {s}"),
        }
    }
}

/// Every txn known to be committed, with the first reason it became known. Ordered by zxid, so
/// the txns of the epochs before `e` are one range.
#[derive(Debug, Default)]
pub(crate) struct CommittedTxns {
    txns: TxnMap<How>,
}

impl CommittedTxns {
    /// `InitiallyCommitted{upto}`: the initial txns (proposer `NONE`) up to `upto` on any
    /// server's disk. It is the very first happening, so the disks still hold the scenario's
    /// initial state; this runs once per run.
    pub(crate) fn declare(&mut self, upto: Zxid, view: &dyn View) {
        for id in view.members() {
            let disk = view.disk(*id);
            let logged = disk.log.iter().map(|t| t.id());
            let snapshotted = disk
                .snapshots
                .iter()
                .flat_map(|s| s.tree.applied.iter().copied());
            for t in logged.chain(snapshotted) {
                if t.proposer == ServerId::NONE && t.zxid <= upto {
                    self.txns.insert_new(t, How::Declared);
                }
            }
        }
    }

    /// Records a committed txn; true if it was not known to be committed before.
    pub(crate) fn add(&mut self, txn: TxnId, how: How) -> bool {
        self.txns.insert_new(txn, how)
    }

    pub(crate) fn get(&self, txn: &TxnId) -> Option<How> {
        self.txns.get(txn).copied()
    }

    /// The committed txns whose zxid is from an epoch before `epoch`.
    pub(crate) fn before_epoch(&self, epoch: u64) -> impl Iterator<Item = (TxnId, How)> + '_ {
        self.txns
            .below(first_of_epoch(epoch))
            .map(|(t, h)| (*t, *h))
    }
}

/// The smallest txn id of `epoch`: every txn of an earlier epoch sorts before it.
pub(crate) fn first_of_epoch(epoch: u64) -> TxnId {
    TxnId {
        zxid: Zxid::new(epoch, 0),
        proposer: ServerId::NONE,
    }
}
