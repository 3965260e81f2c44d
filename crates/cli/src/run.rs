//! `sim run SCENARIO [--seed N] [--bug NAME]... [--no-bugs] [--json] [--report [PATH]]
//! [--trace PATH] [--zk-data DIR [--at-ms T] [--zk-port-base PORT]]`.

use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct RunArgs {
    /// The scenario file.
    scenario: Option<PathBuf>,
    /// Seed of every random stream (default: the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Switch on a bug variant (repeatable); see `sim list bugs`.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// The ZooKeeper release to model (default: the scenario's `zk`, else 3.9.4); see
    /// `sim list versions`.
    #[arg(long, value_name = "VERSION", value_parser = crate::flags::parse_zk)]
    zk: Option<zab::ZkVersion>,
    /// Switch off the bugs the scenario file switches on (its `bugs` key), and judge the run
    /// by the invariants alone, since the file's `[expect]` describes the bug: the correct
    /// protocol on the same schedule. Hazards of the release stay (see `--fix`, `--zk fixed`).
    #[arg(long)]
    no_bugs: bool,
    /// Switch off a bug or hazard the release (or the scenario) carries (repeatable): the
    /// same run with that one fixed.
    #[arg(long = "fix", value_name = "NAME", value_parser = crate::flags::parse_bug)]
    fixes: Vec<zab::Bug>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Write every event as JSON Lines to this file.
    #[arg(long, value_name = "PATH")]
    trace: Option<PathBuf>,
    /// Write a self-contained HTML report of the run (default:
    /// reports/<scenario>-<seed>.html).
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    report: Option<Option<PathBuf>>,
    /// How much of the run before each violation the report's diagrams cover.
    #[arg(long, value_name = "MS", default_value_t = report::html::DEFAULT_WINDOW_MS)]
    window_ms: u64,
    #[command(flatten)]
    draw: crate::flags::SwarmDraw,
    /// Write the run as an explicit scenario (every random fault as the timed fault it
    /// became, every target resolved) that takes the same course with the same seed. With
    /// --at-ms T: the rest of the run from T, a scenario whose [[server]] tables are the disks
    /// at T and whose faults are the ones still to come (for `sim conform`).
    #[arg(long, value_name = "PATH")]
    export: Option<PathBuf>,
    /// Write this run's story as the scenario's golden file (`[expect] golden`) instead of
    /// comparing with it; only for the scenario's own seed and settings.
    #[arg(long)]
    rewrite: bool,
    /// Write every server's disk as a real ZooKeeper data directory, DIR/<server id>/ (myid,
    /// version-2/ with acceptedEpoch, currentEpoch, snapshots and txn logs, and a zoo.cfg),
    /// in the modelled release's formats, as the disks were at the end of the run or its
    /// first invariant violation (see docs/zk-data.md). DIR must be new or empty.
    #[arg(long, value_name = "DIR")]
    zk_data: Option<PathBuf>,
    /// With --zk-data: write the disks as they were at this simulated time (ms) instead.
    /// With --export: export the rest of the run from this time on.
    #[arg(long, value_name = "T")]
    at_ms: Option<u64>,
    /// With --zk-data: server N's zoo.cfg listens on 127.0.0.1, clients at PORT + 10·N, the
    /// quorum and election ports one and two above (default 21800: server 1 on 21810).
    #[arg(long, value_name = "PORT", requires = "zk_data")]
    zk_port_base: Option<u16>,
}

