//! Standing interactions (R19), the grocery example of seed 000: a point that automates
//! another. Its `standing:` section says which manual point's first order becomes a standing
//! order, where that order's items are, on what schedule it is issued again (an RFC 5545
//! RRULE from the first order's instant, in a time zone, so a run keeps its local time of day
//! across daylight-saving changes), the cut-off before each run, how the party consents, where
//! each run is sent and where the self-service page's interactions are recorded.
//!
//! This module holds the declaration, its rules, and the schedule's arithmetic; the orders,
//! their revisions and runs are kept by the stores.

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::rules::Span;
use crate::validate::{KEY_RULE, Violation, is_key};

mod order;
mod schedule;

pub use order::*;
pub use schedule::{RUNS_MAX, Schedule, cutoff_of};

/// A point's `standing:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Standing {
    /// The manual point whose first order (an accepted event with items) becomes a standing
    /// order.
    pub from: String,
    /// Where the order's items are in that event: `data.NAME`, an array of
    /// `{sku, qty, price}`.
    pub items: String,
    /// An RFC 5545 RRULE (`FREQ=WEEKLY`, `FREQ=WEEKLY;BYDAY=TU`, …) counted from the first
    /// order's instant; at most daily.
    pub schedule: String,
    /// An IANA time zone; absent, the organization's `timezone`, else UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Changes closer than this to a run apply to the run after.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "24h"))]
    pub cutoff: Span,
    pub consent: Consent,
    /// The reverse-feed endpoint each run is sent to.
    pub endpoint: String,
    /// The point the self-service page's interactions are recorded at.
    pub edit_point: String,
}

/// How a party agrees to its standing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Consent {
    /// Offered first; active once the party confirms through its link.
    Explicit,
    /// Active at once.
    Implied,
}

/// The name of the item array within the event's `data` (`data.items` → `items`).
pub fn items_field(items: &str) -> Option<&str> {
    items
        .strip_prefix("data.")
        .filter(|name| !name.is_empty() && !name.contains('.'))
}

/// The time zone of an IANA name (the organization's `timezone`, a section's), or the rule
/// it breaks.
pub fn zone_named(name: &str) -> Result<TimeZone, String> {
    let unknown =
        || format!("unknown time zone `{name}`: write an IANA name such as Europe/London or UTC");
    let zone = TimeZone::get(name).map_err(|_| unknown())?;
    // Schedules are expanded with the bundled database of chrono-tz: a name the system's
    // database knows and the bundled one does not would fail at every run.
    name.parse::<chrono_tz::Tz>().map_err(|_| unknown())?;
    Ok(zone)
}

/// The time zone a standing order's schedule runs in.
pub fn time_zone(standing: &Standing, organization: Option<&str>) -> Result<TimeZone, String> {
    zone_named(
        standing
            .timezone
            .as_deref()
            .or(organization)
            .unwrap_or("UTC"),
    )
}

/// The rules of a point's `standing:` section, given the points declared beside it (`points`:
/// each point's key); `subject` names the point in the violations.
pub fn check(standing: &Standing, point: &str, points: &[&str], subject: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut bad = |field: &str, rule: String| {
        found.push(Violation::new(subject, format!("standing.{field}"), rule))
    };
    for (field, key) in [
        ("from", &standing.from),
        ("edit_point", &standing.edit_point),
    ] {
        if key == point {
            bad(field, "must name another point than this one".to_owned());
        } else if !points.contains(&key.as_str()) {
            bad(
                field,
                format!("unknown point `{key}`: name a point of the inventory"),
            );
        }
    }
    if standing.from == standing.edit_point && standing.from != point {
        bad(
            "edit_point",
            "must differ from `from`: the self-service page's interactions are not orders"
                .to_owned(),
        );
    }
    if items_field(&standing.items).is_none() {
        bad(
            "items",
            format!(
                "must be `data.NAME`, the event's array of {{sku, qty, price}}, got `{}`",
                standing.items
            ),
        );
    }
    if !is_key(&standing.endpoint) {
        bad("endpoint", format!("must match {KEY_RULE}"));
    }
    // The organization's own zone is checked with the organization, once.
    if let Some(Err(why)) = standing.timezone.as_deref().map(zone_named) {
        bad("timezone", why);
    }
    if let Err(why) = rule_of(&standing.schedule) {
        bad("schedule", why);
    }
    found
}

