//! `history-consistency`: in BROADCAST, a follower's logged history is a prefix of its leader's.
//!
//! Synchronization exists to make each learner's history equal to the leader's initial history
//! before it serves: the TRUNC/DIFF/SNAP decision of `LearnerHandler.syncFollower` removes what
//! the leader lacks and adds what the learner lacks. A learner that keeps a txn its leader does
//! not have carries it into later elections, where it can win on that zxid and impose a txn no
//! quorum ever accepted (HistoryConsistency of the Remix/zk_utils specs; the Zab paper's
//! requirement that a follower accepts the new epoch's initial history before anything else).
//! Catches `zk-1154` (DIFF instead of TRUNC: the follower keeps a txn the leader lacks) and
//! `zk-4712` (a stale log writer of the old epoch appends txns after the follower reported its
//! last zxid, so the leader never learns of them and cannot truncate them).
//!
//! The learner's history is what its disk will hold once its pending writes land: the durable
//! log with the unflushed log writes applied in order, which is where a stale writer's txns
//! show up even though the server's in-memory log dropped them. It is compared in full once, at
//! `Synced` (UPTODATE), and afterwards each BROADCAST append is compared on its own; every
//! lookup is a binary search in the leader's log or data tree (both ascending by zxid), so the
//! cost is O(log n) per append. Only a leader still leading the learner's epoch is compared
//! with; txns of the learner's epoch beyond the leader's last zxid are outside what the leader's
//! history covers and are not judged, while everything below `epoch:0` is covered, since the
//! leader's initial history is by definition its whole history of earlier epochs.

use crate::{Checker, Happening, HappeningKind, Interest, ServerView, View, Violation};
use std::collections::BTreeSet;
use zab::{AppliedTxns, DiskOp, Event, ServerId, ServerState, Txn, TxnId, ZabPhase, Zxid};

#[derive(Default)]
pub struct HistoryConsistency {
    /// (learner, epoch, txn) already reported.
    reported: BTreeSet<(ServerId, u64, TxnId)>,
    /// Path counts: learners' logs compared at UPTODATE, those of them with log writes still
    /// in flight, and BROADCAST appends compared.
    synced: u64,
    synced_in_flight: u64,
    appends: u64,
}

/// What the leader's history holds at a zxid, compared with the learner's txn.
enum Lookup {
    Same,
    Missing,
    Other(TxnId),
}

/// The txns at `zxid` in a list ascending by zxid (more than one only in buggy runs).
fn at_zxid<T>(list: &[T], zxid: Zxid, key: fn(&T) -> TxnId) -> impl Iterator<Item = TxnId> + '_ {
    // An appended txn is nearly always among the leader's newest: search from the end.
    let from = crate::txn_map::partition_point_from_end(list, |t| key(t).zxid < zxid);
    list[from..]
        .iter()
        .map(key)
        .take_while(move |t| t.zxid == zxid)
}

/// [`at_zxid`] over a data tree's applied sequence.
fn applied_at_zxid(seq: &AppliedTxns, zxid: Zxid) -> impl Iterator<Item = TxnId> + '_ {
    let from = crate::txn_map::partition_point_from_end_at(seq.len(), |i| seq.at(i).zxid < zxid);
    seq.range(from..seq.len())
        .take_while(move |t| t.zxid == zxid)
}

fn lookup(leader: &ServerView<'_>, txn: TxnId) -> Lookup {
    let mut other = None;
    // The data tree is searched only if the log does not hold the txn: an appended txn is
    // nearly always in its leader's log, and the tree's search is the dearer one.
    let in_tree =
        std::iter::once_with(|| applied_at_zxid(&leader.tree.applied, txn.zxid)).flatten();
    for found in at_zxid(leader.log, txn.zxid, Txn::id).chain(in_tree) {
        if found == txn {
            return Lookup::Same;
        }
        other.get_or_insert(found);
    }
    match other {
        Some(t) => Lookup::Other(t),
        None => Lookup::Missing,
    }
}

/// The leader's view if it still leads `epoch`, with the last zxid its history covers.
fn leader_of<'v>(
    view: &'v dyn View,
    leader: ServerId,
    epoch: u64,
) -> Option<(ServerView<'v>, Zxid)> {
    let lv = view.server(leader)?;
    if lv.leader != Some(leader) || lv.role_epoch != Some(epoch) {
        return None;
    }
    let last_logged = lv.log.last().map(|t| t.zxid).unwrap_or_default();
    let last_applied = lv.tree.applied.last().map(|t| t.zxid).unwrap_or_default();
    let covered = Zxid::new(epoch, 0).max(last_logged).max(last_applied);
    Some((lv, covered))
}

