//! The report's charts, drawn with `plotters` as SVG: equity over dated time
//! with the starting capital, the market's closed hours shaded, gridlines
//! and trade markers; and the drawdown from the running peak.
//!
//! Invariant: a chart is a function of the report's JSON alone (its curve
//! points, its round trips): the same report draws the same bytes.

use chrono::{DateTime, Utc};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

/// A gap between two points longer than this, and than
/// [`GAP_MEDIANS`] times the curve's median step, is the market closed
/// (a night, a weekend, a holiday): shaded, not drawn as trading.
const MIN_GAP_S: i64 = 2 * 3600;
const GAP_MEDIANS: i64 = 4;
const WIDTH: u32 = 900;
const HEIGHT: u32 = 300;
const GRID_LIGHT: RGBColor = RGBColor(238, 238, 238);
const GRID_BOLD: RGBColor = RGBColor(214, 214, 214);
const CLOSED: RGBColor = RGBColor(243, 243, 243);
const EQUITY: RGBColor = RGBColor(31, 111, 235);
const CAPITAL: RGBColor = RGBColor(120, 120, 120);
const LOSS: RGBColor = RGBColor(207, 34, 46);
const LONG: RGBColor = RGBColor(26, 127, 55);

pub type Points = Vec<(DateTime<Utc>, f64)>;

/// A curve's points from the report (`[{at, equity}]`); unreadable ones
/// are left out.
pub fn points(curve: &Value) -> Points {
    curve
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let at = DateTime::parse_from_rfc3339(p["at"].as_str()?).ok()?;
            let v: f64 = p["equity"].as_str()?.parse().ok()?;
            Some((at.with_timezone(&Utc), v))
        })
        .collect()
}

/// Where the market was closed: spans between consecutive points longer
/// than both [`MIN_GAP_S`] and [`GAP_MEDIANS`] median steps.
pub fn closed_spans(points: &[(DateTime<Utc>, f64)]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut steps: Vec<i64> = points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).num_seconds())
        .collect();
    if steps.is_empty() {
        return Vec::new();
    }
    steps.sort_unstable();
    let gap = MIN_GAP_S.max(GAP_MEDIANS * steps[steps.len() / 2]);
    points
        .windows(2)
        .filter(|w| (w[1].0 - w[0].0).num_seconds() > gap)
        .map(|w| (w[0].0, w[1].0))
        .collect()
}

/// The fall from the running peak at each point, in percent (0 or below).
pub fn drawdown(points: &[(DateTime<Utc>, f64)]) -> Points {
    let mut peak = f64::MIN;
    points
        .iter()
        .map(|&(at, v)| {
            peak = peak.max(v);
            let dd = if peak > 0.0 {
                (v / peak - 1.0) * 100.0
            } else {
                0.0
            };
            (at, dd)
        })
        .collect()
}

/// A trade's mark on an equity chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// A long round trip opened here.
    OpenLong,
    OpenShort,
    /// A round trip closed here.
    Close,
}

/// The strategy's round trips as marks, in time order.
pub fn marks(trips: &[&Value]) -> Vec<(DateTime<Utc>, Mark)> {
    let at = |v: &Value| {
        DateTime::parse_from_rfc3339(v.as_str()?)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    };
    let mut out: Vec<(DateTime<Utc>, Mark)> = Vec::new();
    for t in trips {
        let open = if t["side"] == "short" {
            Mark::OpenShort
        } else {
            Mark::OpenLong
        };
        out.extend(at(&t["opened"]).map(|d| (d, open)));
        out.extend(at(&t["closed"]).map(|d| (d, Mark::Close)));
    }
    out.sort_by_key(|(d, _)| *d);
    out
}

/// The value of the curve at `at`: its last point at or before, else its first.
fn value_at(points: &[(DateTime<Utc>, f64)], at: DateTime<Utc>) -> f64 {
    let i = points.partition_point(|(d, _)| *d <= at);
    points[i.saturating_sub(1)].1
}

