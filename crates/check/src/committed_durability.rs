//! `committed-durability`: a committed txn survives leader failover: every later established
//! leader has it, and no server truncates it (LeaderLogCompleteness and
//! CommittedLogDurability of the ZooKeeper TLA+ specifications).
//!
//! A committed txn may have been acknowledged to a client; Zab promises it is never lost.
//! The leader election picks a server whose history holds every committed txn, and syncing
//! only ever cuts a follower back to its leader's history, so a committed txn missing from a
//! new leader, or cut from a disk, is lost for good. It catches commit-before-quorum (a txn
//! committed on the leader's own ACK), zk-3911 and zk-4643 (a follower acknowledges txns that
//! are not durable yet, loses them in a crash and then leads, or TRUNCs a server that had
//! them), and zk-790 (a leader serving before a quorum synced with it).
//!
//! How it differs from `primary-integrity`: that one is about delivery order at the new
//! leader (its delivered history must hold the older committed txns before it broadcasts);
//! this one is about the committed txn existing anywhere it must: in the log or tree of every
//! leader established later, and on every disk, which no TRUNC or SNAP may cut it from.
//!
//! The rules:
//! - At `Established{epoch}` of L: every txn committed in an earlier epoch is in L's history
//!   (`tree.applied` or `log`).
//! - At `DiskIssued(Truncate(z))` of a server: no committed txn after z that is in its durable
//!   log, or in an append still in flight, is dropped; at `DiskIssued(Snapshot{replaces_log})`:
//!   no committed txn of its log is missing from the snapshot that supersedes it. Either is
//!   fine when the leader the server syncs with holds the txn: a follower that reconnects to
//!   the same leader is cut back to the leader's committed log and gets the outstanding
//!   proposals again (one of them may have committed meanwhile), so the txn stays with a
//!   quorum.
//!
//! What is committed: txns a leader reported `Committed`, every txn any server delivered, and
//! the initial txns the scenario declares committed. A leader's establishment legitimately
//! commits txns of earlier epochs that were never committed before (they were in its log);
//! they become committed by its own delivery, after its check.
//!
//! Incremental: one pass over the older epochs' committed txns per establishment; a
//! truncation looks only at the log suffix it drops; a log-replacing snapshot (a SNAP sync)
//! scans that server's log and the snapshot once. Elections and syncs are rare.

use crate::history::{added, CommittedTxns, How};
use crate::{Checker, Happening, HappeningKind, Interest, ServerView, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{DiskOp, Event, ServerId, Snapshot, TxnId, Zxid};

#[derive(Default)]
pub struct CommittedDurability {
    committed: CommittedTxns,
    reported: BTreeSet<(ServerId, TxnId)>,
    /// Path counts: establishments checked, truncations checked, log-replacing snapshots
    /// checked (of a log holding committed txns), and committed txns a disk drops while the
    /// leader it syncs with holds them.
    established: u64,
    truncations: u64,
    snapshots: u64,
    leader_holds: u64,
}

impl Checker for CommittedDurability {
    fn name(&self) -> &'static str {
        "committed-durability"
    }

    fn interest(&self) -> Interest {
        crate::DELIVERIES.union(Interest::of(&[
            HappeningKind::InitiallyCommitted,
            HappeningKind::DiskIssued,
            HappeningKind::Server(zab::EventKind::Established),
            HappeningKind::Server(zab::EventKind::Committed),
        ]))
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "committed txns checked at a new leader's establishment",
                self.established,
            ),
            ("log truncation checked", self.truncations),
            ("log-replacing snapshot checked", self.snapshots),
            (
                "committed txn dropped that the sync leader holds",
                self.leader_holds,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        match h {
            Happening::InitiallyCommitted { upto } => self.committed.declare(*upto, view),
            Happening::DiskIssued {
                id,
                op: DiskOp::Truncate(to),
            } => self.truncated(*id, *to, view, out),
            Happening::DiskIssued {
                id,
                op:
                    DiskOp::Snapshot {
                        snapshot,
                        replaces_log: true,
                    },
            } => self.log_replaced(*id, snapshot, view, out),
            Happening::Server {
                id,
                event: Event::Established { epoch, .. },
            } => self.established(*id, *epoch, view, out),
            Happening::Server {
                id,
                event: Event::Committed { txn, .. },
            } => {
                self.committed.add(*txn, How::CommittedBy(*id));
            }
            _ => {
                let Some(d) = added(h, view) else {
                    return;
                };
                // Every txn of a repeat was added at its first delivery.
                if d.repeat {
                    return;
                }
                for &t in &d.txns {
                    self.committed.add(t, How::DeliveredBy(d.server));
                }
            }
        }
    }
}

