//! The life of a CustomResourceDefinition after admission: which names it gets
//! (`status.acceptedNames`, decided against the other CRDs of its group as the naming
//! controller does), its `NamesAccepted` and `Established` conditions (naming and
//! establishing controllers), its storage version and `status.storedVersions`, and which
//! versions are served.

use std::collections::BTreeSet;

use clipper_proto::Time;
use clipper_proto::api::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionCondition, CustomResourceDefinitionNames,
    CustomResourceDefinitionStatus,
};

use crate::admission::field::go_quote;

pub const NAMES_ACCEPTED: &str = "NamesAccepted";
pub const ESTABLISHED: &str = "Established";
pub const TERMINATING: &str = "Terminating";

/// The names already taken in an API group: resource names (plural, singular, short
/// names) and kinds (kind, list kind), as the naming controller collects them from the
/// `status.acceptedNames` of every CRD in the group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsedNames {
    pub resources: BTreeSet<String>,
    pub kinds: BTreeSet<String>,
}

impl UsedNames {
    /// The accepted names of the CRDs of `group` among `crds` (the CRD being named may be
    /// among them; Kubernetes includes it too).
    pub fn from_crds<'a>(
        group: &str,
        crds: impl IntoIterator<Item = &'a CustomResourceDefinition>,
    ) -> UsedNames {
        let mut used = UsedNames::default();
        for crd in crds.into_iter().filter(|c| c.spec.group == group) {
            let accepted = crd
                .status
                .as_ref()
                .and_then(|s| s.accepted_names.clone())
                .unwrap_or_default();
            used.resources.insert(accepted.plural);
            used.resources.insert(accepted.singular.unwrap_or_default());
            used.resources
                .extend(accepted.short_names.unwrap_or_default());
            used.kinds.insert(accepted.kind);
            used.kinds.insert(accepted.list_kind.unwrap_or_default());
        }
        used
    }
}

/// `equalToAcceptedOrFresh`.
fn accepted_or_fresh(
    requested: &str,
    accepted: &str,
    used: &BTreeSet<String>,
) -> Result<(), String> {
    if requested == accepted || !used.contains(requested) {
        Ok(())
    } else {
        Err(format!("{} is already in use", go_quote(requested)))
    }
}

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> CustomResourceDefinitionCondition {
    CustomResourceDefinitionCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_transition_time: None,
    }
}

/// The naming controller's verdict for one CRD.
#[derive(Clone, Debug, PartialEq)]
pub struct NamingResult {
    pub accepted_names: CustomResourceDefinitionNames,
    pub names_accepted: CustomResourceDefinitionCondition,
    pub established: CustomResourceDefinitionCondition,
}

