//! The campaign files for Kubernetes and GitHub Actions (deploy/k8s, deploy/github-actions),
//! checked offline: they parse, their shard counts agree with each other, and the shell
//! each pod or job runs, taken out of the file and run here with the real `sim` on a small
//! sweep, writes shard files that `sim merge` accepts as a whole sweep. (deploy/slurm runs
//! on a real cluster in tests/slurm.rs.)

mod common;

use common::root;
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

fn load(path: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(root().join(path)).expect("manifest");
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zabsim-deploy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// `name`'s value among a container's `env` entries.
fn env_value(container: &Yaml, name: &str) -> String {
    container["env"]
        .as_vec()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("no env {name}"))
        .to_string()
}

/// Runs a container's or a step's shell script with `sh`, with `sim` on the PATH.
fn sh(script: &str, envs: &[(&str, &str)], cwd: &Path) -> std::process::Output {
    let sim_dir = Path::new(env!("CARGO_BIN_EXE_sim"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        sim_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .env("PATH", path)
        .envs(envs.iter().copied())
        .output()
        .expect("sh runs")
}

const SMALL_SWEEP: &str =
    "scenarios/swarm/five-servers-writes.toml --swarm --bug zk-1277 --seeds 0..12";

#[test]
fn the_kubernetes_indexed_job_writes_shards_its_merge_job_accepts() {
    let pvc = &load("deploy/k8s/results-pvc.yaml")[0];
    let fuzz = &load("deploy/k8s/fuzz-job.yaml")[0];
    let merge = &load("deploy/k8s/merge-job.yaml")[0];
    let claim = pvc["metadata"]["name"].as_str().expect("claim name");
    assert!(pvc["spec"]["accessModes"]
        .as_vec()
        .expect("modes")
        .contains(&Yaml::String("ReadWriteMany".into())));

    assert_eq!(fuzz["kind"].as_str(), Some("Job"));
    assert_eq!(fuzz["spec"]["completionMode"].as_str(), Some("Indexed"));
    let completions = fuzz["spec"]["completions"].as_i64().expect("completions");
    let pod = &fuzz["spec"]["template"]["spec"];
    let shard = &pod["containers"][0];
    let shards: i64 = env_value(shard, "SHARDS").parse().expect("SHARDS");
    assert_eq!(shards, completions, "SHARDS is the number of completions");
    let merger = &merge["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_value(merger, "SHARDS"), shards.to_string());
    for (name, spec) in [("fuzz", pod), ("merge", &merge["spec"]["template"]["spec"])] {
        assert_eq!(
            spec["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str(),
            Some(claim),
            "{name}"
        );
        assert_eq!(
            spec["containers"][0]["volumeMounts"][0]["mountPath"].as_str(),
            Some("/results"),
            "{name}"
        );
    }

    // The pods' scripts, with /results in a temporary directory and a small sweep.
    let d = tmp("k8s");
    let results = d.join("results");
    std::fs::create_dir_all(&results).expect("results");
    let script = |c: &Yaml| {
        c["args"][0]
            .as_str()
            .expect("script")
            .replace("/results", results.to_str().expect("utf-8"))
    };
    let n = "3";
    for index in ["0", "1", "2"] {
        let out = sh(
            &script(shard),
            &[
                ("JOB_COMPLETION_INDEX", index),
                ("SHARDS", n),
                ("SWEEP", SMALL_SWEEP),
            ],
            &root(),
        );
        assert!(
            out.status.success(),
            "index {index}: a shard with failing seeds still succeeds: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = sh(&script(merger), &[("SHARDS", n)], &root());
    assert_eq!(out.status.code(), Some(1), "the bug makes seeds fail");
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("merged.json")).expect("json"))
            .expect("merged.json");
    assert_eq!(merged["complete"], true, "{merged}");
    assert_eq!(merged["runs"], 12);
    assert!(results.join("report.html").exists());

    // A pod that never ran leaves its shard missing, and the merge says so.
    std::fs::remove_file(results.join("shard-2-of-3.jsonl")).expect("remove");
    let out = sh(&script(merger), &[("SHARDS", n)], &root());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shard 2/3 is missing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_github_actions_matrix_runs_every_shard_and_merges_them() {
    let wf = &load("deploy/github-actions/fuzz.yml")[0];
    let shards = wf["env"]["SHARDS"].as_i64().expect("SHARDS");
    let jobs = &wf["jobs"];
    let matrix: Vec<i64> = jobs["shard"]["strategy"]["matrix"]["shard"]
        .as_vec()
        .expect("matrix")
        .iter()
        .map(|v| v.as_i64().expect("shard number"))
        .collect();
    assert_eq!(matrix, (1..=shards).collect::<Vec<_>>());
    assert_eq!(jobs["shard"]["needs"].as_str(), Some("build"));
    assert_eq!(jobs["merge"]["needs"].as_str(), Some("shard"));
    assert_eq!(jobs["merge"]["if"].as_str(), Some("always()"));
    let step = |job: &str, name_starts: &str| -> String {
        jobs[job]["steps"]
            .as_vec()
            .expect("steps")
            .iter()
            .find(|s| {
                s["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(name_starts))
            })
            .and_then(|s| s["run"].as_str())
            .unwrap_or_else(|| panic!("no step {name_starts} in {job}"))
            .to_string()
    };

    // The shard and merge steps, run here: bin/sim is the real binary, the shard number
    // and sweep come from the environment as the workflow passes them.
    let d = tmp("gha");
    std::fs::create_dir_all(d.join("bin")).expect("bin");
    std::fs::copy(env!("CARGO_BIN_EXE_sim"), d.join("bin/sim")).expect("copy sim");
    std::os::unix::fs::symlink(root().join("scenarios"), d.join("scenarios")).expect("link");
    let n = shards.to_string();
    for k in 1..=shards {
        let k = k.to_string();
        let out = sh(
            &step("shard", "run shard"),
            &[("SHARD", &k), ("SHARDS", &n), ("SWEEP", SMALL_SWEEP)],
            &d,
        );
        assert!(
            out.status.success(),
            "shard {k}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::create_dir_all(d.join("results")).expect("results");
    for k in 1..=shards {
        let f = format!("shard-{k}-of-{shards}.jsonl");
        std::fs::rename(d.join(&f), d.join("results").join(&f)).expect("as downloaded");
    }
    let out = sh(&step("merge", "merge"), &[("SHARDS", &n)], &d);
    assert_eq!(out.status.code(), Some(1), "the bug makes seeds fail");
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("merged.json")).expect("json"))
            .expect("merged.json");
    assert_eq!(merged["complete"], true, "{merged}");
    assert_eq!(merged["runs"], 12);
    assert!(d.join("report.html").exists());
    let _ = std::fs::remove_dir_all(&d);
}
