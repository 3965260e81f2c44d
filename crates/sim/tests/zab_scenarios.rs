//! What the ZAB scenario library shows that `[expect]` cannot say: which messages carried the
//! txns, why a leader stepped down, how the trace numbers deliveries. Everything a scenario
//! can state about its outcome lives in its own `[expect]` table (tests/library.rs).

mod common;

use zab::{ServerId, TxnId, Zxid};

struct Run {
    outcome: sim::Outcome,
    trace: Vec<serde_json::Value>,
}

fn run(name: &str) -> Run {
    let (outcome, trace) = common::run_passing("", name);
    Run { outcome, trace }
}

impl Run {
    /// Server events of one kind, as (server, fields).
    fn events(&self, kind: &str) -> Vec<(String, &serde_json::Value)> {
        self.trace
            .iter()
            .filter(|l| l["kind"] == "event")
            .filter_map(|l| Some((l["server"].as_str()?.to_string(), l["event"].get(kind)?)))
            .collect()
    }

    /// Every running server ends with the same delivered history; returns it.
    fn agreed_history(&self) -> &Vec<TxnId> {
        let mut it = self.outcome.delivered.iter();
        let (first_id, first) = it.next().expect("a running server");
        for (id, h) in it {
            assert_eq!(
                h, first,
                "{id} and {first_id} end with different delivered histories"
            );
        }
        first
    }
}

#[test]
fn observer_catches_up_through_inform() {
    let r = run("observer-catch-up.toml");
    let informs = r
        .trace
        .iter()
        .filter(|l| l["kind"] == "deliver" && l["msg"] == "INFORM" && l["to"] == "s4")
        .count();
    assert!(
        informs > 10,
        "the observer follows commits through INFORM ({informs})"
    );
    assert!(r.outcome.delivered.contains_key(&ServerId(4)));
    r.agreed_history();
}

#[test]
fn zxid_rollover_forces_a_new_epoch() {
    let r = run("zxid-rollover.toml");
    let rolled = r.events("LeaderShutdown").into_iter().any(|(_, e)| {
        e["reason"]
            .as_str()
            .is_some_and(|s| s.contains("rolled over"))
    });
    assert!(rolled, "the leader steps down at the rollover guard");
    assert!(r.outcome.epoch >= 2);
    let history = r.agreed_history();
    let epochs: std::collections::BTreeSet<u64> = history.iter().map(|t| t.zxid.epoch()).collect();
    assert!(
        history.len() >= 15 && epochs.len() >= 3,
        "writes go on across the rollovers: {} txns in epochs {epochs:?}",
        history.len()
    );
    assert!(history.iter().all(|t| t.zxid.counter() < Zxid::COUNTER_MAX));
}

/// A `Delivered` names the txns it adds: `from` is the server's previous count, lowered by any
/// `TreeReset` since and zero after a crash or restart. The delivery checkers read that range
/// instead of following every server's count themselves, so a wrong `from` would make them
/// skip txns or look at some twice.
#[test]
fn delivered_starts_where_the_server_last_left_off() {
    let (mut lowering_resets, mut crashes) = (0, 0);
    // commit-before-quorum's new leader resyncs an old one that delivered a txn nobody else
    // had, so a reset lowers a count below what was delivered.
    for (dir, name) in [
        ("", "rolling-restart-under-writes.toml"),
        ("", "follower-far-behind-snap.toml"),
        ("", "trunc-below-snapshot-zxid.toml"),
        ("bugs", "commit-before-quorum.toml"),
    ] {
        let (_, trace) = common::run_passing(dir, name);
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for l in &trace {
            let Some(server) = l["server"].as_str() else {
                continue;
            };
            let c = counts.entry(server.to_string()).or_default();
            match l["kind"].as_str() {
                Some("crash" | "restart") => {
                    crashes += 1;
                    *c = 0;
                }
                Some("event") => {
                    if let Some(d) = l["event"].get("Delivered") {
                        assert_eq!(d["from"].as_u64(), Some(*c), "{name}: {l}");
                        let count = d["count"].as_u64().expect("a count");
                        assert!(count > *c, "{name}: {l}");
                        *c = count;
                    } else if let Some(kept) = l["event"]["TreeReset"]["kept"].as_u64() {
                        if kept < *c {
                            lowering_resets += 1;
                        }
                        *c = (*c).min(kept);
                    }
                }
                _ => {}
            }
        }
    }
    // The runs exercise both ways a count drops.
    assert!(lowering_resets > 0, "no TreeReset lowered a count");
    assert!(crashes > 0, "no crash or restart");
}
