//! The report of a `sim fuzz` sweep made from real runs: what it counts, that its charts and
//! commands are there, that it escapes what scenarios and verdicts say, and that it fetches
//! nothing.

use report::sweep::{Recovery, SeedResult, Sweep, SweepScenario};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Seeds `seeds` of the 5-server swarm scenario with zk-1154, as `sim fuzz` runs them.
fn sweep_of(seeds: std::ops::Range<u64>) -> Sweep {
    let rel = "scenarios/swarm/five-servers-writes.toml";
    let text = std::fs::read_to_string(root().join(rel)).expect("scenario");
    let sc = scenario::parse(&text, Path::new(rel)).expect("valid scenario");
    let mut results = Vec::new();
    for seed in seeds.clone() {
        let mut opts = sim::Options::new(seed);
        opts.bugs
            .insert(zab::Bug::from_name("zk-1154").expect("a bug"));
        let o = sim::run(&sc, opts);
        results.push(SeedResult::new(
            0,
            &o,
            &sc.expect.violations,
            &o.verdict.reasons,
            Vec::new(),
        ));
    }
    Sweep {
        command: format!(
            "sim fuzz {rel} --seeds {}..{} --bug zk-1154",
            seeds.start, seeds.end
        ),
        scenarios: vec![SweepScenario {
            name: sc.name.clone(),
            path: rel.to_string(),
            zk_version: zab::ZkVersion::default(),
        }],
        seeds: (seeds.start, seeds.end),
        bugs: vec!["zk-1154".to_string()],
        jobs: 1,
        wall_us: 250_000,
        finished: results
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64 * 1000, !r.passed))
            .collect(),
        results,
        ..Sweep::default()
    }
}

/// The `<figure id="...">` element of the page.
fn figure<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"<figure id="{id}">"#))
        .unwrap_or_else(|| panic!("no figure {id}"));
    let end = start + page[start..].find("</figure>").expect("closed");
    &page[start..end]
}

#[test]
fn a_failing_sweep_shows_its_failures_families_recoveries_and_commands() {
    let sweep = sweep_of(0..8);
    // zk-1154 is found within the first eight seeds, not in every one (docs/bug-variants.md).
    // Which seeds they are depends on the whole model, clients included, so the sweep's own
    // results say; each one breaks history-consistency, the bug's signature.
    let failing: Vec<usize> = (0..sweep.results.len())
        .filter(|i| !sweep.results[*i].passed)
        .collect();
    assert!(
        !failing.is_empty() && failing.len() < 8,
        "some of the eight fail: {failing:?}"
    );
    let groups = sweep.by_failure();
    let history = groups
        .iter()
        .find(|g| g.key == "history-consistency")
        .expect("zk-1154 breaks history-consistency");
    assert_eq!(history.seeds, failing, "every failing seed, in seed order");
    let first = &sweep.results[failing[0]];
    // Every seed that carried out a fault had a leader after it (the scenario expects one).
    for r in &sweep.results {
        assert_ne!(r.recovery, Recovery::NoLeader, "seed {}", r.seed);
        assert_eq!(
            r.families.is_empty(),
            r.recovery == Recovery::NoFaults,
            "seed {}",
            r.seed
        );
    }

    let page = report::html::render_sweep(&sweep);
    assert!(page.contains(r#"<table id="failures-table">"#));
    assert!(page.contains(&format!(
        "<code>history-consistency</code></a></td><td class=\"num\">{}</td>",
        failing.len()
    )));
    for id in [
        "chart-failures",
        "chart-families",
        "chart-elect",
        "chart-progress",
    ] {
        assert!(figure(&page, id).contains("<svg"), "{id} holds its chart");
    }
    // The failures chart names the invariants it counts.
    assert!(figure(&page, "chart-failures").contains("history-consistency"));
    for verb in ["run", "shrink"] {
        let command = format!(
            "sim {verb} scenarios/swarm/five-servers-writes.toml --seed {} --bug zk-1154",
            first.seed
        );
        assert!(page.contains(&command), "{command}");
    }
    assert!(page.contains(r#"id="reproduce-history-consistency""#));
    assert!(page.contains(&format!("(seed #{} of the sweep)", failing[0] + 1)));

    // Self-contained: nothing to fetch, the SVG namespace the only URL.
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

    // The page does not depend on how fast or on how many threads the seeds ran, except in
    // its last section.
    let mut other = sweep.clone();
    other.jobs = 4;
    other.wall_us = 90_000;
    other.command.push_str(" --jobs 4");
    other.finished.reverse();
    let before_machine =
        |p: &str| p[..p.find(r#"<section id="sweep">"#).expect("sweep")].to_string();
    assert_eq!(
        before_machine(&page),
        before_machine(&report::html::render_sweep(&other))
    );
}

#[test]
fn a_passing_sweep_says_so() {
    let sweep = sweep_of(0..3);
    assert_eq!(sweep.failed(), 0);
    let page = report::html::render_sweep(&sweep);
    assert!(page.contains(r#"<span class="verdict pass">all passed</span>"#));
    assert!(page.contains("No seed failed."));
    assert!(!page.contains(r#"id="failing-seeds""#));
    assert!(figure(&page, "chart-failures").contains("no seed failed"));
}

#[test]
fn sweep_text_is_escaped() {
    let mut sweep = sweep_of(0..2);
    sweep.scenarios[0].name = "<script>alert(1)</script>".into();
    sweep.scenarios[0].path = "x\"><img src=x onerror=alert(1)>.toml".into();
    sweep.command = "sim fuzz '<b>bold</b>'".into();
    sweep.bugs = vec!["<i>bug</i>".into()];
    sweep.results[0].passed = false;
    sweep.results[0].failures = vec!["expected <svg onload=alert(1)>".into()];
    let page = report::html::render_sweep(&sweep);
    for raw in [
        "<script>alert",
        "<img src=x",
        "<svg onload",
        "<b>bold",
        "<i>bug",
    ] {
        assert!(!page.contains(raw), "{raw} reached the page unescaped");
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("expected &lt;svg onload=alert(1)&gt;"));
}
