//! The `metadata.managedFields` list: who owns which fields (k8s.io/apimachinery
//! `managedfields/internal`: managedfields.go, capmanagers.go, stripmeta.go).
//!
//! A manager is identified by its name, its operation, the subresource it wrote through,
//! and for `Update` entries the apiVersion it wrote: applying through another version
//! updates the same `Apply` entry, updating through another version makes a new `Update`
//! entry. kube-apiserver keys managers by that identity written as JSON
//! ([`ManagerId::identifier`]), which also orders them in conflict messages and breaks ties
//! when old entries are merged.

use std::collections::BTreeMap;

use clipper_proto::Time;
use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, Path};
use super::gofmt::{json_string, quote};

/// `operation: Apply`.
pub const APPLY: &str = "Apply";
/// `operation: Update`.
pub const UPDATE: &str = "Update";
/// The only `fieldsType` there is.
pub const FIELDS_V1: &str = "FieldsV1";

/// The operation of a managedFields entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Create, update or patch.
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => APPLY,
            Operation::Update => UPDATE,
        }
    }
}

/// Who a managedFields entry belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ManagerId {
    pub manager: String,
    pub operation: Operation,
    /// The apiVersion written through; empty for `Apply`, which it does not identify.
    pub api_version: String,
    /// `status`, `scale`..., or empty for the main resource.
    pub subresource: String,
}

impl ManagerId {
    pub fn apply(manager: &str, subresource: &str) -> ManagerId {
        ManagerId {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version: String::new(),
            subresource: subresource.to_string(),
        }
    }

    pub fn update(manager: &str, api_version: &str, subresource: &str) -> ManagerId {
        ManagerId {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
        }
    }

    /// kube-apiserver's key for the manager: the entry's JSON without `fieldsType`,
    /// `fieldsV1` and `time` (and `apiVersion` for `Apply`), members in Go's field order,
    /// empty ones left out: `{"manager":"kubectl","operation":"Apply"}`.
    pub fn identifier(&self) -> String {
        let mut s = String::from("{");
        let member = |name: &str, value: &str, s: &mut String| {
            if value.is_empty() {
                return;
            }
            if s.len() > 1 {
                s.push(',');
            }
            json_string(name, s);
            s.push(':');
            json_string(value, s);
        };
        member("manager", &self.manager, &mut s);
        member("operation", self.operation.as_str(), &mut s);
        member("apiVersion", &self.api_version, &mut s);
        member("subresource", &self.subresource, &mut s);
        s.push('}');
        s
    }

    /// How conflict messages name the manager: `"kubectl"`, `"kube-controller-manager"
    /// using apps/v1`, `"x" with subresource "status" using v1`.
    pub fn describe(&self) -> String {
        let mut s = quote(&self.manager);
        if !self.subresource.is_empty() {
            s.push_str(" with subresource ");
            s.push_str(&quote(&self.subresource));
        }
        if self.operation == Operation::Update {
            s.push_str(" using ");
            s.push_str(&self.api_version);
        }
        s
    }
}

/// One manager's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub id: ManagerId,
    pub set: FieldSet,
    /// The apiVersion the set's paths are in.
    pub api_version: String,
    pub time: Option<Time>,
}

/// All managers of an object, by [`ManagerId::identifier`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Managed {
    pub entries: BTreeMap<String, Entry>,
}

/// `metadata.managedFields` of an object, if it has the member at all.
pub fn managed_fields_of(obj: &Value) -> Option<&Value> {
    obj.get("metadata")?.get("managedFields")
}

/// Sets (or with `None` removes) `metadata.managedFields`.
pub fn set_managed_fields(obj: &mut Value, list: Option<Value>) {
    let Value::Object(o) = obj else { return };
    match list {
        Some(list) => {
            let meta = o
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = meta {
                m.insert("managedFields".into(), list);
            }
        }
        None => {
            if let Some(Value::Object(m)) = o.get_mut("metadata") {
                m.remove("managedFields");
            }
        }
    }
}

/// Whether a request's managedFields ask to clear them: an empty list, or one entry with
/// nothing in it.
pub fn is_reset(list: Option<&Value>) -> bool {
    match list {
        Some(Value::Array(a)) if a.is_empty() => true,
        Some(Value::Array(a)) if a.len() == 1 => match &a[0] {
            Value::Object(e) => e.values().all(|v| match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                _ => false,
            }),
            _ => false,
        },
        _ => false,
    }
}

