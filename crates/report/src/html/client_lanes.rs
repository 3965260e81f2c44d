//! The clients' lanes of the timeline, under the servers': what each client's recipe told
//! its application it held (leadership, the lock), its connections and session events, its
//! pauses, and every use of the protected resource, accepted or refused.
//!
//! Like the servers' lanes they are plain SVG with `<title>` tooltips, and spans and marks
//! closer than a pixel or two are merged, so a long run's lanes stay small.

use super::collect::session_id;
use super::escape::esc;
use super::marks::{clustered, f, fitting, GROUP_COLOURS};
use super::model::{ClientLane, Role, RoleSpan, Run, SessionMark};
use super::scale::{ms, TimeScale};
use std::fmt::Write;

/// Client lanes drawn at most; the clients table lists them all.
pub const MAX_LANES: usize = 16;
/// Room above the first client lane for its heading.
const HEADING: f64 = 24.0;
const LANE_H: f64 = 24.0;
const LANE_GAP: f64 = 9.0;
/// The role band, and under it the connection bar.
const ROLE_H: f64 = 16.0;
const CONN_Y: f64 = 18.0;
const CONN_H: f64 = 6.0;

/// The clients that get a lane, in id order.
pub fn shown(run: &Run) -> Vec<(u32, &ClientLane)> {
    run.clients
        .iter()
        .take(MAX_LANES)
        .map(|(id, lane)| (*id, lane))
        .collect()
}

fn lane_y(top: f64, i: usize) -> f64 {
    top + HEADING + i as f64 * (LANE_H + LANE_GAP)
}

/// Where the lanes of `n` clients drawn under `top` end.
pub fn bottom(top: f64, n: usize) -> f64 {
    if n == 0 {
        top
    } else {
        lane_y(top, n) - LANE_GAP
    }
}

/// Draws the client lanes under the server lanes, which end at `top`.
pub fn render(s: &mut String, run: &Run, top: f64, scale: &TimeScale, svg: &str) {
    let shown = shown(run);
    if shown.is_empty() {
        return;
    }
    let more = run.clients.len() - shown.len();
    let _ = write!(
        s,
        r#"<text class="row-label" x="4" y="{}">clients{}</text>"#,
        f(top + HEADING - 8.0),
        if more > 0 {
            format!(
                " (the first {}; {more} more in the clients table)",
                shown.len()
            )
        } else {
            String::new()
        }
    );
    for (i, (id, lane)) in shown.iter().enumerate() {
        let y = lane_y(top, i);
        lane_svg(s, *id, lane, y, scale, svg);
        partition_sides(s, run, *id, y, scale);
    }
}

/// Spans as drawn: (index of the first span, how many it stands for, x from, x to). A span
/// narrower than 2 px that starts within 2 px of the one drawn before joins it, so a lane
/// holds a bounded number of rectangles however long the run.
fn drawn_spans(spans: &[(u64, u64)], scale: &TimeScale) -> Vec<(usize, usize, f64, f64)> {
    let mut out: Vec<(usize, usize, f64, f64)> = Vec::new();
    for (i, (a, b)) in spans.iter().enumerate() {
        if *b < scale.from_us || *a > scale.to_us {
            continue;
        }
        let (xa, xb) = (scale.x(*a), scale.x(*b));
        match out.last_mut() {
            Some(last) if xb - xa < 2.0 && xa - last.3 < 2.0 => {
                last.1 += 1;
                last.3 = last.3.max(xb);
            }
            _ => out.push((i, 1, xa, xb.max(xa + 1.0))),
        }
    }
    out
}

/// Time of a span spent paused.
fn paused_within(lane: &ClientLane, a: u64, b: u64) -> u64 {
    lane.pauses
        .iter()
        .map(|(p, q)| (*q).min(b).saturating_sub((*p).max(a)))
        .sum()
}

fn role_title(id: u32, lane: &ClientLane, r: &RoleSpan) -> String {
    let mut t = format!(
        "c{id} {} from {} to {} ms",
        r.role.name(),
        ms(r.start_us),
        ms(r.end_us)
    );
    if let Some(token) = r.token {
        let _ = write!(t, ", token {}", super::line::zxid(token));
    }
    if !r.path.is_empty() {
        let _ = write!(t, " ({})", r.path);
    }
    if r.accepted + r.refused > 0 {
        let _ = write!(
            t,
            "; resource used {} times: {} accepted, {} refused",
            r.accepted + r.refused,
            r.accepted,
            r.refused
        );
    }
    let paused = paused_within(lane, r.start_us, r.end_us);
    if paused > 0 {
        let _ = write!(t, "; paused {} ms of it, still believing it", ms(paused));
    }
    match r.ended {
        Some(why) => {
            let _ = write!(t, "; ended: {why}");
        }
        None => t.push_str("; still held at the end"),
    }
    t
}

