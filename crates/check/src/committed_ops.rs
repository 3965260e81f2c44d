//! Which proposals are committed, learned once each, with the operation they carry.
//!
//! The client-visible checkers reason about what a txn does (a znode created, a session
//! closed), which only `Event::Proposed` says. A proposal is known committed once its leader
//! reports `Committed` or any server delivers it: a leader that establishes a new epoch
//! delivers the older txns it commits without a `Committed` for each. Its operation is handed
//! out exactly once, at that moment, and forgotten, so the map only holds proposals not yet
//! known to be committed. In a correct run the txns come out in zxid order, since leaders
//! commit in order and a new leader delivers every older txn before it proposes.

use crate::history::{added, newly_delivered};
use crate::{Happening, HappeningKind, Interest, View};
use std::collections::BTreeMap;
use zab::{Event, TxnId, TxnOp};

/// What [`CommittedOps::follow`] reads: a checker that follows commits must see these.
pub(crate) const INTEREST: Interest = Interest::of(&[
    HappeningKind::Server(zab::EventKind::Proposed),
    HappeningKind::Server(zab::EventKind::Committed),
])
.union(crate::DELIVERIES);

/// The txns one happening shows committed: at most one from a `Committed`, any number from a
/// delivery. Most happenings show none, so that case is a bare tag, cheap to make and drop.
pub(crate) enum Newly {
    /// Nothing (`Few(None)`) or the one txn a leader's `Committed` names.
    Few(Option<(TxnId, TxnOp)>),
    Many(std::vec::IntoIter<(TxnId, TxnOp)>),
}

impl Iterator for Newly {
    type Item = (TxnId, TxnOp);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Newly::Few(one) => one.take(),
            Newly::Many(rest) => rest.next(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct CommittedOps {
    proposed: BTreeMap<TxnId, TxnOp>,
    /// Which operations the owner wants to hear of; the others are never stored.
    keep: fn(&TxnOp) -> bool,
}

impl Default for CommittedOps {
    fn default() -> Self {
        CommittedOps::keeping(|_| true)
    }
}

impl CommittedOps {
    /// Hands out only the operations `keep` accepts: a checker that reads a few kinds of txn
    /// need not track the setData stream of a write load.
    pub(crate) fn keeping(keep: fn(&TxnOp) -> bool) -> CommittedOps {
        CommittedOps {
            proposed: BTreeMap::new(),
            keep,
        }
    }

    /// Follows one happening; returns the txns it shows committed for the first time. A
    /// leader's `Committed` names one txn, the commonest case, and costs no allocation.
    pub(crate) fn follow(&mut self, h: &Happening<'_>, view: &dyn View) -> Newly {
        match h {
            Happening::Server {
                event: Event::Proposed { txn, op, .. },
                ..
            } => {
                if (self.keep)(op) {
                    self.proposed.insert(*txn, op.clone());
                }
                Newly::Few(None)
            }
            Happening::Server {
                event: Event::Committed { txn, .. },
                ..
            } => Newly::Few(self.proposed.remove_entry(txn)),
            _ => {
                if newly_delivered(h).is_none() {
                    return Newly::Few(None);
                }
                let Some((first, _)) = self.proposed.first_key_value() else {
                    return Newly::Few(None);
                };
                let Some(d) = added(h, view) else {
                    return Newly::Few(None);
                };
                let delivered = || d.txns.iter().copied();
                // Usually the leader's `Committed` came first and every txn delivered here sorts
                // before anything still waiting (no assumption that a history is in order).
                if delivered().all(|t| t < *first) {
                    return Newly::Few(None);
                }
                let many: Vec<_> = delivered()
                    .filter_map(|t| self.proposed.remove_entry(&t))
                    .collect();
                Newly::Many(many.into_iter())
            }
        }
    }
}
