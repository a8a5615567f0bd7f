//! `touchbase scorecard`, `portfolio`, `journeys`, `quality`: the measurements of R10–R16 over
//! a period, as tables for people and as JSON (METRICS.md's names) for scripts. The figures
//! come from `touchbase_store::measure`; this module only asks and prints.

use anyhow::anyhow;
use touchbase_core::period::{self, Granularity, Period, PeriodError};
use touchbase_core::portfolio::{Assessment, Figure, Reason, ReasonCode};
use touchbase_core::{Actor, Permission, enum_name};
use touchbase_store::measure::{self, Card, Days, JourneyQuery, Scope, ScopeError};
use touchbase_store::{Store, ingest, inventory};

use crate::args::{JourneysArgs, PeriodArgs, PortfolioArgs, QualityArgs, ScorecardArgs};
use crate::output::{count, print_json, table};

/// The period `--from`/`--to` ask for, with the defaults of [`period::requested`] (the 30 days
/// up to tomorrow 00:00 UTC).
pub fn requested(args: &PeriodArgs) -> anyhow::Result<Period> {
    period::requested(args.from, args.to, ingest::now_us()).map_err(|e| match e {
        PeriodError::Reversed { from, to } => anyhow!(
            "--from {} is after --to {}: the period runs from --from up to --to; give a --from before --to",
            instant(from),
            instant(to)
        ),
        other => anyhow!("--from/--to: {other}"),
    })
}

/// The period as `(from, to)` in microseconds.
pub fn period_of(args: &PeriodArgs) -> anyhow::Result<(i64, i64)> {
    requested(args).map(|p| (p.from, p.to))
}

/// An instant in microseconds as RFC 3339.
fn instant(at: i64) -> String {
    jiff::Timestamp::from_microsecond(at).map_or_else(|_| at.to_string(), |t| t.to_string())
}

/// `2026-03-01 → 2026-03-31 (30 days)`: a period as a person reads it, each bound a date when
/// it is a midnight.
fn describe(period: Period) -> String {
    let bound = |at: i64| match jiff::Timestamp::from_microsecond(at) {
        Ok(t) if at.rem_euclid(period::DAY_US) == 0 => t.strftime("%Y-%m-%d").to_string(),
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        Err(_) => at.to_string(),
    };
    let days = period.days();
    let days = if days.fract() == 0.0 {
        count(days as usize, "day", "days")
    } else {
        format!("{days:.2} days")
    };
    format!("{} → {} ({days})", bound(period.from), bound(period.to))
}

/// A scope the inventory does not know, named by its flag.
fn scope_error(e: ScopeError) -> anyhow::Error {
    match e {
        ScopeError::Point(ref k) => anyhow!("--point {k}: {e}"),
        ScopeError::Function { ref got, .. } => anyhow!("--function {got}: {e}"),
        ScopeError::PartyType { ref got, .. } => anyhow!("--party-type {got}: {e}"),
        other => other.into(),
    }
}

/// How a scorecard figure reads in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A whole number of events.
    Count,
    /// Money, or a number of events expected: two decimals.
    Amount,
    /// A share: a percentage.
    Share,
    /// A mean or a ratio that is not a share: two decimals.
    Ratio,
}

/// METRICS.md's scorecard fields, in its order, each with how it reads: the 24 of the
/// scorecard, then the 12 of the customers' voice.
const FIELDS: [(&str, Kind); 41] = [
    ("volume", Kind::Count),
    ("expected_volume", Kind::Amount),
    ("volume_attainment", Kind::Share),
    ("value_company", Kind::Amount),
    ("value_party", Kind::Amount),
    ("cost", Kind::Amount),
    ("net_value", Kind::Amount),
    ("value_company_per", Kind::Amount),
    ("value_party_per", Kind::Amount),
    ("cost_per", Kind::Amount),
    ("net_value_per", Kind::Amount),
    ("expected_net_value_per", Kind::Amount),
    ("value_company_attainment", Kind::Share),
    ("value_party_attainment", Kind::Share),
    ("intent_rate", Kind::Share),
    ("satisfaction_avg", Kind::Ratio),
    ("csat", Kind::Share),
    ("knowledge_rate", Kind::Share),
    ("resolution_rate", Kind::Share),
    ("engagement_rate", Kind::Share),
    ("effectiveness", Kind::Share),
    ("insight", Kind::Share),
    ("efficiency", Kind::Ratio),
    ("conformance_rate", Kind::Share),
    ("invitations", Kind::Count),
    ("responses", Kind::Count),
    ("response_rate", Kind::Share),
    ("nps", Kind::Ratio),
    ("nps_margin", Kind::Ratio),
    ("csat_survey", Kind::Share),
    ("csat_survey_low", Kind::Share),
    ("csat_survey_high", Kind::Share),
    ("ces_agree", Kind::Share),
    ("ces_agree_low", Kind::Share),
    ("ces_agree_high", Kind::Share),
    ("voice", Kind::Share),
    ("journeys_through", Kind::Count),
    ("value_through", Kind::Amount),
    ("attributed_value_linear", Kind::Amount),
    ("removal_effect", Kind::Share),
    ("attributed_value_markov", Kind::Amount),
];

