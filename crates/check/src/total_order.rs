//! `total-order`: if a server delivers a before b, every server that delivers b delivers a
//! first (Zab.tla TotalOrder).
//!
//! Zab delivers one sequence of state changes; a client that reads b on one server must be
//! able to rely on every earlier change being there on any other server too. It catches a
//! follower that keeps an abandoned txn in memory or in its log and delivers the leader's next
//! txns after it (zk-2845, zk-1154), and a follower that skips txns (zk-2355).
//!
//! The rule, as checked: every server that delivers b has delivered exactly the same txns
//! before it, in the same order. That is equivalent to TotalOrder: if servers i and j both
//! deliver b, TotalOrder forces each of them to deliver before b every txn the other
//! delivers before b, so the sets before b are equal, and since the same holds for every txn
//! in that set, so is the order. Prefixes that are equal up to b are equal exactly when every
//! txn in them has the same immediate predecessor everywhere, so it is enough to remember,
//! for each txn, the txn delivered right before it the first time anyone delivered it (none
//! at position 1), and to require that same predecessor at every later delivery of it. Servers
//! may still deliver different txns after a common prefix: that breaks prefix-consistency,
//! not total order, and is left to that checker.
//!
//! Incremental: one record per txn ever delivered, kept as runs (`txn_runs`: an epoch that one
//! server delivers first, in order, is one entry); a `Delivered` looks up only the entries it
//! adds. Only when reporting does it compare the two servers' prefixes, to name a pair of
//! txns they order differently.

use crate::history::{added, applied_upto};
use crate::txn_runs::{Successor, TxnRuns};
use crate::{Checker, Happening, Interest, View, Violation};
use std::collections::BTreeSet;
use zab::{Prefix, ServerId, TxnId};

/// The first delivery of a txn anywhere.
#[derive(Clone, Copy, PartialEq)]
struct First {
    /// The txn delivered right before it, or none at position 1.
    parent: Option<TxnId>,
    server: ServerId,
    /// 0-based position in that server's delivered sequence.
    position: usize,
}

/// In a run of txns first delivered one after another by one server, each has the one
/// before it as its parent, one position on.
impl Successor for First {
    fn nth(self, key: TxnId, n: u64) -> First {
        match n {
            0 => self,
            n => First {
                parent: Some(TxnId {
                    zxid: zab::Zxid(key.zxid.0 + n - 1),
                    proposer: key.proposer,
                }),
                server: self.server,
                position: self.position + n as usize,
            },
        }
    }
}

#[derive(Default)]
pub struct TotalOrder {
    first: TxnRuns<First>,
    reported: BTreeSet<(ServerId, TxnId)>,
    /// Path counts: later deliveries of a txn compared with its first one, by another server
    /// or by the first deliverer itself again (after a restart or resync).
    compared: u64,
    redelivered: u64,
}

impl Checker for TotalOrder {
    fn name(&self) -> &'static str {
        "total-order"
    }

    fn interest(&self) -> Interest {
        crate::DELIVERIES
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("delivery compared with another server's", self.compared),
            (
                "re-delivery after restart or resync compared",
                self.redelivered,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        let Some(d) = added(h, view) else {
            return;
        };
        let id = d.server;
        for (i, parent, b) in d.with_parents() {
            let Some(first) = self.first.get(&b) else {
                self.first.insert_new(
                    b,
                    First {
                        parent,
                        server: id,
                        position: i,
                    },
                );
                continue;
            };
            if first.server == id {
                self.redelivered += 1;
            } else {
                self.compared += 1;
            }
            if first.parent == parent || !self.reported.insert((id, b)) {
                continue;
            }
            let Some(prefix) = applied_upto(view, id, i) else {
                continue;
            };
            let message = explain(view, id, prefix, b, &first);
            out.push(Violation {
                invariant: "total-order",
                at_us: view.now_us(),
                server: Some(id),
                message,
            });
        }
    }
}

