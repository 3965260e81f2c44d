//! `sim fuzz SCENARIO... [--seeds A..B] [--jobs N] [--shard K/N] [--bug NAME]... [--out PATH]`:
//! many seeds of each scenario, on several threads.
//!
//! A seed fails when its outcome differs from the scenario's `[expect]`. Each failure is
//! appended to `--out` as one JSON line as soon as it is known, so an interrupted sweep
//! keeps what it found; the summary groups failures by invariant and names the first
//! failing seed of each, which is the seed to shrink.

use crate::determinism;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

#[derive(Args)]
pub struct FuzzArgs {
    /// Scenario files.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// Seeds to run, `A..B` (B excluded).
    #[arg(long, default_value = "0..1000", value_parser = parse_range)]
    seeds: (u64, u64),
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard K of N (seeds whose index modulo N is K-1), for splitting CI jobs.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Switch on a bug variant (repeatable); see `sim list bugs`.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Append one JSON line per failing seed to this file.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Run every seed twice and fail it if the two runs' traces differ.
    #[arg(long)]
    check_determinism: bool,
    /// Swarm testing: each seed draws its own ensemble size, fault families and rates,
    /// network and disk speeds and client load (see `sim run --swarm`).
    #[arg(long)]
    swarm: bool,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("expected A..B, got {s:?}"))?;
    let a: u64 = a.parse().map_err(|_| format!("bad start {a:?}"))?;
    let b: u64 = b.parse().map_err(|_| format!("bad end {b:?}"))?;
    if a >= b {
        return Err(format!("empty range {s}"));
    }
    Ok((a, b))
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("expected K/N, got {s:?}"))?;
    let k: u64 = k.parse().map_err(|_| format!("bad shard {k:?}"))?;
    let n: u64 = n.parse().map_err(|_| format!("bad shard count {n:?}"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {s}: need 1 <= K <= N"));
    }
    Ok((k, n))
}

/// What one seed of one scenario produced, as the summary needs it.
struct Done {
    scenario: usize,
    seed: u64,
    /// What `--swarm` drew for this seed.
    knobs: sim::swarm::Knobs,
    events: u64,
    passed: bool,
    invariants: Vec<&'static str>,
    reasons: Vec<String>,
    line: String,
}

