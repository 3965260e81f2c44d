//! `integrity`: every delivered txn was proposed by an established leader for a client
//! request (Zab.tla Integrity).
//!
//! Servers only deliver what a leader broadcast: a txn that no established leader proposed
//! for a client request is one the ensemble made up or took from a leader that had no right
//! to propose (a leader proposes only once a quorum acknowledged NEWLEADER). It catches
//! corruption of txns in transit or in sync, and proposals made before establishment.
//!
//! A txn counts as properly proposed when its leader reported `Proposed` while it held an
//! established epoch (it reported `Established` and has not left the role since: the
//! outputs of one step are seen after the step, so the live view could already show a leader
//! that stepped down at the end of that step, at the zxid rollover for instance), and it
//! answers a client request, or is the closeSession of a
//! session the leader's tracker expired (the one txn a leader makes up by itself). Initial
//! txns (proposer `NONE`) are part of the scenario's given history and always allowed.
//!
//! Incremental: one record per proposal, kept as runs (`txn_runs`: a leader's epoch is one
//! entry); a `Delivered` looks up only the entries it adds.

use crate::history::added;
use crate::txn_runs::TxnRuns;
use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{Event, ServerId, TxnId, TxnOp};

#[derive(Default)]
pub struct Integrity {
    proposed: TxnRuns<()>,
    /// Txns reported `Proposed` that do not count, and why.
    improper: BTreeMap<TxnId, &'static str>,
    reported: BTreeSet<(ServerId, TxnId)>,
    /// Leaders holding an established epoch.
    established: BTreeSet<ServerId>,
    /// Path counts: delivered txns (not initial) looked up, session expiries the leader
    /// proposed on its own, and proposals of a leader not (or no longer) established.
    checked: u64,
    expiries: u64,
    unestablished: u64,
}

