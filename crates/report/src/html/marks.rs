//! What the server and client lanes of the timeline both draw with: SVG coordinates, labels
//! that fit their span, marks clustered so a long run keeps a bounded number per lane, and
//! the colours of partition groups.

use super::scale::TimeScale;

/// A rough width of one character of the 10 px labels, to decide what fits.
const CHAR_W: f64 = 6.0;

/// Colours of the groups of a partition: servers with the same colour could reach each other.
pub const GROUP_COLOURS: [&str; 5] = ["#d7301f", "#0570b0", "#238b45", "#88419d", "#cc4c02"];

pub(super) fn f(x: f64) -> String {
    format!("{x:.1}")
}

/// The label that fits a span `width` pixels wide, longest first.
pub(super) fn fitting(width: f64, options: &[String]) -> Option<&String> {
    options
        .iter()
        .find(|o| (o.chars().count() as f64) * CHAR_W + 6.0 <= width)
}

/// Marks closer than `min_px` become one, at the first one's place, whose tooltip lists
/// the first `listed`: a long run keeps a bounded number of marks per lane.
pub(super) fn clustered(
    marks: &[(u64, String)],
    scale: &TimeScale,
    min_px: f64,
    listed: usize,
) -> Vec<(f64, String)> {
    let mut out: Vec<(f64, String)> = Vec::new();
    let mut count = 0usize;
    for (t, text) in marks.iter().filter(|(t, _)| scale.contains(*t)) {
        let x = scale.x(*t);
        match out.last_mut() {
            Some((x0, title)) if x - *x0 < min_px => {
                count += 1;
                if count < listed {
                    title.push('\n');
                    title.push_str(text);
                } else if count == listed {
                    title.push_str("\n...");
                }
            }
            _ => {
                out.push((x, text.clone()));
                count = 0;
            }
        }
    }
    out
}
