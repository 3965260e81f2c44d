//! Malformed scenarios: each must be rejected with the line and the dotted key to fix.

use scenario::{parse, ScenarioError};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn error_at(path: &Path, text: &str) -> ScenarioError {
    match parse(text, path) {
        Ok(s) => panic!("accepted {text:?}: {s:?}"),
        Err(e) => e,
    }
}

/// Asserts that `text` is rejected at `line` (1-based), `key`, with a message containing `needle`.
#[track_caller]
fn rejects(text: &str, line: usize, key: &str, needle: &str) {
    let e = error_at(Path::new("t.toml"), text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (Some(line), key),
        "{text}\n=> {e}"
    );
    assert!(e.message.contains(needle), "{e}\n(wanted {needle:?})");
    assert_eq!(e.file, Path::new("t.toml"));
    let prefix = if key.is_empty() {
        format!("t.toml:{line}: ")
    } else {
        format!("t.toml:{line}: {key}: ")
    };
    assert!(e.to_string().starts_with(&prefix), "{e}");
}

const N: &str = "name = \"t\"\n";

fn with_name(rest: &str) -> String {
    format!("{N}{rest}")
}

// --- top level -------------------------------------------------------------------------------

#[test]
fn unknown_top_level_key() {
    rejects(
        &with_name("descripton = \"typo\"\n"),
        2,
        "descripton",
        "unknown key `descripton`",
    );
    rejects(
        &with_name("[[fault]]\nat_ms = 1\n"),
        2,
        "fault",
        "unknown key `fault`",
    );
}

#[test]
fn toml_syntax_errors_have_a_line_and_no_key() {
    rejects(&with_name("[cluster\nservers = 3\n"), 2, "", "");
    rejects(&with_name("seed = 1\nseed = 2\n"), 3, "", "duplicate key");
}

/// A value toml cannot even read still names the key it was written for.
#[test]
fn a_value_toml_cannot_read_names_its_key() {
    rejects("name = \"unterminated\n", 1, "name", "invalid basic string");
    rejects(
        &with_name("seed = 99999999999999999999\n"),
        2,
        "seed",
        "too large",
    );
    rejects(
        &with_name("[run]\nduration_ms = 99999999999999999999\n"),
        3,
        "run.duration_ms",
        "too large",
    );
}

#[test]
fn bad_names() {
    rejects("name = \"Hello World\"\n", 1, "name", "[a-z0-9-]+");
    rejects("\nname = \"\"\n", 2, "name", "[a-z0-9-]+");
    let e = error_at(Path::new("t.toml"), "seed = 1\n");
    assert_eq!((e.line, e.key.as_str()), (None, "name"));
    assert_eq!(e.to_string(), format!("t.toml: name: {}", e.message));
}

#[test]
fn wrong_value_types() {
    rejects(
        &with_name("[cluster]\nservers = \"3\"\n"),
        3,
        "cluster.servers",
        "expected an integer",
    );
    rejects(
        &with_name("cluster = 3\n"),
        2,
        "cluster",
        "expected a table",
    );
    rejects(&with_name("seed = 1979-05-27\n"), 2, "seed", "invalid type");
    rejects(
        &with_name("[[server]]\nid = 1\nlog = [\"1:1\", 2]\n"),
        4,
        "server[0].log[1]",
        "expected a string",
    );
    rejects(
        &with_name("seed = -1\n"),
        2,
        "seed",
        "must be between 0 and",
    );
}

#[test]
fn unknown_bug_lists_the_valid_names() {
    rejects(
        &with_name("bugs = [\"zk-335\",\n  \"zk-9999\"]\n"),
        3,
        "bugs[1]",
        "unknown bug \"zk-9999\"",
    );
    let e = error_at(Path::new("t.toml"), &with_name("bugs = [\"nope\"]\n"));
    assert!(e.message.contains("commit-before-quorum"), "{e}");
}

