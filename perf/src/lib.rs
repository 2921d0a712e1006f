//! Shared helpers for Clipper benchmarks: statistics, markdown tables, machine summary.

/// The median of `values` (the mean of the two middle values for an even count); 0 for
/// an empty slice. NaNs sort last.
pub fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// The `p`-th percentile (0–100) of `values` by linear interpolation between closest
/// ranks; 0 for an empty slice.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

/// A markdown table built row by row.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// A row of preformatted cells after the label.
    pub fn row_text(&mut self, label: &str, cells: &[String]) {
        let mut row = vec![label.to_string()];
        row.extend(cells.iter().cloned());
        self.rows.push(row);
    }

    /// A row of nanosecond timings, shown in the most readable unit.
    pub fn row_ns(&mut self, label: &str, ns: &[f64]) {
        self.row_text(label, &ns.iter().map(|n| format_ns(*n)).collect::<Vec<_>>());
    }

    /// A row of millisecond timings.
    pub fn row_ms(&mut self, label: &str, ms: &[f64]) {
        self.row_ns(label, &ms.iter().map(|m| m * 1e6).collect::<Vec<_>>());
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "| {} |\n|{}|\n",
            self.header.join(" | "),
            vec!["---"; self.header.len()].join("|")
        );
        for r in &self.rows {
            out.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        out
    }
}

/// `1234.5` ns → `1.23 µs`.
pub fn format_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// One line describing the machine: cores, CPU model, kernel.
pub fn machine_summary() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_default();
    format!("{cores} cores ({model}), Linux {kernel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 100.0), 5.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.0), 1.0);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn table_and_units() {
        let mut t = Table::new(&["op", "a"]);
        t.row_ns("x", &[1500.0]);
        assert_eq!(t.markdown(), "| op | a |\n|---|---|\n| x | 1.50 µs |\n");
        assert_eq!(format_ns(2.5e6), "2.5 ms");
    }
}
