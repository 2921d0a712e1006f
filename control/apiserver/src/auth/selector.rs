//! Label selectors (`metav1.LabelSelector`) evaluated as `LabelSelectorAsSelector` does,
//! for ClusterRole aggregation.

use std::collections::BTreeMap;

use clipper_proto::api::meta::v1::LabelSelector;

/// Whether `selector` selects an object with `labels`.
///
/// An empty selector (no matchLabels, no matchExpressions) selects everything. Operators
/// are `In`, `NotIn`, `Exists` and `DoesNotExist`; `In`/`NotIn` need values and
/// `Exists`/`DoesNotExist` must have none — anything else is an error, as in Kubernetes.
pub fn matches(
    selector: &LabelSelector,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<bool, String> {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let mut all_match = true;
    if let Some(match_labels) = &selector.match_labels {
        for (key, value) in match_labels {
            if labels.get(key) != Some(value) {
                all_match = false;
            }
        }
    }
    for requirement in selector.match_expressions.iter().flatten() {
        let values = requirement.values.as_deref().unwrap_or(&[]);
        let present = labels.get(&requirement.key);
        // Validate every requirement before answering, so an invalid selector is an error
        // whatever the labels.
        let ok = match requirement.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!(
                    "{}: for 'in', 'notin' operators, values set can't be empty",
                    requirement.key
                ));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(format!(
                    "{}: values set must be empty for exists and does not exist",
                    requirement.key
                ));
            }
            "In" => present.is_some_and(|v| values.contains(v)),
            "NotIn" => present.is_none_or(|v| !values.contains(v)),
            "Exists" => present.is_some(),
            "DoesNotExist" => present.is_none(),
            other => return Err(format!("{other:?} is not a valid label selector operator")),
        };
        all_match &= ok;
    }
    Ok(all_match)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipper_proto::api::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }
    }

    #[test]
    fn match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("a", "1")])),
            match_expressions: Some(vec![
                expr("b", "In", &["x", "y"]),
                expr("c", "DoesNotExist", &[]),
            ]),
        };
        assert_eq!(
            matches(&sel, Some(&labels(&[("a", "1"), ("b", "y")]))),
            Ok(true)
        );
        assert_eq!(
            matches(&sel, Some(&labels(&[("a", "1"), ("b", "z")]))),
            Ok(false)
        );
        assert_eq!(
            matches(&sel, Some(&labels(&[("a", "1"), ("b", "x"), ("c", "")]))),
            Ok(false)
        );
        assert_eq!(matches(&sel, None), Ok(false));
    }

    #[test]
    fn not_in_matches_absent_key_and_empty_selector_matches_all() {
        let sel = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![expr("k", "NotIn", &["v"])]),
        };
        assert_eq!(matches(&sel, None), Ok(true));
        assert_eq!(matches(&sel, Some(&labels(&[("k", "v")]))), Ok(false));
        assert_eq!(matches(&LabelSelector::default(), None), Ok(true));
        let exists = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![expr("k", "Exists", &[])]),
        };
        assert_eq!(matches(&exists, Some(&labels(&[("k", "")]))), Ok(true));
    }

    #[test]
    fn invalid_selectors_are_errors() {
        let bad_op = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![expr("k", "Gt", &["1"])]),
        };
        assert!(matches(&bad_op, None).is_err());
        let in_without_values = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![expr("k", "In", &[])]),
        };
        assert!(matches(&in_without_values, None).is_err());
        let exists_with_values = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![expr("k", "Exists", &["v"])]),
        };
        assert!(matches(&exists_with_values, None).is_err());
    }
}