/// Whether the txn is in the server's history: its log or its data tree.
fn holds(s: &ServerView<'_>, t: TxnId) -> bool {
    s.log.iter().any(|x| x.id() == t) || s.tree.applied.contains(&t)
}

impl CommittedDurability {
    fn established(&mut self, id: ServerId, epoch: u64, view: &dyn View, out: &mut Vec<Violation>) {
        let Some(s) = view.server(id) else { return };
        self.established += 1;
        let history: BTreeSet<TxnId> = s
            .log
            .iter()
            .map(|t| t.id())
            .chain(s.tree.applied.iter())
            .collect();
        for (t, how) in self.committed.before_epoch(epoch) {
            if history.contains(&t) || !self.reported.insert((id, t)) {
                continue;
            }
            out.push(Violation {
                invariant: "committed-durability",
                at_us: view.now_us(),
                server: Some(id),
                message: format!(
                    "{id} established epoch {epoch} without {t} in its history (log or data tree), although it was committed ({how}): the committed txn did not survive the leader change"
                ),
            });
        }
    }

    /// The committed txns among `txns` that `id` drops, unless its leader holds them.
    fn dropped(
        &mut self,
        id: ServerId,
        txns: impl IntoIterator<Item = TxnId>,
        view: &dyn View,
        what: impl Fn(TxnId, How, String) -> String,
        out: &mut Vec<Violation>,
    ) {
        let leader = view.server(id).and_then(|s| s.leader).filter(|l| *l != id);
        let leader_view = leader.and_then(|l| view.server(l));
        for t in txns {
            let Some(how) = self.committed.get(&t) else {
                continue;
            };
            if leader_view.as_ref().is_some_and(|l| holds(l, t)) {
                self.leader_holds += 1;
                continue;
            }
            if !self.reported.insert((id, t)) {
                continue;
            }
            let lacking = match leader {
                Some(l) if leader_view.is_some() => {
                    format!("its leader {l} does not hold it either")
                }
                Some(l) => format!("its leader {l} is down"),
                None => "it has no leader to get it back from".to_string(),
            };
            out.push(Violation {
                invariant: "committed-durability",
                at_us: view.now_us(),
                server: Some(id),
                message: what(t, how, lacking),
            });
        }
    }

    fn truncated(&mut self, id: ServerId, to: Zxid, view: &dyn View, out: &mut Vec<Violation>) {
        self.truncations += 1;
        let disk = view.disk(id);
        let from = disk.log.partition_point(|t| t.zxid <= to);
        let mut txns: BTreeSet<TxnId> = disk.log[from..].iter().map(|t| t.id()).collect();
        for op in view.unflushed(id) {
            if let Some(t) = op.appended() {
                if t.zxid > to {
                    txns.insert(t.id());
                }
            }
        }
        self.dropped(
            id,
            txns,
            view,
            |t, how, lacking| {
                format!(
                    "{id} truncates its log to {to}, dropping {t}, which was committed ({how}), and {lacking}: a committed txn must never be truncated"
                )
            },
            out,
        );
    }

