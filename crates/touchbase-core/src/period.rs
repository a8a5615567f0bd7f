//! Periods of time (METRICS.md, scope): half-open `[from, to)` intervals of UTC instants in
//! microseconds since the epoch, their length in days, and their split into a series of days,
//! weeks or months.
//!
//! Calendar rules: everything is UTC; a day starts at 00:00 UTC; a week starts on Monday
//! 00:00 UTC (ISO 8601); a month starts on its first day at 00:00 UTC. A series covers exactly
//! the period: its first and last buckets are cut to the period when the period does not start
//! or end on a boundary, so each bucket's [`Period::days`] is the part actually covered.

use serde::{Deserialize, Serialize};

use crate::event::parse_instant;

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// The UTC day of an instant in microseconds: days since the epoch.
pub fn day_of(at_us: i64) -> i64 {
    at_us.div_euclid(DAY_US)
}

/// A half-open interval `[from, to)` of instants, in microseconds since the epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    /// The first instant in the period.
    pub from: i64,
    /// The first instant after the period.
    pub to: i64,
}

/// A period that cannot be: reversed, beyond the calendar's range, or a bound not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("the period ends before it starts: from {from} to {to} (microseconds)")]
    Reversed { from: i64, to: i64 },
    #[error("the instant {0} (microseconds) is outside the years -9999 to 9999")]
    OutOfRange(i64),
    #[error("{0}")]
    Bound(String),
}

/// How a period is split into a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// UTC days.
    Day,
    /// Weeks from Monday 00:00 UTC.
    Week,
    /// Calendar months from the first at 00:00 UTC.
    Month,
}

impl Period {
    /// `[from, to)`, refused when `to < from` or either end is outside the calendar jiff knows
    /// (years -9999 to 9999). `from == to` is an empty period of 0 days.
    pub fn new(from: i64, to: i64) -> Result<Period, PeriodError> {
        for at in [from, to] {
            jiff::Timestamp::from_microsecond(at).map_err(|_| PeriodError::OutOfRange(at))?;
        }
        if to < from {
            return Err(PeriodError::Reversed { from, to });
        }
        Ok(Period { from, to })
    }

    /// Parses both bounds with [`parse_bound`].
    pub fn parse(from: &str, to: &str) -> Result<Period, PeriodError> {
        Period::new(parse_bound(from)?, parse_bound(to)?)
    }

    /// The length in days, fractional: `(to − from) / 86 400 s`.
    pub fn days(&self) -> f64 {
        (self.to - self.from) as f64 / DAY_US as f64
    }

    /// Whether `at` is in `[from, to)`.
    pub fn contains(&self, at: i64) -> bool {
        self.from <= at && at < self.to
    }

    /// The UTC days the period touches, as days since the epoch: a store's daily rollups
    /// `first..=last` cover it (the first and last may be partial, see [`Period::whole_days`]).
    /// `None` for an empty period.
    pub fn day_range(&self) -> Option<(i64, i64)> {
        (self.from < self.to).then(|| (day_of(self.from), day_of(self.to - 1)))
    }

    /// Whether the period starts and ends at 00:00 UTC, so that daily rollups give exactly its
    /// events; otherwise the partial first and last days must be counted from the events.
    pub fn whole_days(&self) -> bool {
        self.from.rem_euclid(DAY_US) == 0 && self.to.rem_euclid(DAY_US) == 0
    }

    /// The series of buckets covering the period, in order, each cut to the period (see the
    /// module's calendar rules). Empty for an empty period.
    pub fn split(&self, granularity: Granularity) -> Result<Vec<Period>, PeriodError> {
        let mut buckets = Vec::new();
        let mut start = self.from;
        while start < self.to {
            let end = next_boundary(start, granularity)?.min(self.to);
            buckets.push(Period {
                from: start,
                to: end,
            });
            start = end;
        }
        Ok(buckets)
    }
}

