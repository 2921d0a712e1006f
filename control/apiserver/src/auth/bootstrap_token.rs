//! Bootstrap tokens (plugin/pkg/auth/authenticator/token/bootstrap and
//! k8s.io/cluster-bootstrap): bearer tokens `<id>.<secret>` (`[a-z0-9]{6}.[a-z0-9]{16}`)
//! checked against the Secret `kube-system/bootstrap-token-<id>` of type
//! `bootstrap.kubernetes.io/token`. They authenticate as `system:bootstrap:<id>` in
//! `system:bootstrappers` plus the Secret's `auth-extra-groups`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use clipper_proto::api::core::v1::Secret;
use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_proto::{ByteString, Time};
use ring::rand::{SecureRandom as _, SystemRandom};

use super::{UserInfo, names};

/// Length of the public token id.
pub const TOKEN_ID_LEN: usize = 6;
/// Length of the token secret.
pub const TOKEN_SECRET_LEN: usize = 16;
/// The namespace bootstrap token Secrets live in.
pub const TOKEN_NAMESPACE: &str = "kube-system";
pub const SECRET_NAME_PREFIX: &str = "bootstrap-token-";
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
pub const TOKEN_ID_KEY: &str = "token-id";
pub const TOKEN_SECRET_KEY: &str = "token-secret";
pub const EXPIRATION_KEY: &str = "expiration";
pub const DESCRIPTION_KEY: &str = "description";
pub const EXTRA_GROUPS_KEY: &str = "auth-extra-groups";
pub const USAGE_AUTHENTICATION_KEY: &str = "usage-bootstrap-authentication";
pub const USAGE_SIGNING_KEY: &str = "usage-bootstrap-signing";
/// Extra groups must start with this (`system:bootstrappers:`).
const EXTRA_GROUP_PREFIX: &str = "system:bootstrappers:";
/// Longest extra group suffix after the prefix: `[a-z0-9:-]{0,255}[a-z0-9]`.
const EXTRA_GROUP_MAX_SUFFIX: usize = 256;
/// Token characters.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn is_token_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Splits `<id>.<secret>` when it has the bootstrap token form.
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = id.len() == TOKEN_ID_LEN
        && secret.len() == TOKEN_SECRET_LEN
        && id.bytes().all(is_token_char)
        && secret.bytes().all(is_token_char);
    ok.then_some((id, secret))
}

/// The name of the Secret holding token `id`.
pub fn secret_name(id: &str) -> String {
    format!("{SECRET_NAME_PREFIX}{id}")
}

/// `ValidateBootstrapGroupName`: `system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]`.
pub fn validate_group_name(group: &str) -> Result<(), String> {
    let valid = group
        .strip_prefix(EXTRA_GROUP_PREFIX)
        .is_some_and(|suffix| {
            let bytes = suffix.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= EXTRA_GROUP_MAX_SUFFIX
                && bytes
                    .iter()
                    .all(|&c| is_token_char(c) || c == b':' || c == b'-')
                && bytes.last().is_some_and(|&c| is_token_char(c))
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "bootstrap group {group:?} is invalid (must match \\Asystem:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9]\\z)"
        ))
    }
}

fn data<'a>(secret: &'a Secret, key: &str) -> &'a str {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|v| std::str::from_utf8(&v.0).ok())
        .unwrap_or("")
}

/// `GetExpiration`: whether the Secret's `expiration` has passed at `now`. An
/// unparseable expiration counts as expired; no expiration never expires.
pub fn is_expired(secret: &Secret, now: i64) -> bool {
    let expiration = data(secret, EXPIRATION_KEY);
    if expiration.is_empty() {
        return false;
    }
    match Time::parse(expiration) {
        Ok(t) => t.unix_seconds() <= now,
        Err(_) => true,
    }
}

