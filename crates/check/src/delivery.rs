//! What a `Delivered` adds, worked out once for every checker that watches deliveries.
//!
//! Each txn is delivered once by every server that applies it, and a dozen checkers look at
//! every delivery. Each of them used to find the txns a `Delivered` names in the server's
//! applied history (a search of its runs), and those that act only on a txn's first delivery
//! anywhere (it is committed now; it answers an acknowledged write) looked it up in a record
//! of their own only to find it there at every later delivery. The simulator now does both
//! once per delivery ([`Deliveries`]) and shows the result through [`View::delivery`]. A
//! view that does not (a test's hand-built world, a history recorded outside the simulator)
//! leaves each checker to work it out from the server's history, with the same result:
//! [`crate::history::added`] is the one place that chooses.
//!
//! [`View::delivery`]: crate::View::delivery

use crate::txn_runs::TxnRuns;
use smallvec::SmallVec;
use std::ops::Range;
use zab::{AppliedTxns, ServerId, TxnId};

/// The txns one `Delivered` adds to a server's delivered sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub server: ServerId,
    /// The positions the event names (`from..count`).
    pub range: Range<usize>,
    /// The txns at those positions, as far as the server's applied history reaches (it
    /// always does in the simulator).
    pub txns: SmallVec<[TxnId; 2]>,
    /// The txn right before them in the server's history, if any.
    pub parent: Option<TxnId>,
    /// Whether some server (this one included) delivered every one of them before. Only
    /// [`Deliveries`] knows; a delivery worked out on its own says `false`, which asks a
    /// checker for its full work and so is always correct.
    pub repeat: bool,
}

impl Delivery {
    /// What `Delivered { from, count }` of `server` adds, read from its applied history.
    pub fn of(server: ServerId, range: Range<usize>, applied: &AppliedTxns) -> Delivery {
        // One pass over the history from the parent on: each search of its runs costs more
        // than reading the few entries a delivery adds.
        let mut from_parent = applied.range(range.start.saturating_sub(1)..range.end);
        let parent = if range.start > 0 {
            from_parent.next()
        } else {
            None
        };
        let txns = from_parent.collect();
        Delivery {
            server,
            range,
            txns,
            parent,
            repeat: false,
        }
    }

    /// The position of each txn with the txn before it there: what a checker comparing
    /// neighbours reads.
    pub fn with_parents(&self) -> impl Iterator<Item = (usize, Option<TxnId>, TxnId)> + '_ {
        let parents = std::iter::once(self.parent).chain(self.txns.iter().copied().map(Some));
        (self.range.start..)
            .zip(parents)
            .zip(&self.txns)
            .map(|((i, p), t)| (i, p, *t))
    }
}

/// Which txns any server has delivered, and what the delivery being shown adds.
#[derive(Default)]
pub struct Deliveries {
    seen: TxnRuns<()>,
    current: Option<Delivery>,
}

impl Deliveries {
    /// Takes in a delivery before the checkers are shown it, and works out whether it is a
    /// repeat. It stays [`Deliveries::current`] until the next one, or until
    /// [`Deliveries::forget`].
    pub fn record(&mut self, mut d: Delivery) {
        let mut repeat = true;
        for t in &d.txns {
            if self.seen.insert_new(*t, ()) {
                repeat = false;
            }
        }
        d.repeat = repeat;
        self.current = Some(d);
    }

    /// The last delivery taken in.
    pub fn current(&self) -> Option<&Delivery> {
        self.current.as_ref()
    }

    /// Shows no delivery: for a `Delivered` that could not be read, which each checker then
    /// works out itself, so that none is ever shown an earlier one.
    pub fn forget(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{eventful_from, tid, Script, Variant};
    use crate::Checker;

    /// A checker judges a run alike whether it is shown each delivery worked out or works
    /// it out itself: same violations, same paths.
    fn alike<C: Checker + Default>() {
        for v in [
            Variant::Correct,
            Variant::Zk2845,
            Variant::Zk1154,
            Variant::LostCommit,
        ] {
            let mut shown = eventful_from(Script::new(3, C::default()), v);
            let mut own = eventful_from(Script::new(3, C::default()).working_out_deliveries(), v);
            assert_eq!(shown.c.paths(), own.c.paths(), "{} {v:?}", shown.c.name());
            assert_eq!(shown.take(), own.take(), "{} {v:?}", own.c.name());
        }
    }

    #[test]
    fn every_delivery_checker_judges_alike_with_and_without_worked_out_deliveries() {
        alike::<crate::total_order::TotalOrder>();
        alike::<crate::primary_order::PrimaryOrder>();
        alike::<crate::prefix_consistency::PrefixConsistency>();
        alike::<crate::integrity::Integrity>();
        alike::<crate::linearizable_writes::LinearizableWrites>();
        alike::<crate::primary_integrity::PrimaryIntegrity>();
        alike::<crate::committed_durability::CommittedDurability>();
        alike::<crate::ephemeral_cleanup::EphemeralCleanup>();
        alike::<crate::abandoned_skipped::AbandonedSkipped>();
        alike::<crate::watch_order::WatchOrder>();
        alike::<crate::progress::Progress>();
        alike::<crate::recipe_safety::RecipeSafety>();
    }

    fn applied(txns: &[TxnId]) -> AppliedTxns {
        let mut a = AppliedTxns::default();
        for t in txns {
            a.push(*t);
        }
        a
    }

    #[test]
    fn a_delivery_reads_its_txns_and_parent_and_clamps_to_the_history() {
        let a = applied(&[tid(1, 1, 1), tid(1, 2, 1), tid(1, 3, 1)]);
        let d = Delivery::of(ServerId(2), 1..3, &a);
        assert_eq!(d.txns.as_slice(), [tid(1, 2, 1), tid(1, 3, 1)]);
        assert_eq!(d.parent, Some(tid(1, 1, 1)));
        assert_eq!(
            d.with_parents().collect::<Vec<_>>(),
            [
                (1, Some(tid(1, 1, 1)), tid(1, 2, 1)),
                (2, Some(tid(1, 2, 1)), tid(1, 3, 1))
            ]
        );
        let first = Delivery::of(ServerId(2), 0..1, &a);
        assert_eq!(first.parent, None);
        let past = Delivery::of(ServerId(2), 2..5, &a);
        assert_eq!(past.txns.as_slice(), [tid(1, 3, 1)]);
        assert!(Delivery::of(ServerId(2), 4..5, &a).txns.is_empty());
        assert_eq!(Delivery::of(ServerId(2), 4..5, &a).parent, None);
    }

    #[test]
    fn a_delivery_is_a_repeat_only_when_every_txn_was_delivered_before() {
        let a = applied(&[tid(1, 1, 1), tid(1, 2, 1), tid(1, 3, 1)]);
        let mut ds = Deliveries::default();
        ds.record(Delivery::of(ServerId(1), 0..2, &a));
        assert!(!ds.current().expect("taken in").repeat);
        // Another server delivers the first two again: a repeat.
        ds.record(Delivery::of(ServerId(2), 0..2, &a));
        assert!(ds.current().expect("taken in").repeat);
        // One old txn and one new: not a repeat, and the new one is now known.
        ds.record(Delivery::of(ServerId(2), 1..3, &a));
        assert!(!ds.current().expect("taken in").repeat);
        ds.record(Delivery::of(ServerId(3), 2..3, &a));
        assert!(ds.current().expect("taken in").repeat);
    }
}
