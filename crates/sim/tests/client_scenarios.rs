//! The client and recipe scenario library: each scenario passes (or shows exactly the
//! violation it expects), and the specific thing it exists to show happens, followed through
//! the run's client and server happenings.

mod common;

use check::Happening;
use std::collections::{BTreeMap, BTreeSet};
use zab::client_api::{ClientEvent, EventType, RecipeEvent, SessionId};
use zab::{ClientId, Event, TxnOp};

/// What a run's clients reported, in order, and what its leaders proposed.
#[derive(Default)]
struct Log {
    clients: Vec<(u64, ClientId, ClientEvent)>,
    proposed: Vec<(TxnOp, bool)>,
}

struct Run {
    outcome: sim::Outcome,
    log: Log,
}

fn run(name: &str) -> Run {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/clients")
        .join(name);
    let sc = scenario::load(&path).expect("scenario loads");
    let (outcome, log) = common::watch(
        &sc,
        sim::Options::new(sc.seed),
        Log::default(),
        |log, t, h| match h {
            Happening::Client { id, event } => log.clients.push((t, *id, (*event).clone())),
            Happening::Server {
                event: Event::Proposed { op, request, .. },
                ..
            } => log.proposed.push((op.clone(), request.is_some())),
            _ => {}
        },
    );
    assert!(
        outcome.verdict.passed,
        "{name}: {:?} {:?}",
        outcome.verdict.reasons, outcome.violations
    );
    Run { outcome, log }
}

impl Run {
    /// The client events `pick` keeps, as (time µs, client, what it kept).
    fn client<T>(&self, pick: impl Fn(&ClientEvent) -> Option<T>) -> Vec<(u64, ClientId, T)> {
        self.log
            .clients
            .iter()
            .filter_map(|(t, c, e)| Some((*t, *c, pick(e)?)))
            .collect()
    }

    /// The recipe events `pick` keeps.
    fn recipe<T>(&self, pick: impl Fn(&RecipeEvent) -> Option<T>) -> Vec<(u64, ClientId, T)> {
        self.client(|e| match e {
            ClientEvent::Recipe(r) => pick(r),
            _ => None,
        })
    }

    /// Every successful answer.
    fn answered_ok(&self) -> usize {
        self.client(|e| matches!(e, ClientEvent::Answered { result: Ok(_), .. }).then_some(()))
            .len()
    }
}

#[test]
fn a_client_fails_over_with_its_session_when_its_server_crashes() {
    let r = run("client-failover.toml");
    let connected = r.client(|e| match e {
        ClientEvent::Connected {
            session, server, ..
        } => Some((*session, *server)),
        _ => None,
    });
    let sessions: BTreeSet<SessionId> = connected.iter().map(|(_, _, c)| c.0).collect();
    let servers: BTreeSet<zab::ServerId> = connected.iter().map(|(_, _, c)| c.1).collect();
    assert_eq!(sessions.len(), 1, "one session throughout: {sessions:?}");
    assert!(
        servers.len() >= 2,
        "the session moved between servers: {servers:?}"
    );
    let disconnected = r.client(|e| matches!(e, ClientEvent::Disconnected { .. }).then_some(()));
    assert!(disconnected.len() >= 2, "the client noticed its server go");
    let expired = r.client(|e| matches!(e, ClientEvent::Expired { .. }).then_some(()));
    assert!(expired.is_empty(), "the session never expired");
    assert!(r.answered_ok() > 100, "work went on: {}", r.answered_ok());
}

#[test]
fn a_crashed_clients_session_expires_and_its_ephemeral_goes() {
    let r = run("session-expiry-ephemerals.toml");
    let (crashed_at, _, _) = *r
        .client(|e| (*e == ClientEvent::Crashed).then_some(()))
        .first()
        .expect("c1 crashes");
    let c1 = ClientId(1);
    let session = r
        .client(|e| match e {
            ClientEvent::Connected { session, .. } => Some(*session),
            _ => None,
        })
        .into_iter()
        .rev()
        .find(|(t, c, _)| *c == c1 && *t < crashed_at)
        .map(|(_, _, s)| s)
        .expect("c1 had a session");
    let expired = r.log.proposed.iter().any(|(op, by_request)| {
        matches!(op, TxnOp::CloseSession { session: s } if *s == session) && !by_request
    });
    assert!(expired, "the leader expires c1's session with closeSession");
    let later_leaders: BTreeSet<ClientId> = r
        .recipe(|e| matches!(e, RecipeEvent::Leading { .. }).then_some(()))
        .into_iter()
        .filter(|(t, c, _)| *t > crashed_at && *c != c1)
        .map(|(_, c, _)| c)
        .collect();
    assert!(!later_leaders.is_empty(), "another client leads afterwards");
}

