//! `recipe-safety`: recipes keep their promise.
//!
//! The recipes report what they promise their application ([`zab::client_api::RecipeEvent`]),
//! and this checker holds them to it:
//! - election: at most one client believes it leads among those that could act on it: not
//!   crashed, not paused, and with a live session (no committed closeSession of the session it
//!   won under). A paused leader whose session expired meanwhile may still believe it leads
//!   when it wakes; that is the hazard the protected resource has to fence, not a broken
//!   recipe, so it does not count here;
//! - lock: the same for lock holders;
//! - sequence ids: no id is handed out twice;
//! - queue: an item is consumed at most once, and only if it was produced (its producer said
//!   so, or a committed create made it: a producer may learn its item's name after a consumer
//!   has already taken it);
//! - configuration: the version a client acts on never goes back;
//! - the protected resource: the tokens it accepts never decrease. Accepting a token older than
//!   one it accepted before means a deposed leader acted after its successor, which is exactly
//!   what a paused leader without fencing does.
//!
//! Incremental: per-client maps, and checks against the few current claimants only.

use crate::clients::Clients;
use crate::committed_ops::CommittedOps;
use crate::{Checker, ClientEvent, Happening, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::client_api::RecipeEvent;
use zab::{ClientId, Path, SessionId, TxnOp, Zxid};

/// A client's belief that it leads or holds the lock.
#[derive(Clone, Debug)]
struct Claim {
    since_us: u64,
    session: SessionId,
    path: Path,
}

pub struct RecipeSafety {
    clients: Clients,
    committed: CommittedOps,
    closed: BTreeSet<SessionId>,
    leaders: BTreeMap<ClientId, Claim>,
    holders: BTreeMap<ClientId, Claim>,
    ids: BTreeMap<u64, ClientId>,
    produced: BTreeSet<String>,
    /// Znodes a committed create made.
    created: BTreeSet<Path>,
    consumed: BTreeMap<String, ClientId>,
    config: BTreeMap<ClientId, u64>,
    /// The newest token the protected resource accepted, and from whom.
    resource: Option<(Zxid, ClientId, u64)>,
    /// Path counts: leader and lock claims (of clients that can act) checked against the
    /// others, the same when a paused claimant resumes, accepted tokens compared with the
    /// newest, and sequence ids, consumed queue items and repeated config versions checked.
    claims: u64,
    resumed: u64,
    tokens: u64,
    items: u64,
}

impl Default for RecipeSafety {
    fn default() -> Self {
        RecipeSafety {
            clients: Clients::default(),
            committed: CommittedOps::keeping(|op| {
                matches!(op, TxnOp::CloseSession { .. } | TxnOp::Create { .. })
            }),
            closed: BTreeSet::new(),
            leaders: BTreeMap::new(),
            holders: BTreeMap::new(),
            ids: BTreeMap::new(),
            produced: BTreeSet::new(),
            created: BTreeSet::new(),
            consumed: BTreeMap::new(),
            config: BTreeMap::new(),
            resource: None,
            claims: 0,
            resumed: 0,
            tokens: 0,
            items: 0,
        }
    }
}

impl Checker for RecipeSafety {
    fn name(&self) -> &'static str {
        "recipe-safety"
    }

    fn interest(&self) -> Interest {
        crate::clients::INTEREST.union(crate::committed_ops::INTEREST)
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "leader or lock claim checked against the others",
                self.claims,
            ),
            ("claim checked again when its client resumes", self.resumed),
            (
                "accepted resource token compared with the newest",
                self.tokens,
            ),
            (
                "sequence id, queue item or config version checked",
                self.items,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        let now = view.now_us();
        self.clients.follow(h, now);
        for (_, op) in self.committed.follow(h, view) {
            match op {
                TxnOp::CloseSession { session } => {
                    self.closed.insert(session);
                }
                TxnOp::Create { path, .. } => {
                    self.created.insert(path);
                }
                _ => {}
            }
        }
        let Happening::Client { id, event } = h else {
            return;
        };
        let c = *id;
        match event {
            ClientEvent::Recipe(r) => self.recipe(c, r, now, out),
            ClientEvent::Resumed => {
                for (claims, role) in [(&self.leaders, "leads"), (&self.holders, "holds the lock")]
                {
                    if claims.contains_key(&c)
                        && self.check_unique(claims, c, role, "resumed", now, out)
                    {
                        self.resumed += 1;
                    }
                }
            }
            ClientEvent::Crashed => {
                self.leaders.remove(&c);
                self.holders.remove(&c);
            }
            ClientEvent::ResourceUsed {
                token,
                accepted: true,
            } => {
                if self.resource.is_some() {
                    self.tokens += 1;
                }
                match self.resource {
                    Some((newest, by, at)) if *token < newest => out.push(Violation {
                        invariant: "recipe-safety",
                        at_us: now,
                        server: None,
                        message: format!(
                            "the protected resource accepted {c}'s token {token} after it had accepted {by}'s newer token {newest} (at {} ms): a deposed leader acted after its successor",
                            at / 1000
                        ),
                    }),
                    Some((newest, _, _)) if *token == newest => {}
                    _ => self.resource = Some((*token, c, now)),
                }
            }
            _ => {}
        }
    }
}

