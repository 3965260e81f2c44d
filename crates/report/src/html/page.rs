//! The page: summary, timeline, violations, charts and tables, assembled into one HTML file
//! with its style inline and nothing to fetch.

use super::escape::esc;
use super::explain::{cell_html, explanation};
use super::model::{Establishment, Run};
use super::scale::{ms, time_label};
use super::{charts, clients, sequence, timeline};
use std::fmt::Write;

pub(super) const STYLE: &str = include_str!("style.css");

/// Elections drawn again in detail, at most.
const DETAIL_ELECTIONS: usize = 4;
/// Faults listed in the table, at most.
const MAX_FAULTS: usize = 300;
/// Violations drawn with a sequence diagram, at most.
const MAX_DIAGRAMS: usize = 10;

pub fn render(run: &Run) -> String {
    let mut s = String::with_capacity(256 * 1024);
    let title = match &run.info {
        Some(i) => format!("{} (seed {})", i.scenario, i.seed),
        None => "run".to_string(),
    };
    let _ = write!(
        s,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>zabsim: {}</title><style>{STYLE}</style></head><body>"#,
        esc(&title)
    );
    header(&mut s, run);
    s.push_str("<main>");
    timeline_section(&mut s, run);
    elections_detail(&mut s, run);
    violations(&mut s, run);
    summary(&mut s, run);
    charts_section(&mut s, run);
    clients::section(&mut s, run);
    elections_table(&mut s, run, "elections", "Elections");
    invariants(&mut s, run);
    faults(&mut s, run, "faults", "Faults");
    source(&mut s, run);
    s.push_str("</main></body></html>\n");
    s
}

