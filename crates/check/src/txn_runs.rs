//! Per-txn records that cost per run of txns, not per txn.
//!
//! A leader proposes the txns of its epoch with consecutive counters, and what a checker
//! records about each of them is nearly always what it recorded about the one before, one
//! step on: the same first deliverer, the same reason it counts as committed, the next
//! position in a delivered sequence with the previous txn before it. Stored one entry per
//! txn, those records were most of a long run's memory. Here a run of consecutive txns of one
//! proposer whose records follow one another is one entry, and every record is still exact:
//! a txn that breaks the pattern (another deliverer, a gap, another proposer) starts a run of
//! its own, so nothing is forgotten and lookups answer what a map of every txn would.

use crate::txn_map::{merge, partition_point_from_end, partition_point_from_end_at};
use std::collections::BTreeMap;
use zab::{ServerId, TxnId, Zxid};

/// A record that a run can carry for the txns after its first one.
pub(crate) trait Successor: Copy + PartialEq {
    /// The record of the txn `n` places after `key` in a run whose record at `key` is `self`.
    fn nth(self, key: TxnId, n: u64) -> Self;
}

impl Successor for () {
    fn nth(self, _: TxnId, _: u64) {}
}

impl Successor for ServerId {
    fn nth(self, _: TxnId, _: u64) -> ServerId {
        self
    }
}

/// The txn `n` places after `key` in its proposer's epoch.
fn plus(key: TxnId, n: u64) -> TxnId {
    TxnId {
        zxid: Zxid(key.zxid.0 + n),
        proposer: key.proposer,
    }
}

/// Whether `next` is the txn right after `key` in the same proposer's epoch.
fn follows(key: TxnId, next: TxnId) -> bool {
    next.proposer == key.proposer
        && next.zxid.epoch() == key.zxid.epoch()
        && next.zxid.0 == key.zxid.0 + 1
}

#[derive(Clone, Copy, Debug)]
struct Run<V> {
    first: TxnId,
    len: u64,
    /// The record of `first`; the others follow from it.
    value: V,
}

impl<V: Successor> Run<V> {
    fn last(&self) -> TxnId {
        plus(self.first, self.len - 1)
    }

    /// The record of `t` if this run holds it.
    fn get(&self, t: &TxnId) -> Option<V> {
        if t.proposer != self.first.proposer || t.zxid < self.first.zxid {
            return None;
        }
        let n = t.zxid.0 - self.first.zxid.0;
        (n < self.len).then(|| self.value.nth(self.first, n))
    }

    /// How many of its keys are below `bound` (or equal to it, with `inclusive`).
    fn count_below(&self, bound: TxnId, inclusive: bool) -> u64 {
        let Some(d) = bound.zxid.0.checked_sub(self.first.zxid.0) else {
            return 0;
        };
        let at_bound = if inclusive {
            self.first.proposer <= bound.proposer
        } else {
            self.first.proposer < bound.proposer
        };
        (d + at_bound as u64).min(self.len)
    }

    fn entries(&self, from: u64, to: u64) -> impl Iterator<Item = (TxnId, V)> + '_ {
        (from..to.max(from)).map(|n| (plus(self.first, n), self.value.nth(self.first, n)))
    }
}

/// A map from txn ids to records, for keys that arrive in ascending order but for a few,
/// stored as runs. Keys that arrive below the largest one go to a B-tree, as in `TxnMap`.
#[derive(Debug)]
pub(crate) struct TxnRuns<V> {
    /// Ascending and disjoint: every key of a run is below every key of the next.
    runs: Vec<Run<V>>,
    /// Keys that arrived below the last run's last key (and, after `split_off`, the older
    /// part's keys above its cut run); none of them is in a run.
    late: BTreeMap<TxnId, V>,
}

impl<V> Default for TxnRuns<V> {
    fn default() -> Self {
        TxnRuns {
            runs: Vec::new(),
            late: BTreeMap::new(),
        }
    }
}

impl<V: Successor> TxnRuns<V> {
    pub(crate) fn get(&self, t: &TxnId) -> Option<V> {
        let i = partition_point_from_end(&self.runs, |r| r.first <= *t);
        if let Some(v) = i.checked_sub(1).and_then(|i| self.runs[i].get(t)) {
            return Some(v);
        }
        if self.late.is_empty() {
            return None;
        }
        self.late.get(t).copied()
    }

    pub(crate) fn contains(&self, t: &TxnId) -> bool {
        self.get(t).is_some()
    }

    /// Inserts unless the key is there already; true if it was not.
    pub(crate) fn insert_new(&mut self, t: TxnId, v: V) -> bool {
        if self.contains(&t) {
            return false;
        }
        match self.runs.last_mut() {
            Some(last) if t <= last.last() => {
                self.late.insert(t, v);
            }
            Some(last) if follows(last.last(), t) && last.value.nth(last.first, last.len) == v => {
                last.len += 1;
            }
            _ => self.runs.push(Run {
                first: t,
                len: 1,
                value: v,
            }),
        }
        true
    }

