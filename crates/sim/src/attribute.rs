//! Which known bug a failing run is down to.
//!
//! A release carries historical bugs and hazards (see [`zab::ZkVersion::carried`]), and a run
//! may have more variants switched on. When a seed fails, each of them is fixed in turn and
//! the seed is run again: the first whose fix makes the run match its `[expect]` is the one
//! the failure is attributed to. A run is a pure function of its seed, and a fixed bug changes
//! the run only where its code is reached, so a fix that makes the failure go away shows the
//! bug was reached on the way to it. When no single fix helps but fixing all of them does,
//! the failure needs several of them together and is attributed to that set. A failure that
//! survives every fix is unexplained: either a new bug in the model, or a hazard zabsim does
//! not know of yet, and it is what a user must look at first.

use crate::sim::{effective_bugs, Options};
use scenario::Scenario;
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

/// Attributes the failure of `sc` with `seed`, run under release `zk` (over the scenario's
/// own) with `bugs` on top of the scenario's. Reruns the seed up to one time per bug that was
/// on, plus once with all of them fixed.
pub fn attribute(sc: &Scenario, seed: u64, zk: Option<ZkVersion>, bugs: BugSet) -> Attribution {
    let options = |fixes: BugSet| {
        let mut o = Options::new(seed);
        o.zk = zk;
        o.bugs = bugs;
        o.fixes = fixes;
        o
    };
    let on = effective_bugs(sc, &options(BugSet::default()));
    let passes = |fixes: BugSet| crate::run(sc, options(fixes)).verdict.passed;
    for bug in on.iter() {
        if passes(std::iter::once(bug).collect()) {
            return Attribution::Known(vec![bug]);
        }
    }
    if on.len() > 1 && passes(on) {
        return Attribution::Known(on.iter().collect());
    }
    Attribution::Unexplained
}
