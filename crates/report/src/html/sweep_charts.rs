//! The charts of a sweep's report, drawn with plotters' SVG backend like the run report's:
//! failures by invariant, failures by fault family, the distribution of the time to elect
//! after the faults, and seeds run against wall time.
//!
//! Bar labels are drawn by hand next to the plotting area, right-aligned, because the names
//! (invariants, verdict reasons, fault families) are long and a numeric axis cannot carry
//! them.

use super::charts::{empty, frame, Layout, MESH, SIZE};
use crate::sweep::{Share, Sweep};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FAIL: RGBColor = RGBColor(198, 40, 40);
const ALL: RGBColor = RGBColor(150, 160, 172);
const GOOD: RGBColor = RGBColor(46, 158, 91);
/// Bar labels longer than this are cut (the tables have them whole).
const LABEL_CHARS: usize = 30;

fn cut(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_string()
    } else {
        let head: String = label.chars().take(LABEL_CHARS - 1).collect();
        format!("{head}…")
    }
}

/// One series of a horizontal bar chart: a value per row.
struct Series {
    name: &'static str,
    colour: RGBColor,
    values: Vec<f64>,
}

/// Horizontal bars, one group per row, rows top to bottom, each bar with its value written at
/// its end.
fn hbars(
    title: &str,
    x_desc: &str,
    rows: &[String],
    series: &[Series],
    value_label: &dyn Fn(f64) -> String,
) -> String {
    let n = rows.len();
    let per_row = series.len().max(1);
    let height = SIZE.1.max(80 + (n * (per_row * 13 + 8)) as u32);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max)
        .max(1.0);
    // The legend goes above the plot, right of the title, where no bar can be.
    let layout = Layout {
        size: (SIZE.0, height),
        y_label_area: 200,
        x: 0f64..max * 1.18,
        y: 0f64..n as f64,
        legend: None,
    };
    frame(title, layout, |chart, root| {
        let _ = chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .y_label_formatter(&|_| String::new())
            .x_desc(x_desc)
            .x_label_formatter(&|x| value_label(*x))
            .light_line_style(MESH)
            .draw();
        let band = 0.8 / per_row as f64;
        for (k, s) in series.iter().enumerate() {
            let colour = s.colour;
            let bars = s.values.iter().enumerate().map(|(i, v)| {
                let top = (n - i) as f64 - 0.1 - band * k as f64;
                Rectangle::new([(0.0, top - band), (*v, top)], colour.filled())
            });
            let _ = chart.draw_series(bars);
            if series.len() > 1 {
                let (x, y) = (SIZE.0 as i32 - 130, 6 + 14 * k as i32);
                let _ = root.draw(&Rectangle::new([(x, y), (x + 12, y + 10)], colour.filled()));
                let _ = root.draw(&Text::new(
                    s.name,
                    (x + 17, y + 5),
                    ("sans-serif", 11)
                        .into_font()
                        .color(&RGBColor(60, 60, 60))
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ));
            }
            let ends = s.values.iter().enumerate().map(|(i, v)| {
                let mid = (n - i) as f64 - 0.1 - band * (k as f64 + 0.5);
                Text::new(
                    value_label(*v),
                    (*v, mid),
                    ("sans-serif", 11)
                        .into_font()
                        .color(&RGBColor(60, 60, 60))
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )
            });
            let _ = chart.draw_series(ends);
        }
        for (i, label) in rows.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, (n - i) as f64 - 0.5));
            let _ = root.draw(&Text::new(
                cut(label),
                (x - 8, y),
                ("sans-serif", 12)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ));
        }
    })
}

/// Failing seeds per invariant (or per verdict reason when no invariant was violated).
pub fn failures(sweep: &Sweep) -> String {
    let title = "Failing seeds by invariant";
    let groups = sweep.by_failure();
    if groups.is_empty() {
        return empty(title, "no seed failed");
    }
    let mut groups: Vec<(String, f64)> = groups
        .into_iter()
        .map(|g| (g.key, g.seeds.len() as f64))
        .collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rows: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    hbars(
        title,
        "failing seeds",
        &rows,
        &[Series {
            name: "failing seeds",
            colour: FAIL,
            values: groups.iter().map(|g| g.1).collect(),
        }],
        &|v| whole(&v),
    )
}

/// A fault family's (or knob value's) share of the failing seeds next to its share of all
/// seeds.
pub fn shares(title: &str, rows: &[Share], failed: usize, total: usize) -> String {
    if rows.is_empty() {
        return empty(title, "nothing to compare");
    }
    if failed == 0 {
        return empty(title, "no seed failed");
    }
    let pct = |n: usize, of: usize| n as f64 * 100.0 / of.max(1) as f64;
    hbars(
        title,
        "share of seeds (%)",
        &rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>(),
        &[
            Series {
                name: "of failing seeds",
                colour: FAIL,
                values: rows.iter().map(|r| pct(r.failing, failed)).collect(),
            },
            Series {
                name: "of all seeds",
                colour: ALL,
                values: rows.iter().map(|r| pct(r.all, total)).collect(),
            },
        ],
        &|v| format!("{v:.0}"),
    )
}