/// A figure for a table; `—` when it is null.
fn figure(value: Option<f64>, kind: Kind) -> String {
    match (value, kind) {
        (None, _) => "—".to_owned(),
        (Some(v), Kind::Count) => format!("{v:.0}"),
        (Some(v), Kind::Share) => format!("{:.1} %", v * 100.0),
        (Some(v), Kind::Amount | Kind::Ratio) => format!("{v:.2}"),
    }
}

/// What a card is about, as a column heading: `machine`, `web.order`, `organization`.
fn scope_label(card: &Card) -> String {
    card.key.clone().unwrap_or_else(|| card.scope.to_owned())
}

/// A bucket of a series as a column heading: its day, the Monday of its week, its month.
fn bucket_label(card: &Card, by: Granularity) -> String {
    let Ok(from) = card.from.parse::<jiff::Timestamp>() else {
        return card.from.clone();
    };
    match by {
        Granularity::Day => from.strftime("%Y-%m-%d").to_string(),
        Granularity::Week => format!("week {}", from.strftime("%Y-%m-%d")),
        Granularity::Month => from.strftime("%Y-%m").to_string(),
    }
}

/// Cards side by side in one table at most: more are printed in tables of this many, so that
/// every table stays readable on a terminal.
const COLUMNS_PER_TABLE: usize = 6;

/// Prints the figures of `cards` side by side, [`COLUMNS_PER_TABLE`] cards per table.
fn print_cards(columns: &[String], cards: &[&Card]) -> anyhow::Result<()> {
    for (names, cards) in columns
        .chunks(COLUMNS_PER_TABLE)
        .zip(cards.chunks(COLUMNS_PER_TABLE))
    {
        println!("{}", card_table(names, cards)?);
    }
    Ok(())
}

