//! The string-format checks of `k8s.io/apimachinery/pkg/util/validation`: DNS labels and
//! subdomains, qualified names, label values, port names, environment variable names,
//! config keys, IP addresses and CIDRs — each returning Kubernetes' own messages.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::field::{ErrorList, FieldError, Path};

/// RFC 1123 label length limit (one DNS label).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// RFC 1123 subdomain length limit (a full DNS name).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// RFC 1035 label length limit.
pub const DNS1035_LABEL_MAX_LENGTH: usize = 63;
/// The name part of a qualified name (label keys, annotation keys, finalizers).
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
/// Label values, like label names, fit in one DNS label.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// IANA service names (container and service port names) are at most 15 characters.
pub const PORT_NAME_MAX_LENGTH: usize = 15;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const WILDCARD_SUBDOMAIN_FMT: &str =
    "\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const WILDCARD_SUBDOMAIN_ERR: &str = "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character";
const ENV_VAR_NAME_FMT: &str = "[-._a-zA-Z][-._a-zA-Z0-9]*";
const ENV_VAR_NAME_ERR: &str = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit";
const CONFIG_MAP_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_MAP_KEY_ERR: &str =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const PERCENT_FMT: &str = "[0-9]+%";
const PERCENT_ERR: &str =
    "a valid percent string must be a numeric string followed by an ending '%'";
const HTTP_HEADER_NAME_FMT: &str = "[-A-Za-z0-9]+";
const HTTP_HEADER_NAME_ERR: &str =
    "a valid HTTP header must consist of alphanumeric characters or '-'";
const C_IDENTIFIER_FMT: &str = "[A-Za-z_][A-Za-z0-9_]*";
const C_IDENTIFIER_ERR: &str = "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_'";

/// `validation.RegexError`: the message, the examples and the pattern.
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let ex: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        ex.join(" or ")
    )
}

pub fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

pub fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

pub const EMPTY_ERROR: &str = "must be non-empty";

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
}

fn matches_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(matches_dns1123_label)
}

fn matches_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1035_LABEL_MAX_LENGTH));
    }
    let b = value.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_lowercase()
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-');
    if !ok {
        errs.push(regex_error(
            DNS1035_LABEL_ERR,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

pub fn is_wildcard_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    let ok = value
        .strip_prefix("*.")
        .is_some_and(matches_dns1123_subdomain);
    if !ok {
        errs.push(regex_error(
            WILDCARD_SUBDOMAIN_ERR,
            WILDCARD_SUBDOMAIN_FMT,
            &["*.example.com"],
        ));
    }
    errs
}

/// `validation.IsQualifiedName`: `[prefix/]name`, the prefix a DNS subdomain.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {EMPTY_ERROR}"));
            } else {
                for m in is_dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {m}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {EMPTY_ERROR}"));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !matches_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !matches_qualified_name_part(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

pub fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > PORT_NAME_MAX_LENGTH {
        errs.push(max_len_error(PORT_NAME_MAX_LENGTH));
    }
    if port.is_empty() || !port.bytes().all(|c| is_lower_alnum(c) || c == b'-') {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !port.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// User and group IDs are non-negative 32-bit values.
pub fn is_valid_id(id: i64) -> Vec<String> {
    if (0..=i64::from(i32::MAX)).contains(&id) {
        Vec::new()
    } else {
        vec![inclusive_range_error(0, i64::from(i32::MAX))]
    }
}

pub fn is_valid_percent(s: &str) -> Vec<String> {
    let ok = s
        .strip_suffix('%')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
    if ok {
        Vec::new()
    } else {
        vec![regex_error(PERCENT_ERR, PERCENT_FMT, &["1%", "93%"])]
    }
}

pub fn is_http_header_name(s: &str) -> Vec<String> {
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
        Vec::new()
    } else {
        vec![regex_error(
            HTTP_HEADER_NAME_ERR,
            HTTP_HEADER_NAME_FMT,
            &["X-Header-Name"],
        )]
    }
}

pub fn is_c_identifier(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_');
    if ok {
        Vec::new()
    } else {
        vec![regex_error(
            C_IDENTIFIER_ERR,
            C_IDENTIFIER_FMT,
            &["my_name", "MY_NAME", "MyName"],
        )]
    }
}

fn has_chdir_prefix(value: &str) -> Option<String> {
    match value {
        "." => Some("must not be '.'".to_string()),
        ".." => Some("must not be '..'".to_string()),
        v if v.starts_with("..") => Some("must not start with '..'".to_string()),
        _ => None,
    }
}

pub fn is_env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let b = value.as_bytes();
    let ok = !b.is_empty()
        && (b[0].is_ascii_alphabetic() || matches!(b[0], b'-' | b'.' | b'_'))
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'));
    if !ok {
        errs.push(regex_error(
            ENV_VAR_NAME_ERR,
            ENV_VAR_NAME_FMT,
            &["my.env-name", "MY_ENV.NAME", "MyEnvName1"],
        ));
    }
    errs.extend(has_chdir_prefix(value));
    errs
}

/// `validation.IsRelaxedEnvVarName` (the RelaxedEnvironmentVariableValidation gate).
pub fn is_relaxed_env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        errs.push(format!("environment variable name {EMPTY_ERROR}"));
    }
    if value.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push("a valid environment variable name must consist only of printable ASCII characters other than '='".to_string());
    }
    errs
}

