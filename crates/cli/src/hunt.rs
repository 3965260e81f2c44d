//! `sim hunt [SCENARIO] [--max-seeds N] [--jobs N] [--markdown] [--bug NAME]...`: how fast a
//! sweep finds each bug variant.
//!
//! For every variant, seeds of the scenario (the 5-server swarm by default, each seed drawing
//! its own configuration) run from `--start` up until the first one fails. The table says
//! which seed that was, how many seeds and how much wall time it took, and which invariants
//! caught it: the answer to "would a CI sweep of this size notice if this bug came back?".
//! Seeds run on several threads, but the first failing seed is the lowest one, so the table
//! does not depend on `--jobs` (only the wall time does).

use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Args)]
pub struct HuntArgs {
    /// The scenario to sweep.
    #[arg(default_value = "scenarios/swarm/five-servers-writes.toml")]
    scenario: PathBuf,
    /// Give up on a variant after this many seeds.
    #[arg(long, default_value_t = 2000)]
    max_seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Worker threads (default: the machine's cores).
    #[arg(long, value_parser = crate::flags::parse_jobs)]
    jobs: Option<usize>,
    /// Hunt only these variants (repeatable; default: every variant that can be hunted).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// The ZooKeeper release to model (default: the scenario's `zk`, else 3.9.4); see
    /// `sim list versions`.
    #[arg(long, value_name = "VERSION", value_parser = crate::flags::parse_zk)]
    zk: Option<zab::ZkVersion>,
    /// Run the scenario as written instead of drawing a swarm configuration per seed.
    #[arg(long)]
    no_swarm: bool,
    /// Coverage-guided, as `sim fuzz --guided`: after each generation of 64 runs, half of
    /// the next are mutants of runs that reached rare protocol situations. What is counted
    /// is runs, up to the first failing one in the order the generations give them out.
    #[arg(long, conflicts_with = "no_swarm")]
    guided: bool,
    /// Print the table as Markdown (as in the README).
    #[arg(long)]
    markdown: bool,
}

/// Variants the default sweep does not reach within its budget, and why; left out unless
/// named with `--bug`.
const NOT_HUNTED: &[(&str, &str)] = &[
    (
        "ack-outlives-trunc",
        "not by this swarm within 2,000 seeds: it needs a reset follower back on a slow \
         truncation as its leader commits and crashes; `scenarios/swarm/three-servers-resets.toml \
         --no-swarm` finds it at seed 94, and `sim hunt scenarios/swarm/plain-writes.toml \
         --guided` at run 1484",
    ),
    (
        "trunc-snapshot-unsynced",
        "not by this swarm within 2,000 seeds: it needs a TRUNC sync whose snapshot is slower \
         than currentEpoch; `scenarios/swarm/three-servers-resets.toml --no-swarm` finds it at \
         seed 5108",
    ),
    (
        "observer-early-sync",
        "not by this swarm within 2,000 seeds: it needs an observer synced by SNAP in an \
         epoch that is never established, then a leader without that history; a guided sweep \
         of 20,000 runs found it once (scenarios/bugs/observer-early-sync.toml)",
    ),
    (
        "trunc-into-snapshot",
        "not by this swarm within 2,000 seeds: it needs a follower synced by SNAP in an \
         epoch that is never established, then a leader without that history; this swarm \
         finds it at seed 17005 (scenarios/bugs/trunc-into-snapshot.toml)",
    ),
];

/// The first failing run of a hunt.
struct Failing {
    seed: u64,
    /// The changes a guided hunt made to the seed's draw (`--mutate`); none otherwise.
    mutations: Vec<u64>,
    /// Its violated invariants, first violated first.
    invariants: Vec<&'static str>,
    /// The verdict's reasons, said when no invariant was violated.
    reasons: Vec<String>,
}

impl Failing {
    /// `1655`, or `31 --mutate 7,12` for a guided mutant.
    fn run(&self) -> String {
        if self.mutations.is_empty() {
            self.seed.to_string()
        } else {
            format!(
                "{} --mutate {}",
                self.seed,
                crate::guided::mutations_arg(&self.mutations)
            )
        }
    }
}

/// What the hunt for one variant found.
pub(crate) struct Found {
    bug: &'static str,
    first: Option<Failing>,
    /// Runs up to and including the first failing one (or all of them): seeds from
    /// `--start`, or for a guided hunt, runs in the order its generations gave them out.
    pub seeds: u64,
    guided: bool,
    secs: f64,
    /// The seed that took longest to run (both its runs) and its wall time, among the runs
    /// counted in `seeds`: what bounds how fast a failing seed is known. Seeds another
    /// thread was still running past the first failure are not part of the answer.
    slowest: (u64, f64),
}

/// The seed any variant's hunt took longest on: (variant, seed, seconds).
pub(crate) fn slowest_seed(found: &[Found]) -> Option<(&'static str, u64, f64)> {
    found
        .iter()
        .map(|f| (f.bug, f.slowest.0, f.slowest.1))
        .max_by(|a, b| a.2.total_cmp(&b.2))
}

pub fn hunt(args: HuntArgs) -> u8 {
    let sc = match scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut bugs = Vec::new();
    for name in &args.bugs {
        match zab::Bug::from_name(name) {
            Some(b) => bugs.push(b),
            None => {
                eprintln!("error: --bug {name}: unknown bug variant (see `sim list bugs`)");
                return 2;
            }
        }
    }
    if bugs.is_empty() {
        bugs = hunted().collect();
    }
    if args.max_seeds == 0 {
        eprintln!("error: --max-seeds must be at least 1");
        return 2;
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    // On a terminal, which variant is being hunted, on one line that goes away: the results
    // are the table.
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(bugs.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{pos}/{len} variants, {msg}") {
            b.set_style(style);
        }
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut found = Vec::new();
    for bug in bugs {
        bar.set_message(format!("hunting {bug}"));
        let hunt = Hunt::of(&args);
        found.push(if args.guided {
            hunt_guided(&hunt, &sc, bug, jobs)
        } else {
            hunt_one(&hunt, &sc, bug, jobs)
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    print_table(&args, &found, jobs);
    if found.iter().all(|f| f.first.is_some()) {
        0
    } else {
        1
    }
}

/// What one variant's hunt needs of the command line.
pub(crate) struct Hunt {
    pub max_seeds: u64,
    pub start: u64,
    pub zk: Option<zab::ZkVersion>,
    pub no_swarm: bool,
}

impl Hunt {
    fn of(args: &HuntArgs) -> Hunt {
        Hunt {
            max_seeds: args.max_seeds,
            start: args.start,
            zk: args.zk,
            no_swarm: args.no_swarm,
        }
    }
}

/// The variants a default hunt covers.
pub(crate) fn hunted() -> impl Iterator<Item = zab::Bug> {
    zab::Bug::ALL
        .iter()
        .copied()
        .filter(|b| !NOT_HUNTED.iter().any(|(n, _)| *n == b.name()))
}

pub(crate) fn hunt_one(args: &Hunt, sc: &scenario::Scenario, bug: zab::Bug, jobs: usize) -> Found {
    let started = Instant::now();
    let end = args.start.saturating_add(args.max_seeds);
    let next = AtomicU64::new(args.start);
    let lowest_failing = AtomicU64::new(u64::MAX);
    let first = Mutex::new(None);
    let times = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end || seed > lowest_failing.load(Ordering::Relaxed) {
                    break;
                }
                let seed_started = Instant::now();
                let drawn = if args.no_swarm {
                    sc.clone()
                } else {
                    sim::swarm::draw(sc, seed).0
                };
                let (failing, _) = try_run(args, &drawn, seed, bug, false);
                let secs = seed_started.elapsed().as_secs_f64();
                times.lock().expect("no worker panics").push((seed, secs));
                let Some(failing) = failing else {
                    continue;
                };
                let mut first = first.lock().expect("no worker panics");
                if lowest_failing.fetch_min(seed, Ordering::Relaxed) > seed {
                    *first = Some(failing);
                }
            });
        }
    });
    let first: Option<Failing> = first.into_inner().expect("no worker panics");
    let seeds = first
        .as_ref()
        .map_or(args.max_seeds, |f| f.seed - args.start + 1);
    let last = first.as_ref().map_or(u64::MAX, |f| f.seed);
    let slowest = times
        .into_inner()
        .expect("no worker panics")
        .into_iter()
        .filter(|(seed, _)| *seed <= last)
        .fold((args.start, 0.0_f64), |s, t| if t.1 > s.1 { t } else { s });
    Found {
        bug: bug.name(),
        first,
        seeds,
        guided: false,
        secs: started.elapsed().as_secs_f64(),
        slowest,
    }
}

