//! A `sim fuzz` sweep boiled down to what its summary and its HTML report count: for each
//! seed whether it failed and on what, which fault families it carried out, what `--swarm`
//! drew for it, and how long the ensemble took to have a leader again once the faults were
//! over.
//!
//! Each seed keeps a few words instead of its [`sim::Outcome`], so a sweep of a hundred
//! thousand seeds fits in memory; everything here is computed from results sorted by
//! (scenario, seed), so nothing depends on the number of threads that ran them.

use sim::export::ExecutedFault;
use std::collections::BTreeMap;

/// What a seed's ensemble did once its last fault was over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// No fault was carried out.
    NoFaults,
    /// A leader was established when the last fault ended, and kept its epoch past it.
    Held,
    /// The ensemble was without an established leader when the last fault ended; one was
    /// established this many microseconds later.
    Elected(u64),
    /// No leader was established after the last fault ended.
    NoLeader,
}

/// One seed of one scenario.
#[derive(Clone, Debug)]
pub struct SeedResult {
    /// Index into [`Sweep::scenarios`].
    pub scenario: usize,
    pub seed: u64,
    pub passed: bool,
    pub events: u64,
    pub sim_us: u64,
    /// Why it failed, one key each: the invariants it violated that the scenario does not
    /// expect, and every other reason of its verdict (an expected violation that did not
    /// happen, a missing leader, a trace that differed between two runs). Empty if it passed.
    pub failures: Vec<String>,
    /// The fault families it carried out (see [`family`]), sorted, each once.
    pub families: Vec<&'static str>,
    /// What `--swarm` drew for it (empty without `--swarm`).
    pub knobs: sim::swarm::Knobs,
    pub recovery: Recovery,
    /// For a failing seed: the known bug or hazard whose fix makes it pass (see
    /// [`sim::attribute`]); `None` if it passed or the failure is unexplained.
    pub attributed_to: Option<String>,
    /// The protocol situations it reached ([`sim::coverage`]).
    pub coverage: sim::Coverage,
    /// A `--guided` mutant: the changes made to its seed's swarm draw, in order
    /// (`sim run --mutate`); empty for a plain seed.
    pub mutations: Vec<u64>,
}

impl SeedResult {
    /// `expected`: the invariants the scenario expects to be violated; `reasons`: the
    /// verdict's reasons with anything the sweep itself found (a determinism difference).
    pub fn new(
        scenario: usize,
        o: &sim::Outcome,
        expected: &[String],
        reasons: &[String],
        knobs: sim::swarm::Knobs,
    ) -> SeedResult {
        let mut failures: Vec<String> = Vec::new();
        for v in &o.violations {
            let name = v.invariant.to_string();
            if !expected.contains(&name) && !failures.contains(&name) {
                failures.push(name);
            }
        }
        for r in reasons {
            let said = failures
                .iter()
                .any(|name| *r == format!("unexpected violation of {name}"));
            if !said && !failures.contains(r) {
                failures.push(r.clone());
            }
        }
        let mut families: Vec<&'static str> = o.executed.iter().map(family).collect();
        families.sort_unstable();
        families.dedup();
        SeedResult {
            scenario,
            seed: o.seed,
            passed: reasons.is_empty(),
            events: o.events,
            sim_us: o.sim_us,
            failures,
            families,
            knobs,
            recovery: recovery(o),
            attributed_to: None,
            coverage: o.coverage.clone(),
            mutations: Vec::new(),
        }
    }
}

/// The family of a fault as carried out: what the report groups failures by.
pub fn family(f: &ExecutedFault) -> &'static str {
    match &f.action {
        scenario::Action::Crash { .. } => "crash",
        scenario::Action::Restart { .. } => "restart",
        scenario::Action::Partition { one_way: false, .. } => "partition",
        scenario::Action::Partition { one_way: true, .. } => "one-way partition",
        scenario::Action::Isolate { .. } => "isolate",
        scenario::Action::Heal => "heal",
        scenario::Action::Pause { .. } => "pause",
    }
}