/// `GetGroups`: `system:bootstrappers` and the valid extra groups, sorted, each once.
pub fn groups(secret: &Secret) -> Result<Vec<String>, String> {
    let mut groups: BTreeSet<String> = BTreeSet::from([names::BOOTSTRAPPERS_GROUP.to_string()]);
    let extra = data(secret, EXTRA_GROUPS_KEY);
    if !extra.is_empty() {
        for group in extra.split(',') {
            validate_group_name(group)?;
            groups.insert(group.to_string());
        }
    }
    Ok(groups.into_iter().collect())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Authenticates a bootstrap token against its Secret (`secret` is
/// `kube-system/bootstrap-token-<id>` if it exists). `Err` carries the reason for the
/// log; the request is then not authenticated by this token.
pub fn authenticate(token: &str, secret: Option<&Secret>, now: i64) -> Result<UserInfo, String> {
    let (id, token_secret) = parse_token(token).ok_or("not a bootstrap token")?;
    let name = secret_name(id);
    let secret = secret
        .ok_or_else(|| format!("no secret of name {name} to match bootstrap bearer token"))?;
    let prefix = format!("bootstrap secret {TOKEN_NAMESPACE}/{name} matching bearer token");
    if secret.metadata.deletion_timestamp.is_some() {
        return Err(format!("{prefix} is deleted and awaiting removal"));
    }
    if secret.type_.as_deref() != Some(SECRET_TYPE) || secret.data.is_none() {
        return Err(format!("{prefix} has invalid type, expected {SECRET_TYPE}"));
    }
    if !constant_time_eq(
        data(secret, TOKEN_SECRET_KEY).as_bytes(),
        token_secret.as_bytes(),
    ) {
        return Err(format!(
            "{prefix} has invalid value for key {TOKEN_SECRET_KEY}"
        ));
    }
    if data(secret, TOKEN_ID_KEY) != id {
        return Err(format!("{prefix} has invalid value for key {TOKEN_ID_KEY}"));
    }
    if is_expired(secret, now) {
        return Err(format!("{prefix} has expired"));
    }
    if data(secret, USAGE_AUTHENTICATION_KEY) != "true" {
        return Err(format!(
            "{prefix} not marked {USAGE_AUTHENTICATION_KEY}=true"
        ));
    }
    let groups = groups(secret)
        .map_err(|e| format!("{prefix} has invalid value for key {EXTRA_GROUPS_KEY}: {e}"))?;
    Ok(UserInfo {
        username: format!("{}{id}", names::BOOTSTRAP_USER_PREFIX),
        uid: String::new(),
        groups,
        extra: BTreeMap::new(),
    })
}

/// A bootstrap token.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    pub id: String,
    pub secret: String,
}

impl fmt::Display for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

impl fmt::Debug for BootstrapToken {
    /// The secret part is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootstrapToken({}.<redacted>)", self.id)
    }
}

fn random_chars(n: usize) -> Result<String, String> {
    // Rejection sampling: bytes at or above the largest multiple of 36 would bias the
    // first characters of the alphabet.
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 32];
    while out.len() < n {
        rng.fill(&mut buf)
            .map_err(|_| "no system randomness".to_string())?;
        for &b in buf.iter().filter(|&&b| b < limit) {
            if out.len() == n {
                break;
            }
            out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
        }
    }
    Ok(out)
}

/// A new random token.
pub fn generate() -> Result<BootstrapToken, String> {
    Ok(BootstrapToken {
        id: random_chars(TOKEN_ID_LEN)?,
        secret: random_chars(TOKEN_SECRET_LEN)?,
    })
}

/// What a token Secret allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenOptions {
    pub description: String,
    /// Unix seconds; `None` never expires.
    pub expiration: Option<i64>,
    /// Extra groups (each `system:bootstrappers:...`).
    pub extra_groups: Vec<String>,
    pub usage_authentication: bool,
    pub usage_signing: bool,
}

