//! Tests of the apply module: scenarios of applies and writes on real kinds, checked
//! against the objects and managedFields kube-apiserver produces; FieldsV1 as `kubectl get
//! --show-managed-fields` prints it; custom resources and untyped objects; property tests
//! that no configuration panics.

mod apply;
mod crd;
mod fields_v1;
mod props;
mod update;

use clipper_proto::Time;
use serde_json::{Value, json};

use super::{FieldManager, SchemaLookup};

/// 2024-05-01T10:00:00Z plus `n` seconds: step `n` of a scenario runs at `t(n)`.
pub fn t(n: i64) -> Time {
    Time(1_714_557_600 + n)
}

/// One write of a scenario.
pub enum Step {
    /// Server-side apply of a configuration.
    Apply {
        manager: &'static str,
        force: bool,
        config: Value,
    },
    /// A create, update or patch storing `object`, through `subresource` if any.
    Write {
        manager: &'static str,
        subresource: &'static str,
        object: Value,
    },
}

pub fn apply(manager: &'static str, config: Value) -> Step {
    Step::Apply {
        manager,
        force: false,
        config,
    }
}

pub fn force(manager: &'static str, config: Value) -> Step {
    Step::Apply {
        manager,
        force: true,
        config,
    }
}

pub fn write(manager: &'static str, object: Value) -> Step {
    Step::Write {
        manager,
        subresource: "",
        object,
    }
}

pub fn write_status(manager: &'static str, object: Value) -> Step {
    Step::Write {
        manager,
        subresource: "status",
        object,
    }
}

/// What the last step must give.
pub enum Want {
    /// The stored object (without managedFields and uid; `None` to skip the check) and
    /// the managers in list order, as (`manager Operation[ subresource]`, fieldsV1).
    Ok(Option<Value>, Vec<(&'static str, Value)>),
    /// The error's HTTP code and message.
    Err(u16, String),
}

pub struct Case<'s> {
    pub name: &'static str,
    pub schema: &'s dyn SchemaLookup,
    /// The stored object the scenario starts from, if any.
    pub start: Option<Value>,
    pub steps: Vec<Step>,
    pub want: Want,
}

pub fn case<'s>(
    name: &'static str,
    schema: &'s dyn SchemaLookup,
    steps: Vec<Step>,
    want: Want,
) -> Case<'s> {
    Case {
        name,
        schema,
        start: None,
        steps,
        want,
    }
}

/// The stored object without what the scenario runner adds.
pub fn body(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(Value::Object(m)) = o.get_mut("metadata") {
        m.remove("managedFields");
        m.remove("uid");
    }
    o
}

/// The managers of an object as (`manager Operation[ subresource]`, fieldsV1).
pub fn managers(obj: &Value) -> Vec<(String, Value)> {
    let Some(Value::Array(list)) = obj.pointer("/metadata/managedFields") else {
        return vec![];
    };
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
            let mut label = format!("{} {}", s("manager"), s("operation"));
            if !s("subresource").is_empty() {
                label = format!("{label} {}", s("subresource"));
            }
            (label, e.get("fieldsV1").cloned().unwrap_or(Value::Null))
        })
        .collect()
}

/// Runs one step on the stored object; the store gives created objects a uid.
pub fn run_step(
    schema: &dyn SchemaLookup,
    live: Option<&Value>,
    step: &Step,
    now: Time,
) -> Result<Value, super::ApplyError> {
    let mut out = match step {
        Step::Apply {
            manager,
            force,
            config,
        } => FieldManager::new(schema).apply(live, config, manager, *force, now)?,
        Step::Write {
            manager,
            subresource,
            object,
        } => {
            let mut new = object.clone();
            let fm = FieldManager::new(schema).with_subresource(subresource);
            fm.try_update(live, &mut new, manager, now)?;
            new
        }
    };
    if let Some(Value::Object(m)) = out.get_mut("metadata") {
        m.entry("uid").or_insert_with(|| json!("uid-1"));
    }
    Ok(out)
}

/// Runs every case and reports all failures at once.
pub fn check(cases: Vec<Case<'_>>) {
    let mut failures = Vec::new();
    let total = cases.len();
    for c in cases {
        let mut live = c.start.clone();
        let mut outcome = Ok(Value::Null);
        let last = c.steps.len().saturating_sub(1);
        for (i, step) in c.steps.iter().enumerate() {
            outcome = run_step(c.schema, live.as_ref(), step, t(i as i64 + 1));
            match &outcome {
                Ok(obj) => live = Some(obj.clone()),
                Err(e) if i < last => {
                    failures.push(format!("{}: step {i} failed: {e}", c.name));
                    break;
                }
                Err(_) => {}
            }
        }
        match (&c.want, &outcome) {
            (Want::Ok(object, want_managers), Ok(got)) => {
                if let Some(want) = object
                    && *want != body(got)
                {
                    failures.push(format!(
                        "{}:\n  want object {want}\n  got         {}",
                        c.name,
                        body(got)
                    ));
                }
                let want: Vec<(String, Value)> = want_managers
                    .iter()
                    .map(|(l, f)| (l.to_string(), f.clone()))
                    .collect();
                let got = managers(got);
                if want != got {
                    failures.push(format!(
                        "{}:\n  want managers {want:?}\n  got           {got:?}",
                        c.name
                    ));
                }
            }
            (Want::Err(code, message), Err(e))
                if e.code() == *code && e.to_string() == *message => {}
            (Want::Ok(..), Err(e)) => {
                failures.push(format!("{}: want success, got {} {e}", c.name, e.code()))
            }
            (Want::Err(code, message), got) => failures.push(format!(
                "{}:\n  want error {code} {message:?}\n  got        {:?}",
                c.name,
                got.as_ref()
                    .map(|v| v.to_string())
                    .map_err(|e| (e.code(), e.to_string()))
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A Deployment apply configuration.
pub fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]}
            }
        }
    })
}

/// A configuration setting only a Deployment's pod containers.
pub fn containers(list: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": list}}}
    })
}

/// A ConfigMap with `data`.
pub fn config_map(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": data})
}

/// A ConfigMap with only metadata.
pub fn bare_config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}})
}

/// Sets `pointer` (a JSON pointer whose parents exist) in a copy of `v`.
pub fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = value;
    } else if let Some((parent, key)) = pointer.rsplit_once('/')
        && let Some(Value::Object(m)) = v.pointer_mut(parent)
    {
        m.insert(key.to_string(), value);
    }
    v
}

/// Removes `pointer` from a copy of `v`.
pub fn unset(mut v: Value, pointer: &str) -> Value {
    if let Some((parent, key)) = pointer.rsplit_once('/')
        && let Some(Value::Object(m)) = v.pointer_mut(parent)
    {
        m.remove(key);
    }
    v
}
