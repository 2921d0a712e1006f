//! Escalation prevention (pkg/registry/rbac: escalation_check.go, the policybased
//! storages, validation/policy_comparator.go and policy_compact.go): a user may write a
//! Role or ClusterRole only with permissions they already hold, unless they may
//! `escalate`; and may bind a role only if they hold its permissions or may `bind` it.
//!
//! The server calls [`check_role_write`], [`check_cluster_role_write`] and
//! [`check_binding_write`] on create and update, after decoding and before storing. It
//! skips them itself for updates that change only `ownerReferences`, `finalizers` or
//! `selfLink` (Kubernetes' `IsOnlyMutatingGCFields`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use clipper_proto::api::rbac::v1::{ClusterRole, PolicyRule, RoleRef};

use super::{API_GROUP_ALL, GROUP_NAME, RESOURCE_ALL, RbacSnapshot, VERB_ALL, list};
use crate::auth::{Attributes, Authorizer, Decision, UserInfo, names};

/// `*` on `*.*` and on every non-resource URL: what cluster-admin holds.
pub fn full_authority() -> Vec<PolicyRule> {
    vec![
        super::build::rule(&[VERB_ALL], &[API_GROUP_ALL], &[RESOURCE_ALL]),
        super::build::url_rule(&[VERB_ALL], &[super::NON_RESOURCE_ALL]),
    ]
}

/// `breakdownRule`: one rule per (group, resource, verb[, name]) and per (url, verb).
pub fn breakdown_rule(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| Some(vec![s.clone()]);
    let mut out = Vec::new();
    for group in list(&rule.api_groups) {
        for resource in list(&rule.resources) {
            for verb in &rule.verbs {
                let base = PolicyRule {
                    api_groups: one(group),
                    non_resource_urls: None,
                    resource_names: None,
                    resources: one(resource),
                    verbs: vec![verb.clone()],
                };
                let names = list(&rule.resource_names);
                if names.is_empty() {
                    out.push(base);
                } else {
                    out.extend(names.iter().map(|n| PolicyRule {
                        resource_names: one(n),
                        ..base.clone()
                    }));
                }
            }
        }
    }
    for url in list(&rule.non_resource_urls) {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                api_groups: None,
                non_resource_urls: one(url),
                resource_names: None,
                resources: None,
                verbs: vec![verb.clone()],
            });
        }
    }
    out
}

fn has_all(set: &[String], contains: &[String]) -> bool {
    contains.iter().all(|c| set.contains(c))
}

fn non_resource_url_covers(owner: &str, sub: &str) -> bool {
    owner == sub || (owner.ends_with('*') && sub.starts_with(owner.trim_end_matches('*')))
}

/// `ruleCovers`: whether `owner` covers a broken-down `sub` rule.
fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let has = |set: &[String], e: &str| set.iter().any(|s| s == e);
    let verbs = has(&owner.verbs, VERB_ALL) || has_all(&owner.verbs, &sub.verbs);
    let groups = has(list(&owner.api_groups), API_GROUP_ALL)
        || has_all(list(&owner.api_groups), list(&sub.api_groups));
    let resources = has(list(&owner.resources), RESOURCE_ALL)
        || has_all(list(&owner.resources), list(&sub.resources));
    let urls = list(&sub.non_resource_urls).iter().all(|path| {
        list(&owner.non_resource_urls)
            .iter()
            .any(|o| non_resource_url_covers(o, path))
    });
    let owner_names = list(&owner.resource_names);
    let names = if list(&sub.resource_names).is_empty() {
        owner_names.is_empty()
    } else {
        owner_names.is_empty() || has_all(owner_names, list(&sub.resource_names))
    };
    verbs && groups && resources && names && urls
}

/// `Covers`: whether `owner` rules cover every permission of `servant` rules, and the
/// broken-down servant rules they do not cover.
pub fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let uncovered: Vec<PolicyRule> = servant
        .iter()
        .flat_map(breakdown_rule)
        .filter(|sub| !owner.iter().any(|o| rule_covers(o, sub)))
        .collect();
    (uncovered.is_empty(), uncovered)
}

