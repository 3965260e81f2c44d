//! `epoch-order`: on every disk currentEpoch <= acceptedEpoch, neither decreases, and no
//! logged zxid is from a later epoch than currentEpoch once synced.
//!
//! The two epoch files are Zab's f.p (acceptedEpoch: the newest NEWEPOCH promised) and f.a
//! (currentEpoch: the newest epoch whose initial history was accepted). Discovery relies on
//! promises only ever going up, and FastLeaderElection ranks candidates by currentEpoch before
//! their last zxid, so a disk whose currentEpoch outruns its acceptedEpoch or its history makes a
//! server look more up to date than it is. ZooKeeper refuses to boot from such files
//! (`QuorumPeer.loadDataBase`, ZOOKEEPER-1653); this checker catches the write that creates them.
//!
//! It also catches `zk-4643`: a follower writes currentEpoch e at NEWLEADER before the txns it
//! logged during sync (all from epochs below e) are durable. When currentEpoch e becomes durable
//! while such an append is still in flight, a crash leaves a disk that claims epoch e without the
//! history it accepted in e; that server then wins an election on its epoch and truncates a
//! committed txn from the others. The breach is of this invariant's own kind (a currentEpoch
//! ahead of the durable history), so it is reported here, at the moment the disk first holds
//! such an image.
//!
//! Incremental: it keeps the last durable (acceptedEpoch, currentEpoch) per server, taken from
//! the disks at the first happening and updated on each durable epoch write; disks survive
//! crashes, so nothing is reset on Crash or Restart. Appends cost one comparison; the
//! unflushed writes are read only when currentEpoch becomes durable on a syncing learner.

use crate::durable_ack::{describe_write, undurable_history};
use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{DiskOp, ServerId, ServerState, ZabPhase, Zxid};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Breach {
    AcceptedDecreased(u64, u64),
    CurrentDecreased(u64, u64),
    CurrentAhead(u64, u64),
    LogAhead(u64, u64),
    HistoryNotDurable(u64),
}

#[derive(Default)]
pub struct EpochOrder {
    started: bool,
    /// Last durable (acceptedEpoch, currentEpoch) per server.
    durable: BTreeMap<ServerId, (u64, u64)>,
    reported: BTreeSet<(ServerId, Breach)>,
    /// Path counts: durable acceptedEpoch and currentEpoch writes checked, currentEpoch
    /// writes of a learner in SYNCHRONIZATION checked against its history, and BROADCAST
    /// appends checked against currentEpoch.
    accepted: u64,
    current: u64,
    current_in_sync: u64,
    appends: u64,
}

impl EpochOrder {
    fn report(
        &mut self,
        view: &dyn View,
        out: &mut Vec<Violation>,
        id: ServerId,
        breach: Breach,
        message: String,
    ) {
        if self.reported.insert((id, breach)) {
            out.push(Violation {
                invariant: "epoch-order",
                at_us: view.now_us(),
                server: Some(id),
                message,
            });
        }
    }

    /// After an epoch write: the durable image must keep currentEpoch <= acceptedEpoch.
    fn check_current_le_accepted(
        &mut self,
        id: ServerId,
        view: &dyn View,
        out: &mut Vec<Violation>,
    ) {
        let disk = view.disk(id);
        let (a, c) = (disk.accepted_epoch, disk.current_epoch);
        if c > a {
            let message = format!(
                "{id}'s disk now holds currentEpoch {c} > acceptedEpoch {a}: it claims to have joined an epoch it never promised; ZooKeeper refuses to start from these files"
            );
            self.report(view, out, id, Breach::CurrentAhead(c, a), message);
        }
    }
}

