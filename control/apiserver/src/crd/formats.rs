//! The string formats Kubernetes 1.33 checks in custom resources (apiextensions'
//! supported-format list, validated as kube-openapi's `strfmt` registry does).
//!
//! Every other format — notably the numeric `int32`, `int64`, `float` and `double` — is
//! stripped from the schema before validation, so Kubernetes never checks it; neither do
//! we. Names are compared with dashes removed (`date-time` is `datetime`).

use std::net::Ipv6Addr;
use std::sync::OnceLock;

use regex::Regex;

use crate::admission::names::{parse_cidr_sloppy, parse_ip_sloppy};

/// A format Kubernetes validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    BsonObjectId,
    Uri,
    Email,
    Hostname,
    Ipv4,
    Ipv6,
    Cidr,
    Mac,
    Uuid,
    Uuid3,
    Uuid4,
    Uuid5,
    Isbn,
    Isbn10,
    Isbn13,
    CreditCard,
    Ssn,
    HexColor,
    RgbColor,
    Byte,
    Password,
    Date,
    Duration,
    DateTime,
}

impl Format {
    /// The format a schema's `format` names, if Kubernetes checks it (after removing
    /// dashes, as go-openapi normalises names).
    pub fn parse(name: &str) -> Option<Format> {
        let n: String = name.chars().filter(|c| *c != '-').collect();
        Some(match n.as_str() {
            "bsonobjectid" => Format::BsonObjectId,
            "uri" => Format::Uri,
            "email" => Format::Email,
            "hostname" => Format::Hostname,
            "ipv4" => Format::Ipv4,
            "ipv6" => Format::Ipv6,
            "cidr" => Format::Cidr,
            "mac" => Format::Mac,
            "uuid" => Format::Uuid,
            "uuid3" => Format::Uuid3,
            "uuid4" => Format::Uuid4,
            "uuid5" => Format::Uuid5,
            "isbn" => Format::Isbn,
            "isbn10" => Format::Isbn10,
            "isbn13" => Format::Isbn13,
            "creditcard" => Format::CreditCard,
            "ssn" => Format::Ssn,
            "hexcolor" => Format::HexColor,
            "rgbcolor" => Format::RgbColor,
            "byte" => Format::Byte,
            "password" => Format::Password,
            "date" => Format::Date,
            "duration" => Format::Duration,
            "datetime" => Format::DateTime,
            _ => return None,
        })
    }

    /// Whether `s` is well formed for this format.
    pub fn validates(self, s: &str) -> bool {
        match self {
            Format::BsonObjectId => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
            Format::Uri => is_request_uri(s),
            Format::Email => is_email(s),
            Format::Hostname => is_hostname(s),
            Format::Ipv4 => parse_ip_sloppy(s).is_some() && s.contains('.'),
            Format::Ipv6 => s.contains(':') && is_go_ip(s),
            Format::Cidr => parse_cidr_sloppy(s).is_some(),
            Format::Mac => is_mac(s),
            Format::Uuid => uuid_like(s, None),
            Format::Uuid3 => uuid_like(s, Some('3')),
            Format::Uuid4 => uuid_like(s, Some('4')),
            Format::Uuid5 => uuid_like(s, Some('5')),
            Format::Isbn => is_isbn10(s) || is_isbn13(s),
            Format::Isbn10 => is_isbn10(s),
            Format::Isbn13 => is_isbn13(s),
            Format::CreditCard => is_credit_card(s),
            Format::Ssn => s.len() == 11 && regex_match(&SSN, SSN_RE, s),
            Format::HexColor => regex_match(&HEXCOLOR, HEXCOLOR_RE, s),
            Format::RgbColor => regex_match(&RGBCOLOR, RGBCOLOR_RE, s),
            Format::Byte => regex_match(&BASE64, BASE64_RE, s),
            Format::Password => true,
            Format::Date => is_date(s),
            Format::Duration => is_duration(s),
            Format::DateTime => is_date_time(s),
        }
    }
}

const HOSTNAME_RE: &str = r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$";
const SSN_RE: &str = r"^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$";
const HEXCOLOR_RE: &str = r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$";
const RGBCOLOR_RE: &str = r"^rgb\([\t\n\x0C\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\x0C\r ]*,[\t\n\x0C\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\x0C\r ]*,[\t\n\x0C\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\x0C\r ]*\)$";
const BASE64_RE: &str =
    r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$";