#[test]
fn unknown_invariant_in_expect() {
    rejects(
        &with_name("[expect]\nviolations = [\"linearizability\"]\n"),
        3,
        "expect.violations[0]",
        "unknown invariant \"linearizability\"",
    );
    rejects(
        &with_name("[expect]\nleader = \"yes\"\n"),
        3,
        "expect.leader",
        "expected true, false or a server",
    );
}

// --- [cluster] -------------------------------------------------------------------------------

#[test]
fn unknown_key_inside_cluster() {
    rejects(
        &with_name("[cluster]\nservers = 3\nserverz = 1\n"),
        4,
        "cluster.serverz",
        "unknown key",
    );
}

#[test]
fn server_count_out_of_range() {
    rejects(
        &with_name("[cluster]\nservers = 0\n"),
        3,
        "cluster.servers",
        "between 1 and 15, got 0",
    );
    rejects(
        &with_name("[cluster]\nservers = 16\n"),
        3,
        "cluster.servers",
        "got 16",
    );
}

#[test]
fn servers_and_ids_that_disagree() {
    rejects(
        &with_name("[cluster]\nservers = 2\nids = [1, 2, 3]\n"),
        4,
        "cluster.ids",
        "disagree",
    );
    let ok = scenario::parse(
        &with_name("[cluster]\nservers = 3\nids = [1, 5, 9]\n"),
        Path::new("x.toml"),
    );
    let ids: Vec<u8> = ok
        .expect("agreeing servers and ids are fine")
        .cluster
        .participants
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(ids, [1, 5, 9]);
}

#[test]
fn duplicate_and_out_of_range_ids() {
    rejects(
        &with_name("[cluster]\nids = [1, 2,\n  2]\n"),
        4,
        "cluster.ids[2]",
        "listed twice",
    );
    rejects(
        &with_name("[cluster]\nids = [0, 1]\n"),
        3,
        "cluster.ids[0]",
        "between 1 and 255, got 0",
    );
    rejects(
        &with_name("[cluster]\nids = [1, 300]\n"),
        3,
        "cluster.ids[1]",
        "got 300",
    );
    rejects(
        &with_name("[cluster]\nids = []\n"),
        3,
        "cluster.ids",
        "between 1 and 15 ids",
    );
}

#[test]
fn observer_ids_past_255() {
    rejects(
        &with_name("[cluster]\nids = [250]\nobservers = 6\n"),
        4,
        "cluster.observers",
        "above 255",
    );
}

#[test]
fn other_cluster_ranges() {
    rejects(
        &with_name("[cluster]\nsnap_count = 0\n"),
        3,
        "cluster.snap_count",
        "between 1",
    );
    rejects(
        &with_name("[cluster]\ninitial_zxid_counter = 4294967295\n"),
        3,
        "cluster.initial_zxid_counter",
        "between 0 and 4294967294",
    );
    rejects(
        &with_name("[cluster]\ntick_ms = 0\n"),
        3,
        "cluster.tick_ms",
        "between 1",
    );
    rejects(
        &with_name("[cluster]\ncommitted = \"1-4\"\n"),
        3,
        "cluster.committed",
        "epoch:counter",
    );
}

#[test]
fn committed_without_a_quorum_holding_the_txns() {
    let text = with_name(
        "[cluster]\nservers = 3\ncommitted = \"1:4\"\n\
         [[server]]\nid = 1\naccepted_epoch = 1\nlog = [\"1:1-4\"]\n\
         [[server]]\nid = 2\naccepted_epoch = 1\nlog = [\"1:1-3\"]\n",
    );
    rejects(&text, 4, "cluster.committed", "txn 1:4 is logged by s1");
    // The committed zxid itself must exist somewhere.
    let text = with_name("[cluster]\ncommitted = \"1:1\"\n");
    rejects(&text, 3, "cluster.committed", "in no [[server]] log");
    // Observers' logs do not count towards the quorum.
    let text = with_name(
        "[cluster]\nservers = 1\nobservers = 1\ncommitted = \"1:1\"\n\
         [[server]]\nid = 2\naccepted_epoch = 1\nlog = [\"1:1\"]\n",
    );
    rejects(&text, 5, "cluster.committed", "no participant");
}

