//! `config`: kubectl's reading and writing of kubeconfig files — `view` (`--minify`,
//! `--raw`, `-o yaml|json|jsonpath=`), `get-contexts`, `current-context`, `use-context`,
//! `set-context`, `get-clusters` and `get-users`.
//!
//! The files are kubectl's: `--kubeconfig`, else every file of `$KUBECONFIG` (a
//! `:`-separated list, merged: the first file to name a cluster, user or context wins,
//! and the first to set `current-context`), else `~/.kube/config` (else the admin
//! kubeconfig `clipper up` writes, as the other verbs read). Entries are listed by name,
//! as kubectl's map-backed config lists them; secrets are shown as `DATA+OMITTED` and
//! `REDACTED` unless `--raw`. Writes go where kubectl's `ModifyConfig` puts them: a
//! context into the file that defines it (a new one into the default file: the only
//! file, else the first existing one, else the last), `current-context` into the first
//! file that sets one; each written file is re-serialized as kubectl writes it (sorted
//! YAML, lists by name, comments lost).

use std::path::{Path, PathBuf};

use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::{Map, Value, json};

use super::jsonpath::Template;
use super::output::{tabwrite, yaml_text};
use super::{Outcome, Result};

#[derive(clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
    /// Path to the kubeconfig file to use.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum ConfigAction {
    /// Display merged kubeconfig settings or a specified kubeconfig file.
    View(ViewArgs),
    /// Display one or many contexts from the kubeconfig file.
    GetContexts(GetContextsArgs),
    /// Display the current-context.
    CurrentContext,
    /// Set the current-context in a kubeconfig file.
    UseContext {
        /// The context to switch to.
        name: String,
    },
    /// Set a context entry in kubeconfig.
    SetContext(SetContextArgs),
    /// Display clusters defined in the kubeconfig.
    GetClusters,
    /// Display users defined in the kubeconfig.
    GetUsers,
}

#[derive(clap::Args)]
pub struct ViewArgs {
    /// Remove all information not used by the current-context from the output.
    #[arg(long)]
    pub minify: bool,
    /// Display raw byte data and sensitive data.
    #[arg(long)]
    pub raw: bool,
    /// yaml (the default), json, or jsonpath=TEMPLATE.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

#[derive(clap::Args)]
pub struct GetContextsArgs {
    /// Only these contexts.
    pub names: Vec<String>,
    /// `name` prints context names only.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Do not print the header line.
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(clap::Args)]
pub struct SetContextArgs {
    /// The context to create or modify.
    pub name: Option<String>,
    /// Modify the current context.
    #[arg(long)]
    pub current: bool,
    /// The context's cluster.
    #[arg(long)]
    pub cluster: Option<String>,
    /// The context's user.
    #[arg(long)]
    pub user: Option<String>,
    /// The context's namespace.
    #[arg(long)]
    pub namespace: Option<String>,
}

/// The three named lists of a kubeconfig, with the key of each entry's body.
const LISTS: [(&str, &str); 3] = [
    ("clusters", "cluster"),
    ("users", "user"),
    ("contexts", "context"),
];

/// One kubeconfig file as read.
#[derive(Clone, Debug)]
struct File {
    path: PathBuf,
    doc: Value,
}

/// The kubeconfig files kubectl would read, in order, and whether they came from
/// `--kubeconfig`.
fn files(flag: Option<&Path>) -> Result<Vec<PathBuf>> {
    if let Some(p) = flag {
        return Ok(vec![p.to_path_buf()]);
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let mut out: Vec<PathBuf> = Vec::new();
        for p in std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
    }
    let home = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".kube/config"))
        .unwrap_or_else(|| PathBuf::from(".kube/config"));
    if home.is_file() {
        return Ok(vec![home]);
    }
    // As the other verbs: the admin kubeconfig of `clipper up` when nothing else is set.
    match super::kubeconfig_path(None) {
        Ok(p) => Ok(vec![p]),
        Err(_) => Ok(vec![home]),
    }
}