const CREDIT_CARD_RE: &str = r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11})$";
const DATE_TIME_RE: &str =
    r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$";

static HOSTNAME: OnceLock<Option<Regex>> = OnceLock::new();
static SSN: OnceLock<Option<Regex>> = OnceLock::new();
static HEXCOLOR: OnceLock<Option<Regex>> = OnceLock::new();
static RGBCOLOR: OnceLock<Option<Regex>> = OnceLock::new();
static BASE64: OnceLock<Option<Regex>> = OnceLock::new();
static CREDIT_CARD: OnceLock<Option<Regex>> = OnceLock::new();
static DATE_TIME: OnceLock<Option<Regex>> = OnceLock::new();

/// Matches `s` against a fixed pattern compiled once. The patterns are constants checked
/// by the tests; should one ever fail to compile, nothing matches it.
fn regex_match(cell: &OnceLock<Option<Regex>>, pattern: &str, s: &str) -> bool {
    cell.get_or_init(|| Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|r| r.is_match(s))
}

fn is_hostname(s: &str) -> bool {
    regex_match(&HOSTNAME, HOSTNAME_RE, s) && s.len() <= 255 && s.split('.').all(|p| p.len() <= 63)
}

/// `(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?V[0-9a-f]{3}-?[89ab]?...` without a regex: 32 hex
/// digits in groups of 8-4-4-4-12, each dash optional; a version digit (and, for v3-v5
/// except 3, the variant) where the versioned patterns want them.
fn uuid_like(s: &str, version: Option<char>) -> bool {
    let groups = [8usize, 4, 4, 4, 12];
    let b = s.as_bytes();
    let mut i = 0;
    let mut hex = Vec::with_capacity(32);
    for (g, len) in groups.iter().enumerate() {
        if g > 0 && i < b.len() && b[i] == b'-' {
            i += 1;
        }
        for _ in 0..*len {
            match b.get(i) {
                Some(c) if c.is_ascii_hexdigit() => hex.push(c.to_ascii_lowercase()),
                _ => return false,
            }
            i += 1;
        }
    }
    if i != b.len() {
        return false;
    }
    match version {
        None => true,
        Some(v) => {
            let version_ok = hex[12] == v as u8;
            let variant_ok = v == '3' || matches!(hex[16], b'8' | b'9' | b'a' | b'b');
            version_ok && variant_ok
        }
    }
}

