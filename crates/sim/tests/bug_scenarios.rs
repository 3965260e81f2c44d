//! Every bug variant's scenario under scenarios/bugs/: with the bug the run violates exactly
//! the invariants it expects, and the same schedule on the correct protocol violates none.
//! A bug scenario that also failed without its bug would prove nothing about the bug.

use std::path::{Path, PathBuf};
use zab::{Bug, BugSet};

fn bug_scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/bugs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/bugs exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn each_bug_scenario_is_caught_and_passes_without_its_bug() {
    let files = bug_scenarios();
    let mut caught = BugSet::default();
    for path in &files {
        let sc = scenario::load(path).expect("scenario loads");
        assert!(
            !sc.expect.violations.is_empty(),
            "{}: a bug scenario must expect a violation",
            path.display()
        );
        let seed = sc.seed;
        let o = sim::run(&sc, sim::Options::new(seed));
        assert!(
            o.verdict.passed,
            "{} with its bug: {:?}",
            path.display(),
            o.verdict.reasons
        );
        assert_eq!(
            sc.zk,
            Some(zab::ZkVersion::Fixed),
            "{}: a bug scenario runs its bug alone on the correct protocol",
            path.display()
        );
        let mut fixed = sc.clone();
        fixed.bugs = BugSet::default();
        let o = sim::run(&fixed, sim::Options::new(seed));
        assert!(
            o.violations.is_empty(),
            "{} without its bug: {:?}",
            path.display(),
            o.violations
        );
        for b in sc.bugs.iter() {
            caught.insert(b);
        }
    }
    let missing: Vec<&str> = Bug::ALL
        .iter()
        .filter(|b| !caught.has(**b) && **b != Bug::StaleReadOwnWrite)
        .map(|b| b.name())
        .collect();
    assert!(
        missing.is_empty(),
        "bug variants without a scenario: {missing:?}"
    );
}

/// A release's profile switches on exactly the bugs it carries: the bug scenarios, run under
/// every release with their own `bugs` cleared, show each bug acting somewhere under the
/// releases that carry it and nowhere under the others. (Only the bugs a release can carry
/// report when they act; the others must simply not be carried.)
#[test]
fn each_release_carries_exactly_its_bugs() {
    let scenarios: Vec<scenario::Scenario> = bug_scenarios()
        .iter()
        .map(|p| scenario::load(p).expect("scenario loads"))
        .collect();
    for version in zab::ZkVersion::ALL {
        // The schedules were cut for the correct protocol plus one bug; a release's other
        // hazards shift their timing, so each gets a few seeds.
        let mut acted = BugSet::default();
        for sc in &scenarios {
            let mut plain = sc.clone();
            plain.bugs = BugSet::default();
            for seed in sc.seed..sc.seed + 30 {
                let mut opts = sim::Options::new(seed);
                opts.zk = Some(*version);
                for (_, _, b) in sim::run(&plain, opts).fired {
                    acted.insert(b);
                }
            }
        }
        for sc in &scenarios {
            for bug in sc.bugs.iter() {
                let carried = version.carried().has(bug);
                if bug.reports_firing() {
                    assert_eq!(
                        acted.has(bug),
                        carried,
                        "under {version}: {bug} {} but the release {} it",
                        if acted.has(bug) {
                            "acted"
                        } else {
                            "never acted"
                        },
                        if carried { "carries" } else { "does not carry" }
                    );
                } else {
                    assert!(
                        !carried,
                        "{bug} is carried by {version} but does not report"
                    );
                }
            }
        }
    }
}
