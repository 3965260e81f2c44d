//! `abandoned-skipped`: a proposal missing from the history of the leader that establishes a
//! newer epoch is never delivered afterwards.
//!
//! When a leader establishes epoch e, its history becomes the history of record: a proposal of
//! an earlier epoch that it does not hold was never committed (else it would hold it) and must
//! be skipped for good, because the new epoch's txns are built on a history without it. Syncing
//! enforces this by TRUNC (or SNAP) of every follower that logged such a proposal. It catches
//! a follower that keeps truncated txns applied in memory (zk-2845), one that gets DIFF
//! instead of TRUNC and keeps the proposal (zk-1154), and an old epoch's leader that goes on
//! committing after a newer epoch was established (zk-335, quorum bugs).
//!
//! Only proposals count: txns a leader reported `Proposed`. Initial txns of a scenario are not
//! proposals and are left to the other checkers.
//!
//! Incremental: proposals wait, as runs ordered by zxid (`txn_runs`), until the first
//! establishment of a newer epoch; that establishment takes the range of older proposals out
//! at once, compares them with its leader's history (built once per establishment, and only
//! if there is a pending older proposal), and keeps those missing as abandoned. A `Delivered`
//! looks up only the entries it adds.

use crate::history::{added, first_of_epoch, newly_delivered};
use crate::txn_runs::TxnRuns;
use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{Event, ServerId, TxnId};

/// Who abandoned a proposal.
#[derive(Clone, Copy)]
struct Abandoned {
    leader: ServerId,
    epoch: u64,
}

#[derive(Default)]
pub struct AbandonedSkipped {
    /// Proposals no leader of a newer epoch has established over yet.
    pending: TxnRuns<()>,
    abandoned: BTreeMap<TxnId, Abandoned>,
    reported: BTreeSet<(ServerId, TxnId)>,
    /// Path counts: establishments over older pending proposals, proposals found abandoned
    /// there, and delivered txns looked up among the abandoned ones.
    settled: u64,
    abandoned_seen: u64,
    checked: u64,
}

impl Checker for AbandonedSkipped {
    fn name(&self) -> &'static str {
        "abandoned-skipped"
    }

    fn interest(&self) -> Interest {
        crate::DELIVERIES.union(Interest::of(&[
            HappeningKind::Server(zab::EventKind::Proposed),
            HappeningKind::Server(zab::EventKind::Established),
        ]))
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("older proposals settled at an establishment", self.settled),
            ("abandoned proposal seen", self.abandoned_seen),
            ("delivered txn checked against abandoned ones", self.checked),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        match h {
            Happening::Server {
                event: Event::Proposed { txn, .. },
                ..
            } => {
                self.pending.insert_new(*txn, ());
            }
            Happening::Server {
                id,
                event: Event::Established { epoch, .. },
            } => self.established(*id, *epoch, view),
            _ => {
                if newly_delivered(h).is_none() || self.abandoned.is_empty() {
                    return;
                }
                let Some(d) = added(h, view) else {
                    return;
                };
                let id = d.server;
                self.checked += d.txns.len() as u64;
                for &t in &d.txns {
                    let Some(a) = self.abandoned.get(&t) else {
                        continue;
                    };
                    if !self.reported.insert((id, t)) {
                        continue;
                    }
                    out.push(Violation {
                        invariant: "abandoned-skipped",
                        at_us: view.now_us(),
                        server: Some(id),
                        message: format!(
                            "{id} delivered {t}, which {} abandoned when it established epoch {} without it in its history: a proposal skipped by a newer epoch's leader must never be delivered",
                            a.leader, a.epoch
                        ),
                    });
                }
            }
        }
    }
}

