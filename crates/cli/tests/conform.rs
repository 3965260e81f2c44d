//! `sim conform` against a real ZooKeeper 3.8.0 (Debian's `zookeeper` package). Without
//! java or the package the real cases print `SKIPPED` and pass, unless ZABSIM_REQUIRE_ZK=1
//! (CI sets it), where they fail. Each case checks that nothing it started is left: no
//! process mentions its temporary directory, and the directory holds nothing.

mod common;

use common::root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Real cases start several JVMs each; one at a time keeps ZooKeeper's 100 ms ticks honest on
/// a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn zookeeper_here() -> bool {
    conform::Install::debian_or_skip("the real-ZooKeeper conformance case").is_some()
}

/// A fresh temporary directory for one `sim conform`: its run directory goes inside.
fn tmp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("zabsim-conform-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn conform(tmp: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(root())
        .env("TMPDIR", tmp)
        .arg("conform")
        .args(args)
        .output()
        .expect("sim runs")
}

/// Nothing of the run is left: no process whose command line names the directory, and the
/// directory is empty.
fn assert_nothing_left(tmp: &Path) {
    let needle = tmp.as_os_str().as_encoded_bytes().to_vec();
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if cmdline
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
            {
                left.push(entry.file_name());
            }
        }
    }
    assert!(left.is_empty(), "processes left running: {left:?}");
    let files: Vec<_> = std::fs::read_dir(tmp).expect("tmp").flatten().collect();
    assert!(
        files.is_empty(),
        "left behind in {}: {files:?}",
        tmp.display()
    );
    let _ = std::fs::remove_dir(tmp);
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn three_servers_elect_the_highest_id_on_real_zookeeper_as_simulated() {
    let _g = serial();
    if !zookeeper_here() {
        return;
    }
    let dir = tmp("elect");
    let out = conform(
        &dir,
        &[
            "scenarios/conformance/three-servers-elect.toml",
            "--json",
            "--runs",
            "20",
        ],
    );
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert_eq!(v["agree"], true);
    assert_eq!(v["real"]["leader"], 3);
    assert_eq!(v["real"]["epoch"], 1);
    let fields = v["fields"].as_array().expect("fields");
    assert!(fields
        .iter()
        .any(|f| f["field"] == "leader" && f["agree"] == true));
    assert_nothing_left(&dir);
}

#[test]
fn two_of_four_elect_nobody_on_real_zookeeper() {
    let _g = serial();
    if !zookeeper_here() {
        return;
    }
    let dir = tmp("four");
    let out = conform(
        &dir,
        &[
            "scenarios/conformance/two-of-four-no-quorum.toml",
            "--json",
            "--runs",
            "20",
        ],
    );
    let v = json(&out);
    // The comparison's verdict for this case is in docs/conformance.md; what must hold on
    // the real servers is that two of four elect nobody.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{v:#}");
    assert_eq!(v["real"]["leader"], serde_json::Value::Null, "{v:#}");
    assert_eq!(
        v["real"]["elections"].as_array().map(Vec::len),
        Some(1),
        "{v:#}"
    );
    assert_nothing_left(&dir);
}

