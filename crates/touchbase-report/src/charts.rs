//! The HTML report's charts, drawn by `plotters` into SVG text that the page inlines. Each
//! function gives one `<svg>` element (no script, no external font: text is set in the
//! reader's `sans-serif`), or `None` when there is nothing to draw.

use std::collections::BTreeMap;
use std::error::Error;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use touchbase_core::Mode;
use touchbase_core::portfolio::Verdict;
use touchbase_store::measure::Card;

use crate::words::{Words, count, pct, verdict};
use crate::{Report, ReportError};

type Drawn = Result<(), Box<dyn Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

const FONT: &str = "sans-serif";
const INK: RGBColor = RGBColor(0x1f, 0x29, 0x37);
const MUTED: RGBColor = RGBColor(0x6b, 0x72, 0x80);
const RULE: RGBColor = RGBColor(0xd1, 0xd5, 0xdb);
const GRID: RGBColor = RGBColor(0xee, 0xf0, 0xf3);
/// Hand-offs between business functions.
pub const HANDOFF: RGBColor = RGBColor(0xc2, 0x41, 0x0c);

/// The colour of a verdict, as the page's CSS also uses it.
pub fn verdict_colour(v: Verdict) -> RGBColor {
    match v {
        Verdict::Invest => RGBColor(0x15, 0x80, 0x3d),
        Verdict::Improve => RGBColor(0xd9, 0x8e, 0x04),
        Verdict::Eliminate => RGBColor(0xb9, 0x1c, 0x1c),
        Verdict::InsufficientData => RGBColor(0x9c, 0xa3, 0xaf),
    }
}

/// The colour of an interface mode.
pub fn mode_colour(m: Mode) -> RGBColor {
    match m {
        Mode::Machine => RGBColor(0x25, 0x63, 0xeb),
        Mode::People => RGBColor(0xea, 0x58, 0x0c),
        Mode::Hybrid => RGBColor(0x7c, 0x3a, 0xed),
    }
}

const FUNCTION_COLOURS: [RGBColor; 8] = [
    RGBColor(0x25, 0x63, 0xeb),
    RGBColor(0x05, 0x96, 0x69),
    RGBColor(0xd9, 0x77, 0x06),
    RGBColor(0x7c, 0x3a, 0xed),
    RGBColor(0xdb, 0x27, 0x77),
    RGBColor(0x08, 0x91, 0xb2),
    RGBColor(0x65, 0xa3, 0x0d),
    RGBColor(0x47, 0x55, 0x69),
];

/// The colour of each business function, in the inventory's order.
pub fn function_colours(report: &Report) -> BTreeMap<String, RGBColor> {
    report
        .inventory
        .by_function
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.clone(), FUNCTION_COLOURS[i % FUNCTION_COLOURS.len()]))
        .collect()
}

/// `#rrggbb`.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Draws into a `width` × `height` SVG and returns its text, sized to scale with the page.
fn svg(
    width: u32,
    height: u32,
    label: &str,
    draw: impl FnOnce(&Area) -> Drawn,
) -> Result<String, ReportError> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (width, height)).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(|e| e.into())
            .and_then(|()| draw(&root));
        drawn
            .and_then(|()| root.present().map_err(|e| e.into()))
            .map_err(|e| ReportError::Chart(format!("a chart could not be drawn: {e}")))?;
    }
    // Scale with the page: the viewBox keeps the proportions, CSS sets the width.
    let head = format!("<svg width=\"{width}\" height=\"{height}\" ");
    let label = crate::html::escape(label);
    // Inline SVG in HTML needs no namespace declaration, so the page names no URL at all.
    Ok(text
        .replacen(
            &head,
            &format!("<svg class=\"chart\" role=\"img\" aria-label=\"{label}\" "),
            1,
        )
        .replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1))
}

fn style(size: u32, colour: &RGBColor) -> TextStyle<'_> {
    TextStyle::from((FONT, size).into_font()).color(colour)
}

fn text(
    area: &Area,
    s: &str,
    at: (i32, i32),
    size: u32,
    colour: &RGBColor,
    h: HPos,
    v: VPos,
) -> Drawn {
    area.draw(&Text::new(
        s.to_owned(),
        at,
        style(size, colour).pos(Pos::new(h, v)),
    ))?;
    Ok(())
}

fn bold(area: &Area, s: &str, at: (i32, i32), size: u32, colour: &RGBColor, h: HPos) -> Drawn {
    let font = (FONT, size).into_font().style(FontStyle::Bold);
    let st = TextStyle::from(font)
        .color(colour)
        .pos(Pos::new(h, VPos::Center));
    area.draw(&Text::new(s.to_owned(), at, st))?;
    Ok(())
}