fn load(paths: &[PathBuf], explicit: bool) -> Result<Vec<File>> {
    let mut out = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                out.push(File {
                    path: path.clone(),
                    doc: Value::Null,
                });
                continue;
            }
            Err(e) => anyhow::bail!("stat {}: {e}", path.display()),
        };
        let doc = if text.trim().is_empty() {
            Value::Null
        } else {
            yaml_serde::from_str::<Value>(&text).map_err(|e| {
                anyhow::anyhow!("error loading config file \"{}\": {e}", path.display())
            })?
        };
        out.push(File {
            path: path.clone(),
            doc,
        });
    }
    Ok(out)
}

/// An entry body as kubectl's types keep it: known fields only, `omitempty` ones dropped
/// when empty, the others always present.
fn normalize_body(list: &str, body: &Value) -> Value {
    let (always, optional): (&[&str], &[&str]) = match list {
        "clusters" => (
            &["server"],
            &[
                "tls-server-name",
                "insecure-skip-tls-verify",
                "certificate-authority",
                "certificate-authority-data",
                "proxy-url",
                "disable-compression",
                "extensions",
            ],
        ),
        "users" => (
            &[],
            &[
                "client-certificate",
                "client-certificate-data",
                "client-key",
                "client-key-data",
                "token",
                "tokenFile",
                "as",
                "as-uid",
                "as-groups",
                "as-user-extra",
                "username",
                "password",
                "auth-provider",
                "exec",
                "extensions",
            ],
        ),
        _ => (&["cluster", "user"], &["namespace", "extensions"]),
    };
    let mut out = Map::new();
    for k in always {
        let v = body.get(*k).cloned().unwrap_or(Value::Null);
        out.insert(
            k.to_string(),
            if v.is_null() {
                Value::String(String::new())
            } else {
                v
            },
        );
    }
    for k in optional {
        if let Some(v) = body.get(*k).filter(|v| !is_empty(v)) {
            out.insert(k.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// The entries of one list of a document: (name, normalized body), first of a name wins.
fn entries(doc: &Value, list: &str, body_key: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for e in doc[list].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        if out.iter().any(|(n, _)| n == name) {
            continue;
        }
        out.push((name.to_string(), normalize_body(list, &e[body_key])));
    }
    out
}

/// A config as kubectl serializes it: every top-level field, lists by name (`null`
/// when empty).
#[derive(Clone, Debug, Default)]
struct Config {
    preferences: Value,
    lists: [Vec<(String, Value)>; 3],
    current: String,
}

impl Config {
    fn of(doc: &Value) -> Config {
        let mut c = Config {
            preferences: json!({}),
            current: doc["current-context"].as_str().unwrap_or("").to_string(),
            ..Config::default()
        };
        if let Some(p) = doc.get("preferences").filter(|p| p.is_object()) {
            c.preferences = p.clone();
        }
        for (i, (list, body)) in LISTS.iter().enumerate() {
            c.lists[i] = entries(doc, list, body);
        }
        c
    }

    /// The merge of several files, kubectl's way: the first definition of a name wins,
    /// and the first current-context set.
    fn merged(files: &[File]) -> Config {
        let mut c = Config {
            preferences: json!({}),
            ..Config::default()
        };
        for f in files {
            let one = Config::of(&f.doc);
            if c.current.is_empty() {
                c.current = one.current.clone();
            }
            if c.preferences.as_object().is_some_and(|m| m.is_empty()) {
                c.preferences = one.preferences.clone();
            }
            for (i, list) in one.lists.into_iter().enumerate() {
                for (name, body) in list {
                    if !c.lists[i].iter().any(|(n, _)| *n == name) {
                        c.lists[i].push((name, body));
                    }
                }
            }
        }
        c
    }

    fn get(&self, list: usize, name: &str) -> Option<&Value> {
        self.lists[list]
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b)
    }

    fn names(&self, list: usize) -> Vec<String> {
        let mut n: Vec<String> = self.lists[list].iter().map(|(n, _)| n.clone()).collect();
        n.sort();
        n
    }

    /// Only what the current context uses.
    fn minify(&mut self) -> Result<()> {
        let Some(ctx) = self.get(2, &self.current).cloned() else {
            anyhow::bail!("current-context must exist in order to minify");
        };
        let keep = [
            ctx["cluster"].as_str().unwrap_or("").to_string(),
            ctx["user"].as_str().unwrap_or("").to_string(),
            self.current.clone(),
        ];
        for (i, name) in keep.iter().enumerate() {
            self.lists[i].retain(|(n, _)| n == name);
        }
        Ok(())
    }

    /// Secrets replaced as `kubectl config view` shows them without `--raw`.
    fn redact(&mut self) {
        let redactions: [(usize, &str, &str); 5] = [
            (0, "certificate-authority-data", "DATA+OMITTED"),
            (1, "client-certificate-data", "DATA+OMITTED"),
            (1, "client-key-data", "DATA+OMITTED"),
            (1, "token", "REDACTED"),
            (1, "password", "REDACTED"),
        ];
        for (list, key, with) in redactions {
            for (_, body) in &mut self.lists[list] {
                if let Some(v) = body.get_mut(key) {
                    *v = Value::String(with.into());
                }
            }
        }
    }

    /// The document (keys unordered; the printers order them).
    fn to_value(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("kind".into(), "Config".into());
        doc.insert("apiVersion".into(), "v1".into());
        doc.insert("preferences".into(), self.preferences.clone());
        for (i, (list, body_key)) in LISTS.iter().enumerate() {
            let mut items = self.lists[i].clone();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            let v = if items.is_empty() {
                Value::Null
            } else {
                Value::Array(
                    items
                        .into_iter()
                        .map(|(name, body)| json!({"name": name, *body_key: body}))
                        .collect(),
                )
            };
            doc.insert(list.to_string(), v);
        }
        doc.insert("current-context".into(), self.current.clone().into());
        Value::Object(doc)
    }
}

/// The field order of kubectl's kubeconfig types (clientcmd/api/v1), for `-o json`.
const FIELD_ORDER: &[&str] = &[
    "kind",
    "apiVersion",
    "preferences",
    "clusters",
    "users",
    "contexts",
    "current-context",
    "name",
    "cluster",
    "user",
    "context",
    "server",
    "tls-server-name",
    "insecure-skip-tls-verify",
    "certificate-authority",
    "certificate-authority-data",
    "proxy-url",
    "disable-compression",
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "token",
    "tokenFile",
    "as",
    "as-uid",
    "as-groups",
    "as-user-extra",
    "username",
    "password",
    "auth-provider",
    "exec",
    "namespace",
    "extensions",
];

/// A value serialized with object keys in kubeconfig field order (unknown keys after,
/// sorted).
struct Ordered<'a>(&'a Value);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                let rank = |k: &str| {
                    FIELD_ORDER
                        .iter()
                        .position(|f| *f == k)
                        .unwrap_or(FIELD_ORDER.len())
                };
                keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
                let mut map = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    map.serialize_entry(k, &Ordered(&m[k]))?;
                }
                map.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&Ordered(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// JSON as kubectl prints a kubeconfig: its types' field order, 4-space indent.
fn ordered_json(v: &Value) -> Result<String> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&Ordered(v), &mut ser)?;
    let mut s = String::from_utf8(out)?;
    s.push('\n');
    Ok(s)
}

