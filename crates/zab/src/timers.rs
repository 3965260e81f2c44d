//! A machine's own timer table, kept the way quinn-proto keeps one per connection: the
//! machine sets and cancels its named timers itself, and its driver only asks when the next
//! one is due and then steps it with a timeout. No driver has to track timer generations or
//! tell a stale timer event from a live one.

use std::marker::PhantomData;

/// The named timers of one kind of machine.
pub trait TimerName: Copy + Eq + std::fmt::Debug + 'static {
    /// Every timer, in index order.
    const ALL: &'static [Self];
    fn index(self) -> usize;
}

const MAX: usize = 8;

/// The deadline of each named timer, if armed.
#[derive(Clone, Debug)]
pub struct Timers<T> {
    at: [Option<u64>; MAX],
    name: PhantomData<T>,
}

impl<T: TimerName> Default for Timers<T> {
    fn default() -> Self {
        assert!(T::ALL.len() <= MAX, "at most {MAX} named timers");
        Timers {
            at: [None; MAX],
            name: PhantomData,
        }
    }
}

impl<T: TimerName> Timers<T> {
    /// Arms `timer` for `at_us`, replacing an earlier deadline.
    pub fn set(&mut self, timer: T, at_us: u64) {
        self.at[timer.index()] = Some(at_us);
    }

    pub fn cancel(&mut self, timer: T) {
        self.at[timer.index()] = None;
    }

    pub fn get(&self, timer: T) -> Option<u64> {
        self.at[timer.index()]
    }

    /// The earliest deadline of any armed timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.at.iter().flatten().copied().min()
    }

    /// The timers due at `now`, earliest first (ties in index order), with the deadline each
    /// was armed for. Handling one may re-arm or cancel another, so each must be claimed with
    /// [`Timers::expire`] before it is handled.
    pub fn due(&self, now: u64) -> Vec<(u64, T)> {
        let mut due: Vec<(u64, T)> = T::ALL
            .iter()
            .filter_map(|t| self.get(*t).filter(|at| *at <= now).map(|at| (at, *t)))
            .collect();
        due.sort_by_key(|(at, t)| (*at, t.index()));
        due
    }

    /// Disarms `timer` if it is still armed for `at_us`; whether it was.
    pub fn expire(&mut self, timer: T, at_us: u64) -> bool {
        let slot = &mut self.at[timer.index()];
        if *slot == Some(at_us) {
            *slot = None;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum T {
        A,
        B,
        C,
    }

    impl TimerName for T {
        const ALL: &'static [T] = &[T::A, T::B, T::C];
        fn index(self) -> usize {
            self as usize
        }
    }

    #[test]
    fn due_timers_come_earliest_first_and_each_expires_once() {
        let mut t = Timers::<T>::default();
        assert_eq!(t.next_deadline(), None);
        t.set(T::C, 5);
        t.set(T::B, 5);
        t.set(T::A, 9);
        assert_eq!(t.next_deadline(), Some(5));
        assert_eq!(t.due(7), vec![(5, T::B), (5, T::C)]);
        assert!(t.expire(T::B, 5));
        assert!(!t.expire(T::B, 5), "expired already");
        t.set(T::C, 8);
        assert!(!t.expire(T::C, 5), "re-armed for later");
        t.cancel(T::A);
        assert_eq!(t.next_deadline(), Some(8));
    }
}
