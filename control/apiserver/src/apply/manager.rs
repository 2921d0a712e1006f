//! The field manager: server-side apply and the managedFields bookkeeping of every other
//! write, as kube-apiserver chains it (k8s.io/apimachinery `managedfields/internal`
//! fieldmanager.go and its managers, structured-merge-diff `merge/update.go`).
//!
//! An apply, outermost step first:
//!
//! 1. the configuration must be an object of the object's kind and version, without
//!    managedFields, and fit the schema; the object must fit it too (duplicates allowed);
//! 2. *last-applied*: `kubectl` conflicting only on fields its client-side
//!    `last-applied-configuration` annotation set, and nobody changed since, applies with
//!    force; after an apply by `kubectl` the annotation (if the object has one) is
//!    rewritten to the configuration;
//! 3. *skip-non-applied*: an object with no managedFields first gets its fields attributed
//!    to `before-first-apply` (an Update entry), so they can conflict;
//! 4. the *merge*: the configuration merged into the object; fields the manager applied
//!    last time and no longer applies are removed, unless another manager owns them;
//!    the manager now owns exactly what the configuration sets;
//! 5. *conflicts*: other managers owning fields whose values change fail the apply unless
//!    forced, when the fields move to the applier; fields removed leave every owner;
//! 6. *strip-meta*: nobody owns `apiVersion`, `kind`, `metadata` and its identity
//!    members; managers left with nothing are dropped; the applier's time is `now` when
//!    the object changed.
//!
//! An update (create, update, patch) compares the old object with the new one: the
//! writer's `Update` entry gains what was added or modified, every other manager loses it,
//! and everyone loses what was removed; at most [`DEFAULT_MAX_UPDATE_MANAGERS`] Update
//! entries are kept. An existing object without managedFields stays without them; a
//! request may set managedFields (or reset them with `[]`), except through a subresource.
//! Update bookkeeping never fails a write: on any error the object keeps the old
//! managedFields, as kube-apiserver's `UpdateNoErrors` does.

use serde_json::{Map, Value};

use clipper_proto::Time;

use super::error::{ApplyError, Conflict};
use super::fieldpath::FieldSet;
use super::gofmt::{is_print, json_value, quote, values_equal};
use super::managed::{self, Entry, Managed, ManagerId, managed_fields_of, set_managed_fields};
use super::schema::{SchemaLookup, TypeRef, TypedRoot};
use super::typed::{Comparison, Typed, format_errors};
use super::{
    BEFORE_FIRST_APPLY, DEFAULT_MAX_UPDATE_MANAGERS, FIELD_MANAGER_MAX_LENGTH,
    LAST_APPLIED_ANNOTATION, MAX_ANNOTATIONS_BYTES, MAX_FIELD_DEPTH,
};

/// The manager kube-apiserver gives the fields of an update while it computes them.
const CURRENT_OPERATION: &str = "current-operation";

/// The manager whose last-applied annotation server-side apply honours and keeps.
const KUBECTL: &str = "kubectl";

/// Server-side apply and managedFields for one resource (or subresource).
pub struct FieldManager<'a> {
    schema: &'a dyn SchemaLookup,
    subresource: String,
    reset_fields: FieldSet,
    max_update_managers: usize,
}

/// What an apply asks for.
struct Request<'r> {
    config: &'r Value,
    manager: &'r str,
    now: Time,
    /// Whether the object exists (else the apply creates it).
    live_exists: bool,
}

/// One kind's types and version.
struct Ctx<'s> {
    typed: Typed<'s>,
    root: TypedRoot<'s>,
    tr: TypeRef,
    api_version: String,
    kind: String,
    reset_fields: &'s FieldSet,
    subresource: &'s str,
}

impl<'a> FieldManager<'a> {
    pub fn new(schema: &'a dyn SchemaLookup) -> FieldManager<'a> {
        FieldManager {
            schema,
            subresource: String::new(),
            reset_fields: FieldSet::new(),
            max_update_managers: DEFAULT_MAX_UPDATE_MANAGERS,
        }
    }

    /// Writes through a subresource (`status`, `scale`): entries record it, and an update's
    /// own managedFields are ignored.
    pub fn with_subresource(mut self, subresource: &str) -> FieldManager<'a> {
        self.subresource = subresource.to_string();
        self
    }

