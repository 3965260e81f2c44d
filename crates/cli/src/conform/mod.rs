//! `sim conform SCENARIO [--seed N] [--runs K] [--json] [--report [PATH]] [--zk-home DIR]`:
//! run a scenario on a real ZooKeeper ensemble and compare it with the simulation of the
//! same release.
//!
//! The real side is `crates/conform` (processes, proxies, observation); this module decides
//! what of the scenario a real ensemble can carry out ([`plan`]), carries it out ([`real`]),
//! simulates the same scenario over many seeds, and compares field by field ([`compare`]);
//! the report draws the real run ([`timeline`]) beside the closest simulated one.

mod compare;
mod history;
mod plan;
mod real;
mod timeline;

use clap::Args;
use compare::{compare, Comparison, SimSummary};
use plan::Plan;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct ConformArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// Seed of the real run's choices (which follower, which server) and the simulated run
    /// shown beside it (default: the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated seeds to compare with (seeds 0..K).
    #[arg(long, default_value_t = 200)]
    runs: u64,
    /// The release the simulation models; it must be the release of the real servers.
    #[arg(long, value_name = "VERSION", value_parser = crate::flags::parse_zk, default_value = "3.8.0")]
    zk: zab::ZkVersion,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Write an HTML page with the real ensemble's timeline beside the closest simulated
    /// seed's (default: reports/<scenario>-conform-<seed>.html).
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    report: Option<Option<PathBuf>>,
    /// An unpacked Apache ZooKeeper release to run instead of Debian's package.
    #[arg(long, value_name = "DIR")]
    zk_home: Option<PathBuf>,
}

pub fn conform(args: ConformArgs) -> u8 {
    let sc = match scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let seed = args.seed.unwrap_or(sc.seed);
    // Random faults are drawn by a simulated run of the seed and carried out as the timed
    // faults they were, on the real ensemble and in every simulated seed alike.
    let drawn = sc.random.as_ref().is_some_and(plan::draws_faults).then(|| {
        let mut opts = sim::Options::new(seed);
        opts.zk = Some(args.zk);
        sim::run(&sc, opts).executed
    });
    let sc = match &drawn {
        Some(executed) => {
            let mut exported = sim::export::export(&sc, sc.bugs, executed);
            exported.seed = seed;
            exported
        }
        None => sc,
    };
    let plan = match Plan::of(&sc) {
        Ok(p) => p,
        Err(r) => {
            eprintln!("error: cannot run on a real ensemble: {r}");
            return 2;
        }
    };
    let install = match &args.zk_home {
        Some(dir) => conform::Install::from_home(dir),
        None => conform::Install::debian(),
    };
    let install = match install {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if args.runs == 0 {
        eprintln!("error: --runs must be at least 1");
        return 2;
    }
    if let Err(e) = conform::install_interrupt_handler() {
        eprintln!("warning: Ctrl-C will not stop the real servers cleanly: {e}");
    }
    if let (Some(executed), false) = (&drawn, args.json) {
        eprintln!(
            "[random]: seed {seed} draws {} faults; both sides carry them out as timed faults \
             (the same as `sim run {} --seed {seed} --zk {} --export PATH`)",
            executed.len(),
            sc.path.display(),
            args.zk.name()
        );
    }

    let sim_started = Instant::now();
    let sims: Vec<SimSummary> = (0..args.runs)
        .map(|s| {
            let mut opts = sim::Options::new(s);
            opts.zk = Some(args.zk);
            SimSummary::of(
                &sim::run(&sc, opts),
                &sc.expect.delivered,
                &sc.expect.never_delivered,
            )
        })
        .collect();
    let sim_wall = sim_started.elapsed().as_secs_f64();

    if !args.json {
        eprintln!(
            "running {} on real ZooKeeper ({} ms of scenario time)...",
            sc.name, plan.duration_ms
        );
    }
    let real = match real::run(install, &plan, seed, args.zk) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the real ensemble failed: {e}");
            return 2;
        }
    };
    let names_txns = !sc.expect.delivered.is_empty() || !sc.expect.never_delivered.is_empty();
    let real_expected = names_txns.then(|| {
        let committed = real.committed.iter().copied().collect();
        compare::expected_txns(&committed, &sc.expect.delivered, &sc.expect.never_delivered)
    });
    // The real clients' history, judged by the simulator's client-visible checkers.
    let judged = plan
        .clients
        .is_some()
        .then(|| history::judge(&real, &sc, args.zk));
    let broken = judged.as_ref().map(|j| {
        j.violations
            .iter()
            .map(|v| v.invariant.to_string())
            .collect::<std::collections::BTreeSet<_>>()
    });
    let cmp = compare(&real, &sims, real_expected, broken.as_ref());
    let closest = Comparison::closest(&real, &sims);
    let command = conform_command(&sc, &args, seed);
    let report_path = match &args.report {
        None => None,
        Some(path) => {
            let path = path.clone().unwrap_or_else(|| {
                PathBuf::from("reports").join(format!("{}-conform-{seed}.html", sc.name))
            });
            match write_report(
                &path, &sc, &args, seed, &plan, &real, &cmp, closest, &command,
            ) {
                Ok(()) => Some(path),
                Err(e) => {
                    eprintln!("error: --report {}: {e}", path.display());
                    return 2;
                }
            }
        }
    };
    if args.json {
        let v = json!({
            "scenario": sc.name,
            "zk_version": args.zk.name(),
            "seed": seed,
            "runs": args.runs,
            "agree": cmp.agree(),
            "fields": cmp.json(),
            "closest_seed": closest,
            "drawn_faults": drawn.as_ref().map(Vec::len),
            "real": real_json(&real),
            "checks": judged.as_ref().map(checks_json),
            "real_wall_ms": real.wall_ms,
            "sim_wall_ms": sim_wall * 1000.0,
        });
        println!("{v}");
        if let Some(p) = &report_path {
            eprintln!("report: {}", p.display());
        }
    } else {
        print_table(&sc, &args, seed, &real, &cmp, closest, sim_wall);
        if let Some(j) = &judged {
            print_checks(j);
        }
        if let Some(p) = &report_path {
            println!("report: {}", p.display());
        }
    }
    if cmp.agree() {
        0
    } else {
        1
    }
}

