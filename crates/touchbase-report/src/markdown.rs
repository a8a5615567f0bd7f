//! The report as Markdown: the HTML page's sections, with tables where it has charts.

use std::fmt::Write;

use touchbase_core::enum_name;
use touchbase_core::portfolio::Verdict;

use crate::Report;
use crate::words::{
    GROUP_COLUMNS, SECTIONS, Words, approx, count, dash, duration, findings, group_row, nps, pct,
    verdict, voice_finding, why_buy_points, why_buy_shares,
};

/// Text from the inventory or events, made inert in Markdown: HTML special characters as
/// entities (a Markdown viewer passes raw HTML through), table pipes escaped, lines joined.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A table: the header, then each row.
fn table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        header.iter().map(|_| " --- ").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

fn section(out: &mut String, index: usize) {
    let _ = writeln!(out, "## {}. {}\n", index, SECTIONS[index]);
}

pub fn render(r: &Report) -> String {
    let w = Words::new(&r.currency);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# {}: points of interaction\n\nExecutive report for {} to {} ({} days). Values in {}. Made {}.\n",
        md(&r.organization),
        &r.period.from[..10.min(r.period.from.len())],
        &r.period.to[..10.min(r.period.to.len())],
        r.period.days,
        md(&r.currency),
        md(&r.generated_at),
    );

    let _ = writeln!(o, "## {}\n", SECTIONS[0]);
    for finding in findings(r) {
        let _ = writeln!(o, "- {}", md(&finding));
    }
    o.push('\n');

    section(&mut o, 1);
    let g = &r.inventory;
    let _ = writeln!(
        o,
        "{} points of interaction ({} live) across {} business functions, {} processes and {} party types.\n",
        g.points, g.live, g.functions, g.processes, g.party_types
    );
    table(
        &mut o,
        &["business function", "points", "live"],
        g.by_function
            .iter()
            .map(|c| vec![md(&c.name), c.points.to_string(), c.live.to_string()]),
    );
    table(
        &mut o,
        &["mode", "points", "live"],
        g.by_mode
            .iter()
            .map(|c| vec![md(&c.name), c.points.to_string(), c.live.to_string()]),
    );
    table(
        &mut o,
        &["status", "points"],
        g.by_status
            .iter()
            .map(|c| vec![md(&c.name.replace('_', " ")), c.points.to_string()]),
    );
    table(
        &mut o,
        &["data class", "sensitive", "elements", "points passing it"],
        g.data_classes.iter().map(|c| {
            vec![
                enum_name(&c.class),
                if c.sensitive { "yes" } else { "" }.to_owned(),
                c.elements.to_string(),
                c.points.to_string(),
            ]
        }),
    );

    section(&mut o, 2);
    let _ = writeln!(
        o,
        "Each live point held to its bars: net value per interaction at least {} of what it is expected to earn, effectiveness at least {}, at least {} interactions.\n",
        pct(Some(r.settings.adequacy)),
        pct(Some(r.settings.quality_threshold)),
        r.settings.min_volume
    );
    for (v, chosen) in r.by_verdict() {
        let _ = writeln!(o, "### {} ({})\n", verdict(v), chosen.len());
        if chosen.is_empty() {
            o.push_str("None.\n\n");
            continue;
        }
        for (a, p) in chosen {
            let mut why: Vec<String> = a
                .reasons
                .iter()
                .map(|reason| w.reason(reason, p, &r.settings))
                .collect();
            if v == Verdict::Invest {
                why.insert(0, w.clears(p, &r.settings));
            }
            why.extend(w.cutting(v, &a.reasons, p));
            if v == Verdict::InsufficientData {
                why.insert(
                    0,
                    format!(
                        "{} interactions, fewer than the {} needed.",
                        count(p.card.scorecard.volume),
                        r.settings.min_volume
                    ),
                );
            }
            let _ = writeln!(
                o,
                "- **{}** (`{}`): {}",
                md(&p.name),
                md(&a.point),
                md(&why.join(" "))
            );
        }
        o.push('\n');
    }

    section(&mut o, 3);
    table(
        &mut o,
        &[
            "point",
            "volume",
            "expected",
            "volume attained",
            "net / interaction",
            "expected net",
            "value attained",
            "cost / interaction",
            "verdict",
        ],
        r.points.iter().map(|p| {
            let s = &p.card.scorecard;
            vec![
                md(&p.name),
                count(s.volume),
                approx(s.expected_volume),
                pct(s.volume_attainment),
                w.per_or(s.net_value_per),
                w.per_or(s.expected_net_value_per),
                pct(s.value_company_attainment),
                w.per_or(s.cost_per),
                p.verdict.map_or_else(dash, |v| verdict(v).to_owned()),
            ]
        }),
    );

    section(&mut o, 4);
    let s = &r.scorecard.scorecard;
    o.push_str(
        "Across the organization, each outcome's share of the interactions where it applies:\n\n",
    );
    table(
        &mut o,
        &[
            "intent captured",
            "satisfied (CSAT)",
            "knowledge gained",
            "resolved",
            "engaged",
        ],
        [vec![
            pct(s.intent_rate),
            pct(s.csat),
            pct(s.knowledge_rate),
            pct(s.resolution_rate),
            pct(s.engagement_rate),
        ]],
    );

    section(&mut o, 5);
    let bar = r.settings.quality_threshold;
    let groups = |o: &mut String, cards: &[touchbase_store::measure::Card], label: &str| {
        let mut header = vec![label];
        header.extend(GROUP_COLUMNS);
        let rows = cards
            .iter()
            .map(|c| group_row(c, &w, bar, md, |v, _| pct(v)));
        table(o, &header, rows);
    };
    groups(&mut o, &r.modes, "mode");

    section(&mut o, 6);
    groups(&mut o, &r.functions, "business function");

    section(&mut o, 7);
    let j = &r.journeys;
    let _ = writeln!(
        o,
        "{} journeys began in the period, along {} different paths. The most frequent (hand-offs between business functions marked ⇄):\n",
        count(j.journeys),
        count(j.distinct_variants)
    );
    table(
        &mut o,
        &["#", "journey", "journeys", "hand-offs", "weakest link"],
        j.variants.iter().enumerate().map(|(i, v)| {
            let mut path = String::new();
            let mut handoffs = 0;
            for (k, key) in v.points.iter().enumerate() {
                if k > 0 {
                    let (a, b) = (r.function_of(&v.points[k - 1]), r.function_of(key));
                    if a.is_some() && b.is_some() && a != b {
                        handoffs += 1;
                        path.push_str(" ⇄ ");
                    } else {
                        path.push_str(" → ");
                    }
                }
                path.push_str(&md(key));
            }
            vec![
                (i + 1).to_string(),
                path,
                count(v.count),
                handoffs.to_string(),
                v.weakest_link.as_ref().map_or_else(dash, |l| {
                    format!("{} ({})", md(&l.point), pct(Some(l.effectiveness)))
                }),
            ]
        }),
    );
    if !j.handoffs.is_empty() {
        let mut handoffs = j.handoffs.clone();
        handoffs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.from.cmp(&b.from)));
        handoffs.truncate(10);
        o.push_str("The busiest hand-offs:\n\n");
        table(
            &mut o,
            &["from", "to", "functions", "times", "median gap"],
            handoffs.iter().map(|h| {
                vec![
                    md(&h.from),
                    md(&h.to),
                    format!("{} → {}", md(&h.from_function), md(&h.to_function)),
                    count(h.count),
                    duration(h.median_gap_s),
                ]
            }),
        );
    }

    section(&mut o, 8);
    voice(&mut o, r);

    section(&mut o, 9);
    let flagged: Vec<_> = r
        .quality
        .iter()
        .filter(|q| q.conforming < q.volume)
        .collect();
    if flagged.is_empty() {
        o.push_str("Every interaction's data met its point's contract.\n\n");
    } else {
        table(
            &mut o,
            &[
                "point",
                "interactions",
                "conformant",
                "share",
                "most frequent failures",
            ],
            flagged.iter().map(|q| {
                vec![
                    md(&q.point),
                    count(q.volume),
                    count(q.conforming),
                    pct(q.conformance_rate),
                    q.failing
                        .iter()
                        .map(|f| format!("{} ({})", md(&f.failure), count(f.events)))
                        .collect::<Vec<_>>()
                        .join("; "),
                ]
            }),
        );
    }

    section(&mut o, 10);
    if r.undocumented.is_empty() {
        o.push_str("No interactions were seen at points the inventory does not know.\n\n");
    } else {
        o.push_str("Interactions were seen at these points, which the inventory does not list; they are held until a point is proposed and approved (`touchbase undocumented --draft KEY`).\n\n");
        table(
            &mut o,
            &["point", "interactions held", "first seen", "last seen"],
            r.undocumented.iter().map(|u| {
                vec![
                    md(&u.point),
                    count(u.volume),
                    md(&u.first_seen),
                    md(&u.last_seen),
                ]
            }),
        );
    }

    section(&mut o, 11);
    if r.proposals.is_empty() {
        o.push_str("No proposal awaits sign-off.\n");
    } else {
        table(
            &mut o,
            &[
                "#",
                "kind",
                "point",
                "proposed by",
                "approvals",
                "strategic value",
                "expected volume / month",
                "expected net / interaction",
                "why",
            ],
            r.proposals.iter().map(|p| {
                let why = if p.reasons.is_empty() {
                    p.rationale.clone()
                } else {
                    p.reasons.join("; ")
                };
                vec![
                    p.id.to_string(),
                    enum_name(&p.kind),
                    format!("{} (`{}`)", md(&p.name), md(&p.point)),
                    md(&p.proposer),
                    format!("{} of {}", p.approvals, p.approvals_required),
                    enum_name(&p.strategic_value),
                    approx(p.volume_per_month),
                    w.per_or(p.net_value_per),
                    md(&why),
                ]
            }),
        );
    }
    o
}

