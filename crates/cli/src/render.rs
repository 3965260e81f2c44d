//! HTML reports: `sim report TRACE.jsonl [--out PATH]`, and the trace and report plumbing of
//! `sim run --trace/--report`.
//!
//! `sim run` frames the trace with a `run` line before the simulator's lines and an `outcome`
//! line after them. With `--report` the lines also go, as they are written, into the report's
//! collector, so the report is made from the same lines that `sim report` reads back from a
//! trace file, without keeping the trace in memory.

use clap::Args;
use report::html::{self, Capture, Collector};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args)]
pub struct ReportArgs {
    /// A trace written by `sim run --trace`.
    trace: PathBuf,
    /// Where to write the report (default: the trace's path with `.html`).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// How much of the run before each violation the report's diagrams cover.
    #[arg(long, value_name = "MS", default_value_t = html::DEFAULT_WINDOW_MS)]
    window_ms: u64,
}

/// `sim report`.
pub fn report(args: ReportArgs) -> u8 {
    let file = match File::open(&args.trace) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", args.trace.display());
            return 2;
        }
    };
    let run = match html::read_trace(BufReader::new(file), args.window_ms) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: reading {}: {e}", args.trace.display());
            return 2;
        }
    };
    if run.lines > 0 && run.skipped == run.lines {
        eprintln!(
            "error: {}: no line is a zabsim trace line",
            args.trace.display()
        );
        return 2;
    }
    let out = args
        .out
        .unwrap_or_else(|| args.trace.with_extension("html"));
    match write_report(&out, &html::render(&run)) {
        Ok(()) => {
            println!("report: {}", out.display());
            0
        }
        Err(code) => code,
    }
}

fn write_report(out: &Path, page: &str) -> Result<(), u8> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: {}: {e}", dir.display());
            return Err(2);
        }
    }
    std::fs::write(out, page).map_err(|e| {
        eprintln!("error: --report {}: {e}", out.display());
        2
    })
}

/// Writes each byte to both sinks: the trace file and the report's collector.
struct Tee<A, B>(A, B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

/// Where `sim run`'s trace goes, and the report to write when it is done.
pub struct Reporting {
    trace: Option<PathBuf>,
    capture: Option<Capture>,
    report: Option<PathBuf>,
}

/// What `sim run` was asked to run, for the trace's `run` line.
pub struct RunSpec<'a> {
    pub sc: &'a scenario::Scenario,
    pub seed: u64,
    pub extra_bugs: &'a [String],
    /// `--zk`, if given.
    pub zk: Option<zab::ZkVersion>,
    pub swarm: bool,
    /// `--no-bugs`: the file's bugs are off (and already gone from `sc`).
    pub no_bugs: bool,
}

impl Reporting {
    /// Opens the trace file and the report's collector, as asked, writes the `run` line to
    /// both, and hands the simulator its sink. `Some(None)`: a report at the default path,
    /// reports/<scenario>-<seed>.html.
    pub fn start(
        trace: Option<&Path>,
        report: Option<Option<&Path>>,
        window_ms: u64,
        spec: &RunSpec<'_>,
        opts: &mut sim::Options,
    ) -> Result<Reporting, u8> {
        if trace.is_none() && report.is_none() {
            return Ok(Reporting {
                trace: None,
                capture: None,
                report: None,
            });
        }
        let header = header(spec, opts);
        let mut file = None;
        if let Some(path) = trace {
            let mut w = File::create(path).map(BufWriter::new).map_err(|e| {
                eprintln!("error: --trace {}: {e}", path.display());
                2u8
            })?;
            writeln!(w, "{header}").map_err(|e| {
                eprintln!("error: --trace {}: {e}", path.display());
                2u8
            })?;
            file = Some(w);
        }
        let report = report.map(|p| match p {
            Some(p) => p.to_path_buf(),
            None => PathBuf::from("reports").join(format!("{}-{}.html", spec.sc.name, spec.seed)),
        });
        let capture = report.as_ref().map(|_| {
            let c = Capture::new(Collector::new(window_ms * 1000));
            c.line(&header);
            c
        });
        opts.trace = match (file, capture.clone()) {
            (Some(f), Some(c)) => Some(Box::new(Tee(f, c))),
            (Some(f), None) => Some(Box::new(f)),
            (None, Some(c)) => Some(Box::new(c)),
            (None, None) => None,
        };
        Ok(Reporting {
            trace: trace.map(Path::to_path_buf),
            capture,
            report,
        })
    }

    /// Closes the trace with the `outcome` line and writes the report. Returns the
    /// report's path, if one was asked for. `wall` (how long the run took) goes into the
    /// report only: the trace stays the same from run to run.
    pub fn finish(
        self,
        outcome: &sim::Outcome,
        command: &str,
        wall: Duration,
    ) -> Result<Option<PathBuf>, u8> {
        let line = html::outcome_line(outcome, command);
        if let Some(path) = &self.trace {
            let appended = OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(e) = appended {
                eprintln!("error: --trace {}: {e}", path.display());
                return Err(2);
            }
        }
        let (Some(capture), Some(out)) = (self.capture, self.report) else {
            return Ok(None);
        };
        capture.line(&line);
        let mut run = capture.finish();
        run.wall_us = Some(wall.as_micros() as u64);
        write_report(&out, &html::render(&run))?;
        Ok(Some(out))
    }
}

fn header(spec: &RunSpec<'_>, opts: &sim::Options) -> String {
    let mut bugs: Vec<&str> = spec.sc.bugs.iter().map(|b| b.name()).collect();
    for b in opts.bugs.iter() {
        if !bugs.contains(&b.name()) {
            bugs.push(b.name());
        }
    }
    let mut reproduce =
        report::reproduce_command_for(&spec.sc.path, spec.seed, spec.zk, spec.extra_bugs);
    // A swarm run's ensemble is drawn from the seed, not read from the file: show what ran.
    let source = if spec.swarm {
        reproduce.push_str(" --swarm");
        Some(scenario::to_toml(spec.sc))
    } else {
        std::fs::read_to_string(&spec.sc.path).ok()
    };
    if spec.no_bugs {
        reproduce.push_str(" --no-bugs");
    }
    html::header_line(spec.sc, spec.seed, &bugs, &reproduce, source.as_deref())
}
