//! `durable-ack`: no ACK, ACKEPOCH or NEWLEADER ack leaves a server before what it vouches for
//! is durable.
//!
//! An acknowledgement is a promise the leader counts towards a quorum: a proposal ACK says "this
//! txn survives my crash", the NEWLEADER ack says "I hold your initial history and your epoch on
//! disk" (Zab's ACK-LD; ZooKeeper `Learner.syncWithLeader` since ZOOKEEPER-4643/4646: synced txns
//! fsynced, then `setCurrentEpoch`, then the ack), and ACKEPOCH says "I will never accept an older
//! leader" (`setAcceptedEpoch` before ACKEPOCH). If the promise goes out before the write is
//! durable, a crash in between leaves a quorum that exists only in the leader's head, and a
//! committed txn or an epoch can vanish on failover. Catches `zk-3911` (a follower acks NEWLEADER
//! as soon as currentEpoch alone is durable, while the synced txns are still being written).
//!
//! Checked at the moment the message leaves (`Send`): `view.disk(from)` is then exactly what is
//! durable and `view.unflushed(from)` what is still in flight. A proposal ACK needs only a binary
//! search in the durable log; the unflushed writes (which the view collects into a Vec) are read
//! only for the rare NEWLEADER acks, so the hot Send path allocates nothing. ACKEPOCH is compared
//! with the last LEADERINFO delivered to that learner by that leader, kept per pair and dropped
//! when the learner crashes.

use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{DiskImage, DiskOp, Endpoint, Message, ServerId, Zxid};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum AckKind {
    Proposal,
    NewLeader,
    AckEpoch,
}

#[derive(Default)]
pub struct DurableAck {
    /// Epoch of the last LEADERINFO delivered, per (learner, leader).
    leader_info: BTreeMap<(ServerId, ServerId), u64>,
    /// Breaches already reported: (server, kind, zxid or epoch start).
    reported: BTreeSet<(ServerId, AckKind, Zxid)>,
    /// Path counts: proposal ACKs checked, those of a counter that wrapped into the next
    /// epoch, NEWLEADER acks checked, and ACKEPOCHs checked against a LEADERINFO.
    proposal_acks: u64,
    wrapped_acks: u64,
    newleader_acks: u64,
    ack_epochs: u64,
}

/// Whether the txn with `zxid` is on the durable disk: in the log, or covered by a snapshot.
pub(crate) fn durably_holds(disk: &DiskImage, zxid: Zxid) -> bool {
    // The txn acknowledged is nearly always among the last logged: search from the end.
    let i = crate::txn_map::partition_point_from_end(&disk.log, |t| t.zxid < zxid);
    if disk.log.get(i).is_some_and(|t| t.zxid == zxid) {
        return true;
    }
    // A buggy run may leave the log out of order; look again before blaming the server.
    disk.log.iter().any(|t| t.zxid == zxid) || disk.snapshots.iter().any(|s| s.zxid >= zxid)
}

/// The first write still in flight on `id` that leaves part of its history below `below`
/// undurable: an append of such a txn, a truncation (the disk still holds what was dropped), a
/// snapshot received by SNAP (the disk still holds the old log), or a snapshot holding txns
/// below `below` that neither the durable log nor a durable snapshot covers (after TRUNC the
/// synced txns live only in that snapshot). A periodic snapshot of txns already durable in the
/// log loses nothing and does not count.
pub(crate) fn undurable_history(view: &dyn View, id: ServerId, below: Zxid) -> Option<&DiskOp> {
    let durable_upto = view.disk(id).last_zxid();
    view.unflushed(id).into_iter().find(|op| match op {
        DiskOp::Append(t) | DiskOp::AppendToNewFile(t) => t.zxid < below,
        DiskOp::Truncate(_) => true,
        DiskOp::Snapshot {
            snapshot,
            replaces_log,
        } => *replaces_log || (snapshot.zxid < below && snapshot.zxid > durable_upto),
        DiskOp::AcceptedEpoch(_)
        | DiskOp::CurrentEpoch(_)
        | DiskOp::UpdatingEpoch(_)
        | DiskOp::DropSnapshotsAfter(_) => false,
    })
}