pub fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if value.is_empty()
        || !value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
    {
        errs.push(regex_error(
            CONFIG_MAP_KEY_ERR,
            CONFIG_MAP_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    errs.extend(has_chdir_prefix(value));
    errs
}

/// `path.IsValidPathSegmentName`: names used as one URL path segment.
pub fn is_valid_path_segment_name(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    is_valid_path_segment_prefix(name)
}

pub fn is_valid_path_segment_prefix(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    for bad in ["/", "%"] {
        if name.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

/// How an object's `metadata.name` (and `generateName`) must look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: most kinds, and custom resources.
    DnsSubdomain,
    /// RFC 1123 label: Namespace, StatefulSet.
    DnsLabel,
    /// RFC 1035 label: Service.
    Dns1035Label,
    /// Any string usable as one URL path segment: RBAC roles and bindings,
    /// PodDisruptionBudget and core/v1 Event, whose strategies leave the name to the
    /// generic rule.
    PathSegment,
    /// The decimal form of an IP address: networking.k8s.io IPAddress.
    IpAddress,
}

impl NameRule {
    /// The messages for `name`; `prefix` is true for a generateName, to which a random
    /// suffix will be appended.
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        match self {
            NameRule::DnsSubdomain => is_dns1123_subdomain(&mask_prefix(name, prefix)),
            NameRule::DnsLabel => is_dns1123_label(&mask_prefix(name, prefix)),
            NameRule::Dns1035Label => is_dns1035_label(&mask_prefix(name, prefix)),
            NameRule::PathSegment => {
                if prefix {
                    is_valid_path_segment_prefix(name)
                } else {
                    is_valid_path_segment_name(name)
                }
            }
            NameRule::IpAddress => {
                if prefix {
                    return Vec::new();
                }
                ip_address_name_errors(name)
            }
        }
    }

    /// The rule Kubernetes 1.33 applies to the name of a built-in kind (API group and
    /// kind); unknown kinds and custom resources get [`NameRule::DnsSubdomain`].
    pub fn for_kind(group: &str, kind: &str) -> NameRule {
        match (group, kind) {
            ("", "Namespace") => NameRule::DnsLabel,
            ("", "Service") => NameRule::Dns1035Label,
            ("", "Event") => NameRule::PathSegment,
            ("apps", "StatefulSet") => NameRule::DnsLabel,
            (
                "rbac.authorization.k8s.io",
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
            ) => NameRule::PathSegment,
            ("policy", "PodDisruptionBudget") => NameRule::PathSegment,
            ("networking.k8s.io", "IPAddress") => NameRule::IpAddress,
            _ => NameRule::DnsSubdomain,
        }
    }
}

/// `maskTrailingDash`: a generateName may end in '-', since a suffix follows. Kubernetes
/// drops the last two characters and appends "a" (sic), so we do too.
fn mask_prefix(name: &str, prefix: bool) -> String {
    if prefix && name.len() > 1 && name.ends_with('-') {
        let cut = name.len() - 2;
        if name.is_char_boundary(cut) {
            return format!("{}a", &name[..cut]);
        }
        // A multi-byte character before the dash: it fails the ASCII-only rules anyway.
        return format!("{}a", &name[..name.len() - 1]);
    }
    name.to_string()
}

fn ip_address_name_errors(name: &str) -> Vec<String> {
    match parse_ip_sloppy(name) {
        None => vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string()],
        Some(ip) => {
            let canonical = ip.canonical();
            if canonical != name {
                vec![format!(
                    "must be in canonical form ({})",
                    super::field::go_quote(&canonical)
                )]
            } else {
                Vec::new()
            }
        }
    }
}

/// An IP address as Go's sloppy parser accepts it: IPv4 octets may carry leading zeros
/// (read as decimal), IPv6 as usual.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SloppyIp {
    V4 { addr: Ipv4Addr, leading_zeros: bool },
    V6(Ipv6Addr),
}