/// `calculateNamesAndConditions`: each requested name is accepted if it is already this
/// CRD's accepted name or nobody in the group uses it; a conflicting name keeps the old
/// accepted value and makes `NamesAccepted` False with the reason of the last conflict
/// (`PluralConflict`, `SingularConflict`, `ShortNamesConflict`, `KindConflict`,
/// `ListKindConflict`). `Established` keeps its current state unless names were just
/// accepted for a CRD not yet established (`Installing`).
pub fn calculate_names(crd: &CustomResourceDefinition, used: &UsedNames) -> NamingResult {
    let requested = &crd.spec.names;
    let accepted = crd
        .status
        .as_ref()
        .and_then(|s| s.accepted_names.clone())
        .unwrap_or_default();
    let mut new_names = accepted.clone();
    let mut conflict: Option<(&str, String)> = None;
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();

    match accepted_or_fresh(&requested.plural, &accepted.plural, &used.resources) {
        Err(e) => conflict = Some(("PluralConflict", e)),
        Ok(()) => new_names.plural = requested.plural.clone(),
    }
    match accepted_or_fresh(
        &opt(&requested.singular),
        &opt(&accepted.singular),
        &used.resources,
    ) {
        Err(e) => conflict = Some(("SingularConflict", e)),
        Ok(()) => new_names.singular = requested.singular.clone(),
    }
    if requested.short_names != accepted.short_names {
        let existing: BTreeSet<&String> = accepted.short_names.iter().flatten().collect();
        let errs: Vec<String> = requested
            .short_names
            .iter()
            .flatten()
            .filter(|s| !existing.contains(s))
            .filter_map(|s| accepted_or_fresh(s, "", &used.resources).err())
            .collect();
        match errs.len() {
            0 => new_names.short_names = requested.short_names.clone(),
            1 => conflict = Some(("ShortNamesConflict", errs[0].clone())),
            _ => conflict = Some(("ShortNamesConflict", format!("[{}]", errs.join(", ")))),
        }
    }
    match accepted_or_fresh(&requested.kind, &accepted.kind, &used.kinds) {
        Err(e) => conflict = Some(("KindConflict", e)),
        Ok(()) => new_names.kind = requested.kind.clone(),
    }
    match accepted_or_fresh(
        &opt(&requested.list_kind),
        &opt(&accepted.list_kind),
        &used.kinds,
    ) {
        Err(e) => conflict = Some(("ListKindConflict", e)),
        Ok(()) => new_names.list_kind = requested.list_kind.clone(),
    }
    new_names.categories = requested.categories.clone();

    let names_accepted = match &conflict {
        Some((reason, msg)) => condition(NAMES_ACCEPTED, "False", reason, msg),
        None => condition(NAMES_ACCEPTED, "True", "NoConflicts", "no conflicts found"),
    };
    let mut established = find_condition(crd, ESTABLISHED)
        .cloned()
        .unwrap_or_else(|| {
            condition(
                ESTABLISHED,
                "False",
                "NotAccepted",
                "not all names are accepted",
            )
        });
    if established.status != "True" && names_accepted.status == "True" {
        established = condition(
            ESTABLISHED,
            "False",
            "Installing",
            "the initial names have been accepted",
        );
    }
    NamingResult {
        accepted_names: new_names,
        names_accepted,
        established,
    }
}

/// The naming controller's sync: nothing to do when the requested names are the accepted
/// ones; otherwise writes the accepted names and both conditions into `crd.status`.
/// Returns whether the status changed (an update to write back).
pub fn apply_naming(crd: &mut CustomResourceDefinition, used: &UsedNames, now: Time) -> bool {
    let accepted = crd.status.as_ref().and_then(|s| s.accepted_names.as_ref());
    if accepted == Some(&crd.spec.names) {
        return false;
    }
    let r = calculate_names(crd, used);
    let unchanged = crd.status.as_ref().and_then(|s| s.accepted_names.as_ref())
        == Some(&r.accepted_names)
        && find_condition(crd, NAMES_ACCEPTED).is_some_and(|c| equivalent(c, &r.names_accepted));
    if unchanged {
        return false;
    }
    crd.status
        .get_or_insert_with(CustomResourceDefinitionStatus::default)
        .accepted_names = Some(r.accepted_names);
    set_condition(crd, r.names_accepted, now);
    set_condition(crd, r.established, now);
    true
}

/// The establishing controller: a CRD whose names are accepted and that is not yet
/// established becomes `Established=True` (`InitialNamesAccepted`). Returns whether it
/// changed. (Kubernetes waits five seconds first, for HA servers to catch up; with one
/// server there is nothing to wait for.)
pub fn apply_established(crd: &mut CustomResourceDefinition, now: Time) -> bool {
    if !is_condition_true(crd, NAMES_ACCEPTED) || is_condition_true(crd, ESTABLISHED) {
        return false;
    }
    set_condition(
        crd,
        condition(
            ESTABLISHED,
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        ),
        now,
    );
    true
}

/// `FindCRDCondition`.
pub fn find_condition<'a>(
    crd: &'a CustomResourceDefinition,
    type_: &str,
) -> Option<&'a CustomResourceDefinitionCondition> {
    crd.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// `IsCRDConditionTrue`.
