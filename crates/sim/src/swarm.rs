//! Swarm testing (`--swarm`): each seed draws its own configuration.
//!
//! One fixed mix of faults explores one corner of the state space well and the others badly:
//! frequent crashes mask what a slow disk would expose, and a partition every second never
//! lets a long sync finish. So, as FoundationDB's and TigerBeetle's simulators do, every seed
//! first draws which fault families are on and how hard they hit, the ensemble's size, the
//! network and disk speeds and the client load. The draw uses its own random stream, so the
//! run itself is exactly the run of the drawn scenario with the same seed (which `--export`
//! writes out).
//!
//! Some seeds also start from a past (see [`crate::initial`]): servers on different epochs
//! and logs, some txns committed, as an ensemble is found after an outage.

mod corners;
mod mutate;

pub(crate) use corners::ARMED_KINDS;

use crate::initial::{self, Epoch};
use crate::rng::stream;
use rand::seq::SliceRandom;
use rand::Rng;
use scenario::{Clients, Cluster, RandomFaults, Scenario, Workload};
use zab::ServerId;

/// The stream the swarm draw uses (the simulator's own streams are 1-4).
const SWARM_STREAM: u64 = 6;

/// What a seed drew, as `(knob, value)` labels for failure statistics.
pub type Knobs = Vec<(&'static str, String)>;

/// The longest a LOOKING server may still wait, once the faults end at `faults_end_ms`,
/// before it sends its vote again.
///
/// FastLeaderElection doubles a server's wait for notifications each time a wait ends in
/// silence, from finalizeWait up to maxNotificationInterval (60 s), and only a new election
/// round resets it. A server cut off from any quorum for a long stretch is therefore slow to
/// notice that the network healed, and a 4-server ensemble whose halves were kept apart for
/// 15 s can sit for 25 s in LOOKING after the heal: faithful to ZooKeeper, and no liveness
/// failure. The waits double from finalizeWait, so the one in progress is never longer than
/// the time spent looking so far (plus finalizeWait), which is at most the time until the
/// faults end.
pub fn election_backoff_ms(faults_end_ms: u64) -> u64 {
    let finalize_ms = zab::config::FINALIZE_WAIT_US / 1000;
    let max_ms = zab::config::MAX_NOTIFICATION_INTERVAL_US / 1000;
    faults_end_ms.saturating_add(finalize_ms).min(max_ms)
}

/// The scenario `base` becomes for `seed`: its expectations, bugs, ticks, run duration and
/// `[random] until_ms` stay; the ensemble, initial disks, network, disk, faults and clients
/// are drawn, and the liveness window grows by the election backoff the faults can build up
/// ([`election_backoff_ms`]). Scripted faults and the base's initial server states are
/// dropped, as they name servers of one particular ensemble, and so is its golden file,
/// whose story is the base's own run.
pub fn draw(base: &Scenario, seed: u64) -> (Scenario, Knobs) {
    let mut rng = stream(seed, SWARM_STREAM);
    let mut sc = base.clone();
    sc.expect.golden = None;
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
    // The simulator runs on to the end of this window after the last fault, so the
    // run's duration follows.
    let longest = random
        .restart_ms
        .1
        .max(random.partition_ms.1)
        .max(random.pause_ms.1);
    sc.run.liveness_ms = base.run.liveness_ms + election_backoff_ms(until_ms + longest);
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
    let count = rng.gen_range(1..=5);
    let write_ratio = *[0.5, 0.8, 1.0].choose(&mut rng).expect("non-empty");
    let thinks = [(1, 20), (10, 100), (50, 300)];
    let think_ms = *thinks.choose(&mut rng).expect("non-empty");
    // The base's workload stays (a recipe scenario swarms with its recipe); recipes need
    // someone to contend with.
    let base_clients = base.clients.as_ref();
    let workload = base_clients.map_or(Workload::Kv, |c| c.workload);
    let count = if workload == Workload::Kv {
        count
    } else {
        count.max(2)
    };
    sc.clients =
        Some(Clients {
            workload,
            count,
            session_timeout_ms: base_clients.map_or(4000, |c| c.session_timeout_ms),
            // Few enough that the load is over when the faults are: a write near the end can
            // still trigger the zxid rollover's election, which no leader check should race.
            ops: base.clients.as_ref().map_or(300, |c| c.ops).min(
                count * (until_ms / 1000) as u32 * 1000 / (think_ms.0 + think_ms.1 + 100) as u32,
            ),
            write_ratio,
            think_ms,
            fencing: base_clients.is_some_and(|c| c.fencing),
        });
    knobs.push(("clients", count.to_string()));
    knobs.push(("write_ratio", write_ratio.to_string()));
    knobs.push(("think_ms", format!("{}-{}", think_ms.0, think_ms.1)));

    let members = sc.cluster.all().count();
    let past = rng.gen_bool(PAST_SHARE);
    // Client processes crash (and come back with a new session) and pause too; drawn last so
    // that the server faults of a seed stay what they were without them.
    random.client_crash_per_min = rate(&mut rng, 6.0);
    random.client_pause_per_min = rate(&mut rng, 6.0);
    for (name, r) in [
        ("client-crash", random.client_crash_per_min),
        ("client-pause", random.client_pause_per_min),
    ] {
        knobs.push((name, if r > 0.0 { "on" } else { "off" }.to_string()));
    }
    sc.random = Some(random);
    if past {
        let durable = initial::play(&sc.cluster, &draw_past(&mut rng, members));
        sc.servers = durable.servers;
        sc.cluster.committed = durable.committed.filter(|_| rng.gen_bool(0.5));
        knobs.push(("initial", "past".to_string()));
    } else {
        knobs.push(("initial", "empty".to_string()));
    }
    // Drawn last, so that what a seed drew before these existed stays what it was.
    corners::draw(&mut rng, base, &mut sc, &mut knobs, until_ms);
    sc.name = format!("{}-swarm", base.name);
    // The base's description is about the base's ensemble; this one says what was drawn.
    sc.description = format!(
        "The configuration seed {seed} draws from {} for a swarm run: {}.",
        base.name,
        describe(&knobs)
    );
    (sc, knobs)
}

/// The configuration of a `sim fuzz --guided` mutant: seed `seed`'s draw with the changes
/// numbered `mutations` applied in turn (see [`mutate`]); with no changes, [`draw`].
pub fn draw_mutated(base: &Scenario, seed: u64, mutations: &[u64]) -> (Scenario, Knobs) {
    let (mut sc, mut knobs) = draw(base, seed);
    if mutations.is_empty() {
        return (sc, knobs);
    }
    let changes: Vec<String> = mutations
        .iter()
        .map(|m| mutate::mutate(base, &mut sc, *m))
        .collect();
    mutate::knob(&mut knobs, &changes);
    sc.description = format!(
        "The configuration seed {seed} draws from {} for a swarm run, changed by a guided sweep: {}.",
        base.name,
        describe(&knobs)
    );
    (sc, knobs)
}

/// `servers 4, observers 0, delay_ms 1-20, ...`: a draw in one line.
pub fn describe(knobs: &Knobs) -> String {
    knobs
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Share of seeds whose servers start from a past rather than from empty disks.
const PAST_SHARE: f64 = 0.3;

/// One to three epochs. Most servers take part in each and most followers log every
/// proposal, so that servers often end on the same zxid under different epochs, the state
/// where only FastLeaderElection's epoch comparison tells the votes apart.
fn draw_past(rng: &mut rand_chacha::ChaCha8Rng, members: usize) -> Vec<Epoch> {
    let mask = |rng: &mut rand_chacha::ChaCha8Rng, p: f64| {
        (0..members).fold(0u16, |m, i| m | (u16::from(rng.gen_bool(p)) << i))
    };
    (0..rng.gen_range(1..=3))
        .map(|_| Epoch {
            discovered: mask(rng, 0.8),
            synced: mask(rng, 0.7),
            proposals: rng.gen_range(0..=5),
            logged: (0..members)
                .map(|_| {
                    if rng.gen_bool(0.6) {
                        u32::MAX
                    } else {
                        rng.gen_range(0..=5)
                    }
                })
                .collect(),
        })
        .collect()
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
        let mut pasts = 0;
        for seed in 0..50 {
            let (sc, knobs) = draw(&b, seed);
            assert_eq!(sc.run.duration_ms, b.run.duration_ms);
            // until_ms = 15 s, faults up to 4 s: the backoff is at most 19.2 s; the drawn
            // initLimit and syncLimit add their ticks.
            let c = &sc.cluster;
            let limits = u64::from(c.init_limit + c.sync_limit) * c.tick_ms;
            assert_eq!(sc.run.liveness_ms, 5000 + 19_200 + limits);
            pasts += usize::from(!sc.servers.is_empty());
            let r = sc.random.as_ref().expect("random faults");
            assert!(
                r.crash_per_min + r.partition_per_min + r.pause_per_min + r.one_way_per_min > 0.0
            );
            assert!(knobs.iter().any(|(k, _)| *k == "disk"));
            let text = scenario::to_toml(&sc);
            scenario::parse(&text, std::path::Path::new("drawn.toml"))
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        }
        assert!(
            (5..=30).contains(&pasts),
            "some seeds start from a past: {pasts}"
        );
    }

    #[test]
    fn corners_are_drawn_in_a_share_of_seeds_and_within_what_the_timing_allows() {
        let b = base();
        let (mut near, mut small_snap, mut armed, mut stalls) = (0, 0, 0, 0);
        for seed in 0..400 {
            let (sc, knobs) = draw(&b, seed);
            let c = &sc.cluster;
            near += usize::from(c.initial_zxid_counter > zab::Zxid::COUNTER_MAX - 500);
            small_snap += usize::from(c.snap_count <= 30);
            armed += usize::from(!sc.faults.is_empty());
            stalls += usize::from(sc.disk.fsync_ms.1 == 1500);
            // A leader can finish discovery and sync within initLimit, a learner answer
            // within syncLimit.
            let (delay, fsync) = (sc.network.delay_ms.1, sc.disk.fsync_ms.1);
            assert!(
                u64::from(c.init_limit) * c.tick_ms >= 6 * delay + 3 * fsync,
                "{seed}"
            );
            assert!(
                u64::from(c.sync_limit) * c.tick_ms >= 2 * delay + 2 * fsync,
                "{seed}"
            );
            for f in &sc.faults {
                let scenario::Trigger::On { name, nth, .. } = &f.trigger else {
                    panic!("seed {seed}: a drawn fault is armed on a packet");
                };
                assert!(ARMED_KINDS.contains(&name.as_str()), "{name}");
                assert!((1..=3).contains(nth));
            }
            let named = |k: &str| knobs.iter().any(|(n, _)| *n == k);
            assert!(
                named("zxid") && named("snap_count") && named("triggered"),
                "{knobs:?}"
            );
        }
        let share = |n: usize| n as f64 / 400.0;
        assert!(
            (0.1..0.2).contains(&share(near)),
            "near the rollover: {near}"
        );
        assert!(
            (0.14..0.26).contains(&share(small_snap)),
            "small snapCount: {small_snap}"
        );
        assert!(
            (0.33..0.47).contains(&share(armed)),
            "armed on packets: {armed}"
        );
        assert!(
            (0.06..0.14).contains(&share(stalls)),
            "stalling disks: {stalls}"
        );
    }

    #[test]
    fn a_mutant_is_a_pure_function_of_its_seed_and_changes() {
        let b = base();
        assert_eq!(draw_mutated(&b, 3, &[]), draw(&b, 3));
        assert_eq!(
            draw_mutated(&b, 3, &[11, 12]),
            draw_mutated(&b, 3, &[11, 12])
        );
        let changed = (0..100)
            .filter(|m| draw_mutated(&b, 3, &[*m]).0 != draw(&b, 3).0)
            .count();
        assert!(changed > 80, "most changes change the draw: {changed}");
        for m in 0..100 {
            let (sc, knobs) = draw_mutated(&b, 3, &[m, m + 1]);
            let c = &sc.cluster;
            let (delay, fsync) = (sc.network.delay_ms.1, sc.disk.fsync_ms.1);
            assert!(
                u64::from(c.init_limit) * c.tick_ms >= 6 * delay + 3 * fsync,
                "{m}"
            );
            assert!(knobs.iter().any(|(k, _)| *k == "mutations"), "{knobs:?}");
            let text = scenario::to_toml(&sc);
            scenario::parse(&text, std::path::Path::new("mutant.toml"))
                .unwrap_or_else(|e| panic!("change {m}: {e}\n{text}"));
        }
    }

    #[test]
    fn mutants_name_only_servers_they_have_and_fence_their_recipes() {
        let b = base();
        let (mut ensembles, mut recipes, mut timed, mut delayed) = (0, 0, 0, 0);
        for seed in 0..40 {
            for m in 0..60 {
                let chain = [m, m * 31 + 7, m * 131 + 3];
                let (sc, knobs) = draw_mutated(&b, seed, &chain);
                let said = &knobs.last().expect("mutations").1;
                ensembles += usize::from(said.contains("observers"));
                let members: Vec<ServerId> = sc.cluster.all().collect();
                for f in &sc.faults {
                    assert!(mutate::names_only(f, &members), "{seed} {chain:?}: {f:?}");
                    match &f.trigger {
                        scenario::Trigger::At { .. } => timed += 1,
                        scenario::Trigger::On { delay_ms, .. } => {
                            assert!(*delay_ms <= 1500);
                            delayed += usize::from(*delay_ms > 0);
                        }
                    }
                }
                let c = sc.clients.as_ref().expect("clients");
                if c.workload != Workload::Kv {
                    recipes += 1;
                    assert!(c.count >= 2 && c.fencing && c.ops <= 60, "{c:?}");
                }
            }
        }
        assert!(ensembles > 50, "another ensemble: {ensembles}");
        assert!(recipes > 50, "another workload: {recipes}");
        assert!(timed > 50, "a timed crash or pause: {timed}");
        assert!(delayed > 50, "faults acting after their packet: {delayed}");
    }

    #[test]
    fn what_the_scenario_sets_stays_set() {
        let text = "name = \"base\"\n[cluster]\nservers = 3\nsnap_count = 20\ninitial_zxid_counter = 4294967200\ntick_ms = 200\n[clients]\nsession_timeout_ms = 3000\n[run]\nduration_ms = 20000\nliveness_ms = 5000\n";
        let b = scenario::parse(text, std::path::Path::new("base.toml")).expect("valid");
        for seed in 0..100 {
            let (sc, knobs) = draw_mutated(&b, seed, &[seed, seed * 7 + 1]);
            assert_eq!(sc.cluster.snap_count, 20);
            assert_eq!(sc.cluster.initial_zxid_counter, 4_294_967_200);
            assert_eq!(sc.cluster.tick_ms, 200);
            assert_eq!(
                sc.clients.as_ref().expect("clients").session_timeout_ms,
                3000
            );
            assert!(!knobs
                .iter()
                .any(|(k, _)| *k == "snap_count" || *k == "zxid"));
        }
        // The base above leaves them to the draw.
        let drawn: std::collections::BTreeSet<u32> = (0..100)
            .map(|s| draw(&base(), s).0.cluster.snap_count)
            .collect();
        assert!(drawn.len() > 5 && drawn.contains(&100) && drawn.contains(&100_000));
    }

    #[test]
    fn the_backoff_window_is_the_time_looking_up_to_max_notification_interval() {
        assert_eq!(election_backoff_ms(0), 200);
        assert_eq!(election_backoff_ms(24_000), 24_200);
        assert_eq!(election_backoff_ms(100_000), 60_000);
    }
}
