//! `sim run SCENARIO [--seed N] [--bug NAME]... [--json] [--trace PATH]`.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// Seed of every random stream (default: the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Switch on a bug variant (repeatable); see `sim list bugs`.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Write every event as JSON Lines to this file.
    #[arg(long, value_name = "PATH")]
    trace: Option<PathBuf>,
    /// Write the run as an explicit scenario (every random fault as the timed fault it
    /// became, every target resolved) that takes the same course with the same seed.
    #[arg(long, value_name = "PATH")]
    export: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> u8 {
    let sc = match scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let seed = args.seed.unwrap_or(sc.seed);
    let mut opts = sim::Options::new(seed);
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
    if let Some(path) = &args.trace {
        match std::fs::File::create(path) {
            Ok(f) => opts.trace = Some(Box::new(std::io::BufWriter::new(f))),
            Err(e) => {
                eprintln!("error: --trace {}: {e}", path.display());
                return 2;
            }
        }
    }
    let bugs = {
        let mut all = sc.bugs;
        for b in opts.bugs.iter() {
            all.insert(b);
        }
        all
    };
    let outcome = sim::run(&sc, opts);
    if let Some(path) = &args.export {
        let mut exported = sim::export::export(&sc, bugs, &outcome.executed);
        exported.seed = seed;
        if let Err(e) = std::fs::write(path, scenario::to_toml(&exported)) {
            eprintln!("error: --export {}: {e}", path.display());
            return 2;
        }
    }
    if let Some(e) = &outcome.trace_error {
        eprintln!("error: writing the trace failed: {e}");
        return 2;
    }
    let command = report::reproduce_command(&outcome, &args.bugs);
    if args.json {
        println!("{}", report::json(&outcome, &command));
    } else {
        print!("{}", report::summary(&outcome, &command));
    }
    outcome.verdict.exit_code as u8
}