/// A round bin width giving about `bins` bins up to `max`: 1, 2 or 5 times a power of ten.
pub fn bin_width(max: u64, bins: u64) -> u64 {
    let want = (max / bins.max(1)).max(1);
    let mut unit = 1u64;
    loop {
        for m in [1, 2, 5] {
            if unit * m >= want {
                return unit * m;
            }
        }
        unit *= 10;
    }
}

/// How many seeds had a leader again how long after their last fault ended; seeds whose
/// leader held through the faults are the grey bar at 0.
pub fn time_to_elect(sweep: &Sweep) -> String {
    let title = "Time from the end of the faults to an established leader";
    let times = sweep.elect_times_us();
    let (_, held, _, _) = sweep.recoveries();
    if times.is_empty() && held == 0 {
        return empty(
            title,
            "no seed both carried out a fault and had a leader after it",
        );
    }
    let max_ms = times.last().map_or(1, |t| t.div_ceil(1000)).max(1);
    let width = bin_width(max_ms, 20);
    let bins = (max_ms / width + 1) as usize;
    let mut counts = vec![0u64; bins];
    for t in &times {
        counts[((t / 1000) / width) as usize] += 1;
    }
    let top = counts
        .iter()
        .copied()
        .chain([held as u64])
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let span = (bins as u64 * width) as f64;
    let w = width as f64;
    let layout = Layout {
        size: SIZE,
        y_label_area: 48,
        x: -w..span,
        y: 0f64..top * 1.15,
        legend: Some(SeriesLabelPosition::UpperRight),
    };
    frame(title, layout, |chart, _| {
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("ms from the end of the last fault")
            .y_desc("seeds")
            .x_label_formatter(&|x| {
                if *x < 0.0 {
                    String::new()
                } else {
                    format!("{x:.0}")
                }
            })
            .y_label_formatter(&whole)
            .light_line_style(MESH)
            .draw();
        if held > 0 {
            if let Ok(s) = chart.draw_series([Rectangle::new(
                [(-w * 0.94, 0.0), (-w * 0.06, held as f64)],
                ALL.filled(),
            )]) {
                s.label("leader held (0 ms)")
                    .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], ALL.filled()));
            }
        }
        let bars = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let x = (i as u64 * width) as f64;
                Rectangle::new(
                    [(x + w * 0.06, 0.0), (x + w * 0.94, *c as f64)],
                    GOOD.filled(),
                )
            });
        if let Ok(s) = chart.draw_series(bars) {
            s.label("elected after the faults")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], GOOD.filled()));
        }
    })
}

/// Labels only whole numbers: counts have no halves.
fn whole(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// Seeds run and failing seeds found against wall time: the slope is the sweep's speed.
pub fn progress(sweep: &Sweep) -> String {
    let title = "Seeds run over wall time";
    if sweep.finished.is_empty() {
        return empty(title, "no seed ran");
    }
    let end = sweep.wall_us.max(1) as f64 / 1e6;
    let total = sweep.finished.len() as f64;
    // One point per horizontal pixel is all the line can show.
    let mut ran = Vec::new();
    let mut found = Vec::new();
    let (mut failures, mut last_px) = (0u64, u64::MAX);
    for (i, (t, failed)) in sweep.finished.iter().enumerate() {
        failures += u64::from(*failed);
        let x = *t as f64 / 1e6;
        let px = (x / end * 560.0) as u64;
        if px != last_px || i + 1 == sweep.finished.len() {
            ran.push((x, (i + 1) as f64));
            found.push((x, failures as f64));
            last_px = px;
        }
    }
    let layout = Layout {
        size: SIZE,
        y_label_area: 52,
        x: 0f64..end,
        y: 0f64..total * 1.05,
        legend: Some(SeriesLabelPosition::UpperLeft),
    };
    frame(title, layout, |chart, _| {
        let _ = chart
            .configure_mesh()
            .x_desc("wall time (s)")
            .y_desc("seeds")
            .y_label_formatter(&whole)
            .light_line_style(MESH)
            .draw();
        for (points, colour, name) in [(ran, GOOD, "seeds run"), (found, FAIL, "failing seeds")] {
            if let Ok(s) = chart.draw_series(LineSeries::new(points, colour.stroke_width(2))) {
                s.label(name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_round() {
        assert_eq!(bin_width(1, 20), 1);
        assert_eq!(bin_width(45, 20), 2);
        assert_eq!(bin_width(130, 20), 10);
        assert_eq!(bin_width(3_900, 20), 200);
        assert_eq!(bin_width(10_001, 20), 500);
    }

    #[test]
    fn long_labels_are_cut() {
        assert_eq!(cut("total-order"), "total-order");
        let long = "expected an established leader with a synced quorum at the end";
        assert_eq!(cut(long).chars().count(), LABEL_CHARS);
    }
}
