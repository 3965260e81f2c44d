//! The corners bugs hide behind, each drawn in a share of the seeds: a zxid counter close to
//! its rollover, very small and very large snapCounts, other tick lengths and init/sync
//! limits, short and long session timeouts, a disk whose fsyncs now and then stall for
//! seconds, and faults that strike at a protocol moment (a crash or an isolation at the nth
//! PROPOSAL, ACK, COMMIT, NEWLEADER, UPTODATE, SNAP, TRUNC or ACKEPOCH a server sends or
//! receives), which is how a restart lands in the middle of a sync.
//!
//! A plain scenario with random faults alone reaches none of these often: the counter never
//! nears 2^32, a snapshot every 100 txns rarely meets a crash, and a crash timed by a clock
//! seldom falls between NEWLEADER and UPTODATE. A key the scenario sets stays as set
//! (`Scenario::set_keys`); only the others are drawn.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use scenario::{Action, Fault, OnKind, Scenario, Selector, Trigger};
use zab::{ServerId, Zxid};

use super::Knobs;

/// Share of seeds whose epochs start their zxid counter close to the rollover.
const NEAR_ROLLOVER_SHARE: f64 = 0.15;
/// Share of seeds with faults armed on protocol messages.
const TRIGGERED_SHARE: f64 = 0.4;
/// Share of seeds whose disk stalls now and then.
const STALLING_DISK_SHARE: f64 = 0.1;

/// Packets the leader sends its learners, and those a learner sends the leader.
const FROM_LEADER: [&str; 6] = [
    "PROPOSAL",
    "COMMIT",
    "NEWLEADER",
    "UPTODATE",
    "SNAP",
    "TRUNC",
];
const FROM_LEARNER: [&str; 2] = ["ACK", "ACKEPOCH"];

/// Every packet kind a drawn fault may be armed on.
pub(crate) const ARMED_KINDS: [&str; 8] = [
    FROM_LEADER[0],
    FROM_LEADER[1],
    FROM_LEADER[2],
    FROM_LEADER[3],
    FROM_LEADER[4],
    FROM_LEADER[5],
    FROM_LEARNER[0],
    FROM_LEARNER[1],
];

