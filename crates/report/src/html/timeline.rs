//! The election timeline: one lane per server over simulated time, coloured by what the
//! server was doing, with faults, partitions, votes, commits and established leaders drawn
//! on it; under them a lane per client (see `client_lanes`).
//!
//! It is plain SVG with `<title>` tooltips, so it draws without scripts. However long the
//! run, a lane holds at most a few marks per pixel: spans and marks closer together than that
//! are merged, which keeps the report of an hour-long run small.

use super::client_lanes;
use super::escape::esc;
use super::marks::{clustered, f, fitting, GROUP_COLOURS};
use super::model::{Lane, Phase, Run, Segment, Status};
use super::scale::{ms, time_label, TimeScale};
use std::fmt::Write;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 16.0;
const TOP_FAULTS: f64 = 22.0;
const TOP_LEADERS: f64 = 48.0;
const LANES_TOP: f64 = 78.0;
const LANE_H: f64 = 34.0;
const LANE_GAP: f64 = 8.0;

/// Which timeline to draw.
pub struct View<'a> {
    /// The `id` of the `<svg>`.
    pub id: &'a str,
    pub from_us: u64,
    pub to_us: u64,
    /// A time to mark with a red line (the violation a detail view is about).
    pub highlight: Option<u64>,
}

fn lane_y(i: usize) -> f64 {
    LANES_TOP + i as f64 * (LANE_H + LANE_GAP)
}

pub fn render(run: &Run, view: &View<'_>) -> String {
    let scale = TimeScale::new(view.from_us, view.to_us, LEFT, WIDTH - LEFT - RIGHT);
    let lanes = run.lanes.len().max(1);
    let servers_bottom = lane_y(lanes) - LANE_GAP;
    let lanes_bottom = client_lanes::bottom(servers_bottom, client_lanes::shown(run).len());
    let height = lanes_bottom + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="{id}" class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="election timeline">"#,
        id = esc(view.id),
        w = WIDTH,
        h = f(height)
    );
    let _ = write!(
        s,
        r##"<defs><pattern id="{id}-down" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#3b3b3b"/><line x1="0" y1="0" x2="0" y2="6" stroke="#6a6a6a" stroke-width="2"/></pattern><pattern id="{id}-paused" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><line x1="0" y1="0" x2="0" y2="8" stroke="#ffffff" stroke-width="3" opacity="0.85"/></pattern><pattern id="{id}-cpaused" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><line x1="0" y1="0" x2="0" y2="8" stroke="#4a4a4a" stroke-width="2" opacity="0.45"/></pattern></defs>"##,
        id = esc(view.id)
    );
    axis(&mut s, &scale, lanes_bottom);
    partitions_band(&mut s, run, &scale, lanes_bottom);
    faults_row(&mut s, run, &scale);
    leaders_row(&mut s, run, &scale);
    for (i, (id, lane)) in run.lanes.iter().enumerate() {
        lane_svg(&mut s, *id, lane, lane_y(i), &scale, view.id);
    }
    client_lanes::render(&mut s, run, servers_bottom, &scale, view.id);
    partition_sides(&mut s, run, &scale);
    established_marks(&mut s, run, &scale);
    violation_marks(&mut s, run, &scale, lanes_bottom);
    if let Some(t) = view.highlight {
        let x = f(scale.x(t));
        let _ = write!(
            s,
            r#"<line class="highlight" x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/>"#,
            y0 = f(TOP_FAULTS - 12.0),
            y1 = f(lanes_bottom + 4.0)
        );
    }
    s.push_str("</svg>");
    s
}

