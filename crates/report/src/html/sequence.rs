//! The message sequence diagram of the rows before a violation: a lifeline per server (and
//! per client that took part), one row per send, delivery or server event, in trace order.
//!
//! Rows are evenly spaced rather than placed by time: in a few hundred milliseconds the
//! interesting messages are often microseconds apart, and evenly spaced rows keep every one
//! readable. The time of each row is printed in the left margin instead.

use super::escape::esc;
use super::line::Endpoint;
use super::model::{Fate, Run, SeqItem, ViolationWindow};
use super::scale::ms;
use std::collections::BTreeMap;
use std::fmt::Write;

const LEFT: f64 = 92.0;
const COL_W: f64 = 132.0;
const HEAD: f64 = 34.0;
const ROW_H: f64 = 17.0;

fn f(x: f64) -> String {
    format!("{x:.1}")
}

/// The lifelines: every server of the run, then the clients that appear in the rows.
fn columns(run: &Run, items: &[SeqItem]) -> Vec<Endpoint> {
    let mut cols: Vec<Endpoint> = run.lanes.keys().map(|s| Endpoint::Server(*s)).collect();
    let mut clients = std::collections::BTreeSet::new();
    for item in items {
        let ends = match item {
            SeqItem::Send { msg, .. } | SeqItem::Deliver { msg, .. } => vec![msg.from, msg.to],
            SeqItem::Note { at, .. } => at.iter().copied().collect(),
        };
        for e in ends {
            match e {
                Endpoint::Client(_) => {
                    clients.insert(e);
                }
                Endpoint::Server(_) if !cols.contains(&e) => cols.push(e),
                Endpoint::Server(_) => {}
            }
        }
    }
    cols.extend(clients);
    cols
}

/// Which end of an arrow a label sits by.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Start,
    End,
}

/// Where a label by one end of the arrow from `x0` to `x1` goes, and its anchor, so that the
/// text runs along the arrow, away from its lifeline.
fn beside(x0: f64, x1: f64, side: Side) -> (f64, &'static str) {
    let rightwards = x1 >= x0;
    match (side, rightwards) {
        (Side::Start, true) => (x0 + 8.0, "start"),
        (Side::Start, false) => (x0 - 8.0, "end"),
        (Side::End, true) => (x1 - 10.0, "end"),
        (Side::End, false) => (x1 + 10.0, "start"),
    }
}

fn label(name: &str, zxid: &Option<String>) -> String {
    match zxid {
        Some(z) => format!("{name} {z}"),
        None => name.to_string(),
    }
}

