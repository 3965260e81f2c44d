//! The last rows of the trace, kept while reading so that a violation can take a snapshot
//! of what led up to it without the whole trace in memory.
//!
//! Two limits apply: the time window before the violation, and a number of rows, because a
//! vote storm can put hundreds of thousands of messages in a few hundred milliseconds and a
//! diagram of them would be neither readable nor small. Over the row limit, routine rows
//! (heartbeats, log appends, client traffic) go first, oldest first.

use super::model::SeqItem;
use std::collections::VecDeque;

pub struct Recent {
    window_us: u64,
    max_rows: usize,
    rows: VecDeque<SeqItem>,
    /// Times of every row still in the window, kept or not, to say how many were left out.
    times: VecDeque<u64>,
}

impl Recent {
    pub fn new(window_us: u64, max_rows: usize) -> Recent {
        Recent {
            window_us,
            max_rows: max_rows.max(1),
            rows: VecDeque::new(),
            times: VecDeque::new(),
        }
    }

    fn forget_before(&mut self, now: u64) {
        let from = now.saturating_sub(self.window_us);
        while self.rows.front().is_some_and(|r| r.t_us() < from) {
            self.rows.pop_front();
        }
        while self.times.front().is_some_and(|t| *t < from) {
            self.times.pop_front();
        }
    }

    pub fn push(&mut self, item: SeqItem) {
        let t = item.t_us();
        self.forget_before(t);
        self.times.push_back(t);
        self.rows.push_back(item);
        if self.rows.len() > self.max_rows {
            match self.rows.iter().position(SeqItem::routine) {
                Some(i) => {
                    self.rows.remove(i);
                }
                None => {
                    self.rows.pop_front();
                }
            }
        }
    }

    /// The rows of the window ending at `now`, oldest first, and how many were left out.
    pub fn snapshot(&mut self, now: u64) -> (Vec<SeqItem>, u64) {
        self.forget_before(now);
        let rows: Vec<SeqItem> = self.rows.iter().cloned().collect();
        let omitted = (self.times.len() - rows.len()) as u64;
        (rows, omitted)
    }
}

#[cfg(test)]
mod tests {
    use super::super::line::Endpoint;
    use super::super::model::{Fate, SeqMessage};
    use super::*;

    fn note(t_us: u64) -> SeqItem {
        SeqItem::Note {
            t_us,
            at: None,
            text: format!("at {t_us}"),
            alarm: false,
            routine: false,
        }
    }

    fn ping(t_us: u64) -> SeqItem {
        SeqItem::Send {
            t_us,
            msg: SeqMessage {
                id: t_us,
                from: Endpoint::Server(1),
                to: Endpoint::Server(2),
                name: "PING".into(),
                zxid: None,
            },
            fate: Fate::InFlight,
        }
    }

    #[test]
    fn over_the_limit_routine_rows_go_first() {
        let mut r = Recent::new(1000, 3);
        for item in [note(1), ping(2), ping(3), note(4), ping(5)] {
            r.push(item);
        }
        let (rows, omitted) = r.snapshot(6);
        let times: Vec<u64> = rows.iter().map(SeqItem::t_us).collect();
        assert_eq!(
            times,
            vec![1, 4, 5],
            "the protocol's rows stay, the oldest pings go"
        );
        assert_eq!(omitted, 2);
    }

    #[test]
    fn keeps_the_window_and_at_most_max_rows() {
        let mut r = Recent::new(100, 3);
        for t in [0, 10, 150, 160, 170, 180, 190] {
            r.push(note(t));
        }
        let (rows, omitted) = r.snapshot(200);
        let times: Vec<u64> = rows.iter().map(SeqItem::t_us).collect();
        assert_eq!(times, vec![170, 180, 190]);
        assert_eq!(
            omitted, 2,
            "150 and 160 were in the window but beyond the row limit"
        );
        let (rows, omitted) = r.snapshot(400);
        assert!(rows.is_empty());
        assert_eq!(omitted, 0);
    }
}