fn axis(s: &mut String, scale: &TimeScale, bottom: f64) {
    let _ = write!(s, r#"<g class="axis">"#);
    for t in scale.ticks(10) {
        let x = f(scale.x(t));
        let _ = write!(
            s,
            r#"<line x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/><text x="{x}" y="{ty}" text-anchor="middle">{label}</text>"#,
            y0 = f(TOP_FAULTS - 10.0),
            y1 = f(bottom + 4.0),
            ty = f(bottom + 18.0),
            label = time_label(t)
        );
    }
    let _ = write!(
        s,
        r#"<text class="row-label" x="4" y="{}">faults</text><text class="row-label" x="4" y="{}">leader</text></g>"#,
        f(TOP_FAULTS + 4.0),
        f(TOP_LEADERS + 4.0)
    );
}

/// Partitions, under the lanes: a light band across all of them while one holds.
fn partitions_band(s: &mut String, run: &Run, scale: &TimeScale, bottom: f64) {
    for p in visible_partitions(run, scale) {
        let (x0, x1) = partition_xs(p, scale);
        let _ = write!(
            s,
            r#"<rect class="cut" x="{}" y="{}" width="{}" height="{}"/>"#,
            f(x0),
            f(LANES_TOP - 7.0),
            f(x1 - x0),
            f(bottom - LANES_TOP + 10.0)
        );
    }
}

/// Partitions, over the lanes: above each lane a stripe in the colour of its side, so that
/// lanes striped alike could reach each other.
fn partition_sides(s: &mut String, run: &Run, scale: &TimeScale) {
    for p in visible_partitions(run, scale) {
        let (x0, x1) = partition_xs(p, scale);
        let title = format!(
            "partition {} from {} to {} ms",
            p.text,
            ms(p.start_us),
            ms(p.end_us)
        );
        let _ = write!(s, r#"<g class="partition"><title>{}</title>"#, esc(&title));
        for (i, id) in run.lanes.keys().enumerate() {
            let Some(g) = p.groups.get(id) else { continue };
            let colour = GROUP_COLOURS[g % GROUP_COLOURS.len()];
            let _ = write!(
                s,
                r#"<rect class="side" x="{}" y="{}" width="{}" height="5" fill="{colour}"/>"#,
                f(x0),
                f(lane_y(i) - 6.0),
                f(x1 - x0)
            );
        }
        s.push_str("</g>");
    }
}

fn visible_partitions<'a>(
    run: &'a Run,
    scale: &'a TimeScale,
) -> impl Iterator<Item = &'a super::model::PartitionSpan> {
    run.partitions
        .iter()
        .filter(|p| p.end_us >= scale.from_us && p.start_us <= scale.to_us)
}

fn partition_xs(p: &super::model::PartitionSpan, scale: &TimeScale) -> (f64, f64) {
    let x0 = scale.x(p.start_us);
    (x0, scale.x(p.end_us).max(x0 + 1.0))
}

fn faults_row(s: &mut String, run: &Run, scale: &TimeScale) {
    let faults: Vec<(u64, String)> = run
        .faults
        .iter()
        .filter(|(t, _)| scale.contains(*t))
        .map(|(t, text)| (*t, format!("{} ms: {text}", ms(*t))))
        .collect();
    for (x, title) in clustered(&faults, scale, 4.0, 12) {
        let _ = write!(
            s,
            r#"<g class="fault"><title>{}</title><path d="M{} {} l-5 -9 h10 z"/></g>"#,
            esc(&title),
            f(x),
            f(TOP_FAULTS + 5.0)
        );
    }
}

/// The ensemble's leadership: red spans while it had no established leader, each labelled
/// with how long establishing the next leader took.
fn leaders_row(s: &mut String, run: &Run, scale: &TimeScale) {
    for e in &run.established {
        if e.at_us < scale.from_us || e.started_us > scale.to_us {
            continue;
        }
        let (x0, x1) = (scale.x(e.started_us), scale.x(e.at_us));
        let took = e.at_us - e.started_us;
        let title = format!(
            "no established leader from {} to {} ms; s{} established epoch {} after {} ms",
            ms(e.started_us),
            ms(e.at_us),
            e.leader,
            e.epoch,
            ms(took)
        );
        let _ = write!(
            s,
            r#"<g class="leaderless"><title>{}</title><rect x="{}" y="{}" width="{}" height="14"/>"#,
            esc(&title),
            f(x0),
            f(TOP_LEADERS - 7.0),
            f((x1 - x0).max(1.0))
        );
        let label = format!("{} to elect", time_label(took));
        if let Some(text) = fitting(x1 - x0, std::slice::from_ref(&label)) {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                f((x0 + x1) / 2.0),
                f(TOP_LEADERS + 3.5),
                esc(text)
            );
        }
        s.push_str("</g>");
    }
}

