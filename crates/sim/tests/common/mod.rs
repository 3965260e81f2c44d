//! What the scenario-library tests share: running a library scenario with its trace captured
//! in memory, and requiring that it matches its `[expect]` table.

use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;

/// A trace sink the test can read back.
#[derive(Clone, Default)]
struct Captured(Rc<RefCell<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `sc` with `opts`, capturing the trace: the outcome and one JSON value per line.
#[allow(dead_code)] // each test binary uses one of the two entry points
pub fn traced(
    sc: &scenario::Scenario,
    mut opts: sim::Options,
) -> (sim::Outcome, Vec<serde_json::Value>) {
    let sink = Captured::default();
    opts.trace = Some(Box::new(sink.clone()));
    let outcome = sim::run(sc, opts);
    let bytes = sink.0.borrow();
    let trace = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("trace line is JSON"))
        .collect();
    (outcome, trace)
}

/// Runs `scenarios/<dir>/<name>` with its own seed; it must pass. Returns the outcome and
/// the trace, one JSON value per line.
#[allow(dead_code)]
pub fn run_passing(dir: &str, name: &str) -> (sim::Outcome, Vec<serde_json::Value>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(dir)
        .join(name);
    let sc = scenario::load(&path).expect("scenario loads");
    let (outcome, trace) = traced(&sc, sim::Options::new(sc.seed));
    assert!(
        outcome.verdict.passed,
        "{name}: {:?} {:?}",
        outcome.verdict.reasons, outcome.violations
    );
    (outcome, trace)
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
