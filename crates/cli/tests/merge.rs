//! Campaigns split into shards: `sim fuzz --shard K/N --results PATH`, `--resume`, and
//! `sim merge`, as a batch engine's tasks would run them.

mod common;

use common::sim;
use std::path::{Path, PathBuf};
use std::process::Output;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zabsim-merge-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A sweep with failures to compare: the swarm with a bug variant on.
const SWEEP: &[&str] = &[
    "scenarios/swarm/five-servers-writes.toml",
    "--swarm",
    "--bug",
    "zk-1277",
    "--seeds",
    "0..48",
    "--jobs",
    "2",
];

fn fuzz_shard(d: &Path, k: u64, n: u64) -> PathBuf {
    let file = d.join(format!("shard-{k}-of-{n}.jsonl"));
    let shard = format!("{k}/{n}");
    let mut args = vec!["fuzz"];
    args.extend_from_slice(SWEEP);
    args.extend_from_slice(&[
        "--shard",
        &shard,
        "--results",
        file.to_str().expect("utf-8"),
    ]);
    let out = sim(&args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    file
}

fn merge(files: &[PathBuf], extra: &[&str]) -> Output {
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(files.iter().map(|f| f.to_str().expect("utf-8")));
    args.extend_from_slice(extra);
    sim(&args)
}

/// The summary without what the machine decides: the line with wall time and speed, and
/// the merge's own first line.
fn summary_without_wall(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("merged ") && !l.starts_with("report: "))
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l.to_string())
        .collect()
}

/// The report's page up to its last section, the one that holds wall time and threads.
fn page_without_machine(path: &Path) -> String {
    let page = std::fs::read_to_string(path).expect("report");
    let cut = page
        .find(r#"<section id="sweep">"#)
        .expect("machine section");
    page[..cut].to_string()
}

#[test]
fn a_sweep_split_any_way_merges_to_the_single_machine_result() {
    let d = dir("split");
    let single_report = d.join("single.html");
    let mut args = vec!["fuzz"];
    args.extend_from_slice(SWEEP);
    args.extend_from_slice(&["--report", single_report.to_str().expect("utf-8")]);
    let single = sim(&args);
    assert_eq!(single.status.code(), Some(1), "the bug makes seeds fail");
    let want = summary_without_wall(&single);
    assert!(want[0].contains("48 seeds"), "{want:?}");

    let mut json = None;
    for n in [1, 2, 4, 16] {
        let files: Vec<PathBuf> = (1..=n).rev().map(|k| fuzz_shard(&d, k, n)).collect();
        let report = d.join(format!("merged-{n}.html"));
        let out = merge(&files, &["--report", report.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(1), "failures merge as failures");
        assert_eq!(summary_without_wall(&out), want, "split {n} ways");
        assert_eq!(
            page_without_machine(&report),
            page_without_machine(&single_report),
            "split {n} ways"
        );
        let j = merge(&files, &["--json"]);
        let j: serde_json::Value = serde_json::from_slice(&j.stdout).expect("json");
        assert_eq!(j["complete"], true);
        assert_eq!(j["runs"], 48);
        let j = {
            let mut j = j;
            j["shards"] = serde_json::Value::Null;
            j
        };
        match &json {
            None => json = Some(j),
            Some(first) => assert_eq!(&j, first, "split {n} ways"),
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_missing_shard_another_sweep_or_a_changed_file_is_named_and_nothing_is_merged() {
    let d = dir("incomplete");
    let files: Vec<PathBuf> = (1..=4).map(|k| fuzz_shard(&d, k, 4)).collect();

    let out = merge(&files[..3], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shard 4/4 is missing: seeds 3, 7, 11"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no result for an incomplete sweep");

    // The same shard of a sweep with another bug variant.
    let other = d.join("other.jsonl");
    let out = sim(&[
        "fuzz",
        "scenarios/swarm/five-servers-writes.toml",
        "--swarm",
        "--bug",
        "zk-790",
        "--seeds",
        "0..48",
        "--shard",
        "4/4",
        "--results",
        other.to_str().expect("utf-8"),
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)));
    let mut mixed = files[..3].to_vec();
    mixed.push(other.clone());
    let out = merge(&mixed, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is from another sweep"), "{err}");
    assert!(err.contains("--bug: zk-1277 against zk-790"), "{err}");

    // A seed's verdict edited after the shard closed its file.
    let text = std::fs::read_to_string(&files[1]).expect("shard");
    std::fs::write(
        &files[1],
        text.replacen("\"passed\":false", "\"passed\":true", 1),
    )
    .expect("write");
    let out = merge(&files, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shard 2/4) its closing line does not match"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_cut_off_shard_resumed_writes_the_file_an_uninterrupted_one_does() {
    let d = dir("resume");
    let whole = fuzz_shard(&d, 2, 3);
    let whole_bytes = std::fs::read(&whole).expect("shard");

    // What a task killed mid-run leaves: the header, some seeds in the order threads
    // finished them, and half a line.
    let text = String::from_utf8(whole_bytes.clone()).expect("utf-8");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let cut = d.join("cut.jsonl");
    let partial = &lines[6][..lines[6].len() / 2];
    std::fs::write(
        &cut,
        [lines[0], lines[5], lines[2], lines[4], partial].concat(),
    )
    .expect("write");
    let out = merge(std::slice::from_ref(&cut), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was cut off: 3 of 16 seeds ran"), "{err}");

    let mut args = vec!["fuzz"];
    args.extend_from_slice(SWEEP);
    let path = cut.to_str().expect("utf-8");
    args.extend_from_slice(&["--shard", "2/3", "--results", path, "--resume"]);
    let out = sim(&args);
    assert!(matches!(out.status.code(), Some(0 | 1)));
    assert_eq!(std::fs::read(&cut).expect("resumed"), whole_bytes);

    // Resuming a finished shard runs nothing and keeps the file; starting one over an
    // existing file is refused.
    let out = sim(&args);
    assert!(matches!(out.status.code(), Some(0 | 1)));
    assert_eq!(std::fs::read(&cut).expect("resumed"), whole_bytes);
    let out = sim(&args[..args.len() - 1]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume continues it"));
    // A closed file that was edited is not resumed (that would hide the edit).
    let text = String::from_utf8(whole_bytes.clone()).expect("utf-8");
    std::fs::write(
        &cut,
        text.replacen("\"passed\":false", "\"passed\":true", 1),
    )
    .expect("write");
    let out = sim(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("it is closed but its closing line"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&cut, &whole_bytes).expect("write");
    // Resuming with another shard's file is refused.
    let mut wrong = args.clone();
    let at = wrong.len() - 4;
    wrong[at] = "1/3";
    let out = sim(&wrong);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shard: 1/3 against 2/3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&d);
}