pub fn is_condition_true(crd: &CustomResourceDefinition, type_: &str) -> bool {
    find_condition(crd, type_).is_some_and(|c| c.status == "True")
}

/// Whether the CRD's resources are served: `Established=True`.
pub fn is_established(crd: &CustomResourceDefinition) -> bool {
    is_condition_true(crd, ESTABLISHED)
}

/// `IsCRDConditionEquivalent`: equal but for the transition time.
pub fn equivalent(
    a: &CustomResourceDefinitionCondition,
    b: &CustomResourceDefinitionCondition,
) -> bool {
    a.type_ == b.type_ && a.status == b.status && a.reason == b.reason && a.message == b.message
}

/// `SetCRDCondition`: adds the condition, or updates the one of its type, moving its
/// transition time to `now` only when the status changes (or it had none).
pub fn set_condition(
    crd: &mut CustomResourceDefinition,
    mut new: CustomResourceDefinitionCondition,
    now: Time,
) {
    let conditions = crd
        .status
        .get_or_insert_with(CustomResourceDefinitionStatus::default)
        .conditions
        .get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        None => {
            new.last_transition_time = Some(now);
            conditions.push(new);
        }
        Some(existing) => {
            if existing.status != new.status || existing.last_transition_time.is_none() {
                existing.last_transition_time = Some(now);
            }
            existing.status = new.status;
            existing.reason = new.reason;
            existing.message = new.message;
        }
    }
}

/// `GetCRDStorageVersion`: the version marked `storage`.
pub fn storage_version(crd: &CustomResourceDefinition) -> Option<&str> {
    crd.spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.as_str())
}

/// `HasServedCRDVersion`: the version exists and is served.
pub fn is_served(crd: &CustomResourceDefinition, version: &str) -> bool {
    crd.spec
        .versions
        .iter()
        .find(|v| v.name == version)
        .is_some_and(|v| v.served)
}

/// `IsStoredVersion`.
pub fn is_stored_version(crd: &CustomResourceDefinition, version: &str) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.stored_versions.as_ref())
        .is_some_and(|v| v.iter().any(|x| x == version))
}

/// Adds the current storage version to `status.storedVersions` if missing, as every CRD
/// write does (older entries stay until a storage migration removes them).
pub fn record_storage_version(crd: &mut CustomResourceDefinition) {
    let Some(v) = storage_version(crd).map(str::to_string) else {
        return;
    };
    if !is_stored_version(crd, &v) {
        crd.status
            .get_or_insert_with(CustomResourceDefinitionStatus::default)
            .stored_versions
            .get_or_insert_with(Vec::new)
            .push(v);
    }
}

/// The CRD strategy's `PrepareForCreate`: the client's status is dropped, generation
/// starts at 1, and the storage version is recorded.
pub fn prepare_crd_for_create(crd: &mut CustomResourceDefinition) {
    crd.status = Some(CustomResourceDefinitionStatus::default());
    crd.metadata.generation = Some(1);
    record_storage_version(crd);
}

/// The CRD strategy's `PrepareForUpdate`: the stored status is kept, generation goes up
/// when the spec changes, and the (possibly new) storage version is recorded.
pub fn prepare_crd_for_update(new: &mut CustomResourceDefinition, old: &CustomResourceDefinition) {
    new.status = old.status.clone();
    if !crate::admission::sem_eq(&new.spec, &old.spec) {
        new.metadata.generation = Some(old.metadata.generation.unwrap_or(0) + 1);
    }
    record_storage_version(new);
}

/// The CRD status strategy's `PrepareForUpdate`: the spec stays as stored. (Kubernetes
/// resets the metadata from the new object itself, so metadata changes go through.)
pub fn prepare_crd_for_status_update(
    new: &mut CustomResourceDefinition,
    old: &CustomResourceDefinition,
) {
    new.spec = old.spec.clone();
}