/// The top of the page: what ran, whether it passed, and in one line what happened, so
/// that the timeline right below it can be read at once.
fn header(s: &mut String, run: &Run) {
    let (name, seed) = match &run.info {
        Some(i) => (i.scenario.as_str(), format!("seed {}", i.seed)),
        None => ("zabsim run", String::new()),
    };
    let _ = write!(
        s,
        r#"<header><h1>{} <span class="seed">{}</span> {}</h1>"#,
        esc(name),
        esc(&seed),
        verdict_badge(run)
    );
    if let Some(i) = run.info.as_ref().filter(|i| !i.description.is_empty()) {
        let _ = write!(s, r#"<p class="lead">{}</p>"#, esc(i.description.trim()));
    }
    let mut facts = vec![format!("simulated {}", time_label(run.end_us))];
    if let Some(o) = &run.outcome {
        facts.push(format!("{} events", o.events));
        facts.push(match o.leader {
            Some(l) => format!("final leader s{l} in epoch {}", o.epoch),
            None => format!("no leader at the end (highest epoch {})", o.epoch),
        });
        facts.push(format!("{} committed", crate::count(o.committed, "txn")));
    }
    facts.push(format!(
        "{}, {}",
        crate::count(run.established.len() as u64, "election"),
        crate::count(run.faults.len() as u64, "fault")
    ));
    if !run.clients.is_empty() {
        let failed: u64 = run.client_failures.values().sum();
        facts.push(format!(
            "{} clients: {} ops answered OK, {failed} failed",
            run.clients.len(),
            run.client_ops.len()
        ));
    }
    let mut line = esc(&facts.join(" · ")).to_string();
    for (n, v) in run.violations.iter().enumerate() {
        let _ = write!(
            line,
            r##" · <a class="bad" href="#violation-{n}">{} violated at {} ms</a>"##,
            esc(&v.invariant),
            ms(v.t_us)
        );
    }
    let _ = write!(s, r#"<p class="facts">{line}</p>"#);
    if let Some(o) = run.outcome.as_ref().filter(|o| !o.passed) {
        s.push_str(r#"<ul class="reasons">"#);
        for r in &o.reasons {
            let _ = write!(s, "<li>{}</li>", esc(r));
        }
        s.push_str("</ul>");
    }
    let _ = write!(
        s,
        r##"<nav><a href="#timeline-section">timeline</a>{}<a href="#summary">summary</a><a href="#charts">charts</a>{}<a href="#elections">elections</a><a href="#invariants">invariants</a><a href="#faults">faults</a></nav></header>"##,
        if run.violations.is_empty() {
            ""
        } else {
            r##"<a href="#violations">violations</a>"##
        },
        if run.clients.is_empty() {
            ""
        } else {
            r##"<a href="#clients">clients</a>"##
        }
    );
}

fn verdict_badge(run: &Run) -> String {
    match &run.outcome {
        Some(o) if o.passed => r#"<span class="verdict pass">PASS</span>"#.into(),
        Some(_) => r#"<span class="verdict fail">FAIL</span>"#.into(),
        None => r#"<span class="verdict unknown">no verdict in the trace</span>"#.into(),
    }
}

/// The command that reruns the run, from the outcome or the trace's header.
fn reproduce(run: &Run) -> Option<String> {
    if let Some(o) = run.outcome.as_ref().filter(|o| !o.reproduce.is_empty()) {
        return Some(o.reproduce.clone());
    }
    let i = run.info.as_ref()?;
    if !i.reproduce.is_empty() {
        return Some(i.reproduce.clone());
    }
    Some(format!("sim run {} --seed {}", i.path, i.seed))
}

fn shrink(reproduce: &str) -> Option<String> {
    reproduce
        .strip_prefix("sim run ")
        .map(|rest| format!("sim shrink {rest}"))
}

/// The command of the same run with its bugs off (`--no-bugs`, and no `--bug`), when the
/// run had bugs on.
fn without_bugs(run: &Run, reproduce: &str) -> Option<String> {
    let info = run.info.as_ref()?;
    if info.bugs.is_empty() || reproduce.contains("--no-bugs") {
        return None;
    }
    let mut words = reproduce.split_whitespace();
    let mut kept = Vec::new();
    while let Some(w) = words.next() {
        if w == "--bug" {
            words.next();
        } else {
            kept.push(w);
        }
    }
    Some(format!("{} --no-bugs", kept.join(" ")))
}

fn row(s: &mut String, key: &str, value_html: &str) {
    let _ = write!(s, "<tr><th>{}</th><td>{value_html}</td></tr>", esc(key));
}

fn summary(s: &mut String, run: &Run) {
    s.push_str(r#"<section id="summary"><h2>Summary</h2><table>"#);
    if let Some(i) = &run.info {
        row(
            s,
            "scenario",
            &format!(
                "{} <span class=\"muted\">({})</span>",
                esc(&i.scenario),
                esc(&i.path)
            ),
        );
        row(s, "seed", &i.seed.to_string());
        let bugs = if i.bugs.is_empty() {
            "none".to_string()
        } else {
            i.bugs.join(", ")
        };
        row(s, "bug variants", &esc(&bugs).to_string());
        let servers = format!(
            "{} voting{}",
            i.servers.len(),
            if i.observers.is_empty() {
                String::new()
            } else {
                format!(", {} observing", i.observers.len())
            }
        );
        row(s, "servers", &servers);
    }
    match &run.outcome {
        Some(o) => {
            let mut v = verdict_badge(run);
            if o.passed {
                v.push_str(" the run matches the scenario's <code>[expect]</code>");
            } else {
                v.push_str("<ul>");
                for r in &o.reasons {
                    let _ = write!(v, "<li>{}</li>", esc(r));
                }
                v.push_str("</ul>");
            }
            row(s, "verdict", &v);
            if !o.zk_version.is_empty() {
                row(s, "ZooKeeper release", &esc(&o.zk_version).to_string());
            }
            if !o.passed {
                let cause = match &o.attributed_to {
                    Some(name) => format!(
                        "<code>{}</code> (with it fixed, the seed passes)",
                        esc(name)
                    ),
                    None => "no known bug or hazard (unexplained)".to_string(),
                };
                row(s, "attributed to", &cause);
            }
            if !o.startup_failures.is_empty() {
                let mut v = String::from("<ul>");
                for f in &o.startup_failures {
                    let _ = write!(
                        v,
                        "<li>s{} at {:.3} ms: {}</li>",
                        f.server,
                        f.at_ms,
                        esc(&f.reason)
                    );
                }
                v.push_str("</ul>");
                row(s, "servers that refused to start", &v);
            }
            if !o.fired.is_empty() {
                let mut v = String::from("<ul>");
                for f in &o.fired {
                    let _ = write!(
                        v,
                        "<li><code>{}</code> first at {:.3} ms on s{}</li>",
                        esc(&f.bug),
                        f.at_ms,
                        f.server
                    );
                }
                v.push_str("</ul>");
                row(s, "known bugs and hazards that acted", &v);
            }
            let leader = match o.leader {
                Some(l) => format!("s{l} in epoch {}", o.epoch),
                None => format!("none (highest epoch {})", o.epoch),
            };
            row(s, "final leader", &leader);
            row(s, "txns committed", &o.committed.to_string());
            row(s, "events simulated", &o.events.to_string());
            row(
                s,
                "trace hash",
                &format!("<code>{}</code>", esc(&o.trace_hash)),
            );
        }
        None => row(s, "verdict", &verdict_badge(run)),
    }
    row(s, "simulated time", &format!("{} ms", ms(run.end_us)));
    let wall = match run.wall_us {
        Some(us) => {
            let rate = run
                .outcome
                .as_ref()
                .map(|o| {
                    format!(
                        " <span class=\"muted\">({:.0} events/s, {:.0}x real time)</span>",
                        o.events as f64 * 1e6 / us.max(1) as f64,
                        run.end_us as f64 / us.max(1) as f64
                    )
                })
                .unwrap_or_default();
            format!("{} ms{rate}", ms(us))
        }
        None => "unknown <span class=\"muted\">(a trace does not record it, so that it stays \
             the same from run to run)</span>"
            .to_string(),
    };
    let _ = write!(
        s,
        r#"<tr id="wall-time"><th>wall time</th><td>{wall}</td></tr>"#
    );
    let counts = violation_counts(run);
    let checked = check::checked_invariants();
    let violated = checked.iter().filter(|n| counts(n) > 0).count();
    row(
        s,
        "invariants checked",
        &format!(
            r##"{} checked, {violated} violated: {} <a href="#invariants">(table)</a>"##,
            checked.len(),
            checked
                .iter()
                .map(|n| {
                    let c = counts(n);
                    let class = if c > 0 { " class=\"bad\"" } else { "" };
                    format!("<code{class}>{}</code>&nbsp;{c}", esc(n))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    row(
        s,
        "violations",
        &if run.violations.is_empty() {
            "none".to_string()
        } else {
            run.violations
                .iter()
                .enumerate()
                .map(|(n, v)| {
                    format!(
                        r##"<a href="#violation-{n}">{}</a> at {} ms"##,
                        esc(&v.invariant),
                        ms(v.t_us)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    row(
        s,
        "trace",
        &format!(
            "{} lines{}",
            run.lines,
            if run.skipped > 0 {
                format!(", {} not understood and skipped", run.skipped)
            } else {
                String::new()
            }
        ),
    );
    s.push_str("</table>");
    if let Some(cmd) = reproduce(run) {
        let _ = write!(
            s,
            r#"<h3>Reproduce</h3><pre class="command">{}</pre>"#,
            esc(&cmd)
        );
    }
    s.push_str("</section>");
}

pub(super) fn legend(run: &Run) -> String {
    let mut s = server_legend().to_string();
    if !run.clients.is_empty() {
        s.push_str(client_legend());
    }
    s
}

fn server_legend() -> &'static str {
    concat!(
        r#"<div class="legend">"#,
        r#"<span><i class="sw looking"></i>LOOKING</span>"#,
        r#"<span><i class="sw following"></i>FOLLOWING</span>"#,
        r#"<span><i class="sw leading"></i>LEADING</span>"#,
        r#"<span><i class="sw observing"></i>OBSERVING</span>"#,
        r#"<span><i class="sw phase"></i>discovery, synchronization, broadcast (paler to full)</span>"#,
        r#"<span><i class="sw down"></i>down (crashed)</span>"#,
        r#"<span><i class="sw paused"></i>paused</span>"#,
        r#"<span><i class="sw cut"></i>partition: lanes striped alike could reach each other</span>"#,
        r#"<span><i class="sw nolead"></i>no established leader</span>"#,
        r#"<span><b class="sym crash">✕</b>crash</span>"#,
        r#"<span><b class="sym flag">⚑</b>leader established</span>"#,
        r#"<span><b class="sym">○</b>vote changed (for the server named)</span>"#,
        r#"<span><b class="sym">|</b>commit (leader)</span>"#,
        r#"<span><b class="sym">▼</b>fault</span>"#,
        "</div>"
    )
}

fn client_legend() -> &'static str {
    concat!(
        r#"<div class="legend"><span>client lanes:</span>"#,
        r#"<span><i class="sw leading"></i>believes it leads (election recipe)</span>"#,
        r#"<span><i class="sw lock"></i>holds the lock</span>"#,
        r#"<span><i class="sw conn"></i>connected (session live on a server)</span>"#,
        r#"<span><b class="sym connected">●</b>connected</span>"#,
        r#"<span><b class="sym">○</b>disconnected</span>"#,
        r#"<span><b class="sym expired">◆</b>told its session expired</span>"#,
        r#"<span><b class="sym crash">✕</b>crash</span>"#,
        r#"<span><i class="sw cpaused"></i>paused (still believing what it held)</span>"#,
        r#"<span><b class="sym use">|</b>resource use accepted</span>"#,
        r#"<span><b class="sym refused">✕</b>resource use refused</span>"#,
        "</div>"
    )
}

fn timeline_section(s: &mut String, run: &Run) {
    let _ = write!(
        s,
        r#"<section id="timeline-section"><h2>Election timeline</h2>{}<div class="scroll">{}</div><p class="muted">Hover over a span or mark for details: states, epochs and last zxids, votes, faults and partitions{}.</p></section>"#,
        legend(run),
        timeline::render(
            run,
            &timeline::View {
                id: "timeline",
                from_us: 0,
                to_us: run.end_us.max(1),
                highlight: None,
            }
        ),
        if run.clients.is_empty() {
            ""
        } else {
            "; sessions, connections, recipe roles and resource uses of the clients"
        }
    );
}

/// Elections after the first: the span without a leader, with a margin on both sides.
fn detail_span(e: &Establishment) -> (u64, u64) {
    let took = e.at_us - e.started_us;
    let pad = (took / 5).max(30_000);
    (e.started_us.saturating_sub(pad), e.at_us + pad)
}

fn elections_detail(s: &mut String, run: &Run) {
    let later: Vec<&Establishment> = run
        .established
        .iter()
        .filter(|e| e.started_us > 0)
        .collect();
    if later.is_empty() {
        return;
    }
    s.push_str(r#"<section id="elections-detail"><h2>Elections after a leader was lost</h2>"#);
    if later.len() > DETAIL_ELECTIONS {
        let _ = write!(
            s,
            r#"<p class="muted">The first {DETAIL_ELECTIONS} of {} are drawn; the elections table lists them all.</p>"#,
            later.len()
        );
    }
    for (k, e) in later.iter().take(DETAIL_ELECTIONS).enumerate() {
        let (from, to) = detail_span(e);
        let _ = write!(
            s,
            r#"<h3>Epoch {}: s{} established {} after the ensemble lost its leader at {} ms</h3><div class="scroll">{}</div>"#,
            e.epoch,
            e.leader,
            time_label(e.at_us - e.started_us),
            ms(e.started_us),
            timeline::render(
                run,
                &timeline::View {
                    id: &format!("election-{k}"),
                    from_us: from,
                    to_us: to,
                    highlight: None,
                }
            )
        );
    }
    s.push_str("</section>");
}

fn violations(s: &mut String, run: &Run) {
    if run.violations.is_empty() {
        return;
    }
    s.push_str(r#"<section id="violations"><h2>Violations</h2>"#);
    let repro = reproduce(run);
    for (n, v) in run.violations.iter().enumerate() {
        let server = v.server.map(|s| format!(" on s{s}")).unwrap_or_default();
        let _ = write!(
            s,
            r#"<div class="violation-box" id="violation-{n}"><h3>{} violated at {} ms{}</h3><p>{}</p>"#,
            esc(&v.invariant),
            ms(v.t_us),
            server,
            esc(&v.message)
        );
        if let Some(info) = check::invariant(&v.invariant) {
            let _ = write!(s, "<p><b>The invariant:</b> {}.", esc(info.meaning));
            if let Some((watches, breaks)) = explanation(&v.invariant) {
                let _ = write!(
                    s,
                    " The checker watches {}; it fails when {}.",
                    cell_html(watches),
                    cell_html(breaks)
                );
            }
            s.push_str("</p>");
        }
        if let Some(cmd) = &repro {
            let _ = write!(s, r#"<pre class="command">{}</pre>"#, esc(cmd));
            let expected = run.outcome.as_ref().is_some_and(|o| o.passed);
            if !expected {
                // Only a run that failed its [expect] has a failure to shrink.
                if let Some(sh) = shrink(cmd) {
                    let _ = write!(
                        s,
                        r#"<p class="muted">Cut it down to a small scenario that fails the same way:</p><pre class="command">{}</pre>"#,
                        esc(&sh)
                    );
                }
            } else if let Some(fixed) = without_bugs(run, cmd) {
                let _ = write!(
                    s,
                    r#"<p class="muted">The scenario expects this violation of its bugs. The same schedule with them off, the correct protocol:</p><pre class="command">{}</pre>"#,
                    esc(&fixed)
                );
            }
        }
        // Violations found by the same event share what led up to it: draw it once.
        if let Some(first) = (0..n).find(|k| run.violations[*k].t_us == v.t_us) {
            let _ = write!(
                s,
                r##"<p class="muted">Found at the same event as <a href="#violation-{first}">{}</a>: the timeline and messages before it are drawn there.</p></div>"##,
                esc(&run.violations[first].invariant)
            );
            continue;
        }
        let from = v.t_us.saturating_sub(run.window_us);
        let _ = write!(
            s,
            r#"<p class="muted">The {} before it:</p><div class="scroll">{}</div>"#,
            time_label(run.window_us),
            timeline::render(
                run,
                &timeline::View {
                    id: &format!("violation-timeline-{n}"),
                    from_us: from,
                    to_us: v.t_us + run.window_us / 20 + 1,
                    highlight: Some(v.t_us),
                }
            )
        );
        if n < MAX_DIAGRAMS {
            let omitted = if v.omitted > 0 {
                format!(
                    " The {} earlier rows of the window are left out.",
                    v.omitted
                )
            } else {
                String::new()
            };
            let _ = write!(
                s,
                r#"<p class="muted">Messages and events in that window, in trace order ({} rows).{omitted} Dashed arrows from the top were sent earlier; dashed arrows to the bottom were still in flight.</p><div class="scroll">{}</div>"#,
                v.items.len(),
                sequence::render(run, v, n)
            );
        }
        s.push_str("</div>");
    }
    s.push_str("</section>");
}

/// Percentile of sorted values (nearest rank).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn charts_section(s: &mut String, run: &Run) {
    let _ = write!(
        s,
        r#"<section id="charts"><h2>Charts</h2><div class="charts"><figure>{}</figure><figure>{}</figure><figure>{}</figure></div>"#,
        charts::commits(run),
        charts::latency(run),
        charts::time_to_elect(run)
    );
    let failed: u64 = run.client_failures.values().sum();
    if !run.client_ops.is_empty() || run.unanswered > 0 || failed > 0 {
        let mut lat: Vec<u64> = run
            .client_ops
            .iter()
            .map(|o| o.answered_us - o.submitted_us)
            .collect();
        lat.sort_unstable();
        let writes = run.client_ops.iter().filter(|o| o.write).count();
        let _ = write!(
            s,
            r#"<table id="client-ops"><tr><th>client operations answered OK</th><th>writes</th><th>reads</th><th>failed</th><th>unanswered</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr><tr><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{failed}</td><td class="num">{}</td><td class="num">{} ms</td><td class="num">{} ms</td><td class="num">{} ms</td><td class="num">{} ms</td></tr></table>"#,
            lat.len(),
            writes,
            lat.len() - writes,
            run.unanswered,
            ms(percentile(&lat, 50.0)),
            ms(percentile(&lat, 90.0)),
            ms(percentile(&lat, 99.0)),
            ms(lat.last().copied().unwrap_or(0))
        );
        let _ = write!(
            s,
            r#"<p class="muted">Latency is from submission to an answer without error. Failed operations are counted apart{}; they are not in the chart.</p>"#,
            if failed > 0 {
                format!(": {}", esc(&clients::failures_text(&run.client_failures)))
            } else {
                String::new()
            }
        );
    }
    s.push_str("</section>");
}

pub(super) fn elections_table(s: &mut String, run: &Run, id: &str, title: &str) {
    let _ = write!(s, r#"<section id="{}"><h2>{}</h2>"#, esc(id), esc(title));
    s.push_str("<table><tr><th>epoch</th><th>leader</th><th>no leader since</th><th>established at</th><th>took</th><th>committed on establishing</th></tr>");
    let us = |ms: f64| (ms * 1000.0).round() as u64;
    match run.outcome.as_ref().filter(|o| !o.elections.is_empty()) {
        Some(o) => {
            for e in &o.elections {
                let (a, b) = (us(e.started_ms), us(e.established_ms));
                let recovered = if e.recovered.len() > 12 {
                    format!(
                        "{}, ... ({} more)",
                        e.recovered[..12].join(", "),
                        e.recovered.len() - 12
                    )
                } else {
                    e.recovered.join(", ")
                };
                let _ = write!(
                    s,
                    r#"<tr><td class="num">{}</td><td>s{}</td><td class="num">{} ms</td><td class="num">{} ms</td><td class="num">{} ms</td><td>{}</td></tr>"#,
                    e.epoch,
                    e.leader,
                    ms(a),
                    ms(b),
                    ms(b.saturating_sub(a)),
                    esc(&recovered)
                );
            }
        }
        None => {
            for e in &run.established {
                let _ = write!(
                    s,
                    r#"<tr><td class="num">{}</td><td>s{}</td><td class="num">{} ms</td><td class="num">{} ms</td><td class="num">{} ms</td><td></td></tr>"#,
                    e.epoch,
                    e.leader,
                    ms(e.started_us),
                    ms(e.at_us),
                    ms(e.at_us - e.started_us)
                );
            }
        }
    }
    s.push_str("</table>");
    if run.established.is_empty() {
        s.push_str("<p>No leader established its epoch.</p>");
    }
    s.push_str("</section>");
}

/// How many violations each invariant reported in the run: from the outcome when the trace
/// has one (it lists them all), else from the violation lines read.
fn violation_counts(run: &Run) -> impl Fn(&str) -> usize + '_ {
    move |name: &str| match &run.outcome {
        Some(o) => o.violations.iter().filter(|v| v.invariant == name).count(),
        None => run
            .violations
            .iter()
            .filter(|v| v.invariant == name)
            .count(),
    }
}

fn invariants(s: &mut String, run: &Run) {
    let checked = check::checked_invariants();
    let counts = violation_counts(run);
    s.push_str(r#"<section id="invariants"><h2>Invariants</h2><table><tr><th>invariant</th><th>kind</th><th>meaning</th><th>checked</th><th>violations</th><th>result</th></tr>"#);
    for info in check::INVARIANTS {
        let is_checked = checked.contains(&info.name);
        let kind = match info.kind {
            check::Kind::Safety => "safety",
            check::Kind::Liveness => "liveness",
        };
        let when = match (is_checked, info.kind) {
            (false, _) => "no checker yet".to_string(),
            (true, check::Kind::Safety) => "after every event".to_string(),
            (true, check::Kind::Liveness) => "at the liveness deadline".to_string(),
        };
        let violated: Vec<String> = run
            .violations
            .iter()
            .enumerate()
            .filter(|(_, v)| v.invariant == info.name)
            .map(|(n, v)| {
                format!(
                    r##"<a href="#violation-{n}">violated at {} ms</a>"##,
                    ms(v.t_us)
                )
            })
            .collect();
        let result = if !violated.is_empty() {
            violated.join(", ")
        } else if is_checked {
            "held".to_string()
        } else {
            "—".to_string()
        };
        let count = if is_checked {
            counts(info.name).to_string()
        } else {
            "—".to_string()
        };
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td>{kind}</td><td>{}</td><td>{when}</td><td class=\"num\">{count}</td><td>{result}</td></tr>",
            esc(info.name),
            esc(info.meaning)
        );
    }
    let _ = write!(
        s,
        "</table><p class=\"muted\">{} invariants checked, {} violated.</p></section>",
        checked.len(),
        checked.iter().filter(|n| counts(n) > 0).count()
    );
}

pub(super) fn faults(s: &mut String, run: &Run, id: &str, title: &str) {
    let _ = write!(s, r#"<section id="{}"><h2>{}</h2>"#, esc(id), esc(title));
    if run.faults.is_empty() {
        s.push_str("<p>None.</p></section>");
        return;
    }
    s.push_str(r#"<table><tr><th>at</th><th>fault</th></tr>"#);
    for (t, text) in run.faults.iter().take(MAX_FAULTS) {
        let _ = write!(
            s,
            r#"<tr><td class="num">{} ms</td><td>{}</td></tr>"#,
            ms(*t),
            esc(text)
        );
    }
    s.push_str("</table>");
    if run.faults.len() > MAX_FAULTS {
        let _ = write!(
            s,
            r#"<p class="muted">... and {} more (the trace has them all).</p>"#,
            run.faults.len() - MAX_FAULTS
        );
    }
    s.push_str("</section>");
}

fn source(s: &mut String, run: &Run) {
    let Some(text) = run.info.as_ref().and_then(|i| i.source.as_ref()) else {
        return;
    };
    let _ = write!(
        s,
        r#"<section id="source"><h2>Scenario source</h2><details><summary>{}</summary><pre>{}</pre></details></section>"#,
        esc(run.info.as_ref().map(|i| i.path.as_str()).unwrap_or("")),
        esc(text)
    );
}
