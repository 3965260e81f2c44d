//! The sequence of txns a data tree has applied, in order.
//!
//! It is not ZooKeeper state: the checkers compare these sequences across servers and
//! through restarts. A server copies its tree for every snapshot it takes, and a snapshot
//! is taken every snapCount/2 to snapCount txns, so a copy that duplicated the whole
//! sequence would make a run's cost grow with the square of its length. The sequence is
//! therefore kept in fixed-size blocks that copies share; only the unfinished last block is
//! copied.

use crate::db::TxnId;
use std::ops::{Index, Range};
use std::sync::Arc;

/// Entries per shared block: a copy costs one pointer per block.
const BLOCK: usize = 1024;

/// An append-only sequence of [`TxnId`]s whose copies share their full blocks.
#[derive(Clone, Default)]
pub struct AppliedTxns {
    /// Full blocks of exactly `BLOCK` entries, oldest first.
    blocks: Vec<Arc<[TxnId]>>,
    /// The entries after the last full block (fewer than `BLOCK`).
    tail: Vec<TxnId>,
}

impl AppliedTxns {
    pub fn len(&self) -> usize {
        self.blocks.len() * BLOCK + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.tail.is_empty()
    }

    pub fn push(&mut self, id: TxnId) {
        self.tail.push(id);
        if self.tail.len() == BLOCK {
            let full: Arc<[TxnId]> = std::mem::take(&mut self.tail).into();
            self.blocks.push(full);
            self.tail.reserve(BLOCK);
        }
    }

    pub fn get(&self, i: usize) -> Option<&TxnId> {
        match self.blocks.get(i / BLOCK) {
            Some(block) => block.get(i % BLOCK),
            None if i / BLOCK == self.blocks.len() => self.tail.get(i % BLOCK),
            None => None,
        }
    }

    pub fn last(&self) -> Option<&TxnId> {
        self.tail
            .last()
            .or_else(|| self.blocks.last().and_then(|b| b.last()))
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
                seq: self,
                front: [].iter(),
                back: [].iter(),
                next: 0,
                end: 0,
            };
        }
        let (first, last) = (start / BLOCK, (end - 1) / BLOCK);
        let (lo, hi) = (start % BLOCK, (end - 1) % BLOCK + 1);
        if first == last {
            return Iter {
                seq: self,
                front: self.block(first)[lo..hi].iter(),
                back: [].iter(),
                next: 0,
                end: 0,
            };
        }
        Iter {
            seq: self,
            front: self.block(first)[lo..].iter(),
            back: self.block(last)[..hi].iter(),
            next: first + 1,
            end: last,
        }
    }

    /// Block `b`, the tail counting as the block after the full ones.
    fn block(&self, b: usize) -> &[TxnId] {
        match self.blocks.get(b) {
            Some(block) => block,
            None => &self.tail,
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
        self.iter().any(|t| t == id)
    }

    /// The first `end` entries (clamped) as a sequence of their own, sharing the full blocks.
    pub fn truncated(&self, end: usize) -> AppliedTxns {
        let end = end.min(self.len());
        let mut blocks = self.blocks.clone();
        blocks.truncate(end / BLOCK);
        let tail = self.block(end / BLOCK)[..end % BLOCK].to_vec();
        AppliedTxns { blocks, tail }
    }

    /// How many leading entries the two sequences share. Blocks one was copied from the
    /// other are the same allocation and are skipped without comparing their entries.
    pub fn common_prefix(&self, other: &AppliedTxns) -> usize {
        let mut n = 0;
        for (a, b) in self.blocks.iter().zip(&other.blocks) {
            if Arc::ptr_eq(a, b) || a[..] == b[..] {
                n += BLOCK;
                continue;
            }
            return n + a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count();
        }
        let end = self.len().min(other.len());
        n + (n..end).take_while(|&i| self[i] == other[i]).count()
    }

    pub fn to_vec(&self) -> Vec<TxnId> {
        self.iter().copied().collect()
    }
}

impl Index<usize> for AppliedTxns {
    type Output = TxnId;

    fn index(&self, i: usize) -> &TxnId {
        match self.get(i) {
            Some(t) => t,
            None => panic!("applied index {i} out of range {}", self.len()),
        }
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

/// An iterator over a range of an [`AppliedTxns`]: the range's first and last blocks cut to
/// it, and the whole blocks between, so that it costs what iterating a slice does.
pub struct Iter<'a> {
    seq: &'a AppliedTxns,
    front: std::slice::Iter<'a, TxnId>,
    back: std::slice::Iter<'a, TxnId>,
    /// The whole blocks `next..end` are still to be opened.
    next: usize,
    end: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a TxnId;

    fn next(&mut self) -> Option<&'a TxnId> {
        loop {
            if let Some(t) = self.front.next() {
                return Some(t);
            }
            if self.next == self.end {
                return self.back.next();
            }
            self.front = self.seq.block(self.next).iter();
            self.next += 1;
        }
    }