#[test]
fn the_write_that_reached_a_quorum_survives_the_leader_crash_on_real_zookeeper() {
    let _g = serial();
    if !zookeeper_here() {
        return;
    }
    let dir = tmp("commit");
    // The report goes outside the run's directory, which must be left empty.
    let page_path = std::env::temp_dir().join(format!(
        "zabsim-conform-test-{}-report.html",
        std::process::id()
    ));
    let out = conform(
        &dir,
        &[
            "scenarios/leader-crash-before-commit.toml",
            "--json",
            "--runs",
            "20",
            "--report",
            page_path.to_str().expect("utf-8 path"),
        ],
    );
    let v = json(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{v:#}");
    let field = |name: &str| {
        v["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["field"] == name))
            .unwrap_or_else(|| panic!("no field {name}: {v:#}"))
            .clone()
    };
    // The leader crashed on its first COMMIT, before any follower got it ...
    let faults = v["real"]["faults"].as_array().expect("faults");
    assert!(faults.iter().any(|f| f["fault"] == "crash s3"), "{v:#}");
    // ... and the txn a quorum had logged (1:1) is committed by the next leader, as the
    // simulation says.
    assert_eq!(field("expected txns")["real"], "as expected", "{v:#}");
    assert_eq!(field("expected txns")["agree"], true, "{v:#}");
    assert_eq!(field("epoch")["agree"], true, "{v:#}");
    assert_eq!(v["real"]["committed_zxids"][0], "1:1", "{v:#}");
    assert_nothing_left(&dir);

    // The report draws the real ensemble and the closest simulated seed on one page, with
    // the comparison's verdict.
    let page = std::fs::read_to_string(&page_path).expect("the report was written");
    let _ = std::fs::remove_file(&page_path);
    let svg = |id: &str| {
        let at = page
            .find(&format!(r#"<svg id="{id}""#))
            .unwrap_or_else(|| panic!("no {id} in the report"));
        let rest = &page[at..];
        rest[..rest.find("</svg>").expect("svg closes")].to_string()
    };
    let (real, simulated) = (svg("real-timeline"), svg("sim-timeline"));
    // The real s3 led in epoch 1 and was crashed by the harness; a new leader followed. (s3
    // leads for a few hundred ms only, so its phases may be drawn merged into one span.)
    assert!(real.contains("s3 LEADING, epoch 1"), "{real:.4000}");
    assert!(real.contains("LEADING, epoch 2, broadcast"), "{real:.2000}");
    assert!(real.contains("crash s3"), "{real:.2000}");
    assert!(simulated.contains("LEADING"));
    let verdict = if v["agree"] == true {
        "AGREE"
    } else {
        "DIFFER"
    };
    assert!(page.contains(&format!(r#"">{verdict}</span>"#)));
}

#[test]
fn random_faults_are_carried_out_as_the_seed_draws_them() {
    let _g = serial();
    if !zookeeper_here() {
        return;
    }
    let dir = tmp("random");
    // Outside the run's directory, which must be left empty.
    let sc = std::env::temp_dir().join(format!(
        "zabsim-conform-test-{}-random.toml",
        std::process::id()
    ));
    std::fs::write(
        &sc,
        "name = \"random-crashes\"\nseed = 3\n[cluster]\nservers = 3\ntick_ms = 100\n\
         [random]\nuntil_ms = 4000\ncrash_per_min = 30.0\nrestart_ms = [500, 1000]\n\
         [run]\nduration_ms = 8000\n",
    )
    .expect("write");
    let path = sc.to_str().expect("utf-8");
    // What seed 3 draws, as `sim run --export` writes it.
    let exported = sc.with_extension("exported.toml");
    let export = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", path, "--zk", "3.8.0", "--export"])
        .arg(&exported)
        .output()
        .expect("sim runs");
    assert!(export.status.success(), "{export:?}");
    let text = std::fs::read_to_string(&exported).expect("exported");
    let _ = std::fs::remove_file(&exported);
    let drawn: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("target = \""))
        .map(|t| format!("crash {}", t.trim_end_matches('"')))
        .collect();
    assert!(!drawn.is_empty(), "seed 3 draws crashes: {text}");

    let out = conform(&dir, &[path, "--json", "--runs", "10"]);
    let _ = std::fs::remove_file(&sc);
    let v = json(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{v:#}");
    assert_eq!(v["drawn_faults"], drawn.len(), "{v:#}");
    // The real ensemble had the same servers crashed, in the same order.
    let crashed: Vec<String> = v["real"]["faults"]
        .as_array()
        .expect("faults")
        .iter()
        .filter_map(|f| f["fault"].as_str())
        .filter(|f| f.starts_with("crash "))
        .map(str::to_string)
        .collect();
    assert_eq!(crashed, drawn, "{v:#}");
    assert_nothing_left(&dir);
}

#[test]
fn an_interrupted_conform_leaves_nothing_running() {
    let _g = serial();
    if !zookeeper_here() {
        return;
    }
    let dir = tmp("interrupt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(root())
        .env("TMPDIR", &dir)
        .args([
            "conform",
            "scenarios/conformance/leader-crash-reelects.toml",
            "--runs",
            "5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim starts");
    // Wait until the servers run (their directories exist), then interrupt.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(&dir).map_or(0, |d| d.count()) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("sim exits");
    assert!(
        !status.success(),
        "an interrupted conform does not report success"
    );
    assert_nothing_left(&dir);
}

#[test]
fn what_a_real_ensemble_cannot_do_is_refused_before_anything_starts() {
    let dir = tmp("refuse");
    // Real clients connect to the servers directly: their connections cannot be reset.
    let sc = dir.join("resets.toml");
    std::fs::write(
        &sc,
        "name = \"r\"\n[cluster]\nservers = 3\n[network]\nreset = 0.01\n[clients]\ncount = 2\n",
    )
    .expect("write");
    let out = conform(&dir, &[sc.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`network.reset`"), "{err}");
    std::fs::remove_file(&sc).expect("remove");

    let out = conform(
        &dir,
        &[
            "scenarios/conformance/three-servers-elect.toml",
            "--zk-home",
            "/nonexistent",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt-get install zookeeper"), "{err}");
    assert_nothing_left(&dir);
}

/// Every workload's real clients, through a follower's and the leader's crash: each keeps
/// its one session, and the simulator's client-visible checkers find nothing broken in their
/// history, as in simulation under 3.8.0.
#[test]
fn every_client_workload_passes_the_checkers_on_real_zookeeper() {
    let _g = serial();
    if !zookeeper_here() {
        return;
    }
    for w in ["kv", "election", "lock", "queue", "ids", "config"] {
        let dir = tmp(&format!("clients-{w}"));
        let scenario = format!("scenarios/conformance/clients-{w}-through-crashes.toml");
        let out = conform(&dir, &[&scenario, "--json", "--runs", "20"]);
        let v = json(&out);
        let checks = &v["checks"];
        assert_eq!(
            checks["checked"].as_array().map(Vec::len),
            Some(6),
            "{w}: {checks:#}"
        );
        assert_eq!(
            checks["violations"],
            serde_json::json!([]),
            "{w}: {checks:#}"
        );
        let field = v["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["field"] == "client checks"))
            .unwrap_or_else(|| panic!("{w}: no client checks field: {v:#}"));
        assert_eq!(field["real"], "none broken", "{w}: {field:#}");
        assert_eq!(field["agree"], true, "{w}: {field:#}");
        let faults = v["real"]["faults"].as_array().expect("faults");
        assert!(faults.len() >= 4, "{w}: {faults:#?}");
        for c in v["real"]["clients"].as_array().expect("clients") {
            assert_eq!(
                c["sessions"].as_array().map(Vec::len),
                Some(1),
                "{w}: {c:#}"
            );
            assert_eq!(c["expired"], false, "{w}: {c:#}");
            assert_eq!(c["problems"], serde_json::json!([]), "{w}: {c:#}");
            assert!(c["ok"].as_u64().unwrap_or(0) > 0, "{w}: {c:#}");
        }
        assert_nothing_left(&dir);
    }
}

/// ZOOKEEPER-4646 on the real 3.8.0: the schedule simulation found loses acknowledged writes
/// on the real servers too, and the checkers see it in the real clients' history.
#[test]
fn the_real_3_8_0_loses_acknowledged_writes_as_simulated() {
    let _g = serial();
    if !zookeeper_here() {
        return;
    }
    let dir = tmp("zk-4646");
    let out = conform(
        &dir,
        &[
            "scenarios/conformance/zk-4646-loses-acknowledged-writes.toml",
            "--json",
            "--runs",
            "20",
        ],
    );
    let v = json(&out);
    let broken: Vec<&str> = v["checks"]["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|x| x["invariant"].as_str())
        .collect();
    assert!(
        !broken.is_empty() && broken.iter().all(|i| *i == "linearizable-writes"),
        "{:#}",
        v["checks"]
    );
    let field = v["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["field"] == "client checks"))
        .expect("client checks");
    assert_eq!(field["real"], "linearizable-writes", "{field:#}");
    assert_eq!(field["agree"], true, "{field:#}");
    assert_nothing_left(&dir);
}

/// The real run's syncs as "s1 DIFF 2:5" lines, in order.
fn real_syncs(v: &serde_json::Value) -> Vec<String> {
    v["real"]["syncs"]
        .as_array()
        .expect("syncs")
        .iter()
        .map(|s| {
            format!(
                "s{} {} {}",
                s["learner"],
                s["mode"].as_str().unwrap_or("?"),
                s["zxid"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// `sim conform CASE --json --runs 20` in a fresh directory: the directory (for
/// [`assert_nothing_left`]) and the JSON.
fn conform_case(name: &str, case: &str) -> (PathBuf, serde_json::Value) {
    let dir = tmp(name);
    let out = conform(&dir, &[case, "--json", "--runs", "20"]);
    (dir, json(&out))
}

/// `[[server]]` tables become the real servers' data directories: they load the histories
/// the simulated servers boot from, elect the same leader, and sync each learner the same
/// way, down to the zxids.
#[test]
fn real_servers_start_from_the_scenarios_initial_state() {
    let _g = serial();
    if !zookeeper_here() {
        return;
    }
    // s2 has the newest epoch and the longest log in it: s1 gets the two txns it lacks,
    // s3's epoch-1 txns were never in epoch 2, so it gets a snapshot. The SNAP packet
    // carries the leader's last processed zxid, which becomes 3:0 once the leader has
    // established epoch 3 (with s1) before s3's turn, as in some simulated seeds.
    let (dir, v) = conform_case(
        "initial-state",
        "scenarios/conformance/initial-state-newest-epoch-leads.toml",
    );
    assert_eq!(v["agree"], true, "{:#}", v["fields"]);
    let syncs = real_syncs(&v);
    assert!(
        syncs == ["s1 DIFF 2:5", "s3 SNAP 2:5"] || syncs == ["s1 DIFF 2:5", "s3 SNAP 3:0"],
        "{syncs:?}"
    );
    assert_eq!(v["real"]["leader"], 2);
    assert_eq!(v["real"]["same_history"], true);
    assert_nothing_left(&dir);

    // s1 alone logged 1:3 and is down at the start (a crash at 0 ms): it comes back to
    // TRUNC 1:2, and the real client's writes pass the checkers.
    let (dir, v) = conform_case(
        "abandoned",
        "scenarios/conformance/abandoned-txn-truncated.toml",
    );
    assert_eq!(v["agree"], true, "{:#}", v["fields"]);
    assert_eq!(real_syncs(&v), ["s1 TRUNC 1:2", "s2 DIFF 1:2"]);
    assert_eq!(v["checks"]["violations"], serde_json::json!([]));
    assert_nothing_left(&dir);
}

/// A failure taken to ZooKeeper from its disks: what ZOOKEEPER-4643 leaves on disk
/// (exported from scenarios/bugs/zk-4643.toml at 1100 ms) makes the real 3.8.0 elect the
/// server with the newer epoch and the shorter log and truncate the committed txns away, as
/// in every simulated seed.
#[test]
fn the_disks_zk_4643_leaves_lose_committed_txns_on_real_zookeeper() {
    let _g = serial();
    if !zookeeper_here() {
        return;
    }
    let (dir, v) = conform_case(
        "zk-4643",
        "scenarios/conformance/zk-4643-truncates-committed-txns.toml",
    );
    assert_eq!(v["agree"], true, "{:#}", v["fields"]);
    assert_eq!(v["real"]["leader"], 1, "{:#}", v["real"]);
    let lost: Vec<&str> = v["real"]["lost_committed"]
        .as_array()
        .expect("lost_committed")
        .iter()
        .filter_map(|z| z.as_str())
        .collect();
    assert_eq!(
        lost,
        ["1:5", "1:6", "1:7", "1:8", "1:9", "1:10", "1:11", "1:12"]
    );
    assert!(
        real_syncs(&v).contains(&"s2 TRUNC 1:4".to_string()),
        "{:#}",
        v["real"]
    );
    let histories = v["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["field"] == "histories"))
        .expect("histories");
    assert_eq!(histories["real"], "differ", "{histories:#}");
    assert_eq!(histories["agree"], true, "{histories:#}");
    assert_nothing_left(&dir);
}