/// A width estimate for a label (the SVG is laid out before any font is known).
fn text_width(s: &str, size: u32) -> i32 {
    (s.chars().count() as f64 * f64::from(size) * 0.56).ceil() as i32
}

/// `s` cut to at most `max` characters, the last one `…` when it was cut.
fn shortened(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        format!(
            "{}…",
            s.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    } else {
        s.to_owned()
    }
}

fn legend(area: &Area, items: &[(String, RGBColor)], at: (i32, i32)) -> Drawn {
    let (mut x, y) = at;
    for (name, colour) in items {
        area.draw(&Rectangle::new(
            [(x, y - 6), (x + 12, y + 6)],
            colour.filled(),
        ))?;
        text(area, name, (x + 17, y), 12, &INK, HPos::Left, VPos::Center)?;
        x += 17 + text_width(name, 12) + 22;
    }
    Ok(())
}

fn rounded_range(lo: f64, hi: f64) -> (f64, f64) {
    let span = (hi - lo).max(1e-9);
    (lo - span * 0.08, hi + span * 0.08)
}

/// The portfolio matrix: each live point with a verdict placed by effectiveness (x) and net
/// value per interaction (y), sized by volume, coloured by verdict, labelled with its key.
pub fn portfolio_matrix(report: &Report) -> Result<Option<String>, ReportError> {
    let placed: Vec<_> = report
        .points
        .iter()
        .filter_map(|p| {
            let s = &p.card.scorecard;
            Some((p, s.effectiveness?, s.net_value_per?, p.verdict?))
        })
        .collect();
    if placed.is_empty() {
        return Ok(None);
    }
    let threshold = report.settings.quality_threshold;
    let (mut x_lo, mut x_hi) = placed.iter().fold((threshold, threshold), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    (x_lo, x_hi) = rounded_range(x_lo, x_hi);
    let (x_lo, x_hi) = (x_lo.max(0.0), x_hi.min(1.0));
    let (y_lo, y_hi) = placed
        .iter()
        .fold((0.0_f64, 0.0_f64), |(lo, hi), p| (lo.min(p.2), hi.max(p.2)));
    let (y_lo, y_hi) = rounded_range(y_lo, y_hi);
    let max_volume = placed
        .iter()
        .map(|p| p.0.card.scorecard.volume)
        .max()
        .unwrap_or(1)
        .max(1);
    let words = Words::new(&report.currency);
    let (w, h) = (960, 560);
    svg(
        w,
        h,
        "Portfolio matrix: effectiveness against net value per interaction",
        |root| {
            let mut items: Vec<(String, RGBColor)> = [
                Verdict::Invest,
                Verdict::Improve,
                Verdict::Eliminate,
                Verdict::InsufficientData,
            ]
            .into_iter()
            .map(|v| (verdict(v).to_owned(), verdict_colour(v)))
            .collect();
            items.push(("bubble area = interactions".to_owned(), WHITE));
            legend(root, &items[..4], (70, 18))?;
            text(
                root,
                &items[4].0,
                (w as i32 - 20, 18),
                12,
                &MUTED,
                HPos::Right,
                VPos::Center,
            )?;
            let mut chart = ChartBuilder::on(root)
                .margin_top(34)
                .margin_right(24)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .bold_line_style(GRID)
                .axis_style(RULE)
                .x_desc("Effectiveness (satisfaction, resolution, engagement) →")
                .y_desc("Net value per interaction →")
                .x_label_formatter(&|v| pct(Some(*v)))
                .y_label_formatter(&|v| words.per(*v))
                .label_style(style(12, &MUTED))
                .axis_desc_style(style(13, &INK))
                .draw()?;
            // The quality bar and break-even.
            chart.draw_series(std::iter::once(DashedPathElement::new(
                vec![(threshold, y_lo), (threshold, y_hi)],
                6,
                4,
                MUTED.stroke_width(1),
            )))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x_lo, 0.0), (x_hi, 0.0)],
                MUTED.stroke_width(1),
            )))?;
            let (tx, ty) = chart.backend_coord(&(threshold, y_hi));
            text(
                root,
                &format!("quality bar {}", pct(Some(threshold))),
                (tx + 5, ty + 10),
                11,
                &MUTED,
                HPos::Left,
                VPos::Center,
            )?;
            let (_, zy) = chart.backend_coord(&(x_lo, 0.0));
            let (zx, _) = chart.backend_coord(&(x_hi, 0.0));
            text(
                root,
                "break-even",
                (zx - 4, zy - 8),
                11,
                &MUTED,
                HPos::Right,
                VPos::Center,
            )?;
            // Biggest first, so small bubbles stay visible on top.
            let mut order = placed.clone();
            order.sort_by_key(|p| std::cmp::Reverse(p.0.card.scorecard.volume));
            let radius = |v: u64| 4.0 + 22.0 * (v as f64 / max_volume as f64).sqrt();
            for (p, x, y, v) in &order {
                let r = radius(p.card.scorecard.volume) as i32;
                let c = verdict_colour(*v);
                chart.draw_series(std::iter::once(Circle::new(
                    (*x, *y),
                    r,
                    c.mix(0.35).filled(),
                )))?;
                chart.draw_series(std::iter::once(Circle::new((*x, *y), r, c.stroke_width(2))))?;
            }
            // Labels beside their bubbles, moved to a free spot when they would overlap.
            let mut taken: Vec<(i32, i32, i32, i32)> = order
                .iter()
                .map(|(p, x, y, _)| {
                    let (cx, cy) = chart.backend_coord(&(*x, *y));
                    let r = (radius(p.card.scorecard.volume) * 0.6) as i32;
                    (cx - r, cy - r, cx + r, cy + r)
                })
                .collect();
            let (plot_x, plot_y) = chart.plotting_area().get_pixel_range();
            let mut labelled = order.clone();
            labelled.sort_by(|a, b| b.2.total_cmp(&a.2));
            for (p, x, y, _) in &labelled {
                let (cx, cy) = chart.backend_coord(&(*x, *y));
                let r = radius(p.card.scorecard.volume) as i32;
                let label = p.key();
                let tw = text_width(label, 11);
                let candidates = [
                    (cx + r + 3, cy),
                    (cx - r - 3 - tw, cy),
                    (cx - tw / 2, cy - r - 8),
                    (cx - tw / 2, cy + r + 8),
                    (cx + r + 3, cy - 13),
                    (cx + r + 3, cy + 13),
                    (cx - r - 3 - tw, cy - 13),
                    (cx - r - 3 - tw, cy + 13),
                    (cx + r + 3, cy - 26),
                    (cx + r + 3, cy + 26),
                ];
                let fits = |(lx, ly): (i32, i32)| {
                    let b = (lx, ly - 7, lx + tw, ly + 7);
                    b.0 >= plot_x.start
                        && b.2 <= plot_x.end
                        && b.1 >= plot_y.start
                        && b.3 <= plot_y.end
                        && !taken
                            .iter()
                            .any(|t| b.0 < t.2 && t.0 < b.2 && b.1 < t.3 && t.1 < b.3)
                };
                let (index, spot) = candidates
                    .iter()
                    .copied()
                    .enumerate()
                    .find(|(_, c)| fits(*c))
                    .unwrap_or((0, candidates[0]));
                taken.push((spot.0, spot.1 - 7, spot.0 + tw, spot.1 + 7));
                if index >= 4 {
                    // Moved away from its bubble: a hairline back to it.
                    let end = if spot.0 > cx {
                        (spot.0 - 2, spot.1)
                    } else if spot.0 + tw < cx {
                        (spot.0 + tw + 2, spot.1)
                    } else {
                        (cx, spot.1 + if spot.1 > cy { -7 } else { 7 })
                    };
                    let (dx, dy) = (f64::from(end.0 - cx), f64::from(end.1 - cy));
                    let len = (dx * dx + dy * dy).sqrt().max(1.0);
                    let start = (
                        cx + (dx / len * f64::from(r)).round() as i32,
                        cy + (dy / len * f64::from(r)).round() as i32,
                    );
                    root.draw(&PathElement::new(vec![start, end], MUTED.stroke_width(1)))?;
                }
                text(root, label, spot, 11, &INK, HPos::Left, VPos::Center)?;
            }
            Ok(())
        },
    )
    .map(Some)
}

