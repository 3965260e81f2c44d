//! The human summary of `sim run`.

use crate::ms;
use std::fmt::Write;

/// At most eight items, then how many more.
fn abbreviate(items: &[String]) -> String {
    if items.len() <= 8 {
        items.join(", ")
    } else {
        format!("{}, ... ({} more)", items[..8].join(", "), items.len() - 8)
    }
}

pub fn summary(o: &sim::Outcome, command: &str) -> String {
    let mut s = String::new();
    let bugs = if o.bugs.is_empty() {
        String::new()
    } else {
        format!(" with bugs {}", o.bugs.join(", "))
    };
    let _ = writeln!(
        s,
        "scenario {} (seed {}) on ZooKeeper {}{bugs}",
        o.scenario, o.seed, o.zk_version
    );
    let _ = writeln!(
        s,
        "simulated {} ms, {} events, trace {:016x}",
        ms(o.sim_us),
        o.events,
        o.trace_hash
    );
    if !o.faults.is_empty() {
        let _ = writeln!(s, "\nfaults:");
        for (t, f) in &o.faults {
            let _ = writeln!(s, "  {:>10} ms  {f}", ms(*t));
        }
    }
    let _ = writeln!(s, "\nelections:");
    if o.elections.is_empty() {
        let _ = writeln!(s, "  none established");
    }
    for e in &o.elections {
        let _ = writeln!(
            s,
            "  epoch {:<3} leader {:<4} established at {:>10} ms, {} ms after the ensemble lost its leader (at {} ms)",
            e.epoch,
            e.leader.to_string(),
            ms(e.established_us),
            ms(e.established_us - e.started_us),
            ms(e.started_us)
        );
        if !e.recovered.is_empty() {
            let txns: Vec<String> = e.recovered.iter().map(|t| t.to_string()).collect();
            let _ = writeln!(
                s,
                "            committed on establishing epoch {}, first delivered by {}: {}",
                e.epoch,
                e.leader,
                abbreviate(&txns)
            );
        }
    }
    match o.leader {
        Some((l, epoch)) => {
            let _ = writeln!(
                s,
                "\nfinal leader: {l} in epoch {epoch}, {} committed",
                crate::count(o.committed, "txn")
            );
        }
        None => {
            let _ = writeln!(
                s,
                "\nfinal leader: none (highest epoch {}), {} committed",
                o.epoch,
                crate::count(o.committed, "txn")
            );
        }
    }
    if !o.startup_failures.is_empty() {
        let _ = writeln!(s, "\nservers that refused to start from their disk:");
        for (t, id, reason) in &o.startup_failures {
            let _ = writeln!(s, "  {:>10} ms  {id}: {reason}", ms(*t));
        }
    }
    if !o.fired.is_empty() {
        let _ = writeln!(s, "\nknown bugs and hazards that acted (first time):");
        for (t, id, bug) in &o.fired {
            let _ = writeln!(
                s,
                "  {:>10} ms  {id}: {bug} ({})",
                ms(*t),
                bug.description()
            );
        }
    }
    if !o.clients.is_empty() {
        let _ = writeln!(
            s,
            "\nclients:   sessions connects disconnects expired crashes pauses   ops ok errors lost watches claims resource(ok/refused)"
        );
        for c in &o.clients {
            let _ = writeln!(
                s,
                "  {:<8} {:>8} {:>8} {:>11} {:>7} {:>7} {:>6} {:>5} {:>2} {:>6} {:>4} {:>7} {:>6} {:>9}/{}",
                c.client.to_string(),
                c.sessions,
                c.connects,
                c.disconnects,
                c.expired,
                c.crashes,
                c.pauses,
                c.submitted,
                c.ok,
                c.errors,
                c.lost,
                c.watches,
                c.claims,
                c.resource_accepted,
                c.resource_refused
            );
        }
    }
    if o.violations.is_empty() {
        let _ = writeln!(s, "\nno invariant violated");
    } else {
        let _ = writeln!(s, "\nviolations:");
        for v in &o.violations {
            let server = v.server.map(|s| format!(" {s}")).unwrap_or_default();
            let _ = writeln!(
                s,
                "  {} at {} ms{server}: {}",
                v.invariant,
                ms(v.at_us),
                v.message
            );
        }
    }
    if o.verdict.passed {
        let _ = writeln!(s, "\nPASS: the run matches the scenario's [expect]");
    } else {
        let _ = writeln!(s, "\nFAIL:");
        for r in &o.verdict.reasons {
            let _ = writeln!(s, "  {r}");
        }
        match &o.attribution {
            Some(crate::Attribution::Known(bugs)) => {
                let names: Vec<&str> = bugs.iter().map(|b| b.name()).collect();
                let fixes: String = names.iter().map(|n| format!(" --fix {n}")).collect();
                let _ = writeln!(
                    s,
                    "attributed to: {} (with it fixed this seed passes: {command}{fixes})",
                    names.join(" + ")
                );
            }
            Some(crate::Attribution::Unexplained) => {
                let _ = writeln!(
                    s,
                    "attributed to: nothing known (no fix of a bug or hazard {} carries makes this seed pass)",
                    o.zk_version
                );
            }
            None => {}
        }
        let _ = writeln!(s, "reproduce: {command}");
    }
    s
}
