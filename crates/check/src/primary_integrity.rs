//! `primary-integrity`: a leader delivers every txn committed in earlier epochs before it
//! broadcasts (Zab.tla PrimaryIntegrity).
//!
//! A new leader's broadcast builds on the old epochs' history: if it proposed before it had
//! delivered a committed txn of an earlier epoch, its own txns would take effect without that
//! change, and clients would see committed state disappear. It catches a leader elected
//! without a committed txn: commit-before-quorum (committed on the leader's own ACK), zk-3911
//! and zk-4643 (a follower acknowledged txns that were not durable, lost them in a crash, and
//! then led), zk-790 (a leader serving before a quorum synced with it), and a follower that
//! delivers an old-epoch txn its established leader never had (zk-2845, zk-1154).
//!
//! How it differs from `committed-durability`: this one is about delivery at the new leader,
//! that its delivered history, when it starts to broadcast, already holds every txn committed
//! in earlier epochs; `committed-durability` is about the committed txn existing wherever it
//! must (in a later leader's log or tree, and on every disk that is not truncated past it).
//!
//! What is committed: txns a leader reported `Committed`, every txn any server delivered, and
//! the initial txns the scenario declares committed. A leader's establishment legitimately
//! commits txns of earlier epochs that were never committed before (they were in its log);
//! they become committed by its own delivery, after its check.
//!
//! When: at `Established{epoch}`. The leader delivers its whole history in the same step,
//! right after reporting `Established`, and the view shows the end of that step, so its
//! delivered prefix there is what it holds before its first proposal. A txn of an older epoch
//! that becomes committed later (an old leader still committing, a follower delivering a txn
//! nobody delivered before) is checked at once against the leaders established in a newer
//! epoch that are still leading.
//!
//! Incremental: one pass over the committed txns of earlier epochs per establishment
//! (elections are rare); each newly committed txn is looked up in the (few) current leaders'
//! delivered sets, which grow with their `Delivered` events.

use crate::history::{added, applied_upto, CommittedTxns, How};
use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{Event, ServerId, ServerState, TxnId};

/// An established leader that is still leading.
struct Leader {
    epoch: u64,
    /// What it delivered of the epochs before `epoch`.
    delivered: BTreeSet<TxnId>,
}

#[derive(Default)]
pub struct PrimaryIntegrity {
    committed: CommittedTxns,
    leaders: BTreeMap<ServerId, Leader>,
    reported: BTreeSet<(ServerId, TxnId)>,
    /// Path counts: establishments checked, and txns of an older epoch newly committed while
    /// a leader of a newer epoch leads (checked against it).
    established: u64,
    late_commits: u64,
}

impl Checker for PrimaryIntegrity {
    fn name(&self) -> &'static str {
        "primary-integrity"
    }

    fn interest(&self) -> Interest {
        Interest::of(&[
            HappeningKind::InitiallyCommitted,
            HappeningKind::Crash,
            HappeningKind::Restart,
            HappeningKind::Server(zab::EventKind::Established),
            HappeningKind::Server(zab::EventKind::Committed),
            HappeningKind::Server(zab::EventKind::Delivered),
            HappeningKind::Server(zab::EventKind::TreeReset),
            HappeningKind::Server(zab::EventKind::LeaderShutdown),
            HappeningKind::Server(zab::EventKind::State),
        ])
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "committed txns checked at a new leader's establishment",
                self.established,
            ),
            (
                "older txn committed under a newer epoch's leader",
                self.late_commits,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        match h {
            Happening::InitiallyCommitted { upto } => self.committed.declare(*upto, view),
            Happening::Crash { id } | Happening::Restart { id } => {
                self.leaders.remove(id);
            }
            Happening::Server { id, event } => match event {
                Event::Established { epoch, .. } => self.established(*id, *epoch, view, out),
                Event::Committed { txn, .. } => {
                    self.newly_committed(*txn, How::CommittedBy(*id), view, out)
                }
                Event::Delivered { .. } => {
                    let Some(d) = added(h, view) else {
                        return;
                    };
                    let id = d.server;
                    if let Some(l) = self.leaders.get_mut(&id) {
                        // Only txns of earlier epochs are ever looked up in it; the leader's
                        // own stream would grow it with every write for nothing.
                        let older = d.txns.iter().filter(|t| t.zxid.epoch() < l.epoch);
                        l.delivered.extend(older);
                    }
                    // Every txn of a repeat was added to `committed` at its first delivery.
                    if d.repeat {
                        return;
                    }
                    for &t in &d.txns {
                        self.newly_committed(t, How::DeliveredBy(id), view, out);
                    }
                }
                Event::TreeReset { .. } | Event::LeaderShutdown { .. } => {
                    self.leaders.remove(id);
                }
                Event::State { state, .. } if *state != ServerState::Leading => {
                    self.leaders.remove(id);
                }
                _ => {}
            },
            _ => {}
        }
    }
}