pub async fn run(args: ConfigArgs) -> Result<Outcome> {
    let explicit = args.kubeconfig.is_some();
    let paths = files(args.kubeconfig.as_deref())?;
    let mut files = load(&paths, explicit)?;
    let config = Config::merged(&files);
    match args.action {
        ConfigAction::View(v) => view(config, &v),
        ConfigAction::GetContexts(g) => get_contexts(&config, &g),
        ConfigAction::CurrentContext => {
            if config.current.is_empty() {
                anyhow::bail!("current-context is not set");
            }
            println!("{}", config.current);
            Ok(Outcome::Success)
        }
        ConfigAction::UseContext { name } => {
            if config.get(2, &name).is_none() {
                anyhow::bail!("no context exists with the name: \"{name}\"");
            }
            let i = files
                .iter()
                .position(|f| {
                    f.doc["current-context"]
                        .as_str()
                        .is_some_and(|c| !c.is_empty())
                })
                .unwrap_or_else(|| default_file(&files, explicit));
            let mut c = Config::of(&files[i].doc);
            c.current = name.clone();
            write(&mut files[i], &c)?;
            println!("Switched to context \"{name}\".");
            Ok(Outcome::Success)
        }
        ConfigAction::SetContext(s) => set_context(&config, &mut files, explicit, s),
        ConfigAction::GetClusters => {
            print_names(&config, 0);
            Ok(Outcome::Success)
        }
        ConfigAction::GetUsers => {
            print_names(&config, 1);
            Ok(Outcome::Success)
        }
    }
}