fn role_labels(r: &RoleSpan) -> Vec<String> {
    match r.role {
        Role::Leader => {
            let mut v = vec!["leads".to_string(), "L".to_string()];
            if let Some(token) = r.token {
                let z = super::line::zxid(token);
                v.insert(0, format!("leads {z}"));
                v.insert(0, format!("leads · token {z}"));
            }
            v
        }
        Role::LockHolder => vec!["holds the lock".into(), "lock".into(), "H".into()],
    }
}

fn lane_svg(s: &mut String, id: u32, lane: &ClientLane, y: f64, scale: &TimeScale, svg: &str) {
    let _ = write!(
        s,
        r#"<g class="client-lane" data-client="c{id}"><text class="lane-name" x="6" y="{}">c{id}</text><rect class="client-idle" x="{}" y="{}" width="{}" height="{}"/>"#,
        f(y + 14.0),
        f(scale.x0),
        f(y),
        f(scale.width),
        f(ROLE_H)
    );
    // Connections, as a bar under the role band.
    let spans: Vec<(u64, u64)> = lane
        .connections
        .iter()
        .map(|c| (c.start_us, c.end_us))
        .collect();
    for (i, n, xa, xb) in drawn_spans(&spans, scale) {
        let c = &lane.connections[i];
        let mut title = format!(
            "c{id} connected to s{}, session {}, from {} to {} ms",
            c.server,
            session_id(c.session),
            ms(c.start_us),
            ms(c.end_us)
        );
        if n > 1 {
            let _ = write!(title, " (and {} more connections after it)", n - 1);
        }
        let _ = write!(
            s,
            r#"<rect class="conn" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>"#,
            f(xa),
            f(y + CONN_Y),
            f(xb - xa),
            f(CONN_H),
            esc(&title)
        );
    }
    // What the recipe held.
    let spans: Vec<(u64, u64)> = lane.roles.iter().map(|r| (r.start_us, r.end_us)).collect();
    for (i, n, xa, xb) in drawn_spans(&spans, scale) {
        let r = &lane.roles[i];
        let mut title = role_title(id, lane, r);
        if n > 1 {
            let _ = write!(title, " (and {} more spans after it)", n - 1);
        }
        let class = match r.role {
            Role::Leader => "role-leader",
            Role::LockHolder => "role-lock",
        };
        let _ = write!(
            s,
            r#"<rect class="{class}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>"#,
            f(xa),
            f(y),
            f(xb - xa),
            f(ROLE_H),
            esc(&title)
        );
        if n == 1 {
            if let Some(text) = fitting(xb - xa - 6.0, &role_labels(r)) {
                let _ = write!(
                    s,
                    r#"<text class="seg-label" x="{}" y="{}">{}</text>"#,
                    f(xa + 3.0),
                    f(y + 11.5),
                    esc(text)
                );
            }
        }
    }
    // Pauses: hatched over the whole lane.
    for (a, b) in lane
        .pauses
        .iter()
        .filter(|(a, b)| *b >= scale.from_us && *a <= scale.to_us)
    {
        let (xa, xb) = (scale.x(*a), scale.x(*b).max(scale.x(*a) + 1.0));
        let title = format!("c{id} paused from {} to {} ms", ms(*a), ms(*b));
        let _ = write!(
            s,
            r##"<g class="paused"><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" fill="url(#{}-cpaused)"/><rect class="pause-edge" x="{}" y="{}" width="{}" height="{}"/>"##,
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
        if xb - xa > 150.0 {
            let _ = write!(
                s,
                r#"<text class="pause-label" x="{}" y="{}">paused</text>"#,
                f(xb - 46.0),
                f(y + 11.5)
            );
        }
        s.push_str("</g>");
    }
    uses(s, id, lane, y, scale);
    session_marks(s, id, lane, y, scale);
    s.push_str("</g>");
}

/// A tick at the top of the lane for each use of the protected resource the resource
/// accepted, a red cross for each it refused.
fn uses(s: &mut String, id: u32, lane: &ClientLane, y: f64, scale: &TimeScale) {
    for accepted in [true, false] {
        let marks: Vec<(u64, String)> = lane
            .uses
            .iter()
            .filter(|u| u.accepted == accepted)
            .map(|u| {
                (
                    u.t_us,
                    format!(
                        "c{id} used the resource with token {} at {} ms: {}",
                        super::line::zxid(u.token),
                        ms(u.t_us),
                        if accepted { "accepted" } else { "refused" }
                    ),
                )
            })
            .collect();
        for (x, title) in clustered(&marks, scale, 3.0, 6) {
            if accepted {
                let _ = write!(
                    s,
                    r#"<g class="use accepted"><title>{}</title><path d="M{} {}v9"/></g>"#,
                    esc(&title),
                    f(x),
                    f(y - 3.0)
                );
            } else {
                let _ = write!(
                    s,
                    r#"<g class="use refused"><title>{}</title><path d="M{} {} l8 8 m0 -8 l-8 8"/></g>"#,
                    esc(&title),
                    f(x - 4.0),
                    f(y + 4.0)
                );
            }
        }
    }
}

/// Connected, disconnected, expired and crashed, each on the connection bar.
fn session_marks(s: &mut String, id: u32, lane: &ClientLane, y: f64, scale: &TimeScale) {
    let cy = y + CONN_Y + CONN_H / 2.0;
    for class in ["connected", "disconnected", "expired", "crash"] {
        let marks: Vec<(u64, String)> = lane
            .marks
            .iter()
            .filter(|(_, m)| mark_class(m) == Some(class))
            .map(|(t, m)| (*t, mark_title(id, *t, m)))
            .collect();
        for (x, title) in clustered(&marks, scale, 8.0, 3) {
            let shape = match class {
                "connected" | "disconnected" => {
                    format!(r#"<circle cx="{}" cy="{}" r="3"/>"#, f(x), f(cy))
                }
                "expired" => format!(
                    r#"<path d="M{} {} l5 5 l-5 5 l-5 -5 z"/>"#,
                    f(x),
                    f(cy - 5.0)
                ),
                _ => format!(
                    r#"<path d="M{} {} l14 14 m0 -14 l-14 14"/>"#,
                    f(x - 7.0),
                    f(y + LANE_H / 2.0 - 7.0)
                ),
            };
            let _ = write!(
                s,
                r#"<g class="session {class}"><title>{}</title>{shape}</g>"#,
                esc(&title)
            );
        }
    }
}

/// The class of a session mark drawn on the connection bar; pauses are drawn as spans.
fn mark_class(m: &SessionMark) -> Option<&'static str> {
    match m {
        SessionMark::Connected { .. } => Some("connected"),
        SessionMark::Disconnected { .. } => Some("disconnected"),
        SessionMark::Expired { .. } => Some("expired"),
        SessionMark::Crashed => Some("crash"),
        SessionMark::Paused | SessionMark::Resumed => None,
    }
}

fn mark_title(id: u32, t: u64, m: &SessionMark) -> String {
    let at = ms(t);
    match m {
        SessionMark::Connected { server, session } => format!(
            "c{id} connected to s{server} at {at} ms (session {})",
            session_id(*session)
        ),
        SessionMark::Disconnected { server } => {
            format!("c{id} lost its connection to s{server} at {at} ms")
        }
        SessionMark::Expired { session } => format!(
            "c{id} was told at {at} ms that its session {} expired",
            session_id(*session)
        ),
        SessionMark::Crashed => format!("c{id} crashes at {at} ms"),
        SessionMark::Paused => format!("c{id} paused at {at} ms"),
        SessionMark::Resumed => format!("c{id} resumed at {at} ms"),
    }
}

/// Above a client's lane, while a partition names it, a stripe in the colour of its side.
/// The partition's tooltip is on the servers' stripes; these go without, as a long run has
/// many partitions and every client is striped for each.
fn partition_sides(s: &mut String, run: &Run, id: u32, y: f64, scale: &TimeScale) {
    for p in run
        .partitions
        .iter()
        .filter(|p| p.end_us >= scale.from_us && p.start_us <= scale.to_us)
    {
        let Some(g) = p.clients.get(&id) else {
            continue;
        };
        let x0 = scale.x(p.start_us);
        let x1 = scale.x(p.end_us).max(x0 + 1.0);
        let _ = write!(
            s,
            r#"<rect class="side" x="{}" y="{}" width="{}" height="4" fill="{}"/>"#,
            f(x0),
            f(y - 6.0),
            f(x1 - x0),
            GROUP_COLOURS[g % GROUP_COLOURS.len()],
        );
    }
}
