//! `sim fuzz SCENARIO... [--seeds A..B] [--jobs N] [--shard K/N] [--bug NAME]... [--out PATH]
//! [--report [PATH]]`: many seeds of each scenario, on several threads.
//!
//! A seed fails when its outcome differs from the scenario's `[expect]`. Each failure is
//! appended to `--out` as one JSON line as soon as it is known, so an interrupted sweep
//! keeps what it found; the summary groups failures by invariant and names the first
//! failing seed of each, which is the seed to shrink. `--report` draws the same summary as
//! an HTML page, with charts.

use crate::determinism;
use crate::guided;
use crate::shard_file::{self, Header, ScenarioId};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use report::sweep::{SeedResult, Sweep, SweepScenario};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
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
    #[arg(long, value_parser = crate::flags::parse_jobs)]
    jobs: Option<usize>,
    /// Run only shard K of N (seeds whose index modulo N is K-1), for splitting CI jobs.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Switch on a bug variant (repeatable); see `sim list bugs`.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// The ZooKeeper release to model (default: the scenario's `zk`, else 3.9.4); see
    /// `sim list versions`.
    #[arg(long, value_name = "VERSION", value_parser = crate::flags::parse_zk)]
    zk: Option<zab::ZkVersion>,
    /// Append one JSON line per failing seed to this file.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Write the shard file: what this shard runs, one line per seed, and a closing line
    /// that proves every seed ran (`sim merge` combines shard files; docs/campaigns.md).
    #[arg(long, value_name = "PATH")]
    results: Option<PathBuf>,
    /// Continue the shard file given with --results: run only the seeds it lacks.
    #[arg(long, requires = "results")]
    resume: bool,
    /// Run every seed twice and fail it if the two runs' traces differ.
    #[arg(long)]
    check_determinism: bool,
    /// Swarm testing: each seed draws its own ensemble size, fault families and rates,
    /// network and disk speeds and client load (see `sim run --swarm`).
    #[arg(long)]
    swarm: bool,
    /// Coverage-guided draws (with --swarm): runs that reach rare protocol situations are
    /// kept and varied a little, and half of each generation of 64 runs are such mutants
    /// (docs/coverage.md). The budget is the --seeds range; a mutant reruns as
    /// `sim run SCENARIO --swarm --seed N --mutate A,B`.
    #[arg(long, requires = "swarm", conflicts_with_all = ["shard", "results", "check_determinism"])]
    guided: bool,
    /// Print one JSON object instead of the summary (the keys of `sim merge --json`, with
    /// the wall time).
    #[arg(long)]
    json: bool,
    /// Print the whole protocol-coverage table, not only what was rare or never reached.
    #[arg(long)]
    coverage: bool,
    /// Write a self-contained HTML report of the sweep (default:
    /// reports/fuzz-<scenario>-<A>-<B>.html).
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    report: Option<Option<PathBuf>>,
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

