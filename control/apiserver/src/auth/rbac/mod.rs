//! The RBAC authorizer (plugin/pkg/auth/authorizer/rbac and pkg/apis/rbac/v1 helpers):
//! rule matching, an indexed snapshot of roles and bindings, escalation prevention
//! ([`escalation`]) and ClusterRole aggregation ([`aggregation`]).
//!
//! [`RbacSnapshot`] holds the roles and bindings the server reads from its watch cache.
//! Bindings are indexed by subject (user name, service-account user name, group), so a
//! check visits only the bindings that name the requesting user or one of its groups,
//! never every binding. The snapshot is updated in place with `upsert_*` / `remove_*`
//! from watch events, or built whole with [`RbacSnapshot::from_objects`].

pub mod aggregation;
pub mod escalation;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use clipper_proto::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::{Attributes, Authorizer, Decision, ReadState, UserInfo, service_account_username};

/// `*`: every verb.
pub const VERB_ALL: &str = "*";
/// `*`: every API group.
pub const API_GROUP_ALL: &str = "*";
/// `*`: every resource (and `*/sub` every resource's subresource `sub`).
pub const RESOURCE_ALL: &str = "*";
/// `*`: every non-resource URL.
pub const NON_RESOURCE_ALL: &str = "*";
/// The API group of the RBAC kinds.
pub const GROUP_NAME: &str = "rbac.authorization.k8s.io";
pub const USER_KIND: &str = "User";
pub const GROUP_KIND: &str = "Group";
pub const SERVICE_ACCOUNT_KIND: &str = "ServiceAccount";

fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

/// `VerbMatches`.
pub fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == VERB_ALL || v == verb)
}

/// `APIGroupMatches`.
pub fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    list(&rule.api_groups)
        .iter()
        .any(|g| g == API_GROUP_ALL || g == group)
}

/// `ResourceMatches`: `combined` is `resource` or `resource/subresource`; a rule entry
/// matches when it is `*`, equal to `combined`, or `*/<subresource>`.
pub fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    list(&rule.resources).iter().any(|r| {
        r == RESOURCE_ALL
            || r == combined
            || (!subresource.is_empty()
                && r.strip_prefix("*/").is_some_and(|sub| sub == subresource))
    })
}

/// `ResourceNameMatches`: an empty list allows every name.
pub fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    let names = list(&rule.resource_names);
    names.is_empty() || names.iter().any(|n| n == name)
}

/// `NonResourceURLMatches`: exact, `*`, or a prefix ending in `*`.
pub fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    list(&rule.non_resource_urls).iter().any(|u| {
        u == NON_RESOURCE_ALL
            || u == path
            || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
    })
}

/// A request's `resource` or `resource/subresource`, computed once per request rather
/// than once per rule.
fn combined_resource<'a>(attrs: &Attributes<'a>) -> std::borrow::Cow<'a, str> {
    if attrs.subresource.is_empty() {
        std::borrow::Cow::Borrowed(attrs.resource)
    } else {
        std::borrow::Cow::Owned(format!("{}/{}", attrs.resource, attrs.subresource))
    }
}

fn rule_allows_combined(attrs: &Attributes<'_>, combined: &str, rule: &PolicyRule) -> bool {
    if attrs.resource_request {
        verb_matches(rule, attrs.verb)
            && api_group_matches(rule, attrs.api_group)
            && resource_matches(rule, combined, attrs.subresource)
            && resource_name_matches(rule, attrs.name)
    } else {
        verb_matches(rule, attrs.verb) && non_resource_url_matches(rule, attrs.path)
    }
}

/// `RuleAllows`.
pub fn rule_allows(attrs: &Attributes<'_>, rule: &PolicyRule) -> bool {
    rule_allows_combined(attrs, &combined_resource(attrs), rule)
}

/// `RulesAllow`.
pub fn rules_allow(attrs: &Attributes<'_>, rules: &[PolicyRule]) -> bool {
    let combined = combined_resource(attrs);
    rules
        .iter()
        .any(|r| rule_allows_combined(attrs, &combined, r))
}

