//! `ephemeral-cleanup`: once a session expires or closes, its ephemeral znodes are gone, in one
//! txn, on every server.
//!
//! A closeSession txn (the client's own, or the leader's session tracker expiring it) deletes
//! the session's ephemerals as part of the same txn, so:
//! - a server that delivers the closeSession of s holds no ephemeral of s afterwards;
//! - no server delivers a create of an ephemeral owned by s with a zxid after s's committed
//!   closeSession (the leader must refuse creates of a closing session);
//! - when the run ends, no running server in BROADCAST holds an ephemeral of a session whose
//!   closeSession is committed and which it has applied past. A server that skipped the
//!   closeSession during a sync shows here (zk-2355: the ephemeral is never deleted there);
//! - nor of a session whose client crashed long enough ago that the leader must have expired
//!   it: a session tracker expires a silent session within its timeout plus a tick, counted
//!   from the crash or from the establishment of the current leader (a new leader starts
//!   every session's clock afresh), whichever is later. One more tick covers the commit.
//!
//! Incremental: the closeSession and ephemeral-create proposals are indexed by txn id, so each
//! delivered txn is one lookup; the end-of-run check reads each server's ephemerals once.

use crate::clients::Clients;
use crate::history::added;
use crate::view::leader_with_quorum;
use crate::znodes::list;
use crate::{Checker, ClientEvent, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{ClientId, Event, Path, ServerId, SessionId, TxnId, TxnOp, ZabPhase};

/// A committed closeSession.
#[derive(Clone, Copy, Debug)]
struct Closed {
    txn: TxnId,
    at_us: u64,
}

/// A crashed client's session, and when its expiry must have happened.
struct ExpiryDue {
    client: ClientId,
    crashed_us: u64,
    timeout_ms: u32,
    at_us: u64,
}

#[derive(Default)]
pub struct EphemeralCleanup {
    clients: Clients,
    /// closeSession proposals.
    closes: BTreeMap<TxnId, SessionId>,
    /// Proposals creating an ephemeral znode: its owner and path.
    creates: BTreeMap<TxnId, (SessionId, Path)>,
    closed: BTreeMap<SessionId, Closed>,
    /// Sessions of crashed clients.
    crashed: BTreeMap<SessionId, ClientId>,
    last_established_us: u64,
    reported: BTreeSet<(ServerId, SessionId)>,
    /// Path counts: delivered closeSessions checked for leftovers, delivered ephemeral
    /// creates checked against their session's close, sessions whose ephemerals a server
    /// holds at the end judged, and of those, crashed clients' sessions judged for expiry.
    closes_checked: u64,
    creates_checked: u64,
    held_at_end: u64,
    expiries: u64,
}

impl Checker for EphemeralCleanup {
    fn name(&self) -> &'static str {
        "ephemeral-cleanup"
    }

    fn interest(&self) -> Interest {
        crate::clients::INTEREST
            .union(crate::DELIVERIES)
            .union(Interest::of(&[
                HappeningKind::Server(zab::EventKind::Proposed),
                HappeningKind::Server(zab::EventKind::Committed),
                HappeningKind::Server(zab::EventKind::Established),
                HappeningKind::Client,
                HappeningKind::LivenessDeadline,
            ]))
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "closesession delivery checked for leftovers",
                self.closes_checked,
            ),
            (
                "ephemeral create checked against its session's close",
                self.creates_checked,
            ),
            (
                "session's ephemerals held at the end judged",
                self.held_at_end,
            ),
            ("crashed client's session judged for expiry", self.expiries),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        let now = view.now_us();
        self.clients.follow(h, now);
        match h {
            Happening::Server {
                event: Event::Proposed { txn, op, .. },
                ..
            } => match op {
                TxnOp::CloseSession { session } => {
                    self.closes.insert(*txn, *session);
                }
                TxnOp::Create {
                    path,
                    ephemeral_owner,
                    ..
                } if *ephemeral_owner != SessionId::NONE => {
                    self.creates.insert(*txn, (*ephemeral_owner, path.clone()));
                }
                _ => {}
            },
            Happening::Server {
                event: Event::Committed { txn, .. },
                ..
            } => {
                if let Some(s) = self.closes.get(txn) {
                    self.closed.entry(*s).or_insert(Closed {
                        txn: *txn,
                        at_us: now,
                    });
                }
            }
            Happening::Server {
                event: Event::Established { .. },
                ..
            } => self.last_established_us = now,
            Happening::Client {
                id,
                event: ClientEvent::Crashed,
            } => {
                if let Some(c) = self.clients.get(*id) {
                    if c.session != SessionId::NONE {
                        self.crashed.insert(c.session, *id);
                    }
                }
            }
            Happening::LivenessDeadline { .. } => self.at_deadline(view, out),
            _ => {
                let Some(d) = added(h, view) else {
                    return;
                };
                for &t in &d.txns {
                    self.delivered(d.server, t, view, out);
                }
            }
        }
    }
}

