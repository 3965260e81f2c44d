//! `sim run --zk-data DIR`: every simulated server's disk as a real ZooKeeper data directory.
//!
//! The first tests check the files and the command line. The last starts a real ZooKeeper
//! 3.8.0 ensemble (Debian's `zookeeper` package) on the output and checks that every server
//! loads the simulated state and that they elect; without java or the package it prints
//! `SKIPPED` and passes, unless ZABSIM_REQUIRE_ZK=1. Every JVM it starts is killed by its
//! pid when the test ends, however it ends.

mod common;

use common::sim;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = "scenarios/leader-crash-before-commit.toml";

/// A fresh temporary directory, removed when dropped (also while a failing test unwinds).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("zabsim-zk-data-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    fn arg(&self, p: &str) -> String {
        self.join(p).to_str().expect("utf-8").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The "last zxid" `sim run` printed for each server.
fn printed_last_zxids(text: &str) -> BTreeMap<u64, i64> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let id = l
                .strip_prefix('s')?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            let hex = l.split("last zxid 0x").nth(1)?.split_whitespace().next()?;
            Some((id, i64::from_str_radix(hex, 16).ok()?))
        })
        .collect()
}

/// The names in `dir/version-2` starting with `prefix`, and the zxids they name.
fn named(dir: &Path, prefix: &str) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = std::fs::read_dir(dir.join("version-2"))
        .expect("version-2")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let hex = name.strip_prefix(prefix)?.to_string();
            let zxid = i64::from_str_radix(&hex, 16).expect("hex after the prefix");
            // Util.makeLogName / makeSnapshotName: lower-case hex, no leading zeros.
            assert_eq!(hex, format!("{zxid:x}"), "{name}");
            Some((name, zxid))
        })
        .collect();
    out.sort_by_key(|(_, z)| *z);
    out
}

/// Every txn record of a server's logs, by the project's real-log reader.
fn logged(dir: &Path) -> Vec<conform::txnlog::TxnRecord> {
    conform::txnlog::read_dir(&dir.join("version-2")).expect("the logs parse")
}

#[test]
fn every_server_gets_a_data_directory_and_a_zoo_cfg() {
    let tmp = TempDir::new("layout");
    let out = sim(&["run", SCENARIO, "--seed", "42", "--zk-data", &tmp.arg("zk")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("zk-data: the disks at 15000 ms (the end of the run) as ZooKeeper 3.9.4"),
        "{stdout}"
    );
    let last = printed_last_zxids(&stdout);
    assert_eq!(
        last.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3],
        "{stdout}"
    );
    for (id, last_zxid) in last {
        let dir = tmp.join(&format!("zk/{id}"));
        assert_eq!(
            std::fs::read(dir.join("myid")).unwrap(),
            format!("{id}\n").as_bytes()
        );
        for epoch in ["acceptedEpoch", "currentEpoch"] {
            let text = std::fs::read_to_string(dir.join("version-2").join(epoch)).unwrap();
            assert_eq!(
                text, "2",
                "s{id} {epoch}: both leaders' epochs, decimal, no newline"
            );
        }
        let snapshots = named(&dir, "snapshot.");
        assert_eq!(
            snapshots[0].0, "snapshot.0",
            "s{id}: the fresh tree's snapshot"
        );
        let logs = named(&dir, "log.");
        assert_eq!(logs[0].0, "log.100000001", "s{id}");
        let records = logged(&dir);
        assert!(records.len() > 20, "s{id}: {} txns", records.len());
        assert!(records.windows(2).all(|w| w[0].zxid < w[1].zxid));
        let newest = records
            .last()
            .unwrap()
            .zxid
            .max(snapshots.last().unwrap().1);
        assert_eq!(newest, last_zxid, "s{id}: printed last zxid");
        let cfg = std::fs::read_to_string(dir.join("zoo.cfg")).unwrap();
        let data_dir = dir.canonicalize().unwrap();
        for want in [
            format!("dataDir={}\n", data_dir.display()),
            format!("clientPort={}\n", 21800 + 10 * id),
            "server.1=127.0.0.1:21811:21812\n".to_string(),
            "server.3=127.0.0.1:21831:21832\n".to_string(),
            "standaloneEnabled=false\n".to_string(),
        ] {
            assert!(cfg.contains(&want), "s{id}: {want:?} in\n{cfg}");
        }
    }

    // The same run writes the same files (zoo.cfg names its own directory).
    let again = sim(&[
        "run",
        SCENARIO,
        "--seed",
        "42",
        "--zk-data",
        &tmp.arg("again"),
    ]);
    assert_eq!(again.status.code(), Some(0));
    for id in 1..=3 {
        let v2 = tmp.join(&format!("zk/{id}/version-2"));
        for entry in std::fs::read_dir(&v2).unwrap() {
            let name = entry.unwrap().file_name();
            let a = std::fs::read(v2.join(&name)).unwrap();
            let b = std::fs::read(tmp.join(&format!("again/{id}/version-2")).join(&name));
            assert!(
                b.is_ok_and(|b| a == b),
                "s{id} {name:?} differs between two runs"
            );
        }
    }
}