/// `appliesToUser`: whether a binding subject names the user. Service-account subjects
/// without a namespace take the binding's (empty for ClusterRoleBindings: no match).
pub fn subject_applies(user: &UserInfo, subject: &Subject, binding_namespace: &str) -> bool {
    match subject.kind.as_str() {
        USER_KIND => user.username == subject.name,
        GROUP_KIND => user.in_group(&subject.name),
        SERVICE_ACCOUNT_KIND => {
            match service_account_subject_username(subject, binding_namespace) {
                Some(username) => user.username == username,
                None => false,
            }
        }
        _ => false,
    }
}

fn service_account_subject_username(subject: &Subject, binding_namespace: &str) -> Option<String> {
    let namespace = subject
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(binding_namespace);
    if namespace.is_empty() {
        return None;
    }
    Some(service_account_username(namespace, &subject.name))
}

/// Joins errors as `utilerrors.NewAggregate(...).Error()` does: one message alone,
/// several deduplicated inside `[...]`.
pub(crate) fn aggregate_errors(errors: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen[0].to_string(),
        _ => format!("[{}]", seen.join(", ")),
    }
}

/// A RoleBinding or ClusterRoleBinding, as the index keeps it.
#[derive(Clone, Debug, PartialEq)]
struct Binding {
    /// "" for a ClusterRoleBinding.
    namespace: String,
    name: String,
    role_ref: RoleRef,
    subjects: Vec<Subject>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SubjectKey {
    /// A User subject, or a ServiceAccount subject as its user name.
    User(String),
    Group(String),
}

fn subject_key(subject: &Subject, binding_namespace: &str) -> Option<SubjectKey> {
    match subject.kind.as_str() {
        USER_KIND => Some(SubjectKey::User(subject.name.clone())),
        GROUP_KIND => Some(SubjectKey::Group(subject.name.clone())),
        SERVICE_ACCOUNT_KIND => {
            service_account_subject_username(subject, binding_namespace).map(SubjectKey::User)
        }
        _ => None,
    }
}

/// The bindings of one scope (cluster, or one namespace), indexed by subject.
#[derive(Clone, Debug, Default)]
struct BindingIndex {
    /// By name: visiting in name order makes reasons deterministic.
    bindings: BTreeMap<String, Arc<Binding>>,
    /// User name (User subjects, and ServiceAccount subjects as their user name) →
    /// binding names.
    by_user: HashMap<String, BTreeSet<String>>,
    /// Group name → binding names.
    by_group: HashMap<String, BTreeSet<String>>,
}

impl BindingIndex {
    fn slot(&mut self, key: &SubjectKey) -> (&mut HashMap<String, BTreeSet<String>>, String) {
        match key {
            SubjectKey::User(n) => (&mut self.by_user, n.clone()),
            SubjectKey::Group(n) => (&mut self.by_group, n.clone()),
        }
    }

    fn insert(&mut self, binding: Binding) {
        self.remove(&binding.name);
        for subject in &binding.subjects {
            if let Some(key) = subject_key(subject, &binding.namespace) {
                let (map, k) = self.slot(&key);
                map.entry(k).or_default().insert(binding.name.clone());
            }
        }
        self.bindings
            .insert(binding.name.clone(), Arc::new(binding));
    }

    fn remove(&mut self, name: &str) -> bool {
        let Some(old) = self.bindings.remove(name) else {
            return false;
        };
        for subject in &old.subjects {
            if let Some(key) = subject_key(subject, &old.namespace) {
                let (map, k) = self.slot(&key);
                if let Some(names) = map.get_mut(&k) {
                    names.remove(name);
                    if names.is_empty() {
                        map.remove(&k);
                    }
                }
            }
        }
        true
    }

