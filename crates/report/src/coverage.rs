//! The protocol-coverage table of a sweep: each situation of [`sim::coverage::situations`],
//! how many seeds reached it and how often in all.
//!
//! Every catalogued situation is a row, reached or not, since the rows at zero are the point:
//! they name what the sweep never exercised. A situation outside the catalogue is a row only
//! once some seed reached it.

use crate::sweep::SeedResult;
use serde::Serialize;
use sim::coverage::situations;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub group: &'static str,
    pub situation: String,
    /// Listed even when unreached (see [`sim::coverage::Situation::catalogued`]).
    pub catalogued: bool,
    /// Seeds that reached it.
    pub seeds: u64,
    /// Times it was reached, over all seeds.
    pub count: u64,
}

/// The table, in catalogue order.
pub fn table<'a>(results: impl IntoIterator<Item = &'a SeedResult>) -> Vec<Row> {
    let all = situations();
    let mut seeds = vec![0u64; all.len()];
    let mut count = vec![0u64; all.len()];
    for r in results {
        for (i, c) in r.coverage.reached() {
            seeds[i] += 1;
            count[i] += u64::from(c);
        }
    }
    all.iter()
        .enumerate()
        .filter(|(i, s)| s.catalogued || seeds[*i] > 0)
        .map(|(i, s)| Row {
            group: s.group,
            situation: s.name.clone(),
            catalogued: s.catalogued,
            seeds: seeds[i],
            count: count[i],
        })
        .collect()
}

/// Per group, in catalogue order: (group, catalogued situations reached, catalogued ones).
pub fn by_group(rows: &[Row]) -> Vec<(&'static str, usize, usize)> {
    let mut out: Vec<(&'static str, usize, usize)> = Vec::new();
    for r in rows.iter().filter(|r| r.catalogued) {
        if out.last().is_none_or(|g| g.0 != r.group) {
            out.push((r.group, 0, 0));
        }
        let g = out.last_mut().expect("pushed");
        g.2 += 1;
        if r.seeds > 0 {
            g.1 += 1;
        }
    }
    out
}

/// A situation reached by fewer than this share of the seeds counts as rare.
pub const RARE_SHARE: f64 = 0.01;

/// Whether a row is rare in a sweep of `runs` seeds: reached, but by under [`RARE_SHARE`].
pub fn is_rare(r: &Row, runs: usize) -> bool {
    r.seeds > 0 && (r.seeds as f64) < RARE_SHARE * runs as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(pairs: &[(usize, u32)]) -> SeedResult {
        SeedResult {
            scenario: 0,
            seed: 0,
            passed: true,
            events: 0,
            sim_us: 0,
            failures: Vec::new(),
            families: Vec::new(),
            knobs: Vec::new(),
            recovery: crate::sweep::Recovery::NoFaults,
            attributed_to: None,
            coverage: sim::Coverage::from_reached(pairs).expect("valid"),
            mutations: Vec::new(),
        }
    }

    #[test]
    fn rows_count_seeds_and_times_and_keep_unreached_catalogued_ones() {
        let all = situations();
        let cat = all.iter().position(|s| s.catalogued).expect("some");
        let off = all.iter().position(|s| !s.catalogued).expect("some");
        let off2 = all.iter().rposition(|s| !s.catalogued).expect("some");
        let rows = table(&[seed(&[(cat, 3), (off, 1)]), seed(&[(cat, 2)])]);
        let catalogued = all.iter().filter(|s| s.catalogued).count();
        assert_eq!(rows.len(), catalogued + 1, "plus the one reached outside");
        let r = rows
            .iter()
            .find(|r| r.situation == all[cat].name)
            .expect("row");
        assert_eq!((r.seeds, r.count), (2, 5));
        let o = rows
            .iter()
            .find(|r| r.situation == all[off].name)
            .expect("row");
        assert_eq!((o.seeds, o.count, o.catalogued), (1, 1, false));
        assert!(!rows.iter().any(|r| r.situation == all[off2].name) || off2 == off);
        let groups = by_group(&rows);
        let reached: usize = groups.iter().map(|g| g.1).sum();
        assert_eq!(reached, 1);
        assert_eq!(groups.iter().map(|g| g.2).sum::<usize>(), catalogued);
        assert!(is_rare(r, 201) && !is_rare(r, 200));
    }
}