/// The invariants a real run is not judged on: every checked one that needs the servers'
/// internals.
fn not_checked() -> Vec<&'static str> {
    check::checked_invariants()
        .into_iter()
        .filter(|n| !check::recorded::CHECKED.contains(n))
        .collect()
}

fn checks_json(j: &history::Judged) -> serde_json::Value {
    json!({
        "checked": check::recorded::CHECKED,
        "violations": j.violations.iter().map(|v| json!({
            "invariant": v.invariant,
            "at_ms": v.at_us / 1000,
            "server": v.server.map(|s| s.to_string()),
            "message": v.message,
        })).collect::<Vec<_>>(),
        "notes": j.notes,
        "not_checked": not_checked(),
        "not_checked_why": check::recorded::NOT_CHECKED,
    })
}

/// What the client-visible checkers made of the real clients' history.
fn print_checks(j: &history::Judged) {
    let broken: std::collections::BTreeSet<&str> =
        j.violations.iter().map(|v| v.invariant).collect();
    let verdicts: Vec<String> = check::recorded::CHECKED
        .iter()
        .map(|n| {
            if broken.contains(n) {
                format!("{n} BROKEN")
            } else {
                format!("{n} ok")
            }
        })
        .collect();
    println!(
        "  real clients judged by the checkers: {}",
        verdicts.join(", ")
    );
    for v in &j.violations {
        println!(
            "    {} at {} ms: {}",
            v.invariant,
            v.at_us / 1000,
            v.message
        );
    }
    for n in &j.notes {
        println!("    not judged: {n}");
    }
    println!(
        "  not checked on a real run: {} ({})",
        not_checked().join(", "),
        check::recorded::NOT_CHECKED
    );
}

/// The command that makes this comparison again.
fn conform_command(sc: &scenario::Scenario, args: &ConformArgs, seed: u64) -> String {
    let mut cmd = format!(
        "sim conform {} --seed {seed} --runs {} --zk {}",
        sc.path.display(),
        args.runs,
        args.zk.name()
    );
    if let Some(home) = &args.zk_home {
        cmd.push_str(&format!(" --zk-home {}", home.display()));
    }
    cmd
}

/// The report: the real run's timeline beside the simulated run of the closest seed,
/// which is run again here with its trace going to the report's collector.
#[allow(clippy::too_many_arguments)]
fn write_report(
    path: &std::path::Path,
    sc: &scenario::Scenario,
    args: &ConformArgs,
    seed: u64,
    plan: &Plan,
    real: &real::RealRun,
    cmp: &Comparison,
    closest: Option<u64>,
    command: &str,
) -> std::io::Result<()> {
    use report::html::{Capture, Collector};
    let source = std::fs::read_to_string(&sc.path).ok();
    let real_run = timeline::real_run(sc, plan, real, args.zk, command, source.as_deref());
    let simulated = closest.map(|s| {
        let mut opts = sim::Options::new(s);
        opts.zk = Some(args.zk);
        let rerun = report::reproduce_command_for(&sc.path, s, Some(args.zk), &[]);
        let capture = Capture::new(Collector::new(report::html::DEFAULT_WINDOW_MS * 1000));
        // As `sim run` writes it: the bugs the scenario switches on.
        let bugs: Vec<&str> = sc.bugs.iter().map(|b| b.name()).collect();
        capture.line(&report::html::header_line(
            sc,
            s,
            &bugs,
            &rerun,
            source.as_deref(),
        ));
        opts.trace = Some(Box::new(capture.clone()));
        let outcome = sim::run(sc, opts);
        capture.line(&report::html::outcome_line(&outcome, &rerun));
        (s, capture.finish(), rerun)
    });
    let page = report::html::render_conform(&report::html::Conformance {
        scenario: &sc.name,
        description: &sc.description,
        zk_version: args.zk.name(),
        seed,
        runs: args.runs,
        fields: &cmp.fields,
        command,
        real: &real_run,
        simulated: simulated.as_ref().map(|(s, r, c)| (*s, r, c.clone())),
        source: source.as_deref(),
    });
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, page)
}

