//! `zxid-order`: a leader's zxids strictly increase, carry its epoch, and the counter never
//! overflows into the epoch.
//!
//! Zab orders everything by zxid: primary order, the leader's in-order commit (`tryToCommit`
//! waits for `zxid - 1`), sync's DIFF/TRUNC decisions and FastLeaderElection all compare zxids
//! numerically, and the epoch in the high 32 bits is what keeps two leaders' txns apart. A leader
//! that hands out a zxid of another epoch speaks for an epoch it was never elected in, and a
//! counter of 0xffffffff is one step from wrapping into the next epoch, so `Leader.propose`
//! (ZOOKEEPER-1277) shuts the leader down and forces a new election before handing it out.
//! Catches `zk-1277`, where the guard is missing: the counter reaches 0xffffffff and the next
//! zxid is `epoch+1:0`, which followers then ACK as if it acknowledged a NEWLEADER.
//!
//! Incremental: the epoch and last zxid of each current leadership, reset on `Established` and
//! dropped when the leader shuts down or crashes; one comparison per proposal.

use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{Event, ServerId, TxnId, Zxid};

#[derive(Clone, Copy, Debug)]
struct Leadership {
    epoch: u64,
    /// The last zxid proposed in this leadership (`epoch:0` before the first).
    last: Zxid,
}

#[derive(Default)]
pub struct ZxidOrder {
    leading: BTreeMap<ServerId, Leadership>,
    /// Leaderships already reported for proposing outside their epoch.
    foreign_epoch_reported: BTreeSet<(ServerId, u64)>,
    /// Path counts: proposals checked, those compared with the leadership's previous zxid,
    /// and those of a leader not seen establishing (its epoch read from the view).
    proposals: u64,
    compared: u64,
    unknown_leadership: u64,
}

impl ZxidOrder {
    fn on_proposed(&mut self, id: ServerId, txn: TxnId, view: &dyn View, out: &mut Vec<Violation>) {
        self.proposals += 1;
        let known = self.leading.get(&id).copied();
        if known.is_none() {
            self.unknown_leadership += 1;
        }
        let epoch = known
            .map(|l| l.epoch)
            .or_else(|| view.server(id).and_then(|s| s.role_epoch));
        let last = known.map(|l| l.last);
        let zxid = txn.zxid;
        let mut push = |message: String| {
            out.push(Violation {
                invariant: "zxid-order",
                at_us: view.now_us(),
                server: Some(id),
                message,
            })
        };
        if zxid.counter() == Zxid::COUNTER_MAX {
            push(format!(
                "{id} proposed {txn} with counter 0xffffffff: the next zxid would overflow into epoch {}; ZooKeeper's rollover guard shuts the leader down and forces a new election before handing this counter out",
                zxid.epoch() + 1
            ));
        }
        if let Some(epoch) = epoch {
            if zxid.epoch() != epoch && self.foreign_epoch_reported.insert((id, epoch)) {
                let wrapped = zxid.epoch() == epoch + 1
                    && last.is_some_and(|l| l.epoch() == epoch && l.counter() == Zxid::COUNTER_MAX);
                let why = if wrapped {
                    format!(
                        ": its counter wrapped after {} and overflowed into the epoch bits",
                        last.unwrap_or_default()
                    )
                } else {
                    String::new()
                };
                push(format!(
                    "{id}, leader of epoch {epoch}, proposed {txn} carrying epoch {}{why}; a leader's zxids must carry its own epoch, or its txns are indistinguishable from those of another leader",
                    zxid.epoch()
                ));
            }
        }
        if let Some(last) = last {
            self.compared += 1;
            if zxid <= last {
                push(format!(
                    "{id} proposed {txn} after already proposing {last} in epoch {}: a leader's zxids must strictly increase",
                    epoch.unwrap_or_default()
                ));
            }
        }
        if let Some(l) = self.leading.get_mut(&id) {
            l.last = l.last.max(zxid);
        } else if let Some(epoch) = epoch {
            self.leading.insert(id, Leadership { epoch, last: zxid });
        }
    }
}