/// The first boundary of `granularity` strictly after `at`.
fn next_boundary(at: i64, granularity: Granularity) -> Result<i64, PeriodError> {
    let day = day_of(at);
    match granularity {
        Granularity::Day => Ok((day + 1) * DAY_US),
        Granularity::Week => {
            // 1970-01-01 was a Thursday: day 0 is 3 days after the Monday that starts its week.
            let monday = day - (day + 3).rem_euclid(7);
            Ok((monday + 7) * DAY_US)
        }
        Granularity::Month => {
            let utc = jiff::tz::Offset::UTC;
            let out_of_range = |_| PeriodError::OutOfRange(at);
            let instant = jiff::Timestamp::from_microsecond(at).map_err(out_of_range)?;
            let next = utc
                .to_datetime(instant)
                .date()
                .last_of_month()
                .tomorrow()
                .map_err(out_of_range)?;
            let next = utc
                .to_timestamp(next.at(0, 0, 0, 0))
                .map_err(out_of_range)?;
            Ok(next.as_microsecond())
        }
    }
}

/// How many days a period lasts when a person gives no `from`.
pub const DEFAULT_DAYS: i64 = 30;

/// The period a person asks for with optional bounds, at the instant `now`: `to` defaults to
/// the next 00:00 UTC after `now` (so today counts), `from` to [`DEFAULT_DAYS`] days before
/// `to`. Refused when the bounds are reversed or outside the calendar.
pub fn requested(from: Option<i64>, to: Option<i64>, now: i64) -> Result<Period, PeriodError> {
    let to = to.unwrap_or_else(|| (day_of(now) + 1) * DAY_US);
    let from = from.unwrap_or_else(|| to.saturating_sub(DEFAULT_DAYS * DAY_US));
    Period::new(from, to)
}

