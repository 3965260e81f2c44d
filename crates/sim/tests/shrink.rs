//! Shrinking: a zk-1154 failure found by the swarm comes down to a few faults and still fails
//! with the same invariant and no new one; a passing run has nothing to shrink.

use std::path::Path;
use zab::Bug;

fn swarm() -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/swarm/five-servers-writes.toml");
    scenario::load(&path).expect("scenario loads")
}

#[test]
fn a_zk_1154_swarm_failure_shrinks_to_at_most_three_faults() {
    let mut sc = swarm();
    sc.bugs.insert(Bug::Zk1154);
    // The first failing seed of the sweep.
    let seed = (0..50)
        .find(|s| !sim::run(&sc, sim::Options::new(*s)).verdict.passed)
        .expect("zk-1154 fails within 50 seeds");
    let shrunk = sim::shrink::shrink(&sc, seed, 2000).expect("it fails, so it shrinks");
    let small = &shrunk.scenario;
    assert!(shrunk.faults_before > small.faults.len());
    assert!(
        small.faults.len() <= 3,
        "{} faults left",
        small.faults.len()
    );
    assert!(small.random.as_ref().is_none_or(|r| r.crash_per_min == 0.0));
    // It still fails the same way, through the file format and with its own default seed.
    let text = scenario::to_toml(small);
    let back = scenario::parse(&text, Path::new("shrunk.toml")).expect("loads");
    let o = sim::run(&back, sim::Options::new(back.seed));
    let sim::shrink::Failure::Invariant(name) = shrunk.failure else {
        panic!("zk-1154 breaks an invariant, got {}", shrunk.failure);
    };
    assert!(o.violations.iter().any(|v| v.invariant == name), "{text}");
    // And it breaks nothing the original failure did not.
    let original: Vec<&str> = sim::run(&sc, sim::Options::new(seed))
        .violations
        .iter()
        .map(|v| v.invariant)
        .collect();
    for v in &o.violations {
        assert!(
            original.contains(&v.invariant),
            "new: {}\n{text}",
            v.invariant
        );
    }
    // Without the bug the same small schedule is fine.
    let mut fixed = back.clone();
    fixed.bugs = zab::BugSet::default();
    assert!(sim::run(&fixed, sim::Options::new(back.seed))
        .violations
        .is_empty());
}

#[test]
fn a_passing_run_has_nothing_to_shrink() {
    let err = sim::shrink::shrink(&swarm(), 0, 10)
        .err()
        .expect("seed 0 passes");
    assert!(err.contains("matches its [expect]"), "{err}");
}
