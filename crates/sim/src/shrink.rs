//! `sim shrink`: a failing run cut down to a small scenario that still fails the same way.
//!
//! The run is exported first (see [`crate::export`]), so every fault is explicit and can be
//! dropped on its own. Then, greedily and until nothing more goes: drop each fault, end the run
//! sooner, give the clients fewer operations and fewer clients, and switch off connection
//! resets and reordering. A change is kept only if the run, with the same seed, still fails
//! with the same invariant and breaks no other that the original run kept (or, for a run that
//! broke no invariant, for the same reason). Each
//! candidate is one deterministic run, so the result is the same every time.

use crate::export::export;
use crate::{Options, Outcome};
use scenario::{Scenario, Trigger};

/// What a failing run is failing with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// An invariant violated unexpectedly (the first one found).
    Invariant(&'static str),
    /// No violation, but the verdict failed for this reason (an expected violation missing, a
    /// leader owed or not owed).
    Verdict(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Invariant(name) => write!(f, "violation of {name}"),
            Failure::Verdict(reason) => f.write_str(reason),
        }
    }
}

/// The smallest scenario found, and what it took.
pub struct Shrunk {
    pub scenario: Scenario,
    pub failure: Failure,
    /// Faults in the explicit scenario before shrinking, and after.
    pub faults_before: usize,
    pub runs: usize,
    /// How long the shrunk scenario simulates: its `duration_ms`, or longer when faults
    /// (connection resets until `[random] until_ms`) push the liveness deadline past it.
    pub sim_ms: f64,
}

fn failure(sc: &Scenario, o: &Outcome) -> Option<Failure> {
    if o.verdict.passed {
        return None;
    }
    let unexpected = o
        .violations
        .iter()
        .find(|v| !sc.expect.violations.iter().any(|e| e == v.invariant));
    Some(match unexpected {
        Some(v) => Failure::Invariant(v.invariant),
        None => Failure::Verdict(o.verdict.reasons.first().cloned().unwrap_or_default()),
    })
}

/// Whether a candidate still fails the way the original run did. For an invariant, the
/// candidate must also break nothing the original run kept: a shorter liveness window, say,
/// can add an `election-liveness` failure of its own, and a shrunk scenario that fails for
/// two reasons explains neither.
fn still_fails(sc: &Scenario, seed: u64, target: &Failure, broken: &[&'static str]) -> bool {
    let o = crate::run(sc, Options::new(seed));
    match target {
        Failure::Invariant(name) => {
            !o.verdict.passed
                && o.violations.iter().any(|v| v.invariant == *name)
                && o.violations.iter().all(|v| broken.contains(&v.invariant))
        }
        Failure::Verdict(_) => failure(sc, &o).as_ref() == Some(target),
    }
}

/// Shrinks a failing run of `sc` (with its bugs already merged in) and `seed`, spending at
/// most `max_runs` runs. Errors if the run does not fail.
pub fn shrink(sc: &Scenario, seed: u64, max_runs: usize) -> Result<Shrunk, String> {
    let o = crate::run(sc, Options::new(seed));
    let Some(target) = failure(sc, &o) else {
        return Err(format!(
            "{} with seed {seed} matches its [expect]: there is no failure to shrink",
            sc.name
        ));
    };
    let broken: Vec<&'static str> = o.violations.iter().map(|v| v.invariant).collect();
    let mut cur = export(sc, sc.bugs, &o.executed);
    let faults_before = cur.faults.len();
    let runs = std::cell::Cell::new(1usize);
    let try_change = |cur: &mut Scenario, change: &dyn Fn(&mut Scenario) -> bool| -> bool {
        if runs.get() >= max_runs {
            return false;
        }
        let mut cand = cur.clone();
        if !change(&mut cand) {
            return false;
        }
        runs.set(runs.get() + 1);
        if still_fails(&cand, seed, &target, &broken) {
            *cur = cand;
            true
        } else {
            false
        }
    };
    loop {
        let mut progress = false;
        // Drop faults, latest first: later faults are often consequences' bystanders.
        let mut i = cur.faults.len();
        while i > 0 {
            i -= 1;
            if i < cur.faults.len()
                && try_change(&mut cur, &|c| {
                    c.faults.remove(i);
                    true
                })
            {
                progress = true;
            }
        }
        // End sooner: halve the run and the liveness window while it still fails.
        for _ in 0..8 {
            let shorter = try_change(&mut cur, &|c| {
                let d = c.run.duration_ms / 2;
                if d < 100 {
                    return false;
                }
                c.run.duration_ms = d;
                // Resets drawn until `until_ms` would keep the run going past its end.
                if let Some(r) = &mut c.random {
                    r.until_ms = r.until_ms.min(d);
                }
                c.faults.retain(|f| match f.trigger {
                    Trigger::At { at_ms } => at_ms <= d,
                    Trigger::On { .. } => true,
                });
                true
            });
            let quicker = try_change(&mut cur, &|c| {
                let l = c.run.liveness_ms / 2;
                if l < 100 {
                    return false;
                }
                c.run.liveness_ms = l;
                true
            });
            progress |= shorter || quicker;
            if !shorter && !quicker {
                break;
            }
        }
        // Less work: fewer operations, fewer clients.
        for _ in 0..8 {
            let fewer = try_change(&mut cur, &|c| match &mut c.clients {
                Some(cl) if cl.ops > 1 => {
                    cl.ops /= 2;
                    true
                }
                _ => false,
            });
            progress |= fewer;
            if !fewer {
                break;
            }
        }
        while try_change(&mut cur, &|c| match &mut c.clients {
            Some(cl) if cl.count > 1 => {
                cl.count -= 1;
                true
            }
            _ => false,
        }) {
            progress = true;
        }
        // A plainer network.
        progress |= try_change(&mut cur, &|c| {
            let was = c.network.reset > 0.0;
            c.network.reset = 0.0;
            was
        });
        progress |= try_change(&mut cur, &|c| {
            std::mem::replace(&mut c.network.reorder, false)
        });
        if !progress || runs.get() >= max_runs {
            break;
        }
    }
    cur.seed = seed;
    cur.name = format!("{}-shrunk", sc.name);
    cur.description = format!(
        "{} with seed {seed}, shrunk from {faults_before} faults to {} by `sim shrink`; it still fails with: {target}.",
        sc.name,
        cur.faults.len()
    );
    let sim_ms = crate::run(&cur, Options::new(seed)).sim_us as f64 / 1000.0;
    Ok(Shrunk {
        scenario: cur,
        failure: target,
        faults_before,
        runs: runs.get(),
        sim_ms,
    })
}
