//! The report of a `sim fuzz` sweep: one self-contained page (the run report's style, no
//! script, nothing fetched) with what ran, failures by invariant and by fault family, the
//! time to elect after the faults, the protocol coverage, and the commands that reproduce and shrink the first
//! seed of each failure.
//!
//! Everything but the last section is computed from results sorted by seed, so two sweeps of
//! the same seeds give the same page whatever `--jobs` says; the last section ("Sweep") holds
//! what the machine decides: the command line, threads, wall time and speed.

use super::escape::esc;
use super::scale::{ms, time_label};
use super::sweep_charts;
use crate::sweep::{Share, Sweep};
use std::fmt::Write;

const STYLE: &str = include_str!("style.css");

/// Failing seeds listed one by one, at most.
const MAX_FAILING_ROWS: usize = 500;
/// Seeds named in a row of the failures table, at most.
const SEEDS_PER_GROUP: usize = 20;

pub fn render(sweep: &Sweep) -> String {
    let mut s = String::with_capacity(128 * 1024);
    let names = scenario_names(sweep);
    let _ = write!(
        s,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>zabsim fuzz: {} (seeds {}..{})</title><style>{STYLE}</style></head><body>"#,
        esc(&names),
        sweep.seeds.0,
        sweep.seeds.1
    );
    header(&mut s, sweep, &names);
    s.push_str("<main>");
    summary(&mut s, sweep);
    failures(&mut s, sweep);
    causes(&mut s, sweep);
    families(&mut s, sweep);
    time_to_elect(&mut s, sweep);
    super::sweep_coverage::section(&mut s, sweep);
    reproduce(&mut s, sweep);
    failing_seeds(&mut s, sweep);
    machine(&mut s, sweep);
    s.push_str("</main></body></html>\n");
    s
}