/// `--guided`: the runs a coverage-guided sweep of `--max-seeds` runs gives out, generation
/// by generation, up to the first that fails because of `bug`. A generation runs whole (on
/// `jobs` threads) before the next is chosen from what it reached, so which run is first to
/// fail does not depend on `jobs`.
fn hunt_guided(args: &Hunt, sc: &scenario::Scenario, bug: zab::Bug, jobs: usize) -> Found {
    let started = Instant::now();
    let plain = (args.start..args.start.saturating_add(args.max_seeds))
        .map(|seed| (0, seed))
        .collect();
    let mut guide = crate::guided::Guide::new(plain, args.start);
    let mut runs = 0;
    let mut slowest = (args.start, 0.0_f64);
    loop {
        let generation = guide.next_generation();
        if generation.is_empty() {
            break;
        }
        let ran = parallel(&generation, jobs, |job| {
            let run_started = Instant::now();
            let (drawn, _) = sim::swarm::draw_mutated(sc, job.seed, &job.mutations);
            let (failing, coverage) = try_run(args, &drawn, job.seed, bug, true);
            let failing = failing.map(|f| Failing {
                mutations: job.mutations.clone(),
                ..f
            });
            (failing, coverage, run_started.elapsed().as_secs_f64())
        });
        let failing = ran.iter().position(|(f, _, _)| f.is_some());
        // Runs of this generation after the first failing one are not counted.
        let counted = failing.map_or(ran.len(), |i| i + 1);
        for (job, (_, _, secs)) in generation.iter().zip(&ran).take(counted) {
            if *secs > slowest.1 {
                slowest = (job.seed, *secs);
            }
        }
        let coverages: Vec<&sim::Coverage> = ran.iter().map(|(_, c, _)| c).collect();
        guide.learn(&generation, &coverages);
        if let Some(i) = failing {
            let first = ran.into_iter().nth(i).and_then(|(f, _, _)| f);
            return Found {
                bug: bug.name(),
                first,
                seeds: runs + i as u64 + 1,
                guided: true,
                secs: started.elapsed().as_secs_f64(),
                slowest,
            };
        }
        runs += generation.len() as u64;
    }
    Found {
        bug: bug.name(),
        first: None,
        seeds: runs,
        guided: true,
        secs: started.elapsed().as_secs_f64(),
        slowest,
    }
}

