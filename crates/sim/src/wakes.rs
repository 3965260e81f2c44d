//! A process's wake-ups: which it is owed, and which of them are in the event queue.
//!
//! A machine says when it next needs a timeout (`next_deadline`), and the simulator wakes
//! it then. The plain way, one queued wake-up per deadline the machine ever named, is what
//! defines a run's order of events: a wake-up for a deadline takes its place in the queue
//! (its time, and the sequence number of the moment the deadline was named), and runs the
//! timeout if the deadline has come by then. But a timer pushed later at every message, as
//! an election's wait is in a vote storm, then leaves thousands of wake-ups queued that
//! find their deadline gone and do nothing: 15 % of the events of the slowest `sim hunt`
//! seed, each a trip through the queue.
//!
//! So a wake-up is only owed (its place reserved with [`crate::queue::Queue::reserve`]) until
//! it could matter, and is queued, at that same place, when it could: the first owed one at
//! or after the deadline (the one that would run the timeout), unless an earlier one is
//! queued already (which, running early, queues the next). A paused process queues every
//! owed one, since a wake-up that comes while it is paused is held and runs the timeout on
//! resume even if its deadline was later. Every wake-up that runs is one the plain way would
//! run at the same place, and every one left out would have done nothing, so a run is event
//! for event the same, with fewer events.

use std::collections::VecDeque;

/// Where an event runs: its time and its sequence number.
pub type Place = (u64, u64);

/// One owed wake-up: at `place`, for the deadline `at` (earlier than `place.0` when the
/// deadline had already passed when it was named).
#[derive(Clone, Copy, Debug)]
struct Owed {
    place: Place,
    at: u64,
}

#[derive(Debug, Default)]
pub struct Wakes {
    /// Ascending by place.
    owed: VecDeque<Owed>,
    /// The places of the owed wake-ups that are in the event queue (a handful).
    queued: Vec<Place>,
    /// The wake-up owed last, and the deadline whose wake-up was queued last with its place:
    /// a machine names the same deadline again at most of its steps.
    last_owed: Option<Owed>,
    last_queued: Option<(u64, Place)>,
}

impl Wakes {
    /// Whether a wake-up for the deadline `at` is owed and has not run, `now` being the place
    /// of the event that runs. One that is queued but past `now` is held by a pause and has
    /// not run yet.
    pub fn owes(&self, at: u64, now: Place) -> bool {
        let pending = |w: &Owed| w.place > now || self.queued.contains(&w.place);
        if self.last_owed.is_some_and(|w| w.at == at && pending(&w)) {
            return true;
        }
        if self.owed.back().is_none_or(|w| w.place.0 < at) {
            return false;
        }
        let from = self.first(|w| w.place.0 >= at);
        self.owed.range(from..).any(|w| w.at == at && pending(w))
    }

    /// Owes a wake-up for `at` at `place`, whose sequence number is newer than any owed.
    pub fn owe(&mut self, at: u64, place: Place, now: Place) {
        self.forget_run(now);
        let i = self.first(|w| w.place > place);
        self.owed.insert(i, Owed { place, at });
        self.last_owed = Some(Owed { place, at });
    }

    /// The owed wake-up that would run the timeout for `deadline`: the first at or after it
    /// still to come after `now`, if it is not queued and no earlier one is either. Marked
    /// queued: the caller queues it.
    pub fn queue_for(&mut self, deadline: u64, now: Place) -> Option<Place> {
        // The same deadline as last time, its wake-up still queued: nothing owed since can
        // come before that one (a new one is owed only for a new deadline, and comes last).
        if let Some((d, place)) = self.last_queued {
            if d == deadline && self.queued.contains(&place) {
                return None;
            }
        }
        let from = self.first(|w| w.place.0 >= deadline);
        let next = self.owed.range(from..).find(|w| w.place > now)?.place;
        if self.queued.iter().any(|q| *q <= next) {
            if self.queued.contains(&next) {
                self.last_queued = Some((deadline, next));
            }
            return None;
        }
        self.queued.push(next);
        self.last_queued = Some((deadline, next));
        Some(next)
    }

    /// Every owed wake-up still to come after `now` that is not queued yet, marked queued (a
    /// pause: each of them is held if it comes while paused).
    pub fn queue_all(&mut self, now: Place) -> Vec<Place> {
        self.forget_run(now);
        let new: Vec<Place> = self
            .owed
            .iter()
            .map(|w| w.place)
            .filter(|p| *p > now && !self.queued.contains(p))
            .collect();
        self.queued.extend(&new);
        new
    }

    /// The queued wake-up at `place` runs: it and every owed one before it are over.
    pub fn ran(&mut self, place: Place) {
        self.queued.retain(|q| *q != place);
        while self.owed.front().is_some_and(|w| w.place <= place) {
            self.owed.pop_front();
        }
    }

