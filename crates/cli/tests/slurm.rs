//! A campaign on a real Slurm cluster: deploy/slurm/local-cluster.sh starts a one-node
//! cluster (munged, slurmctld, slurmd from Debian's packages) in a temporary directory,
//! deploy/slurm/submit.sh submits a sweep as a 4-task job array and its merge as a dependent
//! job, and the merged result must equal a single-machine `sim fuzz` of the same range,
//! failures and all. Without Slurm the test prints `SKIPPED` and passes, unless
//! ZABSIM_REQUIRE_SLURM=1 (CI sets it), where it fails.

mod common;

use common::root;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn slurm_here() -> bool {
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mut missing: Vec<&str> = ["sbatch", "squeue", "sinfo", "slurmctld", "slurmd", "munged"]
        .into_iter()
        .filter(|b| {
            !Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {b} || test -x /usr/sbin/{b}"))
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !root_user {
        // slurmd starts jobs as their users, which only root can.
        missing.push("root");
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{} missing (apt-get install slurmctld slurmd slurm-client munge, and run as root)",
        missing.join(", ")
    );
    if std::env::var("ZABSIM_REQUIRE_SLURM").as_deref() == Ok("1") {
        panic!("ZABSIM_REQUIRE_SLURM=1 but {why}");
    }
    // Straight to stderr, past the test harness's capture: the skip must show.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("SKIPPED: the Slurm campaign test: {why}\n").as_bytes(),
    );
    false
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Stops the cluster however the test ends.
struct Cluster {
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(root().join("deploy/slurm/local-cluster.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

fn script(path: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let out = Command::new(root().join(path))
        .current_dir(root())
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("script runs");
    assert!(
        out.status.success(),
        "{path}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The summary without the line that depends on the machine, and the merge's own line.
fn summary(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with("merged ") && !l.starts_with("report: "))
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l.to_string())
        .collect()
}

/// Processes whose command line names `dir`.
fn processes_in(dir: &Path) -> Vec<String> {
    let needle = dir.as_os_str().as_encoded_bytes().to_vec();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if cmdline
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
            {
                out.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
            }
        }
    }
    out
}

#[test]
fn a_sweep_as_a_slurm_job_array_merges_to_the_single_machine_result() {
    if !slurm_here() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("zabsim-slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cluster_dir = dir.join("cluster");
    let (ctld, slurmd) = (free_port().to_string(), free_port().to_string());
    let cluster = Cluster {
        dir: cluster_dir.clone(),
    };
    let out = script(
        "deploy/slurm/local-cluster.sh",
        &["start", cluster_dir.to_str().expect("utf-8")],
        &[("SLURMCTLD_PORT", &ctld), ("SLURMD_PORT", &slurmd)],
    );
    let conf = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("SLURM_CONF=").map(str::to_string))
        .expect("SLURM_CONF");

    let sweep = [
        "scenarios/swarm/five-servers-writes.toml",
        "--swarm",
        "--bug",
        "zk-1277",
        "--seeds",
        "0..40",
    ];
    let results = dir.join("results");
    let mut args = vec!["4", results.to_str().expect("utf-8")];
    args.extend_from_slice(&sweep);
    let sim = env!("CARGO_BIN_EXE_sim");
    script(
        "deploy/slurm/submit.sh",
        &args,
        &[("SLURM_CONF", &conf), ("SIM", sim)],
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    let exit = results.join("merged.exit");
    while !exit.exists() {
        assert!(
            Instant::now() < deadline,
            "the merge job did not finish; see {}",
            results.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The merge job writes merged.exit last; wait until Slurm has nothing left running.
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-o", "%i"])
            .env("SLURM_CONF", &conf)
            .output()
            .expect("squeue");
        if q.stdout.iter().all(u8::is_ascii_whitespace) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let merged = std::fs::read_to_string(results.join("merged.txt")).expect("merged.txt");
    assert_eq!(
        std::fs::read_to_string(&exit).expect("exit").trim(),
        "1",
        "the bug makes seeds fail: {merged}"
    );
    assert!(
        merged.starts_with("merged 4 shard file(s) of one sweep; every seed ran"),
        "{merged}"
    );
    let single = Command::new(sim)
        .current_dir(root())
        .arg("fuzz")
        .args(sweep)
        .output()
        .expect("sim fuzz");
    assert_eq!(single.status.code(), Some(1));
    assert_eq!(
        summary(&merged),
        summary(&String::from_utf8_lossy(&single.stdout))
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("merged.json")).expect("json"))
            .expect("merged.json");
    assert_eq!(json["complete"], true);
    assert_eq!(json["runs"], 40);
    for k in 1..=4 {
        assert!(results.join(format!("shard-{k}-of-4.jsonl")).exists());
    }
    assert!(results.join("report.html").exists());

    drop(cluster);
    let left = processes_in(&dir);
    assert!(left.is_empty(), "left running: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
