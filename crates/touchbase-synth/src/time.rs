//! Civil dates and instants as plain integers: the generator works in seconds since the Unix
//! epoch and days since the epoch, which is all it needs and fast to format.

use std::fmt;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since the epoch: (year, month 1–12, day 1–31).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
pub(crate) fn weekday(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

/// An instant, whole seconds since the epoch, shown as RFC 3339 in UTC: `2026-03-01T09:30:00Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub i64);

impl Instant {
    /// `YYYY-MM-DDTHH:MM:SSZ` for years 0 to 9999.
    fn text(self) -> Option<[u8; 20]> {
        let day = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(day);
        if !(0..=9999).contains(&y) {
            return None;
        }
        let mut b = *b"0000-00-00T00:00:00Z";
        let two = |b: &mut [u8; 20], at: usize, v: u32| {
            b[at] = b'0' + (v / 10) as u8;
            b[at + 1] = b'0' + (v % 10) as u8;
        };
        let y = y as u32;
        two(&mut b, 0, y / 100);
        two(&mut b, 2, y % 100);
        two(&mut b, 5, m);
        two(&mut b, 8, d);
        two(&mut b, 11, (secs / 3600) as u32);
        two(&mut b, 14, (secs / 60 % 60) as u32);
        two(&mut b, 17, (secs % 60) as u32);
        Some(b)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text() {
            Some(b) => f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?),
            None => {
                let day = self.0.div_euclid(86_400);
                let secs = self.0.rem_euclid(86_400);
                let (y, m, d) = civil_from_days(day);
                write!(
                    f,
                    "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                )
            }
        }
    }
}

impl serde::Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.text() {
            Some(b) => serializer
                .serialize_str(std::str::from_utf8(&b).map_err(serde::ser::Error::custom)?),
            None => serializer.collect_str(self),
        }
    }
}

/// A day as `2026-03-01`.
pub(crate) fn date_text(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_format_like_jiff() {
        for day in [-800_000, -1, 0, 1, 10_957, 20_000, 20_758, 2_000_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(days_from_civil(2026, 11, 1), 20_758);
        assert_eq!(weekday(days_from_civil(2026, 11, 1)), 6, "a Sunday");
        for secs in [0, 1_780_000_123, 1_798_761_599, 951_782_400] {
            let ours = Instant(secs).to_string();
            let theirs = jiff::Timestamp::from_second(secs).unwrap().to_string();
            assert_eq!(ours, theirs);
        }
    }
}