/// Lows and highs of `values`, padded by 5 % of their span (a flat curve
/// gets ±1).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 1.0 };
    (lo - pad, hi + pad)
}

/// Labels of the time axis: dates over days, hours within one.
fn time_label(span_s: i64) -> impl Fn(&DateTime<Utc>) -> String {
    move |d| match span_s > 3 * 86_400 {
        true => d.format("%b %d").to_string(),
        false => d.format("%b %d %H:%M").to_string(),
    }
}

type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedDateTime<DateTime<Utc>>, RangedCoordf64>>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What every chart has: its caption, a dated time axis over `points`,
/// the value axis from `lo` to `hi`, gridlines, the market's closed hours
/// shaded.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    points: &[(DateTime<Utc>, f64)],
    (lo, hi): (f64, f64),
    y_label: &dyn Fn(&f64) -> String,
    y_desc: &str,
) -> Result<Chart<'a, 'b>, String> {
    root.fill(&WHITE).map_err(err)?;
    let (from, to) = (points[0].0, points[points.len() - 1].0);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(80)
        .build_cartesian_2d(from..to, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(GRID_LIGHT)
        .max_light_lines(2)
        .bold_line_style(GRID_BOLD)
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&time_label((to - from).num_seconds()))
        .y_label_formatter(y_label)
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            closed_spans(points)
                .iter()
                .map(|(a, b)| Rectangle::new([(*a, lo), (*b, hi)], CLOSED.filled())),
        )
        .map_err(err)?
        .label("market closed")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], CLOSED.filled()));
    Ok(chart)
}

/// A chart: `None` when there is nothing to draw (fewer than two points),
/// else its SVG or why it could not be drawn.
pub type Drawn = Option<Result<String, String>>;

/// An equity chart: the curve, the starting capital, the closed hours and
/// the trade marks.
pub fn equity(
    title: &str,
    points: &[(DateTime<Utc>, f64)],
    capital: Option<f64>,
    marks: &[(DateTime<Utc>, Mark)],
) -> Drawn {
    if points.len() < 2 {
        return None;
    }
    let mut svg = String::new();
    let drawn = draw_equity(&mut svg, title, points, capital, marks);
    Some(drawn.map(|()| svg))
}