/// What one seed of one scenario produced: what the summary counts, and the `--out` line.
struct Done {
    result: SeedResult,
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
    // The shard file, if asked for: its header, the seeds it already holds, its writer.
    let mut shard = None;
    let mut earlier = Vec::new();
    if let Some(path) = &args.results {
        let opened = shard_header(&args, &scenarios)
            .and_then(|h| open_results(path, &h, args.resume).map(|(e, a)| (h, e, a)));
        match opened {
            Ok((header, records, appender)) => {
                earlier = records;
                shard = Some((path.clone(), header, appender));
            }
            Err(e) => {
                eprintln!("error: --results {}: {e}", path.display());
                return 2;
            }
        }
    }
    let done: std::collections::BTreeSet<(usize, u64)> =
        earlier.iter().map(|r| (r.scenario, r.seed)).collect();
    let seeds: Vec<u64> =
        shard_file::shard_seeds(args.seeds, args.shard.unwrap_or((1, 1))).collect();
    // (scenario, seed) pairs still to run, scenario by scenario as before.
    let todo: Vec<(usize, u64)> = (0..scenarios.len())
        .flat_map(|sc| seeds.iter().map(move |s| (sc, *s)))
        .filter(|p| !done.contains(p))
        .collect();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let total = todo.len() as u64;
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
    let mut results: Vec<SeedResult> = Vec::new();
    let mut finished: Vec<(u64, bool)> = Vec::new();
    let mut results_error: Option<std::io::Error> = None;
    let mut failed = 0;
    let ctx = Ctx {
        scenarios: &scenarios,
        bugs,
        bug_names: &args.bugs,
        zk: args.zk,
        swarm: args.swarm,
        check_determinism: args.check_determinism,
        threads: jobs,
    };
    let mut on_done = |done: Done| {
        bar.inc(1);
        finished.push((started.elapsed().as_micros() as u64, !done.result.passed));
        if !done.result.passed {
            failed += 1;
            bar.set_message(format!("{failed} failed"));
            if let Some(w) = &mut out {
                let _ = writeln!(w, "{}", done.line);
                let _ = w.flush();
            }
        }
        if let Some((_, _, appender)) = &mut shard {
            if let Err(e) = appender.append(&shard_file::Record::of(&done.result)) {
                results_error = Some(e);
            }
        }
        results.push(done.result);
    };
    if args.guided {
        let mut guide = guided::Guide::new(todo.clone(), args.seeds.0);
        loop {
            let generation = guide.next_generation();
            if generation.is_empty() {
                break;
            }
            let mut batch: Vec<Option<Done>> = (0..generation.len()).map(|_| None).collect();
            run_batch(&generation, &ctx, &mut |i, done| batch[i] = Some(done));
            let batch: Vec<Done> = batch
                .into_iter()
                .map(|d| d.expect("every job ran"))
                .collect();
            guide.learn(
                &generation,
                &batch.iter().map(|d| &d.result.coverage).collect::<Vec<_>>(),
            );
            for done in batch {
                on_done(done);
            }
        }
    } else {
        let plain: Vec<guided::Job> = todo
            .iter()
            .map(|&(scenario, seed)| guided::Job {
                scenario,
                seed,
                mutations: Vec::new(),
            })
            .collect();
        run_batch(&plain, &ctx, &mut |_, done| on_done(done));
    }
    bar.finish_and_clear();
    let wall_us = (started.elapsed().as_micros() as u64).max(1);
    for r in &earlier {
        match r.result() {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("error: --results: {e}");
                return 2;
            }
        }
    }
    results.sort_by(|a, b| {
        (a.scenario, a.seed, &a.mutations).cmp(&(b.scenario, b.seed, &b.mutations))
    });
    if let Some((path, header, appender)) = shard {
        drop(appender);
        let records: Vec<shard_file::Record> = results.iter().map(shard_file::Record::of).collect();
        let written = match results_error {
            Some(e) => Err(e),
            None => shard_file::finish(&path, &header, &records),
        };
        if let Err(e) = written {
            eprintln!("error: --results {}: {e}", path.display());
            return 2;
        }
    }
    let sweep = Sweep {
        command: command_line(),
        scenarios: args
            .scenarios
            .iter()
            .zip(&scenarios)
            .map(|(path, sc)| SweepScenario {
                name: sc.name.clone(),
                path: path.display().to_string(),
                zk_version: sim::effective_version(sc, args.zk),
            })
            .collect(),
        seeds: args.seeds,
        shard: args.shard,
        bugs: args.bugs.clone(),
        zk: args.zk,
        swarm: args.swarm,
        check_determinism: args.check_determinism,
        jobs,
        wall_us,
        finished,
        results,
        read_back: done,
    };
    let code = if args.json {
        let mut summary = crate::sweep_json::summary(&sweep);
        summary.insert("wall_s".into(), serde_json::json!(wall_us as f64 / 1e6));
        summary.insert("jobs".into(), serde_json::json!(jobs));
        println!("{}", serde_json::Value::Object(summary));
        u8::from(sweep.failed() > 0)
    } else {
        print_summary(&sweep, args.coverage)
    };
    if let Some(path) = &args.report {
        let path = path.clone().unwrap_or_else(|| default_report_path(&sweep));
        if let Err(e) = write_report(&path, &report::html::render_sweep(&sweep)) {
            eprintln!("error: --report {}: {e}", path.display());
            return 2;
        }
        if !args.json {
            println!("report: {}", path.display());
        }
    }
    code
}

/// What every run of a sweep shares.
struct Ctx<'a> {
    scenarios: &'a [scenario::Scenario],
    bugs: zab::BugSet,
    bug_names: &'a [String],
    zk: Option<zab::ZkVersion>,
    swarm: bool,
    check_determinism: bool,
    threads: usize,
}

/// Runs `batch` on `ctx.threads` threads, handing each result to `on_done` with its index as
/// it comes in.
fn run_batch(batch: &[guided::Job], ctx: &Ctx<'_>, on_done: &mut dyn FnMut(usize, Done)) {
    let next = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Done)>();
    std::thread::scope(|scope| {
        for _ in 0..ctx.threads {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(job) = batch.get(i) else {
                    break;
                };
                if tx.send((i, run_one(job, ctx))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, done) in rx {
            on_done(i, done);
        }
    });
}