/// What the learner's disk will hold once its pending writes are durable, in log order, and
/// whether any write still in flight changes its log.
fn logged_history(view: &dyn View, id: ServerId) -> (Vec<TxnId>, bool) {
    let mut history: Vec<TxnId> = view.disk(id).log.iter().map(Txn::id).collect();
    let mut in_flight = false;
    for op in view.unflushed(id) {
        match op {
            DiskOp::Append(t) | DiskOp::AppendToNewFile(t) => history.push(t.id()),
            DiskOp::Truncate(z) => {
                let keep = history.partition_point(|t| t.zxid <= *z);
                history.truncate(keep);
            }
            DiskOp::Snapshot {
                replaces_log: true, ..
            } => history.clear(),
            _ => continue,
        }
        in_flight = true;
    }
    (history, in_flight)
}

fn describe(leader: ServerId, txn: TxnId, found: &Lookup) -> String {
    match found {
        Lookup::Other(t) => format!("{txn}, where its leader {leader} has {t}"),
        _ => format!("{txn}, which its leader {leader} does not have"),
    }
}

impl HistoryConsistency {
    fn on_synced(
        &mut self,
        id: ServerId,
        leader: ServerId,
        epoch: u64,
        view: &dyn View,
        out: &mut Vec<Violation>,
    ) {
        let Some((lv, covered)) = leader_of(view, leader, epoch) else {
            return;
        };
        self.synced += 1;
        let (history, in_flight) = logged_history(view, id);
        if in_flight {
            self.synced_in_flight += 1;
        }
        let mut bad: Vec<(TxnId, Lookup)> = Vec::new();
        for txn in history {
            if txn.zxid > covered {
                continue;
            }
            let found = lookup(&lv, txn);
            if !matches!(found, Lookup::Same) && self.reported.insert((id, epoch, txn)) {
                bad.push((txn, found));
            }
        }
        let Some((txn, found)) = bad.first() else {
            return;
        };
        let more = match bad.len() {
            1 => String::new(),
            n => format!(" (and {} more such txns)", n - 1),
        };
        out.push(Violation {
            invariant: "history-consistency",
            at_us: view.now_us(),
            server: Some(id),
            message: format!(
                "{id} synced with {leader} in epoch {epoch} (UPTODATE) while its log holds {}{more}: a learner's history must be a prefix of its leader's once it broadcasts, and sync should have truncated it",
                describe(leader, *txn, found)
            ),
        });
    }

    fn on_append(&mut self, id: ServerId, txn: TxnId, view: &dyn View, out: &mut Vec<Violation>) {
        let Some(s) = view.server(id) else { return };
        if s.phase != ZabPhase::Broadcast || s.state == ServerState::Leading {
            return;
        }
        let (Some(leader), Some(epoch)) = (s.leader, s.role_epoch) else {
            return;
        };
        if leader == id {
            return;
        }
        let Some((lv, covered)) = leader_of(view, leader, epoch) else {
            return;
        };
        if txn.zxid > covered {
            return;
        }
        self.appends += 1;
        let found = lookup(&lv, txn);
        if matches!(found, Lookup::Same) || !self.reported.insert((id, epoch, txn)) {
            return;
        }
        out.push(Violation {
            invariant: "history-consistency",
            at_us: view.now_us(),
            server: Some(id),
            message: format!(
                "{id}, {} {leader} in epoch {epoch} in BROADCAST, logs {}: a learner's history must stay a prefix of its leader's",
                if s.state == ServerState::Observing { "observing" } else { "following" },
                describe(leader, txn, &found)
            ),
        });
    }
}

