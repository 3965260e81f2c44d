//! `sim merge FILES... [--json] [--report [PATH]]`: the result of a whole sweep from the shard
//! files its shards wrote (`sim fuzz --shard K/N --results PATH`).
//!
//! The merge prints what one `sim fuzz` over the whole range would print, computed from the
//! same per-seed results in seed order: the same counts, failures by invariant and by cause,
//! swarm knobs, reproduce and shrink commands, and the same HTML report but for its last
//! section, which holds what a machine decides (wall time, threads). It only answers when
//! the files are one sweep and prove that every seed ran: files of different sweeps, a shard
//! missing or given twice, a shard cut off or a file changed after it was written are named,
//! and the merge exits 1 without a result, so that nothing is silently lost.

use crate::fuzz;
use crate::shard_file::{self, ShardFile};
use clap::Args;
use report::sweep::{Sweep, SweepScenario};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct MergeArgs {
    /// Shard files, one per shard of the sweep, in any order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Print the whole protocol-coverage table, not only what was rare or never reached.
    #[arg(long)]
    coverage: bool,
    /// Write the sweep's HTML report (default: reports/fuzz-<scenario>-<A>-<B>.html).
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    report: Option<Option<PathBuf>>,
}

pub fn merge(args: MergeArgs) -> u8 {
    let mut files: Vec<(PathBuf, ShardFile)> = Vec::new();
    for path in &args.files {
        match shard_file::read(path) {
            Ok(f) => files.push((path.clone(), f)),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    let problems = problems(&files);
    if !problems.is_empty() {
        if args.json {
            println!("{}", json!({ "complete": false, "problems": problems }));
        } else {
            eprintln!("the shard files do not make a whole sweep:");
            for p in &problems {
                eprintln!("  {p}");
            }
        }
        return 1;
    }
    let shards = files.len();
    let sweep = match sweep(files) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let code = if args.json {
        let mut summary = crate::sweep_json::summary(&sweep);
        summary.insert("complete".into(), json!(true));
        summary.insert("shards".into(), json!(shards));
        println!("{}", serde_json::Value::Object(summary));
        u8::from(sweep.failed() > 0)
    } else {
        println!("merged {shards} shard file(s) of one sweep; every seed ran");
        fuzz::print_summary(&sweep, args.coverage)
    };
    if let Some(path) = &args.report {
        let path = path
            .clone()
            .unwrap_or_else(|| fuzz::default_report_path(&sweep));
        if let Err(e) = fuzz::write_report(&path, &report::html::render_sweep(&sweep)) {
            eprintln!("error: --report {}: {e}", path.display());
            return 2;
        }
        if !args.json {
            println!("report: {}", path.display());
        }
    }
    code
}

/// Everything that keeps the files from being one whole sweep, each naming its file.
fn problems(files: &[(PathBuf, ShardFile)]) -> Vec<String> {
    let mut out = Vec::new();
    let Some((first_path, first)) = files.first() else {
        return out;
    };
    let n = first.header.shard.1;
    let mut by_shard: Vec<Vec<&PathBuf>> = vec![Vec::new(); n as usize];
    for (path, f) in files {
        let diff = first.header.sweep_differences(&f.header);
        if !diff.is_empty() {
            out.push(format!(
                "{} is from another sweep than {}: {}",
                path.display(),
                first_path.display(),
                diff.join("; ")
            ));
            continue;
        }
        by_shard[(f.header.shard.0 - 1) as usize].push(path);
        for p in f.problems() {
            out.push(format!(
                "{} (shard {}/{n}) {p}",
                path.display(),
                f.header.shard.0
            ));
        }
    }
    if !out.iter().any(|p| p.contains("from another sweep")) {
        for (i, paths) in by_shard.iter().enumerate() {
            let k = i as u64 + 1;
            match paths.len() {
                0 => {
                    let mut h = first.header.clone();
                    h.shard = (k, n);
                    let seeds: Vec<u64> = h.seeds().collect();
                    out.push(format!(
                        "shard {k}/{n} is missing: seeds {}",
                        shard_file::seed_list(&seeds)
                    ));
                }
                1 => {}
                _ => out.push(format!(
                    "shard {k}/{n} is given twice: {}",
                    paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
    }
    out
}

/// The sweep the files make, as one `sim fuzz` over the whole range would have it. Each
/// file's records are dropped once converted: a merge holds every seed's result, and a
/// campaign has many.
fn sweep(files: Vec<(PathBuf, ShardFile)>) -> Result<Sweep, String> {
    let header = files[0].1.header.clone();
    let mut results = Vec::new();
    for (_, f) in files {
        for r in f.records {
            results.push(r.result()?);
        }
    }
    results.sort_by_key(|r| (r.scenario, r.seed));
    let zk_of = |name: &str| {
        zab::ZkVersion::from_name(name).ok_or_else(|| format!("unknown release {name:?}"))
    };
    let mut scenarios = Vec::new();
    for s in &header.scenarios {
        scenarios.push(SweepScenario {
            name: s.name.clone(),
            path: s.path.clone(),
            zk_version: zk_of(&s.zk_version)?,
        });
    }
    Ok(Sweep {
        command: fuzz::command_line(),
        scenarios,
        seeds: header.seeds,
        shard: None,
        bugs: header.bugs.clone(),
        zk: header.zk.as_deref().map(zk_of).transpose()?,
        swarm: header.swarm,
        check_determinism: header.check_determinism,
        // No wall time: the shards ran elsewhere, in parallel or not.
        jobs: 0,
        wall_us: 0,
        finished: Vec::new(),
        results,
        read_back: Default::default(),
    })
}
