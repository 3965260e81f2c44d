//! Small changes to a drawn configuration, for `sim fuzz --guided`: a seed that reached a
//! rare situation is kept, and its configuration is varied a little (a fault armed on
//! another packet, one more crash or pause at a drawn moment, another ensemble or client
//! workload, another snapCount, a zxid counter near the rollover, a fault family more or less
//! often, a slower disk, more connection resets, other session timeouts), as a
//! coverage-guided fuzzer varies an input that reached new code. Each change is a pure
//! function of its number, so a mutant is named by its seed and the numbers of the changes
//! applied in turn (`--mutate 17,203`).
use rand::seq::SliceRandom;
use rand::Rng;
use scenario::{Action, Fault, Scenario, Selector, Trigger};

use super::corners;
use super::Knobs;
use crate::rng::stream;

/// The stream a change number seeds (the swarm draw uses 6).
const MUTATE_STREAM: u64 = 7;

/// Applies change `m` to `sc`, a configuration drawn from `base`; says what it changed.
pub(super) fn mutate(base: &Scenario, sc: &mut Scenario, m: u64) -> String {
    let mut rng = stream(m, MUTATE_STREAM);
    let until_ms = sc.random.as_ref().map_or(0, |r| r.until_ms);
    let fixed = |key: &str| base.set_keys.contains(key);
    let what = match rng.gen_range(0..12) {
        0 => {
            // Arm another fault on a protocol packet (dropping the oldest past two).
            let members: Vec<_> = sc.cluster.all().collect();
            let (fault, name) = corners::triggered(&mut rng, &members, until_ms);
            let armed: Vec<usize> = (0..sc.faults.len())
                .filter(|i| matches!(sc.faults[*i].trigger, scenario::Trigger::On { .. }))
                .collect();
            if armed.len() >= 2 {
                sc.faults.remove(armed[0]);
            }
            sc.faults.push(fault);
            format!("arm: {name}")
        }
        1 if !fixed("cluster.snap_count") => {
            let count = *[5, 10, 20, 50, 100, 100_000]
                .choose(&mut rng)
                .expect("non-empty");
            sc.cluster.snap_count = count;
            format!("snap_count {count}")
        }
        2 if !fixed("cluster.initial_zxid_counter") => {
            let left = rng.gen_range(20..=400);
            sc.cluster.initial_zxid_counter = zab::Zxid::COUNTER_MAX - left;
            format!("zxid {left} before the rollover")
        }
        3 => {
            let Some(r) = sc.random.as_mut() else {
                return "nothing (no random faults)".into();
            };
            let (name, rate) = match rng.gen_range(0..4) {
                0 => ("crash", &mut r.crash_per_min),
                1 => ("partition", &mut r.partition_per_min),
                2 => ("pause", &mut r.pause_per_min),
                _ => ("one-way", &mut r.one_way_per_min),
            };
            *rate = match rng.gen_range(0..3) {
                0 => 0.0,
                1 => (*rate * 2.0).max(2.0),
                _ => *rate / 2.0,
            };
            format!("{name} {:.1}/min", *rate)
        }
        4 => {
            let disks = [(1, 5), (1, 20), (20, 200), (1, 1500)];
            let fsync = *disks.choose(&mut rng).expect("non-empty");
            sc.disk.fsync_ms = fsync;
            format!("fsync {}-{} ms", fsync.0, fsync.1)
        }
        5 => {
            let delays = [(1, 5), (1, 20), (5, 50)];
            let delay = *delays.choose(&mut rng).expect("non-empty");
            sc.network.delay_ms = delay;
            format!("delay {}-{} ms", delay.0, delay.1)
        }
        6 => {
            let Some(c) = sc.clients.as_mut() else {
                return "nothing (no clients)".into();
            };
            c.write_ratio = *[0.2, 0.5, 1.0].choose(&mut rng).expect("non-empty");
            format!("write_ratio {}", c.write_ratio)
        }
        7 => {
            // One more fault at a drawn moment, on a drawn server or the leader of then:
            // where it lands (which role, which phase) is what the run finds out.
            let members: Vec<_> = sc.cluster.all().collect();
            let target = if rng.gen_bool(0.5) {
                Selector::Leader
            } else {
                Selector::Server(*members.choose(&mut rng).expect("a member"))
            };
            let at_ms = rng.gen_range(0..until_ms.max(1));
            let for_ms = rng.gen_range(100..=3000);
            let (action, what) = if rng.gen_bool(0.6) {
                let action = Action::Crash {
                    target,
                    restart_after_ms: Some(for_ms),
                };
                (action, "crash")
            } else {
                let action = Action::Pause {
                    target,
                    duration_ms: for_ms,
                };
                (action, "pause")
            };
            sc.faults.push(Fault {
                trigger: Trigger::At { at_ms },
                action,
                line: 0,
            });
            format!(
                "{what} {} at {at_ms} ms for {for_ms} ms",
                scenario::selector(target)
            )
        }
        8 if sc.servers.is_empty() => {
            // Another ensemble (not for a drawn past, whose disks are the old ensemble's);
            // faults naming a server it no longer has go.
            let participants: u8 = rng.gen_range(3..=7);
            let observers: u8 = *[0, 0, 1, 2].choose(&mut rng).expect("non-empty");
            sc.cluster.participants = (1..=participants).map(zab::ServerId).collect();
            sc.cluster.observers = (participants + 1..=participants + observers)
                .map(zab::ServerId)
                .collect();
            let members: Vec<zab::ServerId> = sc.cluster.all().collect();
            sc.faults.retain(|f| names_only(f, &members));
            format!("{participants} servers, {observers} observers")
        }
        9 => {
            sc.network.reset = *[0.0, 0.001, 0.01, 0.03]
                .choose(&mut rng)
                .expect("non-empty");
            format!("reset {}", sc.network.reset)
        }
        10 => {
            // Another client workload: the recipes reach ephemerals, sequential znodes and
            // watches, which plain reads and writes never do. Recipes need contenders, few
            // enough steps to finish, and (election, lock) fencing, without which a paused
            // leader acting once more is the recipe's own hazard, not ZooKeeper's.
            let Some(c) = sc.clients.as_mut() else {
                return "nothing (no clients)".into();
            };
            let workload = *zab::client::Workload::ALL
                .choose(&mut rng)
                .expect("non-empty");
            c.workload = workload;
            if workload != zab::client::Workload::Kv {
                c.count = c.count.max(2);
                c.ops = c.ops.min(60);
                c.think_ms = (100, 300);
                c.fencing = true;
            }
            format!("workload {}", workload.name())
        }
        _ => {
            let tick = sc.cluster.tick_ms;
            let Some(c) = sc.clients.as_mut() else {
                return "nothing (no clients)".into();
            };
            if fixed("clients.session_timeout_ms") {
                return "nothing (session timeout fixed)".into();
            }
            // ZooKeeper's bounds, 2 and 20 ticks, or a few seconds.
            c.session_timeout_ms = *[2 * tick, 20 * tick, 4000]
                .choose(&mut rng)
                .expect("non-empty");
            format!("session_timeout_ms {}", c.session_timeout_ms)
        }
    };
    // A slower disk or network may need longer limits than were drawn.
    corners::fit_limits(base, sc);
    what
}

/// Whether every server `f` names is one of `members`.
pub(super) fn names_only(f: &Fault, members: &[zab::ServerId]) -> bool {
    let ok = |s: &Selector| match s {
        Selector::Server(id) => members.contains(id),
        _ => true,
    };
    let trigger_ok = match &f.trigger {
        Trigger::On { from, to, .. } => from.iter().chain(to.iter()).all(ok),
        Trigger::At { .. } => true,
    };
    let action_ok = match &f.action {
        Action::Crash { target, .. }
        | Action::Restart { target }
        | Action::Isolate { target, .. }
        | Action::Pause { target, .. } => ok(target),
        Action::Partition { groups, .. } => groups.iter().flatten().all(ok),
        Action::Heal => true,
    };
    trigger_ok && action_ok
}

/// The knob a mutant's changes are listed under.
pub(super) fn knob(knobs: &mut Knobs, changes: &[String]) {
    if !changes.is_empty() {
        knobs.push(("mutations", changes.join("; ")));
    }
}
