//! `sim bench [--json PATH] [--quick]`: how fast the simulator runs, on fixed seeds.
//!
//! Each case runs in a child process of this same binary (`sim bench --case NAME`), one after
//! another, so that the peak memory a case reports is its own and no case shares a core with
//! another. The bare event loop (the simulator's queue, event type and random streams with
//! nodes that only bounce a message) runs the same way and is the ceiling every case is
//! compared with.

use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// A tenth of the simulated time and fewer seeds: checks the harness, not the speed.
    #[arg(long)]
    quick: bool,
    /// Run each case this many times and keep the fastest run (default 5; 1 with --quick):
    /// other work on the machine only ever slows a run down.
    #[arg(long, value_name = "N")]
    repeat: Option<u32>,
    /// Run one case in this process and print its measurement as one JSON line.
    #[arg(long, hide = true, value_name = "NAME")]
    case: Option<String>,
}

/// What one case runs.
#[derive(Clone, Copy)]
enum Load {
    /// `sim::bench::bare_loop` for this many events.
    Bare { events: u64 },
    /// Three kv clients writing back to back to `servers` servers, no faults.
    Steady {
        servers: u8,
        secs: u64,
        checkers: bool,
        seeds: u64,
    },
    /// `sim fuzz --swarm` of the 5-server swarm scenario (20 s of faults), one thread.
    Swarm { seeds: u64 },
}

struct Case {
    name: &'static str,
    load: Load,
}

const CASES: &[Case] = &[
    Case {
        name: "bare-loop",
        load: Load::Bare { events: 3_000_000 },
    },
    Case {
        name: "steady-5",
        load: Load::Steady {
            servers: 5,
            secs: 60,
            checkers: true,
            seeds: 3,
        },
    },
    Case {
        name: "steady-5-unchecked",
        load: Load::Steady {
            servers: 5,
            secs: 60,
            checkers: false,
            seeds: 3,
        },
    },
    Case {
        name: "steady-5-600s",
        load: Load::Steady {
            servers: 5,
            secs: 600,
            checkers: true,
            seeds: 1,
        },
    },
    Case {
        name: "steady-5-600s-unchecked",
        load: Load::Steady {
            servers: 5,
            secs: 600,
            checkers: false,
            seeds: 1,
        },
    },
    Case {
        name: "swarm-20s",
        load: Load::Swarm { seeds: 100 },
    },
    Case {
        name: "ensemble-3",
        load: Load::Steady {
            servers: 3,
            secs: 60,
            checkers: true,
            seeds: 3,
        },
    },
    Case {
        name: "ensemble-5",
        load: Load::Steady {
            servers: 5,
            secs: 60,
            checkers: true,
            seeds: 3,
        },
    },
    Case {
        name: "ensemble-7",
        load: Load::Steady {
            servers: 7,
            secs: 60,
            checkers: true,
            seeds: 3,
        },
    },
    Case {
        name: "ensemble-9",
        load: Load::Steady {
            servers: 9,
            secs: 60,
            checkers: true,
            seeds: 3,
        },
    },
];

/// The swarm case's base scenario, built in so that the benchmark runs from any directory.
const SWARM_SCENARIO: &str = include_str!("../../../scenarios/swarm/five-servers-writes.toml");

impl Load {
    fn describe(self) -> String {
        match self {
            Load::Bare { events } => format!(
                "the event queue and RNG alone, {} M events: 5 nodes bouncing 400 messages",
                events as f64 / 1e6
            ),
            Load::Steady {
                servers,
                secs,
                checkers,
                seeds,
            } => format!(
                "{servers} servers, 3 clients writing, {secs} s simulated, checkers {}, {seeds} seed(s)",
                if checkers { "on" } else { "off" }
            ),
            Load::Swarm { seeds } => format!(
                "sim fuzz --swarm of scenarios/swarm/five-servers-writes.toml, {seeds} seeds, one thread"
            ),
        }
    }

    /// `--quick`: a tenth of the simulated time or events, at most 10 seeds.
    fn quick(self) -> Load {
        match self {
            Load::Bare { events } => Load::Bare {
                events: events / 10,
            },
            Load::Steady {
                servers,
                secs,
                checkers,
                ..
            } => Load::Steady {
                servers,
                secs: secs / 10,
                checkers,
                seeds: 1,
            },
            Load::Swarm { seeds } => Load::Swarm {
                seeds: seeds.min(10),
            },
        }
    }
}

