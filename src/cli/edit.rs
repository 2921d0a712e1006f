//! `edit`: kubectl's edit loop. The objects are fetched (managedFields left out), written
//! to a temporary file — YAML under kubectl's header comment, or JSON with `-o json` —
//! and `$KUBE_EDITOR`, else `$EDITOR`, else `vi` runs on it (through `$SHELL -c`, else
//! bash, when the editor has arguments). What the user saved is compared with what was
//! written; each changed object is sent as the patch kubectl computes: a strategic merge
//! patch from original to edited for built-in kinds (the two-way patch of
//! `apiserver::patch`), a JSON merge patch for the others. Like kubectl, the patch
//! carries no resourceVersion (an edit made over a concurrent change wins for the fields
//! it touched), and changing apiVersion, kind or name is refused.
//!
//! Outcomes, with kubectl's words: `TYPE/NAME edited` (or `skipped`), `Edit cancelled,
//! no changes made.`, `Edit cancelled, saved file was empty.`; a syntax error or an
//! Invalid answer reopens the editor with the reasons as comments atop the user's text,
//! and saving that unchanged gives up with `A copy of your changes has been stored to
//! "FILE"` and `error: Edit cancelled, no valid changes were saved.`

use std::io::Write;
use std::path::{Path, PathBuf};

use clipper_client::rest::{self, Method};
use serde_json::{Map, Value, json};

use super::discovery::{Resource, targets};
use super::output::{json_text, name_ref, yaml_text};
use super::{Global, Outcome, Result, Session, query};

#[derive(clap::Args)]
pub struct EditArgs {
    /// TYPE NAME..., TYPE/NAME..., or TYPE alone (every object of the type).
    pub resources: Vec<String>,
    /// The format to edit in: yaml (the default) or json.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// The field manager of the patch.
    #[arg(long, default_value = "kubectl-edit")]
    pub field_manager: String,
    /// Print the patch sent for each object.
    #[arg(long)]
    pub output_patch: bool,
    #[command(flatten)]
    pub global: Global,
}

const HEADER: &str = "# Please edit the object below. Lines beginning with a '#' will be ignored,\n# and an empty file will abort the edit. If an error occurs while saving this file will be\n# reopened with the relevant failures.\n#\n";

/// A reason the file is reopened: a head line and its details.
#[derive(Clone, Debug, Default)]
struct Reason {
    head: String,
    other: Vec<String>,
}

/// kubectl's editor header with the reasons for reopening the file.
fn header(reasons: &[Reason]) -> String {
    let mut out = HEADER.to_string();
    for r in reasons {
        if r.other.is_empty() {
            out.push_str(&format!("# {}\n", hash_on_line_break(&r.head)));
        } else {
            out.push_str(&format!("# {}:\n", hash_on_line_break(&r.head)));
        }
        for o in &r.other {
            out.push_str(&format!("# * {}\n", hash_on_line_break(o)));
        }
        out.push_str("#\n");
    }
    out
}

/// Continues comments over the line breaks of a message.
fn hash_on_line_break(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' && chars.peek().is_some_and(|n| *n != '#') {
            out.push_str("\n# ");
        } else {
            out.push(c);
        }
    }
    out
}

/// The text without its comment lines (`#`, but not `#!`).
pub fn manual_strip(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.starts_with('#') && !t.starts_with("#!") {
            continue;
        }
        out.push_str(line);
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
    out
}

/// The documents of an edited file, or `None` if it does not parse (then compared as text).
fn parsed(text: &str) -> Option<Vec<Value>> {
    clipper_proto::codec::yaml_documents(&manual_strip(text)).ok()
}

/// Whether two files say the same, comments aside.
fn same_content(a: &str, b: &str) -> bool {
    match (parsed(a), parsed(b)) {
        (Some(x), Some(y)) => x == y,
        _ => manual_strip(a) == manual_strip(b),
    }
}

/// Whether any line has something other than a comment.
fn has_lines(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    })
}

