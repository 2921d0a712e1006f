//! `clipper token create|list|delete` (kubeadm's `token` verbs: bootstrap tokens as
//! Secrets `kube-system/bootstrap-token-<id>`) and `clipper join`, which creates a
//! token and prints the exact `clipper agent` command that joins a host: the API
//! server's advertised address (from `kube-public/cluster-info`), the token, and the
//! pin of the cluster CA's public key that the joining agent checks before it trusts
//! the server.

use std::time::Duration;

use clipper_apiserver::auth::bootstrap_token::{self as bt, BootstrapToken, TokenOptions};
use clipper_apiserver::auth::policy::DEFAULT_NODE_TOKEN_GROUP;
use clipper_client::rest::Method;
use serde_json::Value;

use super::{Global, Outcome, Result, Session, output};

const SECRETS: &str = "/api/v1/namespaces/kube-system/secrets";

#[derive(clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub action: TokenAction,
}

#[derive(clap::Subcommand)]
pub enum TokenAction {
    /// Create a bootstrap token for joining a node (printed on stdout).
    Create(CreateArgs),
    /// List the bootstrap tokens.
    List {
        #[command(flatten)]
        global: Global,
    },
    /// Delete bootstrap tokens, by id or whole token.
    Delete {
        #[arg(required = true)]
        tokens: Vec<String>,
        #[command(flatten)]
        global: Global,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The token to create (`[a-z0-9]{6}.[a-z0-9]{16}`) [default: a random one].
    pub token: Option<String>,
    /// How long the token is valid (`24h`, `30m`; 0: never expires).
    #[arg(long, default_value = "24h")]
    pub ttl: String,
    /// What the token is for (shown by `token list`).
    #[arg(long, default_value = "")]
    pub description: String,
    /// How the token may be used.
    #[arg(long, value_delimiter = ',', default_value = "signing,authentication")]
    pub usages: Vec<String>,
    /// Extra groups the token authenticates as (each `system:bootstrappers:...`).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_NODE_TOKEN_GROUP)]
    pub groups: Vec<String>,
    /// Print the whole `clipper agent` command that joins a host with the token.
    #[arg(long)]
    pub print_join_command: bool,
    #[command(flatten)]
    pub global: Global,
}

#[derive(clap::Args)]
pub struct JoinArgs {
    /// How long the token in the command is valid.
    #[arg(long, default_value = "24h")]
    pub ttl: String,
    #[command(flatten)]
    pub global: Global,
}

pub async fn run(args: TokenArgs) -> Result<Outcome> {
    match args.action {
        TokenAction::Create(a) => {
            let session = Session::new(&a.global)?;
            let token = create_token(&session, &a).await?;
            if a.print_join_command {
                say(&join_command(&session, &token).await?);
            } else {
                say(&token.to_string());
            }
            Ok(Outcome::Success)
        }
        TokenAction::List { global } => list(&Session::new(&global)?).await,
        TokenAction::Delete { tokens, global } => delete(&Session::new(&global)?, &tokens).await,
    }
}

pub async fn join(args: JoinArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let create = CreateArgs {
        token: None,
        ttl: args.ttl,
        description: "created by clipper join".into(),
        usages: vec!["signing".into(), "authentication".into()],
        groups: vec![DEFAULT_NODE_TOKEN_GROUP.into()],
        print_join_command: true,
        global: args.global,
    };
    let token = create_token(&session, &create).await?;
    say(&join_command(&session, &token).await?);
    Ok(Outcome::Success)
}

fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The token's options from the flags, checked as kubeadm checks them.
fn options(args: &CreateArgs, now: i64) -> Result<TokenOptions> {
    let ttl = super::delete::parse_duration(&args.ttl)?;
    let mut opts = TokenOptions {
        description: args.description.clone(),
        expiration: (ttl > Duration::ZERO).then(|| now + ttl.as_secs() as i64),
        extra_groups: args
            .groups
            .iter()
            .filter(|g| !g.is_empty())
            .cloned()
            .collect(),
        ..TokenOptions::default()
    };
    for u in &args.usages {
        match u.as_str() {
            "signing" => opts.usage_signing = true,
            "authentication" => opts.usage_authentication = true,
            other => anyhow::bail!(
                "invalid bootstrap token usage {other:?}: valid usages are signing, authentication"
            ),
        }
    }
    for g in &opts.extra_groups {
        bt::validate_group_name(g).map_err(anyhow::Error::msg)?;
    }
    Ok(opts)
}

async fn create_token(session: &Session, args: &CreateArgs) -> Result<BootstrapToken> {
    let token = match &args.token {
        Some(t) => {
            let (id, secret) = bt::parse_token(t).ok_or_else(|| {
                anyhow::anyhow!(
                    "the bootstrap token {t:?} was not of the form \"[a-z0-9]{{6}}.[a-z0-9]{{16}}\""
                )
            })?;
            BootstrapToken {
                id: id.into(),
                secret: secret.into(),
            }
        }
        None => bt::generate().map_err(anyhow::Error::msg)?,
    };
    let opts = options(args, clipper_proto::Time::now().0)?;
    let secret = bt::token_secret(&token, &opts).map_err(anyhow::Error::msg)?;
    let body = serde_json::to_value(&secret)?;
    session
        .send(Method::POST, SECRETS, "application/json", &body)
        .await?;
    Ok(token)
}

/// `clipper agent --server URL --token T --ca-cert-hash sha256:...`.
async fn join_command(session: &Session, token: &BootstrapToken) -> Result<String> {
    let info = session
        .get("/api/v1/namespaces/kube-public/configmaps/cluster-info")
        .await
        .map_err(|e| anyhow::anyhow!("reading kube-public/cluster-info: {e}"))?;
    let kubeconfig = info["data"][clipper_apiserver::cluster_info::KUBECONFIG_KEY]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("kube-public/cluster-info has no kubeconfig"))?;
    let doc: Value = yaml_serde::from_str(kubeconfig)
        .map_err(|e| anyhow::anyhow!("kube-public/cluster-info: {e}"))?;
    let server = doc["clusters"][0]["cluster"]["server"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("kube-public/cluster-info names no server"))?;
    let pin = clipper_apiserver::auth::pki::public_key_pin(&session.ca)
        .map_err(|e| anyhow::anyhow!("the cluster CA in the kubeconfig: {e}"))?;
    Ok(format!(
        "clipper agent --server {server} --token {token} --ca-cert-hash {pin}"
    ))
}

