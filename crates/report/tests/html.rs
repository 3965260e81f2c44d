//! The HTML report of real runs: what it shows of the leader crashing before its first
//! COMMIT, what it shows around a violation, that it escapes what scenarios and traces say,
//! fetches nothing, comes out the same every time, and stays small for long runs.

use report::html::{self, Capture, Collector, Run};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a scenario with its trace going into the report's collector, framed as `sim run`
/// frames it, and returns the outcome, the model and the page.
fn report_of(sc: &scenario::Scenario, seed: u64, window_ms: u64) -> (sim::Outcome, Run, String) {
    let capture = Capture::new(Collector::new(window_ms * 1000));
    let source = std::fs::read_to_string(&sc.path).ok();
    let command = report::reproduce_command_for(&sc.path, seed, None, &[]);
    // As `sim run` writes it: the bugs the run had on.
    let bugs: Vec<&str> = sc.bugs.iter().map(|b| b.name()).collect();
    capture.line(&html::header_line(
        sc,
        seed,
        &bugs,
        &command,
        source.as_deref(),
    ));
    let mut opts = sim::Options::new(seed);
    opts.trace = Some(Box::new(capture.clone()));
    let outcome = sim::run(sc, opts);
    capture.line(&html::outcome_line(&outcome, &command));
    let run = capture.finish();
    let page = html::render(&run);
    (outcome, run, page)
}

fn load(rel: &str) -> scenario::Scenario {
    let path = PathBuf::from(rel);
    let text = std::fs::read_to_string(root().join(rel)).expect("scenario");
    scenario::parse(&text, &path).expect("valid scenario")
}

/// The `<svg id="...">` element of the page.
fn svg<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"<svg id="{id}""#))
        .unwrap_or_else(|| panic!("no svg {id}"));
    let end = start + page[start..].find("</svg>").expect("closed");
    &page[start..end]
}

