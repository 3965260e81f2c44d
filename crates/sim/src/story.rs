//! A run told as plain text, one fact per line, for golden files (`[expect] golden`).
//!
//! A golden file pins what a scenario shows beyond its verdict: which faults fired when, who
//! won each election, how each learner was synced, where every server ended and what was
//! violated. Any change in behaviour shows up as a reviewable line diff, which is why the
//! story leaves out what changes without a change in behaviour (the event count and the
//! trace hash, which move when the simulator's bookkeeping does).

use crate::outcome::Outcome;
use std::fmt::Write;

/// `1 txn`, `2 txns`, `0 elections`: a count with its noun, in the plural unless it is one.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Milliseconds with up to three decimals, for times kept in microseconds.
pub fn ms(us: u64) -> String {
    if us.is_multiple_of(1000) {
        format!("{}", us / 1000)
    } else {
        format!("{:.3}", us as f64 / 1000.0)
    }
}

/// The story of one run.
pub fn story(o: &Outcome) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "scenario {}, seed {}, ZooKeeper {}",
        o.scenario, o.seed, o.zk_version
    );
    if !o.bugs.is_empty() {
        let _ = write!(s, ", bugs {}", o.bugs.join(" "));
    }
    let _ = writeln!(s, ", ran {} ms", ms(o.sim_us));

    section(&mut s, "faults", &o.faults, |s, (t, f)| {
        let _ = writeln!(s, "  {} ms  {f}", ms(*t));
    });
    section(&mut s, "elections", &o.elections, |s, e| {
        let _ = writeln!(
            s,
            "  epoch {} leader {}: no leader from {} ms, established at {} ms",
            e.epoch,
            e.leader,
            ms(e.started_us),
            ms(e.established_us)
        );
        if !e.recovered.is_empty() {
            let txns: Vec<String> = e.recovered.iter().map(|t| t.to_string()).collect();
            let _ = writeln!(s, "    recovered {}", txns.join(" "));
        }
    });
    section(&mut s, "syncs", &o.syncs, |s, r| {
        let _ = writeln!(
            s,
            "  {} ms  {} syncs {} with {} {}",
            ms(r.at_us),
            r.leader,
            r.learner,
            r.mode.name(),
            r.zxid
        );
    });
    section(&mut s, "startup failures", &o.startup_failures, |s, f| {
        let _ = writeln!(s, "  {} ms  {}: {}", ms(f.0), f.1, f.2);
    });
    section(&mut s, "bugs that acted", &o.fired, |s, (t, id, bug)| {
        let _ = writeln!(s, "  {} ms  {id}: {bug}", ms(*t));
    });

    match o.leader {
        Some((l, epoch)) => {
            let _ = writeln!(s, "end: {l} leads epoch {epoch}");
        }
        None => {
            let _ = writeln!(s, "end: no leader, highest epoch {}", o.epoch);
        }
    }
    let _ = writeln!(s, "committed: {}", count(o.committed, "txn"));
    for (id, txns) in &o.delivered {
        match txns.last() {
            Some(last) => {
                let _ = writeln!(s, "  {id} delivered {}, last {last}", txns.len());
            }
            None => {
                let _ = writeln!(s, "  {id} delivered 0");
            }
        }
    }
    section(&mut s, "clients", &o.clients, |s, c| {
        let _ = writeln!(
            s,
            "  {}: sessions {} connects {} disconnects {} expired {} submitted {} ok {} \
             errors {} lost {} watches {} claims {} resource {}/{}",
            c.client,
            c.sessions,
            c.connects,
            c.disconnects,
            c.expired,
            c.submitted,
            c.ok,
            c.errors,
            c.lost,
            c.watches,
            c.claims,
            c.resource_accepted,
            c.resource_refused
        );
    });
    section(&mut s, "violations", &o.violations, |s, v| {
        let server = v.server.map(|s| format!(" {s}")).unwrap_or_default();
        let _ = writeln!(
            s,
            "  {} ms  {}{server}: {}",
            ms(v.at_us),
            v.invariant,
            v.message
        );
    });
    if o.verdict.passed {
        let _ = writeln!(s, "verdict: as expected");
    } else {
        let _ = writeln!(s, "verdict: differs (exit {})", o.verdict.exit_code);
        for r in &o.verdict.reasons {
            let _ = writeln!(s, "  {r}");
        }
    }
    s
}

fn section<T>(s: &mut String, title: &str, items: &[T], mut line: impl FnMut(&mut String, &T)) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(s, "{title}:");
    for item in items {
        line(s, item);
    }
}

/// Where `actual` first departs from `golden`: the line number and both lines, or `None`
/// when they are equal.
pub fn first_difference(golden: &str, actual: &str) -> Option<(usize, String, String)> {
    let mut g = golden.lines();
    let mut a = actual.lines();
    let mut n = 0;
    loop {
        n += 1;
        match (g.next(), a.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                let show = |l: Option<&str>| l.map_or("(end of text)".to_string(), str::to_string);
                return Some((n, show(x), show(y)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_only_the_decimals_they_need() {
        assert_eq!(ms(15_000_000), "15000");
        assert_eq!(ms(316_404), "316.404");
        assert_eq!(ms(1_500), "1.500");
    }

    #[test]
    fn the_first_difference_names_its_line_and_both_texts() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        assert_eq!(
            first_difference("a\nb\nc\n", "a\nx\nc\n"),
            Some((2, "b".into(), "x".into()))
        );
        assert_eq!(
            first_difference("a\n", "a\nmore\n"),
            Some((2, "(end of text)".into(), "more".into()))
        );
    }
}
