//! `progress`: after recovery every pending client operation is answered and new writes
//! commit; and an election-recipe client leads.
//!
//! ZAB promises liveness only once a quorum is up and connected; until then a client may
//! wait forever. So the check runs once, at [`Happening::LivenessDeadline`], and only when a
//! connected quorum exists:
//! - every operation a running client was still waiting for must have been answered by a
//!   server unless it was submitted in the second half of the liveness window (it may
//!   legitimately still be in flight). An operation the client library failed with a
//!   connection loss leaves the client stalled: the next operation it submits inherits the
//!   stalled one's submission time until a server answers, so failovers do not reset the
//!   clock;
//! - with the election recipe, a new leader follows the old one: if the owner of the smallest
//!   election znode is running with a live session, some running client with a live session
//!   believes it leads, unless the contenders changed (a leader came or went, an election
//!   znode or a session was committed away, a client crashed, paused or resumed) in the second
//!   half of the window, when a hand-over may still be under way.
//!
//! Incremental: one entry per operation in flight; the election check reads the established
//! leader's ephemerals once.

use crate::clients::Clients;
use crate::committed_ops::CommittedOps;
use crate::view::{connected_quorum, leader_with_quorum};
use crate::znodes::{sequence, ELECTION_DIR};
use crate::{Checker, ClientEvent, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::client_api::RecipeEvent;
use zab::{ClientId, ClientOp, KeeperError, Path, ServerId, SessionId, TxnOp};

struct Waiting {
    /// The request's name and path, printed only if it stalls.
    what: (&'static str, Option<Path>),
    first_us: u64,
    submitted_us: u64,
    server: ServerId,
}

pub struct Progress {
    clients: Clients,
    committed: CommittedOps,
    waiting: BTreeMap<(ClientId, u64), Waiting>,
    /// Clients whose last operation ended without a server's answer, since when.
    stalled: BTreeMap<ClientId, u64>,
    closed: BTreeSet<SessionId>,
    /// Clients that believe they lead, with the session they won under.
    leaders: BTreeMap<ClientId, SessionId>,
    /// Some client contends in the election recipe.
    election: bool,
    /// The last time the election's contenders changed.
    election_changed_us: u64,
    /// Path counts: deadlines judged with a connected quorum, operations still waiting
    /// judged there, operations submitted while the client was stalled by one that failed
    /// without an answer (a failover), and election recipes judged at the deadline.
    deadlines: u64,
    waiting_judged: u64,
    stalled_submits: u64,
    elections: u64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            clients: Clients::default(),
            committed: CommittedOps::keeping(|op| match op {
                TxnOp::CloseSession { .. } => true,
                TxnOp::Create { path, .. } | TxnOp::Delete { path } => in_election(path),
                _ => false,
            }),
            waiting: BTreeMap::new(),
            stalled: BTreeMap::new(),
            closed: BTreeSet::new(),
            leaders: BTreeMap::new(),
            election: false,
            election_changed_us: 0,
            deadlines: 0,
            waiting_judged: 0,
            stalled_submits: 0,
            elections: 0,
        }
    }
}

fn in_election(path: &str) -> bool {
    path.strip_prefix(ELECTION_DIR)
        .is_some_and(|rest| rest.starts_with('/'))
}

impl Checker for Progress {
    fn name(&self) -> &'static str {
        "progress"
    }

    fn interest(&self) -> Interest {
        crate::clients::INTEREST
            .union(crate::committed_ops::INTEREST)
            .union(Interest::of(&[
                HappeningKind::Client,
                HappeningKind::LivenessDeadline,
            ]))
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("deadline judged with a connected quorum", self.deadlines),
            (
                "operation still waiting judged at the deadline",
                self.waiting_judged,
            ),
            (
                "operation submitted while stalled by a failed one",
                self.stalled_submits,
            ),
            ("election recipe judged at the deadline", self.elections),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        let now = view.now_us();
        self.clients.follow(h, now);
        for (_, op) in self.committed.follow(h, view) {
            match op {
                TxnOp::CloseSession { session } => {
                    self.closed.insert(session);
                    self.election_changed_us = now;
                }
                TxnOp::Create { path, .. } | TxnOp::Delete { path } if in_election(&path) => {
                    self.election_changed_us = now;
                }
                _ => {}
            }
        }
        match h {
            Happening::Client { id, event } => self.client(*id, event, now),
            Happening::LivenessDeadline { faults_over_us } => {
                self.at_deadline(*faults_over_us, view, out)
            }
            _ => {}
        }
    }
}

