//! Swarm testing (`--swarm`): each seed draws its own configuration.
//!
//! One fixed mix of faults explores one corner of the state space well and the others badly:
//! frequent crashes mask what a slow disk would expose, and a partition every second never
//! lets a long sync finish. So, as FoundationDB's and TigerBeetle's simulators do, every seed
//! first draws which fault families are on and how hard they hit, the ensemble's size, the
//! network and disk speeds and the client load. The draw uses its own random stream, so the
//! run itself is exactly the run of the drawn scenario with the same seed (which `--export`
//! writes out).

use crate::rng::stream;
use rand::seq::SliceRandom;
use rand::Rng;
use scenario::{Clients, Cluster, RandomFaults, Scenario, Workload};
use zab::ServerId;

/// The stream the swarm draw uses (the simulator's own streams are 1-4).
const SWARM_STREAM: u64 = 6;

/// What a seed drew, as `(knob, value)` labels for failure statistics.
pub type Knobs = Vec<(&'static str, String)>;

/// The scenario `base` becomes for `seed`: its timing (`[run]`, `[random] until_ms`),
/// expectations, bugs and ticks stay; the ensemble, network, disk, faults and clients are
/// drawn. Scripted faults and initial server states are dropped, as they name servers of one
/// particular ensemble.
pub fn draw(base: &Scenario, seed: u64) -> (Scenario, Knobs) {
    let mut rng = stream(seed, SWARM_STREAM);
    let mut sc = base.clone();
    let mut knobs: Knobs = Vec::new();

    let participants: u8 = rng.gen_range(3..=7);
    let observers: u8 = if rng.gen_bool(0.5) {
        0
    } else {
        rng.gen_range(1..=2)
    };
    sc.cluster = Cluster {
        participants: (1..=participants).map(ServerId).collect(),
        observers: (participants + 1..=participants + observers)
            .map(ServerId)
            .collect(),
        committed: None,
        ..base.cluster.clone()
    };
    sc.servers.clear();
    sc.faults.clear();
    knobs.push(("servers", participants.to_string()));
    knobs.push(("observers", observers.to_string()));

    let delays = [(1, 5), (1, 20), (5, 50)];
    let delay = *delays.choose(&mut rng).expect("non-empty");
    sc.network.delay_ms = delay;
    sc.network.reset = *[0.0, 0.001, 0.01].choose(&mut rng).expect("non-empty");
    sc.network.reorder = false;
    knobs.push(("delay_ms", format!("{}-{}", delay.0, delay.1)));
    knobs.push(("reset", sc.network.reset.to_string()));

    let disks = [("fast", (1, 5)), ("normal", (1, 20)), ("slow", (20, 200))];
    let (disk, fsync) = *disks.choose(&mut rng).expect("non-empty");
    sc.disk.fsync_ms = fsync;
    knobs.push(("disk", disk.to_string()));

    let until_ms = base.random.as_ref().map_or(
        base.run.duration_ms.saturating_sub(base.run.liveness_ms),
        |r| r.until_ms,
    );
    let rate = |rng: &mut rand_chacha::ChaCha8Rng, max: f64| {
        if rng.gen_bool(0.6) {
            rng.gen_range(1.0..max)
        } else {
            0.0
        }
    };
    let mut random = RandomFaults {
        until_ms,
        crash_per_min: rate(&mut rng, 12.0),
        restart_ms: (200, 4000),
        partition_per_min: rate(&mut rng, 12.0),
        partition_ms: (200, 4000),
        pause_per_min: rate(&mut rng, 6.0),
        pause_ms: (100, 3000),
        one_way_per_min: rate(&mut rng, 6.0),
        client_crash_per_min: 0.0,
        client_pause_per_min: 0.0,
    };
    if random.crash_per_min
        + random.partition_per_min
        + random.pause_per_min
        + random.one_way_per_min
        == 0.0
    {
        random.crash_per_min = rng.gen_range(1.0..12.0);
    }
    for (name, r) in [
        ("crash", random.crash_per_min),
        ("partition", random.partition_per_min),
        ("pause", random.pause_per_min),
        ("one-way", random.one_way_per_min),
    ] {
        knobs.push((name, if r > 0.0 { "on" } else { "off" }.to_string()));
    }
    sc.random = Some(random);

    let count = rng.gen_range(1..=5);
    let write_ratio = *[0.5, 0.8, 1.0].choose(&mut rng).expect("non-empty");
    let thinks = [(1, 20), (10, 100), (50, 300)];
    let think_ms = *thinks.choose(&mut rng).expect("non-empty");
    sc.clients =
        Some(Clients {
            workload: Workload::Kv,
            count,
            session_timeout_ms: 4000,
            // Few enough that the load is over when the faults are: a write near the end can
            // still trigger the zxid rollover's election, which no leader check should race.
            ops: base.clients.as_ref().map_or(300, |c| c.ops).min(
                count * (until_ms / 1000) as u32 * 1000 / (think_ms.0 + think_ms.1 + 100) as u32,
            ),
            write_ratio,
            think_ms,
        });
    knobs.push(("clients", count.to_string()));
    knobs.push(("write_ratio", write_ratio.to_string()));
    knobs.push(("think_ms", format!("{}-{}", think_ms.0, think_ms.1)));
    sc.name = format!("{}-swarm", base.name);
    (sc, knobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Scenario {
        let text = "name = \"base\"\n[cluster]\nservers = 3\n[run]\nduration_ms = 20000\nliveness_ms = 5000\n";
        scenario::parse(text, std::path::Path::new("base.toml")).expect("valid")
    }

    #[test]
    fn a_seed_always_draws_the_same_configuration() {
        let b = base();
        assert_eq!(draw(&b, 7), draw(&b, 7));
        let sizes: std::collections::BTreeSet<usize> = (0..50)
            .map(|s| draw(&b, s).0.cluster.participants.len())
            .collect();
        assert_eq!(sizes, (3..=7).collect(), "every size from 3 to 7 is drawn");
    }

    #[test]
    fn the_drawn_scenario_is_valid_and_keeps_the_base_timing() {
        let b = base();
        for seed in 0..50 {
            let (sc, knobs) = draw(&b, seed);
            assert_eq!(sc.run, b.run);
            let r = sc.random.as_ref().expect("random faults");
            assert!(
                r.crash_per_min + r.partition_per_min + r.pause_per_min + r.one_way_per_min > 0.0
            );
            assert!(knobs.iter().any(|(k, _)| *k == "disk"));
            let text = scenario::to_toml(&sc);
            scenario::parse(&text, std::path::Path::new("drawn.toml"))
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        }
    }
}
