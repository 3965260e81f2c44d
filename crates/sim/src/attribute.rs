//! Which known bug a failing run is down to.
//!
//! A release carries historical bugs and hazards (see [`zab::ZkVersion::carried`]), and a run
//! may have more variants switched on. A server reports the moment a switched-on bug changes
//! what it does ([`zab::Output::Fired`]); only bugs that acted are candidates, since a bug that
//! never acted cannot have caused anything, and fixing it would only shift the run's timing.
//! Each candidate is fixed in turn, in the order they first acted, and the seed is run again:
//! the first whose fix removes the failure is the one it is attributed to. A run can fail for
//! several independent reasons (two hazards, each breaking an invariant of its own); then the
//! candidates are fixed cumulatively until the failure is gone (a bug that acts only on the
//! course the other fixes take joins them), and every fix the others do without is dropped
//! again, leaving the set of bugs the failure needs. A failure that
//! survives every fix is unexplained: either a bug in the model, or a hazard zabsim does not
//! know of yet, and it is what a user must look at first.

use crate::sim::{effective_bugs, Options};
use crate::Outcome;
use scenario::Scenario;
use std::collections::BTreeSet;
use zab::{Bug, BugSet, ZkVersion};

/// What a failing run is attributed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribution {
    /// Fixing these (one, or only all of them together) makes the seed pass.
    Known(Vec<Bug>),
    /// No fix of a known bug makes the seed pass.
    Unexplained,
}

impl Attribution {
    /// The name used in JSON (`attributed_to`) and summaries: a bug's name, names joined by
    /// `+` for a set, or `None` when unexplained.
    pub fn name(&self) -> Option<String> {
        match self {
            Attribution::Known(bugs) => {
                let names: Vec<&str> = bugs.iter().map(|b| b.name()).collect();
                Some(names.join("+"))
            }
            Attribution::Unexplained => None,
        }
    }
}

/// Attributes the failure of `failed` (the outcome of `sc` with `seed`, run under release
/// `zk` over the scenario's own, with `bugs` on top of the scenario's). Reruns the seed once per bug
/// that fired, then with them fixed together (joined by any bug that acts only on the course
/// those fixes take), then to drop the fixes the rest do without. A fix explains the failure
/// when the rerun breaks none of the invariants the failed run broke unexpectedly and, if the
/// failed run ended without an owed leader, has one. `None` when there is nothing a fix could
/// explain: the run only missed violations its scenario expects.
pub fn attribute(
    sc: &Scenario,
    seed: u64,
    zk: Option<ZkVersion>,
    bugs: BugSet,
    failed: &Outcome,
) -> Option<Attribution> {
    let options = |fixes: BugSet| {
        let mut o = Options::new(seed);
        o.zk = zk;
        o.bugs = bugs;
        o.fixes = fixes;
        o
    };
    let on = effective_bugs(sc, &options(BugSet::default()));
    let mut candidates: Vec<Bug> = Vec::new();
    for (_, _, bug) in &failed.fired {
        if on.has(*bug) && !candidates.contains(bug) {
            candidates.push(*bug);
        }
    }
    // A variant that does not report when it acts is always a candidate.
    candidates.extend(on.iter().filter(|b| !b.reports_firing()));
    let unexpected: BTreeSet<&str> = failed
        .violations
        .iter()
        .map(|v| v.invariant)
        .filter(|name| !sc.expect.violations.iter().any(|e| e == name))
        .collect();
    // A run that ended at its first unexpected violation was not judged on its end.
    let leader_missing =
        sc.expect.leader && failed.leader.is_none() && failed.stopped_at_us.is_none();
    if unexpected.is_empty() && !leader_missing {
        return None;
    }
    // Whether fixing `fixes` explains the failure, and the bugs that acted in that rerun.
    let rerun = |fixes: &[Bug]| {
        let o = crate::run(sc, options(fixes.iter().copied().collect()));
        let broken = o
            .violations
            .iter()
            .any(|v| unexpected.contains(v.invariant));
        let leaderless = leader_missing && o.leader.is_none();
        let fired: Vec<Bug> = o.fired.iter().map(|(_, _, b)| *b).collect();
        (!(broken || leaderless), fired)
    };
    let explains = |fixes: &[Bug]| rerun(fixes).0;
    for bug in &candidates {
        if explains(&[*bug]) {
            return Some(Attribution::Known(vec![*bug]));
        }
    }
    // Several causes: fix them cumulatively, in the order they acted, until the failure is
    // gone. A rerun with some fixed takes another course, on which other bugs of the release
    // can act; they join the fixes, until the failure is gone or no new bug acts. Then drop
    // each fix the rest do without.
    let mut fixes: Vec<Bug> = Vec::new();
    let mut gone = false;
    for bug in &candidates {
        fixes.push(*bug);
        if fixes.len() > 1 && explains(&fixes) {
            gone = true;
            break;
        }
    }
    while !gone {
        let (ok, fired) = rerun(&fixes);
        if ok {
            gone = true;
            break;
        }
        let new: Vec<Bug> = fired
            .into_iter()
            .filter(|b| on.has(*b) && !fixes.contains(b))
            .collect();
        if new.is_empty() {
            break;
        }
        for b in new {
            if !fixes.contains(&b) {
                fixes.push(b);
            }
        }
    }
    if !gone {
        return Some(Attribution::Unexplained);
    }
    let mut i = 0;
    while i < fixes.len() && fixes.len() > 1 {
        let without: Vec<Bug> = fixes.iter().copied().filter(|b| *b != fixes[i]).collect();
        if explains(&without) {
            fixes = without;
        } else {
            i += 1;
        }
    }
    fixes.sort();
    Some(Attribution::Known(fixes))
}
