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

/// A release's profile switches on exactly the bugs it carries: each bug scenario, run under
/// every release with its own `bugs` cleared, shows its bug acting where the release carries
/// it and nowhere else. (Only the bugs a release can carry report when they act; for the
/// others the second half holds trivially.)
#[test]
fn each_release_carries_exactly_its_bugs() {
    for path in bug_scenarios() {
        let sc = scenario::load(&path).expect("scenario loads");
        let mut plain = sc.clone();
        plain.bugs = BugSet::default();
        for version in zab::ZkVersion::ALL {
            // The schedule was cut for the correct protocol plus the bug; a release's other
            // hazards shift its timing, so the bug gets a few seeds to act in.
            let fired: Vec<zab::Bug> = (sc.seed..sc.seed + 50)
                .flat_map(|seed| {
                    let mut opts = sim::Options::new(seed);
                    opts.zk = Some(*version);
                    sim::run(&plain, opts).fired.into_iter().map(|(_, _, b)| b)
                })
                .collect();
            for bug in sc.bugs.iter() {
                let acted = fired.contains(&bug);
                let carried = version.carried().has(bug);
                if bug.reports_firing() {
                    assert_eq!(
                        acted,
                        carried,
                        "{} under {version}: {bug} {} but the release {} it",
                        path.display(),
                        if acted { "acted" } else { "did not act" },
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