pub(super) fn draw(
    rng: &mut ChaCha8Rng,
    base: &Scenario,
    sc: &mut Scenario,
    knobs: &mut Knobs,
    until_ms: u64,
) {
    let fixed = |key: &str| base.set_keys.contains(key);

    // Each epoch's counter starts 20 to 400 below its limit, so that a leader exhausts it
    // after a few hundred txns and the rollover's election follows (ZOOKEEPER-1277).
    let near = rng.gen_bool(NEAR_ROLLOVER_SHARE);
    if !fixed("cluster.initial_zxid_counter") {
        if near {
            let left = rng.gen_range(20..=400);
            sc.cluster.initial_zxid_counter = Zxid::COUNTER_MAX - left;
            knobs.push(("zxid", format!("{left} before the rollover")));
            sc.set_keys.insert("cluster.initial_zxid_counter");
        } else {
            knobs.push(("zxid", "from 0".to_string()));
        }
    }

    // snapCount: a snapshot every few txns makes SNAP syncs, purged committed logs and
    // snapshot-versus-log races common; a very large one means none during the run.
    let snap = rng.gen_range(0.0..1.0);
    if !fixed("cluster.snap_count") {
        let count = if snap < 0.2 {
            rng.gen_range(5..=30)
        } else if snap < 0.3 {
            100_000
        } else {
            sc.cluster.snap_count
        };
        sc.cluster.snap_count = count;
        sc.set_keys.insert("cluster.snap_count");
        knobs.push(("snap_count", count.to_string()));
    }

    // A disk whose fsync takes from 1 ms to 1.5 s: a stalled log write holds back ACKs
    // and the commit behind them while the rest of the ensemble moves on.
    let stalls = rng.gen_bool(STALLING_DISK_SHARE);
    if stalls {
        sc.disk.fsync_ms = (1, 1500);
    }
    knobs.push(("disk-stalls", if stalls { "on" } else { "off" }.to_string()));

    // Tick length and limits: how long a leader waits for a quorum of followers (initLimit)
    // and a leader or learner for the other (syncLimit) before giving up. Drawn within what
    // the network and disk allow, as an operator sizes them: a leader must be able to
    // finish discovery and sync (a few round trips and fsyncs) within initLimit, and a
    // learner answer within syncLimit, or no leader could ever establish and a liveness
    // failure would only say the configuration is impossible.
    let tick = match rng.gen_range(0.0..1.0) {
        x if x < 0.6 => 100,
        x if x < 0.75 => 50,
        x if x < 0.9 => 200,
        _ => 500,
    };
    let init_limit: u32 = *[2, 5, 10].choose(rng).expect("non-empty");
    let sync_limit: u32 = *[1, 2, 5].choose(rng).expect("non-empty");
    let mut timing_drawn = false;
    if !fixed("cluster.tick_ms") {
        sc.cluster.tick_ms = tick;
        sc.set_keys.insert("cluster.tick_ms");
        timing_drawn = true;
    }
    if !fixed("cluster.init_limit") {
        sc.cluster.init_limit = init_limit;
        sc.set_keys.insert("cluster.init_limit");
        timing_drawn = true;
    }
    if !fixed("cluster.sync_limit") {
        sc.cluster.sync_limit = sync_limit;
        sc.set_keys.insert("cluster.sync_limit");
        timing_drawn = true;
    }
    if timing_drawn {
        raise_limits(base, sc);
        let c = &sc.cluster;
        knobs.push(("tick_ms", c.tick_ms.to_string()));
        knobs.push(("init_limit", c.init_limit.to_string()));
        knobs.push(("sync_limit", c.sync_limit.to_string()));
        // A leader elected as the faults end may wait initLimit ticks for followers that
        // are still catching up and then give up, and a learner syncLimit ticks for a
        // leader: recovering can take that much longer than with the base's timing.
        sc.run.liveness_ms += u64::from(c.init_limit + c.sync_limit) * c.tick_ms;
    }

    // Session timeouts at ZooKeeper's bounds (2 and 20 ticks) and in between: short ones
    // expire during pauses and partitions, long ones outlive a crashed client's faults.
    let timeout = rng.gen_range(0.0..1.0);
    if let Some(clients) = sc.clients.as_mut() {
        if !fixed("clients.session_timeout_ms") {
            let t = sc.cluster.tick_ms;
            let ms = if timeout < 0.2 {
                2 * t
            } else if timeout < 0.4 {
                20 * t
            } else {
                clients.session_timeout_ms
            };
            clients.session_timeout_ms = ms;
            sc.set_keys.insert("clients.session_timeout_ms");
            knobs.push(("session_timeout_ms", ms.to_string()));
        }
    }

    // Faults at protocol moments.
    let members: Vec<ServerId> = sc.cluster.all().collect();
    let armed = if rng.gen_bool(TRIGGERED_SHARE) {
        rng.gen_range(1..=2)
    } else {
        0
    };
    let mut names = Vec::new();
    for _ in 0..armed {
        let (fault, name) = triggered(rng, &members, until_ms);
        sc.faults.push(fault);
        names.push(name);
    }
    knobs.push((
        "triggered",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(" + ")
        },
    ));
}