    /// The bindings that may apply to the user, in name order, each once.
    fn candidates(&self, user: &UserInfo) -> Vec<&Arc<Binding>> {
        let mut names: BTreeSet<&str> = BTreeSet::new();
        if let Some(found) = self.by_user.get(user.username.as_str()) {
            names.extend(found.iter().map(String::as_str));
        }
        for group in &user.groups {
            if let Some(found) = self.by_group.get(group.as_str()) {
                names.extend(found.iter().map(String::as_str));
            }
        }
        names
            .into_iter()
            .filter_map(|n| self.bindings.get(n))
            .collect()
    }
}

/// Where an allowing rule came from, formatted as Kubernetes' binding describers.
#[derive(Clone, Copy, Debug)]
pub struct RuleSource<'a> {
    binding: &'a Binding,
    subject: &'a Subject,
}

impl fmt::Display for RuleSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.binding;
        if b.namespace.is_empty() {
            write!(f, "ClusterRoleBinding {:?}", b.name)?;
        } else {
            write!(f, "RoleBinding {:?}", format!("{}/{}", b.name, b.namespace))?;
        }
        write!(f, " of {} {:?} to ", b.role_ref.kind, b.role_ref.name)?;
        let s = self.subject;
        if s.kind == SERVICE_ACCOUNT_KIND {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(&b.namespace);
            write!(f, "{} {:?}", s.kind, format!("{}/{}", s.name, ns))
        } else {
            write!(f, "{} {:?}", s.kind, s.name)
        }
    }
}

/// The roles and bindings RBAC decides on, indexed by subject.
#[derive(Clone, Debug, Default)]
pub struct RbacSnapshot {
    /// namespace → role name → rules.
    roles: HashMap<String, HashMap<String, Arc<[PolicyRule]>>>,
    cluster_roles: HashMap<String, Arc<[PolicyRule]>>,
    cluster_role_bindings: BindingIndex,
    /// namespace → that namespace's RoleBindings.
    role_bindings: HashMap<String, BindingIndex>,
}

