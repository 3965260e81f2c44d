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
use crate::history::{applied_upto, DeliveredCounts};
use crate::view::leader_with_quorum;
use crate::znodes::{ephemerals, ephemerals_of, list};
use crate::{Checker, ClientEvent, Happening, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{ClientId, Event, ServerId, SessionId, TxnId, TxnOp, ZabPhase};

/// A committed closeSession.
#[derive(Clone, Copy, Debug)]
struct Closed {
    txn: TxnId,
    at_us: u64,
}

#[derive(Default)]
pub struct EphemeralCleanup {
    deliveries: DeliveredCounts,
    clients: Clients,
    /// closeSession proposals.
    closes: BTreeMap<TxnId, SessionId>,
    /// Proposals creating an ephemeral znode: its owner and path.
    creates: BTreeMap<TxnId, (SessionId, String)>,
    closed: BTreeMap<SessionId, Closed>,
    /// Sessions of crashed clients.
    crashed: BTreeMap<SessionId, ClientId>,
    last_established_us: u64,
    reported: BTreeSet<(ServerId, SessionId)>,
}

impl Checker for EphemeralCleanup {
    fn name(&self) -> &'static str {
        "ephemeral-cleanup"
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
                let Some((id, range)) = self.deliveries.follow(h) else {
                    return;
                };
                let Some(applied) = applied_upto(view, id, range.end) else {
                    return;
                };
                for t in applied.iter().skip(range.start) {
                    self.delivered(id, *t, view, out);
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
            let left: Vec<&str> = ephemerals_of(sv.tree, s).collect();
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
            for (s, path) in ephemerals(sv.tree) {
                held.entry(s).or_default().push(path);
            }
            for (s, paths) in held {
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
                        if due > now || leader.is_none() {
                            continue;
                        }
                        format!(
                            "whose client {} crashed at {} ms: with a {} ms session timeout the leader had to expire it by {} ms",
                            self.crashed[&s],
                            self.clients
                                .get(self.crashed[&s])
                                .and_then(|c| c.crashed_us)
                                .unwrap_or(0)
                                / 1000,
                            self.timeout_ms(s),
                            due / 1000
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

    fn timeout_ms(&self, s: SessionId) -> u32 {
        self.crashed
            .get(&s)
            .and_then(|c| self.clients.get(*c))
            .map(|c| c.timeout_ms)
            .unwrap_or(0)
    }

    /// When the leader must have expired the crashed client's session `s`.
    fn expiry_due(&self, s: SessionId, tick_us: u64) -> Option<u64> {
        let c = self.clients.get(*self.crashed.get(&s)?)?;
        let crashed = c.crashed_us?;
        let start = crashed.max(self.last_established_us);
        Some(start + u64::from(c.timeout_ms) * 1000 + 2 * tick_us)
    }
}
