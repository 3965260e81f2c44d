//! `Options::stop_at_failure` (what `sim fuzz` and `sim hunt` run with): a run ends at its
//! first violation the scenario does not expect, and is the whole run up to there; expected
//! violations do not end it.

use std::path::Path;

fn load(name: &str) -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    scenario::load(&path).expect("scenario loads")
}

fn run(sc: &scenario::Scenario, stop: bool) -> sim::Outcome {
    let mut opts = sim::Options::new(sc.seed);
    opts.stop_at_failure = stop;
    sim::run(sc, opts)
}

#[test]
fn a_failing_run_ends_at_its_first_unexpected_violation() {
    // ZOOKEEPER-4643's scenario with nothing expected: its violations are failures.
    let mut sc = load("bugs/zk-4643.toml");
    sc.expect = scenario::Expect::default();
    let whole = run(&sc, false);
    let cut = run(&sc, true);
    assert!(!whole.verdict.passed && !cut.verdict.passed);
    assert_eq!(whole.stopped_at_us, None);
    let at = cut.stopped_at_us.expect("stopped");
    let first = &whole.violations[0];
    assert_eq!(
        at, first.at_us,
        "it stops in the event that showed the first violation"
    );
    assert!(
        cut.events < whole.events,
        "{} of {}",
        cut.events,
        whole.events
    );
    // Up to there it is the same run: the same violations, in order.
    let before: Vec<(&str, u64)> = whole
        .violations
        .iter()
        .filter(|v| v.at_us <= at)
        .map(|v| (v.invariant, v.at_us))
        .collect();
    let got: Vec<(&str, u64)> = cut
        .violations
        .iter()
        .map(|v| (v.invariant, v.at_us))
        .collect();
    assert_eq!(got, before);
    // It failed on what it saw; the end of the run (a leader, delivered txns) was never
    // reached, so it is not judged.
    assert!(
        cut.verdict
            .reasons
            .iter()
            .all(|r| r.starts_with("unexpected violation of ")),
        "{:?}",
        cut.verdict.reasons
    );
}

#[test]
fn expected_violations_do_not_end_a_run() {
    let sc = load("bugs/zk-4643.toml");
    let whole = run(&sc, false);
    let with_stop = run(&sc, true);
    assert!(whole.verdict.passed, "{:?}", whole.verdict.reasons);
    assert!(!whole.violations.is_empty());
    assert_eq!(with_stop.stopped_at_us, None);
    assert_eq!(with_stop.trace_hash, whole.trace_hash);
    assert_eq!(with_stop.verdict, whole.verdict);
}