fn draw_equity(
    svg: &mut String,
    title: &str,
    points: &[(DateTime<Utc>, f64)],
    capital: Option<f64>,
    marks: &[(DateTime<Utc>, Mark)],
) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    let (from, to) = (points[0].0, points[points.len() - 1].0);
    let y = bounds(points.iter().map(|p| p.1).chain(capital));
    let mut chart = frame(&root, title, points, y, &|v| format!("{v:.0}"), "USD")?;
    if let Some(c) = capital {
        chart
            .draw_series(DashedLineSeries::new(
                [(from, c), (to, c)],
                6,
                4,
                CAPITAL.stroke_width(1),
            ))
            .map_err(err)?
            .label("starting capital")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], CAPITAL));
    }
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            EQUITY.stroke_width(2),
        ))
        .map_err(err)?
        .label("equity")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], EQUITY.stroke_width(2)));
    let at = |d: DateTime<Utc>| (d, value_at(points, d));
    for (kind, colour, label) in [
        (Mark::OpenLong, LONG, "long opened"),
        (Mark::OpenShort, LOSS, "short opened"),
    ] {
        if !marks.iter().any(|m| m.1 == kind) {
            continue;
        }
        let opened = marks.iter().filter(|m| m.1 == kind);
        chart
            .draw_series(opened.map(|m| TriangleMarker::new(at(m.0), 5, colour.filled())))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| TriangleMarker::new((x + 7, y), 5, colour.filled()));
    }
    let closes = marks.iter().filter(|m| m.1 == Mark::Close);
    if marks.iter().any(|m| m.1 == Mark::Close) {
        chart
            .draw_series(closes.map(|m| Cross::new(at(m.0), 4, BLACK.stroke_width(1))))
            .map_err(err)?
            .label("trade closed")
            .legend(|(x, y)| Cross::new((x + 7, y), 4, BLACK.stroke_width(1)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(GRID_BOLD)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The drawdown chart: percent below the running peak, as an area.
pub fn drawdown_chart(title: &str, points: &[(DateTime<Utc>, f64)]) -> Drawn {
    if points.len() < 2 {
        return None;
    }
    let dd = drawdown(points);
    let mut svg = String::new();
    let drawn = (|| -> Result<(), String> {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT * 2 / 3)).into_drawing_area();
        let worst = dd.iter().map(|p| p.1).fold(0.0, f64::min);
        let lo = if worst < 0.0 { worst * 1.1 } else { -1.0 };
        let y_label = |v: &f64| format!("{v:.1}%");
        let mut chart = frame(&root, title, points, (lo, 0.0), &y_label, "below peak")?;
        chart
            .draw_series(
                AreaSeries::new(dd.iter().copied(), 0.0, LOSS.mix(0.25)).border_style(LOSS),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
        Ok(())
    })();
    Some(drawn.map(|()| svg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn curve(points: &[(&str, &str)]) -> Value {
        Value::Array(
            points
                .iter()
                .map(|(at, e)| json!({"at": at, "equity": e}))
                .collect(),
        )
    }

    #[test]
    fn nights_and_weekends_are_closed_spans_and_the_drawdown_is_from_the_peak() {
        let c = points(&curve(&[
            ("2026-01-09T14:00:00Z", "100"),
            ("2026-01-09T14:01:00Z", "110"),
            ("2026-01-09T14:02:00Z", "99"),
            // The weekend.
            ("2026-01-12T14:00:00Z", "104.5"),
            ("2026-01-12T14:01:00Z", "120"),
            ("not a time", "1"),
        ]));
        assert_eq!(c.len(), 5, "the unreadable point is left out");
        let closed = closed_spans(&c);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].0.to_rfc3339(), "2026-01-09T14:02:00+00:00");
        let dd: Vec<f64> = drawdown(&c)
            .iter()
            .map(|p| (p.1 * 100.0).round() / 100.0)
            .collect();
        assert_eq!(dd, [0.0, 0.0, -10.0, -5.0, 0.0]);
    }

    #[test]
    fn an_equity_chart_has_its_curve_capital_closed_hours_and_marks() {
        let c = points(&curve(&[
            ("2026-01-09T14:00:00Z", "100000"),
            ("2026-01-09T15:00:00Z", "101000"),
            ("2026-01-12T14:00:00Z", "99500"),
            ("2026-01-12T15:00:00Z", "102000"),
        ]));
        let trips = [
            json!({"side": "long", "opened": "2026-01-09T14:00:00Z", "closed": "2026-01-09T15:00:00Z"}),
            json!({"side": "short", "opened": "2026-01-12T14:00:00Z", "closed": "2026-01-12T15:00:00Z"}),
        ];
        let m = marks(&trips.iter().collect::<Vec<_>>());
        assert_eq!(m.len(), 4);
        let svg = equity("KC <news>", &c, Some(100_000.0), &m)
            .unwrap()
            .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in [
            "starting capital",
            "market closed",
            "long opened",
            "short opened",
            "trade closed",
            "Jan 12",
        ] {
            assert!(svg.contains(text), "{text}: {svg}");
        }
        assert!(
            svg.contains("KC &lt;news&gt;"),
            "the title is escaped: {svg}"
        );
        assert!(svg.contains("<polyline"), "{svg}");
        let dd = drawdown_chart("dd", &c).unwrap().unwrap();
        assert!(dd.contains("below peak") && dd.contains("<polygon"), "{dd}");
        assert_eq!(equity("one point", &c[..1], None, &[]), None);
    }
}
