//! Plain-text tables and the number formats they use.

use std::time::Duration;

use crate::latency::LatencySummary;

/// A table whose first `left` columns are left-aligned and the rest
/// right-aligned (numbers).
pub struct Table {
    header: Vec<String>,
    left: usize,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str], left: usize) -> Self {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            left,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "one cell per column");
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let width = |cell: &String| cell.chars().count();
        let mut widths: Vec<usize> = self.header.iter().map(width).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(w - width(cell));
                if i < self.left {
                    line.push_str(cell);
                    line.push_str(&pad);
                } else {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A rate per second: `950`, `12.3k`, `4.56M`.
pub fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2}M", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1}k", per_second / 1e3)
    } else {
        format!("{per_second:.0}")
    }
}

/// A count: `950`, `12.3k`, `4.56M`.
pub fn count(n: u64) -> String {
    rate(n as f64)
}

/// A latency with a unit that keeps 3 significant digits.
pub fn latency(d: Duration) -> String {
    let nanos = d.as_nanos() as f64;
    if nanos < 1e3 {
        format!("{nanos:.0} ns")
    } else if nanos < 1e6 {
        format!("{:.1} µs", nanos / 1e3)
    } else if nanos < 1e9 {
        format!("{:.2} ms", nanos / 1e6)
    } else {
        format!("{:.2} s", nanos / 1e9)
    }
}

/// `figure ÷ baseline`, or `-` when either is missing.
pub fn ratio(figure: f64, baseline: f64) -> String {
    if figure <= 0.0 || baseline <= 0.0 || !figure.is_finite() || !baseline.is_finite() {
        return "-".to_string();
    }
    let r = figure / baseline;
    if r < 0.01 {
        format!("{r:.4}×")
    } else if r < 10.0 {
        format!("{r:.2}×")
    } else if r < 100.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.0}×")
    }
}

/// [`ratio`] of two latencies.
pub fn latency_ratio(figure: Duration, baseline: Duration) -> String {
    ratio(figure.as_secs_f64(), baseline.as_secs_f64())
}

/// A rate and the p50 and p99 of its latencies, each followed by its ratio
/// to the baseline's (`-` where there is no baseline).
pub fn with_ratios(
    (per_second, latencies): (f64, LatencySummary),
    baseline: Option<(f64, LatencySummary)>,
) -> [String; 6] {
    let (base_per_second, base) = baseline.unwrap_or_default();
    [
        rate(per_second),
        ratio(per_second, base_per_second),
        latency(latencies.p50),
        latency_ratio(latencies.p50, base.p50),
        latency(latencies.p99),
        latency_ratio(latencies.p99, base.p99),
    ]
}

/// Seconds with one decimal.
pub fn seconds(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// A time limit: `150 ms`, `2.0 s`.
pub fn span(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_keep_three_digits() {
        assert_eq!(rate(950.4), "950");
        assert_eq!(rate(12_345.0), "12.3k");
        assert_eq!(rate(4_560_000.0), "4.56M");
        assert_eq!(latency(Duration::from_nanos(420)), "420 ns");
        assert_eq!(latency(Duration::from_nanos(12_340)), "12.3 µs");
        assert_eq!(latency(Duration::from_micros(1_500)), "1.50 ms");
        assert_eq!(ratio(1.0, 4.0), "0.25×");
        assert_eq!(ratio(1.0, 0.0), "-");
        assert_eq!(ratio(250.0, 2.0), "125×");
    }

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(&["name", "n"], 1);
        t.row(vec!["a".into(), "1000".into()]);
        t.row(vec!["longer".into(), "2".into()]);
        assert_eq!(t.render(), "name       n\na       1000\nlonger     2\n");
    }
}
