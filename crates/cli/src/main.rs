//! `sim`: run, fuzz, hunt, shrink and list zabsim scenarios, compare them with a real
//! ZooKeeper, and measure the simulator.

mod bench;
mod conform;
mod coverage_table;
mod determinism;
mod flags;
mod fuzz;
mod guided;
mod hunt;
mod list;
mod merge;
mod render;
mod run;
mod shard_file;
mod shrink;
mod sweep_json;
mod zk_data;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "Deterministic simulation of ZooKeeper's ZAB and leader election"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario with one seed and check every invariant.
    Run(run::RunArgs),
    /// Run many seeds of scenarios in parallel and report the failures by invariant.
    Fuzz(fuzz::FuzzArgs),
    /// Combine the shard files of a sweep (`sim fuzz --shard K/N --results PATH`) into the
    /// whole sweep's result, or name what is missing.
    Merge(merge::MergeArgs),
    /// Sweep seeds with each bug variant on until the first failure, and tabulate how fast
    /// each is found and by which invariant.
    Hunt(hunt::HuntArgs),
    /// Cut a failing run down to a small scenario that still fails the same way.
    Shrink(shrink::ShrinkArgs),
    /// Write the HTML report of a trace written by `sim run --trace`.
    Report(render::ReportArgs),
    /// List the scenario library, the invariants, the bug variants or the modelled
    /// ZooKeeper releases.
    List {
        /// scenarios | invariants | bugs | versions
        what: list::What,
        /// Where the scenario library is (for `list scenarios`).
        #[arg(long, default_value = "scenarios")]
        dir: PathBuf,
    },
    /// Run a scenario on a real ZooKeeper ensemble and compare it with the simulation.
    Conform(conform::ConformArgs),
    /// Measure events per second, simulated-to-wall time and peak memory on fixed seeds.
    Bench(bench::BenchArgs),
    /// Translate zxids between zabsim's `epoch:counter` and ZooKeeper's hex (`0x500000003`,
    /// as its logs print them).
    Zxid {
        /// `5:3`, `0x500000003` or the 64-bit value in decimal.
        #[arg(required = true)]
        values: Vec<String>,
    },
}

/// `sim list scenarios | head -1` should end quietly, as command-line tools do when their
/// reader goes away: the default action of SIGPIPE, which Rust programs start with ignored
/// (so that every print would fail, and `println!` panic). `sim conform` keeps it ignored:
/// its proxies write to sockets whose other end may have closed, which must be an error
/// there, not the end of the process.
fn quiet_on_closed_pipe() {
    // SAFETY: called once at startup, before any thread is started; setting a signal's
    // disposition to its default has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if !matches!(cli.command, Command::Conform(_)) {
        quiet_on_closed_pipe();
    }
    let code = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Fuzz(args) => fuzz::fuzz(args),
        Command::Merge(args) => merge::merge(args),
        Command::Hunt(args) => hunt::hunt(args),
        Command::Shrink(args) => shrink::shrink(args),
        Command::Report(args) => render::report(args),
        Command::List { what, dir } => list::list(what, &dir),
        Command::Bench(args) => bench::bench(args),
        Command::Conform(args) => conform::conform(args),
        Command::Zxid { values } => zxid(&values),
    };
    ExitCode::from(code)
}

/// `sim zxid 0x500000003 1:7`.
fn zxid(values: &[String]) -> u8 {
    let mut code = 0;
    for v in values {
        match zab::Zxid::parse(v) {
            Some(z) => println!(
                "{v}: {z} = {} (epoch {}, counter {})",
                z.hex(),
                z.epoch(),
                z.counter()
            ),
            None => {
                eprintln!(
                    "error: {v:?} is not a zxid: write epoch:counter (5:3), hex (0x500000003) \
                     or a decimal number"
                );
                code = 2;
            }
        }
    }
    code
}