pub fn fuzz(args: FuzzArgs) -> u8 {
    let mut scenarios = Vec::new();
    for path in &args.scenarios {
        match scenario::load(path) {
            Ok(sc) => scenarios.push(sc),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    let mut bugs = zab::BugSet::default();
    for name in &args.bugs {
        match zab::Bug::from_name(name) {
            Some(b) => bugs.insert(b),
            None => {
                eprintln!("error: --bug {name}: unknown bug variant (see `sim list bugs`)");
                return 2;
            }
        }
    }
    let mut out = match &args.out {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Some(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("error: --out {}: {e}", path.display());
                return 2;
            }
        },
        None => None,
    };
    let (k, n) = args.shard.unwrap_or((1, 1));
    let seeds: Vec<u64> = (args.seeds.0..args.seeds.1)
        .filter(|s| (s - args.seeds.0) % n == k - 1)
        .collect();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let total = (seeds.len() * scenarios.len()) as u64;
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {per_sec}, {msg}")
                .expect("template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<Done>();
    let mut results: Vec<Done> = Vec::new();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, seeds, scenarios, bug_names) = (&next, &seeds, &scenarios, &args.bugs);
            let check_determinism = args.check_determinism;
            let swarm = args.swarm;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= seeds.len() * scenarios.len() {
                    break;
                }
                let (scenario, seed) = (i / seeds.len(), seeds[i % seeds.len()]);
                let mut opts = sim::Options::new(seed);
                opts.bugs = bugs;
                let (drawn, knobs) = if swarm {
                    sim::swarm::draw(&scenarios[scenario], seed)
                } else {
                    (scenarios[scenario].clone(), Vec::new())
                };
                let o = sim::run(&drawn, opts);
                let command = report::reproduce_command(&o, bug_names);
                let mut reasons = o.verdict.reasons.clone();
                if check_determinism {
                    if let Some(diff) = determinism::compare(&drawn, seed, bugs, &o) {
                        reasons.push(diff);
                    }
                }
                let passed = o.verdict.passed && reasons.len() == o.verdict.reasons.len();
                let done = Done {
                    scenario,
                    seed,
                    knobs,
                    events: o.events,
                    passed,
                    invariants: o.violations.iter().map(|v| v.invariant).collect(),
                    reasons,
                    line: if passed {
                        String::new()
                    } else {
                        report::json(&o, &command)
                    },
                };
                if tx.send(done).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut failed = 0;
        for done in rx {
            bar.inc(1);
            if !done.passed {
                failed += 1;
                bar.set_message(format!("{failed} failed"));
                if let Some(w) = &mut out {
                    let _ = writeln!(w, "{}", done.line);
                    let _ = w.flush();
                }
            }
            results.push(done);
        }
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    results.sort_by_key(|d| (d.scenario, d.seed));
    print_summary(&args, &scenarios, &seeds, &results, elapsed, jobs)
}

/// The command that reruns one seed of the sweep.
fn reproduce(args: &FuzzArgs, d: &Done) -> String {
    let mut cmd = format!(
        "sim run {} --seed {}",
        args.scenarios[d.scenario].display(),
        d.seed
    );
    if args.swarm {
        cmd.push_str(" --swarm");
    }
    for b in &args.bugs {
        cmd.push_str(&format!(" --bug {b}"));
    }
    cmd
}

/// For each knob value the swarm drew: its share among failing seeds against its share
/// among all seeds, most over-represented first.
fn print_knobs(results: &[Done], failed: &[&Done]) {
    let mut all: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut bad: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for d in results {
        for (k, v) in &d.knobs {
            *all.entry((k, v.as_str())).or_default() += 1;
        }
    }
    for d in failed {
        for (k, v) in &d.knobs {
            *bad.entry((k, v.as_str())).or_default() += 1;
        }
    }
    let share = |n: usize, of: usize| n as f64 / of.max(1) as f64;
    let mut rows: Vec<(f64, String)> = all
        .iter()
        .map(|((k, v), n)| {
            let b = bad.get(&(*k, *v)).copied().unwrap_or(0);
            let (fs, as_) = (share(b, failed.len()), share(*n, results.len()));
            (
                fs - as_,
                format!(
                    "  {k}={v}: in {:.0}% of failing seeds, {:.0}% of all",
                    fs * 100.0,
                    as_ * 100.0
                ),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    println!("swarm knobs, most over-represented among failures first:");
    for (_, row) in rows.iter().take(10) {
        println!("{row}");
    }
}

fn print_summary(
    args: &FuzzArgs,
    scenarios: &[scenario::Scenario],
    seeds: &[u64],
    results: &[Done],
    elapsed: f64,
    jobs: usize,
) -> u8 {
    let events: u64 = results.iter().map(|d| d.events).sum();
    let failed: Vec<&Done> = results.iter().filter(|d| !d.passed).collect();
    let bugs = if args.bugs.is_empty() {
        String::new()
    } else {
        format!(" with --bug {}", args.bugs.join(" --bug "))
    };
    println!(
        "{} seeds x {} scenario(s){bugs}: {} passed, {} failed",
        seeds.len(),
        scenarios.len(),
        results.len() - failed.len(),
        failed.len()
    );
    println!(
        "{:.1} s on {jobs} thread(s): {:.0} seeds/s, {:.0} events/s",
        elapsed,
        results.len() as f64 / elapsed,
        events as f64 / elapsed
    );
    if failed.is_empty() {
        return 0;
    }
    // Failures by invariant (or by the verdict's reason when no invariant was violated).
    let mut by: BTreeMap<String, (usize, &Done)> = BTreeMap::new();
    for d in &failed {
        let keys: Vec<String> = if d.invariants.is_empty() {
            d.reasons.clone()
        } else {
            d.invariants.iter().map(|s| s.to_string()).collect()
        };
        for key in keys {
            let e = by.entry(key).or_insert((0, d));
            e.0 += 1;
        }
    }
    if args.swarm {
        print_knobs(results, &failed);
    }
    println!("failures by invariant:");
    for (key, (count, first)) in &by {
        let nth = seeds
            .iter()
            .position(|s| *s == first.seed)
            .map_or(0, |p| p + 1);
        println!(
            "  {key}: {count} seed(s); first: {} seed {} (seed #{nth} of the sweep)",
            scenarios[first.scenario].name, first.seed
        );
        println!("    {}", reproduce(args, first));
    }
    1
}
