//! What to do with one object, from its live metadata and the live state of its owners
//! (Kubernetes' attemptToDeleteItem rules), and the patches that carry it out. Pure: the
//! caller fetched the state.

use clipper_proto::api::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

use super::graph::{FOREGROUND, ORPHAN};

/// An owner as the server has it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// No object with the reference's uid (not found, or another object by that name).
    Absent,
    /// There, and whether it is being deleted in the foreground (waiting for us).
    Present { deleting_dependents: bool },
}

/// A dependent's owner references, sorted by their owners' state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Classified {
    /// Owners that exist and are not waiting for their dependents.
    pub solid: Vec<OwnerReference>,
    /// Owners that are gone.
    pub dangling: Vec<OwnerReference>,
    /// Owners being deleted in the foreground.
    pub waiting: Vec<OwnerReference>,
}

impl Classified {
    pub fn add(&mut self, r: OwnerReference, state: OwnerState) {
        match state {
            OwnerState::Absent => self.dangling.push(r),
            OwnerState::Present {
                deleting_dependents: true,
            } => self.waiting.push(r),
            OwnerState::Present {
                deleting_dependents: false,
            } => self.solid.push(r),
        }
    }
}

/// A DELETE's propagationPolicy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Background,
    Foreground,
    Orphan,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Background => "Background",
            Policy::Foreground => "Foreground",
            Policy::Orphan => "Orphan",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Some owner holds the object and no reference needs dropping.
    Keep,
    /// Some owner holds the object: drop the references to owners that are gone or
    /// waiting for their dependents (which would otherwise wait on this one forever).
    DropReferences(Vec<String>),
    /// No owner holds it: delete it. `unblock` first clears blockOwnerDeletion on the
    /// references to waiting owners (a dependent of this object waits for it in turn:
    /// a possible cycle of waits).
    Delete { policy: Policy, unblock: bool },
}

/// The rules, given the object's live finalizers, its classified references, and from
/// the graph whether it has dependents and whether one of them is itself deleting in
/// the foreground.
pub fn decide(
    finalizers: &[String],
    refs: &Classified,
    has_dependents: bool,
    a_dependent_deletes_dependents: bool,
) -> Decision {
    if !refs.solid.is_empty() {
        let drop: Vec<String> = refs
            .dangling
            .iter()
            .chain(&refs.waiting)
            .map(|r| r.uid.clone())
            .collect();
        return if drop.is_empty() {
            Decision::Keep
        } else {
            Decision::DropReferences(drop)
        };
    }
    if !refs.waiting.is_empty() && has_dependents {
        return Decision::Delete {
            policy: Policy::Foreground,
            unblock: a_dependent_deletes_dependents,
        };
    }
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    let policy = if !refs.waiting.is_empty() {
        Policy::Foreground
    } else if has(ORPHAN) {
        Policy::Orphan
    } else if has(FOREGROUND) {
        Policy::Foreground
    } else {
        Policy::Background
    };
    Decision::Delete {
        policy,
        unblock: false,
    }
}

/// A JSON merge patch that sets `metadata.ownerReferences` to `refs` (removes the
/// field if empty), on condition that the object is still at `resource_version`.
pub fn owner_references_patch(refs: &[OwnerReference], resource_version: &str) -> Value {
    let refs = if refs.is_empty() {
        Value::Null
    } else {
        serde_json::to_value(refs).unwrap_or(Value::Null)
    };
    json!({"metadata": {"resourceVersion": resource_version, "ownerReferences": refs}})
}

/// The object's references without those to `uids`; `None` if there are none to drop.
pub fn without_owners(meta: &ObjectMeta, uids: &[String]) -> Option<Vec<OwnerReference>> {
    let refs = meta.owner_references.as_deref().unwrap_or(&[]);
    let kept: Vec<OwnerReference> = refs
        .iter()
        .filter(|r| !uids.contains(&r.uid))
        .cloned()
        .collect();
    (kept.len() != refs.len()).then_some(kept)
}

/// The object's references with blockOwnerDeletion cleared on those to `uids`; `None`
/// if none blocks.
pub fn unblocked(meta: &ObjectMeta, uids: &[String]) -> Option<Vec<OwnerReference>> {
    let mut refs = meta.owner_references.clone().unwrap_or_default();
    let mut changed = false;
    for r in refs.iter_mut() {
        if uids.contains(&r.uid) && r.block_owner_deletion == Some(true) {
            r.block_owner_deletion = Some(false);
            changed = true;
        }
    }
    changed.then_some(refs)
}

/// A JSON merge patch removing `finalizer` from the object's finalizers, on condition
/// that it is still at `resource_version`; `None` if it does not have it.
pub fn remove_finalizer_patch(meta: &ObjectMeta, finalizer: &str) -> Option<Value> {
    let finalizers = meta.finalizers.as_deref().unwrap_or(&[]);
    if !finalizers.iter().any(|f| f == finalizer) {
        return None;
    }
    let kept: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
    let value = if kept.is_empty() {
        Value::Null
    } else {
        json!(kept)
    };
    Some(json!({"metadata": {
        "resourceVersion": meta.resource_version.clone().unwrap_or_default(),
        "finalizers": value,
    }}))
}

