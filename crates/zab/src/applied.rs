//! The sequence of txns a data tree has applied, in order.
//!
//! It is not ZooKeeper state: the checkers compare these sequences across servers and
//! through restarts. Every server holds one, and copies it into every snapshot it takes
//! (every snapCount/2 to snapCount txns), so stored entry by entry it would grow a run's
//! memory by an entry per txn per server, and copied whole it would cost the square of the
//! run's length. A leader proposes its epoch's txns with consecutive counters, so a delivered
//! history is a few runs of consecutive txns: it is kept as those runs, exactly, and a copy
//! costs one entry per run. A history that breaks the pattern (a gap, another proposer) only
//! starts a new run there.

use crate::db::TxnId;
use crate::ids::Zxid;
use std::ops::Range;

/// Consecutive txns of one proposer in one epoch, from `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    /// The index of its first entry in the sequence.
    start: usize,
    first: TxnId,
    len: usize,
}

impl Run {
    fn at(&self, i: usize) -> TxnId {
        TxnId {
            zxid: Zxid(self.first.zxid.0 + (i - self.start) as u64),
            proposer: self.first.proposer,
        }
    }

    fn end(&self) -> usize {
        self.start + self.len
    }

    /// Whether `next` is the txn right after this run's last one.
    fn continues_with(&self, next: &TxnId) -> bool {
        let last = self.at(self.end() - 1);
        next.proposer == last.proposer
            && next.zxid.epoch() == last.zxid.epoch()
            && next.zxid.0 == last.zxid.0 + 1
    }
}

/// An append-only sequence of [`TxnId`]s, stored as runs of consecutive txns.
#[derive(Clone, Default)]
pub struct AppliedTxns {
    /// Contiguous: each starts where the one before ends.
    runs: Vec<Run>,
}

impl AppliedTxns {
    pub fn len(&self) -> usize {
        self.runs.last().map_or(0, Run::end)
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn push(&mut self, id: TxnId) {
        let start = self.len();
        match self.runs.last_mut() {
            Some(last) if last.continues_with(&id) => last.len += 1,
            _ => self.runs.push(Run {
                start,
                first: id,
                len: 1,
            }),
        }
    }

    /// The run holding entry `i`, searched from the newest, since the entries read are nearly
    /// always recent ones.
    fn run_of(&self, i: usize) -> Option<usize> {
        if i >= self.len() {
            return None;
        }
        let mut r = self.runs.len() - 1;
        while self.runs[r].start > i {
            r -= 1;
            // Far from the end: a binary search over what is left.
            if r > 8 && self.runs[r].start > i {
                return Some(self.runs[..r].partition_point(|run| run.start <= i) - 1);
            }
        }
        Some(r)
    }

    pub fn get(&self, i: usize) -> Option<TxnId> {
        self.run_of(i).map(|r| self.runs[r].at(i))
    }

    /// Entry `i`; panics past the end, as indexing a slice does.
    pub fn at(&self, i: usize) -> TxnId {
        match self.get(i) {
            Some(t) => t,
            None => panic!("applied index {i} out of range {}", self.len()),
        }
    }

    pub fn last(&self) -> Option<TxnId> {
        self.runs.last().map(|r| r.at(r.end() - 1))
    }

    /// Every entry, oldest first.
    pub fn iter(&self) -> Iter<'_> {
        self.range(0..self.len())
    }

    /// The entries in `range` (clamped to the length), oldest first.
    pub fn range(&self, range: Range<usize>) -> Iter<'_> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        if start == end {
            return Iter {
                runs: &[],
                front: 0,
                back: 0,
                front_run: 0,
                back_run: 0,
            };
        }
        let (Some(front_run), Some(back_run)) = (self.run_of(start), self.run_of(end - 1)) else {
            unreachable!("start < end <= len")
        };
        Iter {
            runs: &self.runs,
            front: start,
            back: end,
            front_run,
            back_run,
        }
    }

    /// The first `end` entries (clamped) as a view.
    pub fn upto(&self, end: usize) -> Prefix<'_> {
        Prefix {
            seq: self,
            len: end.min(self.len()),
        }
    }

    pub fn contains(&self, id: &TxnId) -> bool {
        self.runs.iter().any(|r| {
            r.first.proposer == id.proposer
                && id.zxid >= r.first.zxid
                && id.zxid.0 - r.first.zxid.0 < r.len as u64
        })
    }

    /// The first `end` entries (clamped) as a sequence of their own.
    pub fn truncated(&self, end: usize) -> AppliedTxns {
        let end = end.min(self.len());
        let Some(r) = self.run_of(end.saturating_sub(1)).filter(|_| end > 0) else {
            return AppliedTxns::default();
        };
        let mut runs = self.runs[..=r].to_vec();
        if let Some(last) = runs.last_mut() {
            last.len = end - last.start;
        }
        AppliedTxns { runs }
    }

    /// How many leading entries the two sequences share, a run at a time.
    pub fn common_prefix(&self, other: &AppliedTxns) -> usize {
        let end = self.len().min(other.len());
        let (mut a, mut b) = (0, 0);
        let mut i = 0;
        while i < end {
            while self.runs[a].end() <= i {
                a += 1;
            }
            while other.runs[b].end() <= i {
                b += 1;
            }
            let (ra, rb) = (&self.runs[a], &other.runs[b]);
            if ra.at(i) != rb.at(i) {
                return i;
            }
            // Both runs go on one txn at a time from an equal entry, so they agree until
            // either ends.
            i = ra.end().min(rb.end()).min(end);
        }
        end
    }

    pub fn to_vec(&self) -> Vec<TxnId> {
        self.iter().collect()
    }
}