/// Achieved vs expected per point: volume attained and value per interaction attained, as
/// bars against 100 % (as expected) and the adequacy bar.
pub fn attainment(report: &Report) -> Result<Option<String>, ReportError> {
    let rows: Vec<_> = report
        .points
        .iter()
        .filter(|p| {
            let s = &p.card.scorecard;
            s.volume_attainment.is_some() || s.value_company_attainment.is_some()
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let cap = 2.0;
    let row_h = 30;
    let (w, top, bottom) = (960, 40, 40);
    let h = top + bottom + row_h * rows.len() as u32;
    let adequacy = report.settings.adequacy;
    let volume_colour = RGBColor(0x25, 0x63, 0xeb);
    let value_colour = RGBColor(0x05, 0x96, 0x69);
    svg(w, h, "Achieved against expected, per point", |root| {
        legend(
            root,
            &[
                ("volume attained".to_owned(), volume_colour),
                (
                    "company value per interaction attained".to_owned(),
                    value_colour,
                ),
            ],
            (250, 16),
        )?;
        let n = rows.len() as f64;
        let mut chart = ChartBuilder::on(root)
            .margin_top(top - 10)
            .margin_right(60)
            .x_label_area_size(30)
            .y_label_area_size(240)
            .build_cartesian_2d(0.0..cap, 0.0..n)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(RULE)
            .x_label_formatter(&|v| pct(Some(*v)))
            .label_style(style(12, &MUTED))
            .draw()?;
        for (i, p) in rows.iter().enumerate() {
            let y = n - i as f64;
            let s = &p.card.scorecard;
            let (lx, ly) = chart.backend_coord(&(0.0, y - 0.5));
            let colour = p.verdict.map_or(MUTED, verdict_colour);
            root.draw(&Circle::new((lx - 10, ly), 4, colour.filled()))?;
            let name = shortened(&p.name, 34);
            text(
                root,
                &name,
                (lx - 20, ly),
                12,
                &INK,
                HPos::Right,
                VPos::Center,
            )?;
            for (k, (figure, colour)) in [
                (s.volume_attainment, volume_colour),
                (s.value_company_attainment, value_colour),
            ]
            .into_iter()
            .enumerate()
            {
                let Some(v) = figure else { continue };
                let lo = y - 0.5 + if k == 0 { 0.04 } else { -0.38 };
                let hi = lo + 0.34;
                let shown = v.clamp(0.0, cap);
                let colour = if v < adequacy {
                    colour.mix(0.55)
                } else {
                    colour.mix(1.0)
                };
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(0.0, lo), (shown, hi)],
                    colour.filled(),
                )))?;
                let (bx, by) = chart.backend_coord(&(shown, (lo + hi) / 2.0));
                let label = if v > cap {
                    format!("{} ▸", pct(Some(v)))
                } else {
                    pct(Some(v))
                };
                text(
                    root,
                    &label,
                    (bx + 4, by),
                    10,
                    &INK,
                    HPos::Left,
                    VPos::Center,
                )?;
            }
        }
        for (x, dashed) in [(1.0, false), (adequacy, true)] {
            if dashed {
                chart.draw_series(std::iter::once(DashedPathElement::new(
                    vec![(x, 0.0), (x, n)],
                    5,
                    4,
                    MUTED.stroke_width(1),
                )))?;
            } else {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, n)],
                    INK.stroke_width(1),
                )))?;
            }
        }
        let (ax, ay) = chart.backend_coord(&(adequacy, n));
        text(
            root,
            &format!("bar {}", pct(Some(adequacy))),
            (ax - 4, ay - 8),
            11,
            &MUTED,
            HPos::Right,
            VPos::Center,
        )?;
        let (ex, ey) = chart.backend_coord(&(1.0, n));
        text(
            root,
            "as expected",
            (ex + 4, ey - 8),
            11,
            &MUTED,
            HPos::Left,
            VPos::Center,
        )?;
        Ok(())
    })
    .map(Some)
}