/// The figures of `cards` side by side: one row per field, one column per card.
fn card_table(columns: &[String], cards: &[&Card]) -> anyhow::Result<comfy_table::Table> {
    let mut t = table(std::iter::once("figure".to_owned()).chain(columns.iter().cloned()));
    let values: Vec<serde_json::Value> = cards
        .iter()
        .map(|c| serde_json::to_value(c.scorecard))
        .collect::<Result<_, _>>()?;
    for (name, kind) in FIELDS {
        let mut row = vec![name.to_owned()];
        row.extend(
            values
                .iter()
                .map(|v| figure(v.get(name).and_then(serde_json::Value::as_f64), kind)),
        );
        t.add_row(row);
    }
    for column in 1..=columns.len() {
        if let Some(c) = t.column_mut(column) {
            c.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    Ok(t)
}

pub async fn scorecard(
    store: &dyn Store,
    actor: &Actor,
    args: ScorecardArgs,
) -> anyhow::Result<()> {
    actor.require(Permission::Read)?;
    let period = requested(&args.period)?;
    let inventory = inventory::get(store).await?.value;
    let days = Days::read(store, &inventory, period).await?;
    let by: Option<Granularity> = args.by.map(Into::into);
    let scopes = if let Some(k) = args.point {
        vec![Scope::Point(k)]
    } else if let Some(f) = args.function {
        vec![Scope::Function(f)]
    } else if let Some(m) = args.mode {
        vec![Scope::Mode(m.into())]
    } else if let Some(t) = args.party_type {
        vec![Scope::PartyType(t)]
    } else if let Some(kind) = args.all {
        Scope::all(&inventory, kind.into(), &days)
    } else {
        vec![Scope::Organization]
    };
    let cards = measure::cards(&inventory, &days, &scopes, by).map_err(scope_error)?;
    if args.json {
        return match (args.all, by, cards.as_slice()) {
            (None, None, [one]) => print_json(one),
            _ => print_json(&cards),
        };
    }
    let Some(first) = cards.first() else {
        println!("no scorecards: {}", describe(period));
        return Ok(());
    };
    let title = match (args.all, &first.key) {
        (Some(_), _) => format!("scorecards by {}", first.scope.replace('_', " ")),
        (None, Some(key)) => format!("scorecard of {} {key}", first.scope.replace('_', " ")),
        (None, None) => "scorecard of the organization".to_owned(),
    };
    println!("{title}, {}", describe(period));
    match (args.all.is_some(), by) {
        // Groups side by side, one table per bucket of the series.
        (true, Some(by)) => {
            let mut buckets: Vec<&str> = cards.iter().map(|c| c.from.as_str()).collect();
            buckets.sort_unstable();
            buckets.dedup();
            for bucket in buckets {
                let row: Vec<&Card> = cards.iter().filter(|c| c.from == bucket).collect();
                let columns: Vec<String> = row.iter().map(|c| scope_label(c)).collect();
                println!("\n{}", bucket_label(row[0], by));
                print_cards(&columns, &row)?;
            }
        }
        (true, None) => {
            let all: Vec<&Card> = cards.iter().collect();
            let columns: Vec<String> = all.iter().map(|c| scope_label(c)).collect();
            print_cards(&columns, &all)?;
        }
        (false, Some(by)) => {
            let all: Vec<&Card> = cards.iter().collect();
            let columns: Vec<String> = all.iter().map(|c| bucket_label(c, by)).collect();
            print_cards(&columns, &all)?;
        }
        (false, None) => println!("{}", card_table(&["value".to_owned()], &[first])?),
    }
    Ok(())
}

/// A reason's figure for a table with `decimals`, or a strategic value's name; `—` when null.
fn reason_figure(figure: Option<Figure>, decimals: usize) -> String {
    match figure {
        None => "—".to_owned(),
        Some(Figure::Number(v)) => format!("{v:.decimals$}"),
        Some(Figure::Strategic(s)) => enum_name(&s),
    }
}

/// `value_below_expectation: net value per interaction 1.20 < 4.88`: the rule's code, the
/// figure and what it was held to, with two decimals or as many more (up to six) as it takes
/// for the two to differ (`cost per interaction 0.031 > 0.030`).
fn reason_text(reason: &Reason) -> String {
    let (what, sign) = match reason.code {
        ReasonCode::ValueBelowExpectation => ("net value per interaction", "<"),
        ReasonCode::QualityBelowThreshold => ("effectiveness", "<"),
        ReasonCode::StrategicOverride => ("strategic value", "≥"),
        ReasonCode::VolumeBelowExpectation => ("volume attainment", "<"),
        ReasonCode::CostAboveExpectation => ("cost per interaction", ">"),
        ReasonCode::DataNonconformant => ("conformance rate", "<"),
        ReasonCode::VoiceBelowThreshold => ("voice", "<"),
        ReasonCode::CarriesJourneys => ("removal effect", "≥"),
    };
    let decimals = (2..=6)
        .find(|d| reason_figure(reason.value, *d) != reason_figure(Some(reason.threshold), *d))
        .unwrap_or(6);
    let sign = if reason.value.is_none() { "vs" } else { sign };
    format!(
        "{}: {what} {} {sign} {}",
        enum_name(&reason.code),
        reason_figure(reason.value, decimals),
        reason_figure(Some(reason.threshold), decimals)
    )
}

pub async fn portfolio(
    store: &dyn Store,
    actor: &Actor,
    args: PortfolioArgs,
) -> anyhow::Result<()> {
    actor.require(Permission::Read)?;
    let period = requested(&args.period)?;
    let inventory = inventory::get(store).await?.value;
    let verdicts: Vec<Assessment> = measure::portfolio(store, &inventory, period).await?;
    if args.json {
        return print_json(&verdicts);
    }
    let s = inventory.organization.settings;
    println!(
        "portfolio of the live points, {} (min_volume {}, adequacy {}, quality_threshold {})",
        describe(period),
        s.min_volume,
        s.adequacy,
        s.quality_threshold
    );
    if verdicts.is_empty() {
        println!("no live points");
        return Ok(());
    }
    let mut t = table(["point", "verdict", "reasons: figure vs threshold"]);
    for a in &verdicts {
        let reasons: Vec<String> = a.reasons.iter().map(reason_text).collect();
        t.add_row([a.point.clone(), enum_name(&a.verdict), reasons.join("\n")]);
    }
    println!("{t}");
    let mut tally: Vec<(String, usize)> = Vec::new();
    for a in &verdicts {
        let verdict = enum_name(&a.verdict);
        match tally.iter_mut().find(|(v, _)| *v == verdict) {
            Some((_, n)) => *n += 1,
            None => tally.push((verdict, 1)),
        }
    }
    let tally: Vec<String> = tally.iter().map(|(v, n)| format!("{n} {v}")).collect();
    println!(
        "{}: {}",
        count(verdicts.len(), "live point", "live points"),
        tally.join(", ")
    );
    Ok(())
}

/// A gap in seconds as a person reads it: `45 s`, `12 min`, `3.5 h`, `2.1 days`.
fn gap(seconds: Option<f64>) -> String {
    match seconds {
        None => "—".to_owned(),
        Some(s) if s < 60.0 => format!("{s:.0} s"),
        Some(s) if s < 3_600.0 => format!("{:.0} min", s / 60.0),
        Some(s) if s < 86_400.0 => format!("{:.1} h", s / 3_600.0),
        Some(s) => format!("{:.1} days", s / 86_400.0),
    }
}

/// What cutting a point would cost, as `journeys --what-if-without` prints it.
fn print_what_if(w: &measure::WhatIf, period: Period) {
    let share = |n: u64| figure(Some(n as f64 / w.journeys.max(1) as f64), Kind::Share);
    println!(
        "without {}, {}: {} of the {} pass through it ({}), {} in value, {}",
        w.point,
        describe(period),
        count(w.journeys_through as usize, "journey", "journeys"),
        w.journeys,
        share(w.journeys_through),
        figure(Some(w.value_through), Kind::Amount),
        count(w.variants_through as usize, "variant", "different variants"),
    );
    match (w.removal_effect, w.conversion, w.conversion_without) {
        (Some(effect), Some(c), Some(without)) => println!(
            "removal effect {}: the journeys' conversion would fall from {} to {}, putting {} of the {} the converting journeys bring at risk",
            figure(Some(effect), Kind::Share),
            figure(Some(c), Kind::Share),
            figure(Some(without), Kind::Share),
            figure(w.value_at_risk, Kind::Amount),
            figure(Some(w.converting_value), Kind::Amount),
        ),
        _ if w.journeys_through == 0 => println!("no journey of the period passes through it"),
        _ => println!("no journey of the period converts: no removal effect"),
    }
    if !w.next.is_empty() {
        let mut t = table(["then", "times", "share"]);
        for n in &w.next {
            t.add_row([
                n.to.clone(),
                n.count.to_string(),
                figure(Some(n.share), Kind::Share),
            ]);
        }
        println!(
            "
where the parties went after {} (end: the journey ended there)
{t}",
            w.point
        );
    }
    if !w.variants.is_empty() {
        let mut t = table(["#", "journeys", "variant"]);
        for (rank, v) in w.variants.iter().enumerate() {
            t.add_row([(rank + 1).to_string(), v.count.to_string(), v.text.clone()]);
        }
        println!(
            "
the {} most frequent variants through {}
{t}",
            w.variants.len(),
            w.point
        );
    }
}

pub async fn journeys(store: &dyn Store, actor: &Actor, args: JourneysArgs) -> anyhow::Result<()> {
    actor.require(Permission::Read)?;
    let period = requested(&args.period)?;
    let inventory = inventory::get(store).await?.value;
    if let Some(point) = &args.what_if_without {
        let w = measure::what_if(store, &inventory, period, point, args.top)
            .await
            .map_err(|e| match e {
                ScopeError::Point(ref k) => anyhow!("--what-if-without {k}: {e}"),
                other => other.into(),
            })?;
        return if args.json {
            print_json(&w)
        } else {
            print_what_if(&w, period);
            Ok(())
        };
    }
    let query = JourneyQuery {
        period,
        party_type: args.party_type,
        start: args.start,
        top: Some(args.top),
    };
    query.check(&inventory).map_err(|e| match e {
        ScopeError::Point(ref k) => anyhow!("--start {k}: {e}"),
        ScopeError::PartyType { ref got, .. } => anyhow!("--party-type {got}: {e}"),
        other => other.into(),
    })?;
    let summary = measure::journeys(store, &inventory, &query).await?;
    if args.json {
        return print_json(&summary);
    }
    println!(
        "{} starting {}, {}",
        count(summary.journeys as usize, "journey", "journeys"),
        describe(period),
        count(
            summary.distinct_variants as usize,
            "variant",
            "different variants"
        )
    );
    if summary.journeys == 0 {
        return Ok(());
    }
    let mut t = table(["#", "journeys", "share", "variant", "weakest link"]);
    for (rank, v) in summary.variants.iter().enumerate() {
        let weakest = v.weakest_link.as_ref().map_or("—".to_owned(), |w| {
            format!(
                "{} ({})",
                w.point,
                figure(Some(w.effectiveness), Kind::Share)
            )
        });
        t.add_row([
            (rank + 1).to_string(),
            v.count.to_string(),
            figure(Some(v.count as f64 / summary.journeys as f64), Kind::Share),
            v.text.clone(),
            weakest,
        ]);
    }
    println!(
        "\nthe {} most frequent variants (weakest link: the point with the lowest effectiveness)\n{t}",
        summary.variants.len()
    );
    let mut t = table(["from", "to", "journeys", "median gap"]);
    for e in &summary.edges {
        t.add_row([
            e.from.as_str().to_owned(),
            e.to.as_str().to_owned(),
            e.count.to_string(),
            gap(e.median_gap_s),
        ]);
    }
    println!("\nsteps (from → to)\n{t}");
    if summary.handoffs.is_empty() {
        println!("\nno hand-offs between business functions");
    } else {
        let mut t = table(["from", "to", "journeys", "median gap"]);
        for h in &summary.handoffs {
            t.add_row([
                format!("{} ({})", h.from, h.from_function),
                format!("{} ({})", h.to, h.to_function),
                h.count.to_string(),
                gap(h.median_gap_s),
            ]);
        }
        println!("\nhand-offs between business functions\n{t}");
    }
    Ok(())
}

pub async fn quality(store: &dyn Store, actor: &Actor, args: QualityArgs) -> anyhow::Result<()> {
    // The failures quote the data they found (a wrong value, an undeclared element): reading
    // them is reading the events, like the rejects.
    actor.require(Permission::Export)?;
    let period = requested(&args.period)?;
    let days = Days::counts(store, period).await?;
    let found = measure::quality(store, &days, args.top).await?;
    if args.json {
        return print_json(&found);
    }
    println!("data quality, {}", describe(period));
    if found.is_empty() {
        println!("no interactions in the period");
        return Ok(());
    }
    let mut t = table([
        "point",
        "events",
        "conforming",
        "conformance",
        "most frequent failures",
    ]);
    for q in &found {
        let failing: Vec<String> = q
            .failing
            .iter()
            .map(|f| format!("{} × {}", f.events, f.failure))
            .collect();
        t.add_row([
            q.point.clone(),
            q.volume.to_string(),
            q.conforming.to_string(),
            figure(q.conformance_rate, Kind::Share),
            failing.join("\n"),
        ]);
    }
    println!("{t}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use touchbase_core::metrics::{Expectation, Scorecard, Tally};

    #[test]
    fn the_table_lists_every_field_of_the_scorecard_in_order() {
        let card = Scorecard::compute(&Tally::default(), &Expectation::default(), 1.0);
        let value = serde_json::to_value(card).unwrap();
        let mut names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields: Vec<&str> = super::FIELDS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        fields.sort_unstable();
        assert_eq!(fields, names);
    }

    #[test]
    fn a_reason_shows_as_many_decimals_as_tell_figure_and_threshold_apart() {
        use touchbase_core::portfolio::{Figure, Reason, ReasonCode};
        let reason = |code, value: Option<f64>, threshold| Reason {
            code,
            value: value.map(Figure::Number),
            threshold: Figure::Number(threshold),
        };
        assert_eq!(
            super::reason_text(&reason(
                ReasonCode::CostAboveExpectation,
                Some(0.0312),
                0.03
            )),
            "cost_above_expectation: cost per interaction 0.031 > 0.030"
        );
        assert_eq!(
            super::reason_text(&reason(ReasonCode::ValueBelowExpectation, Some(1.2), 4.88)),
            "value_below_expectation: net value per interaction 1.20 < 4.88"
        );
        assert_eq!(
            super::reason_text(&reason(ReasonCode::QualityBelowThreshold, None, 0.6)),
            "quality_below_threshold: effectiveness — vs 0.60"
        );
    }

    #[test]
    fn gaps_read_in_the_unit_that_fits() {
        assert_eq!(super::gap(None), "—");
        assert_eq!(super::gap(Some(45.0)), "45 s");
        assert_eq!(super::gap(Some(720.0)), "12 min");
        assert_eq!(super::gap(Some(12_600.0)), "3.5 h");
        assert_eq!(super::gap(Some(181_440.0)), "2.1 days");
    }
}