fn steady_scenario(servers: u8, secs: u64) -> scenario::Scenario {
    let ms = secs * 1000;
    let text = format!(
        r#"name = "bench-steady-{servers}"
[cluster]
servers = {servers}
snap_count = 100000
[network]
delay_ms = [1, 5]
[disk]
fsync_ms = [1, 3]
[clients]
workload = "kv"
count = 3
ops = 1000000
write_ratio = 1.0
think_ms = [0, 1]
[run]
duration_ms = {ms}
liveness_ms = {}
"#,
        ms.min(10_000)
    );
    scenario::parse(&text, std::path::Path::new("bench-steady.toml")).expect("valid scenario")
}

/// What a case measured, before it is compared with the bare loop.
struct Measured {
    events: u64,
    sim_us: u64,
    wall_s: f64,
    seeds: u64,
    committed: u64,
    /// Seeds whose outcome did not match the scenario's `[expect]`.
    failed: u64,
}

fn measure(load: Load) -> Measured {
    let mut m = Measured {
        events: 0,
        sim_us: 0,
        wall_s: 0.0,
        seeds: 0,
        committed: 0,
        failed: 0,
    };
    let start = Instant::now();
    match load {
        Load::Bare { events } => {
            let r = sim::bench::bare_loop(1, events);
            m.events = r.events;
            m.sim_us = r.sim_us;
            m.seeds = 1;
        }
        Load::Steady {
            servers,
            secs,
            checkers,
            seeds,
        } => {
            let sc = steady_scenario(servers, secs);
            for seed in 1..=seeds {
                let mut opts = sim::Options::new(seed);
                opts.checkers = checkers;
                let o = sim::run(&sc, opts);
                m.add(&o);
            }
        }
        Load::Swarm { seeds } => {
            let base = scenario::parse(
                SWARM_SCENARIO,
                std::path::Path::new("scenarios/swarm/five-servers-writes.toml"),
            )
            .expect("valid scenario");
            for seed in 0..seeds {
                let (drawn, _) = sim::swarm::draw(&base, seed);
                let o = sim::run(&drawn, sim::Options::new(seed));
                m.add(&o);
            }
        }
    }
    m.wall_s = start.elapsed().as_secs_f64();
    m
}

impl Measured {
    fn add(&mut self, o: &sim::Outcome) {
        self.events += o.events;
        self.sim_us += o.sim_us;
        self.committed += o.committed;
        self.seeds += 1;
        self.failed += u64::from(!o.verdict.passed);
    }
}

/// The process's peak resident memory in MB (VmHWM), where the system reports it.
fn peak_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

/// The child's side: run one case, print one JSON line.
fn run_case(name: &str, quick: bool) -> u8 {
    let Some(case) = find(name) else {
        eprintln!("error: --case {name}: no such case");
        return 2;
    };
    let load = if quick { case.load.quick() } else { case.load };
    let m = measure(load);
    let line = json!({
        "case": case.name,
        "events": m.events,
        "sim_s": m.sim_us as f64 / 1e6,
        "wall_s": m.wall_s,
        "seeds": m.seeds,
        "committed": m.committed,
        "failed": m.failed,
        "peak_mb": peak_mb(),
    });
    println!("{line}");
    0
}

/// Runs a case in a child process and reads back its line.
fn spawn_case(name: &str, quick: bool) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "--case", name]);
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("case {name}: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "case {name} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("case {name}: bad output: {e}"))
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

pub fn bench(args: BenchArgs) -> u8 {
    if let Some(name) = &args.case {
        return run_case(name, args.quick);
    }
    let repeat = args.repeat.unwrap_or(if args.quick { 1 } else { 5 }).max(1);
    let mut rows: Vec<Value> = Vec::new();
    let load = |c: &Case| if args.quick { c.load.quick() } else { c.load };
    for case in CASES {
        eprint!("{:<24} ", case.name);
        let mut best: Option<Value> = None;
        let mut peak = f64::NAN;
        for _ in 0..repeat {
            let run = match spawn_case(case.name, args.quick) {
                Ok(run) => run,
                Err(e) => {
                    eprintln!("\nerror: {e}");
                    return 1;
                }
            };
            eprint!("{:.2} s ", num(&run, "wall_s"));
            peak = peak.max(num(&run, "peak_mb"));
            if best
                .as_ref()
                .is_none_or(|b| num(&run, "wall_s") < num(b, "wall_s"))
            {
                best = Some(run);
            }
        }
        let mut row = best.expect("at least one run");
        if peak.is_finite() {
            row["peak_mb"] = json!(peak);
        }
        let wall = num(&row, "wall_s").max(1e-9);
        row["what"] = json!(load(case).describe());
        row["events_per_s"] = json!(num(&row, "events") / wall);
        row["sim_per_wall"] = json!(num(&row, "sim_s") / wall);
        row["seeds_per_s"] = json!(num(&row, "seeds") / wall);
        eprintln!();
        rows.push(row);
    }
    let bare = rows
        .iter()
        .find(|r| r["case"] == "bare-loop")
        .map(|r| num(r, "events_per_s"))
        .unwrap_or(f64::NAN);
    for row in &mut rows {
        row["ratio_to_bare"] = json!(num(row, "events_per_s") / bare);
    }
    print_table(&rows, repeat);
    let targets = if args.quick {
        println!("\n--quick: short runs check the harness; the targets are judged on full runs");
        Vec::new()
    } else {
        let targets = judge(&rows);
        print_targets(&targets);
        targets
    };
    let doc = json!({
        "quick": args.quick,
        "repeat": repeat,
        "cases": rows,
        "targets": targets,
    });
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&doc).expect("json");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("error: --json {}: {e}", path.display());
            return 2;
        }
        println!("\nwrote {}", path.display());
    }
    0
}

