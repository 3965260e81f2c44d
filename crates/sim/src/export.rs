//! `sim run --export`: a run written back as an explicit scenario.
//!
//! Random faults are drawn from the seed, so a failure found by a sweep depends on the fault
//! stream: change how faults are drawn and the seed no longer fails. The export replaces
//! every random fault by the timed fault it became, with its target resolved, and every fired
//! `[[faults]]` target by the server it hit. Nothing is left to draw from the fault stream,
//! and the other streams (network, disk, workload) are untouched, so the exported scenario,
//! run with the same seed, takes the same course.

mod from;

pub use from::{export_from, FromError};
use scenario::{Action, Fault, Scenario, Trigger};
use zab::BugSet;

/// A fault as it was carried out.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutedFault {
    pub at_us: u64,
    /// The `[[faults]]` table it came from, or `None` for a random fault.
    pub scripted: Option<usize>,
    /// With every target a concrete server.
    pub action: Action,
}

/// A `[random]` table with every rate at zero. No fault is left to draw once the drawn ones
/// are written out, but `until_ms` still bounds the fault window (connection resets stop
/// there), so the table stays.
fn nothing_to_draw(r: scenario::RandomFaults) -> scenario::RandomFaults {
    scenario::RandomFaults {
        crash_per_min: 0.0,
        partition_per_min: 0.0,
        pause_per_min: 0.0,
        one_way_per_min: 0.0,
        client_crash_per_min: 0.0,
        client_pause_per_min: 0.0,
        ..r
    }
}

/// The explicit scenario of a run: `bugs` are the variants the run had switched on.
pub fn export(sc: &Scenario, bugs: BugSet, executed: &[ExecutedFault]) -> Scenario {
    let mut out = sc.clone();
    out.bugs = bugs;
    // The golden file tells the original's story, not this file's.
    out.expect.golden = None;
    out.random = sc.random.clone().map(nothing_to_draw);
    out.faults = Vec::new();
    for (index, f) in sc.faults.iter().enumerate() {
        let mut fault = f.clone();
        if let Some(e) = executed.iter().find(|e| e.scripted == Some(index)) {
            fault.action = e.action.clone();
        }
        out.faults.push(fault);
    }
    for e in executed.iter().filter(|e| e.scripted.is_none()) {
        out.faults.push(Fault {
            trigger: Trigger::At {
                at_ms: e.at_us / 1000,
            },
            action: e.action.clone(),
            line: 0,
        });
    }
    out
}
