//! Scenarios that must load, and what they load into.

use scenario::*;
use std::path::{Path, PathBuf};
use zab::{Bug, ServerId, Zxid};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn ok(text: &str) -> Scenario {
    parse(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn ids(ids: &[u8]) -> Vec<ServerId> {
    ids.iter().copied().map(ServerId).collect()
}

#[test]
fn design_example_loads() {
    let path = fixture("design-example.toml");
    let s = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "leader-crash-before-commit");
    assert!(s.description.starts_with("The leader gathers"));
    assert_eq!(s.seed, 42);
    assert!(s.bugs.is_empty());
    assert_eq!(s.path, path);
    assert_eq!(s.cluster.participants, ids(&[1, 2, 3]));
    assert!(s.cluster.observers.is_empty());
    assert_eq!(
        (
            s.cluster.tick_ms,
            s.cluster.init_limit,
            s.cluster.sync_limit
        ),
        (100, 10, 5)
    );
    assert_eq!(s.cluster.committed, Some(Zxid::new(1, 4)));

    assert_eq!(s.servers.len(), 2);
    let s2 = &s.servers[0];
    assert_eq!(
        (s2.id, s2.accepted_epoch, s2.current_epoch),
        (ServerId(2), 2, 2)
    );
    let expected: Vec<Zxid> = (1..=4)
        .map(|c| Zxid::new(1, c))
        .chain((1..=5).map(|c| Zxid::new(2, c)))
        .collect();
    assert_eq!(s2.log, expected);
    assert_eq!(s.servers[1].id, ServerId(1));

    assert_eq!(
        s.network,
        Network {
            delay_ms: (1, 10),
            reset: 0.0,
            reorder: false
        }
    );
    assert_eq!(s.disk, Disk { fsync_ms: (1, 5) });
    assert_eq!(
        s.clients,
        Some(Clients {
            workload: Workload::Kv,
            count: 3,
            session_timeout_ms: 4000,
            ops: 50,
            write_ratio: 0.5,
            think_ms: (10, 100),
            fencing: false,
        })
    );
    assert_eq!(
        s.run,
        Run {
            duration_ms: 20_000,
            liveness_ms: 10_000
        }
    );

    assert_eq!(s.faults.len(), 4);
    assert_eq!(s.faults[0].trigger, Trigger::At { at_ms: 3000 });
    assert_eq!(
        s.faults[0].action,
        Action::Crash {
            target: Selector::Leader,
            restart_after_ms: Some(2000)
        }
    );
    assert_eq!(
        s.faults[1].trigger,
        Trigger::On {
            kind: OnKind::Send,
            name: "COMMIT".into(),
            from: Some(Selector::Leader),
            to: None,
            nth: 1,
            after_ms: 0,
            delay_ms: 0,
        }
    );
    assert_eq!(
        s.faults[2].action,
        Action::Partition {
            groups: vec![vec![Selector::Leader], vec![Selector::Rest]],
            one_way: false,
            heal_after_ms: Some(4000),
        }
    );
    assert_eq!(
        s.faults[3].action,
        Action::Pause {
            target: Selector::Follower,
            duration_ms: 6000
        }
    );
    // Each fault remembers the line of its [[faults]] header.
    let text = std::fs::read_to_string(&path).unwrap();
    let headers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("[[faults]]"))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(s.faults.iter().map(|f| f.line).collect::<Vec<_>>(), headers);

    assert_eq!(
        s.random,
        Some(RandomFaults {
            until_ms: 15_000,
            crash_per_min: 2.0,
            restart_ms: (500, 5000),
            partition_per_min: 1.0,
            partition_ms: (1000, 5000),
            pause_per_min: 0.0,
            one_way_per_min: 0.0,
            client_crash_per_min: 0.0,
            client_pause_per_min: 0.0,
            pause_ms: (500, 5000),
        })
    );
    assert_eq!(
        s.expect,
        Expect {
            violations: vec![],
            leader: true,
            ..Expect::default()
        }
    );
}