/// The `<g class="lane" data-server="sN">` group of a timeline.
fn lane<'a>(timeline: &'a str, server: &str) -> &'a str {
    let start = timeline
        .find(&format!(r#"<g class="lane" data-server="{server}">"#))
        .unwrap_or_else(|| panic!("no lane {server}"));
    let end = timeline[start + 1..]
        .find(r#"<g class="lane""#)
        .map(|e| start + 1 + e)
        .unwrap_or(timeline.len());
    &timeline[start..end]
}

#[test]
fn the_leader_crash_before_commit_shows_the_crash_the_election_and_the_new_leader() {
    let sc = load("scenarios/leader-crash-before-commit.toml");
    let (outcome, run, page) = report_of(&sc, 42, 300);
    assert!(outcome.verdict.passed);

    // The model agrees with the simulator's own account of the elections.
    let elections: Vec<(u64, u32, u64, u64)> = run
        .established
        .iter()
        .map(|e| (e.epoch, e.leader, e.started_us, e.at_us))
        .collect();
    let expected: Vec<(u64, u32, u64, u64)> = outcome
        .elections
        .iter()
        .map(|e| {
            (
                e.epoch,
                u32::from(e.leader.0),
                e.started_us,
                e.established_us,
            )
        })
        .collect();
    assert_eq!(elections, expected);
    assert_eq!(run.lanes.len(), 3);

    // s3 leads epoch 1, crashes as its first COMMIT is about to leave, and is down until
    // its restart.
    let s3 = &run.lanes[&3];
    let crash = s3.crashes[0];
    assert_eq!(crash, outcome.faults[1].0);
    let before = s3
        .segments
        .iter()
        .rfind(|g| g.start_us < crash)
        .expect("a span before the crash");
    assert_eq!((before.status.name(), before.epoch), ("LEADING", 1));
    let down = s3.segments.iter().find(|g| g.start_us == crash).unwrap();
    assert_eq!(down.status.name(), "down");
    assert!(down.cause.as_deref().unwrap().contains("COMMIT s3->s1"));
    assert_eq!(down.end_us, s3.restarts[0]);
    // The others look for a leader after it, and s2 leads epoch 2.
    for id in [1, 2] {
        assert!(run.lanes[&id]
            .segments
            .iter()
            .any(|g| g.start_us >= crash && g.status.name() == "LOOKING"));
    }
    let after = run.established.last().unwrap();
    assert_eq!((after.leader, after.epoch, after.started_us), (2, 2, crash));

    // All of it is on the page: the crash mark and the down span on s3's lane, the flag
    // of the new leader on s2's, and the election drawn again in detail.
    let timeline = svg(&page, "timeline");
    assert_eq!(timeline.matches(r#"<g class="lane""#).count(), 3);
    let s3_lane = lane(timeline, "s3");
    assert!(s3_lane.contains(r#"<g class="crash">"#));
    assert!(s3_lane.contains("down · crashed as COMMIT s3-&gt;s1"));
    assert!(s3_lane.contains("crashed as COMMIT s3-&gt;s1 about to leave</title>"));
    assert!(s3_lane.contains(r#"class="st-leading""#));
    assert!(lane(timeline, "s2").contains("LEADING e2 broadcast"));
    assert!(timeline.contains(&format!(
        "s2 established epoch 2 at {} ms, {} ms after",
        report::ms(after.at_us),
        report::ms(after.at_us - after.started_us)
    )));
    let detail = svg(&page, "election-0");
    let took = after.at_us - after.started_us;
    assert!(detail.contains(&format!("{:.1} ms to elect", took as f64 / 1000.0)));
    assert!(lane(detail, "s1").contains(r#"class="st-looking""#));
    assert!(lane(detail, "s1").contains(r#"<g class="vote">"#));
    // Charts and tables.
    assert_eq!(page.matches("<figure><svg").count(), 3, "three charts");
    let recovered: Vec<String> = outcome.elections[1]
        .recovered
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert!(
        recovered.contains(&"1:1@s3".to_string()),
        "s3's first txn, committed by no one before its crash, is recovered in epoch 2"
    );
    assert!(
        page.contains(&recovered.join(", ")),
        "the txns committed on establishing epoch 2"
    );
    assert!(page.contains("sim run scenarios/leader-crash-before-commit.toml --seed 42"));
    assert!(
        !page.contains(r#"id="violations""#),
        "no violation, no violation section"
    );
}

#[test]
fn a_violation_gets_its_sequence_diagram_explanation_and_commands() {
    let sc = load("scenarios/bugs/zk-1154.toml");
    let (outcome, run, page) = report_of(&sc, 42, 300);
    assert!(!outcome.violations.is_empty());
    assert_eq!(run.violations.len(), outcome.violations.len());
    for (seen, v) in run.violations.iter().zip(&outcome.violations) {
        assert_eq!((seen.invariant.as_str(), seen.t_us), (v.invariant, v.at_us));
    }
    let first = &run.violations[0];
    assert!(!first.items.is_empty() && first.items.len() <= html::MAX_ROWS);
    assert!(first.items.iter().all(|i| i.t_us() + 300_000 >= first.t_us));
    let seq = svg(&page, "sequence-0");
    assert!(seq.contains(&format!("{} violated at", first.invariant)));
    assert!(
        seq.contains("DIFF"),
        "the sync that went wrong is in the diagram"
    );
    let info = check::invariant(&first.invariant).unwrap();
    assert!(page.contains(&html::esc(info.meaning).to_string()));
    assert!(page.contains("The checker watches"));
    assert!(page.contains("sim run scenarios/bugs/zk-1154.toml --seed 42"));
    // The run met its [expect] (the bug's violations are expected): nothing to shrink, and
    // the same schedule with the bug off is offered instead.
    assert!(!page.contains("sim shrink"));
    assert!(page.contains("sim run scenarios/bugs/zk-1154.toml --seed 42 --no-bugs"));
    svg(&page, "violation-timeline-0");

    // A narrower window draws fewer rows.
    let (_, narrow, _) = report_of(&sc, 42, 5);
    let narrow = &narrow.violations[0];
    assert!(narrow.items.len() < first.items.len());
    assert!(narrow.items.iter().all(|i| i.t_us() + 5_000 >= narrow.t_us));
}

#[test]
fn scenario_and_trace_text_is_escaped() {
    let text = std::fs::read_to_string(root().join("scenarios/leader-crash-before-commit.toml"))
        .unwrap()
        .replacen(
            "description = \"\"\"",
            "description = \"\"\"<script>alert('owned')</script> & <b>bold</b>\n",
            1,
        );
    let dir = std::env::temp_dir().join(format!("zabsim-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hostile.toml");
    std::fs::write(&path, &text).unwrap();
    let sc = scenario::parse(&text, &path).expect("valid");
    assert!(sc.description.contains("<script>"));
    let (_, _, page) = report_of(&sc, 42, 300);
    assert!(
        !page.contains("<script"),
        "no script at all, least of all the scenario's"
    );
    assert!(!page.contains("<b>bold</b>"));
    assert!(page.contains(
        "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
    ));

    // A trace line carrying markup (a fault text, a violation message) is shown as text too.
    let mut c = Collector::new(300_000);
    c.line(r#"{"kind":"run","scenario":"x<i>","servers":["s1"],"description":"<img src=x onerror=alert(1)>"}"#);
    c.line(r#"{"kind":"fault","t_us":5,"fault":"<script>evil()</script>"}"#);
    c.line(r#"{"kind":"violation","t_us":9,"invariant":"leadership","server":"s1","message":"<svg onload=alert(1)>"}"#);
    let page = html::render(&c.finish());
    for raw in ["<img src=x", "<script>evil", "<svg onload", "x<i>"] {
        assert!(!page.contains(raw), "{raw} reached the page unescaped");
    }
    assert!(page.contains("&lt;script&gt;evil()&lt;/script&gt;"));
    assert!(page.contains("&lt;svg onload=alert(1)&gt;"));
}

#[test]
fn the_page_is_self_contained_and_the_same_every_time() {
    let sc = load("scenarios/minority-partition-under-writes.toml");
    let (_, _, a) = report_of(&sc, 7, 300);
    let (_, _, b) = report_of(&sc, 7, 300);
    assert!(a == b, "same run, same bytes");
    for fetch in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "@import",
        "src=",
        "url(http",
        "href=\"http",
    ] {
        assert!(!a.contains(fetch), "the page would load something: {fetch}");
    }
    // The only absolute URL is the SVG namespace, which is never fetched.
    let urls = a.matches("http://").count() + a.matches("https://").count();
    assert_eq!(
        urls,
        a.matches(r#"xmlns="http://www.w3.org/2000/svg""#).count()
    );
    assert!(a.starts_with("<!DOCTYPE html>") && a.trim_end().ends_with("</html>"));
    // The partition is drawn: shaded across the lanes, each side in its colour.
    assert!(svg(&a, "timeline").contains(r#"<g class="partition">"#));
}

#[test]
fn a_trace_without_its_frame_still_draws() {
    // A trace from the simulator alone: no `run` header and no `outcome` footer.
    let sc = load("scenarios/leader-crash-before-commit.toml");
    let capture = Capture::new(Collector::new(300_000));
    let mut opts = sim::Options::new(42);
    opts.trace = Some(Box::new(capture.clone()));
    let outcome = sim::run(&sc, opts);
    let run = capture.finish();
    assert!(run.info.is_none() && run.outcome.is_none());
    assert_eq!(run.lanes.len(), 3, "servers found in the trace");
    assert_eq!(run.established.len(), outcome.elections.len());
    assert_eq!(run.skipped, 0, "every simulator line is understood");
    let page = html::render(&run);
    assert!(page.contains("no verdict in the trace"));
    assert_eq!(
        svg(&page, "timeline").matches(r#"<g class="lane""#).count(),
        3
    );
}

#[test]
fn the_summary_counts_each_checked_invariant_and_shows_the_wall_time_when_known() {
    let sc = load("scenarios/bugs/zk-1154.toml");
    let (outcome, mut run, page) = report_of(&sc, 42, 300);
    let violated: Vec<&str> = outcome.violations.iter().map(|v| v.invariant).collect();
    assert!(!violated.is_empty());
    // Every checked invariant is listed with its count, the quiet ones with 0.
    let summary = &page[page.find(r#"<section id="summary">"#).unwrap()..];
    let summary = &summary[..summary.find("</section>").unwrap()];
    let checked = check::checked_invariants();
    assert!(summary.contains(&format!(
        "{} checked, {} violated",
        checked.len(),
        violated.len()
    )));
    for name in &checked {
        let count = violated.iter().filter(|v| *v == name).count();
        let class = if count > 0 { r#" class="bad""# } else { "" };
        assert!(
            summary.contains(&format!("<code{class}>{name}</code>&nbsp;{count}")),
            "{name} {count}"
        );
    }
    // The invariants table has the count too.
    let row = |name: &str| {
        let t = &page[page.find(r#"<section id="invariants">"#).unwrap()..];
        let start = t.find(&format!("<tr><td><code>{name}</code>")).unwrap();
        t[start..start + t[start..].find("</tr>").unwrap()].to_string()
    };
    assert!(row(violated[0]).contains(r#"<td class="num">1</td>"#));
    let quiet = checked.iter().find(|n| !violated.contains(n)).unwrap();
    assert!(row(quiet).contains(r#"<td class="num">0</td>"#));

    // A report made from a trace does not know the wall time; the run's own report does.
    assert!(page.contains(r#"<tr id="wall-time"><th>wall time</th><td>unknown"#));
    run.wall_us = Some(12_345);
    let timed = html::render(&run);
    assert!(timed.contains(r#"<tr id="wall-time"><th>wall time</th><td>12.345 ms"#));
    assert!(timed.contains("events/s"));
}

/// The `<g class="client-lane" data-client="cN">` group of a timeline.
fn client_lane<'a>(timeline: &'a str, client: &str) -> &'a str {
    let start = timeline
        .find(&format!(
            r#"<g class="client-lane" data-client="{client}">"#
        ))
        .unwrap_or_else(|| panic!("no client lane {client}"));
    let end = timeline[start + 1..]
        .find(r#"<g class="client-lane""#)
        .map(|e| start + 1 + e)
        .unwrap_or(timeline.len());
    &timeline[start..end]
}

/// The paused client of a recipe-gc-pause run and its pause, from the faults carried out.
fn paused_client(outcome: &sim::Outcome) -> (u32, u64, u64) {
    let (paused_at, what) = outcome
        .faults
        .iter()
        .find(|(_, f)| f.starts_with("pause c"))
        .expect("the pause");
    let name = what.split(' ').nth(1).unwrap();
    let resumed_at = outcome
        .faults
        .iter()
        .find(|(_, f)| *f == format!("resume {name}"))
        .expect("the resume")
        .0;
    (name[1..].parse().unwrap(), *paused_at, resumed_at)
}

#[test]
fn the_gc_pause_report_shows_who_led_the_pause_and_the_deposed_leaders_use() {
    let sc = load("scenarios/clients/recipe-gc-pause.toml");
    let (outcome, run, page) = report_of(&sc, 42, 300);
    let v = &run.violations[0];
    assert_eq!(v.invariant, "recipe-safety");
    let (c, paused_at, resumed_at) = paused_client(&outcome);
    assert_eq!(v.t_us, resumed_at, "it acts as soon as it wakes");

    // The paused client led before its pause and believed it led through it, while the
    // others took turns.
    let lane = &run.clients[&c];
    assert_eq!(lane.pauses, vec![(paused_at, resumed_at)]);
    let held = lane
        .roles
        .iter()
        .find(|r| r.start_us < paused_at && r.end_us >= resumed_at)
        .expect("a leadership span across the pause");
    assert_eq!(held.role, html::model::Role::Leader);
    let successors: Vec<u32> = run
        .clients
        .iter()
        .filter(|(id, l)| {
            **id != c
                && l.roles
                    .iter()
                    .any(|r| r.start_us > paused_at && r.end_us < resumed_at)
        })
        .map(|(id, _)| *id)
        .collect();
    assert!(!successors.is_empty(), "others led during the pause");

    // Its use on waking carried its old token, older than one the resource had accepted
    // from a successor; nothing was refused, as nothing is fenced.
    let stale: Vec<_> = run.stale_uses.iter().collect();
    assert_eq!(stale.len(), 1, "{stale:?}");
    let u = stale[0];
    assert_eq!((u.t_us, u.client, u.accepted), (resumed_at, c, true));
    assert_eq!(Some(u.token), held.token);
    let (newest, by, _) = u.newest.expect("a newer token came first");
    assert!(newest > u.token && successors.contains(&by));

    // On the page: the lanes, the pause, the roles around the violation, the stale use.
    let name = format!("c{c}");
    let timeline = svg(&page, "timeline");
    assert_eq!(
        timeline.matches(r#"<g class="client-lane""#).count(),
        run.clients.len()
    );
    let drawn = client_lane(timeline, &name);
    assert!(drawn.contains(&format!(
        "{name} paused from {} to {} ms",
        report::ms(paused_at),
        report::ms(resumed_at)
    )));
    assert!(drawn.contains(r#"class="role-leader""#));
    assert!(drawn.contains("still believing it"));
    let before = svg(&page, "violation-timeline-0");
    assert!(client_lane(before, &name).contains(r#"<g class="paused">"#));
    assert!(client_lane(before, &format!("c{by}")).contains(r#"<g class="use accepted">"#));
    assert!(page.contains(&format!(
        r##"<a class="bad" href="#violation-0">recipe-safety at {} ms</a>"##,
        report::ms(v.t_us)
    )));
    let stale_table = &page[page.find(r#"<table id="stale-uses-table">"#).unwrap()..];
    assert!(stale_table.contains(r#"<span class="bad">accepted</span>"#));
    let seq = svg(&page, "sequence-0");
    assert!(seq.contains(&format!("resource accepted token {}", zab::Zxid(u.token))));
    assert!(page.contains(r##"<a href="#clients">clients</a>"##));
}

#[test]
fn the_fenced_gc_pause_report_shows_the_refused_use() {
    let sc = load("scenarios/clients/recipe-gc-pause-fenced.toml");
    let (outcome, run, page) = report_of(&sc, 42, 300);
    assert!(run.violations.is_empty() && outcome.verdict.passed);
    let (c, _, resumed_at) = paused_client(&outcome);
    let refused: Vec<_> = run.stale_uses.iter().filter(|u| !u.accepted).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!((refused[0].client, refused[0].t_us), (c, resumed_at));
    assert!(run.stale_uses.iter().all(|u| !u.accepted));
    let drawn = client_lane(svg(&page, "timeline"), &format!("c{c}"));
    assert!(drawn.contains(r#"<g class="use refused">"#));
    assert!(drawn.contains(": refused</title>"));
    let clients = &page[page.find(r#"<table id="clients-table">"#).unwrap()..];
    assert!(clients.contains(r#"<span class="bad">1 refused</span>"#));
}

/// A server that refuses to start is an availability outcome the report shows in its summary,
/// with ZooKeeper's reason, beside the release and the hazard that acted.
#[test]
fn a_server_that_refuses_to_start_is_in_the_summary() {
    let sc = load("scenarios/bugs/zk-2354.toml");
    let (outcome, _, page) = report_of(&sc, sc.seed, 300);
    assert!(!outcome.startup_failures.is_empty());
    let summary = &page[page.find(r#"<section id="summary">"#).expect("summary")..];
    let summary = &summary[..summary.find("</section>").expect("closed")];
    assert!(
        summary.contains("servers that refused to start"),
        "{summary}"
    );
    assert!(summary.contains("The current epoch, 0, is older than the last zxid"));
    assert!(summary.contains("<code>zk-2354</code>"));
    assert!(summary.contains("ZooKeeper release</th><td>fixed"));
}