// --- zoo.cfg ---------------------------------------------------------------------------------

#[test]
fn missing_zoo_cfg_names_the_scenario_line_and_the_path() {
    let path = fixture("zoo-cfg/missing.toml");
    let e = error_at(&path, &with_name("[cluster]\nzoo_cfg = \"nowhere.cfg\"\n"));
    assert_eq!(
        (e.file.as_path(), e.line, e.key.as_str()),
        (path.as_path(), Some(3), "cluster.zoo_cfg")
    );
    assert!(
        e.message
            .contains(&fixture("zoo-cfg/nowhere.cfg").display().to_string()),
        "{e}"
    );
}

#[test]
fn zoo_cfg_plus_servers_or_ids() {
    let path = fixture("zoo-cfg/x.toml");
    let e = error_at(
        &path,
        &with_name("[cluster]\nzoo_cfg = \"zoo.cfg\"\nservers = 3\n"),
    );
    assert_eq!(
        (e.line, e.key.as_str()),
        (Some(4), "cluster.servers"),
        "{e}"
    );
    let e = error_at(
        &path,
        &with_name("[cluster]\nids = [1]\nzoo_cfg = \"zoo.cfg\"\n"),
    );
    assert_eq!((e.line, e.key.as_str()), (Some(3), "cluster.ids"), "{e}");
}

#[test]
fn zoo_cfg_and_cluster_both_setting_a_timeout() {
    let path = fixture("zoo-cfg/x.toml");
    let e = error_at(
        &path,
        &with_name("[cluster]\nzoo_cfg = \"zoo.cfg\"\ninit_limit = 3\n"),
    );
    assert_eq!(
        (e.line, e.key.as_str()),
        (Some(4), "cluster.init_limit"),
        "{e}"
    );
    assert!(
        e.message
            .contains("given both in zoo.cfg (initLimit, line 3)"),
        "{e}"
    );
    let e = error_at(
        &path,
        &with_name("[cluster]\nzoo_cfg = \"zoo.cfg\"\nobservers = 1\n"),
    );
    assert_eq!(
        (e.line, e.key.as_str()),
        (Some(4), "cluster.observers"),
        "{e}"
    );
}

#[test]
fn malformed_zoo_cfg_line_names_the_zoo_cfg() {
    let path = fixture("zoo-cfg/x.toml");
    let e = error_at(&path, &with_name("[cluster]\nzoo_cfg = \"bad.cfg\"\n"));
    assert_eq!(e.file, fixture("zoo-cfg/bad.cfg"));
    assert_eq!((e.line, e.key.as_str()), (Some(3), "server.2"), "{e}");
    assert!(
        e.to_string()
            .contains("bad.cfg:3: server.2: malformed server address"),
        "{e}"
    );
}

// --- [[server]] ------------------------------------------------------------------------------

#[test]
fn bad_log_range() {
    let text = with_name("[[server]]\nid = 1\naccepted_epoch = 2\nlog = [\"1:1-4\", \"2:5-3\"]\n");
    rejects(&text, 5, "server[0].log[1]", "runs backwards");
    let text = with_name("[[server]]\nid = 1\naccepted_epoch = 2\nlog = [\"1:0-3\"]\n");
    rejects(&text, 5, "server[0].log[0]", "counters from 1");
    let text = with_name("[[server]]\nid = 1\naccepted_epoch = 2\nlog = [\"one:1\"]\n");
    rejects(&text, 5, "server[0].log[0]", "epoch:first-last");
}