#[test]
fn minimal_scenario_gets_every_default() {
    let s = ok("name = \"x\"\n");
    assert_eq!(s.description, "");
    assert_eq!(s.seed, 0);
    assert!(s.bugs.is_empty());
    assert_eq!(
        s.cluster,
        Cluster {
            participants: ids(&[1, 2, 3]),
            observers: vec![],
            tick_ms: 100,
            init_limit: 10,
            sync_limit: 5,
            committed: None,
            snap_count: 100,
            initial_zxid_counter: 0,
        }
    );
    assert!(s.servers.is_empty());
    assert_eq!(
        s.network,
        Network {
            delay_ms: (1, 10),
            reset: 0.0,
            reorder: false
        }
    );
    assert_eq!(s.disk, Disk { fsync_ms: (1, 5) });
    assert_eq!(s.clients, None);
    assert_eq!(
        s.run,
        Run {
            duration_ms: 20_000,
            liveness_ms: 10_000
        }
    );
    assert!(s.faults.is_empty());
    assert_eq!(s.random, None);
    assert_eq!(
        s.expect,
        Expect {
            violations: vec![],
            leader: true,
            ..Expect::default()
        }
    );
}

#[test]
fn empty_tables_get_their_defaults() {
    let s =
        ok("name = \"x\"\n[clients]\n[random]\n[run]\nduration_ms = 3000\nliveness_ms = 5000\n");
    assert_eq!(
        s.clients,
        Some(Clients {
            workload: Workload::Kv,
            count: 3,
            session_timeout_ms: 4000,
            ops: 50,
            write_ratio: 0.5,
            think_ms: (10, 100),
            fencing: false,
        })
    );
    assert_eq!(
        s.random,
        Some(RandomFaults {
            until_ms: 0, // duration - liveness, saturating
            crash_per_min: 0.0,
            restart_ms: (500, 5000),
            partition_per_min: 0.0,
            partition_ms: (1000, 5000),
            pause_per_min: 0.0,
            one_way_per_min: 0.0,
            client_crash_per_min: 0.0,
            client_pause_per_min: 0.0,
            pause_ms: (500, 5000),
        })
    );
    let s = ok("name = \"x\"\n[random]\n");
    assert_eq!(s.random.unwrap().until_ms, 10_000);
}

#[test]
fn explicit_ids_and_observers() {
    let s = ok("name = \"x\"\n[cluster]\nids = [7, 3, 5]\nobservers = 2\n");
    assert_eq!(s.cluster.participants, ids(&[3, 5, 7]));
    assert_eq!(s.cluster.observers, ids(&[8, 9]));
    assert_eq!(s.cluster.all().collect::<Vec<_>>(), ids(&[3, 5, 7, 8, 9]));
}

