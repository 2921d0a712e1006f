//! The Prometheus text exposition format (0.0.4), as far as the metrics pipeline reads it:
//! sample lines `name{label="value",...} value [timestamp_ms]`, comments and blank lines
//! skipped. Pure: text in, samples out; malformed lines are errors, never panics.

/// One sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Milliseconds since the epoch, when the line carries one.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a line could not be read (1-based line number).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ParseError {
    pub line: usize,
    pub why: String,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// A value as the format writes it: Go floats (`1.5e+08`), `NaN`, `+Inf`, `-Inf`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

/// Parses one sample line (not a comment).
fn parse_line(line: &str) -> Result<Sample, String> {
    let mut chars = line.char_indices().peekable();
    let name_end = loop {
        match chars.peek() {
            Some(&(i, c)) if (i == 0 && is_name_start(c)) || (i > 0 && is_name_char(c)) => {
                chars.next();
            }
            Some(&(i, _)) => break i,
            None => break line.len(),
        }
    };
    if name_end == 0 {
        return Err("a sample line must start with a metric name".into());
    }
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut s = after;
        loop {
            s = s.trim_start();
            if let Some(r) = s.strip_prefix('}') {
                s = r;
                break;
            }
            let end = s
                .find(|c: char| !is_name_char(c))
                .ok_or("unterminated label set")?;
            if end == 0 {
                return Err(format!("a label name was expected at {s:?}"));
            }
            let key = s[..end].to_string();
            s = s[end..].trim_start();
            s = s
                .strip_prefix('=')
                .ok_or("'=' expected after a label name")?;
            s = s.trim_start();
            s = s
                .strip_prefix('"')
                .ok_or("a quoted label value was expected")?;
            let mut value = String::new();
            let mut it = s.char_indices();
            let consumed = loop {
                match it.next() {
                    Some((_, '\\')) => match it.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated label value".into()),
                    },
                    Some((i, '"')) => break i + 1,
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            };
            labels.push((key, value));
            s = s[consumed..].trim_start();
            if let Some(r) = s.strip_prefix(',') {
                s = r;
            } else if !s.starts_with('}') {
                return Err("',' or '}' expected after a label".into());
            }
        }
        rest = s;
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("a sample value was expected")?;
    let value = parse_value(value).ok_or_else(|| format!("bad value {value:?}"))?;
    let timestamp_ms = match fields.next() {
        Some(t) => Some(t.parse().map_err(|_| format!("bad timestamp {t:?}"))?),
        None => None,
    };
    if fields.next().is_some() {
        return Err("trailing text after the timestamp".into());
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp_ms,
    })
}

/// Every sample of a text exposition.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line).map_err(|why| ParseError { line: i + 1, why })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelets_resource_metrics_parse() {
        let text = "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time\n\
# TYPE container_cpu_usage_seconds_total counter\n\
container_cpu_usage_seconds_total{container=\"kube-proxy\",namespace=\"kube-system\",pod=\"kube-proxy-q4dks\"} 1.664876373 1710222820860\n\
container_memory_working_set_bytes{container=\"c\",namespace=\"n\",pod=\"p\"} 1.34934528e+08 1710222816920\n\
node_cpu_usage_seconds_total 254.050927655 1710222817924\n\
\n\
resource_scrape_error 0\n";
        let samples = parse(text).expect("parses");
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].name, "container_cpu_usage_seconds_total");
        assert_eq!(samples[0].label("pod"), Some("kube-proxy-q4dks"));
        assert_eq!(samples[0].label("container"), Some("kube-proxy"));
        assert_eq!(samples[0].value, 1.664876373);
        assert_eq!(samples[0].timestamp_ms, Some(1710222820860));
        assert_eq!(samples[1].value, 134934528.0);
        assert_eq!(samples[2].labels, vec![]);
        assert_eq!(samples[3].timestamp_ms, None);
    }

    #[test]
    fn escapes_spaces_and_special_values() {
        let s = parse("m{a=\"x\\\"y\\\\z\\nw\" , b = \"\",} +Inf\nn NaN 5\n").expect("parses");
        assert_eq!(s[0].label("a"), Some("x\"y\\z\nw"));
        assert_eq!(s[0].label("b"), Some(""));
        assert!(s[0].value.is_infinite());
        assert!(s[1].value.is_nan());
        assert_eq!(s[1].timestamp_ms, Some(5));
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "{a=\"b\"} 1",
            "m{a=\"b} 1",
            "m{a=b} 1",
            "m{a=\"b\" c=\"d\"} 1",
            "m",
            "m x",
            "m 1 t",
            "m 1 2 3",
            "m{=\"b\"} 1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("ok 1\nm x\n").unwrap_err().line, 2);
    }
}