#[test]
fn overlapping_or_descending_log_ranges() {
    let text =
        with_name("[[server]]\nid = 1\naccepted_epoch = 2\nlog = [\"1:1-4\",\n \"1:3-5\"]\n");
    rejects(&text, 6, "server[0].log[1]", "ends at 1:4");
    let text = with_name("[[server]]\nid = 1\naccepted_epoch = 2\nlog = [\"2:1\", \"1:9\"]\n");
    rejects(&text, 5, "server[0].log[1]", "ascending");
}

#[test]
fn log_from_an_epoch_not_yet_accepted() {
    let text = with_name("[[server]]\nid = 1\naccepted_epoch = 1\nlog = [\"2:1\"]\n");
    rejects(&text, 5, "server[0].log[0]", "accepted_epoch is 1");
}

#[test]
fn current_epoch_above_accepted_epoch() {
    let text = with_name("[[server]]\nid = 3\naccepted_epoch = 1\ncurrent_epoch = 2\n");
    rejects(
        &text,
        5,
        "server[0].current_epoch",
        "greater than accepted_epoch",
    );
}

#[test]
fn server_tables_for_unknown_or_repeated_ids() {
    rejects(
        &with_name("[[server]]\nid = 4\n"),
        3,
        "server[0].id",
        "there is no server 4",
    );
    rejects(
        &with_name("[[server]]\nid = 1\n[[server]]\nid = 1\n"),
        5,
        "server[1].id",
        "already has",
    );
    rejects(
        &with_name("[[server]]\naccepted_epoch = 1\n"),
        2,
        "server[0].id",
        "required",
    );
}

// --- value ranges ----------------------------------------------------------------------------

#[test]
fn range_with_min_above_max() {
    rejects(
        &with_name("[network]\ndelay_ms = [10, 5]\n"),
        3,
        "network.delay_ms",
        "min must not exceed max",
    );
    rejects(
        &with_name("[disk]\nfsync_ms = [1]\n"),
        3,
        "disk.fsync_ms",
        "[min, max]",
    );
    rejects(
        &with_name("[disk]\nfsync_ms = [1, 1000000000]\n"),
        3,
        "disk.fsync_ms[1]",
        "999999999",
    );
}

#[test]
fn probabilities_counts_and_durations() {
    rejects(
        &with_name("[network]\nreset = 1.5\n"),
        3,
        "network.reset",
        "between 0.0 and 1.0",
    );
    rejects(
        &with_name("[network]\nreset = nan\n"),
        3,
        "network.reset",
        "NaN",
    );
    rejects(
        &with_name("[clients]\ncount = 65\n"),
        3,
        "clients.count",
        "between 1 and 64",
    );
    rejects(
        &with_name("[clients]\nops = 1000001\n"),
        3,
        "clients.ops",
        "between 0 and 1000000",
    );
    rejects(
        &with_name("[clients]\nwrite_ratio = -0.1\n"),
        3,
        "clients.write_ratio",
        "between 0.0",
    );
    rejects(
        &with_name("[clients]\nworkload = \"zab\"\n"),
        3,
        "clients.workload",
        "unknown workload",
    );
    rejects(
        &with_name("[run]\nduration_ms = 0\n"),
        3,
        "run.duration_ms",
        "between 1 and",
    );
    rejects(
        &with_name("[random]\ncrash_per_min = -1.0\n"),
        3,
        "random.crash_per_min",
        "got -1",
    );
    rejects(
        &with_name("[random]\npause_per_min = inf\n"),
        3,
        "random.pause_per_min",
        "inf",
    );
}

// --- [[faults]] ------------------------------------------------------------------------------

const FAULT: &str = "[[faults]]\nat_ms = 1\n";

#[test]
fn unknown_action() {
    rejects(
        &with_name("[[faults]]\nat_ms = 1\naction = \"reboot\"\n"),
        4,
        "faults[0].action",
        "unknown action",
    );
    rejects(
        &with_name("[[faults]]\nat_ms = 1\n"),
        2,
        "faults[0].action",
        "required",
    );
}