/// `f` of every item, on `jobs` threads, in the order of `items`.
fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicU64::new(0);
    let done: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(items.len()).max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(item) = items.get(i) else {
                    break;
                };
                let r = f(item);
                done.lock().expect("no worker panics")[i] = Some(r);
            });
        }
    });
    done.into_inner()
        .expect("no worker panics")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// Runs `drawn` with `bug` on until its first unexpected violation; the run counts as
/// finding the variant only if the variant is why it fails (under a release that carries
/// hazards of its own, a run can fail on one of those), so a failing run is run again with
/// the variant's fix on, and must pass. With `coverage`, also what the run reached.
fn try_run(
    args: &Hunt,
    drawn: &scenario::Scenario,
    seed: u64,
    bug: zab::Bug,
    coverage: bool,
) -> (Option<Failing>, sim::Coverage) {
    let options = |fix: bool| {
        let mut opts = sim::Options::new(seed);
        opts.zk = args.zk;
        opts.bugs.insert(bug);
        if fix {
            opts.fixes.insert(bug);
        }
        // Only whether and how the run fails counts.
        opts.stop_at_failure = true;
        opts.coverage = coverage && !fix;
        opts
    };
    let o = sim::run(drawn, options(false));
    if o.verdict.passed || !sim::run(drawn, options(true)).verdict.passed {
        return (None, o.coverage);
    }
    let mut invariants: Vec<&'static str> = Vec::new();
    for v in &o.violations {
        if !invariants.contains(&v.invariant) {
            invariants.push(v.invariant);
        }
    }
    let failing = Failing {
        seed,
        mutations: Vec::new(),
        invariants,
        reasons: o.verdict.reasons.clone(),
    };
    (Some(failing), o.coverage)
}

