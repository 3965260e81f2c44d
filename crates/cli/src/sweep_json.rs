//! The JSON object of a sweep's result, as `sim fuzz --json` and `sim merge --json` print it:
//! counts, failures by invariant and by cause with the commands to rerun and shrink them,
//! the failing seeds, and the protocol-coverage table.

use report::sweep::Sweep;
use serde_json::json;

/// The object; `sim merge` adds `complete` and `shards`, `sim fuzz` its wall time.
pub(crate) fn summary(sweep: &Sweep) -> serde_json::Map<String, serde_json::Value> {
    let seeds_of = |idx: &[usize]| -> Vec<serde_json::Value> {
        idx.iter()
            .map(|i| {
                let r = &sweep.results[*i];
                let mut seed =
                    json!({"scenario": sweep.scenarios[r.scenario].name, "seed": r.seed});
                if !r.mutations.is_empty() {
                    seed["mutate"] = json!(r.mutations);
                }
                seed
            })
            .collect()
    };
    let failing: Vec<usize> = sweep
        .results
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.passed)
        .map(|(i, _)| i)
        .collect();
    let value = json!({
        "scenarios": sweep.scenarios.iter().map(|s| json!({"name": s.name, "path": s.path, "zk_version": s.zk_version.name()})).collect::<Vec<_>>(),
        "seeds": [sweep.seeds.0, sweep.seeds.1],
        "bugs": sweep.bugs,
        "swarm": sweep.swarm,
        "runs": sweep.results.len(),
        "passed": sweep.results.len() - sweep.failed(),
        "failed": sweep.failed(),
        "events": sweep.events(),
        "sim_us": sweep.sim_us(),
        "failures_by_invariant": sweep.by_failure().iter().map(|g| json!({
            "key": g.key,
            "count": g.seeds.len(),
            "first": seeds_of(&g.seeds[..1]),
            "reproduce": sweep.reproduce(&sweep.results[g.seeds[0]]),
        })).collect::<Vec<_>>(),
        "failures_by_cause": sweep.by_attribution().iter().map(|g| json!({
            "attributed_to": g.name,
            "count": g.seeds.len(),
            "first": seeds_of(&g.seeds[..1]),
            "shrink": sweep.shrink(&sweep.results[g.seeds[0]]),
        })).collect::<Vec<_>>(),
        "failing": seeds_of(&failing),
        "coverage": crate::coverage_table::json(sweep),
    });
    match value {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}
