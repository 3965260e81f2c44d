//! `prefix-consistency`: the delivered sequences of any two servers are prefixes of one
//! another (Zab.tla PrefixConsistency).
//!
//! This is Zab's agreement on the replicated history: whatever a server delivered at position
//! i is what every server delivers at position i, across crashes, resyncs and leader changes,
//! because delivered txns are visible to clients and can never be revoked. It catches a
//! follower that keeps truncated txns applied in memory (zk-2845) or keeps a txn the leader
//! lacks because it got DIFF instead of TRUNC (zk-1154), a follower that skips txns (zk-2355),
//! two leaders that commit different txns in one epoch (zk-335), and a committed txn that a
//! later leader lost (commit-before-quorum, zk-3911, zk-4643) once that leader delivers
//! something else in its place.
//!
//! Incremental: positions are fixed forever once anyone delivered there, so one canonical
//! sequence (txn and first deliverer per position, kept as runs of consecutive txns) is
//! enough. A `Delivered` compares only the entries it adds with the canonical one at the same
//! positions, extending it when the server is the first to reach a position. Once a server departs from the canonical sequence, its
//! later positions are consequences of that one breach and are not checked until a reset or a
//! crash takes its count back below it.

use crate::history::newly_delivered;
use crate::txn_runs::TxnSeq;
use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{Event, ServerId, TxnId};

#[derive(Default)]
pub struct PrefixConsistency {
    /// Position i: the txn first delivered there, and the server that delivered it.
    canonical: TxnSeq,
    /// Servers whose delivered sequence departs from the canonical one, and where.
    diverged: BTreeMap<ServerId, usize>,
    /// (position, txn) pairs already reported: other servers that deliver the same txn at
    /// the same position repeat that disagreement, they do not make a new one.
    reported: BTreeSet<(usize, TxnId)>,
    /// Path counts: positions compared with the canonical sequence, those a server delivers
    /// again after it was first there itself (after a reset or restart), and diverged servers
    /// taken back into the check.
    compared: u64,
    redelivered: u64,
    rejoined: u64,
}