fn print_table(rows: &[Value], repeat: u32) {
    println!(
        "{:<24} {:>10} {:>8} {:>7} {:>10} {:>9} {:>8} {:>8} {:>8}",
        "case",
        "events",
        "sim s",
        "wall s",
        "events/s",
        "sim/wall",
        "seeds/s",
        "peak MB",
        "vs bare"
    );
    for r in rows {
        let peak = r["peak_mb"]
            .as_f64()
            .map_or("-".to_string(), |m| format!("{m:.1}"));
        println!(
            "{:<24} {:>10} {:>8.0} {:>7.2} {:>9.2}M {:>8.0}x {:>8.1} {:>8} {:>8.2}",
            r["case"].as_str().unwrap_or("?"),
            r["events"].as_u64().unwrap_or(0),
            num(r, "sim_s"),
            num(r, "wall_s"),
            num(r, "events_per_s") / 1e6,
            num(r, "sim_per_wall"),
            num(r, "seeds_per_s"),
            peak,
            num(r, "ratio_to_bare"),
        );
    }
    println!();
    for r in rows {
        println!(
            "  {:<24} {}",
            r["case"].as_str().unwrap_or("?"),
            r["what"].as_str().unwrap_or("?")
        );
    }
    println!(
        "\nEach case ran alone in a child process, {repeat} time(s); the table shows its fastest run \
         and its highest peak resident memory."
    );
    let failed: u64 = rows.iter().filter_map(|r| r["failed"].as_u64()).sum();
    if failed > 0 {
        println!("\nwarning: {failed} seed(s) did not match their scenario's [expect]");
    }
}

/// The performance targets, judged on a full run.
fn judge(rows: &[Value]) -> Vec<Value> {
    let get = |case: &str, key: &str| {
        rows.iter()
            .find(|r| r["case"] == case)
            .map_or(f64::NAN, |r| num(r, key))
    };
    let steady = get("steady-5", "events_per_s");
    let long = get("steady-5-600s", "events_per_s");
    let drift = (long - steady) / steady;
    let target = |what: &str, value: String, met: bool| json!({ "target": what, "value": value, "met": met });
    vec![
        target(
            "steady-5 (checkers on) >= 2 M events/s",
            format!("{:.2} M", steady / 1e6),
            steady >= 2e6,
        ),
        target(
            "steady-5 (checkers on) >= 0.2 of the bare loop",
            format!("{:.2}", get("steady-5", "ratio_to_bare")),
            get("steady-5", "ratio_to_bare") >= 0.2,
        ),
        target(
            "swarm-20s >= 200 seeds/s on one core",
            format!("{:.0}", get("swarm-20s", "seeds_per_s")),
            get("swarm-20s", "seeds_per_s") >= 200.0,
        ),
        target(
            "steady-5-600s events/s within 10 % of steady-5",
            format!("{:+.1} %", drift * 100.0),
            drift.abs() <= 0.10,
        ),
        target(
            "swarm-20s (one fuzz worker) peak memory <= 50 MB",
            format!("{:.1} MB", get("swarm-20s", "peak_mb")),
            get("swarm-20s", "peak_mb") <= 50.0,
        ),
    ]
}

fn print_targets(targets: &[Value]) {
    println!("\ntargets:");
    for t in targets {
        println!(
            "  {:<52} {:>10}  {}",
            t["target"].as_str().unwrap_or("?"),
            t["value"].as_str().unwrap_or("?"),
            if t["met"] == true { "met" } else { "MISSED" }
        );
    }
}
