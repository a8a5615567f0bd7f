//! A standing order's schedule: when its runs fall, and when each run's revision is frozen.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::rules::Span;

/// The most runs one call of [`Schedule::runs`] lists.
pub const RUNS_MAX: usize = 10_000;

/// A standing order's schedule: the RRULE from its first order's instant, in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    set: rrule::RRuleSet,
    first: Timestamp,
}

impl Schedule {
    /// The schedule of an order first placed at `first`.
    pub fn new(schedule: &str, zone: &TimeZone, first: Timestamp) -> Result<Schedule, String> {
        let rule = super::rule_of(schedule)?;
        let name = zone.iana_name().unwrap_or("UTC");
        let tz: rrule::Tz = name
            .parse::<chrono_tz::Tz>()
            .map(rrule::Tz::Tz)
            .map_err(|_| format!("the time zone `{name}` is unknown to the schedule"))?;
        let start = chrono::DateTime::from_timestamp(first.as_second(), 0)
            .ok_or_else(|| format!("the first order's instant {first} is out of range"))?
            .with_timezone(&tz);
        let set = rule
            .build(start)
            .map_err(|e| format!("the schedule cannot start at {first}: {e}"))?;
        Ok(Schedule { set, first })
    }

    /// The runs after the first order (whose instant starts the schedule and is no run) in
    /// `(after, until]`, at most [`RUNS_MAX`].
    pub fn runs(&self, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let after = after.max(self.first);
        self.set
            .clone()
            .into_iter()
            .map(|at| Timestamp::from_second(at.timestamp()).expect("in jiff's range"))
            .skip_while(|at| *at <= after)
            .take_while(|at| *at <= until)
            .take(RUNS_MAX)
            .collect()
    }

    /// The first run after `after`, if the rule has one.
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        let after = after.max(self.first);
        self.set
            .clone()
            .into_iter()
            .map(|at| Timestamp::from_second(at.timestamp()).expect("in jiff's range"))
            .find(|at| *at > after)
    }
}

/// The instant a run's revision is frozen: `cutoff` before the run.
pub fn cutoff_of(run: Timestamp, cutoff: &Span) -> Timestamp {
    run.checked_sub(jiff::SignedDuration::from_micros(cutoff.micros()))
        .unwrap_or(Timestamp::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_first_order_starts_the_schedule_and_is_no_run() {
        let zone = TimeZone::get("Europe/London").unwrap();
        let first = ts("2026-01-06T18:30:00Z");
        let s = Schedule::new("FREQ=WEEKLY", &zone, first).unwrap();
        let runs = s.runs(first, ts("2026-01-27T18:30:00Z"));
        assert_eq!(
            runs,
            [
                ts("2026-01-13T18:30:00Z"),
                ts("2026-01-20T18:30:00Z"),
                ts("2026-01-27T18:30:00Z")
            ]
        );
        assert_eq!(s.next(first), Some(ts("2026-01-13T18:30:00Z")));
        assert_eq!(
            s.next(ts("2026-01-13T18:30:00Z")),
            Some(ts("2026-01-20T18:30:00Z"))
        );
        assert_eq!(
            cutoff_of(runs[0], &Span::parse("24h").unwrap()),
            ts("2026-01-12T18:30:00Z")
        );
    }

    /// A run keeps its local time of day across the zone's daylight-saving changes: in London
    /// 18:30 is 18:30Z in winter and 17:30Z in summer (the change: 29 March 2026); in New York
    /// 09:00 is 14:00Z in winter and 13:00Z in summer (the change: 8 March 2026).
    #[test]
    fn runs_keep_their_local_time_across_daylight_saving() {
        let london = TimeZone::get("Europe/London").unwrap();
        let s = Schedule::new("FREQ=WEEKLY", &london, ts("2026-03-17T18:30:00Z")).unwrap();
        assert_eq!(
            s.runs(ts("2026-03-17T18:30:00Z"), ts("2026-04-01T00:00:00Z")),
            [ts("2026-03-24T18:30:00Z"), ts("2026-03-31T17:30:00Z")]
        );
        let new_york = TimeZone::get("America/New_York").unwrap();
        let s = Schedule::new("FREQ=DAILY", &new_york, ts("2026-03-06T14:00:00Z")).unwrap();
        assert_eq!(
            s.runs(ts("2026-03-06T14:00:00Z"), ts("2026-03-10T00:00:00Z")),
            [
                ts("2026-03-07T14:00:00Z"),
                ts("2026-03-08T13:00:00Z"),
                ts("2026-03-09T13:00:00Z")
            ]
        );
        // And back in the autumn (London: 25 October 2026).
        let s = Schedule::new("FREQ=WEEKLY", &london, ts("2026-10-20T17:30:00Z")).unwrap();
        assert_eq!(
            s.next(ts("2026-10-20T17:30:00Z")),
            Some(ts("2026-10-27T18:30:00Z"))
        );
    }
}