/// How a write still in flight reads in a message.
pub(crate) fn describe_write(op: &DiskOp) -> String {
    match op {
        DiskOp::Append(t) | DiskOp::AppendToNewFile(t) => format!("the append of {}", t.id()),
        DiskOp::Truncate(z) => format!("the truncation of the log to {z}"),
        DiskOp::DropSnapshotsAfter(z) => format!("the deletion of snapshots after {z}"),
        DiskOp::Snapshot {
            snapshot,
            replaces_log: true,
        } => format!(
            "the snapshot at {} received by SNAP (the disk still holds the old log)",
            snapshot.zxid
        ),
        DiskOp::Snapshot { snapshot, .. } => format!(
            "the snapshot at {} (its txns are in no durable log or snapshot)",
            snapshot.zxid
        ),
        DiskOp::AcceptedEpoch(e) => format!("acceptedEpoch {e}"),
        DiskOp::CurrentEpoch(e) => format!("currentEpoch {e}"),
        DiskOp::UpdatingEpoch(on) => format!("the updatingEpoch marker ({on})"),
    }
}

impl DurableAck {
    fn report(
        &mut self,
        view: &dyn View,
        out: &mut Vec<Violation>,
        key: (ServerId, AckKind, Zxid),
        message: String,
    ) {
        if self.reported.insert(key) {
            out.push(Violation {
                invariant: "durable-ack",
                at_us: view.now_us(),
                server: Some(key.0),
                message,
            });
        }
    }

    fn on_ack(
        &mut self,
        s: ServerId,
        leader: ServerId,
        zxid: Zxid,
        view: &dyn View,
        out: &mut Vec<Violation>,
    ) {
        let disk = view.disk(s);
        // A counter-0 ACK is the NEWLEADER ack of the epoch the learner accepted (acceptedEpoch
        // is durable before ACKEPOCH); one of a later epoch can only acknowledge a proposal
        // whose counter wrapped (zk-1277). The learner's role is no guide: it may leave it in
        // the very step that sends the ack.
        let newleader = zxid.counter() == 0 && zxid.epoch() <= disk.accepted_epoch;
        if !newleader {
            self.proposal_acks += 1;
            if zxid.counter() == 0 {
                self.wrapped_acks += 1;
            }
            if durably_holds(disk, zxid) {
                return;
            }
            let message = format!(
                "{s} sent ACK {zxid} to {leader} before {zxid} was durable on its disk (durable log ends at {}); the leader counts this ACK towards a quorum, so a crash of {s} now loses a txn the leader believes replicated",
                disk.last_zxid()
            );
            self.report(view, out, (s, AckKind::Proposal, zxid), message);
            return;
        }
        self.newleader_acks += 1;
        let epoch = zxid.epoch();
        if disk.current_epoch < epoch {
            let message = format!(
                "{s} acknowledged NEWLEADER {zxid} to {leader} while its durable currentEpoch is {} (< {epoch}); a crash now lets it forget that it joined epoch {epoch}",
                disk.current_epoch
            );
            self.report(view, out, (s, AckKind::NewLeader, zxid), message);
            return;
        }
        if let Some(op) = undurable_history(view, s, zxid) {
            let message = format!(
                "{s} acknowledged NEWLEADER {zxid} to {leader} before {} was durable; the ack vouches that its history before epoch {epoch} is on disk, and a crash now loses txns the leader counts as held by a quorum",
                describe_write(op)
            );
            self.report(view, out, (s, AckKind::NewLeader, zxid), message);
        }
    }

    fn on_ack_epoch(
        &mut self,
        s: ServerId,
        leader: ServerId,
        view: &dyn View,
        out: &mut Vec<Violation>,
    ) {
        let Some(&epoch) = self.leader_info.get(&(s, leader)) else {
            return;
        };
        self.ack_epochs += 1;
        let durable = view.disk(s).accepted_epoch;
        if durable < epoch {
            let message = format!(
                "{s} sent ACKEPOCH to {leader} for LEADERINFO epoch {epoch} while its durable acceptedEpoch is {durable}; after a crash now it could accept a leader of an older epoch than the one it promised"
            );
            self.report(
                view,
                out,
                (s, AckKind::AckEpoch, Zxid::new(epoch, 0)),
                message,
            );
        }
    }
}