/// The Secret that stores `token` (as `kubeadm token create` writes it). Fails on an
/// invalid extra group.
pub fn token_secret(token: &BootstrapToken, options: &TokenOptions) -> Result<Secret, String> {
    if parse_token(&token.to_string()).is_none() {
        return Err("invalid bootstrap token".into());
    }
    let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
    };
    put(TOKEN_ID_KEY, &token.id);
    put(TOKEN_SECRET_KEY, &token.secret);
    if !options.description.is_empty() {
        put(DESCRIPTION_KEY, &options.description);
    }
    if let Some(exp) = options.expiration {
        put(EXPIRATION_KEY, &Time(exp).to_string());
    }
    if options.usage_authentication {
        put(USAGE_AUTHENTICATION_KEY, "true");
    }
    if options.usage_signing {
        put(USAGE_SIGNING_KEY, "true");
    }
    if !options.extra_groups.is_empty() {
        for g in &options.extra_groups {
            validate_group_name(g)?;
        }
        put(EXTRA_GROUPS_KEY, &options.extra_groups.join(","));
    }
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(&token.id)),
            namespace: Some(TOKEN_NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        data: Some(data),
        immutable: None,
        string_data: None,
        type_: Some(SECRET_TYPE.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn options() -> TokenOptions {
        TokenOptions {
            description: "join".into(),
            expiration: Some(NOW + 3600),
            extra_groups: vec!["system:bootstrappers:clipper:default-node-token".into()],
            usage_authentication: true,
            usage_signing: true,
        }
    }

    fn token() -> BootstrapToken {
        BootstrapToken {
            id: "abcdef".into(),
            secret: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn generated_tokens_have_the_bootstrap_form() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(parse_token(&a.to_string()).is_some(), "{a}");
        assert_ne!(a, b);
        assert!(
            !format!("{a:?}").contains(&a.secret),
            "Debug hides the secret"
        );
    }

    #[test]
    fn parse_rejects_other_shapes() {
        assert_eq!(
            parse_token("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        for bad in [
            "abcdef0123456789abcdef",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcdeg.",
            "abcdef.0123456789abcde_",
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn valid_token_authenticates_with_sorted_groups() {
        let mut opts = options();
        opts.extra_groups = vec![
            "system:bootstrappers:z".into(),
            "system:bootstrappers:a".into(),
        ];
        let secret = token_secret(&token(), &opts).unwrap();
        assert_eq!(
            secret.metadata.name.as_deref(),
            Some("bootstrap-token-abcdef")
        );
        assert_eq!(secret.metadata.namespace.as_deref(), Some("kube-system"));
        let user = authenticate("abcdef.0123456789abcdef", Some(&secret), NOW).unwrap();
        assert_eq!(user.username, "system:bootstrap:abcdef");
        assert_eq!(
            user.groups,
            vec![
                "system:bootstrappers",
                "system:bootstrappers:a",
                "system:bootstrappers:z"
            ]
        );
    }

    #[test]
    fn secret_round_trips_through_json() {
        let secret = token_secret(&token(), &options()).unwrap();
        let json = serde_json::to_value(&secret).unwrap();
        assert_eq!(json["type"], "bootstrap.kubernetes.io/token");
        assert_eq!(json["data"]["token-id"], "YWJjZGVm");
        assert_eq!(
            json["data"]["expiration"],
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "2025-06-15T16:06:40Z"
            )
        );
        let back: Secret = serde_json::from_value(json).unwrap();
        assert!(authenticate("abcdef.0123456789abcdef", Some(&back), NOW).is_ok());
    }

    #[test]
    fn rejections() {
        let secret = token_secret(&token(), &options()).unwrap();
        let ok = "abcdef.0123456789abcdef";
        assert!(
            authenticate("abcdef.0123456789abcdeX", Some(&secret), NOW).is_err(),
            "bad form"
        );
        let wrong = authenticate("abcdef.fedcba9876543210", Some(&secret), NOW).unwrap_err();
        assert!(wrong.contains("token-secret"), "{wrong}");
        assert!(
            authenticate(ok, None, NOW)
                .unwrap_err()
                .contains("no secret")
        );
        let expired = authenticate(ok, Some(&secret), NOW + 3600).unwrap_err();
        assert!(expired.contains("expired"), "{expired}");
        assert!(authenticate(ok, Some(&secret), NOW + 3599).is_ok());

        let mut no_auth = options();
        no_auth.usage_authentication = false;
        let s = token_secret(&token(), &no_auth).unwrap();
        assert!(
            authenticate(ok, Some(&s), NOW)
                .unwrap_err()
                .contains("usage-bootstrap-authentication")
        );

        let mut wrong_type = secret.clone();
        wrong_type.type_ = Some("Opaque".into());
        assert!(
            authenticate(ok, Some(&wrong_type), NOW)
                .unwrap_err()
                .contains("invalid type")
        );

        let mut wrong_id = secret.clone();
        wrong_id
            .data
            .as_mut()
            .unwrap()
            .insert(TOKEN_ID_KEY.into(), ByteString(b"zzzzzz".to_vec()));
        assert!(
            authenticate(ok, Some(&wrong_id), NOW)
                .unwrap_err()
                .contains("token-id")
        );

        let mut deleting = secret.clone();
        deleting.metadata.deletion_timestamp = Some(Time(NOW));
        assert!(
            authenticate(ok, Some(&deleting), NOW)
                .unwrap_err()
                .contains("deleted")
        );

        let mut bad_exp = secret.clone();
        bad_exp
            .data
            .as_mut()
            .unwrap()
            .insert(EXPIRATION_KEY.into(), ByteString(b"tomorrow".to_vec()));
        assert!(
            authenticate(ok, Some(&bad_exp), NOW)
                .unwrap_err()
                .contains("expired"),
            "unparseable = expired"
        );

        let mut no_exp = secret.clone();
        no_exp.data.as_mut().unwrap().remove(EXPIRATION_KEY);
        assert!(
            authenticate(ok, Some(&no_exp), i64::MAX / 2).is_ok(),
            "no expiration never expires"
        );

        let mut bad_group = secret;
        bad_group.data.as_mut().unwrap().insert(
            EXTRA_GROUPS_KEY.into(),
            ByteString(b"system:masters".to_vec()),
        );
        assert!(
            authenticate(ok, Some(&bad_group), NOW)
                .unwrap_err()
                .contains("auth-extra-groups")
        );
    }

    #[test]
    fn group_names() {
        assert!(validate_group_name("system:bootstrappers:clipper:default-node-token").is_ok());
        assert!(validate_group_name("system:bootstrappers:a").is_ok());
        for bad in [
            "system:bootstrappers:",
            "system:bootstrappers:a-",
            "system:bootstrappers:A",
            "system:masters",
            " system:bootstrappers:a",
        ] {
            assert!(validate_group_name(bad).is_err(), "{bad}");
        }
        let long = format!("system:bootstrappers:{}", "a".repeat(256));
        assert!(validate_group_name(&long).is_ok());
        let too_long = format!("system:bootstrappers:{}", "a".repeat(257));
        assert!(validate_group_name(&too_long).is_err());
        assert!(
            token_secret(
                &token(),
                &TokenOptions {
                    extra_groups: vec!["x".into()],
                    ..options()
                }
            )
            .is_err()
        );
    }
}