impl Checker for Integrity {
    fn name(&self) -> &'static str {
        "integrity"
    }

    fn interest(&self) -> Interest {
        crate::DELIVERIES.union(Interest::of(&[
            HappeningKind::Server(zab::EventKind::Proposed),
            HappeningKind::Server(zab::EventKind::Established),
            HappeningKind::Server(zab::EventKind::State),
            HappeningKind::Server(zab::EventKind::LeaderShutdown),
            HappeningKind::Crash,
        ]))
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("delivered txn checked against the proposals", self.checked),
            (
                "session expiry proposed by the leader itself",
                self.expiries,
            ),
            ("proposal by a leader not established", self.unestablished),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        if let Happening::Server {
            id,
            event: Event::Proposed { txn, op, request },
        } = h
        {
            let expiry = matches!(op, TxnOp::CloseSession { .. });
            if !self.established.contains(id) {
                self.unestablished += 1;
                self.improper
                    .insert(*txn, "its leader proposed it before it was established");
            } else if request.is_none() && !expiry {
                self.improper
                    .insert(*txn, "its leader proposed it for no client request");
            } else {
                if request.is_none() {
                    self.expiries += 1;
                }
                self.proposed.insert_new(*txn, ());
            }
            return;
        }
        match h {
            Happening::Server {
                id,
                event: Event::Established { .. },
            } => {
                self.established.insert(*id);
            }
            Happening::Server {
                id,
                event: Event::LeaderShutdown { .. },
            }
            | Happening::Crash { id } => {
                self.established.remove(id);
            }
            Happening::Server {
                id,
                event: Event::State { state, .. },
            } if *state != zab::ServerState::Leading => {
                self.established.remove(id);
            }
            _ => {}
        }
        let Some(d) = added(h, view) else {
            return;
        };
        let id = d.server;
        for &t in &d.txns {
            if t.proposer == ServerId::NONE {
                continue;
            }
            self.checked += 1;
            if self.proposed.contains(&t) {
                continue;
            }
            if !self.reported.insert((id, t)) {
                continue;
            }
            let why = self
                .improper
                .get(&t)
                .copied()
                .unwrap_or("no leader ever proposed it");
            out.push(Violation {
                invariant: "integrity",
                at_us: view.now_us(),
                server: Some(id),
                message: format!(
                    "{id} delivered {t}, but {why}: every delivered txn must have been proposed by an established leader for a client request"
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{eventful_run, eventful_script, initial, proposal, z, Script, Variant};
    use crate::{assert_fresh, path_count};

    #[test]
    fn quiet_on_runs_where_every_txn_was_proposed() {
        // Even the buggy variants only deliver txns that were properly proposed.
        for variant in [
            Variant::Correct,
            Variant::Zk2845,
            Variant::Zk1154,
            Variant::LostCommit,
        ] {
            let out = eventful_run(Integrity::default(), variant);
            assert!(out.is_empty(), "{variant:?}: {out:?}");
        }
        assert_fresh(&Integrity::default());
        let s = eventful_script(Integrity::default(), Variant::Correct);
        assert!(path_count(&s.c, "delivered txn checked against the proposals") > 0);
        assert_eq!(path_count(&s.c, "proposal by a leader not established"), 0);
    }

    fn epoch_two() -> Script<Integrity> {
        let mut s = Script::new(3, Integrity::default());
        let init = vec![initial(1, 1)];
        s.start(
            &[(1, init.clone()), (2, init.clone()), (3, init)],
            Some(z(1, 1)),
        );
        s.lead(1, 2);
        s.follow(2, 1, 2);
        s.diff(2, 1, &[]);
        s
    }

    #[test]
    fn fires_for_a_txn_no_leader_proposed() {
        let mut s = epoch_two();
        s.establish(1, &[1, 2]);
        s.up_to_date(2, 1);
        let t = s.propose(1, 1, &[2]);
        s.commit(1, &t, &[1, 2], &[2]);
        assert!(s.take().is_empty());
        // s2 applies a txn under s3's name that s3 never proposed.
        s.apply(2, &proposal(2, 2, 3));
        s.deliver(2);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].invariant, "integrity");
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert_eq!(
            out[0].message,
            "s2 delivered 2:2@s3, but no leader ever proposed it: every delivered txn must have been proposed by an established leader for a client request"
        );
        // Delivered again after a restart: the same breach.
        s.crash(2);
        s.restart(2);
        s.apply(2, &proposal(2, 2, 3));
        s.deliver(2);
        assert!(s.take().is_empty());
    }

    #[test]
    fn fires_for_a_proposal_made_before_establishment() {
        let mut s = epoch_two();
        // The leader proposes while still synchronizing, then establishes with it.
        let t = s.propose(1, 1, &[2]);
        s.establish(1, &[1, 2]);
        s.commit(1, &t, &[1, 2], &[2]);
        let out = s.take();
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].message.starts_with(
            "s1 delivered 2:1@s1, but its leader proposed it before it was established"
        ));
        assert_eq!(out[1].server, Some(ServerId(2)));
        assert_eq!(path_count(&s.c, "proposal by a leader not established"), 1);
    }

    /// The leader proposes and commits a txn with no client request behind it.
    fn unrequested(op: zab::TxnOp) -> Vec<Violation> {
        unrequested_script(op).take()
    }

    fn unrequested_script(op: zab::TxnOp) -> Script<Integrity> {
        let mut s = epoch_two();
        s.establish(1, &[1, 2]);
        s.up_to_date(2, 1);
        let mut fields = proposal(2, 1, 1).fields();
        fields.request = None;
        fields.op = op;
        let t = zab::Txn::from(fields);
        s.server(1).log.push(t.clone());
        s.event(
            1,
            Event::Proposed {
                txn: t.id(),
                op: t.op.clone(),
                request: None,
            },
        );
        s.write(1, zab::DiskOp::Append(t.clone()));
        s.commit(1, &t, &[1], &[]);
        s
    }

    #[test]
    fn fires_for_a_proposal_without_a_client_request() {
        let op = zab::TxnOp::Delete { path: "/k".into() };
        let out = unrequested(op);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0]
            .message
            .contains("but its leader proposed it for no client request"));
    }

    #[test]
    fn a_session_expiry_needs_no_client_request() {
        let session = zab::SessionId(0x0100_0000_0000_0001);
        let mut s = unrequested_script(zab::TxnOp::CloseSession { session });
        let out = s.take();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(
            path_count(&s.c, "session expiry proposed by the leader itself"),
            1
        );
    }
}