/// The body of a DELETE: the policy, and the uid as a precondition (never delete a
/// newer object that took the name).
pub fn delete_options(policy: Policy, uid: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": policy.as_str(),
        "preconditions": {"uid": uid},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: uid.into(),
            uid: uid.into(),
            block_owner_deletion: Some(true),
            ..Default::default()
        }
    }

    const ABSENT: OwnerState = OwnerState::Absent;
    const THERE: OwnerState = OwnerState::Present {
        deleting_dependents: false,
    };
    const WAITING: OwnerState = OwnerState::Present {
        deleting_dependents: true,
    };

    /// `owners`: (uid, state); `finalizers` of the object; whether it has dependents,
    /// and whether one of them deletes in the foreground.
    fn check(
        owners: &[(&str, OwnerState)],
        finalizers: &[&str],
        deps: (bool, bool),
        want: Decision,
    ) {
        let mut c = Classified::default();
        for (u, s) in owners {
            c.add(r(u), *s);
        }
        let finalizers: Vec<String> = finalizers.iter().map(|f| f.to_string()).collect();
        assert_eq!(decide(&finalizers, &c, deps.0, deps.1), want, "{owners:?}");
    }

    fn delete(policy: Policy) -> Decision {
        Decision::Delete {
            policy,
            unblock: false,
        }
    }

    #[test]
    fn the_rules() {
        let no = (false, false);
        // Background: every owner gone.
        check(&[("a", ABSENT)], &[], no, delete(Policy::Background));
        check(
            &[("a", ABSENT), ("b", ABSENT)],
            &[],
            no,
            delete(Policy::Background),
        );
        // One owner left: only the dangling reference goes.
        check(
            &[("a", ABSENT), ("b", THERE)],
            &[],
            no,
            Decision::DropReferences(vec!["a".into()]),
        );
        check(&[("b", THERE)], &[], no, Decision::Keep);
        // A waiting owner next to a solid one: the reference to it goes.
        check(
            &[("a", WAITING), ("b", THERE)],
            &[],
            no,
            Decision::DropReferences(vec!["a".into()]),
        );
        // Foreground: the owner waits; the dependent goes in the foreground too.
        check(&[("a", WAITING)], &[], no, delete(Policy::Foreground));
        check(
            &[("a", WAITING)],
            &[],
            (true, false),
            delete(Policy::Foreground),
        );
        check(
            &[("a", WAITING)],
            &[],
            (true, true),
            Decision::Delete {
                policy: Policy::Foreground,
                unblock: true,
            },
        );
        // An existing finalizer decides the policy.
        check(&[("a", ABSENT)], &[ORPHAN], no, delete(Policy::Orphan));
        check(
            &[("a", ABSENT)],
            &[FOREGROUND],
            no,
            delete(Policy::Foreground),
        );
    }

    #[test]
    fn patches() {
        let meta = ObjectMeta {
            resource_version: Some("7".into()),
            owner_references: Some(vec![r("a"), r("b")]),
            finalizers: Some(vec![FOREGROUND.into(), "x/y".into()]),
            ..Default::default()
        };
        let kept = without_owners(&meta, &["a".into()]).unwrap();
        assert_eq!(kept, vec![r("b")]);
        assert!(without_owners(&meta, &["zz".into()]).is_none());
        let p = owner_references_patch(&kept, "7");
        assert_eq!(p["metadata"]["resourceVersion"], "7");
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "b");
        assert_eq!(
            owner_references_patch(&[], "7")["metadata"]["ownerReferences"],
            Value::Null
        );
        let un = unblocked(&meta, &["b".into()]).unwrap();
        assert_eq!(un[0].block_owner_deletion, Some(true));
        assert_eq!(un[1].block_owner_deletion, Some(false));
        assert!(unblocked(&ObjectMeta::default(), &["b".into()]).is_none());
        let p = remove_finalizer_patch(&meta, FOREGROUND).unwrap();
        assert_eq!(p["metadata"]["finalizers"], json!(["x/y"]));
        assert_eq!(p["metadata"]["resourceVersion"], "7");
        assert!(remove_finalizer_patch(&meta, ORPHAN).is_none());
        let only = ObjectMeta {
            finalizers: Some(vec![ORPHAN.into()]),
            ..Default::default()
        };
        assert_eq!(
            remove_finalizer_patch(&only, ORPHAN).unwrap()["metadata"]["finalizers"],
            Value::Null
        );
        let d = delete_options(Policy::Foreground, "u");
        assert_eq!(d["propagationPolicy"], "Foreground");
        assert_eq!(d["preconditions"]["uid"], "u");
    }
}