/// A bound of a period as a person gives it: an RFC 3339 instant with its offset
/// (`2026-03-01T09:30:00Z`), or a date (`2026-03-01`), which means 00:00 UTC of that day.
pub fn parse_bound(text: &str) -> Result<i64, PeriodError> {
    let is_date = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if is_date {
        let bad = |_| {
            PeriodError::Bound(format!(
                "must be a date (2026-03-01) or an RFC 3339 instant, got \"{text}\""
            ))
        };
        let date: jiff::civil::Date = text.parse().map_err(bad)?;
        let utc = jiff::tz::Offset::UTC;
        let at = utc.to_timestamp(date.at(0, 0, 0, 0)).map_err(bad)?;
        Ok(at.as_microsecond())
    } else {
        parse_instant(text).map_err(|why| {
            PeriodError::Bound(why.replace(
                "must be an RFC 3339 instant",
                "must be a date (2026-03-01) or an RFC 3339 instant",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        parse_bound(text).unwrap()
    }

    fn period(from: &str, to: &str) -> Period {
        Period::parse(from, to).unwrap()
    }

    /// The series of `from..to` as the bounds of each bucket, in RFC 3339.
    fn check(from: &str, to: &str, granularity: Granularity, expected: &[(&str, &str)]) {
        let got = period(from, to).split(granularity).unwrap();
        let expected: Vec<Period> = expected.iter().map(|(f, t)| period(f, t)).collect();
        assert_eq!(got, expected, "{from} .. {to} by {granularity:?}");
    }

    #[test]
    fn a_date_is_midnight_utc_and_an_instant_keeps_its_offset() {
        // 2026-03-01 is day 20 513 since the epoch: 20 513 × 86 400 s.
        assert_eq!(at("2026-03-01"), 20_513 * DAY_US);
        assert_eq!(at("2026-03-01T01:00:00+01:00"), 20_513 * DAY_US);
        assert_eq!(at("1970-01-02"), DAY_US);
        assert!(parse_bound("2026-02-30").is_err());
        assert!(parse_bound("yesterday").is_err());
        assert!(
            parse_bound("2026-03-01 09:30")
                .unwrap_err()
                .to_string()
                .contains("must be a date (2026-03-01) or an RFC 3339 instant")
        );
    }

    #[test]
    fn days_are_fractional_and_an_empty_period_has_none() {
        assert_eq!(period("2026-03-01", "2026-03-08").days(), 7.0);
        assert_eq!(period("2026-03-01", "2026-03-01T12:00:00Z").days(), 0.5);
        let empty = period("2026-03-01", "2026-03-01");
        assert_eq!(empty.days(), 0.0);
        assert_eq!(empty.split(Granularity::Day).unwrap(), []);
        assert_eq!(empty.day_range(), None);
        assert!(matches!(
            Period::parse("2026-03-02", "2026-03-01"),
            Err(PeriodError::Reversed { .. })
        ));
    }

    #[test]
    fn an_unbounded_request_is_the_30_days_to_the_next_midnight() {
        let now = at("2026-03-10T15:00:00Z");
        assert_eq!(
            requested(None, None, now).unwrap(),
            period("2026-02-09", "2026-03-11")
        );
        assert_eq!(
            requested(Some(at("2026-03-01")), None, now).unwrap(),
            period("2026-03-01", "2026-03-11")
        );
        assert_eq!(
            requested(None, Some(at("2026-01-31")), now).unwrap(),
            period("2026-01-01", "2026-01-31")
        );
        assert!(matches!(
            requested(Some(at("2026-03-12")), None, now),
            Err(PeriodError::Reversed { .. })
        ));
    }

    #[test]
    fn the_period_is_half_open() {
        let p = period("2026-03-01", "2026-03-02");
        assert!(p.contains(at("2026-03-01")));
        assert!(p.contains(at("2026-03-02") - 1));
        assert!(!p.contains(at("2026-03-02")));
        assert_eq!(p.day_range(), Some((20_513, 20_513)));
        assert!(p.whole_days());
        let partial = period("2026-03-01T06:00:00Z", "2026-03-03T06:00:00Z");
        assert_eq!(partial.day_range(), Some((20_513, 20_515)));
        assert!(!partial.whole_days());
    }

    #[test]
    fn days_weeks_and_months_cut_to_the_period() {
        check(
            "2026-03-01T12:00:00Z",
            "2026-03-03T06:00:00Z",
            Granularity::Day,
            &[
                ("2026-03-01T12:00:00Z", "2026-03-02"),
                ("2026-03-02", "2026-03-03"),
                ("2026-03-03", "2026-03-03T06:00:00Z"),
            ],
        );
        // 2026-03-01 is a Sunday, 2026-03-02 and 2026-03-09 Mondays.
        check(
            "2026-03-01",
            "2026-03-12",
            Granularity::Week,
            &[
                ("2026-03-01", "2026-03-02"),
                ("2026-03-02", "2026-03-09"),
                ("2026-03-09", "2026-03-12"),
            ],
        );
        // 1970-01-01 was a Thursday; its week started on Monday 1969-12-29.
        check(
            "1969-12-30",
            "1970-01-06",
            Granularity::Week,
            &[("1969-12-30", "1970-01-05"), ("1970-01-05", "1970-01-06")],
        );
        check(
            "2024-01-15",
            "2024-04-01",
            Granularity::Month,
            &[
                ("2024-01-15", "2024-02-01"),
                ("2024-02-01", "2024-03-01"),
                ("2024-03-01", "2024-04-01"),
            ],
        );
        let february = period("2024-02-01", "2024-03-01");
        assert_eq!(february.days(), 29.0, "2024 is a leap year");
        check(
            "2025-12-31T23:00:00Z",
            "2026-01-01T01:00:00Z",
            Granularity::Month,
            &[
                ("2025-12-31T23:00:00Z", "2026-01-01"),
                ("2026-01-01", "2026-01-01T01:00:00Z"),
            ],
        );
    }
}
