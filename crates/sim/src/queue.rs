//! The event queue: ordered by (time, sequence number), so that events at the same
//! microsecond run in the order they were scheduled.
//!
//! Every push and pop moves entries up and down the heap's levels, which makes the queue the
//! costliest part of the event loop unless it moves little. So the heap holds only 16-byte
//! keys, four children to a node (half the levels of a binary heap, and the four siblings
//! share a cache line), and the events themselves (a delivery carries its whole message) stay
//! put in a slab whose freed slots are reused.

/// Bits of a key below the sequence number: the event's slot.
const SLOT_BITS: u32 = 24;
/// Children per heap node.
const ARITY: usize = 4;

/// `at << 64 | seq << SLOT_BITS | slot`: ordering keys orders by time, then by sequence
/// number, which is unique, so the slot never decides.
type Key = u128;

fn key(at: u64, seq: u64, slot: u32) -> Key {
    u128::from(at) << 64 | u128::from(seq) << SLOT_BITS | u128::from(slot)
}

fn key_at(k: Key) -> u64 {
    (k >> 64) as u64
}

fn key_slot(k: Key) -> usize {
    (k as u32 & ((1 << SLOT_BITS) - 1)) as usize
}

/// A min-queue of timed events.
pub struct Queue<E> {
    /// A 4-ary min-heap: the children of entry i are 4i+1 ..= 4i+4.
    heap: Vec<Key>,
    /// Event storage, indexed by a key's slot; `None` once popped.
    slots: Vec<Option<E>>,
    /// Slots popped and free for reuse.
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue {
            heap: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<E> Queue<E> {
    pub fn push(&mut self, at: u64, event: E) {
        self.seq += 1;
        assert!(self.seq < 1 << (64 - SLOT_BITS), "sequence numbers run out");
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                assert!(self.slots.len() < 1 << SLOT_BITS, "too many pending events");
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        let k = key(at, self.seq, slot);
        // Sift up: move parents down into the hole until k fits.
        let mut i = self.heap.len();
        self.heap.push(k);
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.heap[parent] <= k {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = k;
    }

    pub fn pop(&mut self) -> Option<(u64, E)> {
        let top = *self.heap.first()?;
        let last = self.heap.pop().expect("non-empty");
        let n = self.heap.len();
        if n > 0 {
            // The last key nearly always belongs near the bottom, so move the hole all the
            // way down along the least children first, then sift the last key up into it
            // (fewer comparisons than testing it against every level on the way down).
            let mut i = 0;
            loop {
                let first = ARITY * i + 1;
                let least = if first + ARITY <= n {
                    let h = &self.heap[first..first + ARITY];
                    let (a, ka) = if h[1] < h[0] { (1, h[1]) } else { (0, h[0]) };
                    let (b, kb) = if h[3] < h[2] { (3, h[3]) } else { (2, h[2]) };
                    first + if kb < ka { b } else { a }
                } else if first < n {
                    (first + 1..n).fold(
                        first,
                        |l, c| {
                            if self.heap[c] < self.heap[l] {
                                c
                            } else {
                                l
                            }
                        },
                    )
                } else {
                    break;
                };
                self.heap[i] = self.heap[least];
                i = least;
            }
            while i > 0 {
                let parent = (i - 1) / ARITY;
                if self.heap[parent] <= last {
                    break;
                }
                self.heap[i] = self.heap[parent];
                i = parent;
            }
            self.heap[i] = last;
        }
        let slot = key_slot(top);
        self.free.push(slot as u32);
        let event = self.slots[slot].take().expect("a queued slot is full");
        Some((key_at(top), event))
    }

    pub fn peek_time(&self) -> Option<u64> {
        self.heap.first().map(|k| key_at(*k))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_fifo_at_equal_times() {
        let mut q = Queue::default();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn reused_slots_keep_the_order() {
        let mut q = Queue::default();
        let mut popped = Vec::new();
        for round in 0..100u64 {
            // Three events per round, pushed out of time order; two popped per round, so
            // slots are freed and reused while others are pending.
            q.push(round * 10 + 7, (round, 2));
            q.push(round * 10 + 3, (round, 0));
            q.push(round * 10 + 3, (round, 1));
            popped.extend(q.pop().map(|(_, e)| e));
            popped.extend(q.pop().map(|(_, e)| e));
        }
        popped.extend(std::iter::from_fn(|| q.pop()).map(|(_, e)| e));
        assert!(q.is_empty());
        assert_eq!(popped.len(), 300);
        let mut sorted = popped.clone();
        sorted.sort();
        assert_eq!(popped, sorted, "earliest first, FIFO at equal times");
        assert!(q.slots.len() < 120, "slots are reused: {}", q.slots.len());
    }

    #[test]
    fn matches_a_sorted_reference_under_random_pushes_and_pops() {
        use rand::Rng;
        let mut rng = crate::rng::stream(3, 99);
        let mut q = Queue::default();
        let mut reference = std::collections::BTreeSet::new();
        let mut now = 0u64;
        for n in 0..20_000u64 {
            if rng.gen_bool(0.55) || reference.is_empty() {
                // Few distinct times, so that many events share one.
                let at = now + rng.gen_range(0..50);
                q.push(at, n);
                reference.insert((at, n));
            } else {
                let (at, e) = q.pop().expect("non-empty");
                assert_eq!(Some((at, e)), reference.pop_first());
                assert!(at >= now);
                now = at;
            }
            assert_eq!(q.len(), reference.len());
            assert_eq!(q.peek_time(), reference.first().map(|(at, _)| *at));
        }
    }
}