/// Raises initLimit and syncLimit, where the scenario leaves them to the draw, to what the
/// drawn network and disk need: a leader must be able to finish discovery and sync (a few
/// round trips and fsyncs) within initLimit, and a learner answer within syncLimit. Returns
/// the ticks added.
fn raise_limits(base: &Scenario, sc: &mut Scenario) -> u64 {
    let (delay, fsync) = (sc.network.delay_ms.1, sc.disk.fsync_ms.1);
    let tick = sc.cluster.tick_ms.max(1);
    let at_least = |limit: u32, need_ms: u64| {
        u32::try_from(need_ms.div_ceil(tick))
            .unwrap_or(u32::MAX)
            .max(limit)
    };
    let c = &mut sc.cluster;
    let before = u64::from(c.init_limit + c.sync_limit);
    if !base.set_keys.contains("cluster.init_limit") {
        c.init_limit = at_least(c.init_limit, 6 * delay + 3 * fsync);
    }
    if !base.set_keys.contains("cluster.sync_limit") {
        c.sync_limit = at_least(c.sync_limit, 2 * delay + 2 * fsync);
    }
    u64::from(c.init_limit + c.sync_limit) - before
}

/// [`raise_limits`] after a change to the network or disk, with the liveness window
/// lengthened by the ticks added.
pub(super) fn fit_limits(base: &Scenario, sc: &mut Scenario) {
    let added = raise_limits(base, sc);
    sc.run.liveness_ms += added * sc.cluster.tick_ms;
}

/// One fault armed on a protocol message: the leader crashed or isolated as it sends its
/// nth packet of a kind, or a server as it receives one (a learner in the middle of its
/// sync, say); for a learner's packets, the other way round. Armed from a drawn moment
/// during the faults, so that it strikes the first such packet after it.
pub(super) fn triggered(
    rng: &mut ChaCha8Rng,
    members: &[ServerId],
    until_ms: u64,
) -> (Fault, String) {
    let learner_kind = rng.gen_bool(0.25);
    let kind = if learner_kind {
        *FROM_LEARNER.choose(rng).expect("non-empty")
    } else {
        *FROM_LEADER.choose(rng).expect("non-empty")
    };
    let at_sender = rng.gen_bool(0.5);
    let server = Selector::Server(*members.choose(rng).expect("a member"));
    // Who the trigger watches, and who is hit: the leader's side or one server's.
    let (on, from, to, target) = match (learner_kind, at_sender) {
        (false, true) => (OnKind::Send, Some(Selector::Leader), None, Selector::Leader),
        (false, false) => (OnKind::Receive, None, Some(server), server),
        (true, true) => (OnKind::Send, Some(server), None, server),
        (true, false) => (
            OnKind::Receive,
            None,
            Some(Selector::Leader),
            Selector::Leader,
        ),
    };
    let nth = rng.gen_range(1..=3);
    let after_ms = rng.gen_range(0..until_ms.max(1));
    let for_ms = rng.gen_range(200..=4000);
    let crash = rng.gen_bool(0.7);
    let action = if crash {
        Action::Crash {
            target,
            restart_after_ms: Some(for_ms),
        }
    } else {
        Action::Isolate {
            target,
            heal_after_ms: Some(for_ms),
        }
    };
    let who = match target {
        Selector::Leader => "leader".to_string(),
        Selector::Server(id) => id.to_string(),
        _ => unreachable!("a leader or one server"),
    };
    let way = if on == OnKind::Send {
        "sends"
    } else {
        "receives"
    };
    // Half act as the packet passes; the others a little later, so that a crash lands in
    // the middle of what the packet started: a TRUNC sync's writes, the commit of a
    // proposal, a learner's log catching up.
    let delay_ms = if rng.gen_bool(0.5) {
        0
    } else {
        match rng.gen_range(0..3) {
            0 => rng.gen_range(1..=50),
            1 => rng.gen_range(50..=300),
            _ => rng.gen_range(300..=1500),
        }
    };
    let what = if crash { "crash" } else { "isolate" };
    let when = if delay_ms == 0 {
        "as it".to_string()
    } else {
        format!("{delay_ms} ms after it")
    };
    let name = format!("{what} {who} {when} {way} {kind} #{nth} after {after_ms} ms");
    let fault = Fault {
        trigger: Trigger::On {
            kind: on,
            name: kind.to_string(),
            from,
            to,
            nth,
            after_ms,
            delay_ms,
        },
        action,
        line: 0,
    };
    (fault, name)
}
