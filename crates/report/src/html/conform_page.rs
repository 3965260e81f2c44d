//! The page of `sim conform --report`: a real ensemble's run and the simulated run of the
//! seed closest to it, in the same lanes on one time axis, under the comparison's table, so
//! that the two elections can be read side by side.
//!
//! Both runs are [`Run`]s folded by the same collector: the simulated one from its trace, the
//! real one from what the harness observed (see `sim conform`), so every mark means the same
//! on both timelines.

use super::escape::esc;
use super::model::Run;
use super::page::{elections_table, faults, legend, STYLE};
use super::scale::time_label;
use super::timeline;
use std::fmt::Write;

/// One compared field: what the real run showed, what the simulation allows, and whether
/// the real value is one of those.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub real: String,
    pub simulated: String,
    pub agree: bool,
}

/// Everything the page shows.
pub struct Conformance<'a> {
    pub scenario: &'a str,
    pub description: &'a str,
    /// The release of the real servers and of the simulated model.
    pub zk_version: &'a str,
    /// The real run's seed (its choices of follower or server).
    pub seed: u64,
    /// How many simulated seeds the real run was compared with.
    pub runs: u64,
    pub fields: &'a [Field],
    /// The command that makes the comparison again.
    pub command: &'a str,
    pub real: &'a Run,
    /// The simulated run of the seed closest to the real one, with the seed and the command
    /// that reruns it.
    pub simulated: Option<(u64, &'a Run, String)>,
    /// The scenario file's text.
    pub source: Option<&'a str>,
}

impl Conformance<'_> {
    fn agree(&self) -> bool {
        differing(self.fields).is_empty()
    }
}

/// The names of the fields that differ, in order.
pub fn differing(fields: &[Field]) -> Vec<&str> {
    fields
        .iter()
        .filter(|f| !f.agree)
        .map(|f| f.name.as_str())
        .collect()
}

pub fn render(c: &Conformance<'_>) -> String {
    let mut s = String::with_capacity(128 * 1024);
    let _ = write!(
        s,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>zabsim conform: {}</title><style>{STYLE}</style></head><body>"#,
        esc(c.scenario)
    );
    header(&mut s, c);
    s.push_str("<main>");
    comparison(&mut s, c);
    // One time axis for both, so that the same moment is at the same place on the page.
    let end = c
        .simulated
        .as_ref()
        .map_or(0, |(_, r, _)| r.end_us)
        .max(c.real.end_us)
        .max(1);
    let _ = write!(
        s,
        r#"<section id="real-timeline-section"><h2>Real ensemble: ZooKeeper {}</h2>{}<div class="scroll">{}</div><p class="muted">Time 0 is when every server answered <code>srvr</code>; what happened before it (the servers starting) is drawn at 0. States and phases come from the servers' logs ("Peer state changed"), commits from the leader's COMMIT packets as the harness's proxies saw them, faults and partitions from the harness's own record of carrying them out; a server's epoch is the one its NEWLEADER packet carried.</p></section>"#,
        esc(c.zk_version),
        legend(c.real),
        timeline::render(
            c.real,
            &timeline::View {
                id: "real-timeline",
                from_us: 0,
                to_us: end,
                highlight: None,
            }
        )
    );
    match &c.simulated {
        Some((seed, run, command)) => {
            let _ = write!(
                s,
                r#"<section id="sim-timeline-section"><h2>Simulated: seed {seed}, the closest of the {} seeds</h2>{}<div class="scroll">{}</div><p class="muted">Its run alone, with its full report: <code>{}</code></p></section>"#,
                c.runs,
                legend(run),
                timeline::render(
                    run,
                    &timeline::View {
                        id: "sim-timeline",
                        from_us: 0,
                        to_us: end,
                        highlight: None,
                    }
                ),
                esc(&format!("{command} --report"))
            );
        }
        None => {
            let _ = write!(
                s,
                r#"<section id="sim-timeline-section"><h2>Simulated</h2><p>No simulated seed came close to the real run on the fields compared, so none is drawn; the table above says which fields differ.</p></section>"#
            );
        }
    }
    elections_table(&mut s, c.real, "real-elections", "Real elections");
    if let Some((seed, run, _)) = &c.simulated {
        elections_table(
            &mut s,
            run,
            "sim-elections",
            &format!("Simulated elections (seed {seed})"),
        );
    }
    faults(
        &mut s,
        c.real,
        "real-faults",
        "Faults carried out on the real ensemble",
    );
    if let Some(text) = c.source {
        let _ = write!(
            s,
            r#"<section id="source"><h2>Scenario source</h2><details><summary>{}</summary><pre>{}</pre></details></section>"#,
            esc(c.scenario),
            esc(text)
        );
    }
    s.push_str("</main></body></html>\n");
    s
}