fn data(secret: &Value, key: &str) -> Option<String> {
    use base64::Engine as _;
    let b64 = secret["data"][key].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

async fn list(session: &Session) -> Result<Outcome> {
    let path = format!(
        "{SECRETS}?fieldSelector=type%3D{}",
        bt::SECRET_TYPE.replace('/', "%2F")
    );
    let list = session.get(&path).await?;
    let now = clipper_proto::Time::now().0;
    let mut rows = vec![
        [
            "TOKEN",
            "TTL",
            "EXPIRES",
            "USAGES",
            "DESCRIPTION",
            "EXTRA GROUPS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for s in list["items"].as_array().into_iter().flatten() {
        let (Some(id), Some(secret)) = (data(s, bt::TOKEN_ID_KEY), data(s, bt::TOKEN_SECRET_KEY))
        else {
            continue;
        };
        let expires = data(s, bt::EXPIRATION_KEY);
        let expiry = expires
            .as_deref()
            .and_then(|e| clipper_proto::Time::parse(e).ok())
            .map(|t| t.0);
        let (ttl, expires) = match expiry {
            None => ("<forever>".to_string(), "<never>".to_string()),
            Some(t) if t <= now => ("<invalid>".to_string(), expires.unwrap_or_default()),
            Some(t) => (output::human_duration(t - now), expires.unwrap_or_default()),
        };
        let mut usages = Vec::new();
        for (key, name) in [
            (bt::USAGE_AUTHENTICATION_KEY, "authentication"),
            (bt::USAGE_SIGNING_KEY, "signing"),
        ] {
            if data(s, key).as_deref() == Some("true") {
                usages.push(name);
            }
        }
        rows.push(vec![
            format!("{id}.{secret}"),
            ttl,
            expires,
            usages.join(","),
            data(s, bt::DESCRIPTION_KEY).unwrap_or_else(|| "<none>".into()),
            data(s, bt::EXTRA_GROUPS_KEY).unwrap_or_default(),
        ]);
    }
    if rows.len() == 1 {
        eprintln!("No resources found.");
        return Ok(Outcome::Success);
    }
    print!("{}", output::align(&rows));
    Ok(Outcome::Success)
}

async fn delete(session: &Session, tokens: &[String]) -> Result<Outcome> {
    let mut ok = true;
    for t in tokens {
        let id = match bt::parse_token(t) {
            Some((id, _)) => id.to_string(),
            None if t.len() == bt::TOKEN_ID_LEN
                && t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
            {
                t.clone()
            }
            None => {
                eprintln!(
                    "error: given token or token id {t:?} didn't match pattern \"[a-z0-9]{{6}}\" or \"[a-z0-9]{{6}}.[a-z0-9]{{16}}\""
                );
                ok = false;
                continue;
            }
        };
        let path = format!("{SECRETS}/{}", bt::secret_name(&id));
        match session.client.delete(&path).await {
            Ok(_) => say(&format!("bootstrap token {id:?} deleted")),
            Err(e) => {
                super::print_error(&super::client_error(e));
                ok = false;
            }
        }
    }
    Ok(Outcome::from_ok(ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(ttl: &str, usages: &[&str], groups: &[&str]) -> CreateArgs {
        CreateArgs {
            token: None,
            ttl: ttl.into(),
            description: "d".into(),
            usages: usages.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            print_join_command: false,
            global: Global::default(),
        }
    }

    #[test]
    fn flags_become_the_tokens_options() {
        let o = options(
            &args(
                "2h",
                &["signing", "authentication"],
                &[DEFAULT_NODE_TOKEN_GROUP],
            ),
            1000,
        )
        .unwrap();
        assert_eq!(o.expiration, Some(1000 + 7200));
        assert!(o.usage_signing && o.usage_authentication);
        assert_eq!(o.extra_groups, vec![DEFAULT_NODE_TOKEN_GROUP.to_string()]);
        assert_eq!(
            options(&args("0", &["signing"], &[]), 1000)
                .unwrap()
                .expiration,
            None
        );
        let bad_usage = options(&args("1h", &["flying"], &[]), 0).unwrap_err();
        assert!(
            bad_usage
                .to_string()
                .contains("invalid bootstrap token usage")
        );
        assert!(options(&args("1h", &["signing"], &["admins"]), 0).is_err());
        assert!(options(&args("soon", &["signing"], &[]), 0).is_err());
    }
}