#[test]
fn the_election_recipe_hands_over_after_its_leader_crashes() {
    let r = run("election-recipe-leader-crash.toml");
    let leaders: BTreeSet<ClientId> = r
        .recipe(|e| matches!(e, RecipeEvent::Leading { .. }).then_some(()))
        .into_iter()
        .map(|(_, c, _)| c)
        .collect();
    assert!(leaders.len() >= 3, "several clients led: {leaders:?}");
    // A crash hit a client that believed it led at the time.
    let mut believes: BTreeMap<ClientId, bool> = BTreeMap::new();
    let mut crashed_leader = false;
    for (_, c, e) in &r.log.clients {
        match e {
            ClientEvent::Recipe(RecipeEvent::Leading { .. }) => {
                believes.insert(*c, true);
            }
            ClientEvent::Recipe(RecipeEvent::NotLeading) => {
                believes.insert(*c, false);
            }
            ClientEvent::Crashed => {
                crashed_leader |= believes.insert(*c, false).unwrap_or(false);
            }
            _ => {}
        }
    }
    assert!(crashed_leader, "the recipe leader itself crashed");
    let tokens: Vec<zab::Zxid> = r
        .client(|e| match e {
            ClientEvent::ResourceUsed {
                token,
                accepted: true,
            } => Some(*token),
            _ => None,
        })
        .into_iter()
        .map(|(_, _, t)| t)
        .collect();
    assert!(tokens.len() > 10 && tokens.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn a_cut_off_recipe_leader_steps_down_and_learns_its_session_expired() {
    let r = run("election-recipe-partition.toml");
    let isolated = r
        .outcome
        .faults
        .iter()
        .any(|(_, f)| f.starts_with("isolate"));
    assert!(isolated, "the recipe leader is isolated");
    let expired = r.client(|e| matches!(e, ClientEvent::Expired { .. }).then_some(()));
    assert!(
        !expired.is_empty(),
        "the isolated client is told its session expired when it comes back"
    );
    let expired_client = expired[0].1;
    let stepped_down = r
        .recipe(|e| (*e == RecipeEvent::NotLeading).then_some(()))
        .iter()
        .any(|(_, c, _)| *c == expired_client);
    assert!(
        stepped_down,
        "{expired_client} stopped leading in safe mode"
    );
    let leaders: BTreeSet<ClientId> = r
        .recipe(|e| matches!(e, RecipeEvent::Leading { .. }).then_some(()))
        .into_iter()
        .map(|(_, c, _)| c)
        .collect();
    assert!(leaders.len() >= 2, "another client took over: {leaders:?}");
}

#[test]
fn contended_locks_change_hands() {
    let r = run("lock-contention.toml");
    let acquired = r.recipe(|e| matches!(e, RecipeEvent::LockAcquired { .. }).then_some(()));
    let holders: BTreeSet<ClientId> = acquired.iter().map(|(_, c, _)| *c).collect();
    assert!(holders.len() >= 4, "the lock went round: {holders:?}");
    assert!(acquired.len() >= 20);
}

#[test]
fn queue_items_are_produced_and_consumed() {
    let r = run("queue-under-failover.toml");
    let produced = r
        .recipe(|e| matches!(e, RecipeEvent::Produced { .. }).then_some(()))
        .len();
    let consumed: Vec<String> = r
        .recipe(|e| match e {
            RecipeEvent::Consumed { item } => Some(item.clone()),
            _ => None,
        })
        .into_iter()
        .map(|(_, _, i)| i)
        .collect();
    let unique: BTreeSet<&String> = consumed.iter().collect();
    assert!(
        produced >= 20 && consumed.len() >= 20,
        "{produced} {}",
        consumed.len()
    );
    assert_eq!(unique.len(), consumed.len());
}

#[test]
fn sequence_ids_are_unique_across_failovers() {
    let r = run("ids-unique-under-failover.toml");
    let ids: Vec<u64> = r
        .recipe(|e| match e {
            RecipeEvent::IdAssigned { id } => Some(*id),
            _ => None,
        })
        .into_iter()
        .map(|(_, _, id)| id)
        .collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert!(ids.len() >= 100, "{} ids", ids.len());
    assert_eq!(unique.len(), ids.len());
    assert!(r.outcome.elections.len() >= 3, "the leader changed twice");
}

#[test]
fn config_subscribers_follow_every_change_through_watches() {
    let r = run("config-watch-ordering.toml");
    let fired = r
        .client(|e| match e {
            ClientEvent::Watch { event, .. } => {
                (event.kind == EventType::NodeDataChanged).then_some(())
            }
            _ => None,
        })
        .len();
    assert!(fired >= 20, "data watches fired {fired} times");
    let mut seen: BTreeMap<ClientId, Vec<u64>> = BTreeMap::new();
    let versions = r.recipe(|e| match e {
        RecipeEvent::ConfigSeen { version } => Some(*version),
        _ => None,
    });
    for (_, c, v) in versions {
        seen.entry(c).or_default().push(v);
    }
    assert!(seen.len() >= 3, "every subscriber saw versions: {seen:?}");
    for (c, vs) in &seen {
        assert!(vs.windows(2).all(|w| w[0] < w[1]), "{c}: {vs:?}");
        assert!(vs.len() >= 5, "{c} followed the changes: {vs:?}");
    }
}

#[test]
fn a_paused_leader_acts_after_its_successor_unless_the_resource_fences() {
    let r = run("recipe-gc-pause.toml");
    assert_eq!(r.outcome.violations.len(), 1);
    assert_eq!(r.outcome.violations[0].invariant, "recipe-safety");
    let used = |r: &Run| {
        r.client(|e| match e {
            ClientEvent::ResourceUsed { accepted, .. } => Some(*accepted),
            _ => None,
        })
    };
    assert!(used(&r).iter().all(|(_, _, accepted)| *accepted));

    let r = run("recipe-gc-pause-fenced.toml");
    let refused: Vec<ClientId> = used(&r)
        .into_iter()
        .filter(|(_, _, accepted)| !accepted)
        .map(|(_, c, _)| c)
        .collect();
    let paused: BTreeSet<ClientId> = r
        .client(|e| (*e == ClientEvent::Paused).then_some(()))
        .into_iter()
        .map(|(_, c, _)| c)
        .collect();
    assert!(!refused.is_empty(), "the deposed leader's use is refused");
    assert!(refused.iter().all(|c| paused.contains(c)));
}
