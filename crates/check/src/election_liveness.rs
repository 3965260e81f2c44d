//! `election-liveness`: once the faults have stopped and a quorum of voting servers is up and
//! connected, a leader is established with a synced quorum within `liveness_ms`.
//!
//! Checked once, at [`Happening::LivenessDeadline`]. A run whose surviving servers cannot
//! form a connected quorum owes no leader (2 of 4 is no majority). The promise is kept if an
//! established leader held its epoch at any moment between the end of the faults and the
//! deadline, even if it has stepped down by the deadline: a leader gives up on its own at the
//! zxid rollover guard, and the election that follows is not a failure to elect. Whether work
//! then gets done is `progress`'s concern.
//!
//! Incremental: the servers currently leading an established epoch, and when the last such
//! leadership ended.

use crate::view::{connected_quorum, leader_with_quorum};
use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::BTreeSet;
use zab::{Event, ServerId};

#[derive(Default)]
pub struct ElectionLiveness {
    leading: BTreeSet<ServerId>,
    last_leadership_end_us: Option<u64>,
    /// Path counts: deadlines judged with a connected quorum, and those met only by a
    /// leadership that ended after the faults (the rollover guard's own step-down).
    judged: u64,
    stepped_down: u64,
}

impl ElectionLiveness {
    fn ended(&mut self, id: ServerId, now: u64) {
        if self.leading.remove(&id) {
            self.last_leadership_end_us = Some(now);
        }
    }
}

impl Checker for ElectionLiveness {
    fn name(&self) -> &'static str {
        "election-liveness"
    }

    fn interest(&self) -> Interest {
        Interest::of(&[
            HappeningKind::Server(zab::EventKind::Established),
            HappeningKind::Server(zab::EventKind::LeaderShutdown),
            HappeningKind::Crash,
            HappeningKind::LivenessDeadline,
        ])
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "liveness deadline judged with a connected quorum",
                self.judged,
            ),
            (
                "deadline met by a leader that stepped down",
                self.stepped_down,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        let faults_over_us = match h {
            Happening::Server {
                id,
                event: Event::Established { .. },
            } => {
                self.leading.insert(*id);
                return;
            }
            Happening::Server {
                id,
                event: Event::LeaderShutdown { .. },
            }
            | Happening::Crash { id } => {
                self.ended(*id, view.now_us());
                return;
            }
            Happening::LivenessDeadline { faults_over_us } => faults_over_us,
            _ => return,
        };
        let Some(quorum) = connected_quorum(view) else {
            return;
        };
        self.judged += 1;
        if leader_with_quorum(view).is_some() || !self.leading.is_empty() {
            return;
        }
        if self
            .last_leadership_end_us
            .is_some_and(|t| t >= *faults_over_us)
        {
            self.stepped_down += 1;
            return;
        }
        let states: Vec<String> = view
            .members()
            .iter()
            .map(|id| match view.server(*id) {
                Some(s) => format!("{id} {} {}", s.state.name(), s.phase.name()),
                None => format!("{id} down"),
            })
            .collect();
        out.push(Violation {
            invariant: "election-liveness",
            at_us: view.now_us(),
            server: None,
            message: format!(
                "no leader established with a synced quorum {} ms after the last fault ended (at {} ms), although {} were up and connected; states: {}",
                view.now_us().saturating_sub(*faults_over_us) / 1000,
                faults_over_us / 1000,
                quorum.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
                states.join(", ")
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeView;
    use zab::{ServerId, ServerState, ZabPhase};

    fn check(v: &FakeView) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut c = ElectionLiveness::default();
        crate::assert_fresh(&c);
        c.on(
            &Happening::LivenessDeadline {
                faults_over_us: 1_000_000,
            },
            v,
            &mut out,
        );
        let judged = crate::path_count(&c, "liveness deadline judged with a connected quorum");
        assert_eq!(judged, u64::from(connected_quorum(v).is_some()));
        out
    }

    #[test]
    fn fires_when_a_connected_quorum_has_no_leader() {
        let mut v = FakeView::new(3);
        v.now = 11_000_000;
        for id in 1..=3 {
            v.set_state(id, ServerState::Looking, ZabPhase::Election, None, false);
        }
        let out = check(&v);
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .message
                .contains("10000 ms after the last fault ended (at 1000 ms)"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn quiet_with_an_established_leader_and_synced_quorum() {
        let mut v = FakeView::new(3);
        v.set_state(3, ServerState::Leading, ZabPhase::Broadcast, Some(3), true);
        v.set_state(
            1,
            ServerState::Following,
            ZabPhase::Broadcast,
            Some(3),
            false,
        );
        v.set_state(2, ServerState::Looking, ZabPhase::Election, None, false);
        assert!(check(&v).is_empty());
    }

    #[test]
    fn fires_when_the_leader_has_no_synced_quorum() {
        let mut v = FakeView::new(3);
        v.set_state(3, ServerState::Leading, ZabPhase::Broadcast, Some(3), true);
        v.set_state(
            1,
            ServerState::Following,
            ZabPhase::Synchronization,
            Some(3),
            false,
        );
        v.set_state(2, ServerState::Looking, ZabPhase::Election, None, false);
        assert_eq!(check(&v).len(), 1);
    }

    #[test]
    fn quiet_when_a_leader_held_its_epoch_after_the_faults_and_stepped_down() {
        let mut v = FakeView::new(3);
        let est = Event::Established {
            epoch: 2,
            quorum: vec![ServerId(1), ServerId(3)],
        };
        let shutdown = Event::LeaderShutdown {
            reason: "zxid lower 32 bits have rolled over".into(),
        };
        let deadline = Happening::LivenessDeadline {
            faults_over_us: 1_000_000,
        };
        let run = |established_us: u64, shutdown_us: u64, v: &mut FakeView| {
            let mut c = ElectionLiveness::default();
            let mut out = Vec::new();
            v.now = established_us;
            let h = Happening::Server {
                id: ServerId(3),
                event: &est,
            };
            c.on(&h, v, &mut out);
            v.now = shutdown_us;
            let h = Happening::Server {
                id: ServerId(3),
                event: &shutdown,
            };
            c.on(&h, v, &mut out);
            v.now = 11_000_000;
            for id in 1..=3 {
                v.set_state(id, ServerState::Looking, ZabPhase::Election, None, false);
            }
            c.on(&deadline, v, &mut out);
            let stepped_down = crate::path_count(&c, "deadline met by a leader that stepped down");
            assert_eq!(stepped_down, u64::from(out.is_empty()));
            out
        };
        // Led from before the faults ended until after: the promise was kept.
        assert!(run(500_000, 10_900_000, &mut v).is_empty());
        // Established after the faults ended.
        assert!(run(4_000_000, 10_900_000, &mut v).is_empty());
        // Gone before the faults ended, and no leader since.
        assert_eq!(run(200_000, 800_000, &mut v).len(), 1);
    }

    #[test]
    fn quiet_when_no_quorum_is_up() {
        let mut v = FakeView::new(4);
        v.down.insert(ServerId(1));
        v.down.insert(ServerId(2));
        for id in 3..=4 {
            v.set_state(id, ServerState::Looking, ZabPhase::Election, None, false);
        }
        assert!(
            check(&v).is_empty(),
            "2 of 4 is no majority: no leader is owed"
        );
    }

    #[test]
    fn quiet_when_the_quorum_is_partitioned() {
        let mut v = FakeView::new(3);
        v.cut(1, 2);
        v.cut(1, 3);
        v.cut(2, 3);
        assert!(check(&v).is_empty());
    }
}