/// The real run's outcome in `sim run --json`'s terms.
fn real_json(r: &real::RealRun) -> serde_json::Value {
    json!({
        "leader": r.leader,
        "epoch": r.epoch,
        "elections": r.elections.iter().map(|e| json!({
            "epoch": e.epoch,
            "leader": e.leader,
            "started_ms": e.started_ms,
            "established_ms": e.established_ms,
        })).collect::<Vec<_>>(),
        "committed": r.committed.len(),
        "committed_zxids": r.committed.iter().map(|z| z.to_string()).collect::<Vec<_>>(),
        "last_zxid": r.last_zxid.iter().map(|(id, z)| (format!("s{id}"), z.map(|z| z.to_string()))).collect::<std::collections::BTreeMap<_, _>>(),
        "same_history": r.same_history,
        "lost_committed": r.lost_committed.iter().map(|z| z.to_string()).collect::<Vec<_>>(),
        "syncs": r.syncs.iter().map(|(l, mode, z)| json!({"learner": l, "mode": mode, "zxid": z.to_string()})).collect::<Vec<_>>(),
        "t0_unix_ms": r.t0_unix_ms,
        "faults": r.faults.iter().map(|f| json!({"at_ms": f.at_ms, "fault": f.done.to_string()})).collect::<Vec<_>>(),
        "clients": r.clients.iter().map(|c| {
            let (ops, ok) = c.op_counts();
            json!({
                "client": c.client,
                "sessions": c.sessions.iter().map(|s| format!("{s:#x}")).collect::<Vec<_>>(),
                "servers": c.servers,
                "ops": ops,
                "ok": ok,
                "expired": c.expired,
                "finished": c.finished,
                "problems": c.problems,
            })
        }).collect::<Vec<_>>(),
    })
}

fn print_table(
    sc: &scenario::Scenario,
    args: &ConformArgs,
    seed: u64,
    real: &real::RealRun,
    cmp: &Comparison,
    closest: Option<u64>,
    sim_wall: f64,
) {
    println!(
        "{}: real ZooKeeper {} (seed {seed}) against {} simulated seeds (--zk {})",
        sc.name,
        args.zk.name(),
        args.runs,
        args.zk.name()
    );
    let w = cmp.fields.iter().map(|f| f.name.len()).max().unwrap_or(5);
    let rw = cmp
        .fields
        .iter()
        .map(|f| f.real.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("  {:w$}  {:6}  {:rw$}  simulated", "field", "", "real");
    for f in &cmp.fields {
        let mark = if f.agree { "agree" } else { "DIFFER" };
        println!("  {:w$}  {mark:6}  {:rw$}  {}", f.name, f.real, f.simulated);
    }
    for f in &real.faults {
        println!("  real fault at {:.0} ms: {}", f.at_ms, f.done);
    }
    for c in &real.clients {
        let (ops, ok) = c.op_counts();
        let sessions: Vec<String> = c.sessions.iter().map(|s| format!("{s:#x}")).collect();
        println!(
            "  real client c{}: session {}, {ok} of {ops} ops answered ok{}{}",
            c.client,
            if sessions.is_empty() {
                "none".into()
            } else {
                sessions.join(", then ")
            },
            if c.expired { ", session expired" } else { "" },
            if c.finished { "" } else { ", did not finish" }
        );
        for p in &c.problems {
            println!("  real client c{}: record problem: {p}", c.client);
        }
    }
    if let (Some(first), Some(last)) = (real.lost_committed.first(), real.lost_committed.last()) {
        println!(
            "  real servers lost {} of the txns [cluster] committed names: {first}..{last}",
            real.lost_committed.len()
        );
    }
    for e in &real.elections {
        println!(
            "  real election: s{} epoch {} established at {:.0} ms (no leader since {:.0} ms)",
            e.leader, e.epoch, e.established_ms, e.started_ms
        );
    }
    let differing = cmp.differing();
    if differing.is_empty() {
        println!("agree");
    } else {
        println!("differ: {}", differing.join(", "));
    }
    println!(
        "real run {:.1} s wall; {} simulated seeds {:.2} s; closest seed: {}",
        real.wall_ms / 1000.0,
        args.runs,
        sim_wall,
        closest.map_or("none".into(), |s| s.to_string())
    );
    if let Some(s) = closest {
        println!(
            "  its run: sim run {} --seed {s} --zk {}",
            sc.path.display(),
            args.zk.name()
        );
    }
}
