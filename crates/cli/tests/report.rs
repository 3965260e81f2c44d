//! `sim run --report`, `sim report` and `sim fuzz --report` as users run them: where the
//! report goes, that a report made from a trace file is the one `sim run` writes (but for
//! the wall time), that a long run's report stays small, and what a sweep's report shows.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zabsim-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn sim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("sim runs")
}

fn scenario(rel: &str) -> String {
    root().join(rel).display().to_string()
}

#[test]
fn run_report_defaults_to_reports_dir_and_matches_the_report_of_its_trace() {
    let dir = temp_dir("default");
    let lc = scenario("scenarios/leader-crash-before-commit.toml");
    let out = sim_in(
        &dir,
        &["run", &lc, "--seed", "42", "--report", "--trace", "t.jsonl"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("report: reports/leader-crash-before-commit-42.html"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(dir.join("reports/leader-crash-before-commit-42.html"))
        .expect("reports/ was created and the report written");
    assert!(written.contains(r#"<svg id="timeline""#));

    // The trace is framed by the run and its outcome.
    let trace = std::fs::read_to_string(dir.join("t.jsonl")).expect("trace");
    let first: serde_json::Value = serde_json::from_str(trace.lines().next().unwrap()).unwrap();
    let last: serde_json::Value = serde_json::from_str(trace.lines().last().unwrap()).unwrap();
    assert_eq!(first["kind"], "run");
    assert_eq!(first["scenario"], "leader-crash-before-commit");
    assert_eq!(first["servers"], serde_json::json!(["s1", "s2", "s3"]));
    assert_eq!(last["kind"], "outcome");
    assert_eq!(last["passed"], true);

    // `sim report` on that trace draws the same page.
    let out = sim_in(&dir, &["report", "t.jsonl"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("report: t.html"));
    let from_trace = std::fs::read_to_string(dir.join("t.html")).expect("t.html");
    // The wall time is the one thing the trace does not keep: the run's own report has it,
    // the trace's says it is unknown; the rest is the same page.
    let wall = |page: &str| -> (String, String) {
        let start = page.find(r#"<tr id="wall-time">"#).expect("wall time row");
        let end = start + page[start..].find("</tr>").expect("row end");
        (
            format!("{}{}", &page[..start], &page[end..]),
            page[start..end].to_string(),
        )
    };
    let (written_rest, written_wall) = wall(&written);
    let (trace_rest, trace_wall) = wall(&from_trace);
    assert!(trace_rest == written_rest, "one renderer, one page");
    assert!(written_wall.contains(" ms"), "{written_wall}");
    assert!(!written_wall.contains("unknown"), "{written_wall}");
    assert!(trace_wall.contains("unknown"), "{trace_wall}");
    let out = sim_in(&dir, &["report", "t.jsonl", "--out", "sub/dir/r.html"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(dir.join("sub/dir/r.html").exists());

    // --json keeps stdout one JSON object; the report's path goes to stderr.
    let out = sim_in(
        &dir,
        &[
            "run",
            &lc,
            "--seed",
            "42",
            "--json",
            "--report",
            "j.html",
            "--window-ms",
            "50",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["seed"], 42);
    assert!(String::from_utf8_lossy(&out.stderr).contains("report: j.html"));
    assert!(dir.join("j.html").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_run_report_names_the_violation_and_what_led_to_it() {
    let dir = temp_dir("violation");
    let out = sim_in(
        &dir,
        &[
            "run",
            &scenario("scenarios/bugs/zk-2355.toml"),
            "--report",
            "r.html",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "the violation is expected");
    let page = std::fs::read_to_string(dir.join("r.html")).unwrap();
    assert!(page.contains(r#"id="violation-0""#));
    assert!(page.contains(r#"<svg id="sequence-0""#));
    assert!(page.contains("prefix-consistency violated at"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_of_something_that_is_not_a_trace_is_an_error() {
    let dir = temp_dir("bad");
    std::fs::write(dir.join("notes.txt"), "hello\nworld\n").unwrap();
    let out = sim_in(&dir, &["report", "notes.txt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no line is a zabsim trace line"));
    let out = sim_in(&dir, &["report", "missing.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_hour_long_run_gives_a_report_under_5_mb() {
    // The 7-server swarm with writes, its random crashes, partitions and pauses kept up for
    // a whole simulated hour.
    let dir = temp_dir("hour");
    let text = std::fs::read_to_string(root().join("scenarios/swarm/seven-servers-writes.toml"))
        .unwrap()
        .replace("duration_ms = 30000", "duration_ms = 3600000")
        .replace("until_ms = 20000", "until_ms = 3590000")
        .replace("ops = 400", "ops = 20000");
    assert!(text.contains("duration_ms = 3600000") && text.contains("until_ms = 3590000"));
    std::fs::write(dir.join("hour.toml"), text).unwrap();
    let out = sim_in(&dir, &["run", "hour.toml", "--report", "hour.html"]);
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("simulated 3600000 ms"), "{summary}");
    let size = std::fs::metadata(dir.join("hour.html")).unwrap().len();
    assert!(size < 5_000_000, "{size} bytes");
    let page = std::fs::read_to_string(dir.join("hour.html")).unwrap();
    assert_eq!(page.matches(r#"<g class="lane""#).count() % 7, 0);
    assert!(page.contains("60 min"), "the axis reaches the hour");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fuzz_report_shows_failures_charts_and_commands_whatever_the_jobs() {
    let dir = temp_dir("fuzz");
    let swarm = scenario("scenarios/swarm/five-servers-writes.toml");
    let sweep = |jobs: &str, report: &[&str]| {
        let mut args = vec![
            "fuzz",
            &swarm,
            "--seeds",
            "0..8",
            "--bug",
            "zk-1154",
            "--jobs",
            jobs,
            "--out",
            "failing.jsonl",
            "--report",
        ];
        args.extend_from_slice(report);
        sim_in(&dir, &args)
    };
    // zk-1154 fails some of the eight seeds; `--out` says which, one JSON line each.
    let out = sweep("2", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let failing: Vec<u64> = {
        let text = std::fs::read_to_string(dir.join("failing.jsonl")).expect("--out written");
        let mut seeds: Vec<u64> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("one JSON line");
                v["seed"].as_u64().expect("a seed")
            })
            .collect();
        seeds.sort_unstable();
        seeds
    };
    assert!(
        !failing.is_empty() && failing.len() < 8,
        "some of the eight fail: {failing:?}"
    );
    assert!(
        stdout.contains(&format!(
            "{} passed, {} failed",
            8 - failing.len(),
            failing.len()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("report: reports/fuzz-swarm-five-servers-writes-0-8.html"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(dir.join("reports/fuzz-swarm-five-servers-writes-0-8.html"))
        .expect("the default report path");

    assert!(page.contains(r#"<table id="failures-table">"#));
    assert!(page.contains(r#"<table id="families-table">"#));
    assert!(page.contains(r#"<table id="elect-table">"#));
    for id in [
        "chart-failures",
        "chart-families",
        "chart-elect",
        "chart-progress",
    ] {
        let start = page
            .find(&format!(r#"<figure id="{id}">"#))
            .unwrap_or_else(|| panic!("no {id}"));
        let figure = &page[start..start + page[start..].find("</figure>").unwrap()];
        assert!(figure.contains("<svg") && figure.contains("</svg>"), "{id}");
    }
    let run = format!("sim run {swarm} --seed {} --bug zk-1154", failing[0]);
    let shrink = format!("sim shrink {swarm} --seed {} --bug zk-1154", failing[0]);
    assert!(
        page.contains(&run),
        "reproduce command of the first failing seed"
    );
    assert!(
        page.contains(&shrink),
        "shrink command of the first failing seed"
    );
    assert!(page.contains("history-consistency"));
    for fetch in [
        "<script", "<link", "<img", "<iframe", "@import", "src=", "url(http",
    ] {
        assert!(
            !page.contains(fetch),
            "the page would load something: {fetch}"
        );
    }
    let urls = page.matches("http://").count() + page.matches("https://").count();
    assert_eq!(
        urls,
        page.matches(r#"xmlns="http://www.w3.org/2000/svg""#)
            .count()
    );

    // The reproduce command does reproduce the failure.
    let args: Vec<&str> = run.split(' ').skip(1).collect();
    assert_eq!(sim_in(&dir, &args).status.code(), Some(1));

    // One thread or two, the same page up to its "Sweep" section (threads and speed).
    let out = sweep("1", &["one.html"]);
    assert_eq!(out.status.code(), Some(1));
    let one = std::fs::read_to_string(dir.join("one.html")).expect("one.html");
    let results = |p: &str| p[..p.find(r#"<section id="sweep">"#).expect("sweep")].to_string();
    assert!(
        results(&one) == results(&page),
        "results do not depend on --jobs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