impl SloppyIp {
    /// Go's `net.IP.String()`.
    pub fn canonical(&self) -> String {
        match self {
            SloppyIp::V4 { addr, .. } => addr.to_string(),
            SloppyIp::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => a.to_string(),
            },
        }
    }

    pub fn is_v6(&self) -> bool {
        matches!(self, SloppyIp::V6(a) if a.to_ipv4_mapped().is_none())
    }

    fn v4_octets(&self) -> Option<[u8; 4]> {
        match self {
            SloppyIp::V4 { addr, .. } => Some(addr.octets()),
            SloppyIp::V6(a) => a.to_ipv4_mapped().map(|v| v.octets()),
        }
    }

    pub fn is_unspecified(&self) -> bool {
        match self.v4_octets() {
            Some(o) => o == [0, 0, 0, 0],
            None => matches!(self, SloppyIp::V6(a) if a.is_unspecified()),
        }
    }

    pub fn is_loopback(&self) -> bool {
        match self.v4_octets() {
            Some(o) => o[0] == 127,
            None => matches!(self, SloppyIp::V6(a) if a.is_loopback()),
        }
    }

    pub fn is_link_local_unicast(&self) -> bool {
        match self.v4_octets() {
            Some(o) => o[0] == 169 && o[1] == 254,
            None => matches!(self, SloppyIp::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80),
        }
    }

    pub fn is_link_local_multicast(&self) -> bool {
        match self.v4_octets() {
            Some(o) => o[0] == 224 && o[1] == 0 && o[2] == 0,
            None => matches!(self, SloppyIp::V6(a) if (a.segments()[0] & 0xff0f) == 0xff02),
        }
    }
}

fn parse_v4_sloppy(s: &str) -> Option<(Ipv4Addr, bool)> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut leading_zeros = false;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if p.len() > 1 && p.starts_with('0') {
            leading_zeros = true;
        }
        octets[i] = p.parse::<u8>().ok()?;
    }
    Some((Ipv4Addr::from(octets), leading_zeros))
}

pub fn parse_ip_sloppy(s: &str) -> Option<SloppyIp> {
    if let Some((addr, leading_zeros)) = parse_v4_sloppy(s) {
        return Some(SloppyIp::V4 {
            addr,
            leading_zeros,
        });
    }
    if s.contains(':') {
        if let Ok(a) = s.parse::<Ipv6Addr>() {
            return Some(SloppyIp::V6(a));
        }
        // An embedded IPv4 tail with leading zeros, which Go's sloppy parser accepts.
        if let Some(idx) = s.rfind(':')
            && let Some((v4, _)) = parse_v4_sloppy(&s[idx + 1..])
        {
            let rebuilt = format!("{}{}", &s[..=idx], v4);
            if let Ok(a) = rebuilt.parse::<Ipv6Addr>() {
                return Some(SloppyIp::V6(a));
            }
        }
    }
    None
}

/// `validation.IsValidIP`: strict parse and canonical form.
pub fn is_valid_ip(path: &Path, value: &str) -> ErrorList {
    let Some(ip) = parse_ip_sloppy(value) else {
        return vec![FieldError::invalid(
            path,
            value,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        )];
    };
    let mut errs = Vec::new();
    let strict_leading_zero = match ip {
        SloppyIp::V4 { leading_zeros, .. } => leading_zeros,
        SloppyIp::V6(_) => value.parse::<Ipv6Addr>().is_err(),
    };
    if strict_leading_zero {
        errs.push(FieldError::invalid(path, value, "must not have leading 0s"));
    }
    if let SloppyIp::V6(a) = ip
        && a.to_ipv4_mapped().is_some()
    {
        errs.push(FieldError::invalid(
            path,
            value,
            "must not be an IPv4-mapped IPv6 address",
        ));
    }
    if !errs.is_empty() {
        return errs;
    }
    let canonical = ip.canonical();
    if canonical != value {
        errs.push(FieldError::invalid(
            path,
            value,
            format!(
                "must be in canonical form ({})",
                super::field::go_quote(&canonical)
            ),
        ));
    }
    errs
}