#[test]
fn at_ms_writes_an_earlier_state() {
    let tmp = TempDir::new("at-ms");
    let total = |dir: &str| -> usize {
        (1..=3)
            .map(|id| logged(&tmp.join(&format!("{dir}/{id}"))).len())
            .sum()
    };
    let out = sim(&[
        "run",
        SCENARIO,
        "--seed",
        "42",
        "--zk-data",
        &tmp.arg("end"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = sim(&[
        "run",
        SCENARIO,
        "--seed",
        "42",
        "--zk-data",
        &tmp.arg("early"),
        "--at-ms",
        "1000",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("the disks at 1000 ms (--at-ms)"),
        "{stdout}"
    );
    let (early, end) = (total("early"), total("end"));
    assert!(
        0 < early && early < end,
        "{early} txns at 1 s, {end} at the end"
    );
    let last_early = printed_last_zxids(&stdout);
    assert!(
        last_early.values().all(|z| *z < 0x2_0000_001b),
        "{last_early:?}"
    );
}

#[test]
fn a_failing_run_is_written_at_its_first_violation() {
    // zk-1154's scenario expects its violations, so it passes; its disks are written as
    // they were when the first one was found.
    let tmp = TempDir::new("violation");
    let out = sim(&[
        "run",
        "scenarios/bugs/zk-1154.toml",
        "--json",
        "--zk-data",
        &tmp.arg("zk"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON");
    let first = v["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|x| x["at_ms"].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let at: f64 = stderr
        .split("zk-data: the disks at ")
        .nth(1)
        .and_then(|s| s.split(" ms (the first invariant violation)").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("where the files went, on stderr: {stderr}"));
    assert_eq!(at, first);
    assert_eq!(printed_last_zxids(&stderr).len(), 3, "{stderr}");
}

#[test]
fn bad_input_is_refused_with_exit_code_2() {
    let tmp = TempDir::new("bad");
    let expect_2 = |args: &[&str], says: &str| {
        let out = sim(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {says:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    // A time after the run's end: nothing is written, the directory made for it goes.
    let late = tmp.arg("late");
    expect_2(
        &["run", SCENARIO, "--zk-data", &late, "--at-ms", "99999999"],
        "error: --at-ms 99999999: the run ended at 15000 ms",
    );
    assert!(
        !Path::new(&late).exists(),
        "the directory made for the run is removed"
    );
    // A directory that already holds something.
    let full = tmp.join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("old"), b"x").unwrap();
    expect_2(
        &["run", SCENARIO, "--zk-data", &tmp.arg("full")],
        "is not empty",
    );
    assert_eq!(
        std::fs::read_dir(&full).unwrap().count(),
        1,
        "left as it was"
    );
    // A directory that cannot be made: its parent is a file.
    let file = tmp.join("file");
    std::fs::write(&file, b"x").unwrap();
    expect_2(
        &["run", SCENARIO, "--zk-data", &tmp.arg("file/zk")],
        &format!("error: --zk-data {}", file.join("zk").display()),
    );
    expect_2(
        &["run", SCENARIO, "--zk-data", &tmp.arg("file")],
        "exists and is not a directory",
    );
    // Ports past 65535, and the flags that only make sense with --zk-data.
    expect_2(
        &[
            "run",
            SCENARIO,
            "--zk-data",
            &tmp.arg("ports"),
            "--zk-port-base",
            "65504",
        ],
        "error: --zk-port-base 65504: base port 65504 gives server 3 ports up to 65536",
    );
    expect_2(&["run", SCENARIO, "--at-ms", "100"], "--zk-data");
    expect_2(&["run", SCENARIO, "--zk-port-base", "30000"], "--zk-data");
    for t in ["-5", "soon"] {
        expect_2(
            &[
                "run",
                SCENARIO,
                "--zk-data",
                &tmp.arg("t"),
                &format!("--at-ms={t}"),
            ],
            &format!("invalid value '{t}' for '--at-ms <T>'"),
        );
    }
}

// ---- against a real ZooKeeper ----

fn install() -> Option<conform::Install> {
    conform::Install::debian_or_skip("sim run --zk-data against a real ZooKeeper")
}

/// A port base whose client, quorum and election ports for servers 1..=3 are all free on
/// loopback now, below the ephemeral range.
fn free_port_base() -> u16 {
    let start = 20_000 + (std::process::id() % 400) as u16 * 20;
    (0..400u16)
        .map(|k| 20_000 + (start - 20_000 + k * 20) % 8_000)
        .find(|base| {
            (1..=3u16).all(|id| {
                (0..3).all(|off| {
                    TcpListener::bind((Ipv4Addr::LOCALHOST, base + 10 * id + off)).is_ok()
                })
            })
        })
        .expect("a free block of ports")
}

/// The JVMs of one test, killed (SIGKILL) and reaped by pid when dropped, also while a
/// failing test unwinds.
struct Servers(Vec<(u64, Child)>);

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn srvr(port: u16) -> Option<conform::Srvr> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    conform::fourlw::srvr(addr, Duration::from_secs(2)).ok()
}

fn zk_tool(install: &conform::Install, class: &str, file: &Path) -> String {
    let out = Command::new(&install.java)
        .args([
            "-Duser.timezone=UTC",
            "-Duser.language=en",
            "-Duser.country=US",
        ])
        .arg("-cp")
        .arg(install.classpath_arg())
        .arg(class)
        .arg(file)
        .output()
        .expect("java runs");
    assert!(
        out.status.success(),
        "{class}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_real_ensemble_loads_the_simulated_disks_and_elects() {
    let Some(install) = install() else { return };
    // kv: sessions, creates, setData, error txns, a leader crash. lock: ephemeral sequential
    // znodes deleted and sessions closed (digests over deleted children and closed
    // sessions), crashes and partitions, snapshots, three epochs.
    real_ensemble(
        &install,
        "real-kv",
        SCENARIO,
        &[" createSession 2000\n", " create /kv-", " setData /kv-"],
    );
    real_ensemble(
        &install,
        "real-lock",
        "scenarios/clients/lock-contention.toml",
        &[" delete '/app/lock/x-", "],true,"],
    );
}

/// Runs `scenario` (seed 42, modelling 3.8.0) with --zk-data, reads its files with
/// ZooKeeper's tools (s1's first log must list each of `in_log`), and starts a real
/// three-server ensemble on them.
fn real_ensemble(install: &conform::Install, name: &str, scenario: &str, in_log: &[&str]) {
    let tmp = TempDir::new(name);
    let base = free_port_base();
    let out = sim(&[
        "run",
        scenario,
        "--seed",
        "42",
        "--zk",
        "3.8.0",
        "--zk-data",
        &tmp.arg("zk"),
        "--zk-port-base",
        &base.to_string(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let last = printed_last_zxids(&stdout);
    assert_eq!(last.len(), 3, "{stdout}");

    // ZooKeeper's own tools read the files: every txn of s1's log, s2's newest snapshot.
    let s1 = tmp.join("zk/1");
    let (log_name, _) = named(&s1, "log.").remove(0);
    let listing = zk_tool(
        install,
        "org.apache.zookeeper.server.persistence.TxnLogToolkit",
        &s1.join("version-2").join(&log_name),
    );
    let bytes = std::fs::read(s1.join("version-2").join(&log_name)).unwrap();
    let n = conform::txnlog::parse(&bytes)
        .expect("parses")
        .records
        .len();
    assert!(!listing.contains("CRC ERROR"), "{listing}");
    assert!(
        listing.contains(&format!("EOF reached after {n} txns.")),
        "{listing}"
    );
    for want in in_log {
        assert!(listing.contains(want), "{want:?} in\n{listing}");
    }
    let s2 = tmp.join("zk/2");
    let (snap, snap_zxid) = named(&s2, "snapshot.").pop().unwrap();
    let formatted = zk_tool(
        install,
        "org.apache.zookeeper.server.SnapshotFormatter",
        &s2.join("version-2").join(&snap),
    );
    assert!(formatted.contains("/zookeeper/config\n"), "{formatted}");
    assert!(
        formatted.contains(&format!("Last zxid: {snap_zxid:#x}")),
        "{formatted}"
    );

    // The newest snapshot each server should read, before a running server adds its own.
    let newest: BTreeMap<u64, String> = (1..=3)
        .map(|id| {
            (
                id,
                named(&tmp.join(&format!("zk/{id}")), "snapshot.")
                    .pop()
                    .unwrap()
                    .0,
            )
        })
        .collect();
    let logs = tmp.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut servers = Servers(Vec::new());
    for id in 1..=3u64 {
        let log4j = logs.join(format!("log4j-{id}.properties"));
        std::fs::write(
            &log4j,
            format!(
                "log4j.rootLogger=INFO, FILE\n\
                 log4j.appender.FILE=org.apache.log4j.FileAppender\n\
                 log4j.appender.FILE.File={}\n\
                 log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
                 log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} %-5p %c{{1}} - %m%n\n",
                logs.join(format!("server-{id}.log")).display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new(&install.java);
        cmd.arg("-Xmx256m")
            .arg("-XX:+UseSerialGC")
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-Djava.net.preferIPv4Stack=true")
            .arg(format!("-Dlog4j.configuration=file:{}", log4j.display()))
            .arg("-cp")
            .arg(install.classpath_arg())
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(tmp.join(&format!("zk/{id}/zoo.cfg")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Started with a parent-death signal, so not even an aborted test leaves it running.
        servers
            .0
            .push((id, conform::process::spawn(cmd).expect("java starts")));
    }

    let accepted: BTreeMap<u64, u32> = (1..=3)
        .map(|id| {
            let f = tmp.join(&format!("zk/{id}/version-2/acceptedEpoch"));
            (id, std::fs::read_to_string(f).unwrap().parse().unwrap())
        })
        .collect();

    // They elect one leader, which two follow. Which one depends on the JVMs' start as much
    // as on the files (two servers up before the third elect between themselves): any leader
    // will do.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (leader, statuses) = loop {
        let st: BTreeMap<u64, Option<conform::Srvr>> = (1..=3u64)
            .map(|id| (id, srvr(base + 10 * id as u16).filter(|s| s.serving)))
            .collect();
        let mode = |id| st[&id].as_ref().and_then(|s| s.mode);
        let leaders: Vec<u64> = (1..=3)
            .filter(|id| mode(*id) == Some(conform::Mode::Leader))
            .collect();
        let followers = (1..=3)
            .filter(|id| mode(*id) == Some(conform::Mode::Follower))
            .count();
        if leaders.len() == 1 && followers == 2 {
            break (leaders[0], st);
        }
        let modes: Vec<_> = (1..=3).map(mode).collect();
        assert!(
            Instant::now() < deadline,
            "no leader with two followers within 60 s: {modes:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // `srvr`: the leader reports its new epoch, past the epoch it had accepted; a follower
    // reports the last zxid it has: the leader's, the simulation's last for it, until the
    // new leader's first txns arrive (it soon expires the sessions in the files, whose
    // clients are gone).
    let new_epoch = statuses[&leader].as_ref().unwrap().epoch().unwrap();
    assert!(new_epoch > accepted[&leader], "{:?}", statuses[&leader]);
    for (id, s) in &statuses {
        let s = s.as_ref().unwrap();
        let zxid = s.zxid.expect("a serving server reports its zxid");
        if *id != leader && s.epoch() < Some(new_epoch) {
            assert_eq!(zxid, last[&leader], "s{id}: {}", s.raw);
        } else {
            assert_eq!(s.epoch(), Some(new_epoch), "s{id}: {}", s.raw);
        }
    }
    // Each server loaded the newest snapshot written for it and replayed its logs to the
    // last zxid `sim run` printed for it, and found every digest as written.
    let log_of = |id: u64| std::fs::read_to_string(logs.join(format!("server-{id}.log"))).unwrap();
    for id in 1..=3u64 {
        let log = log_of(id);
        let snap = tmp.join(&format!("zk/{id}/version-2/{}", newest[&id]));
        assert!(
            log.contains(&format!("Reading snapshot {}", snap.display())),
            "s{id} read another snapshot:\n{log}"
        );
        assert!(
            log.contains(&format!("highest zxid is {:#x},", last[&id])),
            "s{id} did not load up to {:#x}:\n{log}",
            last[&id]
        );
        for bad in [
            "problem reading snap",
            "CRC",
            "Digests are not matching",
            "Unexpected extra paths",
        ] {
            assert!(!log.contains(bad), "s{id}: {bad:?}:\n{log}");
        }
    }
    // The leader's first act is a snapshot of what it leads from: the simulation's last zxid.
    assert!(
        log_of(leader).contains(&format!("Snapshotting: {:#x} to ", last[&leader])),
        "{}",
        log_of(leader)
    );
    drop(servers);
    let left = conform::processes_mentioning(&tmp.0);
    assert!(left.is_empty(), "processes left running: {left:?}");
}