pub fn render(run: &Run, v: &ViolationWindow, n: usize) -> String {
    let items = &v.items;
    let cols = columns(run, items);
    let col_x: BTreeMap<Endpoint, f64> = cols
        .iter()
        .enumerate()
        .map(|(i, e)| (*e, LEFT + COL_W / 2.0 + i as f64 * COL_W))
        .collect();
    let width = LEFT + cols.len() as f64 * COL_W + 10.0;
    let rows = items.len() + 1;
    let row_y = |i: usize| HEAD + 14.0 + i as f64 * ROW_H;
    let height = row_y(rows) + 10.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="sequence-{n}" class="sequence" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="message sequence before the violation">"#,
        w = f(width),
        h = f(height)
    );
    let _ = write!(
        s,
        r#"<defs><marker id="arrow-{n}" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L8 4 L0 8 z" class="arrowhead"/></marker></defs>"#
    );
    // Lifelines and their names.
    for (e, x) in &col_x {
        let _ = write!(
            s,
            r#"<text class="col-name" x="{x}" y="20" text-anchor="middle">{e}</text><line class="lifeline" x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/>"#,
            x = f(*x),
            y0 = f(HEAD),
            y1 = f(height - 6.0)
        );
    }
    // Where each message's send row is, to start its arrow there.
    let mut sent_row: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if let SeqItem::Send { msg, .. } = item {
            sent_row.insert(msg.id, i);
        }
    }
    let bottom = row_y(rows - 1);
    for (i, item) in items.iter().enumerate() {
        let y = row_y(i);
        let _ = write!(
            s,
            r#"<text class="row-time" x="{}" y="{}" text-anchor="end">{}</text>"#,
            f(LEFT - 8.0),
            f(y + 4.0),
            ms(item.t_us())
        );
        match item {
            SeqItem::Send { msg, fate, .. } => {
                let (Some(x0), Some(x1)) = (col_x.get(&msg.from), col_x.get(&msg.to)) else {
                    continue;
                };
                let _ = write!(
                    s,
                    r#"<circle class="send-dot" cx="{}" cy="{}" r="2.5"/>"#,
                    f(*x0),
                    f(y)
                );
                let text = label(&msg.name, &msg.zxid);
                match fate {
                    Fate::Delivered => {}
                    Fate::InFlight => {
                        // Labelled on its own (the send's) row, by its sender: at the middle
                        // of the arrow, several in flight at once would write over each other.
                        let (tx, anchor) = beside(*x0, *x1, Side::Start);
                        let _ = write!(
                            s,
                            r#"<g class="msg in-flight"><title>{t} from {a} to {b}, sent at {at} ms, not yet delivered</title><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" marker-end="url(#arrow-{n})"/><text x="{tx}" y="{ty}" text-anchor="{anchor}">{t} (in flight)</text></g>"#,
                            t = esc(&text),
                            a = msg.from,
                            b = msg.to,
                            at = ms(item.t_us()),
                            x0 = f(*x0),
                            y0 = f(y),
                            x1 = f(*x1),
                            y1 = f(bottom),
                            tx = f(tx),
                            ty = f(y - 3.0),
                        );
                    }
                    Fate::Lost => {
                        let xe = x0 + (x1 - x0) * 0.45;
                        let _ = write!(
                            s,
                            r#"<g class="msg lost"><title>{t} from {a} to {b}, sent at {at} ms, never delivered</title><line x1="{x0}" y1="{y}" x2="{xe}" y2="{y}"/><path d="M{xa} {ya} l8 8 m0 -8 l-8 8"/><text x="{tx}" y="{ty}" text-anchor="middle">{t} (lost)</text></g>"#,
                            t = esc(&text),
                            a = msg.from,
                            b = msg.to,
                            at = ms(item.t_us()),
                            x0 = f(*x0),
                            y = f(y),
                            xe = f(xe),
                            xa = f(xe - 4.0),
                            ya = f(y - 4.0),
                            tx = f((x0 + xe) / 2.0),
                            ty = f(y - 3.0),
                        );
                    }
                }
            }
            SeqItem::Deliver { msg, sent_us, .. } => {
                let (Some(x0), Some(x1)) = (col_x.get(&msg.from), col_x.get(&msg.to)) else {
                    continue;
                };
                let from_row = sent_row.get(&msg.id).filter(|_| sent_us.is_some());
                let (y0, class) = match from_row {
                    Some(r) => (row_y(*r), "msg"),
                    None => (HEAD + 2.0, "msg earlier"),
                };
                let text = label(&msg.name, &msg.zxid);
                let sent = sent_us
                    .map(|t| format!("sent at {} ms, ", ms(t)))
                    .unwrap_or_default();
                // Labelled on its own (the delivery's) row, by the arrowhead: every row holds
                // one item, so labels never share a line, where at the arrows' middles
                // messages sent and delivered close together wrote over each other.
                let (tx, anchor) = beside(*x0, *x1, Side::End);
                let _ = write!(
                    s,
                    r#"<g class="{class}"><title>{t} from {a} to {b}, {sent}delivered at {at} ms</title><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" marker-end="url(#arrow-{n})"/><text x="{tx}" y="{ty}" text-anchor="{anchor}">{t}</text></g>"#,
                    t = esc(&text),
                    a = msg.from,
                    b = msg.to,
                    at = ms(item.t_us()),
                    x0 = f(*x0),
                    y0 = f(y0),
                    x1 = f(*x1),
                    y1 = f(y),
                    tx = f(tx),
                    ty = f(y - 3.0),
                );
            }
            SeqItem::Note {
                at, text, alarm, ..
            } => {
                let class = if *alarm { "note alarm" } else { "note" };
                let w_text = text.chars().count().min(60) as f64 * 6.0 + 10.0;
                // Centred on its lifeline, unless that would run into the time margin.
                let (x, anchor) = match at.and_then(|e| col_x.get(&e)) {
                    Some(x) if x - w_text / 2.0 >= LEFT => (*x, "middle"),
                    _ => (LEFT + 4.0, "start"),
                };
                let shown: String = if text.chars().count() > 60 {
                    format!("{}…", text.chars().take(59).collect::<String>())
                } else {
                    text.clone()
                };
                let w = (shown.chars().count() as f64 * 6.0 + 10.0).min(COL_W * 3.0);
                let xr = if anchor == "middle" {
                    x - w / 2.0
                } else {
                    x - 4.0
                };
                let who = at.map(|e| format!("{e} ")).unwrap_or_default();
                let _ = write!(
                    s,
                    r#"<g class="{class}"><title>{who}at {t} ms: {full}</title><rect x="{xr}" y="{yr}" width="{w}" height="13" rx="3"/><text x="{x}" y="{ty}" text-anchor="{anchor}">{text}</text></g>"#,
                    t = ms(item.t_us()),
                    full = esc(text),
                    xr = f(xr),
                    yr = f(y - 7.0),
                    w = f(w),
                    x = f(x),
                    ty = f(y + 3.5),
                    text = esc(&shown),
                );
            }
        }
    }
    // The violation itself closes the diagram.
    let y = row_y(rows - 1) + 6.0;
    let _ = write!(
        s,
        r#"<g class="violation-row"><line x1="{}" y1="{y}" x2="{}" y2="{y}"/><text x="{}" y="{}">{} violated at {} ms</text></g>"#,
        f(LEFT),
        f(width - 6.0),
        f(LEFT + 4.0),
        f(y - 4.0),
        esc(&v.invariant),
        ms(v.t_us),
        y = f(y)
    );
    s.push_str("</svg>");
    s
}