impl PartialEq for AppliedTxns {
    fn eq(&self, other: &AppliedTxns) -> bool {
        self.len() == other.len() && self.common_prefix(other) == self.len()
    }
}

impl Eq for AppliedTxns {}

impl std::fmt::Debug for AppliedTxns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl FromIterator<TxnId> for AppliedTxns {
    fn from_iter<I: IntoIterator<Item = TxnId>>(iter: I) -> AppliedTxns {
        let mut seq = AppliedTxns::default();
        for id in iter {
            seq.push(id);
        }
        seq
    }
}

/// An iterator over a range of an [`AppliedTxns`], from both ends.
pub struct Iter<'a> {
    runs: &'a [Run],
    /// The entries `front..back` are still to come; `front_run` holds `front` and
    /// `back_run` holds `back - 1` while any are left.
    front: usize,
    back: usize,
    front_run: usize,
    back_run: usize,
}

impl Iterator for Iter<'_> {
    type Item = TxnId;

    fn next(&mut self) -> Option<TxnId> {
        if self.front == self.back {
            return None;
        }
        while self.runs[self.front_run].end() <= self.front {
            self.front_run += 1;
        }
        let t = self.runs[self.front_run].at(self.front);
        self.front += 1;
        Some(t)
    }

    /// Skips whole runs without reading them.
    fn nth(&mut self, n: usize) -> Option<TxnId> {
        self.front = self.front.saturating_add(n).min(self.back);
        self.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<TxnId> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        while self.runs[self.back_run].start > self.back {
            self.back_run -= 1;
        }
        Some(self.runs[self.back_run].at(self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// The first `len` entries of an [`AppliedTxns`]: what the checkers read as a server's
/// delivered history.
#[derive(Clone, Copy)]
pub struct Prefix<'a> {
    seq: &'a AppliedTxns,
    len: usize,
}

impl<'a> Prefix<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, i: usize) -> Option<TxnId> {
        if i < self.len {
            self.seq.get(i)
        } else {
            None
        }
    }

    /// Entry `i`; panics past the end, as indexing a slice does.
    pub fn at(&self, i: usize) -> TxnId {
        match self.get(i) {
            Some(t) => t,
            None => panic!("applied index {i} out of range {}", self.len),
        }
    }

    pub fn last(&self) -> Option<TxnId> {
        self.len.checked_sub(1).and_then(|i| self.seq.get(i))
    }

    pub fn iter(&self) -> Iter<'a> {
        self.seq.range(0..self.len)
    }

    /// The entries in `range` (clamped to this prefix).
    pub fn range(&self, range: Range<usize>) -> Iter<'a> {
        self.seq.range(range.start..range.end.min(self.len))
    }

    /// The first `end` entries of this prefix (clamped).
    pub fn upto(&self, end: usize) -> Prefix<'a> {
        Prefix {
            seq: self.seq,
            len: end.min(self.len),
        }
    }

    pub fn contains(&self, id: &TxnId) -> bool {
        self.iter().any(|t| t == *id)
    }

    pub fn to_vec(&self) -> Vec<TxnId> {
        self.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ServerId;
    use proptest::prelude::*;

    fn id(epoch: u64, c: u64, p: u8) -> TxnId {
        TxnId {
            zxid: Zxid::new(epoch, c),
            proposer: ServerId(p),
        }
    }

    #[test]
    fn an_epoch_of_one_leader_is_one_run() {
        let s: AppliedTxns = (1..=100_000).map(|c| id(1, c, 1)).collect();
        assert_eq!(s.runs.len(), 1);
        assert_eq!(s.len(), 100_000);
        assert_eq!(s.at(0), id(1, 1, 1));
        assert_eq!(s.get(99_999), Some(id(1, 100_000, 1)));
        assert_eq!(s.get(100_000), None);
        let mut t = s.truncated(50_000);
        assert_eq!(t.len(), 50_000);
        assert_eq!(s.common_prefix(&t), 50_000);
        // A gap, another proposer and the next epoch each start a run.
        t.push(id(1, 50_002, 1));
        t.push(id(1, 50_003, 2));
        t.push(id(2, 1, 3));
        t.push(id(2, 2, 3));
        assert_eq!(t.runs.len(), 4);
        assert_eq!(s.common_prefix(&t), 50_000);
        assert!(t.contains(&id(2, 2, 3)));
        assert!(!t.contains(&id(1, 50_001, 1)));
        // The counter's last value ends the epoch's run even with the next zxid following.
        let wrap: AppliedTxns = [id(1, Zxid::COUNTER_MAX, 1), id(2, 0, 1)]
            .into_iter()
            .collect();
        assert_eq!(wrap.runs.len(), 2);
    }

    /// Histories like a run's: mostly consecutive txns of one leader, with gaps, other
    /// proposers and new epochs now and then.
    fn history() -> impl Strategy<Value = Vec<TxnId>> {
        prop::collection::vec((0u8..10, 1u8..4), 0..300).prop_map(|steps| {
            let (mut epoch, mut c, mut p) = (1, 0, 1);
            steps
                .into_iter()
                .map(|(kind, q)| {
                    match kind {
                        0 => c += 2,
                        1 => p = q,
                        2 => {
                            epoch += 1;
                            c = 0;
                        }
                        _ => c += 1,
                    }
                    id(epoch, c, p)
                })
                .collect()
        })
    }

    proptest! {
        /// Every reading of it agrees with a plain vector of the same entries.
        #[test]
        fn agrees_with_a_vector(v in history(), w in history(), cut in 0usize..320, cuts in prop::collection::vec((0usize..320, 0usize..320, 0usize..40), 1..8)) {
            let s: AppliedTxns = v.iter().copied().collect();
            prop_assert_eq!(s.len(), v.len());
            prop_assert_eq!(s.to_vec(), v.clone());
            prop_assert_eq!(s.last(), v.last().copied());
            for (i, t) in v.iter().enumerate() {
                prop_assert_eq!(s.get(i), Some(*t));
                prop_assert!(s.contains(t));
            }
            prop_assert_eq!(s.get(v.len()), None);
            for (a, b, k) in cuts {
                let (lo, hi) = (a.min(v.len()), b.min(v.len()));
                let want: Vec<TxnId> = if lo < hi { v[lo..hi].to_vec() } else { Vec::new() };
                prop_assert_eq!(s.range(a..b).collect::<Vec<_>>(), want.clone());
                let mut rev: Vec<TxnId> = s.range(a..b).rev().collect();
                rev.reverse();
                prop_assert_eq!(&rev, &want);
                prop_assert_eq!(s.range(a..b).nth(k), want.get(k).copied());
                prop_assert_eq!(s.range(a..b).len(), want.len());
                // Both ends at once.
                let mut it = s.range(a..b);
                let (mut front, mut back) = (Vec::new(), Vec::new());
                while let Some(t) = it.next() {
                    front.push(t);
                    if let Some(t) = it.next_back() {
                        back.push(t);
                    }
                }
                back.reverse();
                front.extend(back);
                prop_assert_eq!(front, want);
                let p = s.upto(b);
                prop_assert_eq!(p.to_vec(), v[..b.min(v.len())].to_vec());
                prop_assert_eq!(p.range(a..b + 5).collect::<Vec<_>>(), s.range(a..b).collect::<Vec<_>>());
            }
            let t = s.truncated(cut);
            prop_assert_eq!(t.to_vec(), v[..cut.min(v.len())].to_vec());
            let o: AppliedTxns = w.iter().copied().collect();
            let common = v.iter().zip(&w).take_while(|(x, y)| x == y).count();
            prop_assert_eq!(s.common_prefix(&o), common);
            prop_assert_eq!(o.common_prefix(&s), common);
            prop_assert_eq!(s.common_prefix(&t), cut.min(v.len()));
            prop_assert_eq!(s == o, v == w);
            // A copy cut short and grown again with the same entries is equal.
            let mut again = t.clone();
            for x in &v[cut.min(v.len())..] {
                again.push(*x);
            }
            prop_assert!(again == s);
        }
    }
}
