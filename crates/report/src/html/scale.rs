//! Maps simulated time to SVG x coordinates, and labels times for people.

/// A linear map from a span of simulated time onto `[x0, x0 + width]`.
#[derive(Clone, Copy, Debug)]
pub struct TimeScale {
    pub from_us: u64,
    pub to_us: u64,
    pub x0: f64,
    pub width: f64,
}

impl TimeScale {
    pub fn new(from_us: u64, to_us: u64, x0: f64, width: f64) -> TimeScale {
        TimeScale {
            from_us,
            to_us: to_us.max(from_us + 1),
            x0,
            width,
        }
    }

    pub fn x(&self, t_us: u64) -> f64 {
        let t = t_us.clamp(self.from_us, self.to_us);
        self.x0 + (t - self.from_us) as f64 / (self.to_us - self.from_us) as f64 * self.width
    }

    pub fn contains(&self, t_us: u64) -> bool {
        (self.from_us..=self.to_us).contains(&t_us)
    }

    /// Round tick times, about `n` of them: steps of 1, 2 or 5 units below a second, and
    /// whole seconds, minutes or hours above, so that labels read naturally.
    pub fn ticks(&self, n: u64) -> Vec<u64> {
        const STEPS: [u64; 27] = [
            1,
            2,
            5,
            10,
            20,
            50,
            100,
            200,
            500,
            1_000,
            2_000,
            5_000,
            10_000,
            20_000,
            50_000,
            100_000,
            200_000,
            500_000,
            1_000_000,
            2_000_000,
            5_000_000,
            10_000_000,
            15_000_000,
            30_000_000,
            60_000_000,
            300_000_000,
            600_000_000,
        ];
        let span = self.to_us - self.from_us;
        let raw = (span / n.max(1)).max(1);
        let step = STEPS
            .iter()
            .copied()
            .find(|s| *s >= raw)
            .unwrap_or_else(|| raw.div_ceil(3_600_000_000) * 3_600_000_000);
        let first = self.from_us.div_ceil(step) * step;
        (0..)
            .map(|i| first + i * step)
            .take_while(|t| *t <= self.to_us)
            .collect()
    }
}

/// A time for a label: `850 ms`, `1.25 s`, `12 min 5 s`.
pub fn time_label(t_us: u64) -> String {
    let ms = t_us as f64 / 1000.0;
    if t_us < 1_000_000 {
        if t_us.is_multiple_of(1000) {
            format!("{} ms", t_us / 1000)
        } else {
            format!("{ms:.1} ms")
        }
    } else if t_us < 120_000_000 {
        let s = ms / 1000.0;
        let text = format!("{s:.3}");
        format!("{} s", text.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let s = t_us / 1_000_000;
        if s.is_multiple_of(60) {
            format!("{} min", s / 60)
        } else {
            format!("{} min {} s", s / 60, s % 60)
        }
    }
}

/// Milliseconds with three decimals, for tooltips and tables.
pub fn ms(t_us: u64) -> String {
    crate::ms(t_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_times_inside_the_span() {
        let s = TimeScale::new(0, 15_000_000, 0.0, 1000.0);
        assert_eq!(
            s.ticks(8),
            (0..=7).map(|i| i * 2_000_000).collect::<Vec<_>>()
        );
        let s = TimeScale::new(1_050_000, 1_350_000, 0.0, 1000.0);
        let t = s.ticks(6);
        assert_eq!(t.first(), Some(&1_050_000));
        assert!(t.iter().all(|t| (1_050_000..=1_350_000).contains(t)));
        assert_eq!(s.x(1_200_000), 500.0);
        assert_eq!(s.x(0), 0.0, "clamped to the span");
        let hour = TimeScale::new(0, 3_600_000_000, 0.0, 1000.0);
        assert_eq!(
            hour.ticks(10)[1],
            600_000_000,
            "ten minutes, not 8 min 20 s"
        );
    }

    #[test]
    fn labels_read_naturally() {
        assert_eq!(time_label(850_000), "850 ms");
        assert_eq!(time_label(1_250_000), "1.25 s");
        assert_eq!(time_label(15_000_000), "15 s");
        assert_eq!(time_label(3_725_000_000), "62 min 5 s");
        assert_eq!(time_label(1_500), "1.5 ms");
        assert_eq!(time_label(600_000_000), "10 min");
    }
}
