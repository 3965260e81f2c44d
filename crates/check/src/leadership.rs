//! `leadership`: at most one server establishes leadership per epoch (Zab.tla Leadership2).
//!
//! Incremental: one map entry per epoch ever established.

use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::BTreeMap;
use zab::{Event, ServerId};

#[derive(Default)]
pub struct Leadership {
    leaders: BTreeMap<u64, ServerId>,
    /// Path counts: establishments checked, and those of an epoch established before.
    checked: u64,
    again: u64,
}

impl Checker for Leadership {
    fn name(&self) -> &'static str {
        "leadership"
    }

    fn interest(&self) -> Interest {
        Interest::of(&[HappeningKind::Server(zab::EventKind::Established)])
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("establishment checked", self.checked),
            ("epoch established again", self.again),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        let Happening::Server {
            id,
            event: Event::Established { epoch, quorum },
        } = h
        else {
            return;
        };
        self.checked += 1;
        if self.leaders.contains_key(epoch) {
            self.again += 1;
        }
        match self.leaders.get(epoch) {
            Some(first) if first != id => out.push(Violation {
                invariant: "leadership",
                at_us: view.now_us(),
                server: Some(*id),
                message: format!(
                    "{id} established epoch {epoch} (NEWLEADER acked by {}), but {first} already established epoch {epoch}",
                    quorum.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
                ),
            }),
            Some(_) => {}
            None => {
                self.leaders.insert(*epoch, *id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeView;

    fn established(c: &mut Leadership, v: &FakeView, id: u8, epoch: u64) -> Vec<Violation> {
        let mut out = Vec::new();
        let event = Event::Established {
            epoch,
            quorum: vec![ServerId(id)],
        };
        c.on(
            &Happening::Server {
                id: ServerId(id),
                event: &event,
            },
            v,
            &mut out,
        );
        out
    }

    #[test]
    fn fires_when_two_servers_establish_the_same_epoch() {
        let v = FakeView::new(3);
        let mut c = Leadership::default();
        crate::assert_fresh(&c);
        assert!(established(&mut c, &v, 3, 2).is_empty());
        let out = established(&mut c, &v, 2, 2);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].invariant, "leadership");
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert!(
            out[0].message.contains("s3 already established epoch 2"),
            "{}",
            out[0].message
        );
        assert_eq!(crate::path_count(&c, "epoch established again"), 1);
    }

    #[test]
    fn quiet_when_each_epoch_has_one_leader() {
        let v = FakeView::new(3);
        let mut c = Leadership::default();
        assert!(established(&mut c, &v, 3, 1).is_empty());
        assert!(established(&mut c, &v, 2, 2).is_empty());
        assert!(established(&mut c, &v, 3, 3).is_empty());
        assert_eq!(crate::path_count(&c, "establishment checked"), 3);
        assert_eq!(crate::path_count(&c, "epoch established again"), 0);
    }
}