/// One run of a sweep, and its line for `--out`.
fn run_one(job: &guided::Job, ctx: &Ctx<'_>) -> Done {
    let (scenario, seed) = (job.scenario, job.seed);
    // A failing seed ends at its first unexpected violation: the sweep needs no more, and
    // the reproduce command runs it whole.
    let options = || {
        let mut opts = sim::Options::new(seed);
        opts.bugs = ctx.bugs;
        opts.zk = ctx.zk;
        opts.stop_at_failure = true;
        opts.coverage = true;
        opts
    };
    let (drawn, knobs) = if ctx.swarm {
        sim::swarm::draw_mutated(&ctx.scenarios[scenario], seed, &job.mutations)
    } else {
        (ctx.scenarios[scenario].clone(), Vec::new())
    };
    let mut o = sim::run(&drawn, options());
    if !o.verdict.passed {
        o.attribution = sim::attribute(&drawn, seed, ctx.zk, ctx.bugs, &o);
    }
    let mut command = report::reproduce_command(&o, ctx.zk, ctx.bug_names);
    if ctx.swarm {
        command.push_str(&guided::swarm_flags(&job.mutations));
    }
    let mut reasons = o.verdict.reasons.clone();
    if ctx.check_determinism {
        if let Some(diff) = determinism::compare(&drawn, &options, &o) {
            reasons.push(diff);
        }
    }
    let mut result = SeedResult::new(scenario, &o, &drawn.expect.violations, &reasons, knobs);
    result.attributed_to = o.attribution.as_ref().and_then(|a| a.name());
    result.mutations = job.mutations.clone();
    Done {
        line: if result.passed {
            String::new()
        } else {
            report::json(&o, &command)
        },
        result,
    }
}

/// The shard file's header for this sweep.
fn shard_header(args: &FuzzArgs, scenarios: &[scenario::Scenario]) -> Result<Header, String> {
    let mut ids = Vec::new();
    for (path, sc) in args.scenarios.iter().zip(scenarios) {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut h = sim::trace::TraceHash::default();
        h.bytes(&bytes);
        ids.push(ScenarioId {
            name: sc.name.clone(),
            path: path.display().to_string(),
            hash: format!("{:016x}", h.0),
            zk_version: sim::effective_version(sc, args.zk).name().to_string(),
        });
    }
    Ok(Header {
        format: shard_file::FORMAT,
        sim_version: sim_build()?,
        scenarios: ids,
        seeds: args.seeds,
        shard: args.shard.unwrap_or((1, 1)),
        zk: args.zk.map(|z| z.name().to_string()),
        bugs: args.bugs.clone(),
        swarm: args.swarm,
        check_determinism: args.check_determinism,
    })
}

/// `sim`'s version and a hash of its executable's bytes. A campaign's shards must all run
/// one binary: two builds, even of one version, may run a seed differently, and their
/// shard files must not be merged as one sweep.
fn sim_build() -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding the sim binary: {e}"))?;
    let bytes = std::fs::read(&exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    let mut h = sim::trace::TraceHash::default();
    h.bytes(&bytes);
    Ok(format!("{} build {:016x}", env!("CARGO_PKG_VERSION"), h.0))
}

/// Opens the shard file: a new one, or (`resume`) the one a cut-off run of the same shard
/// left, with the seeds it already holds. A new file never replaces an existing one: a
/// finished shard's file is a result, and overwriting it by accident would lose it.
fn open_results(
    path: &Path,
    header: &Header,
    resume: bool,
) -> Result<(Vec<shard_file::Record>, shard_file::Appender), String> {
    let exists = path.exists();
    if exists && !resume {
        return Err("the file exists; --resume continues it, or remove it to start over".into());
    }
    let prev = if exists {
        let f = shard_file::read(path)?;
        let mut diff = header.sweep_differences(&f.header);
        if header.shard != f.header.shard {
            diff.push(format!(
                "shard: {}/{} against {}/{}",
                header.shard.0, header.shard.1, f.header.shard.0, f.header.shard.1
            ));
        }
        if !diff.is_empty() {
            return Err(format!(
                "it holds another shard or sweep ({})",
                diff.join("; ")
            ));
        }
        // Only a file cut off before its closing line is continued: anything else wrong
        // with it (a seed of another shard, a closing line that does not match its seeds)
        // means it was changed, and resuming would hide that.
        let expected = header.expected();
        if let Some(r) = f
            .records
            .iter()
            .find(|r| !expected.contains(&(r.scenario, r.seed)))
        {
            return Err(format!(
                "it holds seed {} of scenario {}, which this shard does not run",
                r.seed, r.scenario
            ));
        }
        if f.end.is_some() {
            if let Some(p) = f.problems().first() {
                return Err(format!("it is closed but {p}"));
            }
        }
        Some(f)
    } else {
        None
    };
    let appender =
        shard_file::Appender::open(path, header, prev.as_ref()).map_err(|e| e.to_string())?;
    Ok((prev.map(|p| p.records).unwrap_or_default(), appender))
}