    /// Fields the resource's strategy resets on this endpoint (`status` for the main
    /// resource of a kind with a status subresource): nobody gains ownership of them here.
    pub fn with_reset_fields(mut self, fields: FieldSet) -> FieldManager<'a> {
        self.reset_fields = fields;
        self
    }

    /// How many Update entries to keep before merging the oldest.
    pub fn with_max_update_managers(mut self, max: usize) -> FieldManager<'a> {
        self.max_update_managers = max;
        self
    }

    fn ctx(&self, api_version: &str, kind: &str) -> Ctx<'_> {
        let root = self
            .schema
            .lookup(api_version, kind)
            .unwrap_or_else(|| TypedRoot::deduced());
        Ctx {
            typed: Typed::new(root.schema),
            tr: root.root,
            root,
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            reset_fields: &self.reset_fields,
            subresource: &self.subresource,
        }
    }

    /// Applies `config` for `manager` to `live` (`None` when the apply creates the object)
    /// and returns the new object with its managedFields.
    pub fn apply(
        &self,
        live: Option<&Value>,
        config: &Value,
        manager: &str,
        force: bool,
        now: Time,
    ) -> Result<Value, ApplyError> {
        validate_field_manager("PatchOptions", manager, true)?;
        let Value::Object(cfg) = config else {
            return Err(ApplyError::BadRequest(format!(
                "error decoding YAML: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(config)
            )));
        };
        check_depth(config)?;
        let api_version = text(cfg.get("apiVersion"));
        let kind = text(cfg.get("kind"));
        let live_type = live.map(|l| (text(l.get("apiVersion")), text(l.get("kind"))));
        let mismatch = live_type.is_some_and(|(v, k)| {
            (!v.is_empty() && v != api_version) || (!k.is_empty() && k != kind)
        });
        if api_version.is_empty() || kind.is_empty() || mismatch {
            return Err(ApplyError::BadRequest(format!(
                "invalid object type: {}",
                gvk(api_version, kind)
            )));
        }
        if meta(config, "managedFields").is_some_and(|v| !v.is_null()) {
            return Err(ApplyError::BadRequest(
                "metadata.managedFields must be nil".into(),
            ));
        }
        let name = text(meta(config, "name"));
        let uid = text(meta(config, "uid"));
        if live.is_none() && !uid.is_empty() {
            return Err(ApplyError::UidMismatch {
                name: name.to_string(),
                uid: uid.to_string(),
            });
        }
        let ctx = self.ctx(api_version, kind);
        let where_ = format!(
            "{}/{}; {}",
            text(meta(config, "namespace")),
            name,
            gvk(api_version, kind)
        );
        let errs = ctx.typed.validate(config, ctx.tr, false);
        if !errs.is_empty() {
            return Err(ApplyError::Internal(format!(
                "failed to create typed patch object ({where_}): {}",
                format_errors(&errs)
            )));
        }
        // kube-apiserver sees the live object through its Go type (or, for a create, a new
        // object of the kind).
        let mut live_obj = match live {
            Some(l) => without_managed_fields(l),
            None => ctx.root.empty_object(api_version, kind),
        };
        ctx.root.go_fill(&mut live_obj);
        check_depth(&live_obj)?;
        let errs = ctx.typed.validate(&live_obj, ctx.tr, true);
        if !errs.is_empty() {
            return Err(ApplyError::Internal(format!(
                "failed to create typed live object ({where_}): {}",
                format_errors(&errs)
            )));
        }
        let managed = Managed::decode(live.and_then(managed_fields_of))
            .map_err(|e| ApplyError::Internal(format!("failed to decode managed fields: {e}")))?;

        let request = Request {
            config,
            manager,
            now,
            live_exists: live.is_some(),
        };
        let attempt =
            |force: bool| self.apply_to_managed(&ctx, &live_obj, &request, managed.clone(), force);
        let (object, managed) = match attempt(force) {
            Err(ApplyError::Conflicts(conflicts)) if manager == KUBECTL => {
                match allowed_conflicts_from_last_applied(&ctx, &live_obj) {
                    Some(allowed) => {
                        let rest: Vec<Conflict> = conflicts
                            .into_iter()
                            .filter(|c| !allowed.has(&c.path.0))
                            .collect();
                        if rest.is_empty() {
                            attempt(true)?
                        } else {
                            return Err(ApplyError::Conflicts(rest));
                        }
                    }
                    None => return Err(ApplyError::Conflicts(conflicts)),
                }
            }
            other => other?,
        };
        // Nothing changed: the object stays as stored.
        let mut object = match (object, live) {
            (Some(o), _) => o,
            (None, Some(l)) => without_managed_fields(l),
            (None, None) => live_obj,
        };
        if manager == KUBECTL && last_applied(&object).is_some_and(|s| !s.is_empty()) {
            set_last_applied(&mut object, build_last_applied(config));
        }
        let config_rv = text(meta(config, "resourceVersion"));
        if live.is_some()
            && !config_rv.is_empty()
            && config_rv != text(live.and_then(|l| meta(l, "resourceVersion")))
        {
            return Err(ApplyError::ResourceVersionMismatch {
                name: name.to_string(),
            });
        }
        set_managed_fields(&mut object, managed.encode());
        Ok(object)
    }

    /// Steps 3 to 6 of an apply: the new object (`None` when nothing changed) and the
    /// managers.
    fn apply_to_managed(
        &self,
        ctx: &Ctx<'_>,
        live: &Value,
        req: &Request<'_>,
        managed: Managed,
        force: bool,
    ) -> Result<(Option<Value>, Managed), ApplyError> {
        let managed = if managed.is_empty() && req.live_exists {
            let empty = ctx.root.empty_object(&ctx.api_version, &ctx.kind);
            self.update_managers(ctx, &empty, live, managed, BEFORE_FIRST_APPLY, req.now)
        } else {
            managed
        };
        let id = ManagerId::apply(req.manager, ctx.subresource);
        let key = id.identifier();
        let (object, mut managed) = ctx.structured_apply(live, req.config, managed, id, force)?;
        managed.strip(&key, &managed::strip_set());
        if object.is_some()
            && let Some(e) = managed.entries.get_mut(&key)
        {
            e.time = Some(req.now);
        }
        Ok((object, managed))
    }

    /// Records `manager`'s update of `old` (`None` for a create) into `new`'s
    /// managedFields. Never fails: on an error `new` keeps `old`'s managedFields.
    pub fn update(&self, old: Option<&Value>, new: &mut Value, manager: &str, now: Time) {
        if self.try_update(old, new, manager, now).is_err() {
            set_managed_fields(new, old.and_then(managed_fields_of).cloned());
        }
    }

    /// [`update`](Self::update), reporting what went wrong instead of falling back.
    pub fn try_update(
        &self,
        old: Option<&Value>,
        new: &mut Value,
        manager: &str,
        now: Time,
    ) -> Result<(), ApplyError> {
        let api_version = text(new.get("apiVersion")).to_string();
        let kind = text(new.get("kind")).to_string();
        if api_version.is_empty() || kind.is_empty() {
            return Err(ApplyError::BadRequest(format!(
                "invalid object type: {}",
                gvk(&api_version, &kind)
            )));
        }
        let ctx = self.ctx(&api_version, &kind);
        let live_managed = old.and_then(managed_fields_of);
        let managed = if !self.subresource.is_empty() {
            Managed::decode(live_managed).unwrap_or_default()
        } else {
            let requested = managed_fields_of(new);
            if managed::is_reset(requested) {
                Managed::default()
            } else {
                match Managed::decode(requested) {
                    Ok(m) if !m.is_empty() => m,
                    _ => Managed::decode(live_managed).unwrap_or_default(),
                }
            }
        };
        set_managed_fields(new, None);
        // An existing object nobody tracks stays untracked (skip-non-applied).
        if managed.is_empty() && old.is_some_and(|o| !text(meta(o, "uid")).is_empty()) {
            return Ok(());
        }
        // Both compared as kube-apiserver sees them, through the kind's Go type.
        let mut live = match old {
            Some(o) => without_managed_fields(o),
            None => ctx.root.empty_object(&api_version, &kind),
        };
        ctx.root.go_fill(&mut live);
        let mut typed_new = new.clone();
        ctx.root.go_fill(&mut typed_new);
        check_depth(&live)?;
        check_depth(&typed_new)?;
        for (what, v) in [("live", &live), ("new", &typed_new)] {
            let errs = ctx.typed.validate(v, ctx.tr, true);
            if !errs.is_empty() {
                return Err(ApplyError::Internal(format!(
                    "failed to convert {what} object to smd typed: {}",
                    format_errors(&errs)
                )));
            }
        }
        let managed = self.update_managers(&ctx, &live, &typed_new, managed, manager, now);
        set_managed_fields(new, managed.encode());
        Ok(())
    }

    /// The managers after `manager` updated `live` to `new`: the update's own fields are
    /// computed under a temporary manager, stripped, then merged into `manager`'s Update
    /// entry, whose time becomes `now`; old Update entries are capped.
    fn update_managers(
        &self,
        ctx: &Ctx<'_>,
        live: &Value,
        new: &Value,
        managed: Managed,
        manager: &str,
        now: Time,
    ) -> Managed {
        let name = if manager.is_empty() {
            "unknown"
        } else {
            manager
        };
        let id = ManagerId::update(name, &ctx.api_version, ctx.subresource);
        let key = id.identifier();
        let mut managed = ctx.structured_update(live, new, managed);
        managed.strip(CURRENT_OPERATION, &managed::strip_set());
        if let Some(current) = managed.entries.remove(CURRENT_OPERATION) {
            let set = match managed.entries.get(&key) {
                Some(previous) => current.set.union(&previous.set),
                None => current.set,
            };
            managed.entries.insert(
                key,
                Entry {
                    id,
                    set,
                    api_version: current.api_version,
                    time: Some(now),
                },
            );
        }
        managed.cap_update_managers(self.max_update_managers);
        managed
    }
}

