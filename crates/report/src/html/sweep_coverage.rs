//! The sweep report's protocol-coverage section: how much of the catalogue the sweep reached,
//! group by group, then every situation with the seeds that reached it and how often, the
//! ones never reached marked, so a reader sees what the sweep did not exercise.

use super::escape::esc;
use crate::coverage::{by_group, is_rare};
use crate::sweep::Sweep;
use std::fmt::Write;

pub(super) fn section(s: &mut String, sweep: &Sweep) {
    let rows = sweep.coverage();
    let runs = sweep.results.len();
    let groups = by_group(&rows);
    let reached: usize = groups.iter().map(|g| g.1).sum();
    let total: usize = groups.iter().map(|g| g.2).sum();
    let _ = write!(
        s,
        r#"<section id="coverage"><h2>Protocol coverage</h2><p>The sweep reached {reached} of the {total} situations in the catalogue: how each learner was synchronized, each message kind received in each role and phase, each fault by where it landed, how elections were won, how leaderships ended, disks and sessions, and which checker paths had something to judge. A situation reached by under 1% of the seeds is marked rare; one never reached is what this sweep did not exercise. A seed that failed stopped counting at its failure.</p><table id="coverage-groups"><tr><th>group</th><th>reached</th><th>in the catalogue</th></tr>"#
    );
    for (g, r, t) in &groups {
        let _ = write!(
            s,
            r#"<tr><td>{g}</td><td class="num{}">{r}</td><td class="num">{t}</td></tr>"#,
            if r < t { " bad" } else { "" }
        );
    }
    s.push_str(r#"</table><table id="coverage-table"><tr><th>group</th><th>situation</th><th>seeds</th><th>times</th><th></th></tr>"#);
    for r in &rows {
        let note = if !r.catalogued {
            "outside the catalogue"
        } else if r.seeds == 0 {
            "never reached"
        } else if is_rare(r, runs) {
            "rare"
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="{}">{note}</td></tr>"#,
            r.group,
            esc(&r.situation),
            r.seeds,
            r.count,
            if r.seeds == 0 { "bad" } else { "muted" }
        );
    }
    s.push_str("</table></section>");
}
