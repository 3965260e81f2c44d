//! Writes a [`Scenario`] back as scenario TOML.
//!
//! `sim run --export` and `sim shrink` turn a run into an explicit scenario (every random
//! fault replaced by the timed fault it became) and then edit it; the file they write must
//! load back to the same scenario, which the round-trip test over the whole library checks.

use crate::model::*;
use std::fmt::Write;
use zab::{ServerId, Zxid};

/// The scenario as TOML that [`crate::parse`] reads back to an equal scenario (apart from
/// `path`). Observers are written as a count, so their ids must follow the largest
/// participant id, as they do unless a zoo.cfg named them otherwise.
pub fn to_toml(sc: &Scenario) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "name = {}", string(&sc.name));
    let _ = writeln!(s, "description = {}", string(&sc.description));
    let _ = writeln!(s, "seed = {}", sc.seed);
    let bugs: Vec<String> = sc.bugs.iter().map(|b| string(b.name())).collect();
    let _ = writeln!(s, "bugs = [{}]", bugs.join(", "));
    if let Some(zk) = sc.zk {
        let _ = writeln!(s, "zk = {}", string(zk.name()));
    }

    let c = &sc.cluster;
    let _ = writeln!(s, "\n[cluster]");
    let _ = writeln!(s, "ids = [{}]", ids(&c.participants));
    let _ = writeln!(s, "observers = {}", c.observers.len());
    let _ = writeln!(s, "tick_ms = {}", c.tick_ms);
    let _ = writeln!(s, "init_limit = {}", c.init_limit);
    let _ = writeln!(s, "sync_limit = {}", c.sync_limit);
    if let Some(z) = c.committed {
        let _ = writeln!(s, "committed = \"{z}\"");
    }
    let _ = writeln!(s, "snap_count = {}", c.snap_count);
    let _ = writeln!(s, "initial_zxid_counter = {}", c.initial_zxid_counter);

    for init in &sc.servers {
        let _ = writeln!(s, "\n[[server]]");
        let _ = writeln!(s, "id = {}", init.id.0);
        let _ = writeln!(s, "accepted_epoch = {}", init.accepted_epoch);
        let _ = writeln!(s, "current_epoch = {}", init.current_epoch);
        let _ = writeln!(s, "log = [{}]", log_ranges(&init.log));
    }

    let n = &sc.network;
    let _ = writeln!(s, "\n[network]");
    let _ = writeln!(s, "delay_ms = [{}, {}]", n.delay_ms.0, n.delay_ms.1);
    let _ = writeln!(s, "reset = {}", float(n.reset));
    let _ = writeln!(s, "reorder = {}", n.reorder);
    let _ = writeln!(s, "\n[disk]");
    let _ = writeln!(
        s,
        "fsync_ms = [{}, {}]",
        sc.disk.fsync_ms.0, sc.disk.fsync_ms.1
    );

    if let Some(cl) = &sc.clients {
        let _ = writeln!(s, "\n[clients]");
        let _ = writeln!(s, "workload = \"{}\"", cl.workload.name());
        let _ = writeln!(s, "count = {}", cl.count);
        let _ = writeln!(s, "session_timeout_ms = {}", cl.session_timeout_ms);
        let _ = writeln!(s, "ops = {}", cl.ops);
        let _ = writeln!(s, "write_ratio = {}", float(cl.write_ratio));
        let _ = writeln!(s, "think_ms = [{}, {}]", cl.think_ms.0, cl.think_ms.1);
        let _ = writeln!(s, "fencing = {}", cl.fencing);
    }

    let _ = writeln!(s, "\n[run]");
    let _ = writeln!(s, "duration_ms = {}", sc.run.duration_ms);
    let _ = writeln!(s, "liveness_ms = {}", sc.run.liveness_ms);

    for f in &sc.faults {
        let _ = writeln!(s, "\n[[faults]]");
        match &f.trigger {
            Trigger::At { at_ms } => {
                let _ = writeln!(s, "at_ms = {at_ms}");
            }
            Trigger::On {
                kind,
                name,
                from,
                to,
                nth,
                after_ms,
                delay_ms,
            } => {
                let key = match kind {
                    OnKind::Send => "send",
                    OnKind::Receive => "receive",
                    OnKind::State => "state",
                };
                let mut parts = vec![format!("{key} = {}", string(name))];
                if let Some(sel) = from {
                    parts.push(format!("from = \"{}\"", selector(*sel)));
                }
                if let Some(sel) = to {
                    parts.push(format!("to = \"{}\"", selector(*sel)));
                }
                parts.push(format!("nth = {nth}"));
                if *after_ms > 0 {
                    parts.push(format!("after_ms = {after_ms}"));
                }
                if *delay_ms > 0 {
                    parts.push(format!("delay_ms = {delay_ms}"));
                }
                let _ = writeln!(s, "on = {{ {} }}", parts.join(", "));
            }
        }
        action(&mut s, &f.action);
    }

    if let Some(r) = &sc.random {
        let _ = writeln!(s, "\n[random]");
        let _ = writeln!(s, "until_ms = {}", r.until_ms);
        let _ = writeln!(s, "crash_per_min = {}", float(r.crash_per_min));
        let _ = writeln!(s, "restart_ms = [{}, {}]", r.restart_ms.0, r.restart_ms.1);
        let _ = writeln!(s, "partition_per_min = {}", float(r.partition_per_min));
        let _ = writeln!(
            s,
            "partition_ms = [{}, {}]",
            r.partition_ms.0, r.partition_ms.1
        );
        let _ = writeln!(s, "pause_per_min = {}", float(r.pause_per_min));
        let _ = writeln!(s, "pause_ms = [{}, {}]", r.pause_ms.0, r.pause_ms.1);
        let _ = writeln!(s, "one_way_per_min = {}", float(r.one_way_per_min));
        let _ = writeln!(
            s,
            "client_crash_per_min = {}",
            float(r.client_crash_per_min)
        );
        let _ = writeln!(
            s,
            "client_pause_per_min = {}",
            float(r.client_pause_per_min)
        );
    }

    let _ = writeln!(s, "\n[expect]");
    let v: Vec<String> = sc.expect.violations.iter().map(|v| string(v)).collect();
    let _ = writeln!(s, "violations = [{}]", v.join(", "));
    let e = &sc.expect;
    match e.leader_id {
        Some(id) => {
            let _ = writeln!(s, "leader = \"{id}\"");
        }
        None => {
            let _ = writeln!(s, "leader = {}", e.leader);
        }
    }
    if let Some(n) = e.elections {
        let _ = writeln!(s, "elections = {n}");
    }
    let zxids = |z: &[zab::Zxid]| -> String {
        let v: Vec<String> = z.iter().map(|z| format!("\"{z}\"")).collect();
        v.join(", ")
    };
    if !e.delivered.is_empty() {
        let _ = writeln!(s, "delivered = [{}]", zxids(&e.delivered));
    }
    if !e.never_delivered.is_empty() {
        let _ = writeln!(s, "never_delivered = [{}]", zxids(&e.never_delivered));
    }
    if let Some(n) = e.committed_at_least {
        let _ = writeln!(s, "committed_at_least = {n}");
    }
    if e.same_history {
        let _ = writeln!(s, "same_history = true");
    }
    if let Some(g) = &e.golden {
        let _ = writeln!(s, "golden = {}", string(&g.to_string_lossy()));
    }
    if !e.syncs.is_empty() {
        let v: Vec<String> = e
            .syncs
            .iter()
            .map(|sync| {
                let zxid = sync
                    .zxid
                    .map(|z| format!(", zxid = \"{z}\""))
                    .unwrap_or_default();
                format!(
                    "{{ learner = \"{}\", mode = \"{}\"{zxid} }}",
                    sync.learner,
                    sync.mode.name()
                )
            })
            .collect();
        let _ = writeln!(s, "sync = [{}]", v.join(", "));
    }
    s
}