/// When a fault was over: its restart, heal or resume if it came with one, else the moment it
/// struck (a crash without restart is over once it happened; a partition without heal ends
/// with the `heal` fault that follows it).
fn fault_end_us(f: &ExecutedFault) -> u64 {
    use scenario::Action;
    let after_ms = match &f.action {
        Action::Crash {
            restart_after_ms, ..
        } => restart_after_ms.unwrap_or(0),
        Action::Partition { heal_after_ms, .. } | Action::Isolate { heal_after_ms, .. } => {
            heal_after_ms.unwrap_or(0)
        }
        Action::Pause { duration_ms, .. } => *duration_ms,
        Action::Restart { .. } | Action::Heal => 0,
    };
    f.at_us + after_ms * 1000
}

/// How long after the end of its last fault the run had an established leader.
pub fn recovery(o: &sim::Outcome) -> Recovery {
    let Some(over) = o.executed.iter().map(fault_end_us).max() else {
        return Recovery::NoFaults;
    };
    // An election record spans the time without a leader up to the establishment that ended
    // it; the records follow each other in time.
    if let Some(e) = o
        .elections
        .iter()
        .find(|e| e.started_us <= over && over < e.established_us)
    {
        return Recovery::Elected(e.established_us - over);
    }
    let before = o.elections.iter().any(|e| e.established_us <= over);
    // A leader established before the end holds it unless the ensemble lost it since; a loss
    // with no establishment after it shows only as no leader at the end of the run.
    let held = o.leader.is_some() || o.elections.iter().any(|e| e.started_us > over);
    if before && held {
        Recovery::Held
    } else {
        Recovery::NoLeader
    }
}

/// A scenario of the sweep.
#[derive(Clone, Debug)]
pub struct SweepScenario {
    pub name: String,
    /// As given on the command line, for the commands that rerun a seed.
    pub path: String,
    /// The release its seeds modelled.
    pub zk_version: zab::ZkVersion,
}

/// A whole sweep.
#[derive(Clone, Debug, Default)]
pub struct Sweep {
    /// The command line that ran it.
    pub command: String,
    pub scenarios: Vec<SweepScenario>,
    /// `--seeds A..B`.
    pub seeds: (u64, u64),
    /// `--shard K/N`.
    pub shard: Option<(u64, u64)>,
    pub bugs: Vec<String>,
    /// `--zk`, if given.
    pub zk: Option<zab::ZkVersion>,
    pub swarm: bool,
    pub check_determinism: bool,
    /// Threads that ran it.
    pub jobs: usize,
    /// How long it took on the wall clock.
    pub wall_us: u64,
    /// When each seed's result came in (microseconds since the start) and whether it
    /// failed, in the order they came in: the one list that depends on `--jobs`.
    pub finished: Vec<(u64, bool)>,
    /// Sorted by (scenario, seed).
    pub results: Vec<SeedResult>,
    /// The (scenario, seed) pairs whose results a resumed shard read back from its file
    /// instead of running: the speed counts only the others.
    pub read_back: std::collections::BTreeSet<(usize, u64)>,
}

/// The seeds that failed for one reason.
#[derive(Clone, Debug)]
pub struct FailureGroup {
    /// The invariant, or the verdict's reason when no invariant was violated.
    pub key: String,
    /// Indices into [`Sweep::results`], in (scenario, seed) order: the first is the seed to
    /// shrink.
    pub seeds: Vec<usize>,
}

/// The failing seeds put down to one known bug (or set of bugs), or to none.
#[derive(Clone, Debug)]
pub struct AttributionGroup {
    /// The bug's name (names joined by `+` for a set), or `None`: unexplained.
    pub name: Option<String>,
    /// Indices into [`Sweep::results`], in (scenario, seed) order.
    pub seeds: Vec<usize>,
}

/// How often something (a fault family, a swarm knob's value) occurred among the failing
/// seeds and among all seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub label: String,
    pub failing: usize,
    pub all: usize,
}

