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

/// HTTP/2 connections over TLS to the API server of `creds`, authenticated with its
/// client certificate, each driven by a spawned task: what the benchmarks that write
/// through HTTPS (scheduler-bench, apiserver-bench) send their requests on.
pub async fn h2_connections(
    creds: &clipper_client::Credentials,
    connections: usize,
) -> anyhow::Result<Vec<hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>>>
{
    use anyhow::Context;
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(creds.ca.clone())?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let (chain, key) = creds.identity.clone().context("no client certificate")?;
    let mut tls = builder.with_client_auth_cert(chain, key.clone_key())?;
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let name = rustls::pki_types::ServerName::try_from(creds.server_name.clone())?;
    let mut conns = Vec::new();
    for _ in 0..connections {
        let tcp = tokio::net::TcpStream::connect(creds.addr).await?;
        tcp.set_nodelay(true)?;
        let tls = connector.connect(name.clone(), tcp).await?;
        let (send, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .initial_stream_window_size(4 << 20)
                .initial_connection_window_size(16 << 20)
                .handshake(hyper_util::rt::TokioIo::new(tls))
                .await?;
        tokio::spawn(conn);
        conns.push(send);
    }
    Ok(conns)
}

/// Clock ticks per second, the unit of /proc's CPU times.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
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
