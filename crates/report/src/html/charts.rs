//! Charts drawn with plotters' SVG backend and embedded in the page: committed txns over
//! time per server, client operation latency, and how long each election took.
//!
//! Points are thinned to what a chart of this size can show (one per pixel cell), so a long
//! run gives a chart as small as a short one.

use super::model::Run;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeSet;
use std::ops::Range;

pub(super) const SIZE: (u32, u32) = (580, 300);

/// The grid lines of every chart.
pub(super) const MESH: RGBColor = RGBColor(235, 235, 235);

/// A chart's plotting area, as [`frame`] hands it to the code that draws in it.
pub(super) type Axes<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// How a chart is laid out: its size, the room for the y labels, the ranges of its axes, and
/// where its legend goes, if it has one.
pub(super) struct Layout {
    pub size: (u32, u32),
    pub y_label_area: u32,
    pub x: Range<f64>,
    pub y: Range<f64>,
    pub legend: Option<SeriesLabelPosition>,
}

/// Draws one chart of either report: the white page, the title, the axes, whatever `body`
/// draws (it also gets the whole page, for labels outside the axes), and the legend box, the
/// same in every chart. A chart plotters cannot lay out says so instead.
pub(super) fn frame(
    title: &str,
    layout: Layout,
    body: impl FnOnce(&mut Axes<'_, '_>, &DrawingArea<SVGBackend<'_>, Shift>),
) -> String {
    let Layout {
        size,
        y_label_area,
        x,
        y,
        legend,
    } = layout;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(y_label_area)
            .build_cartesian_2d(x, y)
        else {
            return empty(title, "cannot draw");
        };
        body(&mut chart, &root);
        if let Some(position) = legend {
            let _ = chart
                .configure_series_labels()
                .position(position)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw();
        }
        let _ = root.present();
    }
    svg
}

/// One colour per server, in lane order.
pub const SERVER_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn seconds(t_us: u64) -> f64 {
    t_us as f64 / 1e6
}

/// A chart with nothing to draw says so, at the same size.
pub(super) fn empty(title: &str, why: &str) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let _ = root.fill(&WHITE);
        let _ = root.draw(&Text::new(
            title.to_string(),
            (12, 10),
            ("sans-serif", 15).into_font(),
        ));
        let _ = root.draw(&Text::new(
            why.to_string(),
            (12, 140),
            ("sans-serif", 13)
                .into_font()
                .color(&RGBColor(110, 110, 110)),
        ));
        let _ = root.present();
    }
    svg
}

/// Keeps the first and last point of each horizontal pixel, which preserves the shape of a
/// step line.
fn thin_steps(points: &[(u64, u64)], from: u64, to: u64, px: u64) -> Vec<(f64, f64)> {
    let span = (to - from).max(1);
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut bucket = u64::MAX;
    let mut last_in_bucket: Option<(u64, u64)> = None;
    for &(t, c) in points {
        let b = (t.saturating_sub(from)) * px / span;
        if b != bucket {
            if let Some((lt, lc)) = last_in_bucket.take() {
                out.push((seconds(lt), lc as f64));
            }
            bucket = b;
            out.push((seconds(t), c as f64));
        } else {
            last_in_bucket = Some((t, c));
        }
    }
    if let Some((lt, lc)) = last_in_bucket {
        out.push((seconds(lt), lc as f64));
    }
    out
}

/// Committed (delivered) txns of each server over time, as steps.
pub fn commits(run: &Run) -> String {
    let title = "Committed txns per server";
    let max = run
        .delivered
        .values()
        .flat_map(|v| v.iter().map(|p| p.1))
        .max()
        .unwrap_or(0);
    if max == 0 {
        return empty(title, "no server delivered a txn");
    }
    let end = seconds(run.end_us.max(1));
    let y = 0f64..(max as f64 * 1.05).max(1.0);
    let layout = Layout {
        size: SIZE,
        y_label_area: 48,
        x: 0f64..end,
        y,
        legend: Some(SeriesLabelPosition::UpperLeft),
    };
    frame(title, layout, |chart, _| {
        let _ = chart
            .configure_mesh()
            .x_desc("simulated time (s)")
            .y_desc("txns delivered")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_label_formatter(&|x| format!("{x}"))
            .light_line_style(MESH)
            .draw();
        // Servers that delivered alike would draw one line over the other; each line is
        // drawn thinner than the one before it, so equal lines show as nested stripes.
        let n = run.delivered.len() as u32;
        for (i, (id, points)) in run.delivered.iter().enumerate() {
            let colour = SERVER_COLOURS[i % SERVER_COLOURS.len()];
            let width = 2 + 2 * (n - 1 - i as u32);
            let thinned = thin_steps(points, 0, run.end_us, 600);
            let mut steps = Vec::with_capacity(thinned.len() * 2 + 1);
            let mut last = 0.0;
            for (x, y) in thinned {
                steps.push((x, last));
                steps.push((x, y));
                last = y;
            }
            steps.push((end, last));
            if let Ok(series) =
                chart.draw_series(LineSeries::new(steps, colour.stroke_width(width)))
            {
                series.label(format!("s{id}")).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            }
        }
    })
}