/// `CompactRules`: merges rules with one group, one resource and at most one name that
/// differ only in verbs.
pub fn compact_rules(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut compacted = Vec::new();
    let mut simple: BTreeMap<(String, String, Option<String>), PolicyRule> = BTreeMap::new();
    for rule in rules {
        let groups = list(&rule.api_groups);
        let resources = list(&rule.resources);
        let names = list(&rule.resource_names);
        let is_simple = names.len() <= 1
            && list(&rule.non_resource_urls).is_empty()
            && groups.len() == 1
            && resources.len() == 1;
        if !is_simple {
            compacted.push(rule.clone());
            continue;
        }
        let key = (
            groups[0].clone(),
            resources[0].clone(),
            names.first().cloned(),
        );
        match simple.get_mut(&key) {
            Some(existing) => existing.verbs.extend(rule.verbs.iter().cloned()),
            None => {
                simple.insert(key, rule.clone());
            }
        }
    }
    compacted.extend(simple.into_values());
    compacted
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

/// `CompactString`: `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}`.
pub fn compact_string(rule: &PolicyRule) -> String {
    let mut parts = Vec::new();
    for (label, values) in [
        ("APIGroups", list(&rule.api_groups)),
        ("Resources", list(&rule.resources)),
        ("NonResourceURLs", list(&rule.non_resource_urls)),
        ("ResourceNames", list(&rule.resource_names)),
        ("Verbs", rule.verbs.as_slice()),
    ] {
        if !values.is_empty() {
            parts.push(format!("{label}:{}", quote_list(values)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// `ConfirmNoEscalation`: whether the rules `user` holds in `namespace` ("" for
/// cluster-wide: ClusterRoleBindings only) cover `rules`; the error message lists the
/// missing permissions as Kubernetes words it.
pub fn confirm_no_escalation(
    snapshot: &RbacSnapshot,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let (owner_rules, errors) = snapshot.rules_for(user, namespace);
    let (covered, missing) = covers(&owner_rules, rules);
    if covered {
        return Ok(());
    }
    let descriptions: BTreeSet<String> =
        compact_rules(&missing).iter().map(compact_string).collect();
    let mut msg = format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.username,
        quote_list(&user.groups),
        descriptions.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !errors.is_empty() {
        msg.push_str(&format!("; resolution errors: [{}]", errors.join(" ")));
    }
    Err(msg)
}

/// `EscalationAllowed`: members of system:masters may grant anything.
pub fn escalation_allowed(user: &UserInfo) -> bool {
    user.in_group(names::SYSTEM_MASTERS)
}

/// `RoleEscalationAuthorized`: whether the user may `escalate` the role resource being
/// written. `request_name` is the request's object name, "" for a create (as
/// Kubernetes' RequestInfo has it).
pub fn role_escalation_authorized(
    authorizer: &dyn Authorizer,
    user: &UserInfo,
    resource: &str,
    namespace: &str,
    request_name: &str,
) -> bool {
    let attrs = Attributes::resource(
        user,
        "escalate",
        GROUP_NAME,
        resource,
        namespace,
        request_name,
    );
    matches!(authorizer.authorize(&attrs), Decision::Allow(_))
}

/// `BindingAuthorized`: whether the user may `bind` the referenced role in the binding's
/// namespace ("" for a ClusterRoleBinding).
pub fn binding_authorized(
    authorizer: &dyn Authorizer,
    user: &UserInfo,
    role_ref: &RoleRef,
    namespace: &str,
) -> bool {
    let resource = match role_ref.kind.as_str() {
        "ClusterRole" => "clusterroles",
        "Role" => "roles",
        _ => return false,
    };
    let attrs = Attributes::resource(
        user,
        "bind",
        &role_ref.api_group,
        resource,
        namespace,
        &role_ref.name,
    );
    matches!(authorizer.authorize(&attrs), Decision::Allow(_))
}

/// A write refused for escalation: `<resource>.rbac.authorization.k8s.io "<name>" is
/// forbidden: <message>` (HTTP 403, reason Forbidden).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationError {
    /// `roles`, `clusterroles`, `rolebindings` or `clusterrolebindings`.
    pub resource: &'static str,
    pub name: String,
    pub message: String,
}

impl fmt::Display for EscalationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{GROUP_NAME} {:?} is forbidden: {}",
            self.resource, self.name, self.message
        )
    }
}

impl std::error::Error for EscalationError {}

/// Creating or updating a Role in `namespace`. `request_name` is "" for a create.
pub fn check_role_write(
    authorizer: &dyn Authorizer,
    snapshot: &RbacSnapshot,
    user: &UserInfo,
    namespace: &str,
    name: &str,
    request_name: &str,
    rules: &[PolicyRule],
) -> Result<(), EscalationError> {
    if escalation_allowed(user)
        || role_escalation_authorized(authorizer, user, "roles", namespace, request_name)
    {
        return Ok(());
    }
    confirm_no_escalation(snapshot, user, namespace, rules).map_err(|message| EscalationError {
        resource: "roles",
        name: name.to_string(),
        message,
    })
}

/// Whether a ClusterRole has a non-empty aggregationRule (`hasAggregationRule`).
pub fn has_aggregation_rule(role: &ClusterRole) -> bool {
    role.aggregation_rule
        .as_ref()
        .and_then(|a| a.cluster_role_selectors.as_ref())
        .is_some_and(|s| !s.is_empty())
}

/// Creating (`old` = None) or updating a ClusterRole. Setting, keeping or removing an
/// aggregationRule needs full authority, since it can gather any permission.
pub fn check_cluster_role_write(
    authorizer: &dyn Authorizer,
    snapshot: &RbacSnapshot,
    user: &UserInfo,
    request_name: &str,
    role: &ClusterRole,
    old: Option<&ClusterRole>,
) -> Result<(), EscalationError> {
    if escalation_allowed(user)
        || role_escalation_authorized(authorizer, user, "clusterroles", "", request_name)
    {
        return Ok(());
    }
    let name = role.metadata.name.clone().unwrap_or_default();
    let rules = role.rules.as_deref().unwrap_or(&[]);
    confirm_no_escalation(snapshot, user, "", rules).map_err(|message| EscalationError {
        resource: "clusterroles",
        name: name.clone(),
        message,
    })?;
    if (has_aggregation_rule(role) || old.is_some_and(has_aggregation_rule))
        && confirm_no_escalation(snapshot, user, "", &full_authority()).is_err()
    {
        return Err(EscalationError {
            resource: "clusterroles",
            name,
            message: "must have cluster-admin privileges to use the aggregationRule".into(),
        });
    }
    Ok(())
}

/// Creating or updating a RoleBinding (`namespace` non-empty) or ClusterRoleBinding
/// (`namespace` ""): allowed for system:masters, for holders of `bind` on the role, or
/// when the user already holds every permission of the role.
pub fn check_binding_write(
    authorizer: &dyn Authorizer,
    snapshot: &RbacSnapshot,
    user: &UserInfo,
    namespace: &str,
    name: &str,
    role_ref: &RoleRef,
) -> Result<(), EscalationError> {
    let resource = if namespace.is_empty() {
        "clusterrolebindings"
    } else {
        "rolebindings"
    };
    if escalation_allowed(user) || binding_authorized(authorizer, user, role_ref, namespace) {
        return Ok(());
    }
    let forbidden = |message: String| EscalationError {
        resource,
        name: name.to_string(),
        message,
    };
    let rules = snapshot
        .role_ref_rules(role_ref, namespace)
        .map_err(forbidden)?;
    confirm_no_escalation(snapshot, user, namespace, &rules).map_err(forbidden)
}