/// Names a pair of txns the two servers order differently, where their histories allow it.
/// `prefix` is what `id` delivered before `b`.
fn explain(view: &dyn View, id: ServerId, prefix: Prefix<'_>, b: TxnId, first: &First) -> String {
    let r = first.server;
    let before = |t: Option<TxnId>| t.map_or("nothing".to_string(), |t| t.to_string());
    let tail = format!(
        "({id} delivered it as its txn #{} right after {}, {r} as its txn #{} right after {})",
        prefix.len() + 1,
        before(prefix.last()),
        first.position + 1,
        before(first.parent),
    );
    // What the first deliverer delivered before b, if its sequence still shows it.
    let r_prefix = view
        .server(r)
        .filter(|s| s.delivered > first.position && s.tree.applied.get(first.position) == Some(b))
        .map(|s| s.tree.applied.upto(first.position));
    if let Some(c) = first.parent.filter(|c| !prefix.contains(c)) {
        return format!("{r} delivered {c} before {b}, but {id} delivered {b} without delivering {c} first {tail}");
    }
    let Some(a) = prefix.last() else {
        // Unreachable: an empty prefix would have been caught just above.
        return format!("{id} and {r} deliver different txns before {b} {tail}");
    };
    match (r_prefix, first.parent) {
        (Some(rp), _) if !rp.contains(&a) => format!(
            "{id} delivered {a} before {b}, but {r} delivered {b} without delivering {a} first {tail}"
        ),
        (Some(_), Some(c)) => format!(
            "{r} delivered {a} before {c}, but {id} delivered {c} before {a}, both before {b} {tail}"
        ),
        _ => format!(
            "{id} and {r} delivered different txns before {b}, so some txn precedes {b} on one of them and not on the other {tail}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{eventful_run, eventful_script, initial, proposal, Script, Variant};
    use crate::{assert_fresh, path_count};

    #[test]
    fn quiet_on_a_correct_run_with_crashes_resyncs_and_leader_changes() {
        assert_fresh(&TotalOrder::default());
        let mut s = eventful_script(TotalOrder::default(), Variant::Correct);
        let out = s.take();
        assert!(out.is_empty(), "{out:?}");
        for path in [
            "delivery compared with another server's",
            "re-delivery after restart or resync compared",
        ] {
            assert!(path_count(&s.c, path) > 0, "{path}");
        }
    }

    #[test]
    fn quiet_when_a_committed_txn_is_lost_but_no_two_servers_order_a_pair_differently() {
        // s2 delivered 3:2@s2 and then lost it; 4:1@s3 comes right after 3:1@s2 everywhere.
        // That breaks prefix-consistency and committed-durability, not total order.
        let out = eventful_run(TotalOrder::default(), Variant::LostCommit);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn fires_when_a_follower_delivers_the_leaders_txns_after_an_abandoned_one() {
        // zk-2845: s3 keeps 2:3@s3 in memory and delivers 3:1@s2 after it; s2 (the leader)
        // delivered 3:1@s2 right after 2:2@s3.
        let out = eventful_run(TotalOrder::default(), Variant::Zk2845);
        assert!(!out.is_empty());
        let v = &out[0];
        assert_eq!(v.invariant, "total-order");
        assert_eq!(v.server, Some(ServerId(3)));
        assert!(
            v.message.contains(
                "s3 delivered 2:3@s3 before 3:1@s2, but s2 delivered 3:1@s2 without delivering 2:3@s3 first"
            ),
            "{}",
            v.message
        );
        assert!(v.message.contains("(s3 delivered it as its txn #6 right after 2:3@s3, s2 as its txn #5 right after 2:2@s3)"), "{}", v.message);
    }

    #[test]
    fn fires_when_a_server_delivers_a_txn_without_its_predecessor() {
        // zk-2355 style: s2 skips 2:1@s1 and delivers 2:2@s1 right after 1:1.
        let mut s = Script::new(2, TotalOrder::default());
        s.start(&[(1, vec![initial(1, 1)]), (2, vec![initial(1, 1)])], None);
        let (a, b) = (proposal(2, 1, 1), proposal(2, 2, 1));
        s.apply(1, &a);
        s.apply(1, &b);
        s.deliver(1);
        s.apply(2, &b);
        s.deliver(2);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert!(
            out[0].message.starts_with(
                "s1 delivered 2:1@s1 before 2:2@s1, but s2 delivered 2:2@s1 without delivering 2:1@s1 first"
            ),
            "{}",
            out[0].message
        );
        // Delivering it again after a restart is the same breach.
        s.crash(2);
        s.restart(2);
        s.apply(2, &b);
        s.deliver(2);
        assert!(s.take().is_empty());
    }

    #[test]
    fn fires_when_two_servers_swap_a_pair() {
        let mut s = Script::new(2, TotalOrder::default());
        s.start(&[(1, vec![initial(1, 1)]), (2, vec![initial(1, 1)])], None);
        let (a, c, b) = (proposal(2, 1, 1), proposal(2, 2, 1), proposal(2, 3, 1));
        for t in [&a, &c, &b] {
            s.apply(1, t);
        }
        s.deliver(1);
        for t in [&c, &a, &b] {
            s.apply(2, t);
        }
        s.deliver(2);
        let out = s.take();
        // 2:2 comes right after 1:1 on s2, 2:1 right after 2:2, and 2:3 finally after the
        // same two txns as on s1, in the other order.
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(
            out[1].message.starts_with(
                "s2 delivered 2:2@s1 before 2:1@s1, but s1 delivered 2:1@s1 without delivering 2:2@s1 first"
            ),
            "{}",
            out[1].message
        );
        assert!(
            out[2].message.starts_with(
                "s1 delivered 2:1@s1 before 2:2@s1, but s2 delivered 2:2@s1 before 2:1@s1, both before 2:3@s1"
            ),
            "{}",
            out[2].message
        );
    }

    #[test]
    fn quiet_when_servers_only_diverge_after_a_common_prefix() {
        let mut s = Script::new(2, TotalOrder::default());
        s.start(&[(1, vec![initial(1, 1)]), (2, vec![initial(1, 1)])], None);
        s.apply(1, &proposal(2, 1, 1));
        s.deliver(1);
        s.apply(2, &proposal(2, 1, 2));
        s.deliver(2);
        assert!(s.take().is_empty());
    }
}
