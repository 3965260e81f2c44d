//! The checkers of a run, each shown only the kinds of happening it asked for.
//!
//! A run reports a few happenings per event and most checkers look at one or two kinds of
//! them; dispatching by kind keeps the checkers' cost to the work they actually do.

use check::{Checker, Happening, HappeningKind, View, Violation};

pub struct Checkers {
    checkers: Vec<Box<dyn Checker>>,
    /// Per happening kind, a bit for each checker that looks at it.
    watching: [u64; HappeningKind::COUNT],
}

impl Checkers {
    pub fn new(checkers: Vec<Box<dyn Checker>>) -> Checkers {
        assert!(checkers.len() <= 64, "one bit per checker");
        let mut watching = [0; HappeningKind::COUNT];
        for (i, c) in checkers.iter().enumerate() {
            let interest = c.interest();
            for (k, w) in HappeningKind::all().zip(&mut watching) {
                if interest.contains(k) {
                    *w |= 1 << i;
                }
            }
        }
        Checkers { checkers, watching }
    }

    /// The checkers, in `check::all_checkers()` order.
    pub fn all(&self) -> &[Box<dyn Checker>] {
        &self.checkers
    }

    /// Shows a happening to the checkers that watch its kind, in checker order. Only the first
    /// violation of each invariant is kept: later ones are consequences.
    ///
    /// Inlined into the event loop: most happenings (a proposal or a ping on the wire) are
    /// watched by no checker, and then this is one load.
    #[inline]
    pub fn on(&mut self, h: &Happening<'_>, view: &dyn View, violations: &mut Vec<Violation>) {
        let watchers = self.watching[h.kind().index()];
        if watchers != 0 {
            self.show(watchers, h, view, violations);
        }
    }

    fn show(
        &mut self,
        mut watchers: u64,
        h: &Happening<'_>,
        view: &dyn View,
        violations: &mut Vec<Violation>,
    ) {
        while watchers != 0 {
            let i = watchers.trailing_zeros() as usize;
            watchers &= watchers - 1;
            let before = violations.len();
            self.checkers[i].on(h, view, violations);
            let mut j = before;
            while j < violations.len() {
                let name = violations[j].invariant;
                if violations[..j].iter().any(|v| v.invariant == name) {
                    violations.remove(j);
                } else {
                    j += 1;
                }
            }
        }
    }
}