/// Whether a schedule (an RRULE without DTSTART, at most daily) can be an order's cadence;
/// the error says what is wrong with it.
pub fn check_schedule(schedule: &str) -> Result<(), String> {
    rule_of(schedule).map(|_| ())
}

/// The RRULE as written, checked: what `rrule` reads, without DTSTART (the first order
/// gives it), at most daily.
pub(crate) fn rule_of(schedule: &str) -> Result<rrule::RRule<rrule::Unvalidated>, String> {
    let text = schedule.trim();
    let text = text.strip_prefix("RRULE:").unwrap_or(text);
    if text.contains('\n') || text.to_ascii_uppercase().contains("DTSTART") {
        return Err("is one RRULE (e.g. FREQ=WEEKLY); the first order's instant starts it, so it has no DTSTART".to_owned());
    }
    let rule: rrule::RRule<rrule::Unvalidated> = text.parse().map_err(|e| {
        format!("is not an RFC 5545 RRULE ({e}); e.g. FREQ=WEEKLY or FREQ=MONTHLY;BYMONTHDAY=1")
    })?;
    if matches!(
        rule.get_freq(),
        rrule::Frequency::Hourly | rrule::Frequency::Minutely | rrule::Frequency::Secondly
    ) {
        return Err("runs at most daily: FREQ is DAILY, WEEKLY, MONTHLY or YEARLY".to_owned());
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(schedule: &str) -> Standing {
        Standing {
            from: "web.order".to_owned(),
            items: "data.items".to_owned(),
            schedule: schedule.to_owned(),
            timezone: Some("Europe/London".to_owned()),
            cutoff: Span::parse("24h").unwrap(),
            consent: Consent::Explicit,
            endpoint: "fulfilment".to_owned(),
            edit_point: "replenishment.edit".to_owned(),
        }
    }

    const POINTS: [&str; 3] = ["web.order", "replenishment.auto", "replenishment.edit"];

    #[test]
    fn a_well_formed_section_passes() {
        let s = standing("FREQ=WEEKLY");
        assert_eq!(check(&s, "replenishment.auto", &POINTS, "p"), vec![]);
        let s = standing("RRULE:FREQ=MONTHLY;BYMONTHDAY=1");
        assert_eq!(check(&s, "replenishment.auto", &POINTS, "p"), vec![]);
    }

    #[test]
    fn each_broken_field_is_named() {
        let fields = |s: &Standing| -> Vec<String> {
            check(s, "replenishment.auto", &POINTS, "p")
                .into_iter()
                .map(|v| v.field)
                .collect()
        };
        let mut s = standing("FREQ=HOURLY");
        assert_eq!(fields(&s), ["standing.schedule"]);
        s.schedule = "every week".to_owned();
        assert_eq!(fields(&s), ["standing.schedule"]);
        s.schedule = "DTSTART:20260101T000000Z\nRRULE:FREQ=WEEKLY".to_owned();
        assert_eq!(fields(&s), ["standing.schedule"]);
        let mut s = standing("FREQ=WEEKLY");
        s.from = "nowhere".to_owned();
        s.items = "items".to_owned();
        s.timezone = Some("Mars/Olympus".to_owned());
        s.endpoint = "Not A Key".to_owned();
        assert_eq!(
            fields(&s),
            [
                "standing.from",
                "standing.items",
                "standing.endpoint",
                "standing.timezone"
            ]
        );
        let mut s = standing("FREQ=WEEKLY");
        s.edit_point = "replenishment.auto".to_owned();
        assert_eq!(fields(&s), ["standing.edit_point"]);
        s.edit_point = "web.order".to_owned();
        assert_eq!(fields(&s), ["standing.edit_point"]);
    }

    #[test]
    fn the_items_field_is_one_name_under_data() {
        assert_eq!(items_field("data.items"), Some("items"));
        for bad in ["items", "data.", "data.a.b", "vars.items"] {
            assert_eq!(items_field(bad), None, "{bad}");
        }
    }
}