    /// The entries below `bound`, ascending.
    pub(crate) fn below(&self, bound: TxnId) -> impl Iterator<Item = (TxnId, V)> + '_ {
        let end = self.runs.partition_point(|r| r.first < bound);
        let runs = self.runs[..end]
            .iter()
            .flat_map(move |r| r.entries(0, r.count_below(bound, false)));
        merge(runs, copied(self.late.range(..bound)))
    }

    /// The entries from `lo` to `hi` inclusive, ascending; cheap for recent txns.
    pub(crate) fn between(&self, lo: TxnId, hi: TxnId) -> impl Iterator<Item = (TxnId, V)> + '_ {
        // The first run that ends at or after `lo`.
        let start = partition_point_from_end_at(self.runs.len(), |i| self.runs[i].last() < lo);
        let runs = self.runs[start..]
            .iter()
            .take_while(move |r| r.first <= hi)
            .flat_map(move |r| r.entries(r.count_below(lo, false), r.count_below(hi, true)));
        merge(runs, copied(self.late.range(lo..=hi)))
    }

    /// The smallest key.
    pub(crate) fn first(&self) -> Option<TxnId> {
        let run = self.runs.first().map(|r| r.first);
        let late = self.late.keys().next().copied();
        run.into_iter().chain(late).min()
    }

    /// Every entry, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (TxnId, V)> + '_ {
        merge(
            self.runs.iter().flat_map(|r| r.entries(0, r.len)),
            copied(self.late.iter()),
        )
    }

    /// Moves the entries from `bound` on into a map of their own, as `BTreeMap::split_off`.
    pub(crate) fn split_off(&mut self, bound: TxnId) -> TxnRuns<V> {
        let late = self.late.split_off(&bound);
        let i = self.runs.partition_point(|r| r.first < bound);
        let mut runs = self.runs.split_off(i);
        // The run before `bound` may reach past it: its keys from `bound` on move too.
        if let Some(r) = self.runs.last_mut() {
            let keep = r.count_below(bound, false);
            if keep < r.len {
                runs.insert(
                    0,
                    Run {
                        first: plus(r.first, keep),
                        len: r.len - keep,
                        value: r.value.nth(r.first, keep),
                    },
                );
                r.len = keep;
            }
        }
        TxnRuns { runs, late }
    }

    /// How many runs and late keys it holds: what it costs.
    #[cfg(test)]
    fn pieces(&self) -> usize {
        self.runs.len() + self.late.len()
    }
}

/// A sequence of txns, each with the server that put it there, stored as runs: position i
/// of a replicated history and who first delivered there.
#[derive(Debug, Default)]
pub(crate) struct TxnSeq {
    /// Each run with the position of its first txn; ascending and contiguous.
    runs: Vec<(usize, Run<ServerId>)>,
    len: usize,
}

impl TxnSeq {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, i: usize) -> Option<(TxnId, ServerId)> {
        if i >= self.len {
            return None;
        }
        let r = partition_point_from_end(&self.runs, |(start, _)| *start <= i) - 1;
        let (start, run) = &self.runs[r];
        Some((plus(run.first, (i - start) as u64), run.value))
    }

    pub(crate) fn push(&mut self, t: TxnId, server: ServerId) {
        self.len += 1;
        if let Some((_, last)) = self.runs.last_mut() {
            if last.value == server && follows(last.last(), t) {
                last.len += 1;
                return;
            }
        }
        self.runs.push((
            self.len - 1,
            Run {
                first: t,
                len: 1,
                value: server,
            },
        ));
    }
}

