//! How `sim fuzz` and `sim merge` show a sweep's protocol coverage: a few lines in the
//! summary (how much of the catalogue it reached, group by group, what was rare and what it
//! never exercised), the whole table with `--coverage`, and the rows in `--json`.

use report::coverage::{by_group, is_rare, Row, RARE_SHARE};
use report::sweep::Sweep;
use serde_json::json;

/// The summary's coverage lines; with `full`, every row.
pub(crate) fn print(sweep: &Sweep, full: bool) {
    let rows = sweep.coverage();
    let runs = sweep.results.len();
    let groups = by_group(&rows);
    let reached: usize = groups.iter().map(|g| g.1).sum();
    let total: usize = groups.iter().map(|g| g.2).sum();
    let per_group: Vec<String> = groups
        .iter()
        .map(|(g, r, t)| format!("{g} {r}/{t}"))
        .collect();
    println!(
        "protocol coverage: {reached} of {total} situations reached ({})",
        per_group.join(", ")
    );
    if full {
        println!("  {:<11} {:>7} {:>9}  situation", "group", "seeds", "times");
        for r in &rows {
            let mark = if r.catalogued {
                ""
            } else {
                "  (outside the catalogue)"
            };
            println!(
                "  {:<11} {:>7} {:>9}  {}{mark}",
                r.group, r.seeds, r.count, r.situation
            );
        }
        return;
    }
    let mut rare: Vec<&Row> = rows.iter().filter(|r| is_rare(r, runs)).collect();
    rare.sort_by_key(|r| r.seeds);
    if !rare.is_empty() {
        let shown: Vec<String> = rare
            .iter()
            .take(12)
            .map(|r| format!("{} ({} seeds)", r.situation, r.seeds))
            .collect();
        let more = rare.len().saturating_sub(12);
        let more = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        println!(
            "  rare (in under {:.0}% of seeds): {}{more}",
            RARE_SHARE * 100.0,
            shown.join("; ")
        );
    }
    let outside: Vec<&Row> = rows.iter().filter(|r| !r.catalogued).collect();
    if !outside.is_empty() {
        let names: Vec<&str> = outside.iter().map(|r| r.situation.as_str()).collect();
        println!("  reached outside the catalogue: {}", names.join("; "));
    }
    if reached < total {
        println!("  never reached:");
        for (g, _, _) in &groups {
            let never: Vec<&str> = rows
                .iter()
                .filter(|r| r.group == *g && r.catalogued && r.seeds == 0)
                .map(|r| r.situation.as_str())
                .collect();
            if !never.is_empty() {
                println!("    {g}: {}", never.join("; "));
            }
        }
    }
    println!("  (the whole table: --coverage, --json or --report)");
}

/// The table as JSON rows.
pub(crate) fn json(sweep: &Sweep) -> serde_json::Value {
    let rows = sweep.coverage();
    let groups = by_group(&rows);
    json!({
        "reached": groups.iter().map(|g| g.1).sum::<usize>(),
        "catalogued": groups.iter().map(|g| g.2).sum::<usize>(),
        "rows": rows,
    })
}