#[test]
fn fault_with_both_at_ms_and_on() {
    let text = with_name("[[faults]]\nat_ms = 1\non = { send = \"ACK\" }\naction = \"heal\"\n");
    rejects(&text, 4, "faults[0].on", "not both");
    rejects(
        &with_name("[[faults]]\naction = \"heal\"\n"),
        2,
        "faults[0]",
        "needs a trigger",
    );
}

#[test]
fn selector_observer_without_observers() {
    let text = with_name(&format!(
        "{FAULT}action = \"crash\"\ntarget = \"observer\"\n"
    ));
    rejects(&text, 5, "faults[0].target", "no observers");
}

#[test]
fn selector_for_a_server_that_does_not_exist() {
    let text = with_name(&format!(
        "{FAULT}action = \"heal\"\n{FAULT}action = \"crash\"\ntarget = \"s9\"\n"
    ));
    rejects(&text, 8, "faults[1].target", "there is no server 9");
    let text = with_name(&format!("{FAULT}action = \"restart\"\ntarget = \"s0\"\n"));
    rejects(&text, 5, "faults[0].target", "no server 0");
}

#[test]
fn selectors_that_can_never_match() {
    let crash = |target: &str, extra: &str| {
        with_name(&format!(
            "{extra}{FAULT}action = \"crash\"\ntarget = {target}\n"
        ))
    };
    rejects(
        &crash("\"client\"", ""),
        5,
        "faults[0].target",
        "no [clients] table",
    );
    rejects(
        &crash("\"c4\"", "[clients]\ncount = 3\n"),
        7,
        "faults[0].target",
        "no client 4",
    );
    rejects(
        &crash("\"c0\"", "[clients]\n"),
        6,
        "faults[0].target",
        "numbered from 1",
    );
    rejects(
        &crash("\"follower\"", "[cluster]\nservers = 1\n"),
        7,
        "faults[0].target",
        "no followers",
    );
    rejects(
        &crash("\"rest\"", ""),
        5,
        "faults[0].target",
        "only meaningful inside partition",
    );
    rejects(
        &crash("\"primary\"", ""),
        5,
        "faults[0].target",
        "unknown selector",
    );
    rejects(&crash("true", ""), 5, "faults[0].target", "got boolean");
}

#[test]
fn keys_that_do_not_belong_to_the_action() {
    let text = with_name(&format!(
        "{FAULT}action = \"crash\"\ntarget = \"any\"\nduration_ms = 5\n"
    ));
    rejects(
        &text,
        6,
        "faults[0].duration_ms",
        "not used by action \"crash\"",
    );
    let text = with_name(&format!("{FAULT}action = \"heal\"\ntarget = \"any\"\n"));
    rejects(&text, 5, "faults[0].target", "takes no other keys");
    let text = with_name(&format!("{FAULT}action = \"pause\"\ntarget = \"any\"\n"));
    rejects(
        &text,
        2,
        "faults[0].duration_ms",
        "required by action \"pause\"",
    );
    let text = with_name(&format!("{FAULT}action = \"isolate\"\n"));
    rejects(
        &text,
        2,
        "faults[0].target",
        "required by action \"isolate\"",
    );
    let text = with_name(&format!(
        "{FAULT}action = \"crash\"\ntarget = \"any\"\nbogus = 1\n"
    ));
    rejects(&text, 6, "faults[0].bogus", "unknown key `bogus`");
}

#[test]
fn bad_partitions() {
    let part = |groups: &str, extra: &str| {
        with_name(&format!(
            "{FAULT}action = \"partition\"\ngroups = {groups}\n{extra}"
        ))
    };
    rejects(
        &part("[[\"leader\"]]", ""),
        5,
        "faults[0].groups",
        "at least 2 groups",
    );
    rejects(
        &part("[[\"s1\"], []]", ""),
        5,
        "faults[0].groups[1]",
        "at least one member",
    );
    rejects(
        &part("[[\"s1\"], [\"s2\", 1]]", ""),
        5,
        "faults[0].groups[1][1]",
        "already named in groups[0]",
    );
    rejects(
        &part("[[\"s1\"], [\"s2\"], [\"rest\"]]", "one_way = true\n"),
        6,
        "faults[0].one_way",
        "exactly 2",
    );
    rejects(
        &part("[[\"s1\"], [\"s7\"]]", ""),
        5,
        "faults[0].groups[1][0]",
        "no server 7",
    );
}