fn scenario_names(sweep: &Sweep) -> String {
    sweep
        .scenarios
        .iter()
        .map(|sc| sc.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn pct(n: usize, of: usize) -> String {
    format!("{:.1}%", n as f64 * 100.0 / of.max(1) as f64)
}

fn header(s: &mut String, sweep: &Sweep, names: &str) {
    let failed = sweep.failed();
    let badge = if failed == 0 {
        r#"<span class="verdict pass">all passed</span>"#.to_string()
    } else {
        format!(r#"<span class="verdict fail">{failed} failed</span>"#)
    };
    let _ = write!(
        s,
        r#"<header><h1>fuzz: {} <span class="seed">seeds {}..{}</span> {badge}</h1>"#,
        esc(names),
        sweep.seeds.0,
        sweep.seeds.1
    );
    let mut facts = vec![
        format!("{} seeds run", sweep.results.len()),
        format!("{} passed", sweep.results.len() - failed),
        format!("{failed} failed"),
    ];
    if !sweep.bugs.is_empty() {
        facts.push(format!("bug variants {}", sweep.bugs.join(", ")));
    }
    if sweep.swarm {
        facts.push("swarm".to_string());
    }
    let _ = write!(s, r#"<p class="facts">{}</p>"#, esc(&facts.join(" · ")));
    s.push_str(concat!(
        r##"<nav><a href="#summary">summary</a><a href="#failures">failures by invariant</a>"##,
        r##"<a href="#families">failures by fault family</a><a href="#time-to-elect">time to elect</a>"##,
        r##"<a href="#reproduce">reproduce</a><a href="#failing-seeds">failing seeds</a>"##,
        r##"<a href="#sweep">sweep</a></nav></header>"##
    ));
}

fn row(s: &mut String, key: &str, value_html: &str) {
    let _ = write!(s, "<tr><th>{}</th><td>{value_html}</td></tr>", esc(key));
}

fn summary(s: &mut String, sweep: &Sweep) {
    s.push_str(r#"<section id="summary"><h2>Summary</h2><table>"#);
    let scenarios: Vec<String> = sweep
        .scenarios
        .iter()
        .map(|sc| {
            format!(
                "{} <span class=\"muted\">({})</span>",
                esc(&sc.name),
                esc(&sc.path)
            )
        })
        .collect();
    row(s, "scenarios", &scenarios.join("<br>"));
    let shard = match sweep.shard {
        Some((k, n)) if n > 1 => format!(", shard {k} of {n} (every {n}th seed from the {k}th)"),
        _ => String::new(),
    };
    row(
        s,
        "seeds",
        &format!("{}..{}{shard}", sweep.seeds.0, sweep.seeds.1),
    );
    let bugs = if sweep.bugs.is_empty() {
        "none".to_string()
    } else {
        sweep.bugs.join(", ")
    };
    row(s, "bug variants", &esc(&bugs).to_string());
    row(
        s,
        "swarm",
        if sweep.swarm {
            "yes: each seed drew its ensemble, fault families, network, disk and load"
        } else {
            "no: every seed ran the scenario as written"
        },
    );
    if sweep.check_determinism {
        row(
            s,
            "determinism",
            "every seed ran twice; a seed whose traces differ fails",
        );
    }
    let failed = sweep.failed();
    let total = sweep.results.len();
    row(s, "seeds run", &total.to_string());
    row(
        s,
        "passed",
        &format!("{} ({})", total - failed, pct(total - failed, total)),
    );
    row(
        s,
        "failed",
        &format!(
            r#"<span class="{}">{failed}</span> ({})"#,
            if failed > 0 { "bad" } else { "good" },
            pct(failed, total)
        ),
    );
    row(s, "events simulated", &sweep.events().to_string());
    row(s, "simulated time", &time_label(sweep.sim_us()));
    s.push_str("</table></section>");
}

fn failures(s: &mut String, sweep: &Sweep) {
    s.push_str(r#"<section id="failures"><h2>Failures by invariant</h2>"#);
    let mut groups = sweep.by_failure();
    if groups.is_empty() {
        s.push_str("<p>No seed failed.</p>");
    } else {
        groups.sort_by(|a, b| b.seeds.len().cmp(&a.seeds.len()).then(a.key.cmp(&b.key)));
        s.push_str(r#"<table id="failures-table"><tr><th>invariant (or reason)</th><th>failing seeds</th><th>of all seeds</th><th>first failing seed</th><th>seeds</th></tr>"#);
        for g in &groups {
            let first = &sweep.results[g.seeds[0]];
            let mut seeds: Vec<String> = g
                .seeds
                .iter()
                .take(SEEDS_PER_GROUP)
                .map(|i| sweep.results[*i].seed.to_string())
                .collect();
            if g.seeds.len() > SEEDS_PER_GROUP {
                seeds.push(format!("... ({} more)", g.seeds.len() - SEEDS_PER_GROUP));
            }
            let _ = write!(
                s,
                r##"<tr><td><a href="#reproduce-{}"><code>{}</code></a></td><td class="num">{}</td><td class="num">{}</td><td>{} seed {} <span class="muted">(seed #{} of the sweep)</span></td><td>{}</td></tr>"##,
                anchor(&g.key),
                esc(&g.key),
                g.seeds.len(),
                pct(g.seeds.len(), sweep.results.len()),
                esc(&sweep.scenarios[first.scenario].name),
                first.seed,
                sweep.nth(g.seeds[0]),
                esc(&seeds.join(", "))
            );
        }
        s.push_str("</table>");
        if let Some(info) = groups.iter().find_map(|g| check::invariant(&g.key)) {
            let _ = write!(
                s,
                r#"<p class="muted">A seed that broke several invariants counts in each row. For example <code>{}</code>: {}.</p>"#,
                esc(info.name),
                esc(info.meaning)
            );
        }
    }
    let _ = write!(
        s,
        r#"<div class="charts"><figure id="chart-failures">{}</figure></div></section>"#,
        sweep_charts::failures(sweep)
    );
}

/// Failing seeds by the known bug or hazard their failure is attributed to, unexplained ones
/// first: those are what to look at.
fn causes(s: &mut String, sweep: &Sweep) {
    let groups = sweep.by_attribution();
    if groups.is_empty() {
        return;
    }
    s.push_str(r#"<section id="causes"><h2>Failures by cause</h2><p>Each failing seed was run again with each known bug or hazard that acted in it fixed in turn; its cause is the one (or the set, joined by +) whose fix removes the failure. A failure no fix removes is unexplained.</p><table id="causes-table"><tr><th>cause</th><th>failing seeds</th><th>first failing seed</th><th>reproduce</th></tr>"#);
    for g in &groups {
        let first = &sweep.results[g.seeds[0]];
        let name = match &g.name {
            Some(n) => format!("<code>{}</code>", esc(n)),
            None => r#"<strong>unexplained</strong>"#.to_string(),
        };
        let _ = write!(
            s,
            r#"<tr><td>{name}</td><td class="num">{}</td><td>{} seed {}</td><td><code>{}</code></td></tr>"#,
            g.seeds.len(),
            esc(&sweep.scenarios[first.scenario].name),
            first.seed,
            esc(&sweep.reproduce(first))
        );
    }
    s.push_str("</table></section>");
}

fn share_table(s: &mut String, id: &str, what: &str, rows: &[Share], failed: usize, total: usize) {
    let _ = write!(
        s,
        r#"<table id="{id}"><tr><th>{what}</th><th>failing seeds with it</th><th>all seeds with it</th><th>over-represented by</th></tr>"#
    );
    for r in rows {
        let excess = r.excess(failed, total) * 100.0;
        let _ = write!(
            s,
            r#"<tr><td><code>{}</code></td><td class="num">{} ({})</td><td class="num">{} ({})</td><td class="num{}">{:+.1} points</td></tr>"#,
            esc(&r.label),
            r.failing,
            pct(r.failing, failed),
            r.all,
            pct(r.all, total),
            if failed > 0 && excess >= 10.0 {
                " bad"
            } else {
                ""
            },
            if failed > 0 { excess } else { 0.0 }
        );
    }
    s.push_str("</table>");
}

fn families(s: &mut String, sweep: &Sweep) {
    let (failed, total) = (sweep.failed(), sweep.results.len());
    s.push_str(r#"<section id="families"><h2>Failures by fault family</h2>"#);
    s.push_str(r#"<p class="muted">Which kinds of fault each seed carried out, among the failing seeds against among all seeds: a family far more common among failures than overall is where to look first.</p>"#);
    let families = sweep.families();
    share_table(
        s,
        "families-table",
        "fault family",
        &families,
        failed,
        total,
    );
    let _ = write!(
        s,
        r#"<div class="charts"><figure id="chart-families">{}</figure>"#,
        sweep_charts::shares(
            "Fault families: failing seeds against all",
            &families,
            failed,
            total
        )
    );
    if sweep.swarm {
        let knobs = sweep.knobs();
        // The families `--swarm` switched on are the headline knobs; all knobs are below.
        let on: Vec<Share> = knobs
            .iter()
            .filter(|k| k.label.ends_with("=on"))
            .cloned()
            .collect();
        let _ = write!(
            s,
            r#"<figure id="chart-knobs">{}</figure></div><h3>Swarm knobs</h3><p class="muted">What each seed drew, most over-represented among the failing seeds first.</p>"#,
            sweep_charts::shares(
                "Fault families switched on by the swarm",
                &on,
                failed,
                total
            )
        );
        share_table(s, "knobs-table", "knob=value", &knobs, failed, total);
    } else {
        s.push_str("</div>");
    }
    s.push_str("</section>");
}

fn time_to_elect(s: &mut String, sweep: &Sweep) {
    s.push_str(r#"<section id="time-to-elect"><h2>Time to elect after the faults heal</h2>"#);
    s.push_str(r#"<p class="muted">For each seed, from the end of its last fault (the last restart, heal or resume) to the first leader established after it. A seed whose leader held through the end of its faults needed no election: it counts as 0 ms (the grey bar), and the percentiles are of the seeds that did need one.</p>"#);
    let (none, held, elected, lost) = sweep.recoveries();
    let times = sweep.elect_times_us();
    let p = |q: f64| -> String {
        if times.is_empty() {
            return "—".into();
        }
        let rank = ((q / 100.0) * times.len() as f64).ceil() as usize;
        format!("{} ms", ms(times[rank.clamp(1, times.len()) - 1]))
    };
    let _ = write!(
        s,
        r#"<table id="elect-table"><tr><th>seeds without faults</th><th>leader held</th><th>elected after the faults</th><th>no leader after the faults</th><th>elected: p50</th><th>p90</th><th>p99</th><th>max</th></tr><tr><td class="num">{none}</td><td class="num">{held}</td><td class="num">{elected}</td><td class="num{}">{lost}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr></table>"#,
        if lost > 0 { " bad" } else { "" },
        p(50.0),
        p(90.0),
        p(99.0),
        p(100.0)
    );
    let _ = write!(
        s,
        r#"<div class="charts"><figure id="chart-elect">{}</figure></div></section>"#,
        sweep_charts::time_to_elect(sweep)
    );
}

/// An id fragment for a failure key: letters, digits and dashes.
fn anchor(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn reproduce(s: &mut String, sweep: &Sweep) {
    s.push_str(r#"<section id="reproduce"><h2>Reproduce</h2>"#);
    let groups = sweep.by_failure();
    if groups.is_empty() {
        s.push_str("<p>Nothing to reproduce: no seed failed.</p></section>");
        return;
    }
    for g in &groups {
        let first = &sweep.results[g.seeds[0]];
        let _ = write!(
            s,
            r#"<div class="violation-box" id="reproduce-{}"><h3>{}</h3><p>{} failing seed(s); the first is {} seed {} (seed #{} of the sweep).</p>"#,
            anchor(&g.key),
            esc(&g.key),
            g.seeds.len(),
            esc(&sweep.scenarios[first.scenario].name),
            first.seed,
            sweep.nth(g.seeds[0])
        );
        if let Some(info) = check::invariant(&g.key) {
            let _ = write!(s, "<p><b>The invariant:</b> {}.</p>", esc(info.meaning));
        }
        let _ = write!(
            s,
            r#"<pre class="command">{}</pre><p class="muted">Add <code>--report</code> to draw that run. Cut it down to a small scenario that fails the same way:</p><pre class="command">{}</pre></div>"#,
            esc(&sweep.reproduce(first)),
            esc(&sweep.shrink(first))
        );
    }
    s.push_str("</section>");
}

fn failing_seeds(s: &mut String, sweep: &Sweep) {
    let failing: Vec<_> = sweep.results.iter().filter(|r| !r.passed).collect();
    if failing.is_empty() {
        return;
    }
    s.push_str(r#"<section id="failing-seeds"><h2>Failing seeds</h2><table><tr><th>scenario</th><th>seed</th><th>failed on</th><th>fault families</th><th>command</th></tr>"#);
    for r in failing.iter().take(MAX_FAILING_ROWS) {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="num">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>"#,
            esc(&sweep.scenarios[r.scenario].name),
            r.seed,
            esc(&r.failures.join(", ")),
            esc(&r.families.join(", ")),
            esc(&sweep.reproduce(r))
        );
    }
    s.push_str("</table>");
    if failing.len() > MAX_FAILING_ROWS {
        let _ = write!(
            s,
            r#"<p class="muted">... and {} more (<code>--out</code> writes them all).</p>"#,
            failing.len() - MAX_FAILING_ROWS
        );
    }
    s.push_str("</section>");
}

/// The part of the page that the machine decides: command line, threads and speed.
fn machine(s: &mut String, sweep: &Sweep) {
    s.push_str(r#"<section id="sweep"><h2>Sweep</h2>"#);
    let _ = write!(
        s,
        r#"<pre class="command">{}</pre><table>"#,
        esc(&sweep.command)
    );
    if sweep.wall_us == 0 {
        // `sim merge`: shard files hold no wall time.
        s.push_str(
            r#"</table><p class="muted">Merged from shard files, which hold no wall time: the shards ran elsewhere.</p></section>"#,
        );
        return;
    }
    row(s, "threads", &sweep.jobs.to_string());
    row(s, "wall time", &format!("{} ms", ms(sweep.wall_us)));
    row(s, "seeds/s", &format!("{:.1}", sweep.seeds_per_s()));
    row(s, "events/s", &format!("{:.0}", sweep.events_per_s()));
    row(
        s,
        "simulated time per wall second",
        &format!(
            "{:.0}x",
            sweep.sim_us() as f64 / sweep.wall_us.max(1) as f64
        ),
    );
    let _ = write!(
        s,
        r#"</table><div class="charts"><figure id="chart-progress">{}</figure></div><p class="muted">Only this section depends on the machine and on <code>--jobs</code>; the rest of the page is computed from the results in seed order.</p></section>"#,
        sweep_charts::progress(sweep)
    );
}
