//! A triggered fault with `delay_ms` acts that long after its packet, resolving its target
//! then, and the run is as deterministic as with an immediate one.

use std::path::Path;

fn scenario(delay_ms: u64) -> scenario::Scenario {
    let text = format!(
        r#"
name = "delayed-trigger"
seed = 7

[cluster]
servers = 3

[clients]
workload = "kv"
count = 2
ops = 20
write_ratio = 1.0
think_ms = [50, 200]

[run]
duration_ms = 15000
liveness_ms = 10000

[[faults]]
on = {{ send = "COMMIT", from = "leader", nth = 1, delay_ms = {delay_ms} }}
action = "crash"
target = "leader"
restart_after_ms = 3000
"#
    );
    scenario::parse(&text, Path::new("delayed-trigger.toml")).expect("scenario parses")
}

/// When the scripted crash was carried out, and when the matching COMMIT was about to leave.
fn crash_and_match(o: &sim::Outcome) -> (u64, u64) {
    let crash = o
        .executed
        .iter()
        .find(|e| e.scripted == Some(0))
        .expect("the scripted crash ran");
    let matched = o
        .faults
        .iter()
        .find(|(_, what)| what.contains("trigger of [[faults]]") && what.contains("COMMIT"))
        .expect("the trigger matched");
    (crash.at_us, matched.0)
}

#[test]
fn a_delayed_trigger_acts_that_long_after_its_packet() {
    let now = sim::run(&scenario(0), sim::Options::new(7));
    let (crash, matched) = crash_and_match(&now);
    assert_eq!(crash, matched, "without a delay the crash is the match");

    let later = sim::run(&scenario(250), sim::Options::new(7));
    let (crash, matched_later) = crash_and_match(&later);
    assert_eq!(matched_later, matched, "the same COMMIT matches");
    assert_eq!(crash, matched + 250_000);
    assert!(later.verdict.passed, "{:?}", later.verdict.reasons);

    let again = sim::run(&scenario(250), sim::Options::new(7));
    assert_eq!(again.trace_hash, later.trace_hash);
}

#[test]
fn the_delay_is_written_back_out() {
    let sc = scenario(250);
    let text = scenario::to_toml(&sc);
    assert!(text.contains("delay_ms = 250"), "{text}");
    let back = scenario::parse(&text, Path::new("back.toml")).expect("written scenario parses");
    assert_eq!(back.faults[0].trigger, sc.faults[0].trigger);
}