#[test]
fn dotted_keys_and_inline_tables_are_ordinary_toml() {
    let s = ok(r#"
name = "dotted"
cluster.servers = 5
cluster.snap_count = 7
cluster.initial_zxid_counter = 4294967290
clients = { count = 2, workload = "lock" }
faults = [
  { on.receive = "ACK", on.to = "leader", on.after_ms = 50, on.delay_ms = 30, action = "isolate", target = 2 },
  { on = { state = "LEADING", from = "s5", nth = 2 }, action = "heal" },
]
"#);
    assert_eq!(s.cluster.participants.len(), 5);
    assert_eq!(
        (s.cluster.snap_count, s.cluster.initial_zxid_counter),
        (7, 4_294_967_290)
    );
    assert_eq!(s.clients.unwrap().workload, Workload::Lock);
    assert_eq!(
        s.faults[0].trigger,
        Trigger::On {
            kind: OnKind::Receive,
            name: "ACK".into(),
            from: None,
            to: Some(Selector::Leader),
            nth: 1,
            after_ms: 50,
            delay_ms: 30,
        }
    );
    assert_eq!(
        s.faults[0].action,
        Action::Isolate {
            target: Selector::Server(ServerId(2)),
            heal_after_ms: None
        }
    );
    assert_eq!(s.faults[1].action, Action::Heal);
    assert!(matches!(
        s.faults[1].trigger,
        Trigger::On {
            kind: OnKind::State,
            nth: 2,
            ..
        }
    ));
    assert_eq!(s.faults[0].line, 8); // the inline table's own line
}

#[test]
fn every_action_selector_bug_and_invariant_name() {
    let s = ok(r#"
name = "all-the-names"
bugs = ["zk-1154", "observer-votes"]
[cluster]
servers = 3
observers = 1
[clients]
count = 2
[[faults]]
at_ms = 1
action = "restart"
target = "s4"
[[faults]]
at_ms = 2
action = "partition"
groups = [["s1", "c1"], [2, "observer"], ["rest"]]
[[faults]]
at_ms = 3
action = "partition"
groups = [["client"], ["any"]]
one_way = true
[[faults]]
on = { send = "REQUEST", from = "c2" }
action = "pause"
target = "c2"
duration_ms = 1
[expect]
violations = ["committed-durability", "election-liveness"]
leader = false
"#);
    assert!(s.bugs.has(Bug::Zk1154) && s.bugs.has(Bug::ObserverVotes));
    assert_eq!(s.bugs.iter().count(), 2);
    assert_eq!(
        s.faults[0].action,
        Action::Restart {
            target: Selector::Server(ServerId(4))
        }
    );
    assert_eq!(
        s.faults[1].action,
        Action::Partition {
            groups: vec![
                vec![Selector::Server(ServerId(1)), Selector::ClientN(1)],
                vec![Selector::Server(ServerId(2)), Selector::Observer],
                vec![Selector::Rest],
            ],
            one_way: false,
            heal_after_ms: None,
        }
    );
    assert!(matches!(
        s.faults[2].action,
        Action::Partition { one_way: true, .. }
    ));
    assert_eq!(
        s.faults[3].action,
        Action::Pause {
            target: Selector::ClientN(2),
            duration_ms: 1
        }
    );
    assert_eq!(
        s.expect.violations,
        ["committed-durability", "election-liveness"]
    );
    assert!(!s.expect.leader);
}

#[test]
fn single_counter_log_entries_and_committed_quorum() {
    let s = ok(r#"
name = "logs"
[cluster]
servers = 5
committed = "2:7"
[[server]]
id = 1
accepted_epoch = 3
current_epoch = 2
log = ["1:1-2", "2:7", "3:1"]
[[server]]
id = 2
accepted_epoch = 2
current_epoch = 2
log = ["1:1-2", "2:7"]
[[server]]
id = 3
accepted_epoch = 2
log = ["1:1-2", "2:7-8"]
"#);
    assert_eq!(
        s.servers[0].log,
        vec![
            Zxid::new(1, 1),
            Zxid::new(1, 2),
            Zxid::new(2, 7),
            Zxid::new(3, 1)
        ]
    );
    assert_eq!(s.servers[2].current_epoch, 0);
    assert_eq!(s.cluster.committed, Some(Zxid::new(2, 7)));
}

#[test]
fn zoo_cfg_import() {
    let path = fixture("zoo-cfg/ensemble.toml");
    let s = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.cluster.participants, ids(&[1, 2, 3, 5, 7]));
    assert_eq!(s.cluster.observers, ids(&[9]));
    assert_eq!(
        (
            s.cluster.tick_ms,
            s.cluster.init_limit,
            s.cluster.sync_limit
        ),
        (2000, 10, 5)
    );
    assert_eq!(
        s.faults[0].action,
        Action::Isolate {
            target: Selector::Server(ServerId(9)),
            heal_after_ms: None
        }
    );
}

#[test]
fn zoo_cfg_without_timeouts_keeps_the_scenario_ones() {
    let dir = std::env::temp_dir().join(format!("zabsim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("no-timeouts.cfg");
    std::fs::write(&cfg, "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n").unwrap();
    let text =
        "name = \"x\"\n[cluster]\nzoo_cfg = \"no-timeouts.cfg\"\ntick_ms = 50\nobservers = 1\n";
    let s = parse(text, &dir.join("s.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.cluster.tick_ms, 50);
    assert_eq!(s.cluster.participants, ids(&[1, 2, 3]));
    assert_eq!(s.cluster.observers, ids(&[4]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn error_display_is_file_line_key_message() {
    let e = parse(
        "name = \"x\"\n[cluster]\nservers = 0\n",
        Path::new("scenarios/x.toml"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "scenarios/x.toml:3: cluster.servers: must be between 1 and 15, got 0"
    );
    let e: Box<dyn std::error::Error> = Box::new(e);
    assert!(e.to_string().starts_with("scenarios/x.toml:3:"));
}
