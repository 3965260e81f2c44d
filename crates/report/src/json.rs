//! `sim run --json`: one object with the contract keys.

use serde_json::{json, Value};

pub fn json(o: &sim::Outcome, command: &str) -> String {
    json_value(o, command).to_string()
}

/// The same object as a value, for the HTML report's trace footer.
pub(crate) fn json_value(o: &sim::Outcome, command: &str) -> Value {
    let violations: Vec<Value> = o
        .violations
        .iter()
        .map(|v| {
            json!({
                "invariant": v.invariant,
                "at_ms": v.at_us as f64 / 1000.0,
                "server": v.server.map(|s| s.0),
                "message": v.message,
            })
        })
        .collect();
    let elections: Vec<Value> = o
        .elections
        .iter()
        .map(|e| {
            json!({
                "epoch": e.epoch,
                "leader": e.leader.0,
                "started_ms": e.started_us as f64 / 1000.0,
                "established_ms": e.established_us as f64 / 1000.0,
                "recovered": e.recovered.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let faults: Vec<Value> = o
        .faults
        .iter()
        .map(|(t, f)| json!({ "at_ms": *t as f64 / 1000.0, "fault": f }))
        .collect();
    let startup_failures: Vec<Value> = o
        .startup_failures
        .iter()
        .map(|(t, id, reason)| json!({ "at_ms": *t as f64 / 1000.0, "server": id.0, "reason": reason }))
        .collect();
    json!({
        "scenario": o.scenario,
        "seed": o.seed,
        "zk_version": o.zk_version.name(),
        "bugs": o.bugs,
        "carried": o.carried,
        "passed": o.verdict.passed,
        "exit_code": o.verdict.exit_code,
        "reasons": o.verdict.reasons,
        "violations": violations,
        "leader": o.leader.map(|(l, _)| l.0),
        "epoch": o.epoch,
        "elections": elections,
        "committed": o.committed,
        "events": o.events,
        "sim_ms": o.sim_us as f64 / 1000.0,
        "stopped_at_ms": o.stopped_at_us.map(|t| t as f64 / 1000.0),
        "trace_hash": format!("{:016x}", o.trace_hash),
        "faults": faults,
        "clients": o.clients,
        "startup_failures": startup_failures,
        "fired": o.fired.iter().map(|(t, id, b)| json!({ "at_ms": *t as f64 / 1000.0, "server": id.0, "bug": b.name() })).collect::<Vec<_>>(),
        "attributed_to": o.attribution.as_ref().and_then(|a| a.name()),
        "reproduce": command,
    })
}
