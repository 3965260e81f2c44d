//! Range checks shared by every table: integers, durations, `[min, max]` ranges, probabilities
//! and rates. Each returns the value in the model's type, so that no caller casts user numbers.

use crate::error::{Result, Source};
use crate::raw::{Float, Int, IntRange};

/// Durations stay below 10^9 ms (11.5 simulated days) so that sums of a few of them, in
/// microseconds, cannot overflow the simulator's clock.
pub(crate) const MAX_MS: i64 = 999_999_999;

/// The largest epoch or zxid counter: each is 32 bits of a zxid.
pub(crate) const MAX_U32: u64 = 0xffff_ffff;

pub(crate) fn int_in(src: Source<'_>, v: &Int, key: &str, min: i64, max: i64) -> Result<i64> {
    let n = *v.get_ref();
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(src.err(
            &v.span(),
            key,
            format!("must be between {min} and {max}, got {n}"),
        ))
    }
}

/// `int_in` for values the model keeps as `u64`.
pub(crate) fn uint(src: Source<'_>, v: &Int, key: &str, min: u64, max: u64) -> Result<u64> {
    let clamp = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    let n = int_in(src, v, key, clamp(min), clamp(max))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `int_in` for values the model keeps as `u32`.
pub(crate) fn uint32(src: Source<'_>, v: &Int, key: &str, min: u32, max: u32) -> Result<u32> {
    let n = int_in(src, v, key, min.into(), max.into())?;
    Ok(u32::try_from(n).unwrap_or(0))
}

/// A duration of at least `min` ms.
pub(crate) fn ms(src: Source<'_>, v: &Int, key: &str, min: u64) -> Result<u64> {
    uint(src, v, key, min, MAX_MS as u64)
}

/// An optional duration with a default.
pub(crate) fn ms_or(
    src: Source<'_>,
    v: Option<&Int>,
    key: &str,
    min: u64,
    default: u64,
) -> Result<u64> {
    v.map_or(Ok(default), |v| ms(src, v, key, min))
}

/// An inclusive `[min, max]` range of milliseconds.
pub(crate) fn ms_range(src: Source<'_>, v: &IntRange, key: &str) -> Result<(u64, u64)> {
    let [lo, hi] = v.get_ref().as_slice() else {
        let n = v.get_ref().len();
        return Err(src.err(
            &v.span(),
            key,
            format!("expected [min, max], got {n} values"),
        ));
    };
    let lo_ms = ms(src, lo, &format!("{key}[0]"), 0)?;
    let hi_ms = ms(src, hi, &format!("{key}[1]"), 0)?;
    if lo_ms > hi_ms {
        let msg = format!("min must not exceed max, got [{lo_ms}, {hi_ms}]");
        return Err(src.err(&v.span(), key, msg));
    }
    Ok((lo_ms, hi_ms))
}

pub(crate) fn ms_range_or(
    src: Source<'_>,
    v: Option<&IntRange>,
    key: &str,
    default: (u64, u64),
) -> Result<(u64, u64)> {
    v.map_or(Ok(default), |v| ms_range(src, v, key))
}

pub(crate) fn probability(src: Source<'_>, v: &Float, key: &str) -> Result<f64> {
    let p = *v.get_ref();
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(src.err(
            &v.span(),
            key,
            format!("must be between 0.0 and 1.0, got {p}"),
        ))
    }
}

/// Events per simulated minute. At most one per millisecond: beyond that the fault schedule
/// would be all there is to simulate.
pub(crate) fn rate(src: Source<'_>, v: &Float, key: &str) -> Result<f64> {
    let r = *v.get_ref();
    if (0.0..=60_000.0).contains(&r) {
        Ok(r)
    } else {
        Err(src.err(
            &v.span(),
            key,
            format!("must be between 0.0 and 60000.0 per minute, got {r}"),
        ))
    }
}

/// An epoch or zxid counter written in a string (`"2:7"`): decimal digits only, 32 bits.
pub(crate) fn parse_u32_part(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|&n| n <= MAX_U32)
}
