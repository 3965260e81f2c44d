//! `sim run --export PATH --at-ms T`: the rest of a run as a scenario that starts from the
//! disks at T, which `sim conform` can take to a real ensemble.

mod common;

use common::{root, sim};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zabsim-export-from-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// The part of a scenario file from `[cluster]` up to `[expect]`: the ensemble, the disks and
/// the faults, without the name, story and expectations a person adds.
fn body(text: &str) -> String {
    let start = text.find("[cluster]").expect("[cluster]");
    let end = text.find("[expect]").expect("[expect]");
    text[start..end].trim().to_string()
}

#[test]
fn the_disks_zk_4643_leaves_carry_on_to_the_same_loss() {
    let out_path = tmp("zk-4643-from-1100.toml");
    let out = sim(&[
        "run",
        "scenarios/bugs/zk-4643.toml",
        "--zk",
        "3.8.0",
        "--export",
        out_path.to_str().expect("utf-8"),
        "--at-ms",
        "1100",
    ]);
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_path).expect("exported");
    // s1 wrote currentEpoch 2 but lost the synced 1:5-1:12 in its crash at 276 ms; s3 led
    // epoch 2; s2 missed it. All three are down at 1100 ms, with their restarts still due.
    for table in [
        "[[server]]\nid = 1\naccepted_epoch = 2\ncurrent_epoch = 2\nlog = [\"1:1-4\"]",
        "[[server]]\nid = 2\naccepted_epoch = 1\ncurrent_epoch = 1\nlog = [\"1:1-12\"]",
        "[[server]]\nid = 3\naccepted_epoch = 2\ncurrent_epoch = 2\nlog = [\"1:1-12\"]",
        "committed = \"1:12\"",
        "duration_ms = 6900",
        "at_ms = 0\naction = \"crash\"\ntarget = \"s1\"\nrestart_after_ms = 400",
        "at_ms = 0\naction = \"crash\"\ntarget = \"s2\"\nrestart_after_ms = 900",
        "at_ms = 0\naction = \"crash\"\ntarget = \"s3\"\nrestart_after_ms = 3900",
    ] {
        assert!(text.contains(table), "no {table:?} in:\n{text}");
    }
    // The conformance case is this export, named and told.
    let case = std::fs::read_to_string(
        root().join("scenarios/conformance/zk-4643-truncates-committed-txns.toml"),
    )
    .expect("conformance case");
    assert_eq!(body(&case), body(&text));

    // From those disks, s1's epoch beats s2's longer log and the committed txns are
    // truncated away.
    let out = sim(&["run", out_path.to_str().expect("utf-8"), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let broken: Vec<&str> = json["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v["invariant"].as_str())
        .collect();
    assert!(broken.contains(&"committed-durability"), "{broken:?}");
    assert_eq!(json["leader"], 1);
    let _ = std::fs::remove_file(&out_path);
}

#[test]
fn a_moment_the_export_cannot_take_is_an_error() {
    let out = sim(&["run", "scenarios/election-basic.toml", "--at-ms", "100"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--at-ms needs --zk-data or --export"), "{err}");

    let out_path = tmp("late.toml");
    let out = sim(&[
        "run",
        "scenarios/election-basic.toml",
        "--export",
        out_path.to_str().expect("utf-8"),
        "--at-ms",
        "99999999",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the run ended at"), "{err}");
    assert!(!out_path.exists());
}
