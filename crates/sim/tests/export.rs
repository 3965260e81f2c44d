//! An exported run takes the same course as the run it came from: same events, same
//! violations, same delivered histories, with no random faults left to draw.

use std::path::Path;
use zab::{Bug, BugSet};

fn load(name: &str) -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    scenario::load(&path).expect("scenario loads")
}

fn same_course(sc: &scenario::Scenario, seed: u64, bugs: BugSet) {
    let mut opts = sim::Options::new(seed);
    opts.bugs = bugs;
    let a = sim::run(sc, opts);
    let mut all = sc.bugs;
    for b in bugs.iter() {
        all.insert(b);
    }
    let exported = sim::export::export(sc, all, &a.executed);
    assert!(exported.random.as_ref().is_none_or(|r| r.crash_per_min
        + r.partition_per_min
        + r.pause_per_min
        + r.one_way_per_min
        == 0.0));
    // Through the file format, as `sim run --export` does.
    let text = scenario::to_toml(&exported);
    let back = scenario::parse(&text, &sc.path).expect("the export loads");
    let b = sim::run(&back, sim::Options::new(seed));
    assert_eq!(a.events, b.events, "seed {seed}: {text}");
    assert_eq!(a.violations, b.violations, "seed {seed}");
    assert_eq!(a.delivered, b.delivered, "seed {seed}");
    assert_eq!(a.elections, b.elections, "seed {seed}");
}

#[test]
fn exported_swarm_runs_take_the_same_course() {
    let sc = load("swarm/five-servers-writes.toml");
    for seed in 0..10 {
        same_course(&sc, seed, BugSet::default());
    }
    let mut bugs = BugSet::default();
    bugs.insert(Bug::Zk1154);
    for seed in 0..10 {
        same_course(&sc, seed, bugs);
    }
}

#[test]
fn exported_scripted_runs_take_the_same_course() {
    for name in [
        "leader-crash-before-commit.toml",
        "minority-partition-under-writes.toml",
        "flapping-network.toml",
    ] {
        same_course(&load(name), 42, BugSet::default());
    }
}