/// A flag on the leader's lane where it established its epoch, and its name in the leader
/// row.
fn established_marks(s: &mut String, run: &Run, scale: &TimeScale) {
    let index: Vec<u32> = run.lanes.keys().copied().collect();
    let mut last_x = f64::NEG_INFINITY;
    for e in run.established.iter().filter(|e| scale.contains(e.at_us)) {
        let x = scale.x(e.at_us);
        let Some(i) = index.iter().position(|id| *id == e.leader) else {
            continue;
        };
        let y = lane_y(i);
        let title = format!(
            "s{} established epoch {} at {} ms, {} ms after the ensemble lost its leader",
            e.leader,
            e.epoch,
            ms(e.at_us),
            ms(e.at_us - e.started_us)
        );
        let _ = write!(
            s,
            r#"<g class="established"><title>{t}</title><line x1="{x}" y1="{ya}" x2="{x}" y2="{yb}"/><path d="M{x} {ya} l11 4 l-11 4 z"/>"#,
            t = esc(&title),
            x = f(x),
            ya = f(y - 3.0),
            yb = f(y + LANE_H)
        );
        if x - last_x > 60.0 {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}">s{} e{}</text>"#,
                f(x + 3.0),
                f(TOP_LEADERS + 3.5),
                e.leader,
                e.epoch
            );
            last_x = x;
        }
        s.push_str("</g>");
    }
}

fn violation_marks(s: &mut String, run: &Run, scale: &TimeScale, bottom: f64) {
    for (n, v) in run.violations.iter().enumerate() {
        if !scale.contains(v.t_us) {
            continue;
        }
        let x = f(scale.x(v.t_us));
        let title = format!(
            "{} violated at {} ms: {}",
            v.invariant,
            ms(v.t_us),
            v.message
        );
        let _ = write!(
            s,
            r##"<a href="#violation-{n}"><g class="violation"><title>{t}</title><line x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/><text x="{x}" y="{ty}" text-anchor="middle">!</text></g></a>"##,
            t = esc(&title),
            y0 = f(TOP_FAULTS - 8.0),
            y1 = f(bottom + 4.0),
            ty = f(TOP_FAULTS + 14.0),
        );
    }
}

fn status_labels(g: &Segment) -> Vec<String> {
    let (status, phase, epoch) = (g.status, g.phase, g.epoch);
    let z = g.last_zxid.map(super::line::zxid);
    match status {
        Status::Down => {
            let mut v = vec!["down".to_string()];
            if let Some(cause) = &g.cause {
                let words: Vec<&str> = cause.split(' ').collect();
                v.insert(
                    0,
                    format!("down · {}", words[..words.len().min(3)].join(" ")),
                );
                v.insert(
                    0,
                    format!("down · {}", words[..words.len().min(4)].join(" ")),
                );
                v.insert(0, format!("down · {cause}"));
            }
            v
        }
        Status::Looking => {
            let mut v = vec![format!("LOOKING e{epoch}"), "LOOKING".into(), "L".into()];
            if let Some(z) = &z {
                v.insert(0, format!("LOOKING e{epoch} · last {z}"));
            }
            v
        }
        _ => {
            let name = status.name();
            let mut v = vec![
                format!("{name} e{epoch} {}", phase.name()),
                format!("{name} e{epoch} {}", phase.short()),
                format!("{} e{epoch} {}", &name[..1], phase.short()),
                format!("e{epoch} {}", phase.short()),
                phase.short().to_string(),
            ];
            if let Some(z) = &z {
                v.insert(0, format!("{name} e{epoch} {} · last {z}", phase.name()));
            }
            v
        }
    }
}

fn phase_class(status: Status, phase: Phase) -> &'static str {
    match (status, phase) {
        (Status::Following | Status::Leading | Status::Observing, Phase::Discovery) => {
            " ph-discovery"
        }
        (Status::Following | Status::Leading | Status::Observing, Phase::Synchronization) => {
            " ph-sync"
        }
        _ => "",
    }
}