impl AbandonedSkipped {
    fn established(&mut self, id: ServerId, epoch: u64, view: &dyn View) {
        let bound = first_of_epoch(epoch);
        if self.pending.first().is_none_or(|t| t >= bound) {
            return;
        }
        let Some(s) = view.server(id) else { return };
        self.settled += 1;
        let history: BTreeSet<TxnId> = s
            .log
            .iter()
            .map(|t| t.id())
            .chain(s.tree.applied.iter())
            .collect();
        let newer = self.pending.split_off(bound);
        let older = std::mem::replace(&mut self.pending, newer);
        for (t, ()) in older.iter() {
            if !history.contains(&t) {
                self.abandoned_seen += 1;
                self.abandoned.insert(t, Abandoned { leader: id, epoch });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{eventful_run, eventful_script, initial, z, Script, Variant};
    use crate::{assert_fresh, path_count};

    #[test]
    fn quiet_on_correct_runs() {
        // 2:3@s3 is abandoned by s2 in epoch 3 and TRUNCated from the restarted s3, which
        // held it applied but undelivered. LostCommit abandons 3:2@s2 and 3:3@s2 in epoch 4
        // and never delivers them again (the loss of 3:2 is other checkers' business).
        for variant in [Variant::Correct, Variant::LostCommit] {
            let out = eventful_run(AbandonedSkipped::default(), variant);
            assert!(out.is_empty(), "{variant:?}: {out:?}");
        }
        assert_fresh(&AbandonedSkipped::default());
        // s2 settles 2:1..2:3@s3 at epoch 3 and abandons 2:3; s3 settles 3:1..3:3@s2 at
        // epoch 4; every delivery after that is looked up.
        let s = eventful_script(AbandonedSkipped::default(), Variant::Correct);
        assert_eq!(
            path_count(&s.c, "older proposals settled at an establishment"),
            2
        );
        assert_eq!(path_count(&s.c, "abandoned proposal seen"), 1);
        assert!(path_count(&s.c, "delivered txn checked against abandoned ones") > 0);
    }

    #[test]
    fn fires_when_a_follower_keeps_a_truncated_txn_in_memory() {
        for variant in [Variant::Zk2845, Variant::Zk1154] {
            let out = eventful_run(AbandonedSkipped::default(), variant);
            assert_eq!(out.len(), 1, "{variant:?}: {out:?}");
            let v = &out[0];
            assert_eq!(v.invariant, "abandoned-skipped");
            assert_eq!(v.server, Some(ServerId(3)));
            assert!(
                v.message.starts_with(
                    "s3 delivered 2:3@s3, which s2 abandoned when it established epoch 3 without it in its history"
                ),
                "{}",
                v.message
            );
        }
    }

    #[test]
    fn fires_when_an_old_leader_commits_after_a_newer_epoch_is_established() {
        // s1 leads epoch 2 and proposes 2:1@s1; s2 and s3 establish epoch 3 without it; the
        // cut-off s1 then commits it on its own ACK (commit-before-quorum).
        let mut s = Script::new(3, AbandonedSkipped::default());
        let init = vec![initial(1, 1)];
        s.start(
            &[(1, init.clone()), (2, init.clone()), (3, init)],
            Some(z(1, 1)),
        );
        s.lead(1, 2);
        s.follow(2, 1, 2);
        s.diff(2, 1, &[]);
        s.establish(1, &[1, 2]);
        s.up_to_date(2, 1);
        let t = s.propose(1, 1, &[]);
        s.learner_gives_up(2);
        s.lead(3, 3);
        s.follow(2, 3, 3);
        s.diff(2, 3, &[]);
        s.establish(3, &[2, 3]);
        s.up_to_date(2, 3);
        assert!(s.take().is_empty());
        s.commit(1, &t, &[1], &[]);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(1)));
        assert!(out[0]
            .message
            .starts_with("s1 delivered 2:1@s1, which s3 abandoned when it established epoch 3"));
    }

    #[test]
    fn quiet_when_the_new_leader_holds_the_proposal() {
        // s1 proposes 2:1@s1, logged by s2 only, and crashes; s2 leads epoch 3 and commits
        // 2:1@s1 at establishment; s1 restarts and gets it by DIFF.
        let mut s = Script::new(3, AbandonedSkipped::default());
        let init = vec![initial(1, 1)];
        s.start(
            &[(1, init.clone()), (2, init.clone()), (3, init)],
            Some(z(1, 1)),
        );
        s.lead(1, 2);
        s.follow(2, 1, 2);
        s.diff(2, 1, &[]);
        s.establish(1, &[1, 2]);
        s.up_to_date(2, 1);
        let t = s.propose(1, 1, &[2]);
        s.crash(1);
        s.learner_gives_up(2);
        s.lead(2, 3);
        s.follow(3, 2, 3);
        s.diff(3, 2, &[t]);
        s.establish(2, &[2, 3]);
        s.up_to_date(3, 2);
        s.restart(1);
        s.follow(1, 2, 3);
        s.diff(1, 2, &[]);
        s.up_to_date(1, 2);
        assert!(s.take().is_empty());
    }
}