impl Checker for EpochOrder {
    fn name(&self) -> &'static str {
        "epoch-order"
    }

    fn interest(&self) -> Interest {
        // The first disk write is issued before anything becomes durable, and only durable
        // writes change a disk: seeing DiskIssued too, the checker still records every
        // server's initial epochs before any of them changes.
        Interest::of(&[HappeningKind::DiskIssued, HappeningKind::DiskDurable])
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("accepted epoch write checked", self.accepted),
            ("current epoch write checked", self.current),
            (
                "current epoch durable during a learner's sync",
                self.current_in_sync,
            ),
            (
                "broadcast append checked against current epoch",
                self.appends,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        if !self.started {
            self.started = true;
            for &id in view.members() {
                let d = view.disk(id);
                self.durable.insert(id, (d.accepted_epoch, d.current_epoch));
            }
        }
        let Happening::DiskDurable { id, op } = h else {
            return;
        };
        let id = *id;
        match op {
            DiskOp::AcceptedEpoch(e) => {
                self.accepted += 1;
                let e = *e;
                let prev = self.durable.entry(id).or_insert((e, 0));
                let before = prev.0;
                prev.0 = e;
                if e < before {
                    let message = format!(
                        "{id}'s durable acceptedEpoch went down from {before} to {e}: it broke its promise to ignore leaders of epochs below {before}"
                    );
                    self.report(view, out, id, Breach::AcceptedDecreased(before, e), message);
                }
                self.check_current_le_accepted(id, view, out);
            }
            DiskOp::CurrentEpoch(e) => {
                self.current += 1;
                let e = *e;
                let prev = self.durable.entry(id).or_insert((0, e));
                let before = prev.1;
                prev.1 = e;
                if e < before {
                    let message = format!(
                        "{id}'s durable currentEpoch went down from {before} to {e}: it forgot that it accepted the initial history of epoch {before}"
                    );
                    self.report(view, out, id, Breach::CurrentDecreased(before, e), message);
                }
                self.check_current_le_accepted(id, view, out);
                let Some(s) = view.server(id) else { return };
                let learner = matches!(s.state, ServerState::Following | ServerState::Observing);
                if !learner || s.phase != ZabPhase::Synchronization {
                    return;
                }
                self.current_in_sync += 1;
                if let Some(w) = undurable_history(view, id, Zxid::new(e, 0)) {
                    let message = format!(
                        "{id}'s currentEpoch {e} became durable while {} (accepted during sync before NEWLEADER) is not: a crash now leaves a disk that claims epoch {e} without the history it accepted, and {id} could win an election on that epoch and truncate committed txns",
                        describe_write(w)
                    );
                    self.report(view, out, id, Breach::HistoryNotDurable(e), message);
                }
            }
            DiskOp::Append(txn) | DiskOp::AppendToNewFile(txn) => {
                let Some(s) = view.server(id) else { return };
                if s.phase != ZabPhase::Broadcast {
                    return;
                }
                self.appends += 1;
                let current = view.disk(id).current_epoch;
                let epoch = txn.zxid.epoch();
                if epoch > current {
                    let message = format!(
                        "{id} ({}, BROADCAST) made {} durable while its durable currentEpoch is {current}: its log now holds a zxid of epoch {epoch}, later than its currentEpoch, and ZooKeeper would refuse to restart from this disk",
                        s.state.name(),
                        txn.id()
                    );
                    self.report(view, out, id, Breach::LogAhead(epoch, current), message);
                }
            }
            DiskOp::Truncate(_)
            | DiskOp::DropSnapshotsAfter(_)
            | DiskOp::Snapshot { .. }
            | DiskOp::UpdatingEpoch(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeView;
    use zab::{Event, Txn};

    fn z(e: u64, c: u64) -> Zxid {
        Zxid::new(e, c)
    }

    fn boot(c: &mut EpochOrder, v: &FakeView) {
        let mut out = Vec::new();
        let ev = Event::TreeReset { kept: 0 };
        c.on(
            &Happening::Server {
                id: ServerId(1),
                event: &ev,
            },
            v,
            &mut out,
        );
        assert!(out.is_empty());
    }

    /// Makes `op` durable on `id`'s fake disk and reports it.
    fn durable(c: &mut EpochOrder, v: &mut FakeView, id: u8, op: DiskOp) -> Vec<Violation> {
        v.disks.get_mut(&ServerId(id)).unwrap().apply(&op);
        if let Some(q) = v.unflushed.get_mut(&ServerId(id)) {
            if let Some(pos) = q.iter().position(|w| *w == op) {
                q.remove(pos);
            }
        }
        let mut out = Vec::new();
        c.on(
            &Happening::DiskDurable {
                id: ServerId(id),
                op: &op,
            },
            v,
            &mut out,
        );
        out
    }

    /// s2 has 1:1..1:2 on disk at epoch 1 and syncs with leader s3 in epoch 2 by DIFF.
    fn world() -> FakeView {
        let mut v = FakeView::new(3);
        for id in 1..=3 {
            let d = v.disks.get_mut(&ServerId(id)).unwrap();
            d.accepted_epoch = 1;
            d.current_epoch = 1;
            d.log.push(Txn::initial(z(1, 1)));
            d.log.push(Txn::initial(z(1, 2)));
        }
        v.set_state(
            2,
            ServerState::Following,
            ZabPhase::Discovery,
            Some(3),
            false,
        );
        v
    }

    #[test]
    fn quiet_on_a_correct_sync_crash_and_restart() {
        let mut v = world();
        let mut c = EpochOrder::default();
        crate::assert_fresh(&c);
        boot(&mut c, &v);
        // LEADERINFO 2: acceptedEpoch 2 durable before ACKEPOCH.
        assert!(durable(&mut c, &mut v, 2, DiskOp::AcceptedEpoch(2)).is_empty());
        v.set_state(
            2,
            ServerState::Following,
            ZabPhase::Synchronization,
            Some(3),
            false,
        );
        // NEWLEADER: the synced txn 1:3 is durable before currentEpoch 2 is written.
        assert!(durable(&mut c, &mut v, 2, DiskOp::Append(Txn::initial(z(1, 3)))).is_empty());
        assert!(durable(&mut c, &mut v, 2, DiskOp::CurrentEpoch(2)).is_empty());
        // BROADCAST: proposals of epoch 2 are logged; a slow append of 1:3 from before would
        // be fine too (an older epoch).
        v.set_state(
            2,
            ServerState::Following,
            ZabPhase::Broadcast,
            Some(3),
            false,
        );
        assert!(durable(&mut c, &mut v, 2, DiskOp::Append(Txn::initial(z(2, 1)))).is_empty());
        // Crash and restart: the disk is unchanged and the next epoch goes up again.
        let mut sink = Vec::new();
        c.on(&Happening::Crash { id: ServerId(2) }, &v, &mut sink);
        c.on(&Happening::Restart { id: ServerId(2) }, &v, &mut sink);
        assert!(sink.is_empty());
        v.set_state(2, ServerState::Leading, ZabPhase::Discovery, Some(2), false);
        assert!(durable(&mut c, &mut v, 2, DiskOp::AcceptedEpoch(3)).is_empty());
        v.set_state(
            2,
            ServerState::Leading,
            ZabPhase::Synchronization,
            Some(2),
            false,
        );
        assert!(durable(&mut c, &mut v, 2, DiskOp::CurrentEpoch(3)).is_empty());
        assert_eq!(
            c.paths(),
            [
                ("accepted epoch write checked", 2),
                ("current epoch write checked", 2),
                ("current epoch durable during a learner's sync", 1),
                ("broadcast append checked against current epoch", 1),
            ]
        );
    }

    #[test]
    fn fires_when_current_epoch_is_durable_before_the_synced_txns() {
        // zk-4643: at NEWLEADER s2 appends 1:3 and writes currentEpoch 2 at once; the epoch
        // file is fsynced first.
        let mut v = world();
        let mut c = EpochOrder::default();
        boot(&mut c, &v);
        assert!(durable(&mut c, &mut v, 2, DiskOp::AcceptedEpoch(2)).is_empty());
        v.set_state(
            2,
            ServerState::Following,
            ZabPhase::Synchronization,
            Some(3),
            false,
        );
        v.unflushed.insert(
            ServerId(2),
            vec![
                DiskOp::Append(Txn::initial(z(1, 3))),
                DiskOp::CurrentEpoch(2),
            ],
        );
        let out = durable(&mut c, &mut v, 2, DiskOp::CurrentEpoch(2));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].invariant, "epoch-order");
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert!(
            out[0]
                .message
                .contains("currentEpoch 2 became durable while the append of 1:3"),
            "{}",
            out[0].message
        );
        // The append lands afterwards: nothing new to report.
        assert!(durable(&mut c, &mut v, 2, DiskOp::Append(Txn::initial(z(1, 3)))).is_empty());
    }

    #[test]
    fn fires_when_accepted_epoch_goes_down() {
        // zk-335: a leader derives epoch 2 from its last zxid although it promised epoch 3.
        let mut v = world();
        v.disks.get_mut(&ServerId(1)).unwrap().accepted_epoch = 3;
        let mut c = EpochOrder::default();
        boot(&mut c, &v);
        v.set_state(1, ServerState::Leading, ZabPhase::Discovery, Some(1), false);
        let out = durable(&mut c, &mut v, 1, DiskOp::AcceptedEpoch(2));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].server, Some(ServerId(1)));
        assert!(
            out[0]
                .message
                .contains("acceptedEpoch went down from 3 to 2"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn fires_when_current_epoch_outruns_accepted_or_goes_down() {
        let mut v = world();
        let mut c = EpochOrder::default();
        boot(&mut c, &v);
        let out = durable(&mut c, &mut v, 3, DiskOp::CurrentEpoch(2));
        assert_eq!(out.len(), 1);
        assert!(
            out[0].message.contains("currentEpoch 2 > acceptedEpoch 1"),
            "{}",
            out[0].message
        );
        let out = durable(&mut c, &mut v, 3, DiskOp::CurrentEpoch(1));
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .message
                .contains("currentEpoch went down from 2 to 1"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn fires_when_a_synced_server_logs_a_zxid_beyond_its_current_epoch() {
        // zk-790: a leader broadcasts before its currentEpoch is durable.
        let mut v = world();
        let mut c = EpochOrder::default();
        boot(&mut c, &v);
        assert!(durable(&mut c, &mut v, 3, DiskOp::AcceptedEpoch(2)).is_empty());
        v.set_state(3, ServerState::Leading, ZabPhase::Broadcast, Some(3), true);
        let out = durable(&mut c, &mut v, 3, DiskOp::Append(Txn::initial(z(2, 1))));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].server, Some(ServerId(3)));
        assert!(
            out[0].message.contains("durable currentEpoch is 1")
                && out[0].message.contains("epoch 2"),
            "{}",
            out[0].message
        );
        // Further appends of the same epoch are the same breach.
        assert!(durable(&mut c, &mut v, 3, DiskOp::Append(Txn::initial(z(2, 2)))).is_empty());
    }
}