impl Checker for ZxidOrder {
    fn name(&self) -> &'static str {
        "zxid-order"
    }

    fn interest(&self) -> Interest {
        Interest::of(&[
            HappeningKind::Server(zab::EventKind::Established),
            HappeningKind::Server(zab::EventKind::Proposed),
            HappeningKind::Server(zab::EventKind::LeaderShutdown),
            HappeningKind::Crash,
        ])
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "proposal checked for counter overflow and epoch",
                self.proposals,
            ),
            (
                "proposal compared with the leader's previous zxid",
                self.compared,
            ),
            (
                "proposal by a leader not seen establishing",
                self.unknown_leadership,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        match h {
            Happening::Server { id, event } => match event {
                Event::Established { epoch, .. } => {
                    self.leading.insert(
                        *id,
                        Leadership {
                            epoch: *epoch,
                            last: Zxid::new(*epoch, 0),
                        },
                    );
                }
                Event::Proposed { txn, .. } => self.on_proposed(*id, *txn, view, out),
                Event::LeaderShutdown { .. } => {
                    self.leading.remove(id);
                }
                _ => {}
            },
            Happening::Crash { id } => {
                self.leading.remove(id);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeView;
    use zab::{ServerState, ZabPhase};

    fn ev(c: &mut ZxidOrder, v: &FakeView, id: u8, event: Event) -> Vec<Violation> {
        let mut out = Vec::new();
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

    fn proposed(e: u64, counter: u64, by: u8) -> Event {
        Event::Proposed {
            txn: TxnId {
                zxid: Zxid::new(e, counter),
                proposer: ServerId(by),
            },
            op: zab::TxnOp::Initial,
            request: None,
        }
    }

    fn established(epoch: u64, by: u8) -> Event {
        Event::Established {
            epoch,
            quorum: vec![ServerId(by), ServerId(1)],
        }
    }

    fn leader_world(epoch: u64) -> FakeView {
        let mut v = FakeView::new(3);
        v.set_state(3, ServerState::Leading, ZabPhase::Broadcast, Some(3), true);
        v.servers.get_mut(&ServerId(3)).unwrap().epoch = epoch;
        v
    }

    #[test]
    fn quiet_for_increasing_zxids_across_leaderships() {
        let mut v = leader_world(2);
        let mut c = ZxidOrder::default();
        crate::assert_fresh(&c);
        assert!(ev(&mut c, &v, 3, established(2, 3)).is_empty());
        for n in 1..=3 {
            assert!(ev(&mut c, &v, 3, proposed(2, n, 3)).is_empty());
        }
        // Near the end of the counter space the guard stops at 0xfffffffe.
        assert!(ev(&mut c, &v, 3, proposed(2, Zxid::COUNTER_MAX - 1, 3)).is_empty());
        assert!(ev(
            &mut c,
            &v,
            3,
            Event::LeaderShutdown {
                reason: "zxid lower 32 bits have rolled over".into()
            }
        )
        .is_empty());
        // A new leadership restarts the counter at epoch:1.
        v.servers.get_mut(&ServerId(3)).unwrap().epoch = 3;
        assert!(ev(&mut c, &v, 3, established(3, 3)).is_empty());
        assert!(ev(&mut c, &v, 3, proposed(3, 1, 3)).is_empty());
        // Another leader of a later epoch, after a crash of s3.
        let mut sink = Vec::new();
        c.on(&Happening::Crash { id: ServerId(3) }, &v, &mut sink);
        assert!(sink.is_empty());
        v.set_state(2, ServerState::Leading, ZabPhase::Broadcast, Some(2), true);
        v.servers.get_mut(&ServerId(2)).unwrap().epoch = 4;
        assert!(ev(&mut c, &v, 2, established(4, 2)).is_empty());
        assert!(ev(&mut c, &v, 2, proposed(4, 1, 2)).is_empty());
        assert_eq!(
            c.paths(),
            [
                ("proposal checked for counter overflow and epoch", 6),
                ("proposal compared with the leader's previous zxid", 6),
                ("proposal by a leader not seen establishing", 0),
            ]
        );
        // A proposal of a leader whose establishment it never saw: its epoch comes from the
        // view.
        let mut c = ZxidOrder::default();
        assert!(ev(&mut c, &v, 2, proposed(4, 2, 2)).is_empty());
        assert_eq!(
            crate::path_count(&c, "proposal by a leader not seen establishing"),
            1
        );
    }

    #[test]
    fn fires_when_the_counter_overflows_into_the_epoch() {
        // zk-1277: no rollover guard.
        let v = leader_world(2);
        let mut c = ZxidOrder::default();
        assert!(ev(&mut c, &v, 3, established(2, 3)).is_empty());
        assert!(ev(&mut c, &v, 3, proposed(2, Zxid::COUNTER_MAX - 1, 3)).is_empty());
        let out = ev(&mut c, &v, 3, proposed(2, Zxid::COUNTER_MAX, 3));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].invariant, "zxid-order");
        assert_eq!(out[0].server, Some(ServerId(3)));
        assert!(
            out[0].message.contains("counter 0xffffffff")
                && out[0].message.contains("overflow into epoch 3"),
            "{}",
            out[0].message
        );
        let out = ev(&mut c, &v, 3, proposed(3, 0, 3));
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .message
                .contains("leader of epoch 2, proposed 3:0@s3 carrying epoch 3")
                && out[0].message.contains("wrapped after 2:4294967295"),
            "{}",
            out[0].message
        );
        // Later txns of the wrapped leadership are the same breach.
        assert!(ev(&mut c, &v, 3, proposed(3, 1, 3)).is_empty());
    }

    #[test]
    fn fires_when_zxids_go_backwards() {
        let v = leader_world(2);
        let mut c = ZxidOrder::default();
        assert!(ev(&mut c, &v, 3, established(2, 3)).is_empty());
        assert!(ev(&mut c, &v, 3, proposed(2, 5, 3)).is_empty());
        let out = ev(&mut c, &v, 3, proposed(2, 5, 3));
        assert_eq!(out.len(), 1);
        assert!(
            out[0].message.contains("after already proposing 2:5"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn fires_when_a_leader_proposes_in_another_epoch() {
        let v = leader_world(2);
        let mut c = ZxidOrder::default();
        assert!(ev(&mut c, &v, 3, established(2, 3)).is_empty());
        let out = ev(&mut c, &v, 3, proposed(1, 7, 3));
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            out[0].message.contains("carrying epoch 1") && !out[0].message.contains("wrapped"),
            "{}",
            out[0].message
        );
    }
}
