//! Protocol coverage (`Options::coverage`): library scenarios whose story is one situation
//! reach it, the count never changes the run, and a run without it reports nothing.

use sim::coverage::{situations, Coverage};
use std::path::Path;

fn load(name: &str) -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    scenario::load(&path).expect("scenario loads")
}

fn run(sc: &scenario::Scenario, coverage: bool) -> sim::Outcome {
    let mut opts = sim::Options::new(sc.seed);
    opts.coverage = coverage;
    sim::run(sc, opts)
}

fn count(o: &sim::Outcome, group: &str, name: &str) -> u32 {
    let i =
        Coverage::index_of(group, name).unwrap_or_else(|| panic!("no situation {group}: {name}"));
    o.coverage.count(i)
}

/// The situations a run reached, for failure messages.
fn reached(o: &sim::Outcome) -> String {
    let all = situations();
    o.coverage
        .reached()
        .map(|(i, c)| format!("{}: {} x{c}", all[i].group, all[i].name))
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_reached(o: &sim::Outcome, group: &str, name: &str) {
    assert!(
        count(o, group, name) > 0,
        "{group}: {name} not reached; reached:\n{}",
        reached(o)
    );
}

#[test]
fn counting_never_changes_the_run_and_off_counts_nothing() {
    let sc = load("leader-crash-before-commit.toml");
    let on = run(&sc, true);
    let off = run(&sc, false);
    assert_eq!(on.trace_hash, off.trace_hash);
    assert_eq!(on.events, off.events);
    assert!(on.coverage.reached().count() > 10, "{}", reached(&on));
    assert_eq!(off.coverage.reached().count(), 0);
}

#[test]
fn sync_modes_are_told_apart() {
    let snap = run(&load("follower-far-behind-snap.toml"), true);
    assert_reached(&snap, "sync", "SNAP to a follower");
    let trunc = run(&load("trunc-below-snapshot-zxid.toml"), true);
    let truncs = count(&trunc, "sync", "TRUNC to a follower")
        + count(&trunc, "sync", "TRUNC+DIFF to a follower");
    assert!(truncs > 0, "{}", reached(&trunc));
    let plain = run(&load("election-basic.toml"), true);
    assert_reached(&plain, "sync", "DIFF with no txns to a follower");
    assert_eq!(count(&plain, "sync", "SNAP to a follower"), 0);
    let observer = run(&load("observer-catch-up.toml"), true);
    let observers: u32 = situations()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.group == "sync" && s.name.ends_with("to an observer"))
        .map(|(i, _)| observer.coverage.count(i))
        .sum();
    assert!(observers > 0, "{}", reached(&observer));
}

#[test]
fn elections_say_what_decided_them() {
    // Empty disks: every candidate ties on epoch and zxid, the highest id wins.
    let ids = run(&load("election-basic.toml"), true);
    assert_reached(
        &ids,
        "election",
        "won on the higher server id (epoch and zxid tied)",
    );
    assert_eq!(
        count(&ids, "election", "won on a higher zxid (epochs tied)"),
        0
    );
}

#[test]
fn faults_count_where_they_landed() {
    let o = run(&load("leader-crash-before-commit.toml"), true);
    assert_reached(&o, "fault", "crash of a server LEADING in BROADCAST");
    // Its trigger fires on the leader's first COMMIT.
    assert_reached(&o, "trigger", "fault triggered on sending COMMIT");
    assert_reached(&o, "receive", "ACK received as LEADING in BROADCAST");
    let newleader = run(&load("follower-crash-at-newleader.toml"), true);
    assert_reached(
        &newleader,
        "trigger",
        "fault triggered on receiving NEWLEADER",
    );
    assert_reached(
        &newleader,
        "fault",
        "crash of a server FOLLOWING in SYNCHRONIZATION",
    );
}

#[test]
fn the_rollover_and_checker_paths_count() {
    let o = run(&load("zxid-rollover.toml"), true);
    assert_reached(&o, "leadership", "leader gave up at the zxid rollover");
    assert_reached(
        &o,
        "checker",
        "total-order: delivery compared with another server's",
    );
}

#[test]
fn situations_are_unique_and_read_back() {
    let all = situations();
    let mut names: Vec<(&str, &str)> = all.iter().map(|s| (s.group, s.name.as_str())).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "a situation is listed twice");
    let o = run(&load("election-basic.toml"), true);
    let pairs: Vec<(usize, u32)> = o.coverage.reached().collect();
    assert_eq!(Coverage::from_reached(&pairs), Some(o.coverage.clone()));
    assert_eq!(
        Coverage::from_reached(&[(all.len(), 1)]),
        None,
        "no such index"
    );
    assert_eq!(
        Coverage::from_reached(&[(2, 1), (1, 1)]),
        None,
        "not ascending"
    );
}