fn view(mut config: Config, args: &ViewArgs) -> Result<Outcome> {
    if args.minify {
        config.minify()?;
    }
    if !args.raw {
        config.redact();
    }
    let doc = config.to_value();
    let text = match args.output.as_deref() {
        None | Some("") | Some("yaml") => yaml_text(&doc),
        Some("json") => ordered_json(&doc)?,
        Some(other) => match other
            .strip_prefix("jsonpath=")
            .or_else(|| other.strip_prefix("jsonpath-as-json="))
        {
            Some(t) => Template::parse(t)?.render(&doc)?,
            None => anyhow::bail!(
                "unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,jsonpath,yaml"
            ),
        },
    };
    print!("{text}");
    Ok(Outcome::Success)
}

fn get_contexts(config: &Config, args: &GetContextsArgs) -> Result<Outcome> {
    let names_only = match args.output.as_deref() {
        None | Some("") => false,
        Some("name") => true,
        Some(other) => anyhow::bail!("output must be one of '' or 'name': {other}"),
    };
    let mut wanted = config.names(2);
    let mut missing = Vec::new();
    if !args.names.is_empty() {
        missing = args
            .names
            .iter()
            .filter(|n| config.get(2, n).is_none())
            .cloned()
            .collect();
        wanted.retain(|n| args.names.contains(n));
    }
    let mut text = String::new();
    if names_only {
        for n in &wanted {
            text.push_str(n);
            text.push('\n');
        }
    } else {
        if !args.no_headers {
            text.push_str("CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE\n");
        }
        for n in &wanted {
            let ctx = config.get(2, n).cloned().unwrap_or(Value::Null);
            let star = if *n == config.current { "*" } else { "" };
            text.push_str(&format!(
                "{star}\t{n}\t{}\t{}\t{}\n",
                ctx["cluster"].as_str().unwrap_or(""),
                ctx["user"].as_str().unwrap_or(""),
                ctx["namespace"].as_str().unwrap_or("")
            ));
        }
        text = tabwrite(&text, 3);
    }
    print!("{text}");
    if missing.is_empty() {
        return Ok(Outcome::Success);
    }
    let errors: Vec<String> = missing
        .iter()
        .map(|n| format!("context {n} not found"))
        .collect();
    if errors.len() == 1 {
        anyhow::bail!("{}", errors[0]);
    }
    anyhow::bail!("[{}]", errors.join(", "))
}

fn print_names(config: &Config, list: usize) {
    println!("NAME");
    for n in config.names(list) {
        println!("{n}");
    }
}

/// kubectl's default file for new entries: the only file, else the first that exists,
/// else the last.
fn default_file(files: &[File], explicit: bool) -> usize {
    if explicit || files.len() == 1 {
        return 0;
    }
    files
        .iter()
        .position(|f| f.path.is_file())
        .unwrap_or(files.len().saturating_sub(1))
}