    pub fn clear(&mut self) {
        *self = Wakes::default();
    }

    /// The first index whose wake-up is `after` (false for a prefix, true for the rest), found
    /// from the back: what is looked for is nearly always among the last, since a deadline is
    /// nearly always the latest the machine named.
    fn first(&self, after: impl Fn(&Owed) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.owed.len());
        let mut step = 1;
        while hi > lo {
            let probe = hi.saturating_sub(step).max(lo);
            if after(&self.owed[probe]) {
                hi = probe;
                step *= 2;
            } else {
                lo = probe + 1;
                break;
            }
        }
        // The answer is in lo..=hi.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if after(&self.owed[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        hi
    }

    /// Drops the owed wake-ups, not queued, whose place is already behind `now`: they would
    /// have found their deadline not yet come and done nothing.
    fn forget_run(&mut self, now: Place) {
        while let Some(w) = self.owed.front() {
            if w.place > now || self.queued.contains(&w.place) {
                break;
            }
            self.owed.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_pushed_later_queues_one_wake_up_at_a_time() {
        let mut w = Wakes::default();
        w.owe(100, (100, 1), (0, 0));
        assert_eq!(w.queue_for(100, (0, 0)), Some((100, 1)));
        // Pushed later twice before the first comes: owed, not queued.
        w.owe(150, (150, 2), (10, 5));
        assert_eq!(w.queue_for(150, (10, 5)), None);
        w.owe(200, (200, 3), (20, 6));
        assert_eq!(w.queue_for(200, (20, 6)), None);
        assert!(w.owes(150, (20, 6)) && w.owes(200, (20, 6)));
        // The first comes early and queues the one for the deadline now, at its own place;
        // the one for 150 is gone, as it would have done nothing.
        w.ran((100, 1));
        assert_eq!(w.queue_for(200, (100, 1)), Some((200, 3)));
        assert!(!w.owes(150, (160, 9)));
        assert!(w.owes(200, (160, 9)));
    }

    #[test]
    fn a_deadline_named_again_is_owed_and_queued_once() {
        let mut w = Wakes::default();
        w.owe(100, (100, 1), (0, 0));
        assert_eq!(w.queue_for(100, (0, 0)), Some((100, 1)));
        for step in 2..10 {
            assert!(w.owes(100, (50, step)));
            assert_eq!(w.queue_for(100, (50, step)), None);
        }
        // Once it has run, the same deadline is owed no more (it has passed).
        w.ran((100, 1));
        assert!(!w.owes(100, (100, 1)));
        assert_eq!(w.queue_for(100, (100, 1)), None);
    }

    #[test]
    fn a_deadline_moved_earlier_queues_its_own() {
        let mut w = Wakes::default();
        w.owe(500, (500, 1), (0, 0));
        assert_eq!(w.queue_for(500, (0, 0)), Some((500, 1)));
        w.owe(300, (300, 2), (10, 2));
        assert_eq!(w.queue_for(300, (10, 2)), Some((300, 2)));
        // Back to 500: the wake-up owed for it since the start still is, at its place.
        assert!(w.owes(500, (20, 3)));
        assert_eq!(w.queue_for(500, (20, 3)), None);
    }

    #[test]
    fn a_passed_wake_up_is_owed_only_if_queued() {
        let mut w = Wakes::default();
        w.owe(100, (100, 1), (0, 0));
        w.owe(200, (200, 2), (0, 0));
        assert_eq!(w.queue_for(200, (0, 0)), Some((200, 2)));
        // At 250 neither has run: 100's time has passed unqueued (it did nothing), 200's
        // is queued and held by a pause.
        assert!(!w.owes(100, (250, 7)));
        assert!(w.owes(200, (250, 7)));
    }

    #[test]
    fn a_pause_queues_every_owed_wake_up_to_come() {
        let mut w = Wakes::default();
        w.owe(100, (100, 1), (0, 0));
        w.owe(200, (200, 2), (0, 0));
        w.owe(300, (300, 3), (0, 0));
        assert_eq!(w.queue_for(100, (0, 0)), Some((100, 1)));
        assert_eq!(w.queue_all((150, 4)), vec![(200, 2), (300, 3)]);
        assert_eq!(w.queue_all((150, 4)), Vec::<Place>::new());
    }

    #[test]
    fn searching_from_the_back_finds_what_a_binary_search_does() {
        for len in 0..40u64 {
            let mut w = Wakes::default();
            for i in 0..len {
                w.owed.push_back(Owed {
                    place: (10 * (i / 3), i),
                    at: 0,
                });
            }
            for t in 0..(10 * len / 3 + 20) {
                let want = w.owed.partition_point(|o| o.place.0 < t);
                assert_eq!(w.first(|o| o.place.0 >= t), want, "len {len}, t {t}");
            }
        }
    }
}
