//! What the delivery checkers know about the replicated history: which entries of a server's
//! `tree.applied` a `Delivered` event adds, and which txns are known to be committed.
//!
//! `Event::Delivered{from, count}` names the entries it adds (`from..count`), so a checker
//! reads them off its `tree.applied` without ever rescanning a history or following each
//! server's count through resets and crashes itself; [`added`] hands them over, as the
//! simulator worked them out for every checker when the view has them.

use crate::delivery::Delivery;
use crate::txn_runs::{Successor, TxnRuns};
use crate::{Happening, View};
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use zab::{Event, Prefix, ServerId, TxnId, Zxid};

/// For a `Delivered`, the server and the range of its `tree.applied` that has just become
/// delivered.
pub(crate) fn newly_delivered(h: &Happening<'_>) -> Option<(ServerId, Range<usize>)> {
    match h {
        Happening::Server {
            id,
            event: Event::Delivered { from, count },
        } => Some((*id, *from..*count)),
        _ => None,
    }
}

/// What a `Delivered` adds: the view's own [`Delivery`] when it shows one for this happening,
/// else worked out here from the server's applied history (with `repeat` false). `None` for
/// any other happening, or when the server is down.
pub(crate) fn added<'v>(h: &Happening<'_>, view: &'v dyn View) -> Option<Cow<'v, Delivery>> {
    let (id, range) = newly_delivered(h)?;
    if let Some(d) = view.delivery() {
        if d.server == id && d.range == range {
            return Some(Cow::Borrowed(d));
        }
    }
    Some(Cow::Owned(Delivery::of(id, range, view.applied(id)?)))
}

/// The server's `tree.applied` up to `end` (clamped), or `None` if it is down.
pub(crate) fn applied_upto(view: &dyn View, id: ServerId, end: usize) -> Option<Prefix<'_>> {
    Some(view.applied(id)?.upto(end))
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

impl Successor for How {
    fn nth(self, _: TxnId, _: u64) -> How {
        self
    }
}

/// Every txn known to be committed, with the first reason it became known. Ordered by zxid, so
/// the txns of the epochs before `e` are one range.
#[derive(Debug, Default)]
pub(crate) struct CommittedTxns {
    txns: TxnRuns<How>,
}

impl CommittedTxns {
    /// `InitiallyCommitted{upto}`: the initial txns (proposer `NONE`) up to `upto` on any
    /// server's disk. It is the very first happening, so the disks still hold the scenario's
    /// initial state; this runs once per run.
    pub(crate) fn declare(&mut self, upto: Zxid, view: &dyn View) {
        for id in view.members() {
            let disk = view.disk(*id);
            let logged = disk.log.iter().map(|t| t.id());
            let snapshotted = disk.snapshots.iter().flat_map(|s| s.tree.applied.iter());
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
        self.txns.get(txn)
    }

    /// The committed txns whose zxid is from an epoch before `epoch`.
    pub(crate) fn before_epoch(&self, epoch: u64) -> impl Iterator<Item = (TxnId, How)> + '_ {
        self.txns.below(first_of_epoch(epoch))
    }
}

/// The smallest txn id of `epoch`: every txn of an earlier epoch sorts before it.
pub(crate) fn first_of_epoch(epoch: u64) -> TxnId {
    TxnId {
        zxid: Zxid::new(epoch, 0),
        proposer: ServerId::NONE,
    }
}
