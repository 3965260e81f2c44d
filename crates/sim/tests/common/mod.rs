//! What the scenario-library tests share: running a library scenario that must match its
//! `[expect]` table, and following a run's happenings with types.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

/// Runs `scenarios/<dir>/<name>` with its own seed; it must pass.
#[allow(dead_code)]
pub fn run_passing(dir: &str, name: &str) -> sim::Outcome {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(dir)
        .join(name);
    let sc = scenario::load(&path).expect("scenario loads");
    let outcome = sim::run(&sc, sim::Options::new(sc.seed));
    assert!(
        outcome.verdict.passed,
        "{name}: {:?} {:?}",
        outcome.verdict.reasons, outcome.violations
    );
    outcome
}

/// Runs `sc` with `opts`, handing every happening with its time to `f` along with `state`;
/// returns the outcome and the state: how a test follows a run with types, as a checker does.
#[allow(dead_code)]
pub fn watch<S: 'static>(
    sc: &scenario::Scenario,
    mut opts: sim::Options,
    state: S,
    mut f: impl FnMut(&mut S, u64, &check::Happening<'_>) + 'static,
) -> (sim::Outcome, S) {
    let cell = Rc::new(RefCell::new(state));
    let inner = cell.clone();
    opts.observer = Some(Box::new(move |t, h| f(&mut inner.borrow_mut(), t, h)));
    let outcome = sim::run(sc, opts);
    let state = Rc::try_unwrap(cell)
        .ok()
        .expect("the run dropped its observer")
        .into_inner();
    (outcome, state)
}