fn isbn_digits(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

fn is_isbn10(s: &str) -> bool {
    let d = isbn_digits(s);
    let b = d.as_bytes();
    if b.len() != 10
        || !b[..9].iter().all(u8::is_ascii_digit)
        || !(b[9].is_ascii_digit() || b[9] == b'X')
    {
        return false;
    }
    let mut sum: u32 = (0..9)
        .map(|i| (i as u32 + 1) * u32::from(b[i] - b'0'))
        .sum();
    sum += if b[9] == b'X' {
        100
    } else {
        10 * u32::from(b[9] - b'0')
    };
    sum.is_multiple_of(11)
}

fn is_isbn13(s: &str) -> bool {
    let d = isbn_digits(s);
    let b = d.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = (0..12)
        .map(|i| if i % 2 == 0 { 1 } else { 3 } * u32::from(b[i] - b'0'))
        .sum();
    u32::from(b[12] - b'0') == (10 - sum % 10) % 10
}

fn is_credit_card(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !regex_match(&CREDIT_CARD, CREDIT_CARD_RE, &digits) {
        return false;
    }
    let mut sum = 0u32;
    let mut double = false;
    for c in digits.bytes().rev() {
        let mut n = u32::from(c - b'0');
        if double {
            n *= 2;
            if n >= 10 {
                n = n % 10 + 1;
            }
        }
        sum += n;
        double = !double;
    }
    sum.is_multiple_of(10)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx:..`, `xx-xx-..` or `xxxx.xxxx...`.
fn is_mac(s: &str) -> bool {
    let octets_ok = |n: usize| n == 6 || n == 8 || n == 20;
    let b = s.as_bytes();
    if b.len() < 14 {
        return false;
    }
    if b[2] == b':' || b[2] == b'-' {
        let sep = b[2];
        if !(b.len() + 1).is_multiple_of(3) || !octets_ok((b.len() + 1) / 3) {
            return false;
        }
        b.chunks(3).all(|c| {
            c[0].is_ascii_hexdigit() && c[1].is_ascii_hexdigit() && (c.len() == 2 || c[2] == sep)
        })
    } else if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) || !octets_ok(2 * (b.len() + 1) / 5) {
            return false;
        }
        b.chunks(5)
            .all(|c| c[..4].iter().all(u8::is_ascii_hexdigit) && (c.len() == 4 || c[4] == b'.'))
    } else {
        false
    }
}

/// Go's `net.ParseIP` for a string containing a colon: an IPv6 address, possibly with an
/// embedded dotted IPv4 tail (no zones).
fn is_go_ip(s: &str) -> bool {
    s.parse::<Ipv6Addr>().is_ok()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// `time.Parse("2006-01-02", s)`: exactly four-digit year, two-digit month and day, a
/// real calendar date.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(d)) => (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m),
        _ => false,
    }
}

/// strfmt's `IsDateTime`: a date, a `t`/`T`, then `hh:mm:ss[.frac](z|±hh:mm)` with
/// hours ≤ 23 and minutes, seconds ≤ 59 (compared as text, as strfmt does).
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let Some(re) = DATE_TIME
        .get_or_init(|| Regex::new(DATE_TIME_RE).ok())
        .as_ref()
    else {
        return false;
    };
    match re.captures(parts[1]) {
        Some(c) => {
            let g = |i: usize| c.get(i).map_or("", |m| m.as_str());
            g(1) <= "23" && g(2) <= "59" && g(3) <= "59"
        }
        None => false,
    }
}

/// Go's `time.ParseDuration` (`1h30m`, `-1.5s`, `300ms`, `0`).
fn go_parse_duration(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        if !matches!(
            &rest[..unit_len],
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"
        ) {
            return false;
        }
        rest = &rest[unit_len..];
    }
    true
}

/// strfmt's `ParseDuration`: Go durations, or `<n><unit>` groups with spelled-out units
/// (`3 days`, `1 week`, `5 min`).
fn is_duration(s: &str) -> bool {
    if go_parse_duration(s) {
        return true;
    }
    const UNITS: &[&[&str]] = &[
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    // Scan `(\d+)\s*([A-Za-zµ]+)` groups anywhere in the string, as the regex does.
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut ok = false;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let digits: String = chars[start..i].iter().collect();
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let ustart = j;
        while j < chars.len() && (chars[j].is_ascii_alphabetic() || chars[j] == 'µ') {
            j += 1;
        }
        if j == ustart {
            continue;
        }
        if digits.parse::<i64>().is_err() {
            return false;
        }
        let unit: String = chars[ustart..j].iter().collect::<String>().to_lowercase();
        for variants in UNITS {
            let last = variants.len() - 1;
            for (k, v) in variants.iter().enumerate() {
                if (k == last && unit.starts_with(v)) || unit.eq_ignore_ascii_case(v) {
                    ok = true;
                }
            }
        }
        i = j;
    }
    ok
}

/// Go's `url.ParseRequestURI`, closely enough: an absolute URI (`scheme:...`) or an
/// absolute path, no control characters, valid `%` escapes, and a numeric port.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    let valid_escapes = |p: &str| {
        let b = p.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                if i + 2 >= b.len()
                    || !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
                {
                    return false;
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        true
    };
    // Scheme: a letter, then letters, digits, '+', '-', '.', up to the first ':'.
    let (scheme, rest) = match s.find(':') {
        Some(0) => return false,
        Some(i)
            if s.as_bytes()[0].is_ascii_alphabetic()
                && s[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            (&s[..i], &s[i + 1..])
        }
        _ => ("", s),
    };
    let rest = rest.split_once('?').map_or(rest, |(p, _)| p);
    if !rest.starts_with('/') {
        // Rootless: opaque when there is a scheme, invalid for a request otherwise.
        return !scheme.is_empty();
    }
    let path = if !scheme.is_empty() && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let port = if let Some(stripped) = host.strip_prefix('[') {
            match stripped.split_once(']') {
                Some((_, after)) => after.strip_prefix(':'),
                None => return false,
            }
        } else {
            host.rsplit_once(':').map(|(_, p)| p)
        };
        if port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
            return false;
        }
        if !valid_escapes(host) {
            return false;
        }
        path
    } else {
        rest
    };
    valid_escapes(path)
}

/// Go's `net/mail.ParseAddress`, for the common forms: `local@domain` or
/// `Display Name <local@domain>`, with an atom or quoted local part and a dot-atom or
/// bracketed domain.
fn is_email(s: &str) -> bool {
    let s = s.trim();
    let addr = match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => &s[i + 1..s.len() - 1],
        (None, false) => s,
        _ => return false,
    };
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom =
        |p: &str| !p.is_empty() && p.split('.').all(|a| !a.is_empty() && a.chars().all(atext));
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        !local[1..local.len() - 1].contains('"')
    } else {
        dot_atom(local)
    };
    let domain_ok = if domain.starts_with('[') && domain.ends_with(']') {
        domain.len() > 2
    } else {
        dot_atom(domain)
    };
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_patterns_compile() {
        for p in [
            HOSTNAME_RE,
            SSN_RE,
            HEXCOLOR_RE,
            RGBCOLOR_RE,
            BASE64_RE,
            CREDIT_CARD_RE,
            DATE_TIME_RE,
        ] {
            assert!(Regex::new(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn formats_accept_and_reject_as_kubernetes() {
        let cases: &[(&str, &str, bool)] = &[
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", true),
            ("uuid", "123E4567E89B12D3A456426614174000", true),
            ("uuid", "123e4567-e89b-12d3-a456-42661417400", false),
            ("uuid4", "123e4567-e89b-42d3-a456-426614174000", true),
            ("uuid4", "123e4567-e89b-42d3-c456-426614174000", false),
            ("uuid3", "123e4567-e89b-32d3-c456-426614174000", true),
            ("date-time", "2024-02-29T12:30:00Z", true),
            ("date-time", "2024-02-29t12:30:00.123+02:00", true),
            ("date-time", "2023-02-29T12:30:00Z", false),
            ("date-time", "2024-01-01T24:00:00Z", false),
            ("date-time", "2024-01-01", false),
            ("datetime", "2024-01-01T00:00:00Z", true),
            ("date", "2024-12-31", true),
            ("date", "2024-13-01", false),
            ("date", "24-12-31", false),
            ("byte", "aGVsbG8=", true),
            ("byte", "aGVsbG8", false),
            ("byte", "", false),
            ("ipv4", "10.0.0.1", true),
            ("ipv4", "010.0.0.1", true),
            ("ipv4", "::1", false),
            ("ipv6", "::1", true),
            ("ipv6", "::ffff:1.2.3.4", true),
            ("ipv6", "10.0.0.1", false),
            ("cidr", "10.0.0.0/8", true),
            ("cidr", "10.0.0.0", false),
            ("mac", "01:23:45:67:89:ab", true),
            ("mac", "01-23-45-67-89-ab-cd-ef", true),
            ("mac", "0123.4567.89ab", true),
            ("mac", "01:23:45:67:89", false),
            ("hostname", "example.com", true),
            ("hostname", "localhost", true),
            ("hostname", "-bad.example.com", false),
            ("email", "a.b@example.com", true),
            ("email", "Jane Doe <jane@example.com>", true),
            ("email", "not-an-email", false),
            ("uri", "https://example.com/a?b=c", true),
            ("uri", "/just/a/path", true),
            ("uri", "mailto:a@b.c", true),
            ("uri", "relative/path", false),
            ("uri", "http://host:port/", false),
            ("uri", "http://host/%zz", false),
            ("duration", "1h30m", true),
            ("duration", "3 days", true),
            ("duration", "1.5s", true),
            ("duration", "forever", false),
            ("isbn10", "0321751043", true),
            ("isbn13", "978-0321751041", true),
            ("isbn", "0321751044", false),
            ("creditcard", "4111 1111 1111 1111", true),
            ("creditcard", "4111 1111 1111 1112", false),
            ("ssn", "123-45-6789", true),
            ("ssn", "123456789", false),
            ("hexcolor", "#fff", true),
            ("hexcolor", "#ffff", false),
            ("rgbcolor", "rgb(255, 0, 10)", true),
            ("rgbcolor", "rgb(256,0,0)", false),
            ("bsonobjectid", "507f1f77bcf86cd799439011", true),
            ("bsonobjectid", "507f1f77bcf86cd79943901", false),
            ("password", "anything", true),
        ];
        for (f, s, want) in cases {
            let format = Format::parse(f).unwrap_or_else(|| panic!("{f} unknown"));
            assert_eq!(format.validates(s), *want, "{f} {s:?}");
        }
        for unchecked in ["int32", "int64", "float", "double", "k8s-short-name", ""] {
            assert_eq!(Format::parse(unchecked), None, "{unchecked}");
        }
    }
}