impl RecipeSafety {
    fn recipe(&mut self, c: ClientId, r: &RecipeEvent, now: u64, out: &mut Vec<Violation>) {
        let session = self.clients.get(c).map(|x| x.session).unwrap_or_default();
        let violation = |message: String| Violation {
            invariant: "recipe-safety",
            at_us: now,
            server: None,
            message,
        };
        match r {
            RecipeEvent::Leading { path, .. } => {
                let claim = Claim {
                    since_us: now,
                    session,
                    path: path.clone(),
                };
                self.leaders.insert(c, claim);
                if self.check_unique(&self.leaders, c, "leads", "now", now, out) {
                    self.claims += 1;
                }
            }
            RecipeEvent::NotLeading => {
                self.leaders.remove(&c);
            }
            RecipeEvent::LockAcquired { path } => {
                let claim = Claim {
                    since_us: now,
                    session,
                    path: path.clone(),
                };
                self.holders.insert(c, claim);
                if self.check_unique(&self.holders, c, "holds the lock", "now", now, out) {
                    self.claims += 1;
                }
            }
            RecipeEvent::LockReleased => {
                self.holders.remove(&c);
            }
            RecipeEvent::IdAssigned { id } => {
                self.items += 1;
                if let Some(first) = self.ids.insert(*id, c) {
                    out.push(violation(format!(
                        "{c} was handed sequence id {id}, which {first} was handed before: ids must be unique"
                    )));
                }
            }
            RecipeEvent::Produced { item } => {
                self.produced.insert(item.clone());
            }
            RecipeEvent::Consumed { item } => {
                self.items += 1;
                if let Some(first) = self.consumed.get(item) {
                    out.push(violation(format!(
                        "{c} consumed queue item {item}, which {first} had consumed already: an item is consumed at most once"
                    )));
                    return;
                }
                if !self.produced.contains(item) && !self.created.contains(item.as_str()) {
                    out.push(violation(format!(
                        "{c} consumed queue item {item}, which nobody produced"
                    )));
                }
                self.consumed.insert(item.clone(), c);
            }
            RecipeEvent::ConfigSeen { version } => {
                if let Some(last) = self.config.insert(c, *version) {
                    self.items += 1;
                    if *version < last {
                        out.push(violation(format!(
                            "{c} acts on configuration version {version} after version {last}: a subscriber's configuration never goes back"
                        )));
                        self.config.insert(c, last);
                    }
                }
            }
            RecipeEvent::UseResource { .. } => {}
        }
    }