impl EphemeralCleanup {
    fn delivered(&mut self, id: ServerId, t: TxnId, view: &dyn View, out: &mut Vec<Violation>) {
        let now = view.now_us();
        if let Some(s) = self.closes.get(&t).copied() {
            self.closed
                .entry(s)
                .or_insert(Closed { txn: t, at_us: now });
            let Some(sv) = view.server(id) else { return };
            self.closes_checked += 1;
            let left: Vec<&str> = sv.tree.ephemerals_of(s).collect();
            if !left.is_empty() && self.reported.insert((id, s)) {
                out.push(Violation {
                    invariant: "ephemeral-cleanup",
                    at_us: now,
                    server: Some(id),
                    message: format!(
                        "{id} delivered {t}, the closeSession of session {s}, yet still holds its ephemeral znode(s) {}: they must go in that same txn",
                        list(left)
                    ),
                });
            }
        }
        if let Some((s, path)) = self.creates.get(&t) {
            self.creates_checked += 1;
            if let Some(c) = self.closed.get(s).filter(|c| c.txn.zxid < t.zxid) {
                if self.reported.insert((id, *s)) {
                    out.push(Violation {
                        invariant: "ephemeral-cleanup",
                        at_us: now,
                        server: Some(id),
                        message: format!(
                            "{id} delivered {t}, creating ephemeral {path} for session {s}, after that session's closeSession {} was committed",
                            c.txn
                        ),
                    });
                }
            }
        }
    }

    fn at_deadline(&mut self, view: &dyn View, out: &mut Vec<Violation>) {
        let now = view.now_us();
        let tick = view.config().tick_us;
        let leader = leader_with_quorum(view);
        for &id in view.members() {
            let Some(sv) = view.server(id) else { continue };
            if sv.phase != ZabPhase::Broadcast {
                continue;
            }
            let mut held: BTreeMap<SessionId, Vec<&str>> = BTreeMap::new();
            for (s, path) in sv.tree.all_ephemerals() {
                held.entry(s).or_default().push(path);
            }
            for (s, paths) in held {
                self.held_at_end += 1;
                let why = match self.closed.get(&s) {
                    Some(c) if c.txn.zxid <= sv.tree.last_processed => format!(
                        "whose closeSession {} was committed at {} ms and which {id} has applied past (up to {})",
                        c.txn,
                        c.at_us / 1000,
                        sv.tree.last_processed
                    ),
                    Some(_) => continue,
                    None => {
                        let Some(due) = self.expiry_due(s, tick) else {
                            continue;
                        };
                        self.expiries += 1;
                        if due.at_us > now || leader.is_none() {
                            continue;
                        }
                        format!(
                            "whose client {} crashed at {} ms: with a {} ms session timeout the leader had to expire it by {} ms",
                            due.client,
                            due.crashed_us / 1000,
                            due.timeout_ms,
                            due.at_us / 1000
                        )
                    }
                };
                if !self.reported.insert((id, s)) {
                    continue;
                }
                out.push(Violation {
                    invariant: "ephemeral-cleanup",
                    at_us: now,
                    server: Some(id),
                    message: format!(
                        "at the end of the run {id} still holds ephemeral znode(s) {} of session {s}, {why}",
                        list(paths)
                    ),
                });
            }
        }
    }