fn meta_name(meta: &clipper_proto::api::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn meta_namespace(meta: &clipper_proto::api::meta::v1::ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_default()
}

impl RbacSnapshot {
    pub fn new() -> RbacSnapshot {
        RbacSnapshot::default()
    }

    /// A snapshot of whole lists, as the server has them after its initial list.
    pub fn from_objects(
        roles: &[Role],
        cluster_roles: &[ClusterRole],
        role_bindings: &[RoleBinding],
        cluster_role_bindings: &[ClusterRoleBinding],
    ) -> RbacSnapshot {
        let mut s = RbacSnapshot::new();
        roles.iter().for_each(|r| s.upsert_role(r));
        cluster_roles.iter().for_each(|r| s.upsert_cluster_role(r));
        role_bindings.iter().for_each(|b| s.upsert_role_binding(b));
        cluster_role_bindings
            .iter()
            .for_each(|b| s.upsert_cluster_role_binding(b));
        s
    }

    pub fn upsert_role(&mut self, role: &Role) {
        let rules: Arc<[PolicyRule]> = role.rules.clone().unwrap_or_default().into();
        self.roles
            .entry(meta_namespace(&role.metadata))
            .or_default()
            .insert(meta_name(&role.metadata), rules);
    }

    pub fn remove_role(&mut self, namespace: &str, name: &str) -> bool {
        let Some(ns) = self.roles.get_mut(namespace) else {
            return false;
        };
        let removed = ns.remove(name).is_some();
        if ns.is_empty() {
            self.roles.remove(namespace);
        }
        removed
    }

    pub fn upsert_cluster_role(&mut self, role: &ClusterRole) {
        let rules: Arc<[PolicyRule]> = role.rules.clone().unwrap_or_default().into();
        self.cluster_roles.insert(meta_name(&role.metadata), rules);
    }

    pub fn remove_cluster_role(&mut self, name: &str) -> bool {
        self.cluster_roles.remove(name).is_some()
    }

    pub fn upsert_role_binding(&mut self, binding: &RoleBinding) {
        let namespace = meta_namespace(&binding.metadata);
        let entry = Binding {
            namespace: namespace.clone(),
            name: meta_name(&binding.metadata),
            role_ref: binding.role_ref.clone(),
            subjects: binding.subjects.clone().unwrap_or_default(),
        };
        self.role_bindings
            .entry(namespace)
            .or_default()
            .insert(entry);
    }

    pub fn remove_role_binding(&mut self, namespace: &str, name: &str) -> bool {
        let Some(index) = self.role_bindings.get_mut(namespace) else {
            return false;
        };
        let removed = index.remove(name);
        if index.bindings.is_empty() {
            self.role_bindings.remove(namespace);
        }
        removed
    }

    pub fn upsert_cluster_role_binding(&mut self, binding: &ClusterRoleBinding) {
        self.cluster_role_bindings.insert(Binding {
            namespace: String::new(),
            name: meta_name(&binding.metadata),
            role_ref: binding.role_ref.clone(),
            subjects: binding.subjects.clone().unwrap_or_default(),
        });
    }

    pub fn remove_cluster_role_binding(&mut self, name: &str) -> bool {
        self.cluster_role_bindings.remove(name)
    }

    /// `GetRoleReferenceRules`: the rules a binding in `binding_namespace` ("" for a
    /// ClusterRoleBinding) refers to, with the lister's not-found messages.
    pub fn role_ref_rules(
        &self,
        role_ref: &RoleRef,
        binding_namespace: &str,
    ) -> Result<Arc<[PolicyRule]>, String> {
        match role_ref.kind.as_str() {
            "Role" => self
                .roles
                .get(binding_namespace)
                .and_then(|ns| ns.get(&role_ref.name))
                .cloned()
                .ok_or_else(|| format!("role.{GROUP_NAME} {:?} not found", role_ref.name)),
            "ClusterRole" => self
                .cluster_roles
                .get(&role_ref.name)
                .cloned()
                .ok_or_else(|| format!("clusterrole.{GROUP_NAME} {:?} not found", role_ref.name)),
            other => Err(format!("unsupported role reference kind: {other:?}")),
        }
    }

    /// `VisitRulesFor`: calls `visitor` with every rule that applies to `user` in
    /// `namespace` (ClusterRoleBindings, then the namespace's RoleBindings) until it
    /// returns false; role resolution errors are collected in `errors`.
    pub fn visit_rules_for(
        &self,
        user: &UserInfo,
        namespace: &str,
        errors: &mut Vec<String>,
        visitor: &mut dyn FnMut(RuleSource<'_>, &PolicyRule) -> bool,
    ) {
        let mut scopes: Vec<&BindingIndex> = vec![&self.cluster_role_bindings];
        if !namespace.is_empty()
            && let Some(index) = self.role_bindings.get(namespace)
        {
            scopes.push(index);
        }
        for index in scopes {
            for binding in index.candidates(user) {
                let Some(subject) = binding
                    .subjects
                    .iter()
                    .find(|s| subject_applies(user, s, &binding.namespace))
                else {
                    continue;
                };
                let rules = match self.role_ref_rules(&binding.role_ref, &binding.namespace) {
                    Ok(rules) => rules,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
                let source = RuleSource { binding, subject };
                for rule in rules.iter() {
                    if !visitor(source, rule) {
                        return;
                    }
                }
            }
        }
    }

    /// `RulesFor`: every rule that applies to `user` in `namespace`, and the resolution
    /// errors met (the rules are still usable: RBAC is additive).
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        self.visit_rules_for(user, namespace, &mut errors, &mut |_, rule| {
            rules.push(rule.clone());
            true
        });
        (rules, errors)
    }

    /// The RBAC decision: Allow with the binding that allowed, else NoOpinion (RBAC never
    /// denies), with the resolution errors as the reason.
    pub fn authorize(&self, attrs: &Attributes<'_>) -> Decision {
        let mut errors = Vec::new();
        let mut allowed_by: Option<String> = None;
        let combined = combined_resource(attrs);
        self.visit_rules_for(
            attrs.user,
            attrs.namespace,
            &mut errors,
            &mut |source, rule| {
                if rule_allows_combined(attrs, &combined, rule) {
                    allowed_by = Some(source.to_string());
                    false
                } else {
                    true
                }
            },
        );
        match allowed_by {
            Some(source) => Decision::Allow(format!("RBAC: allowed by {source}")),
            None if errors.is_empty() => Decision::NoOpinion(String::new()),
            None => Decision::NoOpinion(format!("RBAC: {}", aggregate_errors(&errors))),
        }
    }
}

/// The RBAC authorizer over a snapshot the server keeps current.
#[derive(Debug, Default)]
pub struct RbacAuthorizer<S = RbacSnapshot> {
    state: S,
}

impl<S: ReadState<RbacSnapshot>> RbacAuthorizer<S> {
    pub fn new(state: S) -> RbacAuthorizer<S> {
        RbacAuthorizer { state }
    }

    pub fn state(&self) -> &S {
        &self.state
    }
}

impl<S: ReadState<RbacSnapshot>> Authorizer for RbacAuthorizer<S> {
    fn authorize(&self, attrs: &Attributes<'_>) -> Decision {
        self.state.with(|snapshot| snapshot.authorize(attrs))
    }
}

/// Builders for the objects tests and the default policy need.
pub mod build {
    use super::*;
    use clipper_proto::api::meta::v1::ObjectMeta;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn opt(v: &[&str]) -> Option<Vec<String>> {
        if v.is_empty() { None } else { Some(strings(v)) }
    }

    /// A resource rule.
    pub fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(strings(groups)),
            non_resource_urls: None,
            resource_names: None,
            resources: Some(strings(resources)),
            verbs: strings(verbs),
        }
    }

    /// A resource rule limited to some names.
    pub fn named_rule(
        verbs: &[&str],
        groups: &[&str],
        resources: &[&str],
        names: &[&str],
    ) -> PolicyRule {
        PolicyRule {
            resource_names: opt(names),
            ..rule(verbs, groups, resources)
        }
    }

    /// A non-resource URL rule.
    pub fn url_rule(verbs: &[&str], urls: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: None,
            non_resource_urls: Some(strings(urls)),
            resource_names: None,
            resources: None,
            verbs: strings(verbs),
        }
    }

    pub fn user(name: &str) -> Subject {
        Subject {
            kind: USER_KIND.into(),
            api_group: Some(GROUP_NAME.into()),
            name: name.into(),
            namespace: None,
        }
    }

    pub fn group(name: &str) -> Subject {
        Subject {
            kind: GROUP_KIND.into(),
            api_group: Some(GROUP_NAME.into()),
            name: name.into(),
            namespace: None,
        }
    }

    /// A service-account subject; an empty namespace defaults to the binding's.
    pub fn service_account(namespace: &str, name: &str) -> Subject {
        Subject {
            kind: SERVICE_ACCOUNT_KIND.into(),
            api_group: None,
            name: name.into(),
            namespace: if namespace.is_empty() {
                None
            } else {
                Some(namespace.into())
            },
        }
    }

    pub fn meta(namespace: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: if namespace.is_empty() {
                None
            } else {
                Some(namespace.into())
            },
            ..ObjectMeta::default()
        }
    }

    pub fn role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
        Role {
            metadata: meta(namespace, name),
            rules: Some(rules),
        }
    }

    pub fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
        ClusterRole {
            metadata: meta("", name),
            aggregation_rule: None,
            rules: Some(rules),
        }
    }

    pub fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef {
            kind: kind.into(),
            api_group: GROUP_NAME.into(),
            name: name.into(),
        }
    }

    pub fn role_binding(
        namespace: &str,
        name: &str,
        role_ref: RoleRef,
        subjects: Vec<Subject>,
    ) -> RoleBinding {
        RoleBinding {
            metadata: meta(namespace, name),
            role_ref,
            subjects: Some(subjects),
        }
    }

    pub fn cluster_role_binding(
        name: &str,
        role: &str,
        subjects: Vec<Subject>,
    ) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: meta("", name),
            role_ref: role_ref("ClusterRole", role),
            subjects: if subjects.is_empty() {
                None
            } else {
                Some(subjects)
            },
        }
    }
}

#[cfg(test)]
mod tests;
