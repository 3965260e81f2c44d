//! The event queue: ordered by (time, sequence number), so that events at the same
//! microsecond run in the order they were scheduled.
//!
//! A calendar queue, because the queue is otherwise the costliest part of the event loop.
//! Nearly every event is due within milliseconds (a network delay, an fsync, a client's think
//! time), so time is cut into buckets of 256 µs and the next 512 buckets (131 ms) form a ring
//! of unsorted vectors: scheduling such an event is a push onto its bucket. The bucket being
//! drained is sorted once when its turn comes, and each pop takes its smallest entry. Events
//! further out (timeouts, ticks, faults) wait in a heap and join their bucket when it comes
//! up. Entries are 16-byte keys; the events themselves (a delivery carries its whole message)
//! stay put in a slab whose freed slots are reused.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Bits of a key below the sequence number: the event's slot.
const SLOT_BITS: u32 = 24;
/// A bucket spans 2^SHIFT µs.
const SHIFT: u32 = 8;
/// Buckets in the ring.
const RING: usize = 512;
const WORDS: usize = RING / 64;

/// `at << 64 | seq << SLOT_BITS | slot`: ordering keys orders by time, then by sequence
/// number, which is unique, so the slot never decides.
type Key = u128;

fn key(at: u64, seq: u64, slot: u32) -> Key {
    u128::from(at) << 64 | u128::from(seq) << SLOT_BITS | u128::from(slot)
}

fn key_at(k: Key) -> u64 {
    (k >> 64) as u64
}

fn key_bucket(k: Key) -> u64 {
    key_at(k) >> SHIFT
}

fn key_seq(k: Key) -> u64 {
    (k as u64) >> SLOT_BITS
}

fn key_slot(k: Key) -> usize {
    (k as u32 & ((1 << SLOT_BITS) - 1)) as usize
}

/// A min-queue of timed events.
pub struct Queue<E> {
    /// Bucket `cur`, sorted ascending from `head` (entries before it are popped); also
    /// anything scheduled for an earlier bucket. Ascending, because an event scheduled into the
    /// bucket being drained is due after nearly all of it, so it goes in near the end and
    /// moves few entries. Drained, it stays empty on bucket `cur` until the next event is
    /// wanted (see [`Queue::fill`]).
    current: Vec<Key>,
    head: usize,
    cur: u64,
    /// Bucket `b` for `cur < b < cur + RING`, unsorted, at index `b % RING`.
    ring: Vec<Vec<Key>>,
    /// Which ring buckets hold keys, one bit each.
    occupied: [u64; WORDS],
    /// Keys of buckets from `cur + RING` on, as they were when scheduled.
    far: BinaryHeap<Reverse<Key>>,
    len: usize,
    /// Event storage, indexed by a key's slot; `None` once popped.
    slots: Vec<Option<E>>,
    /// Slots popped and free for reuse.
    free: Vec<u32>,
    seq: u64,
    /// The sequence number of the event popped last.
    popped_seq: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue {
            current: Vec::new(),
            head: 0,
            cur: 0,
            ring: (0..RING).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            far: BinaryHeap::new(),
            len: 0,
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            popped_seq: 0,
        }
    }
}

impl<E> Queue<E> {
    pub fn push(&mut self, at: u64, event: E) {
        let seq = self.reserve();
        self.push_reserved(at, seq, event);
    }

    /// The sequence number the next push would take, taken now for an event that may be
    /// pushed later with [`Queue::push_reserved`]: it then runs where it would have, had it
    /// been pushed at this moment.
    pub fn reserve(&mut self) -> u64 {
        self.seq += 1;
        assert!(self.seq < 1 << (64 - SLOT_BITS), "sequence numbers run out");
        self.seq
    }

