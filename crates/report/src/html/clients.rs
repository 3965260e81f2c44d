//! The clients section of the page: per client, its sessions, operations and what its recipe
//! reported; who held a recipe role when; and the resource uses that came out of token
//! order, which is where a deposed leader acting (or fencing stopping it) shows.

use super::collect::session_id;
use super::escape::esc;
use super::line::zxid;
use super::model::{ClientLane, Role, RoleSpan, Run};
use super::scale::ms;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Rows of the recipe roles table at most.
const MAX_ROLE_ROWS: usize = 200;
/// Rows of the out-of-order resource uses table at most.
const MAX_USE_ROWS: usize = 100;
/// Session ids listed per client at most.
const MAX_SESSIONS: usize = 4;

/// `CONNECTIONLOSS 3, NODEEXISTS 1`, most frequent first.
pub fn failures_text(failed: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = failed.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn section(s: &mut String, run: &Run) {
    if run.clients.is_empty() {
        return;
    }
    s.push_str(r#"<section id="clients"><h2>Clients</h2>"#);
    clients_table(s, run);
    roles_table(s, run);
    stale_uses_table(s, run);
    s.push_str("</section>");
}

fn count<F: Fn(&super::model::SessionMark) -> bool>(lane: &ClientLane, kind: F) -> usize {
    lane.marks.iter().filter(|(_, m)| kind(m)).count()
}

fn clients_table(s: &mut String, run: &Run) {
    use super::model::SessionMark as M;
    s.push_str(r#"<table id="clients-table"><tr><th>client</th><th>sessions</th><th>connected</th><th>disconnected</th><th>expired</th><th>crashed</th><th>paused</th><th>ops OK</th><th>failed</th><th>unanswered</th><th>watch events</th><th>recipe</th><th>resource uses</th></tr>"#);
    for (id, lane) in &run.clients {
        let mut sessions = lane
            .sessions
            .iter()
            .take(MAX_SESSIONS)
            .map(|s| session_id(*s))
            .collect::<Vec<_>>()
            .join(", ");
        if lane.sessions.len() > MAX_SESSIONS {
            let _ = write!(
                sessions,
                ", ... ({} more)",
                lane.sessions.len() - MAX_SESSIONS
            );
        }
        let paused: u64 = lane.pauses.iter().map(|(a, b)| b - a).sum();
        let paused = if lane.pauses.is_empty() {
            "0".to_string()
        } else {
            format!("{} ({} ms)", lane.pauses.len(), ms(paused))
        };
        let failed: u64 = lane.failed.values().sum();
        let failed = if failed == 0 {
            "0".to_string()
        } else {
            format!("{failed}: {}", failures_text(&lane.failed))
        };
        let mut recipe: Vec<String> = Vec::new();
        for role in [Role::Leader, Role::LockHolder] {
            let spans: Vec<&RoleSpan> = lane.roles.iter().filter(|r| r.role == role).collect();
            if !spans.is_empty() {
                let held: u64 = spans.iter().map(|r| r.end_us - r.start_us).sum();
                let what = match role {
                    Role::Leader => "led",
                    Role::LockHolder => "held the lock",
                };
                recipe.push(format!("{what} {} times, {} ms", spans.len(), ms(held)));
            }
        }
        for (kind, n) in &lane.recipe {
            recipe.push(format!("{kind} {n}"));
        }
        let accepted = lane.uses.iter().filter(|u| u.accepted).count();
        let refused = lane.uses.len() - accepted;
        let uses = if lane.uses.is_empty() {
            String::new()
        } else if refused > 0 {
            format!(r#"{accepted} accepted, <span class="bad">{refused} refused</span>"#)
        } else {
            format!("{accepted} accepted")
        };
        let expired = count(lane, |m| matches!(m, M::Expired { .. }));
        let crashed = count(lane, |m| matches!(m, M::Crashed));
        let flag = |n: usize| {
            if n > 0 {
                format!(r#"<span class="bad">{n}</span>"#)
            } else {
                "0".to_string()
            }
        };
        let _ = write!(
            s,
            r#"<tr><td>c{id}</td><td><code>{}</code></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{uses}</td></tr>"#,
            esc(&sessions),
            count(lane, |m| matches!(m, M::Connected { .. })),
            count(lane, |m| matches!(m, M::Disconnected { .. })),
            flag(expired),
            flag(crashed),
            paused,
            lane.answered_ok,
            esc(&failed),
            lane.unanswered,
            lane.watches,
            esc(&recipe.join("; ")),
        );
    }
    s.push_str("</table>");
}

/// Who held a recipe role when, in time order across clients.
fn roles_table(s: &mut String, run: &Run) {
    let mut spans: Vec<(u32, &RoleSpan)> = run
        .clients
        .iter()
        .flat_map(|(id, lane)| lane.roles.iter().map(move |r| (*id, r)))
        .collect();
    if spans.is_empty() {
        return;
    }
    spans.sort_by_key(|(id, r)| (r.start_us, *id));
    let total = spans.len();
    // Too many to list: keep those around the violations, if any, else the first ones.
    if total > MAX_ROLE_ROWS && !run.violations.is_empty() {
        let near = |r: &RoleSpan| {
            run.violations
                .iter()
                .any(|v| r.end_us + run.window_us >= v.t_us && r.start_us <= v.t_us + run.window_us)
        };
        spans.retain(|(_, r)| near(r));
    }
    spans.truncate(MAX_ROLE_ROWS);
    s.push_str(r#"<h3>Recipe roles: who believed it led or held the lock, when</h3>"#);
    if spans.len() < total {
        let _ = write!(
            s,
            r#"<p class="muted">{} of {total} spans are listed{}.</p>"#,
            spans.len(),
            if run.violations.is_empty() {
                ""
            } else {
                ", those around the violations"
            }
        );
    }
    s.push_str(r#"<table id="roles-table"><tr><th>from</th><th>to</th><th>client</th><th>role</th><th>token</th><th>resource uses</th><th>paused within</th><th>ended</th><th>violations during it</th></tr>"#);
    for (id, r) in spans {
        let lane = &run.clients[&id];
        let paused: u64 = lane
            .pauses
            .iter()
            .map(|(p, q)| (*q).min(r.end_us).saturating_sub((*p).max(r.start_us)))
            .sum();
        let paused = if paused > 0 {
            format!(r#"<span class="bad">{} ms</span>"#, ms(paused))
        } else {
            String::new()
        };
        let uses = match (r.accepted, r.refused) {
            (0, 0) => String::new(),
            (a, 0) => format!("{a} accepted"),
            (a, f) => format!(r#"{a} accepted, <span class="bad">{f} refused</span>"#),
        };
        let during: Vec<String> = run
            .violations
            .iter()
            .enumerate()
            .filter(|(_, v)| r.start_us <= v.t_us && v.t_us <= r.end_us)
            .map(|(n, v)| {
                format!(
                    r##"<a class="bad" href="#violation-{n}">{} at {} ms</a>"##,
                    esc(&v.invariant),
                    ms(v.t_us)
                )
            })
            .collect();
        let _ = write!(
            s,
            r#"<tr><td class="num">{} ms</td><td class="num">{} ms</td><td>c{id}</td><td>{}</td><td><code>{}</code></td><td>{uses}</td><td class="num">{paused}</td><td>{}</td><td>{}</td></tr>"#,
            ms(r.start_us),
            ms(r.end_us),
            r.role.name(),
            r.token.map(zxid).unwrap_or_default(),
            r.ended.unwrap_or("still held at the end"),
            during.join(", ")
        );
    }
    s.push_str("</table>");
}

/// Uses of the protected resource with a token older than the newest it had accepted, and
/// uses it refused.
fn stale_uses_table(s: &mut String, run: &Run) {
    let any_use = run.clients.values().any(|l| !l.uses.is_empty());
    if !any_use {
        return;
    }
    s.push_str("<h3>Resource uses out of token order</h3>");
    if run.stale_uses.is_empty() {
        s.push_str(
            "<p>None: the protected resource saw the leaders' tokens in order and refused none.</p>",
        );
        return;
    }
    s.push_str(r#"<p class="muted">A use whose token is older than the newest the resource had accepted comes from a deposed leader: accepted, the deposed leader acted after its successor; refused, fencing stopped it.</p>"#);
    s.push_str(r#"<table id="stale-uses-table"><tr><th>at</th><th>client</th><th>token</th><th>resource</th><th>newest token accepted before</th></tr>"#);
    for u in run.stale_uses.iter().take(MAX_USE_ROWS) {
        let verdict = if u.accepted {
            r#"<span class="bad">accepted</span>"#
        } else {
            "refused"
        };
        let newest = match u.newest {
            Some((token, client, t)) => {
                format!("<code>{}</code> of c{client} at {} ms", zxid(token), ms(t))
            }
            None => "none".to_string(),
        };
        let _ = write!(
            s,
            r#"<tr><td class="num">{} ms</td><td>c{}</td><td><code>{}</code></td><td>{verdict}</td><td>{newest}</td></tr>"#,
            ms(u.t_us),
            u.client,
            zxid(u.token)
        );
    }
    s.push_str("</table>");
    let total = run.stale_uses_total as usize;
    if total > MAX_USE_ROWS.min(run.stale_uses.len()) {
        let _ = write!(
            s,
            r#"<p class="muted">... and {} more (the trace has them all).</p>"#,
            total - MAX_USE_ROWS.min(run.stale_uses.len())
        );
    }
}
