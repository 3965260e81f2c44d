//! `primary-order`: a leader's txns are delivered in proposal order, and txns of epoch e before
//! those of e' > e (Zab.tla LocalPrimaryOrder and GlobalPrimaryOrder).
//!
//! Zab's primary order is what lets a client pipeline writes: a leader's later change never
//! takes effect without its earlier ones, and a newer epoch's changes always come after the
//! older epochs'. It catches a follower that skips txns because it advanced its last zxid
//! before applying them (zk-2355), two leaders proposing with the same zxids in one epoch
//! (zk-335), and an old epoch's txn kept and delivered after a newer epoch's (zk-1154,
//! zk-2845, when the stale txn ends up after the new ones).
//!
//! The rule, per server, for each txn b delivered right after a (or first):
//! - zxids strictly increase: b.zxid > a.zxid. A leader numbers its proposals in order and
//!   epochs are the high bits of the zxid, so this covers a same-epoch pair out of proposal
//!   order, an epoch going backwards, and two txns sharing one zxid.
//! - no proposal is skipped: a leader's first proposal of its epoch has counter
//!   `initial_zxid_counter + 1` and each next one the next counter, and it commits them in
//!   order, so a txn b proposed by a leader (not an initial txn, whose zxids are a scenario's)
//!   with a later counter must come right after the one before it: same proposer, same epoch,
//!   counter one less.
//!
//! Incremental: a `Delivered` looks only at the entries it adds and the one before them
//! (which is delivered and unchanged since, as `TreeReset` guarantees).

use crate::history::added;
use crate::{Checker, Happening, Interest, View, Violation};
use std::collections::BTreeSet;
use zab::{ServerId, TxnId};

#[derive(Default)]
pub struct PrimaryOrder {
    reported: BTreeSet<(ServerId, Option<TxnId>, TxnId)>,
    /// Path counts: delivered txns compared with the one right before them, those pairs that
    /// cross an epoch boundary, and proposals checked for a skipped predecessor.
    pairs: u64,
    epoch_changes: u64,
    gaps: u64,
}

impl Checker for PrimaryOrder {
    fn name(&self) -> &'static str {
        "primary-order"
    }

    fn interest(&self) -> Interest {
        crate::DELIVERIES
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("consecutive delivered txns compared", self.pairs),
            (
                "epoch change within a delivered sequence",
                self.epoch_changes,
            ),
            ("later proposal checked for its predecessor", self.gaps),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        let Some(d) = added(h, view) else {
            return;
        };
        let id = d.server;
        let first_counter = view.config().initial_zxid_counter + 1;
        for (i, a, b) in d.with_parents() {
            if let Some(a) = a {
                self.pairs += 1;
                if a.zxid.epoch() != b.zxid.epoch() {
                    self.epoch_changes += 1;
                }
            }
            let why = match a {
                Some(a) if b.zxid <= a.zxid => Some(backwards(a, b)),
                _ if b.proposer != ServerId::NONE && b.zxid.counter() > first_counter => {
                    self.gaps += 1;
                    let follows = a.is_some_and(|a| {
                        a.proposer == b.proposer
                            && a.zxid.epoch() == b.zxid.epoch()
                            && a.zxid.counter() + 1 == b.zxid.counter()
                    });
                    (!follows).then(|| {
                        format!(
                            "{} proposed {}:{} before it in epoch {}, and {id} has not delivered it",
                            b.proposer,
                            b.zxid.epoch(),
                            b.zxid.counter() - 1,
                            b.zxid.epoch()
                        )
                    })
                }
                _ => None,
            };
            let Some(why) = why else { continue };
            if !self.reported.insert((id, a, b)) {
                continue;
            }
            let after = a.map_or("as its first txn".to_string(), |a| {
                format!("right after {a}")
            });
            out.push(Violation {
                invariant: "primary-order",
                at_us: view.now_us(),
                server: Some(id),
                message: format!("{id} delivered {b} {after} (its txn #{}): {why}", i + 1),
            });
        }
    }
}