impl Checker for DurableAck {
    fn name(&self) -> &'static str {
        "durable-ack"
    }

    fn interest(&self) -> Interest {
        use zab::MessageKind as M;
        Interest::of(&[
            HappeningKind::Send(M::Ack),
            HappeningKind::Send(M::AckEpoch),
            HappeningKind::Deliver(M::LeaderInfo),
            HappeningKind::Crash,
        ])
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "proposal ack checked against the durable log",
                self.proposal_acks,
            ),
            (
                "ack of a counter wrapped into the next epoch",
                self.wrapped_acks,
            ),
            (
                "newleader ack checked against epoch and history",
                self.newleader_acks,
            ),
            (
                "ackepoch checked against the durable accepted epoch",
                self.ack_epochs,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        match h {
            Happening::Send {
                from: Endpoint::Server(s),
                to: Endpoint::Server(leader),
                msg,
            } => match msg {
                Message::Ack { zxid } => self.on_ack(*s, *leader, *zxid, view, out),
                Message::AckEpoch { .. } => self.on_ack_epoch(*s, *leader, view, out),
                _ => {}
            },
            Happening::Deliver {
                from: Endpoint::Server(leader),
                to: Endpoint::Server(s),
                msg: Message::LeaderInfo { epoch },
            } => {
                self.leader_info.insert((*s, *leader), *epoch);
            }
            Happening::Crash { id } => self.leader_info.retain(|k, _| k.0 != *id),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeView;
    use std::sync::Arc;
    use zab::{DataTree, ServerState, Snapshot, Txn, ZabPhase};

    fn z(e: u64, c: u64) -> Zxid {
        Zxid::new(e, c)
    }

    fn srv(id: u8) -> Endpoint {
        Endpoint::Server(ServerId(id))
    }

    /// Shows the checker a happening if it asked for its kind, as the simulator does, so that
    /// an interest that leaves out a packet it reads fails these tests.
    fn show(c: &mut DurableAck, v: &FakeView, h: &Happening<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        if c.interest().contains(h.kind()) {
            c.on(h, v, &mut out);
        }
        out
    }

    fn send(c: &mut DurableAck, v: &FakeView, from: u8, to: u8, msg: Message) -> Vec<Violation> {
        let h = Happening::Send {
            from: srv(from),
            to: srv(to),
            msg: &msg,
        };
        show(c, v, &h)
    }

    fn deliver(c: &mut DurableAck, v: &FakeView, from: u8, to: u8, msg: Message) {
        let h = Happening::Deliver {
            from: srv(from),
            to: srv(to),
            msg: &msg,
        };
        assert!(show(c, v, &h).is_empty());
    }

    /// A DIFF sync of s2 to leader s3 in epoch 2: s2 had 1:1, the leader sends 1:2 and 1:3.
    fn diff_synced_world() -> FakeView {
        let mut v = FakeView::new(3);
        v.set_state(
            2,
            ServerState::Following,
            ZabPhase::Synchronization,
            Some(3),
            false,
        );
        v.servers.get_mut(&ServerId(2)).unwrap().epoch = 2;
        let d = v.disks.get_mut(&ServerId(2)).unwrap();
        d.accepted_epoch = 2;
        d.current_epoch = 1;
        d.log.push(Txn::initial(z(1, 1)));
        v
    }

    #[test]
    fn fires_when_newleader_is_acked_before_the_synced_txns_are_durable() {
        // zk-3911: at NEWLEADER s2 logs 1:2 and 1:3 and writes currentEpoch 2; it acks as soon
        // as currentEpoch is durable, with both appends still in flight.
        let mut v = diff_synced_world();
        v.unflushed.insert(
            ServerId(2),
            vec![
                DiskOp::Append(Txn::initial(z(1, 2))),
                DiskOp::Append(Txn::initial(z(1, 3))),
            ],
        );
        v.disks.get_mut(&ServerId(2)).unwrap().current_epoch = 2;
        let mut c = DurableAck::default();
        let out = send(&mut c, &v, 2, 3, Message::Ack { zxid: z(2, 0) });
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].invariant, "durable-ack");
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert!(
            out[0].message.contains("acknowledged NEWLEADER 2:0 to s3")
                && out[0].message.contains("the append of 1:2"),
            "{}",
            out[0].message
        );
        // The second NEWLEADER ack (after UPTODATE) is the same breach: reported once.
        assert!(send(&mut c, &v, 2, 3, Message::Ack { zxid: z(2, 0) }).is_empty());
    }

    #[test]
    fn fires_when_newleader_is_acked_before_current_epoch_is_durable() {
        let mut v = diff_synced_world();
        v.disks
            .get_mut(&ServerId(2))
            .unwrap()
            .log
            .push(Txn::initial(z(1, 2)));
        v.unflushed
            .insert(ServerId(2), vec![DiskOp::CurrentEpoch(2)]);
        let mut c = DurableAck::default();
        let out = send(&mut c, &v, 2, 3, Message::Ack { zxid: z(2, 0) });
        assert_eq!(out.len(), 1);
        assert!(
            out[0].message.contains("durable currentEpoch is 1"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn fires_when_a_trunc_snapshot_is_not_durable_at_newleader_ack() {
        // After TRUNC to 1:1 the synced 1:2 lives only in the NEWLEADER snapshot.
        let mut v = diff_synced_world();
        let mut tree = DataTree::default();
        tree.apply(&Txn::initial(z(1, 1)));
        tree.apply(&Txn::initial(z(1, 2)));
        let snapshot = Arc::new(Snapshot {
            zxid: z(1, 2),
            tree,
        });
        v.unflushed.insert(
            ServerId(2),
            vec![DiskOp::Snapshot {
                snapshot,
                replaces_log: false,
            }],
        );
        v.disks.get_mut(&ServerId(2)).unwrap().current_epoch = 2;
        let mut c = DurableAck::default();
        let out = send(&mut c, &v, 2, 3, Message::Ack { zxid: z(2, 0) });
        assert_eq!(out.len(), 1);
        assert!(
            out[0].message.contains("the snapshot at 1:2"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn quiet_on_a_correct_sync_and_broadcast() {
        let mut v = diff_synced_world();
        let mut c = DurableAck::default();
        crate::assert_fresh(&c);
        // Discovery: LEADERINFO 2 delivered, acceptedEpoch 2 durable, then ACKEPOCH.
        deliver(&mut c, &v, 3, 2, Message::LeaderInfo { epoch: 2 });
        let ack_epoch = Message::AckEpoch {
            current_epoch: Some(1),
            last_zxid: z(1, 1),
            trunc_floor: None,
        };
        assert!(send(&mut c, &v, 2, 3, ack_epoch).is_empty());
        // NEWLEADER: synced txns durable, then currentEpoch, then the ack; a periodic
        // snapshot of durable txns may still be in flight.
        {
            let d = v.disks.get_mut(&ServerId(2)).unwrap();
            d.log.push(Txn::initial(z(1, 2)));
            d.log.push(Txn::initial(z(1, 3)));
            d.current_epoch = 2;
        }
        let mut tree = DataTree::default();
        tree.apply(&Txn::initial(z(1, 1)));
        tree.apply(&Txn::initial(z(1, 2)));
        v.unflushed.insert(
            ServerId(2),
            vec![DiskOp::Snapshot {
                snapshot: Arc::new(Snapshot {
                    zxid: z(1, 2),
                    tree,
                }),
                replaces_log: false,
            }],
        );
        assert!(send(&mut c, &v, 2, 3, Message::Ack { zxid: z(2, 0) }).is_empty());
        // UPTODATE: the second NEWLEADER ack, then outstanding proposals are logged.
        v.unflushed
            .insert(ServerId(2), vec![DiskOp::Append(Txn::initial(z(2, 1)))]);
        assert!(send(&mut c, &v, 2, 3, Message::Ack { zxid: z(2, 0) }).is_empty());
        // The proposal ACK follows its fsync.
        v.unflushed.clear();
        v.disks
            .get_mut(&ServerId(2))
            .unwrap()
            .log
            .push(Txn::initial(z(2, 1)));
        assert!(send(&mut c, &v, 2, 3, Message::Ack { zxid: z(2, 1) }).is_empty());
        // Non-ACK traffic is ignored.
        assert!(send(&mut c, &v, 3, 2, Message::Commit { zxid: z(2, 1) }).is_empty());
        assert!(send(&mut c, &v, 2, 3, Message::Ping { sessions: vec![] }).is_empty());
        assert_eq!(
            c.paths(),
            [
                ("proposal ack checked against the durable log", 1),
                ("ack of a counter wrapped into the next epoch", 0),
                ("newleader ack checked against epoch and history", 2),
                ("ackepoch checked against the durable accepted epoch", 1),
            ]
        );
    }

    #[test]
    fn fires_when_a_proposal_is_acked_before_its_fsync() {
        let mut v = diff_synced_world();
        v.disks.get_mut(&ServerId(2)).unwrap().current_epoch = 2;
        v.unflushed
            .insert(ServerId(2), vec![DiskOp::Append(Txn::initial(z(2, 1)))]);
        let mut c = DurableAck::default();
        let out = send(&mut c, &v, 2, 3, Message::Ack { zxid: z(2, 1) });
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert!(
            out[0]
                .message
                .contains("sent ACK 2:1 to s3 before 2:1 was durable"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn a_counter_zero_ack_of_another_epoch_acknowledges_a_wrapped_proposal() {
        // zk-1277: s2 follows the leader of epoch 2, whose counter wrapped into 3:0; s2 acks
        // that proposal once it is durable, although its currentEpoch is 2.
        let mut v = diff_synced_world();
        v.set_state(
            2,
            ServerState::Following,
            ZabPhase::Broadcast,
            Some(3),
            false,
        );
        {
            let d = v.disks.get_mut(&ServerId(2)).unwrap();
            d.current_epoch = 2;
            d.log.push(Txn::initial(z(2, Zxid::COUNTER_MAX)));
        }
        let mut c = DurableAck::default();
        let wrapped = Message::Ack { zxid: z(3, 0) };
        let out = send(&mut c, &v, 2, 3, wrapped.clone());
        assert_eq!(out.len(), 1, "3:0 is not durable yet");
        assert!(
            out[0]
                .message
                .contains("sent ACK 3:0 to s3 before 3:0 was durable"),
            "{}",
            out[0].message
        );
        v.disks
            .get_mut(&ServerId(2))
            .unwrap()
            .log
            .push(Txn::initial(z(3, 0)));
        let mut c = DurableAck::default();
        assert!(send(&mut c, &v, 2, 3, wrapped).is_empty());
        assert_eq!(
            crate::path_count(&c, "ack of a counter wrapped into the next epoch"),
            1
        );
    }

    #[test]
    fn fires_when_ackepoch_leaves_before_accepted_epoch_is_durable() {
        let mut v = FakeView::new(3);
        v.disks.get_mut(&ServerId(1)).unwrap().accepted_epoch = 1;
        v.unflushed
            .insert(ServerId(1), vec![DiskOp::AcceptedEpoch(2)]);
        let mut c = DurableAck::default();
        deliver(&mut c, &v, 3, 1, Message::LeaderInfo { epoch: 2 });
        let msg = Message::AckEpoch {
            current_epoch: Some(1),
            last_zxid: z(1, 4),
            trunc_floor: None,
        };
        let out = send(&mut c, &v, 1, 3, msg.clone());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].server, Some(ServerId(1)));
        assert!(
            out[0].message.contains("LEADERINFO epoch 2")
                && out[0].message.contains("durable acceptedEpoch is 1"),
            "{}",
            out[0].message
        );
        // After a crash the LEADERINFO is forgotten: a fresh incarnation owes nothing yet.
        let mut sink = Vec::new();
        c.on(&Happening::Crash { id: ServerId(1) }, &v, &mut sink);
        let mut c2 = DurableAck::default();
        deliver(&mut c2, &v, 3, 1, Message::LeaderInfo { epoch: 2 });
        c2.on(&Happening::Crash { id: ServerId(1) }, &v, &mut sink);
        assert!(send(&mut c2, &v, 1, 3, msg).is_empty());
    }
}