impl PrimaryIntegrity {
    fn established(&mut self, id: ServerId, epoch: u64, view: &dyn View, out: &mut Vec<Violation>) {
        let Some(s) = view.server(id) else { return };
        self.established += 1;
        let delivered: BTreeSet<TxnId> = applied_upto(view, id, s.delivered)
            .map(|p| p.iter().filter(|t| t.zxid.epoch() < epoch).collect())
            .unwrap_or_default();
        for (t, how) in self.committed.before_epoch(epoch) {
            if delivered.contains(&t) || !self.reported.insert((id, t)) {
                continue;
            }
            out.push(Violation {
                invariant: "primary-integrity",
                at_us: view.now_us(),
                server: Some(id),
                message: format!(
                    "{id} established epoch {epoch} without having delivered {t} of epoch {}, which was committed ({how}): a new leader must deliver every txn committed in earlier epochs before it broadcasts",
                    t.zxid.epoch()
                ),
            });
        }
        self.leaders.insert(id, Leader { epoch, delivered });
    }

    fn newly_committed(&mut self, t: TxnId, how: How, view: &dyn View, out: &mut Vec<Violation>) {
        if !self.committed.add(t, how) {
            return;
        }
        for (lid, l) in &self.leaders {
            if t.zxid.epoch() >= l.epoch {
                continue;
            }
            self.late_commits += 1;
            if l.delivered.contains(&t) {
                continue;
            }
            if !view.server(*lid).is_some_and(|s| s.established) {
                continue;
            }
            if !self.reported.insert((*lid, t)) {
                continue;
            }
            out.push(Violation {
                invariant: "primary-integrity",
                at_us: view.now_us(),
                server: Some(*lid),
                message: format!(
                    "{lid} broadcasts in epoch {} but never delivered {t} of epoch {}, which is now committed ({how}): a leader must have delivered every txn committed in earlier epochs",
                    l.epoch,
                    t.zxid.epoch()
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{eventful_run, eventful_script, initial, z, Script, Variant};
    use crate::{assert_fresh, path_count};

    #[test]
    fn quiet_on_a_correct_run_with_crashes_resyncs_and_leader_changes() {
        // Includes 3:3@s2, committed for the first time by s3's establishment in epoch 4.
        assert_fresh(&PrimaryIntegrity::default());
        let mut s = eventful_script(PrimaryIntegrity::default(), Variant::Correct);
        let out = s.take();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(
            path_count(
                &s.c,
                "committed txns checked at a new leader's establishment"
            ),
            3
        );
        // s3 commits 3:3@s2 by delivering it as the leader of epoch 4.
        assert!(path_count(&s.c, "older txn committed under a newer epoch's leader") > 0);
    }

    #[test]
    fn fires_when_a_leader_establishes_without_a_committed_txn() {
        // commit-before-quorum: s2 committed 3:2@s2 on its own ACK; s3 leads epoch 4 without it.
        let out = eventful_run(PrimaryIntegrity::default(), Variant::LostCommit);
        assert_eq!(out.len(), 1, "{out:?}");
        let v = &out[0];
        assert_eq!(v.invariant, "primary-integrity");
        assert_eq!(v.server, Some(ServerId(3)));
        assert!(
            v.message.starts_with(
                "s3 established epoch 4 without having delivered 3:2@s2 of epoch 3, which was committed (committed by s2)"
            ),
            "{}",
            v.message
        );
    }

    #[test]
    fn fires_when_an_old_txn_its_leader_lacks_is_delivered() {
        // zk-2845: s3 delivers the abandoned 2:3@s3 while s2 leads epoch 3 without it.
        let out = eventful_run(PrimaryIntegrity::default(), Variant::Zk2845);
        assert!(!out.is_empty());
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert!(
            out[0].message.starts_with(
                "s2 broadcasts in epoch 3 but never delivered 2:3@s3 of epoch 2, which is now committed (delivered by s3)"
            ),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn fires_when_a_declared_initial_txn_is_missing() {
        // s1 never had 1:3, which s2 and s3 hold and the scenario declares committed; with
        // zk-790 it establishes on its own NEWLEADER ack, before anyone synced with it.
        let mut s = Script::new(3, PrimaryIntegrity::default());
        let short = vec![initial(1, 1), initial(1, 2)];
        let long = vec![initial(1, 1), initial(1, 2), initial(1, 3)];
        s.start(&[(1, short), (2, long.clone()), (3, long)], Some(z(1, 3)));
        s.lead(1, 2);
        s.establish(1, &[1]);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].message.starts_with(
            "s1 established epoch 2 without having delivered 1:3 of epoch 1, which was committed (declared committed by the scenario)"
        ));
    }

    #[test]
    fn quiet_when_undeclared_initial_txns_are_dropped() {
        let mut s = Script::new(3, PrimaryIntegrity::default());
        let short = vec![initial(1, 1), initial(1, 2)];
        let long = vec![initial(1, 1), initial(1, 2), initial(1, 3)];
        s.start(&[(1, short.clone()), (2, short), (3, long)], Some(z(1, 2)));
        s.crash(3);
        s.lead(2, 2);
        s.follow(1, 2, 2);
        s.diff(1, 2, &[]);
        s.establish(2, &[1, 2]);
        s.up_to_date(1, 2);
        assert!(s.take().is_empty());
    }
}
