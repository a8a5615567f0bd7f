//! The period a report covers when `--from` or `--to` is left out.

use touchbase_core::period::{Period, PeriodError, parse_bound};

/// The period of `from` and `to` as given (dates or RFC 3339 instants, see
/// [`parse_bound`]), with these defaults, `now` in microseconds:
/// - neither given: the last whole calendar month before `now` (UTC);
/// - only `to`: the calendar month that ends at `to`;
/// - only `from`: from then until `now`.
pub fn default_period(
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
) -> Result<Period, PeriodError> {
    let to = match (from, to) {
        (_, Some(to)) => parse_bound(to)?,
        (Some(_), None) => now,
        (None, None) => month_start(now)?,
    };
    let from = match from {
        Some(from) => parse_bound(from)?,
        None => month_before(to)?,
    };
    Period::new(from, to)
}

fn civil(at: i64) -> Result<jiff::civil::DateTime, PeriodError> {
    let instant = jiff::Timestamp::from_microsecond(at).map_err(|_| PeriodError::OutOfRange(at))?;
    Ok(jiff::tz::Offset::UTC.to_datetime(instant))
}

fn instant(at: jiff::civil::DateTime, was: i64) -> Result<i64, PeriodError> {
    jiff::tz::Offset::UTC
        .to_timestamp(at)
        .map(|t| t.as_microsecond())
        .map_err(|_| PeriodError::OutOfRange(was))
}

/// 00:00 UTC on the first of the month `at` is in.
fn month_start(at: i64) -> Result<i64, PeriodError> {
    let first = civil(at)?.date().first_of_month();
    instant(first.at(0, 0, 0, 0), at)
}

/// The same instant one calendar month earlier (the 31st of a month goes to the last day of
/// the month before when that is shorter).
fn month_before(at: i64) -> Result<i64, PeriodError> {
    let earlier = civil(at)?
        .checked_sub(jiff::Span::new().months(1))
        .map_err(|_| PeriodError::OutOfRange(at))?;
    instant(earlier, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        parse_bound(text).unwrap()
    }

    #[test]
    fn defaults_to_the_last_whole_month() {
        let now = at("2026-11-30T14:00:00Z");
        let p = default_period(None, None, now).unwrap();
        assert_eq!((p.from, p.to), (at("2026-10-01"), at("2026-11-01")));
        let p = default_period(None, Some("2026-03-01"), now).unwrap();
        assert_eq!((p.from, p.to), (at("2026-02-01"), at("2026-03-01")));
        let p = default_period(Some("2026-11-15"), None, now).unwrap();
        assert_eq!((p.from, p.to), (at("2026-11-15"), now));
        let p = default_period(Some("2025-11-01"), Some("2026-11-01"), now).unwrap();
        assert_eq!(p.days(), 365.0);
        assert!(default_period(Some("2026-11-02"), Some("2026-11-01"), now).is_err());
    }
}
