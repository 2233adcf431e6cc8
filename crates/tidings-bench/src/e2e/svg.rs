//! A hand-written SVG line plot: latency (log scale) against offered load
//! (log scale), one line per series, the relay and Tidings on the same axes.
//! Every series is a `<g data-series="...">` holding one `<polyline>` and a
//! `<circle>` per point, so the plot can be checked by a program too.

use std::fmt::Write as _;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 210.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// One line of the plot.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    /// An SVG colour.
    pub color: &'static str,
    pub dashed: bool,
    /// (offered msg/s, latency ms), positive values only.
    pub points: Vec<(f64, f64)>,
}

/// The plot of `series` under `title`.
pub fn latency_plot(title: &str, series: &[Series]) -> String {
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|&(x, y)| x > 0.0 && y > 0.0 && x.is_finite() && y.is_finite())
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        LEFT + plot_width() / 2.0,
        escape(title)
    );
    if points.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">no open-loop runs</text>"#,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        out.push_str("</svg>\n");
        return out;
    }
    let x_axis = LogAxis::covering(points.iter().map(|p| p.0), false);
    let y_axis = LogAxis::covering(points.iter().map(|p| p.1), true);
    let to_x = |x: f64| LEFT + x_axis.fraction(x) * plot_width();
    let to_y = |y: f64| TOP + (1.0 - y_axis.fraction(y)) * plot_height();

    // Frame, grid and tick labels.
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        plot_width(),
        plot_height()
    );
    let mut rates: Vec<f64> = points.iter().map(|p| p.0).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    for rate in rates {
        let x = to_x(rate);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            TOP + plot_height()
        );
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + plot_height() + 18.0,
            rate_label(rate)
        );
    }
    for decade in y_axis.decades() {
        let y = to_y(decade);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            LEFT + plot_width()
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            millis_label(decade)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">offered load (messages/s, log scale)</text>"#,
        LEFT + plot_width() / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        out,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">send-to-deliver latency (log scale)</text>"#,
        TOP + plot_height() / 2.0,
        TOP + plot_height() / 2.0
    );

    // Series and legend.
    for (i, s) in series.iter().enumerate() {
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let label = escape(&s.label);
        let _ = writeln!(out, r#"<g data-series="{label}">"#);
        let coords: Vec<String> = s
            .points
            .iter()
            .filter(|&&(x, y)| x > 0.0 && y > 0.0)
            .map(|&(x, y)| format!("{:.1},{:.1}", to_x(x), to_y(y)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
            s.color,
            coords.join(" ")
        );
        for coord in &coords {
            let (cx, cy) = coord.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                out,
                r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{}"/>"#,
                s.color
            );
        }
        let ly = TOP + 10.0 + 22.0 * i as f64;
        let lx = WIDTH - RIGHT + 16.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="2"{dash}/>"#,
            lx + 30.0,
            s.color
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}">{label}</text>"#,
            lx + 38.0,
            ly + 4.0
        );
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

/// A base-10 logarithmic axis.
struct LogAxis {
    low: f64,
    high: f64,
}

impl LogAxis {
    /// From the values' range; `whole_decades` widens it to powers of ten,
    /// otherwise it is padded by a fifth of a decade on each side.
    fn covering(values: impl Iterator<Item = f64>, whole_decades: bool) -> LogAxis {
        let (mut low, mut high) = (f64::MAX, f64::MIN);
        for v in values {
            low = low.min(v.log10());
            high = high.max(v.log10());
        }
        if whole_decades {
            low = low.floor();
            high = high.ceil();
            if high <= low {
                high = low + 1.0;
            }
        } else {
            low -= 0.2;
            high += 0.2;
        }
        LogAxis { low, high }
    }

    fn fraction(&self, v: f64) -> f64 {
        (v.log10() - self.low) / (self.high - self.low)
    }

    fn decades(&self) -> impl Iterator<Item = f64> {
        (self.low.round() as i32..=self.high.round() as i32).map(|e| 10f64.powi(e))
    }
}

fn rate_label(rate: f64) -> String {
    if rate >= 1_000.0 && (rate / 1_000.0).fract() == 0.0 {
        format!("{}k", rate / 1_000.0)
    } else {
        format!("{rate}")
    }
}

fn millis_label(ms: f64) -> String {
    if ms >= 1_000.0 {
        format!("{} s", ms / 1_000.0)
    } else if ms >= 1.0 {
        format!("{ms} ms")
    } else {
        format!("{} µs", ms * 1_000.0)
    }
}

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(label: &str, points: &[(f64, f64)]) -> Series {
        Series {
            label: label.into(),
            color: "#1f77b4",
            dashed: label.ends_with("p50"),
            points: points.to_vec(),
        }
    }

    #[test]
    fn the_plot_is_xml_with_one_group_per_series() {
        let plot = latency_plot(
            "p99 & p50 <latency>",
            &[
                series("relay p50", &[(500.0, 0.2), (1000.0, 0.25), (2000.0, 0.3)]),
                series("relay p99", &[(500.0, 0.9), (1000.0, 1.1), (2000.0, 1.5)]),
                series(
                    "tidings p50",
                    &[(500.0, 3.0), (1000.0, 4.0), (2000.0, 90.0)],
                ),
                series(
                    "tidings p99",
                    &[(500.0, 8.0), (1000.0, 12.0), (2000.0, 2500.0)],
                ),
            ],
        );
        let doc = roxmltree::Document::parse(&plot).expect("valid XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        let groups: Vec<_> = root
            .descendants()
            .filter(|n| n.attribute("data-series").is_some())
            .collect();
        let labels: Vec<&str> = groups
            .iter()
            .filter_map(|g| g.attribute("data-series"))
            .collect();
        assert_eq!(
            labels,
            ["relay p50", "relay p99", "tidings p50", "tidings p99"]
        );
        for group in &groups {
            let line = group
                .children()
                .find(|n| n.has_tag_name("polyline"))
                .expect("a polyline per series");
            assert_eq!(line.attribute("points").unwrap().split(' ').count(), 3);
            let circles = group
                .children()
                .filter(|n| n.has_tag_name("circle"))
                .count();
            assert_eq!(circles, 3);
        }
        let title = root
            .descendants()
            .find(|n| n.has_tag_name("text"))
            .and_then(|n| n.text());
        assert_eq!(title, Some("p99 & p50 <latency>"));
    }

    #[test]
    fn an_empty_plot_is_still_xml() {
        let plot = latency_plot("nothing", &[series("relay p99", &[])]);
        let doc = roxmltree::Document::parse(&plot).expect("valid XML");
        assert!(
            doc.root_element()
                .descendants()
                .any(|n| n.text() == Some("no open-loop runs"))
        );
    }
}