pub fn run(mut args: RunArgs) -> u8 {
    // `sim run --report scenarios/x.toml`: the flag's optional path swallowed the scenario.
    // A scenario file is not a report: read it as the scenario, the report at its default.
    let scenario = match (args.scenario.take(), &args.report) {
        (Some(s), _) => s,
        (None, Some(Some(p))) if p.extension().is_some_and(|x| x == "toml") => {
            let s = p.clone();
            args.report = Some(None);
            s
        }
        (None, _) => {
            eprintln!("error: no scenario file given (sim run SCENARIO ...)");
            return 2;
        }
    };
    if args.at_ms.is_some() && args.zk_data.is_none() && args.export.is_none() {
        eprintln!(
            "error: --at-ms needs --zk-data or --export: it says which moment's disks to take"
        );
        return 2;
    }
    if args.export.is_some() && !args.fixes.is_empty() {
        eprintln!("error: --export cannot record --fix: a scenario file has no key for it");
        return 2;
    }
    let mut sc = match scenario::load(&scenario) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if args.no_bugs {
        if args.rewrite {
            eprintln!("error: --rewrite: the golden file holds the run with the file's bugs on");
            return 2;
        }
        sc.bugs = zab::BugSet::default();
        sc.expect = scenario::Expect::default();
    }
    let seed = args.seed.unwrap_or(sc.seed);
    // The golden file holds the run with the scenario's own seed and settings only.
    let own_run = seed == sc.seed
        && !args.no_bugs
        && args.bugs.is_empty()
        && args.fixes.is_empty()
        && !args.draw.swarm
        && args
            .zk
            .is_none_or(|z| z == sim::effective_version(&sc, None));
    if args.rewrite && !own_run {
        eprintln!(
            "error: --rewrite: the golden file holds the run with the scenario's own seed and \
             settings; drop --seed, --bug, --fix, --zk and --swarm"
        );
        return 2;
    }
    if args.rewrite && sc.expect.golden.is_none() {
        eprintln!(
            "error: --rewrite: {}: [expect] has no `golden` key naming the file to write",
            scenario.display()
        );
        return 2;
    }
    let (sc, drawn) = if args.draw.swarm {
        let (mut drawn, knobs) = sim::swarm::draw_mutated(&sc, seed, &args.draw.mutate);
        drawn.path = sc.path.clone();
        (drawn, Some(knobs))
    } else {
        (sc, None)
    };
    let mut opts = sim::Options::new(seed);
    opts.zk = args.zk;
    opts.fixes = args.fixes.iter().copied().collect();
    for name in &args.bugs {
        match zab::Bug::from_name(name) {
            Some(b) => opts.bugs.insert(b),
            None => {
                let names: Vec<&str> = zab::Bug::ALL.iter().map(|b| b.name()).collect();
                eprintln!(
                    "error: --bug {name}: unknown bug variant; known: {}",
                    names.join(", ")
                );
                return 2;
            }
        }
    }
    let spec = crate::render::RunSpec {
        sc: &sc,
        seed,
        extra_bugs: &args.bugs,
        zk: args.zk,
        swarm: args.draw.swarm,
        no_bugs: args.no_bugs,
    };
    let reporting = match crate::render::Reporting::start(
        args.trace.as_deref(),
        args.report.as_ref().map(Option::as_deref),
        args.window_ms,
        &spec,
        &mut opts,
    ) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // Checked before the run, written after it (the run's own ensemble: --swarm draws one).
    let zk_data = match &args.zk_data {
        Some(dir) => match crate::zk_data::prepare(dir, args.zk_port_base, &sc) {
            Ok(t) => Some(t),
            Err(code) => return code,
        },
        None => None,
    };
    opts.capture = match (args.at_ms, &zk_data) {
        (Some(t), _) => Some(sim::CaptureAt::Time(t.saturating_mul(1000))),
        (None, Some(_)) => Some(sim::CaptureAt::FirstViolationOrEnd),
        (None, None) => None,
    };
    let bugs = {
        let mut all = sc.bugs;
        for b in opts.bugs.iter() {
            all.insert(b);
        }
        all
    };
    // Wall time is the one thing in the report that differs from run to run; it is
    // measured here and never reaches the simulator or the trace.
    let started = Instant::now();
    let extra = opts.bugs;
    let fixes = opts.fixes;
    let mut outcome = sim::run(&sc, opts);
    let wall = started.elapsed();
    if !outcome.verdict.passed && fixes.is_empty() {
        outcome.attribution = sim::attribute(&sc, seed, args.zk, extra, &outcome);
    }
    let zk_data_written = match zk_data.map(|t| t.write(&outcome, args.at_ms)) {
        Some(Ok(text)) => Some(text),
        Some(Err(code)) => return code,
        None => None,
    };
    if args.rewrite {
        match sim::golden::rewrite(&sc, &outcome) {
            Ok(path) => eprintln!("rewrote {}", path.display()),
            Err(e) => {
                eprintln!("error: --rewrite: {e}");
                return 2;
            }
        }
    } else if own_run {
        let golden = sim::golden::compare(&sc, &outcome);
        sim::golden::apply(&mut outcome, &golden);
    }
    if let Some(path) = &args.export {
        let exported = match args.at_ms {
            None => Ok(sim::export::export(&sc, bugs, &outcome.executed)),
            Some(t) => match &outcome.disks {
                Some(capture) => sim::export::export_from(&sc, bugs, &outcome.executed, capture)
                    .map_err(|e| format!("--export --at-ms {t}: {e}")),
                None => Err(format!(
                    "--at-ms {t}: the run ended at {} ms; give a time before its end",
                    sim::story::ms(outcome.sim_us)
                )),
            },
        };
        let mut exported = match exported {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        exported.seed = seed;
        exported.zk = Some(outcome.zk_version);
        let text = scenario::to_toml(&exported);
        // Written only if it reads back: a moment the scenario format cannot hold (a disk
        // that breaks what [[server]] tables are checked for) is refused, not half-written.
        if let Err(e) = scenario::parse(&text, path) {
            eprintln!("error: --export: the run at that moment is no valid scenario: {e}");
            return 2;
        }
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: --export {}: {e}", path.display());
            return 2;
        }
    }
    if let Some(e) = &outcome.trace_error {
        eprintln!("error: writing the trace failed: {e}");
        return 2;
    }
    let mut command = report::reproduce_command(&outcome, args.zk, &args.bugs);
    if args.draw.swarm {
        command.push_str(&crate::guided::swarm_flags(&args.draw.mutate));
    }
    if args.no_bugs {
        command.push_str(" --no-bugs");
    }
    for f in &args.fixes {
        command.push_str(&format!(" --fix {f}"));
    }
    if args.json {
        println!("{}", report::json(&outcome, &command));
    } else {
        if let Some(knobs) = &drawn {
            println!("swarm draw: {}", sim::swarm::describe(knobs));
        }
        print!("{}", report::summary(&outcome, &command));
    }
    if let Some(text) = zk_data_written {
        // With --json, stdout is one JSON object; where the files went goes to stderr.
        if args.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    match reporting.finish(&outcome, &command, wall) {
        Ok(Some(path)) if args.json => eprintln!("report: {}", path.display()),
        Ok(Some(path)) => println!("report: {}", path.display()),
        Ok(None) => {}
        Err(code) => return code,
    }
    outcome.verdict.exit_code as u8
}