    fn log_replaced(
        &mut self,
        id: ServerId,
        snapshot: &Snapshot,
        view: &dyn View,
        out: &mut Vec<Violation>,
    ) {
        let disk = view.disk(id);
        let unflushed = view.unflushed(id);
        let appends = unflushed.iter().filter_map(|op| op.appended());
        // Committed txns of the log, by whether the snapshot has them.
        let mut missing: BTreeMap<TxnId, bool> = disk
            .log
            .iter()
            .chain(appends)
            .map(|t| t.id())
            .filter(|t| self.committed.get(t).is_some())
            .map(|t| (t, true))
            .collect();
        if missing.is_empty() {
            return;
        }
        self.snapshots += 1;
        for t in snapshot.tree.applied.iter() {
            if let Some(m) = missing.get_mut(&t) {
                *m = false;
            }
        }
        let snap = snapshot.zxid;
        self.dropped(
            id,
            missing.into_iter().filter(|(_, m)| *m).map(|(t, _)| t),
            view,
            |t, how, lacking| {
                format!(
                    "{id} replaces its log with a snapshot at {snap} that lacks {t}, which was committed ({how}), and {lacking}: a committed txn must never be dropped from a disk"
                )
            },
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{eventful_run, eventful_script, initial, proposal, z, Script, Variant};
    use crate::{assert_fresh, path_count};
    use std::sync::Arc;
    use zab::Txn;

    #[test]
    fn quiet_on_a_correct_run_with_crashes_resyncs_and_leader_changes() {
        // s1's SNAP drops its uncommitted initial 1:3, s3's TRUNC drops the uncommitted
        // 2:3@s3, and s3's establishment commits 3:3@s2 for the first time.
        assert_fresh(&CommittedDurability::default());
        let mut s = eventful_script(CommittedDurability::default(), Variant::Correct);
        let out = s.take();
        assert!(out.is_empty(), "{out:?}");
        let established = "committed txns checked at a new leader's establishment";
        assert_eq!(path_count(&s.c, established), 3);
        assert_eq!(path_count(&s.c, "log truncation checked"), 1);
        // s1's SNAP replaces a log of initial txns, two of them committed.
        assert_eq!(path_count(&s.c, "log-replacing snapshot checked"), 1);
    }

    #[test]
    fn fires_when_a_committed_txn_is_lost_at_failover_and_truncated() {
        // commit-before-quorum: s2 committed 3:2@s2 on its own ACK and crashed; s3 leads
        // epoch 4 without it, then TRUNCs the restarted s2 to 3:1.
        let out = eventful_run(CommittedDurability::default(), Variant::LostCommit);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].invariant, "committed-durability");
        assert_eq!(out[0].server, Some(ServerId(3)));
        assert!(
            out[0].message.starts_with(
                "s3 established epoch 4 without 3:2@s2 in its history (log or data tree), although it was committed (committed by s2)"
            ),
            "{}",
            out[0].message
        );
        assert_eq!(out[1].server, Some(ServerId(2)));
        assert!(
            out[1].message.starts_with(
                "s2 truncates its log to 3:1, dropping 3:2@s2, which was committed (committed by s2), and its leader s3 does not hold it either"
            ),
            "{}",
            out[1].message
        );
    }

    /// s1 leads epoch 2 with s2; 2:1@s1 is committed, 2:2@s1 is outstanding (logged by both).
    fn epoch_two() -> Script<CommittedDurability> {
        let mut s = Script::new(3, CommittedDurability::default());
        let init = vec![initial(1, 1)];
        s.start(
            &[(1, init.clone()), (2, init.clone()), (3, init)],
            Some(z(1, 1)),
        );
        s.crash(3);
        s.lead(1, 2);
        s.follow(2, 1, 2);
        s.diff(2, 1, &[]);
        s.establish(1, &[1, 2]);
        s.up_to_date(2, 1);
        let t = s.propose(1, 1, &[2]);
        s.commit(1, &t, &[1, 2], &[2]);
        s.propose(1, 2, &[2]);
        s
    }