impl Progress {
    fn client(&mut self, id: ClientId, event: &ClientEvent, now: u64) {
        match event {
            ClientEvent::Submitted {
                op,
                server,
                request,
                ..
            } => {
                if let ClientOp::Create { path, .. } = request {
                    if in_election(path) && !self.election {
                        self.election = true;
                        self.election_changed_us = now;
                    }
                }
                let what = (request.name(), request.path().cloned());
                let first_us = match self.stalled.get(&id) {
                    Some(since) => {
                        self.stalled_submits += 1;
                        *since
                    }
                    None => now,
                };
                self.waiting.insert(
                    (id, *op),
                    Waiting {
                        what,
                        first_us,
                        submitted_us: now,
                        server: *server,
                    },
                );
            }
            ClientEvent::Answered {
                op, zxid, result, ..
            } => {
                let Some(w) = self.waiting.remove(&(id, *op)) else {
                    return;
                };
                if zxid.is_some() {
                    self.stalled.remove(&id);
                } else if result != &Err(KeeperError::SessionExpired) {
                    let since = self.stalled.entry(id).or_insert(w.first_us);
                    *since = (*since).min(w.first_us);
                }
            }
            ClientEvent::Expired { .. } | ClientEvent::Crashed => {
                self.forget(id);
                if self.leaders.remove(&id).is_some() || matches!(event, ClientEvent::Crashed) {
                    self.election_changed_us = now;
                }
            }
            ClientEvent::Paused | ClientEvent::Resumed => self.election_changed_us = now,
            ClientEvent::Recipe(RecipeEvent::Leading { .. }) => {
                let session = self.clients.get(id).map(|c| c.session).unwrap_or_default();
                self.leaders.insert(id, session);
                self.election_changed_us = now;
            }
            ClientEvent::Recipe(RecipeEvent::NotLeading) => {
                self.leaders.remove(&id);
                self.election_changed_us = now;
            }
            _ => {}
        }
    }