/// A CIDR as Go's sloppy parser reads it: the address, the prefix length and whether the
/// address or prefix carried leading zeros.
#[derive(Clone, Copy, Debug)]
pub struct SloppyCidr {
    pub ip: SloppyIp,
    pub prefix: u8,
    pub leading_zeros: bool,
}

impl SloppyCidr {
    fn bits(&self) -> u8 {
        if matches!(self.ip, SloppyIp::V4 { .. }) {
            32
        } else {
            128
        }
    }

    fn addr_u128(&self) -> u128 {
        match self.ip {
            SloppyIp::V4 { addr, .. } => u128::from(u32::from(addr)),
            SloppyIp::V6(a) => u128::from(a),
        }
    }

    fn mask(&self) -> u128 {
        let bits = u32::from(self.bits());
        let host = bits - u32::from(self.prefix);
        let all: u128 = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }

    /// The network address.
    pub fn network(&self) -> u128 {
        self.addr_u128() & self.mask()
    }

    pub fn is_v4(&self) -> bool {
        self.bits() == 32
    }

    /// Whether `other` is inside this network.
    pub fn contains(&self, other: &SloppyCidr) -> bool {
        self.is_v4() == other.is_v4() && (other.addr_u128() & self.mask()) == self.network()
    }

    /// `net.IPNet.String()`.
    pub fn canonical(&self) -> String {
        let net = self.network();
        let ip = if self.is_v4() {
            Ipv4Addr::from(u32::try_from(net).unwrap_or(0)).to_string()
        } else {
            Ipv6Addr::from(net).to_string()
        };
        format!("{ip}/{}", self.prefix)
    }
}

pub fn parse_cidr_sloppy(s: &str) -> Option<SloppyCidr> {
    let (addr, len) = s.split_once('/')?;
    let ip = parse_ip_sloppy(addr)?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = len.parse().ok()?;
    let max = if matches!(ip, SloppyIp::V4 { .. }) {
        32
    } else {
        128
    };
    if prefix > max {
        return None;
    }
    let zero_ip = match ip {
        SloppyIp::V4 { leading_zeros, .. } => leading_zeros,
        SloppyIp::V6(_) => addr.parse::<Ipv6Addr>().is_err(),
    };
    let zero_len = len.len() > 1 && len.starts_with('0');
    Some(SloppyCidr {
        ip,
        prefix,
        leading_zeros: zero_ip || zero_len,
    })
}

/// `validation.IsValidCIDR`: strict parse and canonical form.
pub fn is_valid_cidr(path: &Path, value: &str) -> ErrorList {
    let Some(c) = parse_cidr_sloppy(value) else {
        return vec![FieldError::invalid(
            path,
            value,
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        )];
    };
    if c.leading_zeros {
        return vec![FieldError::invalid(
            path,
            value,
            "must not have leading 0s in IP or prefix length",
        )];
    }
    if let SloppyIp::V6(a) = c.ip
        && a.to_ipv4_mapped().is_some()
    {
        return vec![FieldError::invalid(
            path,
            value,
            "must not have an IPv4-mapped IPv6 address",
        )];
    }
    if c.network() != c.addr_u128() {
        return vec![FieldError::invalid(
            path,
            value,
            "must not have bits set beyond the prefix length",
        )];
    }
    let canonical = c.canonical();
    if canonical != value {
        return vec![FieldError::invalid(
            path,
            value,
            format!(
                "must be in canonical form ({})",
                super::field::go_quote(&canonical)
            ),
        )];
    }
    Vec::new()
}

/// `validation.IsDomainPrefixedPath`: `example.com/path`.
pub fn is_domain_prefixed_path(path: &Path, value: &str) -> ErrorList {
    if value.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let Some((host, rest)) = value
        .split_once('/')
        .filter(|(h, r)| !h.is_empty() && !r.is_empty())
    else {
        return vec![FieldError::invalid(
            path,
            value,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )];
    };
    let mut errs: ErrorList = is_dns1123_subdomain(host)
        .into_iter()
        .map(|m| FieldError::invalid(path, host, m))
        .collect();
    let ok = rest
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:".contains(&c));
    if !ok {
        errs.push(FieldError::invalid(
            path,
            rest,
            regex_error("Invalid path", "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+", &[]),
        ));
    }
    errs
}

/// `field.Invalid` for each message.
pub fn to_errors(path: &Path, value: &str, msgs: Vec<String>) -> ErrorList {
    msgs.into_iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}