/// reports/fuzz-<scenario>-<A>-<B>.html, with the shard when there is one.
pub(crate) fn default_report_path(sweep: &Sweep) -> PathBuf {
    let names: Vec<&str> = sweep.scenarios.iter().map(|s| s.name.as_str()).collect();
    let shard = match sweep.shard {
        Some((k, n)) if n > 1 => format!("-shard-{k}-of-{n}"),
        _ => String::new(),
    };
    PathBuf::from("reports").join(format!(
        "fuzz-{}-{}-{}{shard}.html",
        names.join("+"),
        sweep.seeds.0,
        sweep.seeds.1
    ))
}

pub(crate) fn write_report(path: &Path, page: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, page)
}

/// The command line as typed, as `sim ...`, quoted where a shell would need it.
pub(crate) fn command_line() -> String {
    let quote = |a: String| {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_./:=,@+-".contains(c));
        if plain {
            a
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    std::iter::once("sim".to_string())
        .chain(std::env::args().skip(1).map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

/// For each knob value the swarm drew: its share among failing seeds against its share
/// among all seeds, most over-represented first.
fn print_knobs(sweep: &Sweep) {
    let (failed, total) = (sweep.failed(), sweep.results.len());
    let share = |n: usize, of: usize| n as f64 * 100.0 / of.max(1) as f64;
    println!("swarm knobs, most over-represented among failures first:");
    for k in sweep.knobs().iter().take(10) {
        println!(
            "  {}: in {:.0}% of failing seeds, {:.0}% of all",
            k.label,
            share(k.failing, failed),
            share(k.all, total)
        );
    }
}

/// The human summary; `full_coverage` prints the whole coverage table.
pub(crate) fn print_summary(sweep: &Sweep, full_coverage: bool) -> u8 {
    let failed = sweep.failed();
    let bugs = if sweep.bugs.is_empty() {
        String::new()
    } else {
        format!(" with --bug {}", sweep.bugs.join(" --bug "))
    };
    let per_scenario = sweep.results.len() / sweep.scenarios.len().max(1);
    let mut versions: Vec<&str> = sweep
        .scenarios
        .iter()
        .map(|s| s.zk_version.name())
        .collect();
    versions.dedup();
    println!(
        "{per_scenario} seeds x {} scenario(s) on ZooKeeper {}{bugs}: {} passed, {failed} failed",
        sweep.scenarios.len(),
        versions.join(", "),
        sweep.results.len() - failed,
    );
    if sweep.wall_us == 0 {
        // Merged from shard files: they hold no wall time (it says nothing about the sweep
        // when its shards ran on other machines, in parallel or not).
        println!(
            "{} events, {:.1} s simulated",
            sweep.events(),
            sweep.sim_us() as f64 / 1e6
        );
    } else {
        println!(
            "{:.1} s on {} thread(s): {:.0} seeds/s, {:.0} events/s",
            sweep.wall_us as f64 / 1e6,
            sweep.jobs,
            sweep.seeds_per_s(),
            sweep.events_per_s()
        );
    }
    let mutants = sweep
        .results
        .iter()
        .filter(|r| !r.mutations.is_empty())
        .count();
    if mutants > 0 {
        println!(
            "guided: {mutants} of the {} runs were mutants of runs that reached rare situations",
            sweep.results.len()
        );
    }
    crate::coverage_table::print(sweep, full_coverage);
    if failed == 0 {
        return 0;
    }
    if sweep.swarm {
        print_knobs(sweep);
    }
    println!("failures by invariant:");
    for g in sweep.by_failure() {
        let first = &sweep.results[g.seeds[0]];
        println!(
            "  {}: {} seed(s); first: {} seed {} (seed #{} of the sweep)",
            g.key,
            g.seeds.len(),
            sweep.scenarios[first.scenario].name,
            first.seed,
            sweep.nth(g.seeds[0])
        );
        println!("    {}", sweep.reproduce(first));
    }
    println!("failures by cause (the known bug or hazard whose fix makes the seed pass):");
    for g in sweep.by_attribution() {
        let first = &sweep.results[g.seeds[0]];
        let name = g
            .name
            .as_deref()
            .unwrap_or("unexplained (no known bug's fix makes it pass)");
        println!(
            "  {name}: {} seed(s); first: {} seed {}",
            g.seeds.len(),
            sweep.scenarios[first.scenario].name,
            first.seed,
        );
        println!("    {}", sweep.reproduce(first));
        println!("    {}", sweep.shrink(first));
    }
    1
}