    #[test]
    fn quiet_when_a_reconnecting_follower_is_truncated_below_a_txn_its_leader_holds() {
        // s2 reconnects while 2:2@s1 is outstanding and s1 decides to TRUNC it to 2:1; 2:2@s1
        // then commits with s3's ACK before s2 processes the TRUNC. s1 forwards 2:2@s1 to s2
        // again, so the truncation loses nothing.
        let mut s = epoch_two();
        s.learner_gives_up(2);
        s.restart(3);
        s.follow(3, 1, 2);
        let (t21, t22) = (proposal(2, 1, 1), proposal(2, 2, 1));
        s.diff(3, 1, &[t21]);
        s.log(3, &t22);
        s.up_to_date(3, 1);
        s.follow(2, 1, 2);
        s.trunc_decision(2, 1, z(2, 1));
        s.commit(1, &t22, &[1, 3], &[3]);
        s.trunc_received(2, 1, z(2, 1), false);
        s.up_to_date(2, 1);
        assert!(s.take().is_empty());
        assert_eq!(
            path_count(&s.c, "committed txn dropped that the sync leader holds"),
            1
        );
    }

    #[test]
    fn fires_when_a_snap_drops_a_committed_txn_the_leader_lacks() {
        // quorum-off-by-one: s1 and s2 (2 of 4) run epoch 2 and commit 2:1@s1, while s3 and
        // s4, cut off from them, run epoch 3 without it. s2 then joins s4 and gets SNAP (a
        // TRUNC of its 2:2@s1 would cross epochs).
        let mut s = Script::new(4, CommittedDurability::default());
        let init = vec![initial(1, 1)];
        let logs: Vec<_> = (1..=4).map(|id| (id, init.clone())).collect();
        s.start(&logs, Some(z(1, 1)));
        s.lead(1, 2);
        s.follow(2, 1, 2);
        s.diff(2, 1, &[]);
        s.establish(1, &[1, 2]);
        s.up_to_date(2, 1);
        s.lead(4, 3);
        s.follow(3, 4, 3);
        s.diff(3, 4, &[]);
        s.establish(4, &[3, 4]);
        s.up_to_date(3, 4);
        let t = s.propose(1, 1, &[2]);
        s.commit(1, &t, &[1, 2], &[2]);
        s.propose(1, 2, &[2]);
        let t = s.propose(4, 1, &[3]);
        s.commit(4, &t, &[3, 4], &[3]);
        s.learner_gives_up(2);
        s.follow(2, 4, 3);
        assert!(s.take().is_empty());
        s.snap(2, 4);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert!(
            out[0].message.starts_with(
                "s2 replaces its log with a snapshot at 3:1 that lacks 2:1@s1, which was committed (committed by s1), and its leader s4 does not hold it either"
            ),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn counts_appends_in_flight_and_snapshots_that_keep_the_txn() {
        // A unit test of two branches: an append still in flight is dropped by a truncation
        // too, and a log-replacing snapshot that holds the committed txn drops nothing.
        let mut s = epoch_two();
        let t = proposal(2, 1, 1);
        s.restart(3);
        s.v.unflushed
            .insert(ServerId(3), vec![DiskOp::Append(t.clone())]);
        s.happen(Happening::DiskIssued {
            id: ServerId(3),
            op: &DiskOp::Truncate(z(1, 1)),
        });
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].message.contains(
                "dropping 2:1@s1, which was committed (committed by s1), and it has no leader to get it back from"
            ),
            "{}",
            out[0].message
        );
        // s2, between leaders, writes a log-replacing snapshot: fine if it holds 2:1@s1.
        s.learner_gives_up(2);
        let snap = |txns: &[Txn]| {
            let mut tree = zab::DataTree::default();
            for t in txns {
                tree.apply(t);
            }
            let snapshot = Arc::new(Snapshot {
                zxid: tree.last_processed,
                tree,
            });
            DiskOp::Snapshot {
                snapshot,
                replaces_log: true,
            }
        };
        let good = snap(&[initial(1, 1), t.clone()]);
        s.happen(Happening::DiskIssued {
            id: ServerId(2),
            op: &good,
        });
        assert!(s.take().is_empty());
        let bad = snap(&[initial(1, 1)]);
        s.happen(Happening::DiskIssued {
            id: ServerId(2),
            op: &bad,
        });
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0]
                .message
                .starts_with("s2 replaces its log with a snapshot at 1:1 that lacks 2:1@s1"),
            "{}",
            out[0].message
        );
    }
}