fn header(s: &mut String, c: &Conformance<'_>) {
    let verdict = if c.agree() {
        r#"<span class="verdict pass">AGREE</span>"#
    } else {
        r#"<span class="verdict fail">DIFFER</span>"#
    };
    let _ = write!(
        s,
        r#"<header><h1>{} <span class="seed">real ZooKeeper {} (seed {}) against {} simulated seeds</span> {verdict}</h1>"#,
        esc(c.scenario),
        esc(c.zk_version),
        c.seed,
        c.runs
    );
    if !c.description.trim().is_empty() {
        let _ = write!(s, r#"<p class="lead">{}</p>"#, esc(c.description.trim()));
    }
    let _ = write!(
        s,
        r#"<p class="facts">real run {} · {} · {} carried out · again: <code>{}</code></p>"#,
        time_label(c.real.end_us),
        crate::count(c.real.established.len() as u64, "real election"),
        crate::count(c.real.faults.len() as u64, "fault"),
        esc(c.command)
    );
    let differing = differing(c.fields);
    if !differing.is_empty() {
        let _ = write!(
            s,
            r#"<ul class="reasons"><li>differ: {}</li></ul>"#,
            esc(&differing.join(", "))
        );
    }
    s.push_str(r##"<nav><a href="#comparison">comparison</a><a href="#real-timeline-section">real timeline</a><a href="#sim-timeline-section">simulated timeline</a><a href="#real-elections">elections</a><a href="#real-faults">faults</a></nav></header>"##);
}

fn comparison(s: &mut String, c: &Conformance<'_>) {
    s.push_str(r#"<section id="comparison"><h2>Comparison</h2><table><tr><th>field</th><th>real</th><th>simulated</th><th></th></tr>"#);
    for f in c.fields {
        let mark = if f.agree {
            r#"<span class="good">agree</span>"#
        } else {
            r#"<span class="bad">differ</span>"#
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{mark}</td></tr>",
            esc(&f.name),
            esc(&f.real),
            esc(&f.simulated)
        );
    }
    s.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::line::{Event, Line};
    use crate::html::Collector;

    fn state(t_us: u64, server: &str, state: &str, phase: &str, epoch: u64) -> Line {
        Line::Event {
            t_us,
            server: server.into(),
            event: Event::State {
                state: state.into(),
                phase: phase.into(),
                epoch,
            },
        }
    }

    fn run(leader: &str, end_us: u64) -> Run {
        let mut c = Collector::new(300_000);
        for s in ["s1", "s2", "s3"] {
            c.fold(state(0, s, "Looking", "Election", 0));
        }
        for s in ["s1", "s2", "s3"] {
            let (st, ph) = if s == leader {
                ("Leading", "Broadcast")
            } else {
                ("Following", "Broadcast")
            };
            c.fold(state(200_000, s, st, ph, 1));
        }
        c.fold(Line::Election {
            t_us: 200_000,
            epoch: 1,
            leader: leader.into(),
            started_us: 0,
            established_us: 200_000,
        });
        c.fold(Line::Crash {
            t_us: end_us / 2,
            server: leader.into(),
        });
        c.fold(Line::Fault {
            t_us: end_us / 2,
            fault: format!("crash {leader}"),
        });
        let mut r = c.finish();
        r.end_us = end_us;
        r
    }

    fn field(name: &str, agree: bool) -> Field {
        Field {
            name: name.into(),
            real: "s3".into(),
            simulated: "s2 (12), s3 (188)".into(),
            agree,
        }
    }

    #[test]
    fn both_timelines_share_one_axis_under_the_table() {
        let real = run("s3", 2_000_000);
        let sim = run("s3", 3_000_000);
        let fields = [field("leader", true), field("epoch", true)];
        let page = render(&Conformance {
            scenario: "leader-crash",
            description: "",
            zk_version: "3.8.0",
            seed: 7,
            runs: 200,
            fields: &fields,
            command: "sim conform x.toml --seed 7",
            real: &real,
            simulated: Some((7, &sim, "sim run x.toml --seed 7 --zk 3.8.0".into())),
            source: Some("name = \"leader-crash\""),
        });
        assert!(page.contains(r#"<span class="verdict pass">AGREE</span>"#));
        let real_at = page
            .find(r#"<svg id="real-timeline""#)
            .expect("real timeline");
        let sim_at = page
            .find(r#"<svg id="sim-timeline""#)
            .expect("simulated timeline");
        assert!(page.find(r#"id="comparison""#).unwrap() < real_at && real_at < sim_at);
        // The real run ends at 2 s, the simulated one at 3 s: both are drawn to 3 s, on the
        // same axis.
        let svg = |id: &str| {
            let svg = &page[page.find(&format!(r#"<svg id="{id}""#)).unwrap()..];
            svg[..svg.find("</svg>").unwrap()].to_string()
        };
        let axis = |svg: &str| {
            let a = &svg[svg.find(r#"<g class="axis">"#).unwrap()..];
            a[..a.find("</g>").unwrap()].to_string()
        };
        let (r, m) = (svg("real-timeline"), svg("sim-timeline"));
        assert_eq!(axis(&r), axis(&m));
        assert!(axis(&r).contains(">2.5 s<"), "{}", axis(&r));
        assert!(r.contains("LEADING") && m.contains("LEADING"));
        assert!(page.contains("Real elections") && page.contains("Simulated elections (seed 7)"));
        assert!(page.contains("crash s3"));
    }

    #[test]
    fn a_differing_field_is_named_and_no_closest_seed_is_said() {
        let real = run("s1", 1_000_000);
        let fields = [field("leader", false), field("epoch", true)];
        let page = render(&Conformance {
            scenario: "leader-crash",
            description: "why it exists",
            zk_version: "3.8.0",
            seed: 0,
            runs: 10,
            fields: &fields,
            command: "sim conform x.toml",
            real: &real,
            simulated: None,
            source: None,
        });
        assert!(page.contains(r#"<span class="verdict fail">DIFFER</span>"#));
        assert!(page.contains("<li>differ: leader</li>"));
        assert!(page.contains("No simulated seed came close"));
        assert!(!page.contains(r#"<svg id="sim-timeline""#));
        assert!(page.contains("why it exists"));
    }
}