fn cell_caught(f: &Found) -> String {
    match &f.first {
        None if f.guided => format!("not found in {} runs", f.seeds),
        None => format!("not found in {} seeds", f.seeds),
        Some(first) if !first.invariants.is_empty() => first.invariants.join(", "),
        Some(first) => first.reasons.join("; "),
    }
}

fn command(args: &HuntArgs) -> String {
    let mut cmd = format!("sim hunt {}", args.scenario.display());
    if args.max_seeds != 2000 {
        cmd.push_str(&format!(" --max-seeds {}", args.max_seeds));
    }
    if args.start != 0 {
        cmd.push_str(&format!(" --start {}", args.start));
    }
    if args.no_swarm {
        cmd.push_str(" --no-swarm");
    }
    if args.guided {
        cmd.push_str(" --guided");
    }
    if let Some(zk) = args.zk {
        cmd.push_str(&format!(" --zk {zk}"));
    }
    for b in &args.bugs {
        cmd.push_str(&format!(" --bug {b}"));
    }
    cmd
}

fn print_table(args: &HuntArgs, found: &[Found], jobs: usize) {
    let rows: Vec<[String; 5]> = found
        .iter()
        .map(|f| {
            [
                f.bug.to_string(),
                f.first.as_ref().map_or("—".to_string(), Failing::run),
                f.seeds.to_string(),
                format!("{:.1} s", f.secs),
                cell_caught(f),
            ]
        })
        .collect();
    let header = [
        "variant",
        if args.guided {
            "first failing run"
        } else {
            "first failing seed"
        },
        if args.guided { "runs" } else { "seeds run" },
        "wall time",
        "caught by",
    ];
    // Said only of a default hunt: `--bug` hunts exactly what it names.
    let left_out: Vec<&(&str, &str)> = NOT_HUNTED
        .iter()
        .filter(|(n, _)| args.bugs.is_empty() && !found.iter().any(|f| f.bug == *n))
        .collect();
    let total: f64 = found.iter().map(|f| f.secs).sum();
    if args.markdown {
        println!("| {} |", header.join(" | "));
        println!("|{}", "---|".repeat(header.len()));
        for r in &rows {
            println!("| `{}` | {} | {} | {} | {} |", r[0], r[1], r[2], r[3], r[4]);
        }
        for (name, why) in &left_out {
            println!("| `{name}` | — | — | — | {why} |");
        }
        println!();
        println!("`{}` ({jobs} threads, {total:.0} s in all)", command(args));
        if let Some((bug, seed, secs)) = slowest_seed(found) {
            println!();
            println!("The slowest seed was {bug}'s seed {seed}: {secs:.2} s.");
        }
        return;
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(&header);
    for r in &rows {
        line(&r.each_ref().map(String::as_str));
    }
    for (name, why) in &left_out {
        println!("{name}: left out, {why}");
    }
    println!("{total:.1} s on {jobs} thread(s)");
    if let Some((bug, seed, secs)) = slowest_seed(found) {
        println!("slowest seed: {bug} seed {seed}, {secs:.2} s");
    }
    let scenario = args.scenario.display();
    let swarm = if args.no_swarm { "" } else { " --swarm" };
    let zk = args.zk.map(|v| format!(" --zk {v}")).unwrap_or_default();
    for f in found {
        if let Some(first) = &f.first {
            println!(
                "  {}: sim run {scenario} --seed {}{swarm}{zk} --bug {}",
                f.bug,
                first.run(),
                f.bug
            );
        }
    }
}