/// Attributed (Markov) against own net value, per point on a journey of the period: two bars
/// each, on a signed square-root scale (one point's own value in the hundreds of thousands
/// would flatten every other bar), the verdict at the end of the row. A point that looks poor
/// alone but carries journeys shows a short or negative own bar beside a long attributed one.
pub fn attribution(report: &Report) -> Result<Option<String>, ReportError> {
    let mut rows: Vec<(&crate::model::PointCard, f64, f64)> = report
        .points
        .iter()
        .filter_map(|p| {
            let s = &p.card.scorecard;
            s.attribution.journeys_through.map(|_| {
                (
                    p,
                    s.net_value,
                    s.attribution.attributed_value_markov.unwrap_or(0.0),
                )
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    rows.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.name.cmp(&b.0.name)));
    let words = Words::new(&report.currency);
    let root_of = |v: f64| v.signum() * v.abs().sqrt();
    let lo = rows
        .iter()
        .flat_map(|r| [root_of(r.1), root_of(r.2)])
        .fold(0.0_f64, f64::min);
    let hi = rows
        .iter()
        .flat_map(|r| [root_of(r.1), root_of(r.2)])
        .fold(1.0_f64, f64::max);
    // The bars end `right` short of the edge: room for the figure after the longest bar,
    // then the verdict.
    let (w, left, right, top, row_h) = (960_i32, 270_i32, 170_i32, 54_i32, 30_i32);
    let h = top + row_h * rows.len() as i32 + 34;
    let x = |v: f64| left + (f64::from(w - left - right) * (root_of(v) - lo) / (hi - lo)) as i32;
    let own_colour = RGBColor(0x8a, 0x93, 0xa6);
    let attributed_colour = RGBColor(0x24, 0x56, 0xc7);
    let drawn = svg(
        w as u32,
        h as u32,
        "Attributed through journeys against own net value, per point",
        |root| {
            legend(
                root,
                &[
                    ("own net value".to_owned(), own_colour),
                    ("attributed through journeys".to_owned(), attributed_colour),
                ],
                (left, 16),
            )?;
            // Grid: zero, and the largest value either way with its halves and quarters
            // (on this scale a quarter of the value sits half way out).
            let extreme = |r: f64| r * r;
            let mut ticks = vec![0.0];
            for end in [lo, hi] {
                if end.abs() > 1.0 {
                    for f in [0.25, 1.0] {
                        ticks.push(end.signum() * extreme(end.abs()) * f);
                    }
                }
            }
            let bottom = top + row_h * rows.len() as i32;
            for t in &ticks {
                let tx = x(*t);
                root.draw(&PathElement::new(
                    vec![(tx, top - 6), (tx, bottom)],
                    if *t == 0.0 { RULE } else { GRID }.stroke_width(1),
                ))?;
                text(
                    root,
                    &words.money(*t),
                    (tx, bottom + 14),
                    11,
                    &MUTED,
                    HPos::Center,
                    VPos::Center,
                )?;
            }
            for (i, (p, own, attributed)) in rows.iter().enumerate() {
                let y = top + row_h * i as i32;
                let name = shortened(&p.name, 40);
                text(
                    root,
                    &name,
                    (left - 10, y + 12),
                    12,
                    &INK,
                    HPos::Right,
                    VPos::Center,
                )?;
                for (v, dy, colour) in [(*own, 1, own_colour), (*attributed, 12, attributed_colour)]
                {
                    let (a, b) = (x(0.0).min(x(v)), x(0.0).max(x(v)));
                    root.draw(&Rectangle::new(
                        [(a, y + dy), (b.max(a + 1), y + dy + 10)],
                        colour.filled(),
                    ))?;
                    // The figure after the bar, or after zero for a negative one (the names
                    // are left of the bars).
                    text(
                        root,
                        &words.money(v),
                        (b + 4, y + dy + 5),
                        10,
                        &INK,
                        HPos::Left,
                        VPos::Center,
                    )?;
                }
                let verdict_word = p.verdict.map_or("not live", verdict);
                let colour = p.verdict.map_or(MUTED, verdict_colour);
                text(
                    root,
                    verdict_word,
                    (w - 90, y + 12),
                    12,
                    &colour,
                    HPos::Left,
                    VPos::Center,
                )?;
            }
            text(
                root,
                "square-root scale",
                (w - 90, bottom + 14),
                11,
                &MUTED,
                HPos::Left,
                VPos::Center,
            )?;
            Ok(())
        },
    )?;
    Ok(Some(drawn))
}

/// The outcomes funnel of a scorecard: intent → satisfaction → knowledge → resolution →
/// engagement, each bar as wide as its rate.
pub fn funnel(card: &Card) -> Result<Option<String>, ReportError> {
    let s = &card.scorecard;
    if s.volume == 0 {
        return Ok(None);
    }
    let stages = [
        ("Intent captured", s.intent_rate),
        ("Satisfied (CSAT)", s.csat),
        ("Knowledge gained", s.knowledge_rate),
        ("Resolved", s.resolution_rate),
        ("Engaged further", s.engagement_rate),
    ];
    let colour = RGBColor(0x0e, 0x74, 0x90);
    let (w, h) = (960, 300);
    svg(w, h, "Outcomes funnel", |root| {
        let n = stages.len() as f64;
        let chart = ChartBuilder::on(root)
            .margin(12)
            .y_label_area_size(170)
            .margin_right(170)
            .build_cartesian_2d(-0.5..0.5, 0.0..n)?;
        for (i, (name, rate)) in stages.iter().enumerate() {
            let y = n - i as f64;
            let r = rate.unwrap_or(0.0).clamp(0.0, 1.0);
            let area = chart.plotting_area();
            area.draw(&Rectangle::new(
                [(-0.5, y - 0.08), (0.5, y - 0.92)],
                GRID.filled(),
            ))?;
            area.draw(&Rectangle::new(
                [(-r / 2.0, y - 0.08), (r / 2.0, y - 0.92)],
                colour.mix(0.35 + 0.65 * (1.0 - i as f64 / n)).filled(),
            ))?;
            let (lx, ly) = chart.backend_coord(&(-0.5, y - 0.5));
            text(
                root,
                name,
                (lx - 12, ly),
                14,
                &INK,
                HPos::Right,
                VPos::Center,
            )?;
            let (rx, _) = chart.backend_coord(&(0.5, y - 0.5));
            let figure = match rate {
                Some(_) => pct(*rate),
                None => "not recorded".to_owned(),
            };
            bold(root, &figure, (rx + 14, ly), 15, &INK, HPos::Left)?;
        }
        Ok(())
    })
    .map(Some)
}

/// Machine, people and hybrid points side by side: their outcome rates as grouped bars.
pub fn modes(report: &Report) -> Result<Option<String>, ReportError> {
    let modes: Vec<(Mode, &Card)> = report
        .modes
        .iter()
        .filter(|c| c.scorecard.volume > 0)
        .filter_map(|c| {
            let mode = match c.key.as_deref()? {
                "machine" => Mode::Machine,
                "people" => Mode::People,
                "hybrid" => Mode::Hybrid,
                _ => return None,
            };
            Some((mode, c))
        })
        .collect();
    if modes.is_empty() {
        return Ok(None);
    }
    type Figure = fn(&Card) -> Option<f64>;
    let figures: [(&str, Figure); 7] = [
        ("Effectiveness", |c| c.scorecard.effectiveness),
        ("CSAT", |c| c.scorecard.csat),
        ("Resolved", |c| c.scorecard.resolution_rate),
        ("Engaged", |c| c.scorecard.engagement_rate),
        ("Intent captured", |c| c.scorecard.intent_rate),
        ("Knowledge gained", |c| c.scorecard.knowledge_rate),
        ("Data conformant", |c| c.scorecard.conformance_rate),
    ];
    let (w, h) = (960, 340);
    svg(
        w,
        h,
        "Machine, people and hybrid points: outcome rates",
        |root| {
            let items: Vec<(String, RGBColor)> = modes
                .iter()
                .map(|(m, c)| {
                    (
                        format!(
                            "{} ({} interactions)",
                            touchbase_core::enum_name(m),
                            count(c.scorecard.volume)
                        ),
                        mode_colour(*m),
                    )
                })
                .collect();
            legend(root, &items, (70, 16))?;
            let n = figures.len() as f64;
            let mut chart = ChartBuilder::on(root)
                .margin_top(34)
                .margin_right(16)
                .x_label_area_size(34)
                .y_label_area_size(56)
                .build_cartesian_2d(0.0..n, 0.0..1.0)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .light_line_style(WHITE)
                .bold_line_style(GRID)
                .axis_style(RULE)
                .y_label_formatter(&|v| pct(Some(*v)))
                .label_style(style(12, &MUTED))
                .draw()?;
            let width = 0.8 / modes.len() as f64;
            for (i, (name, figure)) in figures.iter().enumerate() {
                let x0 = i as f64 + 0.1;
                for (k, (mode, card)) in modes.iter().enumerate() {
                    let Some(v) = figure(card) else { continue };
                    let lo = x0 + k as f64 * width;
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(lo + 0.01, 0.0), (lo + width - 0.01, v.clamp(0.0, 1.0))],
                        mode_colour(*mode).filled(),
                    )))?;
                    let (bx, by) = chart.backend_coord(&(lo + width / 2.0, v.clamp(0.0, 1.0)));
                    text(
                        root,
                        &pct(Some(v)),
                        (bx, by - 7),
                        10,
                        &INK,
                        HPos::Center,
                        VPos::Center,
                    )?;
                }
                let (lx, ly) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
                text(
                    root,
                    name,
                    (lx, ly + 16),
                    12,
                    &INK,
                    HPos::Center,
                    VPos::Center,
                )?;
            }
            Ok(())
        },
    )
    .map(Some)
}