#[test]
fn bad_triggers() {
    let on = |trigger: &str| with_name(&format!("[[faults]]\non = {trigger}\naction = \"heal\"\n"));
    rejects(
        &on("{ send = \"COMMITT\" }"),
        3,
        "faults[0].on.send",
        "unknown message \"COMMITT\"",
    );
    rejects(
        &on("{ state = \"DEAD\" }"),
        3,
        "faults[0].on.state",
        "unknown state",
    );
    rejects(
        &on("{ send = \"ACK\", receive = \"ACK\" }"),
        3,
        "faults[0].on.receive",
        "only one",
    );
    rejects(
        &on("{ from = \"leader\" }"),
        3,
        "faults[0].on",
        "exactly one of",
    );
    rejects(
        &on("{ send = \"ACK\", bogus = 1 }"),
        3,
        "faults[0].on.bogus",
        "unknown key `bogus`",
    );
    rejects(
        &on("{ send = \"ACK\", nth = 0 }"),
        3,
        "faults[0].on.nth",
        "between 1",
    );
    rejects(
        &on("{ state = \"LEADING\", to = \"s1\" }"),
        3,
        "faults[0].on.to",
        "no receiver",
    );
    rejects(
        &on("{ receive = \"ACK\", from = \"observer\" }"),
        3,
        "faults[0].on.from",
        "no observers",
    );
    rejects(
        &on("{ send = \"ACK\", after_ms = -5 }"),
        3,
        "faults[0].on.after_ms",
        "between 0",
    );
}

#[test]
fn unreadable_scenario_file_has_no_line() {
    let path = fixture("no-such-scenario.toml");
    let e = scenario::load(&path).unwrap_err();
    assert_eq!(
        (e.file.as_path(), e.line, e.key.as_str()),
        (path.as_path(), None, "")
    );
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read", path.display())),
        "{e}"
    );
}

// --- [expect] facts ---------------------------------------------------------------------------

#[test]
fn expect_facts_name_what_is_wrong() {
    let cluster = "[cluster]\nservers = 3\n";
    rejects(
        &with_name(&format!("{cluster}[expect]\nleader = \"s7\"\n")),
        5,
        "expect.leader",
        "no server 7",
    );
    rejects(
        &with_name(&format!("{cluster}[expect]\nleader = \"follower\"\n")),
        5,
        "expect.leader",
        "expected true, false or a server",
    );
    rejects(
        &with_name(&format!(
            "{cluster}[expect]\ndelivered = [\"1:1\", \"one\"]\n"
        )),
        5,
        "expect.delivered[1]",
        "epoch:counter",
    );
    rejects(
        &with_name(&format!(
            "{cluster}[expect]\nsync = [{{ learner = \"s1\", mode = \"FULL\" }}]\n"
        )),
        5,
        "expect.sync[0].mode",
        "DIFF, TRUNC or SNAP",
    );
    rejects(
        &with_name(&format!(
            "{cluster}[expect]\nsync = [{{ mode = \"SNAP\" }}]\n"
        )),
        5,
        "expect.sync[0]",
        "learner",
    );
    rejects(
        &with_name(&format!("{cluster}[expect]\nelections = -1\n")),
        5,
        "expect.elections",
        "between 0",
    );
    rejects(
        &with_name(&format!("{cluster}[expect]\ngolden = \"/tmp/story.txt\"\n")),
        5,
        "expect.golden",
        "relative to the scenario file",
    );
    rejects(
        &with_name(&format!("{cluster}[expect]\ngolden = 3\n")),
        5,
        "expect.golden",
        "string",
    );
}
