//! ClusterRole aggregation (pkg/controller/clusterroleaggregation): a ClusterRole with an
//! aggregationRule gets the union of the rules of every other ClusterRole its selectors
//! match.
//!
//! [`aggregated_rules`] is one sync of the controller for one role; [`aggregate_all`]
//! repeats syncs until nothing changes, which is where the controller's watch-driven
//! requeueing ends up (admin picks up edit's aggregated rules, which include view's).

use clipper_proto::api::rbac::v1::{ClusterRole, PolicyRule};

use crate::auth::selector;

/// The rules `role` aggregates from `all` (which may contain `role` itself; it is
/// skipped): per selector in order, the matching roles in name order, each rule once.
/// `None` when the role has no aggregationRule; an invalid selector is an error.
pub fn aggregated_rules(
    role: &ClusterRole,
    all: &[ClusterRole],
) -> Result<Option<Vec<PolicyRule>>, String> {
    let Some(rule) = &role.aggregation_rule else {
        return Ok(None);
    };
    let own_name = role.metadata.name.as_deref().unwrap_or_default();
    let mut sorted: Vec<&ClusterRole> = all.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut out: Vec<PolicyRule> = Vec::new();
    for sel in rule.cluster_role_selectors.iter().flatten() {
        for candidate in &sorted {
            if candidate.metadata.name.as_deref().unwrap_or_default() == own_name {
                continue;
            }
            if !selector::matches(sel, candidate.metadata.labels.as_ref())? {
                continue;
            }
            for r in candidate.rules.iter().flatten() {
                if !out.iter().any(|existing| same_rule(existing, r)) {
                    out.push(r.clone());
                }
            }
        }
    }
    Ok(Some(out))
}

/// `equality.Semantic.DeepEqual` for rules: a missing list equals an empty one.
pub fn same_rule(a: &PolicyRule, b: &PolicyRule) -> bool {
    let l = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    a.verbs == b.verbs
        && l(&a.api_groups) == l(&b.api_groups)
        && l(&a.resources) == l(&b.resources)
        && l(&a.resource_names) == l(&b.resource_names)
        && l(&a.non_resource_urls) == l(&b.non_resource_urls)
}

fn same_rules(a: &[PolicyRule], b: &[PolicyRule]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_rule(x, y))
}

/// Applies aggregation to every role with an aggregationRule until no rules change, and
/// returns the names of the roles whose rules changed (to write back). Roles with an
/// invalid selector keep their rules, as the controller leaves them.
pub fn aggregate_all(roles: &mut [ClusterRole]) -> Vec<String> {
    // Each pass settles at least one more level of nesting (view → edit → admin); an
    // acyclic chain cannot be longer than the number of roles, so this many passes reach
    // the fixed point. The bound also ends the loop for selectors that select each other.
    let max_passes = roles.len() + 1;
    let mut changed: Vec<String> = Vec::new();
    for _ in 0..max_passes {
        let mut any = false;
        for i in 0..roles.len() {
            let Ok(Some(rules)) = aggregated_rules(&roles[i], roles) else {
                continue;
            };
            if same_rules(&rules, roles[i].rules.as_deref().unwrap_or(&[])) {
                continue;
            }
            roles[i].rules = Some(rules);
            any = true;
            let name = roles[i].metadata.name.clone().unwrap_or_default();
            if !changed.contains(&name) {
                changed.push(name);
            }
        }
        if !any {
            break;
        }
    }
    changed
}