/// The journeys' directly-follows graph: the most travelled steps between points, the
/// points in one column per business function (its swimlane), each arrow as thick as it is
/// travelled, hand-offs between functions in their own colour.
pub fn journeys(report: &Report, top_edges: usize) -> Result<Option<String>, ReportError> {
    use touchbase_core::journeys::Node;
    let function_of = |key: &str| {
        report
            .function_of(key)
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let mut edges: Vec<(&str, &str, u64)> = report
        .journeys
        .edges
        .iter()
        .filter_map(|e| match (&e.from, &e.to) {
            (Node::Point(a), Node::Point(b)) if a != b => Some((a.as_str(), b.as_str(), e.count)),
            _ => None,
        })
        .collect();
    edges.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (a.0, a.1).cmp(&(b.0, b.1))));
    edges.truncate(top_edges);
    if edges.is_empty() {
        return Ok(None);
    }
    // The functions in the inventory's order, each with its points by traffic.
    let colours = function_colours(report);
    let mut traffic: BTreeMap<&str, u64> = BTreeMap::new();
    for (a, b, n) in &edges {
        *traffic.entry(a).or_default() += n;
        *traffic.entry(b).or_default() += n;
    }
    let mut lanes: Vec<(String, Vec<&str>)> = report
        .inventory
        .by_function
        .iter()
        .map(|f| (f.name.clone(), Vec::new()))
        .chain(std::iter::once(("unknown".to_owned(), Vec::new())))
        .collect();
    for key in traffic.keys() {
        let f = function_of(key);
        if let Some(lane) = lanes.iter_mut().find(|l| l.0 == f) {
            lane.1.push(key);
        }
    }
    lanes.retain(|l| !l.1.is_empty());
    for lane in &mut lanes {
        lane.1
            .sort_by(|a, b| traffic[b].cmp(&traffic[a]).then_with(|| a.cmp(b)));
    }
    let tallest = lanes.iter().map(|l| l.1.len()).max().unwrap_or(1) as i32;
    let (w, top, row_h, box_h) = (960_i32, 80_i32, 84_i32, 30_i32);
    let lane_w = (w - 20) / lanes.len() as i32;
    let box_w = (lane_w - 64).min(160);
    // Every other lane half a row lower, so that steps between neighbours slant apart.
    let h = top + tallest * row_h + row_h / 2 + 6;
    let mut at: BTreeMap<&str, (i32, i32, usize)> = BTreeMap::new();
    for (i, lane) in lanes.iter().enumerate() {
        let cx = 10 + lane_w * i as i32 + lane_w / 2;
        let offset = if i % 2 == 1 { row_h / 2 } else { 0 };
        for (k, key) in lane.1.iter().enumerate() {
            at.insert(key, (cx, top + offset + row_h * k as i32 + row_h / 2, i));
        }
    }
    let max_count = edges.iter().map(|e| e.2).max().unwrap_or(1).max(1);
    svg(
        w as u32,
        h as u32,
        "Journeys: the most travelled steps between points, by business function",
        |root| {
            // The key.
            let y = 16;
            root.draw(&PathElement::new(
                vec![(12, y), (44, y)],
                HANDOFF.stroke_width(3),
            ))?;
            let label = "hand-off between business functions";
            text(root, label, (50, y), 12, &INK, HPos::Left, VPos::Center)?;
            let x2 = 50 + text_width(label, 12) + 24;
            root.draw(&PathElement::new(
                vec![(x2, y), (x2 + 32, y)],
                MUTED.stroke_width(2),
            ))?;
            text(
                root,
                "within one function",
                (x2 + 38, y),
                12,
                &INK,
                HPos::Left,
                VPos::Center,
            )?;
            let x3 = x2 + 38 + text_width("within one function", 12) + 24;
            text(
                root,
                "arrow width = journeys taking the step; labels count them",
                (x3, y),
                12,
                &MUTED,
                HPos::Left,
                VPos::Center,
            )?;
            // The swimlanes.
            for (i, (name, _)) in lanes.iter().enumerate() {
                let x0 = 10 + lane_w * i as i32;
                let colour = colours.get(name).copied().unwrap_or(MUTED);
                root.draw(&Rectangle::new(
                    [(x0 + 3, 40), (x0 + lane_w - 3, h - 4)],
                    colour.mix(0.05).filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x0 + 3, 40), (x0 + lane_w - 3, 44)],
                    colour.filled(),
                ))?;
                bold(root, name, (x0 + lane_w / 2, 60), 13, &INK, HPos::Center)?;
            }
            // The steps, least travelled first so the busiest are drawn on top.
            // Each step's curve, its count and its colour.
            type Label = (Vec<(i32, i32)>, String, RGBColor);
            let mut labels: Vec<Label> = Vec::new();
            for (a, b, n) in edges.iter().rev() {
                let (&(ax, ay, al), &(bx, by, bl)) = (&at[a], &at[b]);
                let handoff = al != bl;
                let width = 1 + (5.0 * *n as f64 / max_count as f64).round() as u32;
                let colour = if handoff { HANDOFF } else { MUTED };
                let half = box_w / 2;
                let (start, end, bend) = if al == bl {
                    // Within the lane: an arc beside the boxes, on the right going down, on the
                    // left going up.
                    let (side, out) = if by > ay {
                        (ax + half, 1)
                    } else {
                        (ax - half, -1)
                    };
                    let bulge = out * (22 + (ay - by).abs() / 8).min(28);
                    (
                        (side, ay),
                        (side + out * 2, by),
                        (side + bulge, (ay + by) / 2),
                    )
                } else if al < bl {
                    // Forward steps leave a little above the middle and bend up.
                    let (sy, ey) = (ay - 5, by - 5);
                    (
                        (ax + half, sy),
                        (bx - half - 2, ey),
                        ((ax + bx) / 2, (sy + ey) / 2 - 16),
                    )
                } else {
                    // Backward steps a little below, bending down.
                    let (sy, ey) = (ay + 5, by + 5);
                    (
                        (ax - half, sy),
                        (bx + half + 2, ey),
                        ((ax + bx) / 2, (sy + ey) / 2 + 16),
                    )
                };
                let curve: Vec<(i32, i32)> = (0..=24)
                    .map(|i| {
                        let t = f64::from(i) / 24.0;
                        let q = |p0: i32, p1: i32, p2: i32| {
                            ((1.0 - t).powi(2) * f64::from(p0)
                                + 2.0 * (1.0 - t) * t * f64::from(p1)
                                + t * t * f64::from(p2))
                            .round() as i32
                        };
                        (q(start.0, bend.0, end.0), q(start.1, bend.1, end.1))
                    })
                    .collect();
                root.draw(&PathElement::new(
                    curve.clone(),
                    colour.mix(0.75).stroke_width(width),
                ))?;
                // The arrowhead along the curve's last stretch.
                let (px, py) = curve[21];
                let (dx, dy) = (f64::from(end.0 - px), f64::from(end.1 - py));
                let len = (dx * dx + dy * dy).sqrt().max(1.0);
                let (ux, uy) = (dx / len, dy / len);
                let size = 8.0 + f64::from(width);
                let base = (f64::from(end.0) - ux * size, f64::from(end.1) - uy * size);
                let wing = |s: f64| {
                    (
                        (base.0 - uy * s * 0.5).round() as i32,
                        (base.1 + ux * s * 0.5).round() as i32,
                    )
                };
                root.draw(&Polygon::new(
                    vec![end, wing(size), wing(-size)],
                    colour.filled(),
                ))?;
                labels.push((curve, count(*n), colour));
            }
            // Each step's count on a white ground, over the arrows, the busiest placed first:
            // at the middle of its arrow, or further along it where that is taken.
            let mut taken: Vec<(i32, i32, i32, i32)> = at
                .values()
                .map(|&(cx, cy, _)| {
                    (
                        cx - box_w / 2,
                        cy - box_h / 2,
                        cx + box_w / 2,
                        cy + box_h / 2,
                    )
                })
                .collect();
            for (curve, label, colour) in labels.iter().rev() {
                let half = text_width(label, 10) / 2 + 3;
                let rect = |(x, y): (i32, i32)| (x - half, y - 7, x + half, y + 7);
                let free = |r: (i32, i32, i32, i32)| {
                    !taken
                        .iter()
                        .any(|t| r.0 < t.2 && t.0 < r.2 && r.1 < t.3 && t.1 < r.3)
                };
                let (x, y) = [12, 8, 16, 6, 18, 4, 20, 10, 14]
                    .into_iter()
                    .map(|i| curve[i])
                    .find(|p| free(rect(*p)))
                    .unwrap_or(curve[12]);
                taken.push(rect((x, y)));
                root.draw(&Rectangle::new(
                    [(x - half, y - 7), (x + half, y + 7)],
                    WHITE.mix(0.9).filled(),
                ))?;
                text(root, label, (x, y), 10, colour, HPos::Center, VPos::Center)?;
            }
            // The points.
            for (key, &(cx, cy, lane)) in &at {
                let colour = colours.get(&lanes[lane].0).copied().unwrap_or(MUTED);
                let (x0, y0) = (cx - box_w / 2, cy - box_h / 2);
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + box_w, y0 + box_h)],
                    WHITE.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + box_w, y0 + box_h)],
                    colour.mix(0.16).filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + box_w, y0 + box_h)],
                    colour.stroke_width(1),
                ))?;
                let max = ((box_w - 8) as f64 / (10.0 * 0.56)) as usize;
                let label = shortened(key, max);
                text(root, &label, (cx, cy), 10, &INK, HPos::Center, VPos::Center)?;
            }
            Ok(())
        },
    )
    .map(Some)
}
