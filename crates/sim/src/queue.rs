//! The event queue: ordered by (time, sequence number), so that events at the same
//! microsecond run in the order they were scheduled.
//!
//! The heap holds only small keys; the events themselves (a delivery carries its whole
//! message) stay put in a slab whose freed slots are reused. Every push and pop moves keys up
//! and down the heap's levels, and moving 24-byte keys instead of whole events is what keeps
//! the queue from dominating the event loop.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    at: u64,
    seq: u64,
    slot: u32,
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse for earliest first. Sequence numbers are unique,
        // so the slot never decides.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A min-queue of timed events.
pub struct Queue<E> {
    heap: BinaryHeap<Key>,
    /// Event storage, indexed by `Key::slot`; `None` once popped.
    slots: Vec<Option<E>>,
    /// Slots popped and free for reuse.
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<E> Queue<E> {
    pub fn push(&mut self, at: u64, event: E) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 pending events")
            }
        };
        self.heap.push(Key {
            at,
            seq: self.seq,
            slot,
        });
    }

    pub fn pop(&mut self) -> Option<(u64, E)> {
        let key = self.heap.pop()?;
        self.free.push(key.slot);
        let event = self.slots[key.slot as usize]
            .take()
            .expect("a queued slot is full");
        Some((key.at, event))
    }

    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|k| k.at)
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
}