impl Share {
    /// Its share among the failing seeds minus its share among all seeds: above zero it is
    /// over-represented among failures.
    pub fn excess(&self, failed: usize, total: usize) -> f64 {
        self.failing as f64 / failed.max(1) as f64 - self.all as f64 / total.max(1) as f64
    }
}

impl Sweep {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed).count()
    }

    /// The protocol-coverage table of every seed ([`crate::coverage`]).
    pub fn coverage(&self) -> Vec<crate::coverage::Row> {
        crate::coverage::table(&self.results)
    }

    pub fn events(&self) -> u64 {
        self.results.iter().map(|r| r.events).sum()
    }

    pub fn sim_us(&self) -> u64 {
        self.results.iter().map(|r| r.sim_us).sum()
    }

    /// The seeds this process ran, not read back.
    fn ran(&self) -> impl Iterator<Item = &SeedResult> {
        self.results
            .iter()
            .filter(|r| !self.read_back.contains(&(r.scenario, r.seed)))
    }

    pub fn seeds_per_s(&self) -> f64 {
        self.ran().count() as f64 * 1e6 / self.wall_us.max(1) as f64
    }

    pub fn events_per_s(&self) -> f64 {
        self.ran().map(|r| r.events).sum::<u64>() as f64 * 1e6 / self.wall_us.max(1) as f64
    }

    /// The seed's place among the seeds its scenario ran, from 1: how long the sweep took to
    /// find it.
    pub fn nth(&self, index: usize) -> usize {
        let r = &self.results[index];
        self.results[..index]
            .iter()
            .filter(|o| o.scenario == r.scenario)
            .count()
            + 1
    }

    /// The command that reruns one seed.
    pub fn reproduce(&self, r: &SeedResult) -> String {
        let mut cmd = format!(
            "sim run {} --seed {}",
            self.scenarios[r.scenario].path, r.seed
        );
        if self.swarm {
            cmd.push_str(" --swarm");
        }
        if !r.mutations.is_empty() {
            let list: Vec<String> = r.mutations.iter().map(u64::to_string).collect();
            cmd.push_str(&format!(" --mutate {}", list.join(",")));
        }
        cmd.push_str(&self.zk_flag());
        for b in &self.bugs {
            cmd.push_str(&format!(" --bug {b}"));
        }
        cmd
    }

    /// ` --zk VERSION` when the sweep named a release, else nothing.
    fn zk_flag(&self) -> String {
        self.zk.map(|v| format!(" --zk {v}")).unwrap_or_default()
    }

    /// Failing seeds grouped by what they are attributed to: unexplained ones first (they
    /// are what to look at), then by name.
    pub fn by_attribution(&self) -> Vec<AttributionGroup> {
        let mut by: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
        for (i, r) in self.results.iter().enumerate().filter(|(_, r)| !r.passed) {
            by.entry(r.attributed_to.as_deref()).or_default().push(i);
        }
        by.into_iter()
            .map(|(name, seeds)| AttributionGroup {
                name: name.map(str::to_string),
                seeds,
            })
            .collect()
    }

    /// How many failing seeds no known bug explains.
    pub fn unexplained(&self) -> usize {
        self.results
            .iter()
            .filter(|r| !r.passed && r.attributed_to.is_none())
            .count()
    }

    /// The command that cuts a failing seed down to a small scenario (a swarm seed's drawn
    /// configuration included).
    pub fn shrink(&self, r: &SeedResult) -> String {
        self.reproduce(r).replacen("sim run ", "sim shrink ", 1)
    }

    /// Failing seeds grouped by why they failed, in order of the key; a seed that failed
    /// for several reasons is in several groups.
    pub fn by_failure(&self) -> Vec<FailureGroup> {
        let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in self.results.iter().enumerate() {
            for key in &r.failures {
                by.entry(key).or_default().push(i);
            }
        }
        by.into_iter()
            .map(|(key, seeds)| FailureGroup {
                key: key.to_string(),
                seeds,
            })
            .collect()
    }

    /// Each fault family that ran, and "no fault" for seeds that carried out none, in
    /// failing seeds against all seeds, most over-represented among failures first.
    pub fn families(&self) -> Vec<Share> {
        self.shares(|r| {
            if r.families.is_empty() {
                vec!["no fault".to_string()]
            } else {
                r.families.iter().map(|f| f.to_string()).collect()
            }
        })
    }

    /// Each value `--swarm` drew, as `knob=value`, the same way.
    pub fn knobs(&self) -> Vec<Share> {
        self.shares(|r| r.knobs.iter().map(|(k, v)| format!("{k}={v}")).collect())
    }

    fn shares(&self, labels: impl Fn(&SeedResult) -> Vec<String>) -> Vec<Share> {
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in &self.results {
            for label in labels(r) {
                let c = counts.entry(label).or_default();
                c.1 += 1;
                if !r.passed {
                    c.0 += 1;
                }
            }
        }
        let (failed, total) = (self.failed(), self.results.len());
        let mut rows: Vec<Share> = counts
            .into_iter()
            .map(|(label, (failing, all))| Share {
                label,
                failing,
                all,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.excess(failed, total)
                .total_cmp(&a.excess(failed, total))
                .then_with(|| a.label.cmp(&b.label))
        });
        rows
    }

    /// The time to an established leader after the faults, of every seed that needed a new
    /// one, sorted.
    pub fn elect_times_us(&self) -> Vec<u64> {
        let mut t: Vec<u64> = self
            .results
            .iter()
            .filter_map(|r| match r.recovery {
                Recovery::Elected(us) => Some(us),
                _ => None,
            })
            .collect();
        t.sort_unstable();
        t
    }

    /// How many seeds ended their faults each way: (no faults, leader held, elected, no
    /// leader after).
    pub fn recoveries(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for r in &self.results {
            match r.recovery {
                Recovery::NoFaults => c.0 += 1,
                Recovery::Held => c.1 += 1,
                Recovery::Elected(_) => c.2 += 1,
                Recovery::NoLeader => c.3 += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenario::{Action, Selector};
    use sim::ElectionRecord;
    use zab::ServerId;

    fn outcome(faults: Vec<(u64, Action)>, elections: &[(u64, u64)], leader: bool) -> sim::Outcome {
        let sc = scenario::parse(
            "name = \"t\"\n[cluster]\nservers = 3\n[run]\nduration_ms = 2000\nliveness_ms = 1000\n",
            std::path::Path::new("t.toml"),
        )
        .expect("scenario");
        let mut o = sim::run(&sc, sim::Options::new(1));
        o.executed = faults
            .into_iter()
            .map(|(at_us, action)| ExecutedFault {
                at_us,
                scripted: None,
                action,
            })
            .collect();
        o.elections = elections
            .iter()
            .enumerate()
            .map(|(i, (s, e))| ElectionRecord {
                epoch: i as u64 + 1,
                leader: ServerId(1),
                started_us: *s,
                established_us: *e,
                recovered: Vec::new(),
            })
            .collect();
        o.leader = leader.then_some((ServerId(1), elections.len() as u64));
        o
    }

    fn crash(restart_after_ms: Option<u64>) -> Action {
        Action::Crash {
            target: Selector::Server(ServerId(1)),
            restart_after_ms,
        }
    }

    #[test]
    fn time_to_elect_counts_from_the_end_of_the_last_fault() {
        // The leader crashes at 1 s and is back at 3 s; a pause ends at 2.5 s. The ensemble
        // lost its leader at 1 s and has one again at 3.4 s: 400 ms after the faults.
        let pause = Action::Pause {
            target: Selector::Server(ServerId(2)),
            duration_ms: 1500,
        };
        let o = outcome(
            vec![(1_000_000, crash(Some(2000))), (1_000_000, pause)],
            &[(0, 200_000), (1_000_000, 3_400_000)],
            true,
        );
        assert_eq!(recovery(&o), Recovery::Elected(400_000));

        // A follower's pause: the leader of epoch 1 held through it.
        let pause = Action::Pause {
            target: Selector::Server(ServerId(2)),
            duration_ms: 100,
        };
        let o = outcome(vec![(1_000_000, pause)], &[(0, 200_000)], true);
        assert_eq!(recovery(&o), Recovery::Held);

        // The leader crashed for good and nobody took over.
        let o = outcome(vec![(1_000_000, crash(None))], &[(0, 200_000)], false);
        assert_eq!(recovery(&o), Recovery::NoLeader);

        let o = outcome(vec![], &[(0, 200_000)], true);
        assert_eq!(recovery(&o), Recovery::NoFaults);
    }

    fn seed(seed: u64, passed: bool, failures: &[&str], families: &[&'static str]) -> SeedResult {
        SeedResult {
            scenario: 0,
            seed,
            passed,
            events: 10,
            sim_us: 1000,
            failures: failures.iter().map(|s| s.to_string()).collect(),
            families: families.to_vec(),
            knobs: Vec::new(),
            recovery: Recovery::NoFaults,
            attributed_to: None,
            coverage: sim::Coverage::default(),
            mutations: Vec::new(),
        }
    }

    #[test]
    fn failing_seeds_group_by_cause_unexplained_first() {
        let mut seeds = vec![
            seed(0, true, &[], &[]),
            seed(1, false, &["epoch-order"], &["crash"]),
            seed(2, false, &["prefix-consistency"], &["crash"]),
            seed(3, false, &["epoch-order"], &["crash"]),
        ];
        seeds[1].attributed_to = Some("zk-4643".into());
        seeds[3].attributed_to = Some("zk-4643".into());
        let sweep = Sweep {
            scenarios: vec![SweepScenario {
                name: "t".into(),
                path: "t.toml".into(),
                zk_version: zab::ZkVersion::V3_8_0,
            }],
            zk: Some(zab::ZkVersion::V3_8_0),
            results: seeds,
            ..Sweep::default()
        };
        let groups = sweep.by_attribution();
        let got: Vec<(Option<&str>, Vec<usize>)> = groups
            .iter()
            .map(|g| (g.name.as_deref(), g.seeds.clone()))
            .collect();
        assert_eq!(got, vec![(None, vec![2]), (Some("zk-4643"), vec![1, 3])]);
        assert_eq!(sweep.unexplained(), 1);
        assert!(sweep.reproduce(&sweep.results[1]).contains("--zk 3.8.0"));
        let page = crate::html::render_sweep(&sweep);
        assert!(page.contains("Failures by cause"));
        assert!(page.contains("<strong>unexplained</strong>"));
    }

    #[test]
    fn failures_group_by_invariant_and_families_rank_by_excess() {
        let sweep = Sweep {
            scenarios: vec![SweepScenario {
                name: "t".into(),
                path: "t.toml".into(),
                zk_version: zab::ZkVersion::default(),
            }],
            results: vec![
                seed(0, true, &[], &["pause"]),
                seed(1, false, &["total-order", "integrity"], &["crash", "pause"]),
                seed(2, true, &[], &[]),
                seed(3, false, &["total-order"], &["crash"]),
            ],
            bugs: vec!["zk-1154".into()],
            ..Sweep::default()
        };
        let groups: Vec<(String, Vec<usize>)> = sweep
            .by_failure()
            .into_iter()
            .map(|g| (g.key, g.seeds))
            .collect();
        assert_eq!(
            groups,
            vec![
                ("integrity".to_string(), vec![1]),
                ("total-order".to_string(), vec![1, 3])
            ]
        );
        assert_eq!(sweep.nth(3), 4);
        let families = sweep.families();
        assert_eq!(families[0].label, "crash");
        assert_eq!((families[0].failing, families[0].all), (2, 2));
        assert_eq!(families.last().unwrap().label, "no fault");
        assert_eq!(
            sweep.reproduce(&sweep.results[3]),
            "sim run t.toml --seed 3 --bug zk-1154"
        );
        assert_eq!(
            sweep.shrink(&sweep.results[3]),
            "sim shrink t.toml --seed 3 --bug zk-1154"
        );
    }
}
