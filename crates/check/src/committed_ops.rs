//! Which proposals are committed, learned once each, with the operation they carry.
//!
//! The client-visible checkers reason about what a txn does (a znode created, a session
//! closed), which only `Event::Proposed` says. A proposal is known committed once its leader
//! reports `Committed` or any server delivers it: a leader that establishes a new epoch
//! delivers the older txns it commits without a `Committed` for each. Its operation is handed
//! out exactly once, at that moment, and forgotten, so the map only holds proposals not yet
//! known to be committed. In a correct run the txns come out in zxid order, since leaders
//! commit in order and a new leader delivers every older txn before it proposes.

use crate::history::{applied_upto, DeliveredCounts};
use crate::{Happening, HappeningKind, Interest, View};
use std::collections::BTreeMap;
use zab::{Event, TxnId, TxnOp};

/// What [`CommittedOps::follow`] reads: a checker that follows commits must see these.
pub(crate) const INTEREST: Interest =
    Interest::of(&[HappeningKind::Proposed, HappeningKind::Committed]).union(crate::DELIVERIES);

/// The txns one happening shows committed: at most one from a `Committed`, any number from a
/// delivery.
pub(crate) type Newly =
    std::iter::Chain<std::option::IntoIter<(TxnId, TxnOp)>, std::vec::IntoIter<(TxnId, TxnOp)>>;

#[derive(Debug)]
pub(crate) struct CommittedOps {
    deliveries: DeliveredCounts,
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
            deliveries: DeliveredCounts::default(),
            proposed: BTreeMap::new(),
            keep,
        }
    }

    /// Follows one happening; returns the txns it shows committed for the first time. A
    /// leader's `Committed` names one txn, the commonest case, and costs no allocation.
    pub(crate) fn follow(&mut self, h: &Happening<'_>, view: &dyn View) -> Newly {
        let none = || None.into_iter().chain(Vec::new());
        match h {
            Happening::Server {
                event: Event::Proposed { txn, op, .. },
                ..
            } => {
                if (self.keep)(op) {
                    self.proposed.insert(*txn, op.clone());
                }
                none()
            }
            Happening::Server {
                event: Event::Committed { txn, .. },
                ..
            } => self
                .proposed
                .remove_entry(txn)
                .into_iter()
                .chain(Vec::new()),
            _ => {
                let Some((id, range)) = self.deliveries.follow(h) else {
                    return none();
                };
                if self.proposed.is_empty() {
                    return none();
                }
                let Some(applied) = applied_upto(view, id, range.end) else {
                    return none();
                };
                let many: Vec<_> = applied
                    .iter()
                    .skip(range.start)
                    .filter_map(|t| self.proposed.remove_entry(t))
                    .collect();
                None.into_iter().chain(many)
            }
        }
    }
}
