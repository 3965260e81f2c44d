//! Benchmark: a steady write load on 5 servers without faults (four clients writing as fast
//! as their commits come back, for one simulated minute). Reports events per second,
//! simulated-to-wall time and committed txns per wall second, with the checkers on and off.
//! Run with `cargo bench -p sim --bench write_load` (`just bench`).

use std::time::Instant;

const SCENARIO: &str = r#"
name = "write-load"
[cluster]
servers = 5
snap_count = 1000
[network]
delay_ms = [1, 5]
[disk]
fsync_ms = [1, 3]
[clients]
workload = "kv"
count = 4
ops = 1000000
write_ratio = 1.0
think_ms = [0, 1]
[run]
duration_ms = 60000
liveness_ms = 10000
"#;

fn main() {
    let sc = scenario::parse(SCENARIO, std::path::Path::new("write-load.toml")).expect("valid");
    let seeds = 5u64;
    for checkers in [true, false] {
        let start = Instant::now();
        let (mut events, mut sim_us, mut committed) = (0u64, 0u64, 0u64);
        for seed in 0..seeds {
            let mut opts = sim::Options::new(seed);
            opts.checkers = checkers;
            let o = sim::run(&sc, opts);
            assert!(o.violations.is_empty(), "{:?}", o.violations);
            events += o.events;
            sim_us += o.sim_us;
            committed += o.committed;
        }
        let wall = start.elapsed().as_secs_f64();
        println!(
            "write load, 5 servers, 4 clients, {seeds} seeds x 60 s, checkers {}: {events} events, {committed} txns committed, {:.2} s wall, {:.0} events/s, {:.0} txns/s, simulated/wall {:.0}x",
            if checkers { "on " } else { "off" },
            wall,
            events as f64 / wall,
            committed as f64 / wall,
            sim_us as f64 / 1e6 / wall,
        );
    }
}
