//! The report as one self-contained HTML page: inline CSS (screen and print), inline SVG
//! charts, no script and nothing fetched from elsewhere. Every text that comes from the
//! inventory or from events goes through [`escape`].

use std::fmt::Write;

use touchbase_core::enum_name;
use touchbase_core::portfolio::Verdict;
use touchbase_store::measure::Card;

use crate::charts::{self, hex, mode_colour, verdict_colour};
use crate::words::{
    GROUP_COLUMNS, SECTIONS, Words, approx, count, dash, duration, findings, group_row, nps, pct,
    plural, verdict, verdict_meaning, voice_finding, why_buy_points, why_buy_shares,
};
use crate::{Report, ReportError};

/// Text made inert in HTML (element content and quoted attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's stylesheet, inlined in its one `<style>` element (a page that shows the report under
/// a Content-Security-Policy allows it by its hash).
pub const CSS: &str = r#"
:root { --ink:#1f2937; --muted:#6b7280; --rule:#e5e7eb; --bg:#f8fafc; --accent:#0e7490;
  --invest:#15803d; --improve:#d98e04; --eliminate:#b91c1c; --insufficient:#9ca3af; --handoff:#c2410c; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1060px; margin: 0 auto; padding: 32px 28px 64px; background: #fff; }
header.top { border-bottom: 3px solid var(--ink); padding-bottom: 14px; margin-bottom: 22px; }
header.top .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--muted); }
h1 { font-size: 30px; line-height: 1.15; margin: 4px 0 6px; }
header.top .meta { color: var(--muted); font-size: 14px; }
h2 { font-size: 21px; margin: 40px 0 6px; padding-top: 10px; border-top: 1px solid var(--rule); }
h2.first { border-top: 0; margin-top: 8px; padding-top: 0; }
h2 .n { color: var(--muted); font-weight: 400; margin-right: 6px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
p.lead { color: var(--muted); margin: 0 0 14px; max-width: 78ch; }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 8px 0 14px; }
.kpi { border: 1px solid var(--rule); border-radius: 8px; padding: 12px 14px; }
.kpi .label { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.kpi .value { font-size: 27px; font-weight: 700; line-height: 1.2; margin-top: 2px; }
.kpi .sub { font-size: 13px; color: var(--muted); }
.verdicts { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin-bottom: 16px; }
.verdict { border-radius: 8px; padding: 10px 14px; color: #fff; }
.verdict .value { font-size: 27px; font-weight: 700; line-height: 1.1; }
.verdict .label { font-size: 13px; font-weight: 600; }
.v-invest { background: var(--invest); } .v-improve { background: var(--improve); }
.v-eliminate { background: var(--eliminate); } .v-insufficient-data { background: var(--insufficient); }
ul.findings { margin: 0; padding-left: 20px; } ul.findings li { margin: 3px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 14px; }
th, td { padding: 5px 6px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { font-size: 11px; text-transform: uppercase; letter-spacing: .02em; color: var(--muted); font-weight: 600;
  border-bottom: 2px solid var(--rule); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td .key { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
code, .key { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; color: var(--muted); }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; white-space: nowrap; }
.low { color: var(--eliminate); font-weight: 600; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.grid4 { display: grid; grid-template-columns: repeat(4, 1fr); gap: 14px; }
figure { margin: 8px 0 16px; break-inside: avoid; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 4px; }
svg.chart { width: 100%; height: auto; display: block; }
.decision { border-left: 5px solid var(--rule); padding: 4px 0 4px 14px; margin: 14px 0; }
.decision h3 { margin: 0 0 2px; }
.decision p.what { margin: 0 0 6px; color: var(--muted); font-size: 13.5px; }
.decision ul { margin: 0; padding-left: 0; list-style: none; }
.decision li { padding: 6px 0; border-bottom: 1px solid var(--rule); break-inside: avoid; }
.decision li:last-child { border-bottom: 0; }
.decision li .why { display: block; font-size: 13.5px; }
.d-invest { border-color: var(--invest); } .d-improve { border-color: var(--improve); }
.d-eliminate { border-color: var(--eliminate); } .d-insufficient-data { border-color: var(--insufficient); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.none { color: var(--muted); font-style: italic; }
.muted { color: var(--muted); }
footer { margin-top: 40px; font-size: 12px; color: var(--muted); border-top: 1px solid var(--rule); padding-top: 10px; }
@media (max-width: 760px) { .kpis, .verdicts, .grid4 { grid-template-columns: 1fr 1fr; } .grid2 { grid-template-columns: 1fr; } }
@page { margin: 14mm 12mm; }
@media print {
  body { background: #fff; font-size: 10.5pt; }
  .kpis, .verdicts, .grid4 { grid-template-columns: repeat(4, 1fr); gap: 8px; }
  .kpi .value, .verdict .value { font-size: 18pt; }
  .grid4 table { font-size: 8pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  h3 { break-after: avoid; }
  section.break { break-before: page; }
  table { font-size: 8.5pt; }
  tr, .kpi, .verdict, figure { break-inside: avoid; }
  thead { display: table-header-group; }
}
"#;

struct Page {
    out: String,
}

impl Page {
    fn section(&mut self, index: usize, break_before: bool, lead: &str) {
        let class = if break_before { " class=\"break\"" } else { "" };
        let _ = write!(
            self.out,
            "</section>\n<section{class} id=\"s{index}\">\n<h2><span class=\"n\">{index}</span>{}</h2>\n",
            escape(SECTIONS[index])
        );
        if !lead.is_empty() {
            let _ = writeln!(self.out, "<p class=\"lead\">{lead}</p>");
        }
    }

    /// A table; `numeric` names the columns aligned right. Cells are HTML already.
    fn table(
        &mut self,
        header: &[&str],
        numeric: &[usize],
        rows: impl IntoIterator<Item = Vec<String>>,
    ) {
        self.out.push_str("<table><thead><tr>");
        for (i, h) in header.iter().enumerate() {
            let class = if numeric.contains(&i) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(self.out, "<th{class}>{}</th>", escape(h));
        }
        self.out.push_str("</tr></thead><tbody>\n");
        for row in rows {
            self.out.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let class = if numeric.contains(&i) {
                    " class=\"num\""
                } else {
                    ""
                };
                let _ = write!(self.out, "<td{class}>{cell}</td>");
            }
            self.out.push_str("</tr>\n");
        }
        self.out.push_str("</tbody></table>\n");
    }

    fn figure(&mut self, svg: Option<String>, caption: &str) {
        match svg {
            Some(svg) => {
                let _ = writeln!(
                    self.out,
                    "<figure>{svg}<figcaption>{caption}</figcaption></figure>"
                );
            }
            None => self
                .out
                .push_str("<p class=\"none\">No interactions in the period to chart.</p>\n"),
        }
    }
}

fn pill(v: Verdict) -> String {
    format!(
        "<span class=\"pill\" style=\"background:{}\">{}</span>",
        hex(verdict_colour(v)),
        verdict(v)
    )
}

/// A share, marked when below `bar`.
fn pct_against(v: Option<f64>, bar: f64) -> String {
    match v {
        Some(x) if x < bar => format!("<span class=\"low\">{}</span>", pct(v)),
        _ => pct(v),
    }
}

fn name_and_key(name: &str, key: &str) -> String {
    if name == key {
        format!("<span class=\"key\">{}</span>", escape(key))
    } else {
        format!(
            "{}<br><span class=\"key\">{}</span>",
            escape(name),
            escape(key)
        )
    }
}

/// The steps between points the journey graph draws.
const JOURNEY_STEPS: usize = 18;

pub fn render(r: &Report) -> Result<String, ReportError> {
    let w = Words::new(&r.currency);
    let h = &r.headline;
    let s = &r.scorecard.scorecard;
    let from = &r.period.from[..10.min(r.period.from.len())];
    let to = &r.period.to[..10.min(r.period.to.len())];
    let mut p = Page {
        out: String::with_capacity(256 * 1024),
    };
    let _ = write!(
        p.out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{org}: points of interaction, {from} to {to}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n\
         <header class=\"top\"><div class=\"kicker\">Executive report · points of interaction</div>\
         <h1>{org}</h1><div class=\"meta\">{from} to {to} (exclusive) · {days} days · values in {currency}{industry} · made {made}</div></header>\n<section id=\"s0\">\n",
        org = escape(&r.organization),
        days = r.period.days,
        currency = escape(&r.currency),
        industry = if r.industry.is_empty() {
            String::new()
        } else {
            format!(" · {}", escape(&r.industry))
        },
        made = escape(&r.generated_at),
    );

    // 0. Summary.
    let _ = write!(
        p.out,
        "<h2 class=\"first\">{}</h2>\n<div class=\"kpis\">",
        escape(SECTIONS[0])
    );
    let kpi = |label: &str, value: String, sub: String| {
        format!(
            "<div class=\"kpi\"><div class=\"label\">{label}</div><div class=\"value\">{value}</div><div class=\"sub\">{sub}</div></div>"
        )
    };
    p.out.push_str(&kpi(
        "Interactions",
        count(h.volume),
        match h.volume_attainment {
            Some(a) => format!(
                "{} of expected · {} live points",
                pct(Some(a)),
                h.live_points
            ),
            None => format!("{} live points", h.live_points),
        },
    ));
    p.out.push_str(&kpi(
        "Net value",
        w.money(h.net_value),
        format!(
            "{} earned − {} cost",
            w.money(h.value_company),
            w.money(h.cost)
        ),
    ));
    p.out.push_str(&kpi(
        "Value to customers",
        w.money(h.value_party),
        format!("{} per interaction", w.per_or(s.value_party_per)),
    ));
    p.out.push_str(&kpi(
        "Effectiveness",
        pct(h.effectiveness),
        format!(
            "bar {} · CSAT {}",
            pct(Some(r.settings.quality_threshold)),
            pct(s.csat)
        ),
    ));
    p.out.push_str("</div>\n<div class=\"verdicts\">");
    for (v, n) in [
        (Verdict::Invest, h.invest),
        (Verdict::Improve, h.improve),
        (Verdict::Eliminate, h.eliminate),
        (Verdict::InsufficientData, h.insufficient_data),
    ] {
        let _ = write!(
            p.out,
            "<div class=\"verdict v-{}\"><div class=\"value\">{n}</div><div class=\"label\">{}</div></div>",
            enum_name(&v),
            verdict(v)
        );
    }
    p.out.push_str("</div>\n<ul class=\"findings\">");
    for f in findings(r) {
        let _ = write!(p.out, "<li>{}</li>", escape(&f));
    }
    p.out.push_str("</ul>\n");

    // 1. The inventory at a glance.
    let g = &r.inventory;
    p.section(
        1,
        false,
        &format!(
            "{} points of interaction ({} live) across {} business functions, {} processes and {} party types.",
            g.points, g.live, g.functions, g.processes, g.party_types
        ),
    );
    p.out.push_str("<div class=\"grid4\"><div>");
    let counts = |p: &mut Page, head: &str, items: &[crate::Count], live: bool| {
        let header: Vec<&str> = if live {
            vec![head, "points", "live"]
        } else {
            vec![head, "points"]
        };
        p.table(
            &header,
            &[1, 2],
            items.iter().map(|c| {
                let mut row = vec![escape(&c.name.replace('_', " ")), c.points.to_string()];
                if live {
                    row.push(c.live.to_string());
                }
                row
            }),
        );
    };
    counts(&mut p, "business function", &g.by_function, true);
    p.out.push_str("</div><div>");
    let by_mode: Vec<crate::Count> = g.by_mode.clone();
    p.table(
        &["mode", "points", "live"],
        &[1, 2],
        by_mode.iter().map(|c| {
            let colour = match c.name.as_str() {
                "machine" => hex(mode_colour(touchbase_core::Mode::Machine)),
                "people" => hex(mode_colour(touchbase_core::Mode::People)),
                _ => hex(mode_colour(touchbase_core::Mode::Hybrid)),
            };
            vec![
                format!(
                    "<span class=\"swatch\" style=\"background:{colour}\"></span>{}",
                    escape(&c.name)
                ),
                c.points.to_string(),
                c.live.to_string(),
            ]
        }),
    );
    p.out.push_str("</div><div>");
    counts(&mut p, "status", &g.by_status, false);
    p.out.push_str("</div><div>");
    p.table(
        &["data passed", "elements", "points"],
        &[1, 2],
        g.data_classes.iter().map(|c| {
            let name = enum_name(&c.class);
            vec![
                if c.sensitive {
                    format!("<strong>{name}</strong> (sensitive)")
                } else {
                    name
                },
                c.elements.to_string(),
                c.points.to_string(),
            ]
        }),
    );
    p.out.push_str("</div></div>\n");

    // 2. Portfolio.
    p.section(
        2,
        true,
        &format!(
            "Each live point is held to two bars over the period: its net value per interaction must reach {} of what it is expected to earn, and its effectiveness {}. Both met: invest. Neither met and not strategic: eliminate. Otherwise: improve. Fewer than {} interactions: too little data to judge.",
            pct(Some(r.settings.adequacy)),
            pct(Some(r.settings.quality_threshold)),
            r.settings.min_volume
        ),
    );
    p.figure(
        charts::portfolio_matrix(r)?,
        "Each bubble is a live point: further right is more effective, higher earns more per interaction, a bigger bubble has more interactions. The colour is its verdict.",
    );
    for (v, chosen) in r.by_verdict() {
        let _ = write!(
            p.out,
            "<div class=\"decision d-{}\"><h3>{} ({})</h3><p class=\"what\">{}</p>",
            enum_name(&v),
            verdict(v),
            chosen.len(),
            verdict_meaning(v)
        );
        if chosen.is_empty() {
            p.out.push_str("<p class=\"none\">None.</p></div>\n");
            continue;
        }
        if v == Verdict::Invest {
            p.table(
                &[
                    "point",
                    "interactions",
                    "net / interaction",
                    "bar",
                    "effectiveness",
                    "also noted",
                ],
                &[1, 2, 3, 4],
                chosen.iter().map(|(a, pc)| {
                    let s = &pc.card.scorecard;
                    let bar = match s.expected_net_value_per {
                        Some(e) if e > 0.0 => r.settings.adequacy * e,
                        _ => 0.0,
                    };
                    vec![
                        name_and_key(&pc.name, &a.point),
                        count(s.volume),
                        w.per_or(s.net_value_per),
                        w.per(bar),
                        pct(s.effectiveness),
                        a.reasons
                            .iter()
                            .map(|reason| escape(&w.reason(reason, pc, &r.settings)))
                            .collect::<Vec<_>>()
                            .join("<br>"),
                    ]
                }),
            );
            p.out.push_str("</div>\n");
            continue;
        }
        p.out.push_str("<ul>");
        for (a, pc) in chosen {
            let mut why: Vec<String> = Vec::new();
            if v == Verdict::InsufficientData {
                why.push(format!(
                    "{} {} in the period, fewer than the {} needed.",
                    count(pc.card.scorecard.volume),
                    plural(pc.card.scorecard.volume, "interaction", "interactions"),
                    r.settings.min_volume
                ));
            }
            why.extend(
                a.reasons
                    .iter()
                    .map(|reason| w.reason(reason, pc, &r.settings)),
            );
            why.extend(w.cutting(v, &a.reasons, pc));
            let _ = write!(
                p.out,
                "<li><strong>{}</strong> <span class=\"key\">{}</span> · {} interactions{}",
                escape(&pc.name),
                escape(&a.point),
                count(pc.card.scorecard.volume),
                pc.function
                    .as_ref()
                    .map_or_else(String::new, |f| format!(" · {}", escape(f))),
            );
            for line in why {
                let _ = write!(p.out, "<span class=\"why\">{}</span>", escape(&line));
            }
            p.out.push_str("</li>");
        }
        p.out.push_str("</ul></div>\n");
    }

    match charts::attribution(r)? {
        None => p
            .out
            .push_str("<p class=\"none\">No journey in the period, so nothing is attributed.</p>\n"),
        svg => p.figure(
        svg,
        "What each point is worth through the journeys it is on (its removal effect's share of the converting journeys' value) beside what it earns itself. A point with a short or negative grey bar and a long blue one brings parties to the points that earn.",
    ),
    }

    // 3. Achieved vs expected.
    p.section(
        3,
        true,
        &format!(
            "What each point achieved against what its owners expected of it over the period: interactions, and the value to the organization per interaction. Bars below the {} bar are pale; figures above 200% are cut and marked ▸.",
            pct(Some(r.settings.adequacy))
        ),
    );
    p.figure(
        charts::attainment(r)?,
        "The dot before each name is the point's verdict colour.",
    );
    p.table(
        &[
            "point",
            "interactions",
            "expected",
            "attained",
            "net / interaction",
            "expected",
            "value attained",
            "cost / interaction",
            "expected",
            "verdict",
        ],
        &[1, 2, 3, 4, 5, 6, 7, 8],
        r.points.iter().map(|pc| {
            let s = &pc.card.scorecard;
            vec![
                name_and_key(&pc.name, pc.key()),
                count(s.volume),
                approx(s.expected_volume),
                pct_against(s.volume_attainment, r.settings.adequacy),
                w.per_or(s.net_value_per),
                w.per_or(s.expected_net_value_per),
                pct_against(s.value_company_attainment, r.settings.adequacy),
                w.per_or(s.cost_per),
                w.per_or(pc.expected.cost),
                pc.verdict.map_or_else(dash, pill),
            ]
        }),
    );

    // 4. Outcomes.
    p.section(
        4,
        false,
        "Across all interactions: how often the customer's intent was captured, they were satisfied (4 or 5 of 5), we learned something new about them, their matter was resolved (where resolution applies), and they went on engaging.",
    );
    p.figure(
        charts::funnel(&r.scorecard)?,
        &format!(
            "Satisfaction averages {} of 5 over the interactions that recorded it.",
            s.satisfaction_avg.map_or_else(dash, |v| format!("{v:.2}"))
        ),
    );

    // 5. Machine, people and hybrid.
    p.section(
        5,
        true,
        "Points driven by machines, by people, and by both, side by side: what they earn and cost per interaction, and how well they serve.",
    );
    p.figure(charts::modes(r)?, "Outcome rates by interface mode.");
    group_table(&mut p, &r.modes, "mode", &w, r);

    // 6. Business functions.
    p.section(
        6,
        false,
        "The same figures for each business function's points.",
    );
    group_table(&mut p, &r.functions, "business function", &w, r);

    // 7. Journeys.
    let j = &r.journeys;
    p.section(
        7,
        true,
        &format!(
            "{} journeys began in the period (a journey is one customer's run of interactions with no gap longer than {}), along {} different paths. The most frequent paths, in order; a hand-off is a step from one business function's point to another's: a silo crossing where customers are most often let down.",
            count(j.journeys),
            duration(Some(r.settings.journey_gap_s as f64)),
            count(j.distinct_variants)
        ),
    );
    p.figure(
        charts::journeys(r, JOURNEY_STEPS)?,
        &format!("The {JOURNEY_STEPS} steps from one point to the next that the period's journeys took most often, each point in its business function's lane. Orange arrows cross from one function to another."),
    );
    if !j.handoffs.is_empty() {
        let mut handoffs = j.handoffs.clone();
        handoffs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.from.cmp(&b.from)));
        handoffs.truncate(10);
        p.out
            .push_str("<h3>The busiest hand-offs between business functions</h3>");
        p.table(
            &["from", "to", "functions", "times", "median gap"],
            &[3, 4],
            handoffs.iter().map(|h| {
                vec![
                    format!("<span class=\"key\">{}</span>", escape(&h.from)),
                    format!("<span class=\"key\">{}</span>", escape(&h.to)),
                    format!("{} → {}", escape(&h.from_function), escape(&h.to_function)),
                    count(h.count),
                    duration(h.median_gap_s),
                ]
            }),
        );
    }
    if !j.variants.is_empty() {
        p.out.push_str("<h3>The most frequent journeys</h3>");
        p.table(
            &[
                "#",
                "journeys",
                "path (⇄ marks a hand-off)",
                "weakest link",
                "its effectiveness",
            ],
            &[0, 1, 4],
            j.variants.iter().enumerate().map(|(i, v)| {
                vec![
                    (i + 1).to_string(),
                    count(v.count),
                    path(r, &v.points),
                    v.weakest_link
                        .as_ref()
                        .map_or_else(dash, |l| escape(&l.point)),
                    v.weakest_link.as_ref().map_or_else(dash, |l| {
                        pct_against(Some(l.effectiveness), r.settings.quality_threshold)
                    }),
                ]
            }),
        );
    }

    // 8. Voice of the customer.
    voice(&mut p, r);

    // 9. Data quality.
    let flagged: Vec<_> = r
        .quality
        .iter()
        .filter(|q| q.conforming < q.volume)
        .collect();
    p.section(
        9,
        true,
        "The share of each point's interactions whose data met the point's data contract, and the rules that failed most. Points under 95% are marked.",
    );
    if flagged.is_empty() {
        p.out
            .push_str("<p>Every interaction's data met its point's contract.</p>\n");
    } else {
        p.table(
            &[
                "point",
                "interactions",
                "conformant",
                "share",
                "most frequent failures",
            ],
            &[1, 2, 3],
            flagged.iter().map(|q| {
                vec![
                    format!("<span class=\"key\">{}</span>", escape(&q.point)),
                    count(q.volume),
                    count(q.conforming),
                    pct_against(
                        q.conformance_rate,
                        touchbase_core::portfolio::CONFORMANCE_THRESHOLD,
                    ),
                    q.failing
                        .iter()
                        .take(3)
                        .map(|f| {
                            format!("<code>{}</code> ({})", escape(&f.failure), count(f.events))
                        })
                        .collect::<Vec<_>>()
                        .join("<br>"),
                ]
            }),
        );
    }

    // 10. Undocumented points.
    p.section(
        10,
        false,
        "Interactions arrived for these points, which the inventory does not list. They are held, not counted, until a point is proposed and approved (<code>touchbase undocumented --draft KEY</code> drafts the proposal).",
    );
    if r.undocumented.is_empty() {
        p.out
            .push_str("<p>None: every interaction came from a documented point.</p>\n");
    } else {
        p.table(
            &["point", "interactions held", "first seen", "last seen"],
            &[1],
            r.undocumented.iter().map(|u| {
                vec![
                    format!("<span class=\"key\">{}</span>", escape(&u.point)),
                    count(u.volume),
                    escape(&u.first_seen),
                    escape(&u.last_seen),
                ]
            }),
        );
    }

    // 11. Proposals.
    p.section(
        11,
        false,
        "New points, material changes and retirements waiting for the executives' approval.",
    );
    if r.proposals.is_empty() {
        p.out.push_str("<p>No proposal awaits sign-off.</p>\n");
    } else {
        p.table(
            &[
                "#",
                "proposal",
                "proposed by",
                "approvals",
                "strategic value",
                "expected / month",
                "expected net / interaction",
                "why",
            ],
            &[0, 3, 5, 6],
            r.proposals.iter().map(|pr| {
                let why = if pr.reasons.is_empty() {
                    pr.rationale.clone()
                } else {
                    pr.reasons.join("; ")
                };
                vec![
                    pr.id.to_string(),
                    format!(
                        "{} {}",
                        escape(&enum_name(&pr.kind)),
                        name_and_key(&pr.name, &pr.point)
                    ),
                    escape(&pr.proposer),
                    format!("{} of {}", pr.approvals, pr.approvals_required),
                    escape(&enum_name(&pr.strategic_value)),
                    approx(pr.volume_per_month),
                    w.per_or(pr.net_value_per),
                    escape(&why),
                ]
            }),
        );
    }
    let _ = write!(
        p.out,
        "</section>\n<footer>Figures as defined in touchbase's metric definitions: effectiveness is the mean of CSAT, resolution rate and engagement rate; net value is value to the organization minus cost; a period is [from, to) in UTC. Thresholds: adequacy {}, quality {}, at least {} interactions.</footer>\n</main>\n</body>\n</html>\n",
        pct(Some(r.settings.adequacy)),
        pct(Some(r.settings.quality_threshold)),
        r.settings.min_volume
    );
    Ok(p.out)
}

fn group_table(p: &mut Page, cards: &[Card], label: &str, w: &Words, r: &Report) {
    let bar = r.settings.quality_threshold;
    let mut header = vec![label];
    header.extend(GROUP_COLUMNS);
    p.table(
        &header,
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        cards
            .iter()
            .map(|c| group_row(c, w, bar, escape, pct_against)),
    );
}

/// A journey's points in order, a hand-off between business functions marked ⇄.
fn path(r: &Report, points: &[String]) -> String {
    let mut out = String::new();
    for (k, key) in points.iter().enumerate() {
        if k > 0 {
            let (a, b) = (r.function_of(&points[k - 1]), r.function_of(key));
            if a.is_some() && b.is_some() && a != b {
                out.push_str(" <strong style=\"color:var(--handoff)\">⇄</strong> ");
            } else {
                out.push_str(" → ");
            }
        }
        let _ = write!(out, "<span class=\"key\">{}</span>", escape(key));
    }
    out
}

/// Section 8: each surveyed point's figures beside its effectiveness, the themes of what
/// customers would change (with a few of their words, escaped), and why they buy.
fn voice(p: &mut Page, r: &Report) {
    let threshold = r.settings.quality_threshold;
    p.section(
        8,
        true,
        "What key customers say in surveys about each point, beside how its interactions went: NPS with its 95% margin, the share satisfied (CSAT) and the share who found it easy (CES). A point customers rate below the quality threshold although it looks effective is a finding.",
    );
    let heard: Vec<_> = r
        .points
        .iter()
        .filter(|c| c.card.scorecard.voice.responses > 0)
        .collect();
    if heard.is_empty() {
        p.out
            .push_str("<p>No survey responses in the period.</p>\n");
    } else {
        p.table(
            &[
                "point",
                "responses",
                "response rate",
                "NPS",
                "CSAT",
                "CES agree",
                "voice",
                "effectiveness",
                "finding",
            ],
            &[1, 2, 3, 4, 5, 6, 7],
            heard.iter().map(|c| {
                let v = &c.card.scorecard.voice;
                let effectiveness = c.card.scorecard.effectiveness;
                let finding = voice_finding(v.voice, effectiveness, threshold);
                vec![
                    escape(&c.name),
                    count(v.responses),
                    pct(v.response_rate),
                    match v.nps_margin {
                        Some(m) => format!("{} <span class=\"muted\">± {m:.0}</span>", nps(v.nps)),
                        None => nps(v.nps),
                    },
                    pct(v.csat_survey),
                    pct(v.ces_agree),
                    pct_against(v.voice, threshold),
                    pct(effectiveness),
                    finding.to_owned(),
                ]
            }),
        );
    }
    let t = &r.voice.themes;
    if t.codebook.is_some() && !t.themes.is_empty() {
        let _ = writeln!(
            p.out,
            "<h3>What customers would change</h3>\n<p>{} of {} responses answered; each theme's NPS impact is the NPS of all responses less the NPS without those naming it.</p>",
            count(t.with_change),
            count(t.responses)
        );
        p.table(
            &["theme", "mentions", "share", "NPS impact", "in their words"],
            &[1, 2, 3],
            t.themes.iter().map(|x| {
                vec![
                    if x.unreliable {
                        format!(
                            "{} <span class=\"muted\">(unreliable: kappa &lt; 0.6)</span>",
                            escape(&x.code)
                        )
                    } else {
                        escape(&x.code)
                    },
                    count(x.mentions),
                    pct(x.share),
                    nps(x.nps_impact),
                    x.verbatims
                        .iter()
                        .map(|v| format!("<q>{}</q>", escape(v)))
                        .collect::<Vec<_>>()
                        .join("<br>"),
                ]
            }),
        );
    }
    let w = &r.voice.why_buy.summary;
    if w.executives.answers + w.customers.answers > 0 {
        p.out.push_str("<h3>Why customers buy from us</h3>\n");
        p.table(
            &["", "senior team", "customers"],
            &[1, 2],
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
            p.table(
                &["reason", "senior team", "customers", "gap", "points"],
                &[1, 2, 3],
                w.gap.iter().map(|g| {
                    let (e, c) = why_buy_shares(w, &g.code);
                    vec![
                        escape(&g.code),
                        pct(e),
                        pct(c),
                        g.gap
                            .map_or_else(dash, |g| format!("{:+.0} pts", g * 100.0)),
                        why_buy_points(w, &g.code)
                            .iter()
                            .map(|k| format!("<span class=\"key\">{}</span>", escape(k)))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                }),
            );
        }
    }
}