fn action(s: &mut String, a: &Action) {
    match a {
        Action::Crash {
            target,
            restart_after_ms,
        } => {
            let _ = writeln!(s, "action = \"crash\"\ntarget = \"{}\"", selector(*target));
            if let Some(ms) = restart_after_ms {
                let _ = writeln!(s, "restart_after_ms = {ms}");
            }
        }
        Action::Restart { target } => {
            let _ = writeln!(
                s,
                "action = \"restart\"\ntarget = \"{}\"",
                selector(*target)
            );
        }
        Action::Partition {
            groups,
            one_way,
            heal_after_ms,
        } => {
            let groups: Vec<String> = groups
                .iter()
                .map(|g| {
                    let names: Vec<String> = g
                        .iter()
                        .map(|sel| format!("\"{}\"", selector(*sel)))
                        .collect();
                    format!("[{}]", names.join(", "))
                })
                .collect();
            let _ = writeln!(
                s,
                "action = \"partition\"\ngroups = [{}]",
                groups.join(", ")
            );
            let _ = writeln!(s, "one_way = {one_way}");
            if let Some(ms) = heal_after_ms {
                let _ = writeln!(s, "heal_after_ms = {ms}");
            }
        }
        Action::Isolate {
            target,
            heal_after_ms,
        } => {
            let _ = writeln!(
                s,
                "action = \"isolate\"\ntarget = \"{}\"",
                selector(*target)
            );
            if let Some(ms) = heal_after_ms {
                let _ = writeln!(s, "heal_after_ms = {ms}");
            }
        }
        Action::Heal => {
            let _ = writeln!(s, "action = \"heal\"");
        }
        Action::Pause {
            target,
            duration_ms,
        } => {
            let _ = writeln!(
                s,
                "action = \"pause\"\ntarget = \"{}\"\nduration_ms = {duration_ms}",
                selector(*target)
            );
        }
    }
}

/// A selector as scenario files spell it.
pub fn selector(sel: Selector) -> String {
    match sel {
        Selector::Leader => "leader".into(),
        Selector::Follower => "follower".into(),
        Selector::Observer => "observer".into(),
        Selector::Any => "any".into(),
        Selector::Server(id) => format!("s{}", id.0),
        Selector::Client => "client".into(),
        Selector::ClientN(n) => format!("c{n}"),
        Selector::RecipeLeader => "recipe-leader".into(),
        Selector::Rest => "rest".into(),
    }
}

/// A TOML string with every character that needs it escaped.
fn string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A float that reads back as the same value (TOML floats need a decimal point).
fn float(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

fn ids(ids: &[ServerId]) -> String {
    ids.iter()
        .map(|i| i.0.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `["1:1-4", "2:1-5"]` ranges of consecutive counters within one epoch.
fn log_ranges(log: &[Zxid]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < log.len() {
        let start = log[i];
        let mut end = start;
        while i + 1 < log.len()
            && log[i + 1].epoch() == start.epoch()
            && log[i + 1].counter() == end.counter() + 1
        {
            i += 1;
            end = log[i];
        }
        out.push(format!(
            "\"{}:{}-{}\"",
            start.epoch(),
            start.counter(),
            end.counter()
        ));
        i += 1;
    }
    out.join(", ")
}