/// A B-tree's entries by value.
fn copied<'a, V: Copy + 'a>(
    entries: impl Iterator<Item = (&'a TxnId, &'a V)> + 'a,
) -> impl Iterator<Item = (TxnId, V)> + 'a {
    entries.map(|(k, v)| (*k, *v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(epoch: u64, c: u64, p: u8) -> TxnId {
        TxnId {
            zxid: Zxid::new(epoch, c),
            proposer: ServerId(p),
        }
    }

    /// A record that carries a position, as a delivered sequence's does.
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct At(u64);

    impl Successor for At {
        fn nth(self, _: TxnId, n: u64) -> At {
            At(self.0 + n)
        }
    }

    #[test]
    fn an_epoch_of_one_leader_is_one_run() {
        let mut m = TxnRuns::default();
        for c in 1..=10_000 {
            assert!(m.insert_new(t(1, c, 1), At(c + 5)));
        }
        assert_eq!(m.pieces(), 1);
        assert_eq!(m.get(&t(1, 7_000, 1)), Some(At(7_005)));
        assert_eq!(m.get(&t(1, 7_000, 2)), None, "another proposer");
        assert_eq!(m.get(&t(1, 10_001, 1)), None);
        assert!(!m.insert_new(t(1, 3, 1), At(0)), "already there");
        // A gap, another record and another epoch each start a run.
        m.insert_new(t(1, 10_002, 1), At(10_007));
        m.insert_new(t(1, 10_003, 1), At(0));
        m.insert_new(t(2, 10_004, 1), At(1));
        assert_eq!(m.pieces(), 4);
        assert_eq!(m.get(&t(1, 10_003, 1)), Some(At(0)));
    }

    #[test]
    fn a_key_inside_a_run_of_another_proposer_is_kept_late() {
        let mut m = TxnRuns::default();
        for c in 1..=5 {
            m.insert_new(t(1, c, 1), ServerId(1));
        }
        assert!(m.insert_new(t(1, 3, 2), ServerId(2)));
        assert_eq!(m.get(&t(1, 3, 2)), Some(ServerId(2)));
        assert_eq!(m.get(&t(1, 3, 1)), Some(ServerId(1)));
        let all: Vec<TxnId> = m.between(t(1, 2, 0), t(1, 4, 9)).map(|(k, _)| k).collect();
        assert_eq!(all, [t(1, 2, 1), t(1, 3, 1), t(1, 3, 2), t(1, 4, 1)]);
    }

    #[test]
    fn a_sequence_answers_every_position() {
        let want: Vec<(TxnId, ServerId)> = (1..=50)
            .map(|c| (t(1, c, 1), ServerId(1)))
            .chain((1..=3).map(|c| (t(1, 50 + c, 1), ServerId(2))))
            .chain([(t(1, 60, 1), ServerId(2)), (t(1, 60, 3), ServerId(2))])
            .chain((1..=20).map(|c| (t(2, c, 3), ServerId(3))))
            .collect();
        let mut s = TxnSeq::default();
        for (t, id) in &want {
            s.push(*t, *id);
        }
        assert_eq!(s.runs.len(), 5);
        assert_eq!(s.len(), want.len());
        for (i, w) in want.iter().enumerate() {
            assert_eq!(s.get(i), Some(*w), "position {i}");
        }
        assert_eq!(s.get(want.len()), None);
    }

    proptest! {
        /// Whatever order keys come in, it answers as a map holding every entry.
        #[test]
        fn agrees_with_a_map_of_every_entry(
            ops in prop::collection::vec((1u64..3, 0u64..40, 1u8..3, 0u64..3), 0..200),
            bounds in prop::collection::vec((1u64..3, 0u64..40, 0u8..4), 1..6),
        ) {
            let mut m = TxnRuns::default();
            let mut model: BTreeMap<TxnId, At> = BTreeMap::new();
            // Mostly ascending, so that long runs form, then a few keys in any order.
            let mut ops = ops;
            let n = ops.len() * 3 / 4;
            ops[..n].sort();
            for (e, c, p, v) in ops {
                let k = t(e, c, p);
                let v = At(c + 100 * v);
                let fresh = !model.contains_key(&k);
                if fresh {
                    model.insert(k, v);
                }
                prop_assert_eq!(m.insert_new(k, v), fresh);
            }
            for (k, v) in &model {
                prop_assert_eq!(m.get(k), Some(*v));
            }
            for e in 1..3 {
                for c in 0..41 {
                    for p in 0..4 {
                        let k = t(e, c, p);
                        prop_assert_eq!(m.get(&k), model.get(&k).copied());
                    }
                }
            }
            prop_assert_eq!(m.iter().collect::<Vec<_>>(), model.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
            prop_assert_eq!(m.first(), model.keys().next().copied());
            for w in bounds.windows(2).chain(std::iter::once(&bounds[..])) {
                let lo = t(w[0].0, w[0].1, w[0].2);
                let hi = w.get(1).map_or(lo, |b| t(b.0, b.1, b.2));
                let below: Vec<_> = m.below(lo).collect();
                let want: Vec<_> = model.range(..lo).map(|(k, v)| (*k, *v)).collect();
                prop_assert_eq!(below, want);
                if lo <= hi {
                    let got: Vec<_> = m.between(lo, hi).collect();
                    let want: Vec<_> = model.range(lo..=hi).map(|(k, v)| (*k, *v)).collect();
                    prop_assert_eq!(got, want);
                }
            }
            // Split at each bound in turn, as establishments of newer epochs do.
            for (e, c, p) in bounds {
                let bound = t(e, c, p);
                let newer = m.split_off(bound);
                let model_newer = model.split_off(&bound);
                prop_assert_eq!(m.iter().collect::<Vec<_>>(), model.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
                prop_assert_eq!(newer.iter().collect::<Vec<_>>(), model_newer.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
                for (k, v) in &model_newer {
                    prop_assert_eq!(newer.get(k), Some(*v));
                    prop_assert_eq!(m.get(k), None);
                }
                // The older part still takes keys, any of them, exactly once.
                let mut older = m;
                let mut model_older = model.clone();
                for (k, v) in model_newer.iter().chain(&model) {
                    prop_assert_eq!(older.insert_new(*k, *v), !model_older.contains_key(k));
                    model_older.insert(*k, *v);
                }
                prop_assert_eq!(older.iter().collect::<Vec<_>>(), model_older.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
                m = newer;
                model = model_newer;
            }
        }
    }
}