    /// Skips whole blocks without reading them.
    fn nth(&mut self, mut n: usize) -> Option<&'a TxnId> {
        if n < self.front.len() {
            return self.front.nth(n);
        }
        n -= self.front.len();
        self.front = [].iter();
        let whole = (n / BLOCK).min(self.end - self.next);
        self.next += whole;
        n -= whole * BLOCK;
        if self.next < self.end {
            self.front = self.seq.block(self.next).iter();
            self.next += 1;
            return self.front.nth(n);
        }
        self.back.nth(n)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.front.len() + self.back.len() + (self.end - self.next) * BLOCK;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(t) = self.back.next_back() {
                return Some(t);
            }
            if self.next == self.end {
                return self.front.next_back();
            }
            self.end -= 1;
            self.back = self.seq.block(self.end).iter();
        }
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

    pub fn get(&self, i: usize) -> Option<&'a TxnId> {
        if i < self.len {
            self.seq.get(i)
        } else {
            None
        }
    }

    pub fn last(&self) -> Option<&'a TxnId> {
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
        self.iter().any(|t| t == id)
    }

    pub fn to_vec(&self) -> Vec<TxnId> {
        self.iter().copied().collect()
    }
}

impl Index<usize> for Prefix<'_> {
    type Output = TxnId;

    fn index(&self, i: usize) -> &TxnId {
        match self.get(i) {
            Some(t) => t,
            None => panic!("applied index {i} out of range {}", self.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ServerId, Zxid};

    fn id(c: u64) -> TxnId {
        TxnId {
            zxid: Zxid::new(1, c),
            proposer: ServerId(1),
        }
    }

    fn seq(n: u64) -> AppliedTxns {
        (1..=n).map(id).collect()
    }

    #[test]
    fn indexes_across_blocks_and_the_tail() {
        let s = seq(2 * BLOCK as u64 + 5);
        assert_eq!(s.len(), 2 * BLOCK + 5);
        assert_eq!(s[0], id(1));
        assert_eq!(s[BLOCK], id(BLOCK as u64 + 1));
        assert_eq!(s.last(), Some(&id(2 * BLOCK as u64 + 5)));
        assert_eq!(s.get(2 * BLOCK + 5), None);
        assert_eq!(s.iter().count(), s.len());
        assert_eq!(
            s.range(BLOCK - 1..BLOCK + 1).copied().collect::<Vec<_>>(),
            vec![id(BLOCK as u64), id(BLOCK as u64 + 1)]
        );
        assert_eq!(s.upto(3).to_vec(), vec![id(1), id(2), id(3)]);
        let full = seq(BLOCK as u64);
        assert_eq!(full.last(), Some(&id(BLOCK as u64)), "a just-filled block");
    }

    #[test]
    fn a_copy_shares_blocks_and_diverges_only_after_them() {
        let a = seq(3 * BLOCK as u64 + 7);
        let mut b = a.clone();
        assert!(
            Arc::ptr_eq(&a.blocks[0], &b.blocks[0]),
            "full blocks are shared"
        );
        assert_eq!(a.common_prefix(&b), a.len());
        b.push(id(99_999));
        assert_eq!(a.common_prefix(&b), a.len());
        assert_ne!(a, b);
        // A sequence built separately with a different entry inside its second block.
        let c: AppliedTxns = (1..=3 * BLOCK as u64 + 7)
            .map(|i| if i == BLOCK as u64 + 10 { id(0) } else { id(i) })
            .collect();
        assert_eq!(a.common_prefix(&c), BLOCK + 9);
        assert_eq!(c.common_prefix(&a), BLOCK + 9);
        assert_eq!(a.common_prefix(&AppliedTxns::default()), 0);
        for end in [0, 5, BLOCK, 2 * BLOCK + 3, a.len(), a.len() + 9] {
            let t = a.truncated(end);
            assert_eq!(t.to_vec(), a.upto(end).to_vec(), "truncated to {end}");
        }
        assert!(Arc::ptr_eq(
            &a.truncated(2 * BLOCK + 3).blocks[1],
            &a.blocks[1]
        ));
        assert_eq!(seq(5).common_prefix(&seq(BLOCK as u64 + 2)), 5);
    }

    #[test]
    fn ranges_and_reversed_ranges_match_a_plain_vector() {
        for n in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17] {
            let s = seq(n as u64);
            let v: Vec<TxnId> = (1..=n as u64).map(id).collect();
            let cuts = [
                0,
                1,
                BLOCK - 1,
                BLOCK,
                BLOCK + 1,
                2 * BLOCK,
                n.saturating_sub(1),
                n,
                n + 5,
            ];
            for &a in &cuts {
                for &b in &cuts {
                    let (lo, hi) = (a.min(n), b.min(n));
                    let want: Vec<TxnId> = if lo < hi {
                        v[lo..hi].to_vec()
                    } else {
                        Vec::new()
                    };
                    assert_eq!(
                        s.range(a..b).copied().collect::<Vec<_>>(),
                        want,
                        "{n}: {a}..{b}"
                    );
                    let mut rev: Vec<TxnId> = s.range(a..b).rev().copied().collect();
                    rev.reverse();
                    assert_eq!(rev, want, "{n}: {a}..{b} reversed");
                    for k in [0, 1, BLOCK, want.len().saturating_sub(1), want.len()] {
                        assert_eq!(s.range(a..b).nth(k), want.get(k), "{n}: {a}..{b} nth {k}");
                        assert_eq!(s.range(a..b).skip(k).count(), want.len().saturating_sub(k));
                    }
                }
            }
            assert_eq!(s.to_vec(), v);
        }
    }
}