impl Managed {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decodes a managedFields list with kube-apiserver's checks. A later entry of the
    /// same manager replaces an earlier one.
    pub fn decode(list: Option<&Value>) -> Result<Managed, String> {
        let items = match list {
            None | Some(Value::Null) => return Ok(Managed::default()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err("managedFields must be a list".into()),
        };
        let mut managed = Managed::default();
        for (i, item) in items.iter().enumerate() {
            let Value::Object(e) = item else {
                return Err(format!("managed fields entry {i} must be an object"));
            };
            let text = |k: &str| -> Result<String, String> {
                match e.get(k) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(other) => Err(format!(
                        "managed fields entry {i}: {k} must be a string, got {other}"
                    )),
                }
            };
            let operation = match text("operation")?.as_str() {
                APPLY => Operation::Apply,
                UPDATE => Operation::Update,
                _ => return Err("operation must be `Apply` or `Update`".into()),
            };
            let api_version = text("apiVersion")?;
            if api_version.is_empty() {
                return Err("apiVersion must not be empty".into());
            }
            match text("fieldsType")?.as_str() {
                FIELDS_V1 => {}
                "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
                other => {
                    return Err(format!(
                        "invalid fieldsType {} in managed fields entry {i}",
                        quote(other)
                    ));
                }
            }
            let manager = text("manager")?;
            let subresource = text("subresource")?;
            let time = match text("time")?.as_str() {
                "" => None,
                t => {
                    Some(Time::parse(t).map_err(|err| format!("managed fields entry {i}: {err}"))?)
                }
            };
            let set = FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)).map_err(
                |err| {
                    format!(
                        "error decoding versioned set from entry {i}: error decoding set: {err}"
                    )
                },
            )?;
            let id = match operation {
                Operation::Apply => ManagerId::apply(&manager, &subresource),
                Operation::Update => ManagerId::update(&manager, &api_version, &subresource),
            };
            managed.entries.insert(
                id.identifier(),
                Entry {
                    id,
                    set,
                    api_version,
                    time,
                },
            );
        }
        Ok(managed)
    }

    /// The managedFields list kube-apiserver writes: `Apply` entries before `Update` ones,
    /// then oldest first, then by manager, apiVersion and subresource; `None` when there
    /// are no managers.
    pub fn encode(&self) -> Option<Value> {
        if self.entries.is_empty() {
            return None;
        }
        let mut entries: Vec<&Entry> = self.entries.values().collect();
        entries.sort_by(|p, q| {
            p.id.operation
                .as_str()
                .cmp(q.id.operation.as_str())
                .then_with(|| {
                    p.time
                        .map_or(0, Time::unix_seconds)
                        .cmp(&q.time.map_or(0, Time::unix_seconds))
                })
                .then_with(|| p.id.manager.cmp(&q.id.manager))
                .then_with(|| p.api_version.cmp(&q.api_version))
                .then_with(|| p.id.subresource.cmp(&q.id.subresource))
        });
        let list = entries
            .into_iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("apiVersion".into(), Value::String(e.api_version.clone()));
                m.insert("fieldsType".into(), Value::String(FIELDS_V1.into()));
                m.insert("fieldsV1".into(), e.set.to_fields_v1());
                if !e.id.manager.is_empty() {
                    m.insert("manager".into(), Value::String(e.id.manager.clone()));
                }
                m.insert(
                    "operation".into(),
                    Value::String(e.id.operation.as_str().into()),
                );
                if !e.id.subresource.is_empty() {
                    m.insert(
                        "subresource".into(),
                        Value::String(e.id.subresource.clone()),
                    );
                }
                if let Some(t) = e.time {
                    m.insert("time".into(), Value::String(t.to_string()));
                }
                Value::Object(m)
            })
            .collect();
        Some(Value::Array(list))
    }

    /// Drops managers whose sets are empty.
    pub fn drop_empty(&mut self) {
        self.entries.retain(|_, e| !e.set.is_empty());
    }

    /// Takes `strip` out of one manager's set, dropping the manager if nothing is left
    /// (stripmeta.go).
    pub fn strip(&mut self, key: &str, strip: &FieldSet) {
        if let Some(e) = self.entries.get_mut(key) {
            e.set = e.set.difference(strip);
            if e.set.is_empty() {
                self.entries.remove(key);
            }
        }
    }

    /// Keeps at most `max` `Update` managers: the oldest are merged, per apiVersion, into
    /// one `ancient-changes` entry (capmanagers.go).
    pub fn cap_update_managers(&mut self, max: usize) {
        let mut updaters: Vec<(i64, String)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.id.operation == Operation::Update)
            .map(|(k, e)| (e.time.map_or(0, Time::unix_seconds), k.clone()))
            .collect();
        if updaters.len() <= max {
            return;
        }
        updaters.sort();
        let mut remaining = updaters.len();
        let mut first_of_version: BTreeMap<String, String> = BTreeMap::new();
        for (_, key) in updaters {
            if remaining <= max {
                break;
            }
            let Some(entry) = self.entries.get(&key).cloned() else {
                continue;
            };
            let version = entry.api_version.clone();
            let bucket_id = ManagerId::update(super::ANCIENT_CHANGES, &version, "");
            let bucket = bucket_id.identifier();
            match first_of_version.get(&version) {
                Some(first) => {
                    if !self.entries.contains_key(&bucket)
                        && let Some(mut moved) = self.entries.remove(first)
                    {
                        moved.id = bucket_id.clone();
                        self.entries.insert(bucket.clone(), moved);
                    }
                    let previous = self
                        .entries
                        .get(&bucket)
                        .map(|b| b.set.clone())
                        .unwrap_or_default();
                    let merged = Entry {
                        id: bucket_id,
                        set: entry.set.union(&previous),
                        api_version: version,
                        time: entry.time,
                    };
                    self.entries.insert(bucket, merged);
                    self.entries.remove(&key);
                    remaining -= 1;
                }
                None => {
                    first_of_version.insert(version, key);
                }
            }
        }
    }
}