    /// When the leader must have expired the crashed client's session `s`.
    fn expiry_due(&self, s: SessionId, tick_us: u64) -> Option<ExpiryDue> {
        let client = *self.crashed.get(&s)?;
        let c = self.clients.get(client)?;
        let crashed_us = c.crashed_us?;
        let start = crashed_us.max(self.last_established_us);
        Some(ExpiryDue {
            client,
            crashed_us,
            timeout_ms: c.timeout_ms,
            at_us: start + u64::from(c.timeout_ms) * 1000 + 2 * tick_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_script::create;
    use crate::script::Script;
    use zab::db::RequestId;
    use zab::{ClientOp, CreateMode, Txn};

    /// c1 (session 0x1) on s2 holds the ephemeral /app/e.
    fn holding() -> Script<EphemeralCleanup> {
        let mut s = Script::serving(EphemeralCleanup::default());
        s.connect(1, 2, 2000);
        s.client_write(1, create("/app", CreateMode::Persistent));
        s.client_write(1, create("/app/e", CreateMode::Ephemeral));
        s
    }

    fn close(s: &mut Script<EphemeralCleanup>, c: u32) -> TxnOp {
        TxnOp::CloseSession {
            session: s.session(c),
        }
    }

    #[test]
    fn quiet_when_closed_and_expired_sessions_lose_their_ephemerals() {
        crate::assert_fresh(&EphemeralCleanup::default());
        let mut s = holding();
        s.connect(2, 3, 2000);
        s.client_write(2, create("/app/f", CreateMode::Ephemeral));
        s.client_write(1, ClientOp::CloseSession);
        // c2 crashes at 1 s and the leader expires its session.
        s.v.now = 1_000_000;
        s.client(2, ClientEvent::Crashed);
        s.v.now = 3_000_000;
        let op = close(&mut s, 2);
        s.txn(op, None);
        s.deadline(5_000_000, 10_000_000);
        assert!(s.take().is_empty());
        // Two closes and two ephemeral creates, each on three servers; nothing left at the end.
        assert_eq!(
            s.c.paths(),
            [
                ("closesession delivery checked for leftovers", 6),
                ("ephemeral create checked against its session's close", 6),
                ("session's ephemerals held at the end judged", 0),
                ("crashed client's session judged for expiry", 0),
            ]
        );
    }

    #[test]
    fn quiet_before_a_crashed_clients_session_is_due_to_expire() {
        let mut s = holding();
        s.v.now = 9_000_000;
        s.client(1, ClientEvent::Crashed);
        s.deadline(5_000_000, 10_000_000);
        assert!(s.take().is_empty());
        // Held on all three servers, and not yet due.
        for path in [
            "session's ephemerals held at the end judged",
            "crashed client's session judged for expiry",
        ] {
            assert_eq!(crate::path_count(&s.c, path), 3, "{path}");
        }
    }

    #[test]
    fn fires_when_a_server_keeps_an_ephemeral_after_delivering_the_close() {
        let mut s = holding();
        let op = close(&mut s, 1);
        let t = s.propose_op(1, op, None, &[2, 3]);
        s.commit(1, &t, &[1, 2], &[2]);
        // s3 counts the close as applied without carrying it out.
        let tree = &mut s.server(3).tree;
        tree.applied.push(t.id());
        tree.last_processed = t.zxid;
        s.deliver(3);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(3)));
        assert_eq!(
            out[0].message,
            format!("s3 delivered {}, the closeSession of session 0x1, yet still holds its ephemeral znode(s) /app/e: they must go in that same txn", t.id())
        );
    }

    #[test]
    fn fires_when_an_ephemeral_is_created_for_a_closed_session() {
        let mut s = holding();
        let op = close(&mut s, 1);
        let closed = s.txn(op, None);
        let t: Txn = s.txn(
            TxnOp::Create {
                path: "/app/g".into(),
                data: 0,
                ephemeral_owner: s.session(1),
                parent_cversion: 3,
            },
            Some(RequestId {
                client: ClientId(1),
                cxid: 9,
            }),
        );
        let out = s.take();
        assert_eq!(out.len(), 3, "one per server: {out:?}");
        assert_eq!(
            out[0].message,
            format!(
                "s1 delivered {}, creating ephemeral /app/g for session 0x1, after that session's closeSession {} was committed",
                t.id(),
                closed.id()
            )
        );
    }

    #[test]
    fn fires_at_the_end_when_a_follower_skipped_the_close() {
        // zk-2355: s3 never gets the closeSession, but applies the next txn past it.
        let mut s = holding();
        let op = close(&mut s, 1);
        let t = s.propose_op(1, op, None, &[2]);
        s.commit(1, &t, &[1, 2], &[2]);
        let next = s.propose_op(1, TxnOp::Delete { path: "/x".into() }, None, &[2, 3]);
        s.commit(1, &next, &[1, 2, 3], &[2, 3]);
        assert!(s.take().is_empty());
        s.deadline(5_000_000, 10_000_000);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(3)));
        assert!(
            out[0].message.starts_with(&format!(
                "at the end of the run s3 still holds ephemeral znode(s) /app/e of session 0x1, whose closeSession {} was committed",
                t.id()
            )),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn fires_at_the_end_when_a_crashed_clients_session_never_expired() {
        let mut s = holding();
        s.v.now = 1_000_000;
        s.client(1, ClientEvent::Crashed);
        s.deadline(5_000_000, 10_000_000);
        let out = s.take();
        assert_eq!(out.len(), 3, "one per server: {out:?}");
        assert_eq!(
            out[0].message,
            "at the end of the run s1 still holds ephemeral znode(s) /app/e of session 0x1, whose client c1 crashed at 1001 ms: with a 2000 ms session timeout the leader had to expire it by 3201 ms"
        );
    }
}