impl Ctx<'_> {
    fn filter(&self, set: FieldSet) -> FieldSet {
        if self.reset_fields.is_empty() {
            set
        } else {
            set.recursive_difference(self.reset_fields)
        }
    }

    /// Granular ownership inside lists and maps that are now atomic becomes ownership of
    /// the whole.
    fn reconcile(&self, mut managed: Managed) -> Managed {
        for e in managed.entries.values_mut() {
            if let Some(set) = self.typed.reconcile(&e.set, self.tr) {
                e.set = set;
            }
        }
        managed
    }

    /// What changed from `old` to `new`, taken from the managers other than `workflow`:
    /// fields whose values change are conflicts (an error unless `force`), fields removed
    /// leave every owner. Managers left with nothing are dropped.
    fn update_others(
        &self,
        old: &Value,
        new: &Value,
        managed: &mut Managed,
        workflow: &str,
        force: bool,
    ) -> Result<Comparison, Vec<Conflict>> {
        let mut cmp = self.typed.compare(Some(old), Some(new), self.tr);
        if !self.reset_fields.is_empty() {
            cmp.exclude(self.reset_fields);
        }
        let changed = cmp.modified.union(&cmp.added);
        let mut conflicts: Vec<(String, FieldSet)> = Vec::new();
        for (key, e) in &managed.entries {
            if key == workflow {
                continue;
            }
            let c = e.set.intersection(&changed);
            if !c.is_empty() {
                conflicts.push((key.clone(), c));
            }
        }
        if !force && !conflicts.is_empty() {
            let mut out = Vec::new();
            for (key, set) in &conflicts {
                if let Some(e) = managed.entries.get(key) {
                    out.extend(set.paths().into_iter().map(|path| Conflict {
                        manager: e.id.clone(),
                        path,
                    }));
                }
            }
            return Err(out);
        }
        for (key, set) in &conflicts {
            if let Some(e) = managed.entries.get_mut(key) {
                e.set = e.set.difference(set);
            }
        }
        if !cmp.removed.is_empty() {
            for (key, e) in managed.entries.iter_mut() {
                if key != workflow {
                    e.set = e.set.difference(&cmp.removed);
                }
            }
        }
        managed.drop_empty();
        Ok(cmp)
    }

    /// The update from `live` to `new` under [`CURRENT_OPERATION`].
    fn structured_update(&self, live: &Value, new: &Value, managed: Managed) -> Managed {
        let mut managed = self.reconcile(managed);
        let cmp = match self.update_others(live, new, &mut managed, CURRENT_OPERATION, true) {
            Ok(cmp) => cmp,
            // Forced: conflicts are resolved, never returned.
            Err(_) => return managed,
        };
        let previous = managed
            .entries
            .get(CURRENT_OPERATION)
            .map(|e| e.set.clone())
            .unwrap_or_default();
        let set = self.filter(
            previous
                .difference(&cmp.removed)
                .union(&cmp.modified)
                .union(&cmp.added),
        );
        if set.is_empty() {
            managed.entries.remove(CURRENT_OPERATION);
        } else {
            let id = ManagerId::update(CURRENT_OPERATION, &self.api_version, self.subresource);
            let entry = Entry {
                id,
                set,
                api_version: self.api_version.clone(),
                time: None,
            };
            managed.entries.insert(CURRENT_OPERATION.to_string(), entry);
        }
        managed
    }

    /// Merges `config` into `live` for the applier `id`: the new object (`None` when
    /// nothing changed) and the managers.
    fn structured_apply(
        &self,
        live: &Value,
        config: &Value,
        managed: Managed,
        id: ManagerId,
        force: bool,
    ) -> Result<(Option<Value>, Managed), ApplyError> {
        let mut managed = self.reconcile(managed);
        let key = id.identifier();
        let merged = self
            .typed
            .merge(Some(live), Some(config), self.tr)
            .unwrap_or(Value::Object(Map::new()));
        let last = managed.entries.get(&key).cloned();
        let set = self.filter(self.typed.field_set_of(config, self.tr));
        let time = last.as_ref().and_then(|e| e.time);
        managed.entries.insert(
            key.clone(),
            Entry {
                id,
                set,
                api_version: self.api_version.clone(),
                time,
            },
        );
        let merged = match last {
            Some(last) if !last.set.is_empty() => self.prune(merged, &managed, &last.set),
            _ => merged,
        };
        self.update_others(live, &merged, &mut managed, &key, force)
            .map_err(ApplyError::Conflicts)?;
        let changed = !values_equal(live, &merged);
        Ok((changed.then_some(merged), managed))
    }

    /// Removes from `merged` the fields the applier owned last time and no longer applies,
    /// unless another manager owns them, keeping items whose removal would strand fields
    /// only the applier had set.
    fn prune(&self, merged: Value, managed: &Managed, last: &FieldSet) -> Value {
        let t = &self.typed;
        let ensure = |s: &FieldSet| t.ensure_named_fields_are_members(s, Some(self.tr));
        let last = ensure(last);
        let pruned = t.remove_items(&merged, &last, self.tr);
        let mut owned = FieldSet::new();
        for e in managed.entries.values() {
            owned.union_with(&e.set);
        }
        let merged_set = ensure(&t.field_set_of(&merged, self.tr));
        let pruned_set = ensure(&t.field_set_of(&pruned, self.tr));
        let pruned = t.remove_items(
            &merged,
            &merged_set.difference(&pruned_set.union(&ensure(&owned))),
            self.tr,
        );
        let pruned_set = ensure(&t.field_set_of(&pruned, self.tr));
        t.remove_items(
            &merged,
            &merged_set.difference(&pruned_set).intersection(&last),
            self.tr,
        )
    }
}