    fn forget(&mut self, id: ClientId) {
        let gone: Vec<_> = self
            .waiting
            .range((id, 0)..=(id, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            self.waiting.remove(&k);
        }
        self.stalled.remove(&id);
    }

    fn at_deadline(&mut self, faults_over_us: u64, view: &dyn View, out: &mut Vec<Violation>) {
        let now = view.now_us();
        let cutoff = faults_over_us + now.saturating_sub(faults_over_us) / 2;
        let Some(quorum) = connected_quorum(view) else {
            return;
        };
        self.deadlines += 1;
        self.waiting_judged += self.waiting.len() as u64;
        let quorum = quorum
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut reported = BTreeSet::new();
        for ((client, op), w) in &self.waiting {
            if w.first_us > cutoff
                || self.clients.get(*client).is_some_and(|c| !c.alive())
                || !reported.insert(*client)
            {
                continue;
            }
            let stalled = if w.first_us < w.submitted_us {
                format!(
                    " (submitted at {} ms; its earlier operations failed without an answer since {} ms)",
                    w.submitted_us / 1000,
                    w.first_us / 1000
                )
            } else {
                format!(" (submitted at {} ms)", w.submitted_us / 1000)
            };
            let what = match &w.what {
                (name, Some(path)) => format!("{name} {path}"),
                (name, None) => name.to_string(),
            };
            out.push(Violation {
                invariant: "progress",
                at_us: now,
                server: Some(w.server),
                message: format!(
                    "{client}'s {what} (operation {op}) to {}{stalled} is still unanswered {} ms after the last fault ended (at {} ms); {quorum} were up and connected",
                    w.server,
                    now.saturating_sub(faults_over_us) / 1000,
                    faults_over_us / 1000,
                ),
            });
        }
        if self.election && self.election_changed_us <= cutoff {
            self.elections += 1;
            self.election_at_deadline(view, out);
        }
    }

    fn live(&self, c: ClientId, session: SessionId) -> bool {
        self.clients.get(c).is_some_and(|x| x.alive() && !x.expired)
            && !self.closed.contains(&session)
    }

    /// The owner of the smallest election znode, if running with a live session, should have
    /// taken over by now, or someone else still leads.
    fn election_at_deadline(&self, view: &dyn View, out: &mut Vec<Violation>) {
        if self.leaders.iter().any(|(c, s)| self.live(*c, *s)) {
            return;
        }
        let Some((leader, _)) = leader_with_quorum(view) else {
            return;
        };
        let Some(sv) = view.server(leader) else {
            return;
        };
        let Some((_, owner, path)) = sv
            .tree
            .all_ephemerals()
            .filter(|(_, p)| in_election(p))
            .filter_map(|(s, p)| Some((sequence(p)?, s, p)))
            .min()
        else {
            return;
        };
        let Some((client, _)) = self
            .clients
            .iter()
            .find(|(c, x)| x.session == owner && self.live(*c, owner))
        else {
            return;
        };
        out.push(Violation {
            invariant: "progress",
            at_us: view.now_us(),
            server: Some(leader),
            message: format!(
                "no running client with a live session believes it leads at the end of the run, though {client}'s {path} is the smallest election znode on {leader} (session {owner}) and the contenders last changed at {} ms",
                self.election_changed_us / 1000
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_script::{create, Req};
    use crate::script::Script;
    use zab::{CreateMode, Reply};

    fn persistent(path: &str) -> ClientOp {
        create(path, CreateMode::Persistent)
    }

    /// c1 submits a create at 1 s to s2, loses the connection at 3 s, and submits it again
    /// to s3 at 3.5 s.
    fn failover() -> (Script<Progress>, Req) {
        let mut s = Script::serving(Progress::default());
        s.connect(1, 2, 4000);
        s.v.now = 1_000_000;
        let r = s.submit(1, persistent("/a"));
        s.v.now = 3_000_000;
        s.disconnect(1, &[r]);
        s.v.now = 3_400_000;
        s.connect(1, 3, 4000);
        let r = s.submit(1, persistent("/a"));
        (s, r)
    }

    #[test]
    fn fires_when_an_operation_submitted_before_recovery_is_never_answered() {
        crate::assert_fresh(&Progress::default());
        let (mut s, _) = failover();
        s.deadline(10_000_000, 20_000_000);
        assert_eq!(
            s.c.paths(),
            [
                ("deadline judged with a connected quorum", 1),
                ("operation still waiting judged at the deadline", 1),
                ("operation submitted while stalled by a failed one", 1),
                ("election recipe judged at the deadline", 0),
            ]
        );
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].invariant, "progress");
        assert_eq!(out[0].server, Some(ServerId(3)));
        let m = &out[0].message;
        assert!(
            m.starts_with("c1's create /a (operation 2) to s3 (submitted at 3404 ms; its earlier operations failed without an answer since 1001 ms) is still unanswered 10000 ms after the last fault ended"),
            "{m}"
        );
    }

    #[test]
    fn quiet_when_answered_after_a_failover() {
        let (mut s, r) = failover();
        s.v.now = 12_000_000;
        let t = s.commit_request(1, r, &persistent("/a"));
        s.answer(1, r, t.zxid, Ok(Reply::Created { path: "/a".into() }));
        s.deadline(10_000_000, 20_000_000);
        assert!(s.take().is_empty());
    }

    #[test]
    fn quiet_when_a_failed_operation_is_not_tried_again() {
        let mut s = Script::serving(Progress::default());
        s.connect(1, 2, 4000);
        s.v.now = 1_000_000;
        let r = s.submit(1, persistent("/a"));
        s.disconnect(1, &[r]);
        s.deadline(10_000_000, 20_000_000);
        assert!(s.take().is_empty());
    }

    #[test]
    fn quiet_for_an_operation_submitted_late_in_the_window() {
        let mut s = Script::serving(Progress::default());
        s.connect(2, 1, 4000);
        s.v.now = 19_000_000;
        s.submit(2, persistent("/a"));
        s.deadline(10_000_000, 20_000_000);
        assert!(s.take().is_empty());
    }

    #[test]
    fn quiet_without_a_connected_quorum() {
        let (mut s, _) = failover();
        s.crash(1);
        s.crash(2);
        s.deadline(10_000_000, 20_000_000);
        assert!(s.take().is_empty());
        let deadlines = crate::path_count(&s.c, "deadline judged with a connected quorum");
        assert_eq!(deadlines, 0);
    }

    #[test]
    fn quiet_for_a_crashed_client() {
        let (mut s, _) = failover();
        s.client(1, ClientEvent::Crashed);
        s.deadline(10_000_000, 20_000_000);
        assert!(s.take().is_empty());
    }

    /// c1 and c2 contend in the election recipe: c1's znode is the smallest. c1 believes it
    /// leads if `leads`.
    fn election(leads: bool) -> Script<Progress> {
        let mut s = Script::serving(Progress::default());
        s.connect(1, 2, 4000);
        s.connect(2, 3, 4000);
        s.client_write(1, persistent("/app"));
        s.client_write(1, persistent(ELECTION_DIR));
        for c in [1, 2] {
            let path = format!("{ELECTION_DIR}/guid-{c}-n_000000000{c}");
            s.client_write(c, create(&path, CreateMode::EphemeralSequential));
        }
        if leads {
            s.recipe(
                1,
                RecipeEvent::Leading {
                    path: format!("{ELECTION_DIR}/guid-1-n_0000000001").into(),
                    token: zab::Zxid::new(2, 5),
                },
            );
        }
        s
    }

    #[test]
    fn fires_when_the_smallest_contender_never_leads() {
        let mut s = election(false);
        s.deadline(10_000_000, 20_000_000);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(1)));
        let m = &out[0].message;
        assert!(
            m.starts_with("no running client with a live session believes it leads at the end of the run, though c1's /app/leader_election/guid-1-n_0000000001 is the smallest election znode on s1 (session 0x1)"),
            "{m}"
        );
    }

    #[test]
    fn fires_when_nobody_takes_over_from_a_leader_whose_session_ended() {
        let mut s = election(true);
        s.v.now = 2_000_000;
        s.client(1, ClientEvent::Paused);
        let session = s.session(1);
        s.txn(TxnOp::CloseSession { session }, None);
        s.client(1, ClientEvent::Resumed);
        s.deadline(10_000_000, 20_000_000);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0]
                .message
                .contains("c2's /app/leader_election/guid-2-n_0000000002 is the smallest"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn quiet_when_the_smallest_contender_leads() {
        let mut s = election(true);
        s.deadline(10_000_000, 20_000_000);
        assert!(s.take().is_empty());
        assert_eq!(
            crate::path_count(&s.c, "election recipe judged at the deadline"),
            1
        );
    }

    #[test]
    fn quiet_while_a_hand_over_may_be_under_way() {
        let mut s = election(false);
        s.v.now = 18_000_000;
        s.client(2, ClientEvent::Resumed);
        s.deadline(10_000_000, 20_000_000);
        assert!(s.take().is_empty());
    }
}
