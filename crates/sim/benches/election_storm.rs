//! Benchmark: a 5-server election storm (frequent crashes, partitions and pauses for one
//! simulated minute). Reports events per second and simulated-to-wall time. Run with
//! `cargo bench -p sim --bench election_storm` (`just bench`).

use std::time::Instant;

const SCENARIO: &str = r#"
name = "election-storm"
[cluster]
servers = 5
[network]
delay_ms = [1, 10]
[random]
until_ms = 60000
crash_per_min = 20.0
restart_ms = [200, 2000]
partition_per_min = 20.0
partition_ms = [200, 2000]
pause_per_min = 10.0
pause_ms = [100, 1000]
[run]
duration_ms = 70000
liveness_ms = 10000
"#;

fn main() {
    let sc = scenario::parse(SCENARIO, std::path::Path::new("election-storm.toml")).expect("valid");
    let seeds = 20u64;
    for checkers in [true, false] {
        let start = Instant::now();
        let (mut events, mut sim_us, mut elections) = (0u64, 0u64, 0usize);
        for seed in 0..seeds {
            let mut opts = sim::Options::new(seed);
            opts.checkers = checkers;
            let o = sim::run(&sc, opts);
            events += o.events;
            sim_us += o.sim_us;
            elections += o.elections.len();
        }
        let wall = start.elapsed().as_secs_f64();
        println!(
            "election storm, 5 servers, {seeds} seeds, checkers {}: {events} events, {elections} elections, {:.2} s wall, {:.0} events/s, simulated/wall {:.0}x, {:.1} seeds/s",
            if checkers { "on " } else { "off" },
            wall,
            events as f64 / wall,
            sim_us as f64 / 1e6 / wall,
            seeds as f64 / wall
        );
    }
}
