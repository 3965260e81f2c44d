//! The client and recipe scenario library: each scenario passes (or shows exactly the
//! violation it expects), and the specific thing it exists to show happens, read from the
//! trace's client and server events.

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

struct Run {
    outcome: sim::Outcome,
    trace: Vec<Value>,
}

fn run(name: &str) -> Run {
    let (outcome, trace) = common::run_passing("clients", name);
    Run { outcome, trace }
}

impl Run {
    /// Client events of one kind, as (time µs, client, fields).
    fn client(&self, kind: &str) -> Vec<(u64, String, &Value)> {
        self.trace
            .iter()
            .filter(|l| l["kind"] == "client")
            .filter_map(|l| {
                let e = &l["event"];
                let fields = e.get(kind).or_else(|| (e == kind).then_some(e))?;
                Some((
                    l["t_us"].as_u64()?,
                    l["client"].as_str()?.to_string(),
                    fields,
                ))
            })
            .collect()
    }

    /// Recipe events of one kind, as (time µs, client, fields).
    fn recipe(&self, kind: &str) -> Vec<(u64, String, &Value)> {
        self.client("Recipe")
            .into_iter()
            .filter_map(|(t, c, r)| {
                let fields = r.get(kind).or_else(|| (r == kind).then_some(r))?;
                Some((t, c, fields))
            })
            .collect()
    }

    /// Ops the leaders proposed, as (op name, fields, request).
    fn proposed(&self) -> Vec<(String, &Value, &Value)> {
        self.trace
            .iter()
            .filter(|l| l["kind"] == "event")
            .filter_map(|l| {
                let p = l["event"].get("Proposed")?;
                let (name, fields) = p["op"].as_object()?.iter().next()?;
                Some((name.clone(), fields, &p["request"]))
            })
            .collect()
    }

    /// Every successful answer.
    fn answered_ok(&self) -> usize {
        self.client("Answered")
            .iter()
            .filter(|(_, _, a)| a["result"].get("Ok").is_some())
            .count()
    }
}

#[test]
fn a_client_fails_over_with_its_session_when_its_server_crashes() {
    let r = run("client-failover.toml");
    let connected = r.client("Connected");
    let sessions: BTreeSet<u64> = connected
        .iter()
        .map(|(_, _, c)| c["session"].as_u64().expect("session"))
        .collect();
    let servers: BTreeSet<u64> = connected
        .iter()
        .map(|(_, _, c)| c["server"].as_u64().expect("server"))
        .collect();
    assert_eq!(sessions.len(), 1, "one session throughout: {sessions:?}");
    assert!(
        servers.len() >= 2,
        "the session moved between servers: {servers:?}"
    );
    assert!(
        r.client("Disconnected").len() >= 2,
        "the client noticed its server go"
    );
    assert!(r.client("Expired").is_empty(), "the session never expired");
    assert!(r.answered_ok() > 100, "work went on: {}", r.answered_ok());
}

#[test]
fn a_crashed_clients_session_expires_and_its_ephemeral_goes() {
    let r = run("session-expiry-ephemerals.toml");
    let (crashed_at, _, _) = *r.client("Crashed").first().expect("c1 crashes");
    let session = r
        .client("Connected")
        .iter()
        .rev()
        .find(|(t, c, _)| c == "c1" && *t < crashed_at)
        .map(|(_, _, e)| e["session"].clone())
        .expect("c1 had a session");
    let expired = r
        .proposed()
        .into_iter()
        .any(|(op, f, req)| op == "CloseSession" && f["session"] == session && req.is_null());
    assert!(expired, "the leader expires c1's session with closeSession");
    let later_leaders: BTreeSet<String> = r
        .recipe("Leading")
        .into_iter()
        .filter(|(t, c, _)| *t > crashed_at && c != "c1")
        .map(|(_, c, _)| c)
        .collect();
    assert!(!later_leaders.is_empty(), "another client leads afterwards");
}

#[test]
fn the_election_recipe_hands_over_after_its_leader_crashes() {
    let r = run("election-recipe-leader-crash.toml");
    let leading = r.recipe("Leading");
    let leaders: BTreeSet<&String> = leading.iter().map(|(_, c, _)| c).collect();
    assert!(leaders.len() >= 3, "several clients led: {leaders:?}");
    // A crash hit a client that believed it led at the time.
    let mut believes: BTreeMap<String, bool> = BTreeMap::new();
    let mut crashed_leader = false;
    for l in r.trace.iter().filter(|l| l["kind"] == "client") {
        let c = l["client"].as_str().expect("client").to_string();
        let e = &l["event"];
        if e["Recipe"].get("Leading").is_some() {
            believes.insert(c, true);
        } else if e["Recipe"] == "NotLeading" {
            believes.insert(c, false);
        } else if e == "Crashed" {
            crashed_leader |= believes.insert(c, false).unwrap_or(false);
        }
    }
    assert!(crashed_leader, "the recipe leader itself crashed");
    let tokens: Vec<u64> = r
        .client("ResourceUsed")
        .iter()
        .filter(|(_, _, u)| u["accepted"] == true)
        .map(|(_, _, u)| u["token"].as_u64().expect("token"))
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
    assert!(
        !r.client("Expired").is_empty(),
        "the isolated client is told its session expired when it comes back"
    );
    let expired_client = &r.client("Expired")[0].1;
    let stepped_down = r
        .recipe("NotLeading")
        .iter()
        .any(|(_, c, _)| c == expired_client);
    assert!(
        stepped_down,
        "{expired_client} stopped leading in safe mode"
    );
    let leaders: BTreeSet<String> = r.recipe("Leading").into_iter().map(|(_, c, _)| c).collect();
    assert!(leaders.len() >= 2, "another client took over: {leaders:?}");
}

#[test]
fn contended_locks_change_hands() {
    let r = run("lock-contention.toml");
    let holders: BTreeSet<String> = r
        .recipe("LockAcquired")
        .into_iter()
        .map(|(_, c, _)| c)
        .collect();
    assert!(holders.len() >= 4, "the lock went round: {holders:?}");
    assert!(r.recipe("LockAcquired").len() >= 20);
}

#[test]
fn queue_items_are_produced_and_consumed() {
    let r = run("queue-under-failover.toml");
    let produced = r.recipe("Produced").len();
    let consumed: Vec<String> = r
        .recipe("Consumed")
        .iter()
        .map(|(_, _, i)| i["item"].as_str().expect("item").to_string())
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
        .recipe("IdAssigned")
        .iter()
        .map(|(_, _, i)| i["id"].as_u64().expect("id"))
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
        .client("Watch")
        .iter()
        .filter(|(_, _, w)| w["event"]["kind"] == "NodeDataChanged")
        .count();
    assert!(fired >= 20, "data watches fired {fired} times");
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (_, c, v) in r.recipe("ConfigSeen") {
        seen.entry(c)
            .or_default()
            .push(v["version"].as_u64().expect("version"));
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
    assert!(r
        .client("ResourceUsed")
        .iter()
        .all(|(_, _, u)| u["accepted"] == true));

    let r = run("recipe-gc-pause-fenced.toml");
    let refused: Vec<String> = r
        .client("ResourceUsed")
        .into_iter()
        .filter(|(_, _, u)| u["accepted"] == false)
        .map(|(_, c, _)| c)
        .collect();
    let paused: BTreeSet<String> = r.client("Paused").into_iter().map(|(_, c, _)| c).collect();
    assert!(!refused.is_empty(), "the deposed leader's use is refused");
    assert!(refused.iter().all(|c| paused.contains(c)));
}