impl Checker for HistoryConsistency {
    fn name(&self) -> &'static str {
        "history-consistency"
    }

    fn interest(&self) -> Interest {
        Interest::of(&[
            HappeningKind::DiskIssued,
            HappeningKind::Server(zab::EventKind::Synced),
        ])
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "learner's log compared with its leader's when synced",
                self.synced,
            ),
            (
                "log writes still in flight when synced",
                self.synced_in_flight,
            ),
            ("broadcast append compared with the leader's", self.appends),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        match h {
            Happening::DiskIssued {
                id,
                op: DiskOp::Append(txn),
            } => self.on_append(*id, txn.id(), view, out),
            Happening::Server {
                id,
                event: Event::Synced { leader, epoch },
            } => self.on_synced(*id, *leader, *epoch, view, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeView;
    use zab::db::RequestId;
    use zab::TxnOp;

    fn z(e: u64, c: u64) -> Zxid {
        Zxid::new(e, c)
    }

    fn txn(e: u64, c: u64, by: u8) -> Txn {
        Txn::from(zab::TxnFields {
            zxid: z(e, c),
            proposer: ServerId(by),
            request: Some(RequestId {
                client: zab::ClientId(1),
                cxid: c,
            }),
            op: TxnOp::SetData {
                path: "/k".into(),
                data: c,
                version: c as i32,
            },
        })
    }

    fn synced(
        c: &mut HistoryConsistency,
        v: &FakeView,
        id: u8,
        leader: u8,
        epoch: u64,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        let event = Event::Synced {
            leader: ServerId(leader),
            epoch,
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

    fn issued(c: &mut HistoryConsistency, v: &FakeView, id: u8, t: Txn) -> Vec<Violation> {
        let mut out = Vec::new();
        let op = DiskOp::Append(t);
        c.on(
            &Happening::DiskIssued {
                id: ServerId(id),
                op: &op,
            },
            v,
            &mut out,
        );
        out
    }

    /// Leader s3 established in epoch 2 with history `leader` (all delivered), s1 following it.
    fn world(leader: &[Txn]) -> FakeView {
        let mut v = FakeView::new(3);
        v.set_state(3, ServerState::Leading, ZabPhase::Broadcast, Some(3), true);
        v.set_state(
            1,
            ServerState::Following,
            ZabPhase::Broadcast,
            Some(3),
            false,
        );
        for id in [1, 3] {
            v.servers.get_mut(&ServerId(id)).unwrap().epoch = 2;
        }
        let l = v.servers.get_mut(&ServerId(3)).unwrap();
        for t in leader {
            l.log.push(t.clone());
            l.tree.apply(t);
        }
        l.delivered = l.tree.applied.len();
        v
    }

    #[test]
    fn fires_when_diff_leaves_a_txn_the_leader_lacks() {
        // zk-1154: s1 had 1:1 and 1:3 (1:3 logged alone by the old leader s2); leader s3 has
        // 1:1, 1:2 and 2:1 and answers s1's last zxid 1:3 with DIFF and 2:1 instead of TRUNC.
        let mut v = {
            let mut v = world(&[txn(1, 1, 2), txn(1, 2, 2), txn(2, 1, 3)]);
            let d = v.disks.get_mut(&ServerId(1)).unwrap();
            d.log.push(txn(1, 1, 2));
            d.log.push(txn(1, 3, 2));
            v.unflushed
                .insert(ServerId(1), vec![DiskOp::Append(txn(2, 1, 3))]);
            v
        };
        let mut c = HistoryConsistency::default();
        let out = synced(&mut c, &v, 1, 3, 2);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].invariant, "history-consistency");
        assert_eq!(out[0].server, Some(ServerId(1)));
        assert!(
            out[0].message.contains("s1 synced with s3 in epoch 2")
                && out[0]
                    .message
                    .contains("1:3@s2, which its leader s3 does not have"),
            "{}",
            out[0].message
        );
        // Later appends of txns the leader has are fine, and 1:3 is not reported again.
        v.servers
            .get_mut(&ServerId(3))
            .unwrap()
            .log
            .push(txn(2, 2, 3));
        assert!(issued(&mut c, &v, 1, txn(2, 2, 3)).is_empty());
        assert!(synced(&mut c, &v, 1, 3, 2).is_empty());
    }

    #[test]
    fn fires_when_a_stale_writer_lands_an_old_epoch_txn() {
        // zk-4712: s1 followed s2 in epoch 1 and had 1:2 in flight when s2 crashed; it reported
        // 1:1 to the new leader s3, which DIFFed nothing. The stale 1:2 is still being written
        // (not in s1's in-memory log) when s1 syncs.
        let mut v = world(&[txn(1, 1, 2)]);
        v.disks
            .get_mut(&ServerId(1))
            .unwrap()
            .log
            .push(txn(1, 1, 2));
        v.servers
            .get_mut(&ServerId(1))
            .unwrap()
            .log
            .push(txn(1, 1, 2));
        v.unflushed
            .insert(ServerId(1), vec![DiskOp::Append(txn(1, 2, 2))]);
        let mut c = HistoryConsistency::default();
        let out = synced(&mut c, &v, 1, 3, 2);
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .message
                .contains("1:2@s2, which its leader s3 does not have"),
            "{}",
            out[0].message
        );
        assert_eq!(
            crate::path_count(&c, "log writes still in flight when synced"),
            1
        );
    }

    #[test]
    fn fires_when_a_broadcast_append_conflicts_with_the_leader() {
        // Two leaders sharing epoch 2 (zk-335): s1 follows s3 but logs s2's 2:1.
        let v = world(&[txn(1, 1, 2), txn(2, 1, 3)]);
        let mut c = HistoryConsistency::default();
        let out = issued(&mut c, &v, 1, txn(2, 1, 2));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].server, Some(ServerId(1)));
        assert!(
            out[0].message.contains("s1, following s3 in epoch 2 in BROADCAST, logs 2:1@s2, where its leader s3 has 2:1@s3"),
            "{}",
            out[0].message
        );
        assert!(
            issued(&mut c, &v, 1, txn(2, 1, 2)).is_empty(),
            "reported once"
        );
    }

    #[test]
    fn quiet_on_a_correct_sync_and_broadcast() {
        // s1 had 1:1..1:2 durable and 1:3 still in flight from the old epoch (it reported
        // 1:3); s3 has all three (1:1..1:2 only in a snapshot, i.e. in its tree), 2:1 is
        // outstanding, and it proposes 2:2 later.
        let mut v = world(&[]);
        {
            let l = v.servers.get_mut(&ServerId(3)).unwrap();
            l.tree.apply(&txn(1, 1, 2));
            l.tree.apply(&txn(1, 2, 2));
            l.tree.apply(&txn(1, 3, 2));
            l.log.push(txn(1, 3, 2));
            l.log.push(txn(2, 1, 3));
        }
        {
            let d = v.disks.get_mut(&ServerId(1)).unwrap();
            d.log.push(txn(1, 1, 2));
            d.log.push(txn(1, 2, 2));
        }
        v.unflushed
            .insert(ServerId(1), vec![DiskOp::Append(txn(1, 3, 2))]);
        let mut c = HistoryConsistency::default();
        crate::assert_fresh(&c);
        assert!(synced(&mut c, &v, 1, 3, 2).is_empty());
        // After UPTODATE the outstanding proposal 2:1 is logged, then a new one.
        assert!(issued(&mut c, &v, 1, txn(2, 1, 3)).is_empty());
        v.servers
            .get_mut(&ServerId(3))
            .unwrap()
            .log
            .push(txn(2, 2, 3));
        assert!(issued(&mut c, &v, 1, txn(2, 2, 3)).is_empty());
        // The leader's own writes and a follower still syncing are not judged.
        assert!(issued(&mut c, &v, 3, txn(2, 3, 3)).is_empty());
        v.set_state(
            2,
            ServerState::Following,
            ZabPhase::Synchronization,
            Some(3),
            false,
        );
        assert!(issued(&mut c, &v, 2, txn(1, 9, 1)).is_empty());
        let paths = c.paths();
        assert_eq!(
            paths,
            [
                ("learner's log compared with its leader's when synced", 1),
                ("log writes still in flight when synced", 1),
                ("broadcast append compared with the leader's", 2),
            ]
        );
    }

    #[test]
    fn logged_history_applies_the_writes_in_flight() {
        let mut v = FakeView::new(3);
        {
            let d = v.disks.get_mut(&ServerId(1)).unwrap();
            for c in 1..=4 {
                d.log.push(txn(1, c, 2));
            }
        }
        v.unflushed.insert(
            ServerId(1),
            vec![DiskOp::Truncate(z(1, 2)), DiskOp::Append(txn(2, 1, 3))],
        );
        let (h, in_flight) = logged_history(&v, ServerId(1));
        assert!(in_flight);
        let zxids: Vec<Zxid> = h.iter().map(|t| t.zxid).collect();
        assert_eq!(zxids, vec![z(1, 1), z(1, 2), z(2, 1)]);
        v.unflushed
            .get_mut(&ServerId(1))
            .unwrap()
            .push(DiskOp::Snapshot {
                snapshot: std::sync::Arc::new(zab::Snapshot {
                    zxid: z(2, 1),
                    tree: zab::DataTree::default(),
                }),
                replaces_log: true,
            });
        assert!(logged_history(&v, ServerId(1)).0.is_empty());
        v.unflushed
            .insert(ServerId(1), vec![DiskOp::CurrentEpoch(2)]);
        assert!(!logged_history(&v, ServerId(1)).1, "no log write");
    }

    #[test]
    fn quiet_when_the_leader_is_gone() {
        let mut v = world(&[txn(1, 1, 2)]);
        v.down.insert(ServerId(3));
        let mut c = HistoryConsistency::default();
        assert!(issued(&mut c, &v, 1, txn(1, 7, 2)).is_empty());
        // The leader came back but leads another epoch now.
        v.down.clear();
        v.servers.get_mut(&ServerId(3)).unwrap().epoch = 3;
        assert!(issued(&mut c, &v, 1, txn(1, 7, 2)).is_empty());
    }
}