impl Checker for PrefixConsistency {
    fn name(&self) -> &'static str {
        "prefix-consistency"
    }

    fn interest(&self) -> Interest {
        crate::DELIVERIES.union(Interest::of(&[
            HappeningKind::Server(zab::EventKind::TreeReset),
            HappeningKind::Crash,
            HappeningKind::Restart,
        ]))
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "delivered txn compared with the canonical one",
                self.compared,
            ),
            (
                "re-delivery after restart or resync compared",
                self.redelivered,
            ),
            (
                "diverged server checked again after reset or crash",
                self.rejoined,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        // A diverged server is checked again once its count drops back to the breach: while
        // diverged its count stays above it, so only a reset keeping no more than the breach,
        // or a crash, does that.
        let (id, range) = match h {
            Happening::Server {
                id,
                event: Event::TreeReset { kept },
            } => {
                if self.diverged.get(id).is_some_and(|at| kept <= at) {
                    self.diverged.remove(id);
                    self.rejoined += 1;
                }
                return;
            }
            Happening::Crash { id } | Happening::Restart { id } => {
                if self.diverged.remove(id).is_some() {
                    self.rejoined += 1;
                }
                return;
            }
            _ => match newly_delivered(h) {
                Some(d) => d,
                None => return,
            },
        };
        if self.diverged.contains_key(&id) {
            return;
        }
        let Some(d) = crate::history::added(h, view) else {
            return;
        };
        for (i, t) in (range.start..).zip(d.txns.iter().copied()) {
            match self.canonical.get(i) {
                Some((c, first)) => {
                    self.compared += 1;
                    if first == id {
                        self.redelivered += 1;
                    }
                    if c == t {
                        continue;
                    }
                    self.diverged.insert(id, i);
                    if self.reported.insert((i, t)) {
                        out.push(Violation {
                            invariant: "prefix-consistency",
                            at_us: view.now_us(),
                            server: Some(id),
                            message: format!(
                                "{id} delivered {t} as its txn #{pos}, but {first} had already delivered {c} as its txn #{pos}: their delivered sequences are no longer prefixes of one another",
                                pos = i + 1
                            ),
                        });
                    }
                    return;
                }
                None if i == self.canonical.len() => self.canonical.push(t, id),
                // Unreachable: every position below a server's count is already canonical.
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{eventful_run, eventful_script, initial, proposal, tid, Script, Variant};
    use crate::{assert_fresh, path_count};

    #[test]
    fn quiet_on_a_correct_run_with_crashes_resyncs_and_leader_changes() {
        assert_fresh(&PrefixConsistency::default());
        let mut s = eventful_script(PrefixConsistency::default(), Variant::Correct);
        let out = s.take();
        assert!(out.is_empty(), "{out:?}");
        // s3 delivers again, after its restart, the positions it was the first to deliver.
        for path in [
            "delivered txn compared with the canonical one",
            "re-delivery after restart or resync compared",
        ] {
            assert!(path_count(&s.c, path) > 0, "{path}");
        }
        assert_eq!(
            path_count(&s.c, "diverged server checked again after reset or crash"),
            0
        );
    }

    #[test]
    fn fires_when_a_follower_keeps_a_truncated_txn_in_memory() {
        // zk-2845: s3 delivers the abandoned 2:3@s3 as its 5th txn before anyone else reaches
        // position 5; the leader s2 then commits 3:1@s2 there.
        let out = eventful_run(PrefixConsistency::default(), Variant::Zk2845);
        assert!(!out.is_empty());
        let v = &out[0];
        assert_eq!(v.invariant, "prefix-consistency");
        assert_eq!(v.server, Some(ServerId(2)));
        assert!(
            v.message
                .contains("s2 delivered 3:1@s2 as its txn #5, but s3 had already delivered 2:3@s3"),
            "{}",
            v.message
        );
        // s1 and s3 deliver the same 3:1@s2 at position 5 later: the same disagreement.
        assert_eq!(out.len(), 1, "{out:?}");
    }

    #[test]
    fn fires_when_a_follower_keeps_a_txn_the_leader_lacks() {
        let out = eventful_run(PrefixConsistency::default(), Variant::Zk1154);
        assert!(!out.is_empty());
        assert!(out[0].message.contains("s3 had already delivered 2:3@s3"));
    }

    #[test]
    fn fires_when_a_committed_txn_is_lost() {
        // s2 delivered 3:2@s2 as its 6th txn before crashing; the new leader s3 never had it
        // and commits 4:1@s3 in its place.
        let out = eventful_run(PrefixConsistency::default(), Variant::LostCommit);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(3)));
        assert!(
            out[0]
                .message
                .contains("s3 delivered 4:1@s3 as its txn #6, but s2 had already delivered 3:2@s2"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn a_reset_below_the_breach_lets_a_server_be_checked_again() {
        let mut s = Script::new(2, PrefixConsistency::default());
        s.start(&[(1, vec![initial(1, 1)]), (2, vec![initial(1, 2)])], None);
        s.deliver(1);
        s.deliver(2);
        assert_eq!(s.take().len(), 1);
        // s2 re-delivers the same wrong txn after a restart: not a new breach.
        let rejoined = "diverged server checked again after reset or crash";
        assert_eq!(path_count(&s.c, rejoined), 0);
        s.crash(2);
        assert_eq!(path_count(&s.c, rejoined), 1);
        s.restart(2);
        s.deliver(2);
        assert!(s.take().is_empty());
        // Resynced to s1's history it agrees again, and then a new departure is reported.
        s.snap(2, 1);
        s.deliver(2);
        assert!(s.take().is_empty());
        s.apply(2, &proposal(2, 1, 2));
        s.deliver(2);
        s.apply(1, &proposal(2, 1, 1));
        s.deliver(1);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(1)));
        assert!(out[0].message.contains(&tid(2, 1, 2).to_string()));
    }
}