/// The JSON merge patch (RFC 7386) turning `original` into `modified`.
pub fn create_merge_patch(original: &Value, modified: &Value) -> Value {
    match (original, modified) {
        (Value::Object(o), Value::Object(m)) => {
            let mut patch = Map::new();
            for k in o.keys() {
                if !m.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            for (k, v) in m {
                match o.get(k) {
                    Some(old) if old == v => {}
                    Some(old @ Value::Object(_)) if v.is_object() => {
                        patch.insert(k.clone(), create_merge_patch(old, v));
                    }
                    _ => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(patch)
        }
        _ => modified.clone(),
    }
}

/// The patch kubectl sends for an edit, with its content type; refuses a change of
/// apiVersion, kind or name.
pub fn edit_patch(original: &Value, edited: &Value) -> Result<(Value, &'static str)> {
    let changed = |a: &Value, b: &Value| a != b;
    if changed(&original["apiVersion"], &edited["apiVersion"])
        || changed(&original["kind"], &edited["kind"])
        || changed(&original["metadata"]["name"], &edited["metadata"]["name"])
        || changed(
            &original["metadata"]["managedFields"],
            &edited["metadata"]["managedFields"],
        )
    {
        anyhow::bail!("At least one of apiVersion, kind and name was changed");
    }
    let api_version = original["apiVersion"].as_str().unwrap_or("");
    let kind = original["kind"].as_str().unwrap_or("");
    match clipper_proto::schema::schema().definition_for_kind(api_version, kind) {
        Some(def) => {
            let patch =
                clipper_apiserver::patch::create_two_way_merge_patch(original, edited, &def.name)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok((patch, rest::STRATEGIC_MERGE_PATCH))
        }
        None => Ok((create_merge_patch(original, edited), rest::MERGE_PATCH)),
    }
}

/// The editor command: the first of $KUBE_EDITOR and $EDITOR that is set, else `vi`;
/// run through the shell when it has arguments.
fn editor_command(path: &Path) -> std::process::Command {
    let editor = ["KUBE_EDITOR", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string());
    if editor.contains(' ') {
        let shell = std::env::var("SHELL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/bash".into());
        let mut cmd = std::process::Command::new(shell);
        cmd.arg("-c")
            .arg(format!("{editor} {:?}", path.display().to_string()));
        cmd
    } else {
        let mut cmd = std::process::Command::new(editor);
        cmd.arg(path);
        cmd
    }
}

/// Writes `text` to a new temporary file and runs the editor on it; returns what was
/// saved and the file's path.
fn launch(text: &str, ext: &str) -> Result<(String, PathBuf)> {
    let dir = std::env::temp_dir();
    let mut n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let (path, mut file) = loop {
        let path = dir.join(format!("clipper-edit-{}{n:09}{ext}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => break (path, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n = n.wrapping_add(1),
            Err(e) => anyhow::bail!("creating a temporary file in {}: {e}", dir.display()),
        }
    };
    file.write_all(text.as_bytes())?;
    drop(file);
    let mut cmd = editor_command(&path);
    let shown = format!("{cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(_) => anyhow::bail!("there was a problem with the editor {shown}"),
        Err(_) => anyhow::bail!("unable to launch the editor {shown}"),
    }
    let edited = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok((edited, path))
}

/// Prints where the user's text was kept, as kubectl does before giving up.
fn preserved(path: Option<&Path>) {
    if let Some(p) = path.filter(|p| p.exists()) {
        eprintln!(
            "A copy of your changes has been stored to {:?}",
            p.display().to_string()
        );
    }
}

/// `deployments.apps`: kubectl's resource string in edit messages.
fn resource_string(r: &Resource) -> String {
    if r.group.is_empty() {
        r.name.clone()
    } else {
        format!("{}.{}", r.name, r.group)
    }
}

pub async fn run(args: EditArgs) -> Result<Outcome> {
    let json_mode = match args.output.as_deref() {
        None | Some("") | Some("yaml") => false,
        Some("json") => true,
        Some(other) => anyhow::bail!(
            "unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,yaml"
        ),
    };
    let session = Session::new(&args.global)?;
    if args.resources.is_empty() {
        anyhow::bail!(
            "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'"
        );
    }
    let discovery = session.discovery().await?;
    let t = targets(discovery, &args.resources)?;
    let mut originals: Vec<(&Resource, Value)> = Vec::new();
    for (r, name) in t.named {
        let obj = session.get(&r.object(&session.namespace, &name)).await?;
        originals.push((r, super::output::with_type(r, obj)));
    }
    for r in t.types {
        let list = session.get(&r.collection(Some(&session.namespace))).await?;
        for item in list["items"].as_array().into_iter().flatten() {
            originals.push((r, super::output::with_type(r, item.clone())));
        }
    }
    if originals.is_empty() {
        anyhow::bail!("edit cancelled, no objects found");
    }
    for (_, o) in &mut originals {
        if let Some(m) = o["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    }
    let doc = if originals.len() == 1 {
        originals[0].1.clone()
    } else {
        json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {},
            "items": originals.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>(),
        })
    };
    let printed = if json_mode {
        json_text(&doc)
    } else {
        yaml_text(&doc)
    };
    let ext = if json_mode { ".json" } else { ".yaml" };
    let mut reasons: Vec<Reason> = Vec::new();
    let mut original_text = String::new();
    let mut edited = String::new();
    let mut last_file: Option<PathBuf> = None;
    let mut contains_error = false;
    loop {
        let mut buf = if json_mode {
            String::new()
        } else {
            header(&reasons)
        };
        if contains_error {
            buf.push_str(&manual_strip(&edited));
        } else {
            buf.push_str(&printed);
            original_text = buf.clone();
        }
        let previous = std::mem::take(&mut edited);
        let (text, file) = match launch(&buf, ext) {
            Ok(x) => x,
            Err(e) => {
                preserved(last_file.as_deref());
                return Err(e);
            }
        };
        edited = text;
        if contains_error && same_content(&previous, &edited) {
            preserved(Some(&file));
            anyhow::bail!("Edit cancelled, no valid changes were saved.");
        }
        if let Some(old) = last_file.take() {
            let _ = std::fs::remove_file(old);
        }
        if same_content(&original_text, &edited) {
            let _ = std::fs::remove_file(&file);
            eprintln!("Edit cancelled, no changes made.");
            return Ok(Outcome::Success);
        }
        if !has_lines(&edited) {
            let _ = std::fs::remove_file(&file);
            eprintln!("Edit cancelled, saved file was empty.");
            return Ok(Outcome::Success);
        }
        last_file = Some(file.clone());
        reasons.clear();
        let docs = match clipper_proto::codec::yaml_documents(&manual_strip(&edited)) {
            Ok(d) => d,
            Err(e) => {
                contains_error = true;
                reasons.push(Reason {
                    head: format!("The edited file had a syntax error: {e}"),
                    other: Vec::new(),
                });
                continue;
            }
        };
        let mut updated = Vec::new();
        for d in docs {
            if d["kind"].as_str().is_some_and(|k| k.ends_with("List")) && d["items"].is_array() {
                updated.extend(d["items"].as_array().into_iter().flatten().cloned());
            } else {
                updated.push(d);
            }
        }
        let mut results = Results::default();
        for obj in &updated {
            let uid = &obj["metadata"]["uid"];
            let Some((r, original)) = originals
                .iter()
                .find(|(_, o)| !uid.is_null() && o["metadata"]["uid"] == *uid)
            else {
                preserved(Some(&file));
                anyhow::bail!(
                    "no original object found for {}",
                    obj["metadata"]["name"].as_str().unwrap_or("")
                );
            };
            let name = original["metadata"]["name"].as_str().unwrap_or("");
            if r.namespaced {
                let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
                if !ns.is_empty() && ns != session.namespace {
                    preserved(Some(&file));
                    anyhow::bail!(
                        "the namespace from the provided object \"{ns}\" does not match the namespace \"{}\". You must pass '--namespace={ns}' to perform this operation.",
                        session.namespace
                    );
                }
            }
            if original == obj {
                println!("{} skipped", name_ref(r, name));
                continue;
            }
            let (patch, content_type) = match edit_patch(original, obj) {
                Ok(p) => p,
                Err(e) => {
                    preserved(Some(&file));
                    return Err(e);
                }
            };
            if args.output_patch {
                println!("Patch: {patch}");
            }
            let path = format!(
                "{}{}",
                r.object(&session.namespace, name),
                query(&[("fieldManager", &args.field_manager)])
            );
            let body = serde_json::to_vec(&patch)?;
            let (code, answer) = session
                .client
                .raw(Method::PATCH, &path, Some(content_type), body.into())
                .await
                .map_err(super::client_error)?;
            if (200..300).contains(&code) {
                println!("{} edited", name_ref(r, name));
            } else {
                let status: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                eprintln!("{}", results.add_error(code, &status, r, name));
            }
        }
        if results.retryable > 0 {
            eprintln!(
                "You can run `clipper replace -f {}` to try this update again.",
                file.display()
            );
            return Ok(Outcome::Failed);
        }
        if results.notfound > 0 {
            eprintln!(
                "The edits you made on deleted resources have been saved to {:?}",
                file.display().to_string()
            );
            return Ok(Outcome::Failed);
        }
        if results.invalid == 0 {
            let _ = std::fs::remove_file(&file);
            return Ok(Outcome::Success);
        }
        reasons = results.reasons;
        contains_error = true;
    }
}

/// What went wrong with the patches of one round.
#[derive(Default)]
struct Results {
    reasons: Vec<Reason>,
    invalid: usize,
    retryable: usize,
    notfound: usize,
}

impl Results {
    /// Records a failed patch; returns kubectl's line for it.
    fn add_error(&mut self, code: u16, status: &Value, r: &Resource, name: &str) -> String {
        let res = resource_string(r);
        match code {
            422 => {
                self.invalid += 1;
                let other = status["details"]["causes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        format!(
                            "{}: {}",
                            c["field"].as_str().unwrap_or(""),
                            c["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                self.reasons.push(Reason {
                    head: format!("{res} \"{name}\" was not valid"),
                    other,
                });
                format!("error: {res} \"{name}\" is invalid")
            }
            404 => {
                self.notfound += 1;
                format!("error: {res} \"{name}\" could not be found on the server")
            }
            _ => {
                self.retryable += 1;
                let message = status["message"].as_str().unwrap_or("");
                format!("error: {res} \"{name}\" could not be patched: {message}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_and_headers_carry_reasons() {
        let text = "# a\n  # b\n#!keep\nx: 1\n";
        assert_eq!(manual_strip(text), "#!keep\nx: 1\n");
        assert!(same_content("# h\nx: 1\n", "x:   1\n# other\n"));
        assert!(!same_content("x: 1\n", "x: 2\n"));
        assert!(!has_lines("# only\n\n  # comments\n"));
        let h = header(&[Reason {
            head: "configmaps \"a\" was not valid".into(),
            other: vec!["data: Invalid value: \"x\"\nmore".into()],
        }]);
        assert!(h.starts_with(HEADER));
        assert!(h.ends_with(
            "# configmaps \"a\" was not valid:\n# * data: Invalid value: \"x\"\n# more\n#\n"
        ));
    }

    #[test]
    fn merge_patch_holds_only_the_difference() {
        let a = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        let b = json!({"a": 1, "b": {"c": 5, "d": 3}, "e": [1, 2], "f": "x"});
        assert_eq!(
            create_merge_patch(&a, &b),
            json!({"b": {"c": 5}, "e": [1, 2], "f": "x"})
        );
        assert_eq!(
            create_merge_patch(&b, &a),
            json!({"b": {"c": 2}, "e": [1], "f": null})
        );
    }

    #[test]
    fn edit_patches_are_strategic_for_built_ins_and_refuse_renames() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "resourceVersion": "5"}, "data": {"k": "v"}});
        let mut changed = cm.clone();
        changed["data"]["k"] = json!("w");
        let (patch, ty) = edit_patch(&cm, &changed).unwrap();
        assert_eq!(ty, rest::STRATEGIC_MERGE_PATCH);
        assert_eq!(patch, json!({"data": {"k": "w"}}));
        let mut renamed = cm.clone();
        renamed["metadata"]["name"] = json!("b");
        assert_eq!(
            edit_patch(&cm, &renamed).unwrap_err().to_string(),
            "At least one of apiVersion, kind and name was changed"
        );
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"}, "spec": {"size": 1}});
        let mut bigger = cr.clone();
        bigger["spec"]["size"] = json!(2);
        let (patch, ty) = edit_patch(&cr, &bigger).unwrap();
        assert_eq!(ty, rest::MERGE_PATCH);
        assert_eq!(patch, json!({"spec": {"size": 2}}));
    }
}