/// Section 8: each surveyed point's figures beside its effectiveness, the themes of what
/// customers would change, and why they buy.
fn voice(o: &mut String, r: &Report) {
    let threshold = r.settings.quality_threshold;
    let heard: Vec<_> = r
        .points
        .iter()
        .filter(|p| p.card.scorecard.voice.responses > 0)
        .collect();
    if heard.is_empty() {
        o.push_str("No survey responses in the period.\n\n");
    } else {
        table(
            o,
            &[
                "point",
                "responses",
                "response rate",
                "NPS (95 % margin)",
                "CSAT",
                "CES agree",
                "voice",
                "effectiveness",
                "finding",
            ],
            heard.iter().map(|p| {
                let v = &p.card.scorecard.voice;
                let effectiveness = p.card.scorecard.effectiveness;
                let finding = voice_finding(v.voice, effectiveness, threshold);
                vec![
                    md(&p.name),
                    count(v.responses),
                    pct(v.response_rate),
                    match v.nps_margin {
                        Some(m) => format!("{} (± {m:.0})", nps(v.nps)),
                        None => nps(v.nps),
                    },
                    pct(v.csat_survey),
                    pct(v.ces_agree),
                    pct(v.voice),
                    pct(effectiveness),
                    finding.to_owned(),
                ]
            }),
        );
    }
    let t = &r.voice.themes;
    if t.codebook.is_some() && !t.themes.is_empty() {
        let _ = writeln!(
            o,
            "What customers would change ({} of {} responses answered):\n",
            count(t.with_change),
            count(t.responses)
        );
        table(
            o,
            &["theme", "mentions", "share", "NPS impact", "in their words"],
            t.themes.iter().map(|x| {
                vec![
                    if x.unreliable {
                        format!("{} (unreliable: kappa < 0.6)", md(&x.code))
                    } else {
                        md(&x.code)
                    },
                    count(x.mentions),
                    pct(x.share),
                    nps(x.nps_impact),
                    x.verbatims
                        .iter()
                        .map(|v| format!("“{}”", md(v)))
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            }),
        );
    }
    let w = &r.voice.why_buy.summary;
    if w.executives.answers + w.customers.answers > 0 {
        o.push_str("Why customers buy from us, as the senior team and the customers say it:\n\n");
        table(
            o,
            &["", "senior team", "customers"],
            [
                vec![
                    "answers coded".to_owned(),
                    format!(
                        "{} of {}",
                        count(w.executives.coded),
                        count(w.executives.answers)
                    ),
                    format!(
                        "{} of {}",
                        count(w.customers.coded),
                        count(w.customers.answers)
                    ),
                ],
                vec![
                    "about how we deal with them".to_owned(),
                    pct(w.executives.interaction_share),
                    pct(w.customers.interaction_share),
                ],
                vec![
                    "about the product".to_owned(),
                    pct(w.executives.product_share),
                    pct(w.customers.product_share),
                ],
            ],
        );
        if !w.gap.is_empty() {
            table(
                o,
                &["reason", "senior team", "customers", "gap", "points"],
                w.gap.iter().map(|g| {
                    let (e, c) = why_buy_shares(w, &g.code);
                    vec![
                        md(&g.code),
                        pct(e),
                        pct(c),
                        g.gap
                            .map_or_else(dash, |g| format!("{:+.0} pts", g * 100.0)),
                        md(&why_buy_points(w, &g.code).join(", ")),
                    ]
                }),
            );
        }
    }
}