fn backwards(a: TxnId, b: TxnId) -> String {
    let (ea, eb) = (a.zxid.epoch(), b.zxid.epoch());
    if a == b {
        format!("{b} is delivered twice in a row")
    } else if a.zxid == b.zxid {
        format!(
            "two txns share zxid {}, proposed by {} and {}",
            a.zxid, a.proposer, b.proposer
        )
    } else if eb < ea {
        format!("a txn of epoch {eb} after one of epoch {ea}")
    } else if a.proposer == b.proposer && b.proposer != ServerId::NONE {
        format!("{} proposed {b} before {a}", b.proposer)
    } else {
        format!("zxids must increase, {} comes after {}", b.zxid, a.zxid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{eventful_run, eventful_script, initial, proposal, Script, Variant};
    use crate::{assert_fresh, path_count};

    fn two_servers() -> Script<PrimaryOrder> {
        let mut s = Script::new(2, PrimaryOrder::default());
        let init = vec![initial(1, 1), initial(1, 2)];
        s.start(&[(1, init.clone()), (2, init)], None);
        s
    }

    #[test]
    fn quiet_on_correct_runs() {
        for variant in [Variant::Correct, Variant::LostCommit] {
            let out = eventful_run(PrimaryOrder::default(), variant);
            assert!(out.is_empty(), "{variant:?}: {out:?}");
        }
        assert_fresh(&PrimaryOrder::default());
        let s = eventful_script(PrimaryOrder::default(), Variant::Correct);
        for path in [
            "consecutive delivered txns compared",
            "epoch change within a delivered sequence",
            "later proposal checked for its predecessor",
        ] {
            assert!(path_count(&s.c, path) > 0, "{path}");
        }
    }

    #[test]
    fn quiet_with_gaps_between_initial_txns_and_an_initial_counter() {
        let mut s = Script::new(1, PrimaryOrder::default());
        s.v.cfg.initial_zxid_counter = 10;
        s.start(
            &[(1, vec![initial(1, 1), initial(1, 7), initial(3, 2)])],
            None,
        );
        s.deliver(1);
        s.apply(1, &proposal(4, 11, 1));
        s.apply(1, &proposal(4, 12, 1));
        s.deliver(1);
        assert!(s.take().is_empty());
    }

    #[test]
    fn fires_when_a_follower_skips_a_proposal() {
        // zk-2355: s2 misses 2:2@s1 and delivers 2:3@s1 right after 2:1@s1.
        let mut s = two_servers();
        let ts: Vec<_> = (1..=3).map(|c| proposal(2, c, 1)).collect();
        for t in &ts {
            s.apply(1, t);
        }
        s.deliver(1);
        s.apply(2, &ts[0]);
        s.apply(2, &ts[2]);
        s.deliver(2);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].invariant, "primary-order");
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert_eq!(
            out[0].message,
            "s2 delivered 2:3@s1 right after 2:1@s1 (its txn #4): s1 proposed 2:2 before it in epoch 2, and s2 has not delivered it"
        );
    }

    #[test]
    fn fires_when_a_new_epoch_starts_past_its_first_proposal() {
        let mut s = two_servers();
        s.apply(2, &proposal(3, 2, 1));
        s.deliver(2);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0]
            .message
            .contains("s1 proposed 3:1 before it in epoch 3"));
    }

    #[test]
    fn fires_when_an_old_epoch_txn_comes_after_a_newer_one() {
        let mut s = two_servers();
        s.apply(2, &proposal(3, 1, 2));
        s.apply(2, &proposal(2, 1, 1));
        s.deliver(2);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            out[0].message,
            "s2 delivered 2:1@s1 right after 3:1@s2 (its txn #4): a txn of epoch 2 after one of epoch 3"
        );
        // The same pair delivered again after a restart is not a new breach.
        s.crash(2);
        s.restart(2);
        s.deliver(2);
        s.apply(2, &proposal(3, 1, 2));
        s.apply(2, &proposal(2, 1, 1));
        s.deliver(2);
        assert!(s.take().is_empty());
    }

    #[test]
    fn fires_when_a_txn_is_delivered_twice() {
        // zk-2845: a follower keeps an outstanding proposal applied across TRUNC, and applies
        // it again when the leader forwards it.
        let mut s = two_servers();
        let t = proposal(2, 1, 1);
        s.apply(2, &t);
        s.apply(2, &t);
        s.deliver(2);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0]
                .message
                .ends_with("2:1@s1 is delivered twice in a row"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn fires_when_two_leaders_share_an_epoch() {
        // zk-335: s1 and s2 both lead epoch 2; s2 ends up with both 2:1s.
        let mut s = two_servers();
        s.apply(2, &proposal(2, 1, 1));
        s.apply(2, &proposal(2, 1, 2));
        s.deliver(2);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0]
            .message
            .ends_with("two txns share zxid 2:1, proposed by s1 and s2"));
    }
}