fn lane_svg(s: &mut String, id: u32, lane: &Lane, y: f64, scale: &TimeScale, svg: &str) {
    let role = if lane.observer { "observer" } else { "" };
    let _ = write!(
        s,
        r#"<g class="lane" data-server="s{id}"><text class="lane-name" x="6" y="{}">s{id}</text><text class="lane-role" x="6" y="{}">{role}</text>"#,
        f(y + 15.0),
        f(y + 27.0)
    );
    // State spans, merged where they are narrower than two pixels.
    let mut cursor = scale.x0;
    let mut merged = 0usize;
    let visible: Vec<_> = lane
        .segments
        .iter()
        .filter(|g| g.end_us >= scale.from_us && g.start_us <= scale.to_us)
        .collect();
    for (k, g) in visible.iter().enumerate() {
        let xb = scale.x(g.end_us);
        let last = k + 1 == visible.len();
        if xb - cursor < 2.0 && !last {
            merged += 1;
            continue;
        }
        let xa = cursor.max(scale.x(g.start_us).min(xb));
        let xa = if merged > 0 { cursor } else { xa };
        let width = (xb - xa).max(0.0);
        let mut title = format!(
            "s{id} {}, epoch {}{}, {} to {} ms",
            g.status.name(),
            g.epoch,
            match g.status {
                Status::Looking | Status::Down => String::new(),
                _ => format!(", {}", g.phase.name()),
            },
            ms(g.start_us),
            ms(g.end_us)
        );
        if let Some(z) = g.last_zxid {
            let _ = write!(title, ", last zxid {}", super::line::zxid_both(z));
        }
        if let Some(cause) = &g.cause {
            let _ = write!(title, "; {cause}");
        }
        if merged > 0 {
            let _ = write!(title, " (and {merged} shorter spans before it)");
        }
        // Inline style: it must win over the class's colour.
        let fill = if g.status == Status::Down {
            format!(r#" style="fill:url(#{}-down)""#, esc(svg))
        } else {
            String::new()
        };
        let _ = write!(
            s,
            r#"<rect class="{}{}" x="{}" y="{}" width="{}" height="{}"{fill}><title>{}</title></rect>"#,
            g.status.class(),
            phase_class(g.status, g.phase),
            f(xa),
            f(y),
            f(width),
            f(LANE_H),
            esc(&title)
        );
        let labels = status_labels(g);
        if let Some(text) = fitting(width - 8.0, &labels) {
            let class = match g.status {
                Status::Looking => "seg-label dark",
                _ => "seg-label",
            };
            // A down span starts with its crash mark: keep the label clear of it.
            let inset = if g.status == Status::Down { 10.0 } else { 3.0 };
            let _ = write!(
                s,
                r#"<text class="{class}" x="{}" y="{}">{}</text>"#,
                f(xa + inset),
                f(y + 13.0),
                esc(text)
            );
        }
        cursor = xb;
        merged = 0;
    }
    // Pauses: hatched over the state.
    for (a, b) in lane
        .pauses
        .iter()
        .filter(|(a, b)| *b >= scale.from_us && *a <= scale.to_us)
    {
        let (xa, xb) = (scale.x(*a), scale.x(*b).max(scale.x(*a) + 1.0));
        let title = format!("s{id} paused from {} to {} ms", ms(*a), ms(*b));
        let _ = write!(
            s,
            r##"<g class="paused"><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" fill="url(#{}-paused)"/><rect class="pause-edge" x="{}" y="{}" width="{}" height="{}"/></g>"##,
            esc(&title),
            f(xa),
            f(y),
            f(xb - xa),
            f(LANE_H),
            esc(svg),
            f(xa),
            f(y),
            f(xb - xa),
            f(LANE_H)
        );
        if xb - xa > 44.0 {
            let _ = write!(
                s,
                r#"<text class="seg-label dark" x="{}" y="{}">paused</text>"#,
                f(xa + 3.0),
                f(y + 26.0)
            );
        }
    }
    commit_ticks(s, lane, y, scale);
    vote_marks(s, id, lane, y, scale);
    let restarts: Vec<(u64, String)> = lane
        .restarts
        .iter()
        .map(|t| (*t, format!("s{id} restarts at {} ms", ms(*t))))
        .collect();
    for (x, title) in clustered(&restarts, scale, 8.0, 6) {
        let _ = write!(
            s,
            r#"<g class="restart"><title>{}</title><path d="M{} {} l7 5 l-7 5 z"/></g>"#,
            esc(&title),
            f(x),
            f(y + LANE_H / 2.0 - 5.0)
        );
    }
    let notes: Vec<(u64, String)> = lane
        .notes
        .iter()
        .map(|(t, text)| (*t, format!("s{id} at {} ms: {text}", ms(*t))))
        .collect();
    for (x, title) in clustered(&notes, scale, 8.0, 6) {
        let _ = write!(
            s,
            r#"<g class="lane-note"><title>{}</title><circle cx="{}" cy="{}" r="3"/></g>"#,
            esc(&title),
            f(x),
            f(y + LANE_H - 3.0)
        );
    }
    let crashes: Vec<(u64, String)> = lane
        .crashes
        .iter()
        .map(|t| (*t, format!("s{id} crashes at {} ms", ms(*t))))
        .collect();
    for (x, title) in clustered(&crashes, scale, 10.0, 6) {
        let cy = y + LANE_H / 2.0;
        let _ = write!(
            s,
            r#"<g class="crash"><title>{}</title><path d="M{} {} l14 14 m0 -14 l-14 14"/></g>"#,
            esc(&title),
            f(x - 7.0),
            f(cy - 7.0)
        );
    }
    s.push_str("</g>");
}

/// A white tick in the middle of the leader's lane for each commit, at most one per 2 px.
fn commit_ticks(s: &mut String, lane: &Lane, y: f64, scale: &TimeScale) {
    let mut path = String::new();
    let mut count = 0usize;
    let mut last_x = f64::NEG_INFINITY;
    for t in lane.commits.iter().filter(|t| scale.contains(**t)) {
        count += 1;
        let x = scale.x(*t);
        if x - last_x < 2.0 {
            continue;
        }
        last_x = x;
        let _ = write!(path, "M{} {}v6", f(x), f(y + 16.0));
    }
    if count > 0 {
        let _ = write!(
            s,
            r#"<path class="commits" d="{path}"><title>{count} commits</title></path>"#
        );
    }
}

/// A dot where a server changed its vote, labelled with the server it votes for; marks
/// closer than 5 px are merged into one whose tooltip says how many there were.
fn vote_marks(s: &mut String, id: u32, lane: &Lane, y: f64, scale: &TimeScale) {
    let visible: Vec<_> = lane
        .votes
        .iter()
        .filter(|v| scale.contains(v.t_us))
        .collect();
    let mut k = 0;
    let mut last_label_x = f64::NEG_INFINITY;
    while k < visible.len() {
        let x = scale.x(visible[k].t_us);
        let mut j = k + 1;
        while j < visible.len() && scale.x(visible[j].t_us) - x < 5.0 {
            j += 1;
        }
        let group = &visible[k..j];
        let last = group[group.len() - 1];
        let title = if group.len() == 1 {
            format!(
                "s{id} votes for s{} (zxid {}, round {}) at {} ms",
                last.leader,
                super::line::zxid_both(last.zxid),
                last.election_epoch,
                ms(last.t_us)
            )
        } else {
            format!(
                "s{id} changes its vote {} times from {} to {} ms, last for s{} (zxid {}, round {})",
                group.len(),
                ms(group[0].t_us),
                ms(last.t_us),
                last.leader,
                super::line::zxid_both(last.zxid),
                last.election_epoch
            )
        };
        let cy = y + LANE_H - 9.0;
        let _ = write!(
            s,
            r#"<g class="vote"><title>{}</title><circle cx="{}" cy="{}" r="{}"/>"#,
            esc(&title),
            f(x),
            f(cy),
            if group.len() > 1 { "3.5" } else { "2.5" }
        );
        if x - last_label_x >= 14.0 {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}">{}</text>"#,
                f(x + 4.0),
                f(cy + 3.5),
                last.leader
            );
            last_label_x = x;
        }
        s.push_str("</g>");
        k = j;
    }
}