    /// Pushes an event with a sequence number from [`Queue::reserve`]; `(at, seq)` must not be
    /// before the event popped last.
    pub fn push_reserved(&mut self, at: u64, seq: u64, event: E) {
        debug_assert!(seq <= self.seq, "a sequence number not reserved");
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
        let k = key(at, seq, slot);
        let b = key_bucket(k);
        self.len += 1;
        // Even into an empty queue, a key goes where its bucket says, and `cur` stays: making
        // its bucket the current one would put every event scheduled after it, but due
        // earlier, into `current` one by one. A run schedules its faults and its liveness
        // deadline before it boots a server, so that would be all of its traffic up to them.
        if b <= self.cur {
            let i = self.head + self.current[self.head..].partition_point(|x| *x < k);
            self.current.insert(i, k);
        } else if b < self.cur + RING as u64 {
            let i = b as usize % RING;
            self.ring[i].push(k);
            self.occupied[i / 64] |= 1 << (i % 64);
        } else {
            self.far.push(Reverse(k));
        }
    }

    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.fill()?;
        let k = self.current[self.head];
        self.head += 1;
        self.len -= 1;
        if self.head == self.current.len() {
            // Stay on this bucket until the next pop: what the popped event schedules next is
            // due from this bucket on, and goes to the ring, not into a bucket moved past it.
            self.current.clear();
            self.head = 0;
        }
        self.popped_seq = key_seq(k);
        let slot = key_slot(k);
        self.free.push(slot as u32);
        let event = self.slots[slot].take().expect("a queued slot is full");
        Some((key_at(k), event))
    }

    /// Makes `current` hold the next keys, moving on to the next bucket if it is drained;
    /// `None` if the queue is empty.
    ///
    /// Moving on only when the next event is wanted, not when the last one of a bucket is
    /// popped, matters: were `cur` to jump ahead to a far bucket (a timeout seconds away)
    /// while the popped event still has messages to schedule, every event due before that
    /// bucket would have to be sorted into `current` one by one, and a busy run (a vote storm)
    /// would spend its time moving keys.
    fn fill(&mut self) -> Option<()> {
        if self.head == self.current.len() {
            if self.len == 0 {
                return None;
            }
            self.advance();
        }
        Some(())
    }

    /// Moves on to the next bucket that holds keys, in the ring or in the far heap.
    fn advance(&mut self) {
        let in_ring = self.next_occupied();
        let in_far = self.far.peek().map(|Reverse(k)| key_bucket(*k));
        let next = match (in_ring, in_far) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).expect("keys left somewhere"),
        };
        // Every ring bucket lies in (cur, cur + RING) and none is below `next`, so they all
        // stay inside the moved window.
        self.cur = next;
        if in_ring == Some(next) {
            let i = next as usize % RING;
            std::mem::swap(&mut self.current, &mut self.ring[i]);
            self.occupied[i / 64] &= !(1 << (i % 64));
        }
        while let Some(Reverse(k)) = self.far.peek() {
            if key_bucket(*k) != next {
                break;
            }
            self.current.push(*k);
            self.far.pop();
        }
        self.current.sort_unstable();
    }

    /// The first bucket after `cur` whose ring slot holds keys.
    fn next_occupied(&self) -> Option<u64> {
        let start = (self.cur + 1) as usize % RING;
        for step in 0..=WORDS {
            let w = (start / 64 + step) % WORDS;
            let mut bits = self.occupied[w];
            if step == 0 {
                bits &= !0u64 << (start % 64);
            } else if step == WORDS {
                bits &= !(!0u64 << (start % 64));
            }
            if bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                let ahead = (i + RING - start) % RING;
                return Some(self.cur + 1 + ahead as u64);
            }
        }
        None
    }

    /// The sequence number of the event popped last (0 before the first): with its time,
    /// where the run is in the order of events.
    pub fn popped_seq(&self) -> u64 {
        self.popped_seq
    }

    /// When the next event is due. Takes `&mut self` because it may move on to the next
    /// bucket, as [`Queue::pop`] would.
    pub fn peek_time(&mut self) -> Option<u64> {
        self.fill()?;
        Some(key_at(self.current[self.head]))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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

    /// The current bucket holds only what is due in it: a deadline scheduled first, or the
    /// last event of a bucket popped just before its handler schedules more, must not move it
    /// ahead of the traffic, or every later event is sorted in one by one.
    #[test]
    fn the_current_bucket_holds_only_its_own_events() {
        let mut q = Queue::default();
        q.push(50_000_000, u64::MAX);
        let mut now = 0;
        let mut most = 0;
        // A message every 10 µs, each delivered 1-5 ms later, for a simulated second.
        for n in 0..100_000u64 {
            q.push(now + 1_000 + (n * 7_919) % 4_000, n);
            now += 10;
            while q.peek_time().is_some_and(|at| at <= now) {
                q.pop();
                most = most.max(q.current.len() - q.head);
            }
        }
        // A 256 µs bucket of this traffic holds about 26 messages.
        assert!(most <= 64, "current held {most} keys");
        let mut last = 0;
        while let Some((at, _)) = q.pop() {
            assert!(at >= last);
            last = at;
        }
        assert_eq!(last, 50_000_000);
    }

    #[test]
    fn draining_a_bucket_does_not_move_past_what_its_last_event_schedules() {
        let mut q = Queue::default();
        q.push(50_000_000, 0);
        q.push(100, 0);
        // The only near event; when it is popped the ring is empty and only the far event is
        // left. Its handler then fans out 200 messages, each answered in turn.
        let (now, _) = q.pop().expect("non-empty");
        for n in 0..200u64 {
            q.push(now + 1_000 + (n * 7_919) % 4_000, n);
        }
        let mut most = 0;
        while let Some((at, n)) = q.pop() {
            if n < 200 {
                q.push(at + 1_000 + (n * 7_919) % 4_000, n + 1_000);
            }
            most = most.max(q.current.len() - q.head);
        }
        assert!(most <= 32, "current held {most} keys");
    }

    #[test]
    fn matches_a_sorted_reference_under_random_pushes_and_pops() {
        use rand::Rng;
        let mut rng = crate::rng::stream(3, 99);
        let mut q = Queue::default();
        let mut reference = std::collections::BTreeSet::new();
        let mut now = 0u64;
        for n in 0..200_000u64 {
            if rng.gen_bool(0.55) || reference.is_empty() {
                // Many events share a time; some are due in the current bucket, some in
                // the ring, some beyond it, and the ring wraps many times.
                let at = now
                    + match rng.gen_range(0..10) {
                        0..=3 => rng.gen_range(0..50),
                        4..=7 => rng.gen_range(0..5_000),
                        8 => rng.gen_range(0..400_000),
                        _ => rng.gen_range(0..3) * 1_000_000,
                    };
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