fn set_context(
    merged: &Config,
    files: &mut [File],
    explicit: bool,
    args: SetContextArgs,
) -> Result<Outcome> {
    let name = match (&args.name, args.current) {
        (Some(_), true) => anyhow::bail!("you cannot specify both a context name and --current"),
        (Some(n), false) if !n.is_empty() => n.clone(),
        (None, true) => {
            if merged.current.is_empty() {
                anyhow::bail!("no current context is set");
            }
            merged.current.clone()
        }
        _ => anyhow::bail!("you must specify a non-empty context name or --current"),
    };
    let exists = merged.get(2, &name).is_some();
    let i = files
        .iter()
        .position(|f| {
            entries(&f.doc, "contexts", "context")
                .iter()
                .any(|(n, _)| *n == name)
        })
        .unwrap_or_else(|| default_file(files, explicit));
    let mut c = Config::of(&files[i].doc);
    let mut body = c
        .get(2, &name)
        .cloned()
        .unwrap_or_else(|| normalize_body("contexts", &Value::Null));
    for (key, value) in [
        ("cluster", &args.cluster),
        ("user", &args.user),
        ("namespace", &args.namespace),
    ] {
        if let Some(v) = value {
            body[key] = Value::String(v.clone());
        }
    }
    let body = normalize_body("contexts", &body);
    match c.lists[2].iter_mut().find(|(n, _)| *n == name) {
        Some(entry) => entry.1 = body,
        None => c.lists[2].push((name.clone(), body)),
    }
    write(&mut files[i], &c)?;
    let word = if exists { "modified" } else { "created" };
    println!("Context \"{name}\" {word}.");
    Ok(Outcome::Success)
}

/// Rewrites one file with `config`, as kubectl writes kubeconfigs (sorted YAML).
fn write(file: &mut File, config: &Config) -> Result<()> {
    let doc = config.to_value();
    if let Some(dir) = file.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(&file.path, yaml_text(&doc))
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", file.path.display()))?;
    file.doc = doc;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> File {
        File {
            path: PathBuf::from("x"),
            doc: yaml_serde::from_str(text).unwrap(),
        }
    }

    #[test]
    fn merge_keeps_the_first_definition_and_current_context() {
        let a = file(
            "clusters: [{name: b, cluster: {server: 'https://a'}}]\ncontexts: [{name: c, context: {cluster: b, user: u}}]\n",
        );
        let b = file(
            "clusters: [{name: b, cluster: {server: 'https://x'}}, {name: a, cluster: {server: 'https://y', insecure-skip-tls-verify: false}}]\ncurrent-context: c\n",
        );
        let c = Config::merged(&[a, b]);
        assert_eq!(c.current, "c");
        assert_eq!(c.get(0, "b").unwrap()["server"], "https://a");
        // Names sorted; false omitempty fields dropped.
        let doc = c.to_value();
        assert_eq!(
            doc["clusters"][0],
            json!({"name": "a", "cluster": {"server": "https://y"}})
        );
        assert_eq!(doc["users"], Value::Null);
    }

    #[test]
    fn view_redacts_and_minifies_and_orders_json_as_kubectl() {
        let mut c = Config::of(
            &file(
                "clusters: [{name: k, cluster: {server: s, certificate-authority-data: QUJD}}, {name: z, cluster: {server: t}}]\nusers: [{name: u, user: {token: t, client-key-data: QUJD}}]\ncontexts: [{name: c, context: {user: u, cluster: k, namespace: n}}]\ncurrent-context: c\n",
            )
            .doc,
        );
        c.minify().unwrap();
        c.redact();
        let doc = c.to_value();
        assert_eq!(doc["clusters"].as_array().unwrap().len(), 1);
        assert_eq!(
            doc["clusters"][0]["cluster"]["certificate-authority-data"],
            "DATA+OMITTED"
        );
        assert_eq!(doc["users"][0]["user"]["token"], "REDACTED");
        let text = ordered_json(&doc).unwrap();
        assert!(text.starts_with("{\n    \"kind\": \"Config\",\n    \"apiVersion\": \"v1\",\n    \"preferences\": {},\n    \"clusters\": ["), "{text}");
        assert!(text.contains("\"cluster\": \"k\",\n                \"user\": \"u\",\n                \"namespace\": \"n\""), "{text}");
        let mut none = Config::default();
        assert_eq!(
            none.minify().unwrap_err().to_string(),
            "current-context must exist in order to minify"
        );
    }
}