/// Latency of each client operation answered without error against when it was answered:
/// an operation that ended in CONNECTIONLOSS (or another error) measures the failover, not
/// the ensemble, and the tables count those apart.
pub fn latency(run: &Run) -> String {
    let title = "Client operation latency";
    if run.client_ops.is_empty() {
        return empty(title, "no client operation was answered without error");
    }
    let end = seconds(run.end_us.max(1));
    let max_ms = run
        .client_ops
        .iter()
        .map(|o| (o.answered_us - o.submitted_us) as f64 / 1000.0)
        .fold(0.0, f64::max)
        .max(1.0);
    // One point per 3x3 pixel cell of each kind is all the chart can show.
    let mut seen = BTreeSet::new();
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for o in &run.client_ops {
        let x = seconds(o.answered_us);
        let y = (o.answered_us - o.submitted_us) as f64 / 1000.0;
        let cell = (
            (x / end * 180.0) as u64,
            (y / max_ms * 80.0) as u64,
            o.write,
        );
        if seen.insert(cell) {
            if o.write {
                writes.push((x, y));
            } else {
                reads.push((x, y));
            }
        }
    }
    let layout = Layout {
        size: SIZE,
        y_label_area: 52,
        x: 0f64..end,
        y: 0f64..max_ms * 1.08,
        legend: Some(SeriesLabelPosition::UpperRight),
    };
    frame(title, layout, |chart, _| {
        let _ = chart
            .configure_mesh()
            .x_desc("answered at simulated time (s)")
            .y_desc("latency (ms)")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_label_formatter(&|x| format!("{x}"))
            .light_line_style(MESH)
            .draw();
        let read_colour = RGBColor(31, 119, 180);
        let write_colour = RGBColor(230, 85, 13);
        for (points, colour, name) in [
            (writes, write_colour, "writes"),
            (reads, read_colour, "reads"),
        ] {
            if points.is_empty() {
                continue;
            }
            if let Ok(series) = chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 2, colour.mix(0.75).filled())),
            ) {
                series
                    .label(name)
                    .legend(move |(x, y)| Circle::new((x + 6, y), 3, colour.filled()));
            }
        }
    })
}

/// For each established leader, the time since the ensemble lost its previous one (a crash,
/// a partition, a step-down; the start of the run for the first).
pub fn time_to_elect(run: &Run) -> String {
    let title = "Time from losing a leader to an established one";
    if run.established.is_empty() {
        return empty(title, "no leader was established");
    }
    let bars: Vec<(String, f64)> = run
        .established
        .iter()
        .map(|e| {
            (
                format!("e{} s{}", e.epoch, e.leader),
                (e.at_us - e.started_us) as f64 / 1000.0,
            )
        })
        .collect();
    let n = bars.len();
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1.0);
    let layout = Layout {
        size: SIZE,
        y_label_area: 52,
        x: -0.5f64..(n as f64 - 0.5),
        y: 0f64..max * 1.1,
        legend: None,
    };
    frame(title, layout, |chart, _| {
        let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let formatter = move |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&formatter)
            .x_desc("established epoch and leader")
            .y_desc("ms without a leader")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(MESH)
            .draw();
        let half = if n > 60 { 0.5 } else { 0.35 };
        let colour = RGBColor(46, 158, 91);
        let _ = chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
            Rectangle::new(
                [(i as f64 - half, 0.0), (i as f64 + half, b.1)],
                colour.filled(),
            )
        }));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_first_and_last_point_of_each_pixel() {
        let points: Vec<(u64, u64)> = (0..10_000).map(|i| (i * 100, i)).collect();
        let thin = thin_steps(&points, 0, 1_000_000, 100);
        assert!(thin.len() <= 200, "{}", thin.len());
        assert_eq!(thin.first(), Some(&(0.0, 0.0)));
        assert_eq!(thin.last(), Some(&(0.9999, 9999.0)));
    }
}
