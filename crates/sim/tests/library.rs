//! The scenario library is its own test: every file runs with its own seed and must show what
//! its `[expect]` table says, invariants and facts alike.

mod common;

use std::path::{Path, PathBuf};

fn scenarios(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("scenarios/ is readable")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            scenarios(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

#[test]
fn every_library_scenario_shows_what_its_expect_says() {
    let mut files = Vec::new();
    scenarios(&root(), &mut files);
    assert!(files.len() > 40, "the library is there: {}", files.len());
    let mut failed = Vec::new();
    for path in &files {
        let sc = scenario::load(path).expect("library scenarios load");
        let mut o = sim::run(&sc, sim::Options::new(sc.seed));
        let golden = sim::golden::compare(&sc, &o);
        sim::golden::apply(&mut o, &golden);
        if !o.verdict.passed {
            failed.push(format!(
                "{}: {}",
                path.display(),
                o.verdict.reasons.join("\n")
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Every library scenario outside swarm/ pins its story in a golden file, and a run that
/// tells another story fails, naming the first line that differs.
#[test]
fn golden_files_pin_each_story_and_catch_a_change() {
    let mut files = Vec::new();
    scenarios(&root(), &mut files);
    let without: Vec<String> = files
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "swarm"))
        .filter(|p| {
            let sc = scenario::load(p).expect("library scenarios load");
            sc.golden_path().is_none_or(|g| !g.is_file())
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(without.is_empty(), "no golden file: {without:?}");

    // A copy of a scenario whose golden file was written by the run itself matches; with one
    // line of it changed, the run fails and names that line.
    let dir = std::env::temp_dir().join(format!("zabsim-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text =
        std::fs::read_to_string(root().join("leader-crash-before-commit.toml")).expect("readable");
    let path = dir.join("copy.toml");
    let sc = scenario::parse(&text, &path).expect("valid");
    let mut other = sim::run(&sc, sim::Options::new(sc.seed));
    let written = sim::golden::rewrite(&sc, &other).expect("writes the golden file");
    assert_eq!(
        sim::golden::compare(&sc, &other),
        sim::golden::Golden::Matches
    );
    let story = std::fs::read_to_string(&written).expect("written");
    let at = story
        .lines()
        .position(|l| l.starts_with("end: "))
        .expect("an end line");
    let changed: Vec<&str> = story
        .lines()
        .enumerate()
        .map(|(i, l)| if i == at { "end: s3 leads epoch 2" } else { l })
        .collect();
    std::fs::write(&written, changed.join("\n") + "\n").expect("writable");
    let g = sim::golden::compare(&sc, &other);
    let _ = std::fs::remove_dir_all(&dir);
    let sim::golden::Golden::Differs { line, golden, .. } = &g else {
        panic!("a changed golden file no longer matches: {g:?}");
    };
    assert_eq!((*line, golden.as_str()), (at + 1, "end: s3 leads epoch 2"));
    sim::golden::apply(&mut other, &g);
    assert!(!other.verdict.passed);
    assert_eq!(other.verdict.exit_code, 1);
    assert!(
        other
            .verdict
            .reasons
            .iter()
            .any(|r| r.contains("golden:") && r.contains("--rewrite")),
        "{:?}",
        other.verdict.reasons
    );
}

/// A library scenario states facts that hold whatever the seed, so that `sim fuzz` of it
/// stays clean: each file outside bugs/ and swarm/ that states facts passes ten seeds.
#[test]
fn library_facts_hold_for_every_seed() {
    let mut files = Vec::new();
    scenarios(&root(), &mut files);
    let mut failed = Vec::new();
    let mut stating = 0;
    for path in &files {
        let dir = path
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|d| d.to_str());
        if matches!(dir, Some("bugs" | "swarm")) {
            continue;
        }
        let sc = scenario::load(path).expect("library scenarios load");
        let e = &sc.expect;
        let states_facts = e.leader_id.is_some()
            || e.elections.is_some()
            || !e.delivered.is_empty()
            || !e.never_delivered.is_empty()
            || e.committed_at_least.is_some()
            || e.same_history
            || !e.syncs.is_empty();
        if !states_facts {
            continue;
        }
        stating += 1;
        for seed in 0..10 {
            let o = sim::run(&sc, sim::Options::new(seed));
            if !o.verdict.passed {
                failed.push(format!(
                    "{} seed {seed}: {:?}",
                    path.display(),
                    o.verdict.reasons
                ));
            }
        }
    }
    assert!(
        stating >= 10,
        "only {stating} library scenarios state facts"
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The facts are checked, not only parsed: the same run with facts that do not hold fails,
/// naming each one; the true facts pass.
#[test]
fn facts_that_do_not_hold_fail_the_run() {
    let path = root().join("leader-crash-before-commit.toml");
    let text = std::fs::read_to_string(&path).expect("readable");
    let body = &text[..text.find("[expect]").expect("an [expect] table")];
    let wrong = format!(
        "{body}[expect]\nleader = \"s3\"\nelections = 3\ndelivered = [\"1:99\"]\n\
         never_delivered = [\"1:1\"]\ncommitted_at_least = 1000\n\
         sync = [{{ learner = \"s1\", mode = \"SNAP\" }}]\n"
    );
    let sc = scenario::parse(&wrong, &path).expect("valid");
    let o = sim::run(&sc, sim::Options::new(sc.seed));
    let reasons = o.verdict.reasons.join("\n");
    assert_eq!(o.verdict.exit_code, 1, "{reasons}");
    for needle in [
        "expected s3 to lead at the end; s2 leads epoch 2",
        "expected 3 elections; there were 2",
        "to have delivered 1:99",
        "expected 1:1 never to be delivered; it was",
        "expected at least 1000 committed txns",
        "expected s1 to be synced with SNAP; it got",
    ] {
        assert!(
            reasons.contains(needle),
            "{needle:?} missing from:\n{reasons}"
        );
    }

    let o = common::run_passing("", "leader-crash-before-commit.toml");
    assert!(o.verdict.reasons.is_empty());
}

/// `same_history` compares the servers' final delivered sequences: a run whose servers end
/// apart (zk-1154's follower keeps a txn the others never had) fails it.
#[test]
fn same_history_fails_when_servers_end_apart() {
    let path = root().join("bugs/zk-1154.toml");
    let text = std::fs::read_to_string(&path).expect("readable");
    let o = common::run_passing("bugs", "zk-1154.toml");
    let apart = o
        .delivered
        .values()
        .any(|h| Some(h) != o.delivered.values().next());
    assert!(apart, "the bug leaves the servers' histories apart");
    let with = text.replace("[expect]\n", "[expect]\nsame_history = true\n");
    let sc = scenario::parse(&with, &path).expect("valid");
    let o = sim::run(&sc, sim::Options::new(sc.seed));
    assert!(
        o.verdict
            .reasons
            .iter()
            .any(|r| r.contains("the same delivered history")),
        "{:?}",
        o.verdict.reasons
    );
}