/// The fields `kubectl` may take over without force: those its last-applied annotation
/// sets and whose values nobody changed since. `None` when the annotation is missing, of
/// another version, or does not fit the schema.
fn allowed_conflicts_from_last_applied(ctx: &Ctx<'_>, live: &Value) -> Option<FieldSet> {
    let annotation = last_applied(live).filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(annotation).ok()?;
    if !last.is_object()
        || text(last.get("apiVersion")) != ctx.api_version
        || exceeds_depth(&last, MAX_FIELD_DEPTH)
    {
        return None;
    }
    if !ctx.typed.validate(&last, ctx.tr, false).is_empty()
        || !ctx.typed.validate(live, ctx.tr, false).is_empty()
    {
        return None;
    }
    let set = ctx.typed.field_set_of(&last, ctx.tr);
    let cmp = ctx.typed.compare(Some(&last), Some(live), ctx.tr);
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

fn last_applied(obj: &Value) -> Option<&str> {
    meta(obj, "annotations")?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()
}

/// The configuration as the annotation holds it: without the annotation itself, JSON as
/// Go encodes it, with the encoder's trailing newline.
fn build_last_applied(config: &Value) -> String {
    let mut c = config.clone();
    if let Some(Value::Object(m)) = c.get_mut("metadata") {
        match m.get_mut("annotations") {
            Some(Value::Object(a)) => {
                a.remove(LAST_APPLIED_ANNOTATION);
            }
            Some(Value::Null) => {
                m.remove("annotations");
            }
            _ => {}
        }
    }
    let mut s = String::new();
    json_value(&c, &mut s);
    s.push('\n');
    s
}

/// Sets the last-applied annotation, leaving it out if the annotations would outgrow
/// [`MAX_ANNOTATIONS_BYTES`].
fn set_last_applied(obj: &mut Value, value: String) {
    let Some(Value::Object(m)) = obj.get_mut("metadata") else {
        return;
    };
    let annotations = m
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    let Value::Object(a) = annotations else {
        return;
    };
    a.insert(LAST_APPLIED_ANNOTATION.to_string(), Value::String(value));
    let size: usize = a
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > MAX_ANNOTATIONS_BYTES {
        a.remove(LAST_APPLIED_ANNOTATION);
    }
}

/// Checks a request's `fieldManager` as kube-apiserver validates its options (`kind`
/// being `PatchOptions`, `CreateOptions` or `UpdateOptions`): required for apply, at most
/// [`FIELD_MANAGER_MAX_LENGTH`] bytes, printable characters only.
pub fn validate_field_manager(kind: &str, manager: &str, required: bool) -> Result<(), ApplyError> {
    use super::error::OptionError;
    let mut errors = Vec::new();
    let field = "fieldManager".to_string();
    if required && manager.is_empty() {
        errors.push(OptionError {
            field: field.clone(),
            reason: "FieldValueRequired",
            body: "Required value: is required for apply patch".into(),
        });
    }
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errors.push(OptionError {
            field: field.clone(),
            reason: "FieldValueTooLong",
            body: format!("Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"),
        });
    }
    for (i, c) in manager.char_indices() {
        if !is_print(c) {
            errors.push(OptionError {
                field: field.clone(),
                reason: "FieldValueInvalid",
                body: format!(
                    "Invalid value: {}: invalid character U+{:04X} (at position {i})",
                    quote(manager),
                    c as u32
                ),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::InvalidOptions {
            kind: kind.to_string(),
            errors,
        })
    }
}

/// The manager of a write without `fieldManager`: the user agent up to its first `/`,
/// printable characters only, cut to [`FIELD_MANAGER_MAX_LENGTH`] bytes
/// (`kubectl/v1.33.0 (linux/amd64)` → `kubectl`).
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or_default();
    let mut out = String::new();
    for c in prefix.chars().filter(|c| is_print(*c)) {
        if out.len() + c.len_utf8() > FIELD_MANAGER_MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

/// `field_manager` if the request gave one, else the user agent's prefix.
pub fn manager_or_user_agent(field_manager: &str, user_agent: &str) -> String {
    if field_manager.is_empty() {
        manager_from_user_agent(user_agent)
    } else {
        field_manager.to_string()
    }
}

/// `apps/v1, Kind=Deployment`, `/v1, Kind=Pod`: Go's GroupVersionKind string.
fn gvk(api_version: &str, kind: &str) -> String {
    let (group, version) = clipper_proto::split_api_version(api_version);
    format!("{group}/{version}, Kind={kind}")
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

fn meta<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    obj.get("metadata")?.get(key)
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut o = obj.clone();
    set_managed_fields(&mut o, None);
    o
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Refuses an object nested deeper than [`MAX_FIELD_DEPTH`] before anything recurses
/// into it.
fn check_depth(v: &Value) -> Result<(), ApplyError> {
    if exceeds_depth(v, MAX_FIELD_DEPTH) {
        return Err(ApplyError::BadRequest(format!(
            "the object is nested deeper than {MAX_FIELD_DEPTH} levels, too deep to track its fields"
        )));
    }
    Ok(())
}

/// Whether anything in `v` sits deeper than `limit`. Iterative, so safe on any depth.
pub fn exceeds_depth(v: &Value, limit: usize) -> bool {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            Value::Object(m) => stack.extend(m.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}