/// The paths no manager owns (stripmeta.go): type and identity metadata the server sets.
pub fn strip_set() -> FieldSet {
    let paths: Vec<Path> = [
        &["apiVersion"][..],
        &["kind"],
        &["metadata"],
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "creationTimestamp"],
        &["metadata", "selfLink"],
        &["metadata", "uid"],
        &["metadata", "clusterName"],
        &["metadata", "generation"],
        &["metadata", "managedFields"],
        &["metadata", "resourceVersion"],
    ]
    .iter()
    .map(|p| Path::fields(p))
    .collect();
    FieldSet::from_paths(&paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_are_kube_apiservers() {
        assert_eq!(
            ManagerId::apply("kubectl", "").identifier(),
            r#"{"manager":"kubectl","operation":"Apply"}"#
        );
        assert_eq!(
            ManagerId::update("kube-controller-manager", "apps/v1", "status").identifier(),
            r#"{"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1","subresource":"status"}"#
        );
        assert_eq!(
            ManagerId::update("", "v1", "").identifier(),
            r#"{"operation":"Update","apiVersion":"v1"}"#
        );
        assert_eq!(
            ManagerId::update("k", "v1", "status").describe(),
            r#""k" with subresource "status" using v1"#
        );
        assert_eq!(ManagerId::apply("k", "").describe(), r#""k""#);
    }

    #[test]
    fn decode_checks() {
        let entry = |patch: Value| {
            let mut e = json!({"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:a": {}}});
            if let (Value::Object(e), Value::Object(p)) = (&mut e, patch) {
                e.extend(p);
            }
            json!([e])
        };
        for (patch, want) in [
            (
                json!({"operation": "Patch"}),
                "operation must be `Apply` or `Update`",
            ),
            (json!({"apiVersion": ""}), "apiVersion must not be empty"),
            (
                json!({"fieldsType": null}),
                "missing fieldsType in managed fields entry 0",
            ),
            (
                json!({"fieldsType": "FieldsV2"}),
                "invalid fieldsType \"FieldsV2\" in managed fields entry 0",
            ),
        ] {
            assert_eq!(Managed::decode(Some(&entry(patch))).unwrap_err(), want);
        }
        let ok = Managed::decode(Some(&entry(json!({"time": "2024-05-01T10:00:00Z"})))).unwrap();
        let e = ok.entries.values().next().unwrap();
        assert_eq!(e.set.len(), 1);
        assert_eq!(e.time, Some(Time::parse("2024-05-01T10:00:00Z").unwrap()));
        assert!(is_reset(Some(&json!([]))));
        assert!(is_reset(Some(&json!([{}]))));
        assert!(!is_reset(Some(&json!([{"manager": "m"}]))));
        assert!(!is_reset(None));
    }
}
