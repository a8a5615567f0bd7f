//! When a failed delivery is tried again: the Standard Webhooks retry schedule (at once, 5 s,
//! 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each wait spread by up to a tenth either way so that
//! many failures do not come back at one instant, and never sooner than a `Retry-After` asks.

/// The wait before each attempt, in seconds; the first is at once.
pub const SCHEDULE_S: [i64; 8] = [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// After the `tries`-th attempt failed (1 for the first), when the next is due — or `None`
/// when the schedule is spent and the delivery is dead. `retry_after_s` is what the target
/// asked for, if anything.
pub fn next_after(tries: u32, now: i64, retry_after_s: Option<i64>) -> Option<i64> {
    next_in(&SCHEDULE_S, tries, now, retry_after_s)
}

/// [`next_after`] by another schedule (the waits before each attempt, in seconds).
pub fn next_in(schedule: &[i64], tries: u32, now: i64, retry_after_s: Option<i64>) -> Option<i64> {
    let wait_s = *schedule.get(tries as usize)?;
    let jitter = if wait_s == 0 {
        0
    } else {
        let spread = wait_s * 1_000_000 / 10;
        let r = getrandom::u64().unwrap_or(0) % (2 * spread as u64 + 1);
        r as i64 - spread
    };
    let mut wait_us = wait_s * 1_000_000 + jitter;
    if let Some(asked) = retry_after_s {
        wait_us = wait_us.max(asked.clamp(0, 86_400) * 1_000_000);
    }
    Some(now + wait_us)
}

/// A `Retry-After` header: seconds, or an HTTP date (RFC 9110), as seconds from `now`.
pub fn retry_after(value: &str, now: jiff::Timestamp) -> Option<i64> {
    let value = value.trim();
    if let Ok(s) = value.parse::<i64>() {
        return Some(s.max(0));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some((at.as_second() - now.as_second()).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_then_dead() {
        let now = 1_000_000_000_000;
        for (tries, wait) in SCHEDULE_S.iter().enumerate().skip(1) {
            let due = next_after(tries as u32, now, None).unwrap();
            let w = (due - now) as f64 / 1e6;
            let wait = *wait as f64;
            assert!(
                w >= wait * 0.9 && w <= wait * 1.1,
                "try {tries}: {w} s for {wait} s"
            );
        }
        assert_eq!(next_after(8, now, None), None);
        // Retry-After asks for longer than the schedule: it wins.
        assert_eq!(next_after(1, now, Some(120)), Some(now + 120_000_000));
    }

    #[test]
    fn retry_after_in_seconds_or_a_date() {
        let now: jiff::Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
        assert_eq!(retry_after("30", now), Some(30));
        assert_eq!(retry_after("Wed, 02 Dec 2026 10:01:00 GMT", now), Some(60));
        assert_eq!(retry_after("soon", now), None);
    }
}
