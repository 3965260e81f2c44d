//! `sim shrink SCENARIO --seed N [--bug NAME]... [--swarm] [--out PATH] [--max-runs N]`: cut a
//! failing run down to a small explicit scenario that still fails the same way.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ShrinkArgs {
    /// The scenario that fails.
    scenario: PathBuf,
    /// The failing seed (default: the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Bug variants the failing run had switched on (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// The ZooKeeper release to model (default: the scenario's `zk`, else 3.9.4); see
    /// `sim list versions`.
    #[arg(long, value_name = "VERSION", value_parser = crate::flags::parse_zk)]
    zk: Option<zab::ZkVersion>,
    #[command(flatten)]
    draw: crate::flags::SwarmDraw,
    /// Where to write the shrunk scenario (default: reports/<name>-<seed>-shrunk.toml).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// At most this many runs.
    #[arg(long, default_value_t = 2000)]
    max_runs: usize,
}

pub fn shrink(args: ShrinkArgs) -> u8 {
    let mut sc = match scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    for name in &args.bugs {
        match zab::Bug::from_name(name) {
            Some(b) => sc.bugs.insert(b),
            None => {
                eprintln!("error: --bug {name}: unknown bug variant (see `sim list bugs`)");
                return 2;
            }
        }
    }
    // The shrunk scenario names the release the failure happened on, so that it fails the
    // same way whatever the default release is.
    sc.zk = Some(sim::effective_version(&sc, args.zk));
    let seed = args.seed.unwrap_or(sc.seed);
    if args.draw.swarm {
        let path = sc.path.clone();
        sc = sim::swarm::draw_mutated(&sc, seed, &args.draw.mutate).0;
        sc.path = path;
    }
    let shrunk = match sim::shrink::shrink(&sc, seed, args.max_runs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from("reports").join(format!("{}-{seed}-shrunk.toml", sc.name))
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: {}: {e}", dir.display());
            return 2;
        }
    }
    if let Err(e) = std::fs::write(&out, scenario::to_toml(&shrunk.scenario)) {
        eprintln!("error: --out {}: {e}", out.display());
        return 2;
    }
    let s = &shrunk.scenario;
    println!(
        "shrunk {} seed {seed} ({}) in {}: {} -> {}, {:.0} ms simulated, {} clients x {} ops",
        sc.name,
        shrunk.failure,
        report::count(shrunk.runs as u64, "run"),
        shrunk.faults_before,
        report::count(s.faults.len() as u64, "fault"),
        shrunk.sim_ms,
        s.clients.as_ref().map_or(0, |c| c.count),
        s.clients.as_ref().map_or(0, |c| c.ops),
    );
    println!("wrote {}", out.display());
    println!("run it: sim run {} --seed {seed}", out.display());
    0
}
