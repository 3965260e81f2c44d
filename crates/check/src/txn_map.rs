//! Lookups that stay cheap however long a run gets.
//!
//! Txns are proposed, committed, logged and delivered in zxid order, so the txns a checker
//! looks up are nearly always among the newest it knows. A binary search over a whole history
//! (or a B-tree descent) touches entries scattered across memory, and its cost grows with the
//! run; searching back from the end touches a few neighbouring entries instead.

use std::collections::BTreeMap;
use zab::TxnId;

/// `slice::partition_point`, searching back from the end in doubling steps: O(log d) for a
/// partition point `d` entries before the end. `pred` must hold for a prefix of `list` only.
pub(crate) fn partition_point_from_end<T>(list: &[T], pred: impl Fn(&T) -> bool) -> usize {
    partition_point_from_end_at(list.len(), |i| pred(&list[i]))
}

/// [`partition_point_from_end`] over any sequence of `len` entries read by index.
pub(crate) fn partition_point_from_end_at(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    // Every entry from `hi` on fails `pred`; every entry before `lo` passes it.
    let mut hi = len;
    let mut step = 1;
    let mut lo = 0;
    while step <= hi {
        let i = hi - step;
        if pred(i) {
            lo = i + 1;
            break;
        }
        hi = i;
        step *= 2;
    }
    // Binary search in lo..hi.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// A map keyed by txn id (or zxid) for keys that arrive in ascending order but for a few: those go to
/// a sorted vector, where a lookup of a recent txn searches back from the end, and the rare
/// key that arrives below the largest one goes to a B-tree.
#[derive(Debug)]
pub(crate) struct TxnMap<V, K = TxnId> {
    /// Ascending.
    sorted: Vec<(K, V)>,
    /// Keys that arrived below `sorted`'s last key; all of them are below it.
    late: BTreeMap<K, V>,
}

impl<V, K> Default for TxnMap<V, K> {
    fn default() -> Self {
        TxnMap {
            sorted: Vec::new(),
            late: BTreeMap::new(),
        }
    }
}

impl<V, K: Ord + Copy> TxnMap<V, K> {
    pub(crate) fn get(&self, t: &K) -> Option<&V> {
        let i = partition_point_from_end(&self.sorted, |(k, _)| k < t);
        match self.sorted.get(i) {
            Some((k, v)) if k == t => Some(v),
            _ if self.late.is_empty() => None,
            _ => self.late.get(t),
        }
    }

    pub(crate) fn get_mut(&mut self, t: &K) -> Option<&mut V> {
        let i = partition_point_from_end(&self.sorted, |(k, _)| k < t);
        match self.sorted.get_mut(i) {
            Some((k, v)) if k == t => Some(v),
            _ => self.late.get_mut(t),
        }
    }

    /// Inserts or replaces.
    pub(crate) fn insert(&mut self, t: K, v: V) {
        let i = partition_point_from_end(&self.sorted, |(k, _)| *k < t);
        match self.sorted.get_mut(i) {
            None => self.sorted.push((t, v)),
            Some((k, old)) if *k == t => *old = v,
            Some(_) => {
                self.late.insert(t, v);
            }
        }
    }

    /// The entries from `lo` to `hi` inclusive, ascending; cheap for recent txns.
    pub(crate) fn between(&self, lo: K, hi: K) -> impl Iterator<Item = (&K, &V)> + '_ {
        let start = partition_point_from_end(&self.sorted, |(k, _)| *k < lo);
        let end = start + self.sorted[start..].partition_point(|(k, _)| *k <= hi);
        merge(
            self.sorted[start..end].iter().map(|(k, v)| (k, v)),
            self.late.range(lo..=hi),
        )
    }
}

/// Two ascending sequences of entries as one, for maps that keep most keys in order and the
/// few that came late in a B-tree.
pub(crate) fn merge<K: Ord, V>(
    a: impl Iterator<Item = (K, V)>,
    b: impl Iterator<Item = (K, V)>,
) -> impl Iterator<Item = (K, V)> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y.0 < x.0 => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab::{ServerId, Zxid};

    fn t(c: u64) -> TxnId {
        TxnId {
            zxid: Zxid::new(1, c),
            proposer: ServerId(1),
        }
    }

    #[test]
    fn partition_point_from_end_agrees_with_the_slice_method() {
        let list: Vec<u32> = (0..100).map(|x| x * 2).collect();
        for n in 0..=list.len() {
            for x in 0..=200 {
                let l = &list[..n];
                assert_eq!(
                    partition_point_from_end(l, |v| *v < x),
                    l.partition_point(|v| *v < x),
                    "{n} {x}"
                );
            }
        }
    }

    #[test]
    fn between_lists_sorted_and_late_keys_in_order() {
        let mut m = TxnMap::default();
        for c in [1, 2, 5, 8, 3, 9, 4, 7] {
            m.insert(t(c), c);
        }
        let got: Vec<u64> = m.between(t(3), t(8)).map(|(_, v)| *v).collect();
        assert_eq!(got, [3, 4, 5, 7, 8]);
        assert_eq!(m.between(t(10), t(12)).count(), 0);
    }

    #[test]
    fn keys_out_of_order_are_kept_and_replaced() {
        let mut m = TxnMap::default();
        for c in [1, 2, 5, 8, 3, 9, 4, 7] {
            m.insert(t(c), c);
        }
        assert_eq!(m.get(&t(3)), Some(&3), "late");
        assert_eq!(m.get(&t(9)), Some(&9), "sorted");
        assert_eq!(m.get(&t(6)), None);
        m.insert(t(6), 60);
        m.insert(t(5), 50);
        m.insert(t(3), 30);
        assert_eq!(m.get(&t(5)), Some(&50));
        *m.get_mut(&t(3)).unwrap() = 31;
        *m.get_mut(&t(9)).unwrap() = 91;
        assert_eq!(m.get_mut(&t(10)), None);
        let all: Vec<u64> = m.between(t(0), t(100)).map(|(_, v)| *v).collect();
        assert_eq!(all, [1, 2, 31, 4, 50, 60, 7, 8, 91]);
    }
}