    /// Can act on a belief: running, and its session is live.
    fn can_act(&self, c: ClientId, claim: &Claim) -> bool {
        self.clients.get(c).is_none_or(|x| x.alive()) && !self.closed.contains(&claim.session)
    }

    /// `c`'s claim just became one that can act: nobody else's may. False if it cannot act,
    /// and there was nothing to judge.
    fn check_unique(
        &self,
        claims: &BTreeMap<ClientId, Claim>,
        c: ClientId,
        role: &str,
        when: &str,
        now: u64,
        out: &mut Vec<Violation>,
    ) -> bool {
        let mine = &claims[&c];
        if !self.can_act(c, mine) {
            return false;
        }
        for (other, claim) in claims {
            if *other == c || !self.can_act(*other, claim) {
                continue;
            }
            out.push(Violation {
                invariant: "recipe-safety",
                at_us: now,
                server: None,
                message: format!(
                    "{c} {when} believes it {role} ({}, session {}), while {other} has believed so since {} ms ({}, session {}) and is running with a live session",
                    mine.path,
                    mine.session,
                    claim.since_us / 1000,
                    claim.path,
                    claim.session
                ),
            });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_script::create;
    use crate::script::Script;
    use zab::CreateMode;

    const NODE: &str = "/app/leader_election/guid-1-n_0000000001";

    fn leading(path: &str, token: Zxid) -> RecipeEvent {
        RecipeEvent::Leading {
            path: path.into(),
            token,
        }
    }

    fn three_clients() -> Script<RecipeSafety> {
        let mut s = Script::serving(RecipeSafety::default());
        for c in 1..=3 {
            s.connect(c, 1 + (c % 3) as u8, 2000);
        }
        s
    }

    fn used(s: &mut Script<RecipeSafety>, c: u32, token: Zxid, accepted: bool) {
        s.client(c, ClientEvent::ResourceUsed { token, accepted });
    }

    #[test]
    fn quiet_when_recipes_keep_their_promises() {
        crate::assert_fresh(&RecipeSafety::default());
        let mut s = three_clients();
        let t1 = Zxid::new(2, 5);
        let t2 = Zxid::new(2, 9);
        s.recipe(1, leading(NODE, t1));
        used(&mut s, 1, t1, true);
        s.recipe(1, RecipeEvent::NotLeading);
        s.recipe(2, leading("/app/leader_election/guid-2-n_0000000002", t2));
        used(&mut s, 2, t2, true);
        // c3 leads after c2 froze and lost its session; c2 wakes still believing, and the
        // fenced resource refuses its old token.
        s.client(2, ClientEvent::Paused);
        let session = s.session(2);
        s.txn(TxnOp::CloseSession { session }, None);
        let t3 = Zxid::new(2, 20);
        s.recipe(3, leading("/app/leader_election/guid-3-n_0000000003", t3));
        used(&mut s, 3, t3, true);
        s.client(2, ClientEvent::Resumed);
        used(&mut s, 2, t2, false);
        s.recipe(
            1,
            RecipeEvent::LockAcquired {
                path: "/app/lock/l-1".into(),
            },
        );
        s.recipe(1, RecipeEvent::LockReleased);
        s.recipe(
            3,
            RecipeEvent::LockAcquired {
                path: "/app/lock/l-2".into(),
            },
        );
        s.recipe(1, RecipeEvent::IdAssigned { id: 1 });
        s.recipe(3, RecipeEvent::IdAssigned { id: 2 });
        s.recipe(
            1,
            RecipeEvent::Produced {
                item: "/q/i-0000000001".into(),
            },
        );
        s.recipe(
            3,
            RecipeEvent::Consumed {
                item: "/q/i-0000000001".into(),
            },
        );
        // c3 takes an item before its producer hears back: the committed create vouches.
        s.client_write(
            1,
            create("/q/i-0000000002", CreateMode::PersistentSequential),
        );
        s.recipe(
            3,
            RecipeEvent::Consumed {
                item: "/q/i-0000000002".into(),
            },
        );
        s.recipe(1, RecipeEvent::ConfigSeen { version: 1 });
        s.recipe(1, RecipeEvent::ConfigSeen { version: 3 });
        s.recipe(3, RecipeEvent::ConfigSeen { version: 2 });
        assert!(s.take().is_empty());
        // c2 resumes with its session closed: nothing to judge.
        assert_eq!(
            s.c.paths(),
            [
                ("leader or lock claim checked against the others", 5),
                ("claim checked again when its client resumes", 0),
                ("accepted resource token compared with the newest", 2),
                ("sequence id, queue item or config version checked", 5),
            ]
        );
    }

    #[test]
    fn fires_when_two_live_clients_believe_they_lead() {
        let mut s = three_clients();
        s.v.now = 1_000_000;
        s.recipe(1, leading(NODE, Zxid::new(2, 5)));
        s.recipe(
            2,
            leading("/app/leader_election/guid-2-n_0000000002", Zxid::new(2, 6)),
        );
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            out[0].message,
            "c2 now believes it leads (/app/leader_election/guid-2-n_0000000002, session 0x2), while c1 has believed so since 1001 ms (/app/leader_election/guid-1-n_0000000001, session 0x1) and is running with a live session"
        );
    }

    #[test]
    fn fires_when_a_paused_lock_holder_wakes_with_its_session_alive() {
        let mut s = three_clients();
        s.recipe(
            1,
            RecipeEvent::LockAcquired {
                path: "/app/lock/l-1".into(),
            },
        );
        s.client(1, ClientEvent::Paused);
        s.recipe(
            2,
            RecipeEvent::LockAcquired {
                path: "/app/lock/l-2".into(),
            },
        );
        assert!(s.take().is_empty(), "a paused holder cannot act");
        let resumed = "claim checked again when its client resumes";
        assert_eq!(crate::path_count(&s.c, resumed), 0);
        s.client(1, ClientEvent::Resumed);
        assert_eq!(crate::path_count(&s.c, resumed), 1);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].message.starts_with(
                "c1 resumed believes it holds the lock (/app/lock/l-1, session 0x1), while c2"
            ),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn fires_when_the_resource_accepts_a_deposed_leaders_token() {
        let mut s = three_clients();
        used(&mut s, 2, Zxid::new(2, 9), true);
        used(&mut s, 1, Zxid::new(2, 5), true);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].message.starts_with("the protected resource accepted c1's token 2:5 after it had accepted c2's newer token 2:9"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn fires_for_broken_ids_queues_and_configurations() {
        let mut s = three_clients();
        s.recipe(1, RecipeEvent::IdAssigned { id: 4 });
        s.recipe(2, RecipeEvent::IdAssigned { id: 4 });
        s.recipe(
            1,
            RecipeEvent::Produced {
                item: "/q/i-0000000001".into(),
            },
        );
        s.recipe(
            2,
            RecipeEvent::Consumed {
                item: "/q/i-0000000001".into(),
            },
        );
        s.recipe(
            3,
            RecipeEvent::Consumed {
                item: "/q/i-0000000001".into(),
            },
        );
        s.recipe(
            3,
            RecipeEvent::Consumed {
                item: "/q/i-0000000007".into(),
            },
        );
        s.recipe(1, RecipeEvent::ConfigSeen { version: 3 });
        s.recipe(1, RecipeEvent::ConfigSeen { version: 2 });
        let out: Vec<String> = s.take().into_iter().map(|v| v.message).collect();
        assert_eq!(
            out,
            [
                "c2 was handed sequence id 4, which c1 was handed before: ids must be unique",
                "c3 consumed queue item /q/i-0000000001, which c2 had consumed already: an item is consumed at most once",
                "c3 consumed queue item /q/i-0000000007, which nobody produced",
                "c1 acts on configuration version 2 after version 3: a subscriber's configuration never goes back",
            ]
        );
    }
}
