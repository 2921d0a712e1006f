//! Scheduler profiles: which plugins run and with what weights, in the shape of
//! KubeSchedulerConfiguration's profile (camelCase), validated into a [`Profile`].

use serde::Deserialize;

/// The plugins this core implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plugin {
    NodeUnschedulable,
    NodeName,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    PodTopologySpread,
    InterPodAffinity,
    NodeResourcesBalancedAllocation,
    ImageLocality,
}

impl Plugin {
    pub const ALL: [Plugin; 10] = [
        Plugin::NodeUnschedulable,
        Plugin::NodeName,
        Plugin::TaintToleration,
        Plugin::NodeAffinity,
        Plugin::NodePorts,
        Plugin::NodeResourcesFit,
        Plugin::PodTopologySpread,
        Plugin::InterPodAffinity,
        Plugin::NodeResourcesBalancedAllocation,
        Plugin::ImageLocality,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Plugin::NodeUnschedulable => "NodeUnschedulable",
            Plugin::NodeName => "NodeName",
            Plugin::TaintToleration => "TaintToleration",
            Plugin::NodeAffinity => "NodeAffinity",
            Plugin::NodePorts => "NodePorts",
            Plugin::NodeResourcesFit => "NodeResourcesFit",
            Plugin::PodTopologySpread => "PodTopologySpread",
            Plugin::InterPodAffinity => "InterPodAffinity",
            Plugin::NodeResourcesBalancedAllocation => "NodeResourcesBalancedAllocation",
            Plugin::ImageLocality => "ImageLocality",
        }
    }

    pub fn from_name(s: &str) -> Option<Plugin> {
        Plugin::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Whether the plugin has a filter extension point.
    pub fn is_filter(self) -> bool {
        !matches!(
            self,
            Plugin::NodeResourcesBalancedAllocation | Plugin::ImageLocality
        )
    }

    /// kube-scheduler's default score weight; `None` if the plugin does not score.
    pub fn default_score_weight(self) -> Option<i64> {
        match self {
            Plugin::TaintToleration => Some(3),
            Plugin::NodeAffinity | Plugin::PodTopologySpread | Plugin::InterPodAffinity => Some(2),
            Plugin::NodeResourcesFit
            | Plugin::NodeResourcesBalancedAllocation
            | Plugin::ImageLocality => Some(1),
            _ => None,
        }
    }
}

/// `{name, weight}` as in the configuration file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginRef {
    pub name: String,
    #[serde(default)]
    pub weight: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSet {
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginsConfig {
    #[serde(default)]
    pub filter: PluginSet,
    #[serde(default)]
    pub score: PluginSet,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum ScoringStrategyType {
    #[default]
    LeastAllocated,
    MostAllocated,
    RequestedToCapacityRatio,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSpec {
    pub name: String,
    #[serde(default = "one")]
    pub weight: i64,
}

fn one() -> i64 {
    1
}

/// One point of the RequestedToCapacityRatio shape: utilization 0..=100, score 0..=10.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UtilizationShapePoint {
    pub utilization: i32,
    pub score: i32,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestedToCapacityRatio {
    #[serde(default)]
    pub shape: Vec<UtilizationShapePoint>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoringStrategy {
    #[serde(default, rename = "type")]
    pub kind: ScoringStrategyType,
    #[serde(default = "default_resources")]
    pub resources: Vec<ResourceSpec>,
    #[serde(default)]
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatio>,
}

fn default_resources() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec {
            name: "cpu".into(),
            weight: 1,
        },
        ResourceSpec {
            name: "memory".into(),
            weight: 1,
        },
    ]
}

impl Default for ScoringStrategy {
    fn default() -> Self {
        ScoringStrategy {
            kind: ScoringStrategyType::LeastAllocated,
            resources: default_resources(),
            requested_to_capacity_ratio: None,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeResourcesFitArgs {
    #[serde(default)]
    pub scoring_strategy: ScoringStrategy,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalancedAllocationArgs {
    #[serde(default = "default_resources")]
    pub resources: Vec<ResourceSpec>,
}

impl Default for BalancedAllocationArgs {
    fn default() -> Self {
        BalancedAllocationArgs {
            resources: default_resources(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InterPodAffinityArgs {
    #[serde(default = "one")]
    pub hard_pod_affinity_weight: i64,
}

impl Default for InterPodAffinityArgs {
    fn default() -> Self {
        InterPodAffinityArgs {
            hard_pod_affinity_weight: 1,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginArgs {
    #[serde(default)]
    pub node_resources_fit: NodeResourcesFitArgs,
    #[serde(default)]
    pub node_resources_balanced_allocation: BalancedAllocationArgs,
    #[serde(default)]
    pub inter_pod_affinity: InterPodAffinityArgs,
}

/// A profile as written in the configuration file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileConfig {
    #[serde(default = "default_scheduler_name")]
    pub scheduler_name: String,
    /// 0 (or absent): kube-scheduler's adaptive default.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Filter threads; kube-scheduler's default is 16.
    #[serde(default = "default_parallelism")]
    pub parallelism: usize,
    #[serde(default)]
    pub plugins: PluginsConfig,
    #[serde(default)]
    pub plugin_config: PluginArgs,
    /// Run preemption planning when a pod fits nowhere (DefaultPreemption).
    #[serde(default = "yes")]
    pub preemption: bool,
}

fn default_scheduler_name() -> String {
    "default-scheduler".into()
}

/// kube-scheduler's `DefaultParallelism`.
pub const DEFAULT_PARALLELISM: usize = 16;
/// Upper bound on filter threads (a profile asking for more is a mistake).
pub const MAX_PARALLELISM: usize = 1024;

fn default_parallelism() -> usize {
    DEFAULT_PARALLELISM
}

fn yes() -> bool {
    true
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            scheduler_name: default_scheduler_name(),
            percentage_of_nodes_to_score: None,
            parallelism: DEFAULT_PARALLELISM,
            plugins: PluginsConfig::default(),
            plugin_config: PluginArgs::default(),
            preemption: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown plugin {0:?}")]
    UnknownPlugin(String),
    #[error("plugin {0:?} has no {1} extension point")]
    NoExtensionPoint(String, &'static str),
    #[error("{0}")]
    Invalid(String),
}

/// A validated profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub scheduler_name: String,
    pub percentage_of_nodes_to_score: Option<i32>,
    pub parallelism: usize,
    /// Enabled filters, in kube-scheduler's default order.
    pub filters: Vec<Plugin>,
    /// Enabled scores with their weights.
    pub scores: Vec<(Plugin, i64)>,
    pub args: PluginArgs,
    pub preemption: bool,
}

impl Default for Profile {
    fn default() -> Self {
        ProfileConfig::default()
            .validate()
            .expect("the default profile is valid")
    }
}

impl Profile {
    pub fn filter_enabled(&self, p: Plugin) -> bool {
        self.filters.contains(&p)
    }

    pub fn score_weight(&self, p: Plugin) -> Option<i64> {
        self.scores.iter().find(|(q, _)| *q == p).map(|(_, w)| *w)
    }
}

fn resolve_set(
    set: &PluginSet,
    point: &'static str,
    defaults: &[Plugin],
    has_point: impl Fn(Plugin) -> bool,
) -> Result<Vec<(Plugin, Option<i64>)>, ConfigError> {
    let lookup = |r: &PluginRef| -> Result<Plugin, ConfigError> {
        let p =
            Plugin::from_name(&r.name).ok_or_else(|| ConfigError::UnknownPlugin(r.name.clone()))?;
        if !has_point(p) {
            return Err(ConfigError::NoExtensionPoint(r.name.clone(), point));
        }
        Ok(p)
    };
    let all_disabled = set.disabled.iter().any(|r| r.name == "*");
    let mut disabled = Vec::new();
    for r in set.disabled.iter().filter(|r| r.name != "*") {
        disabled.push(lookup(r)?);
    }
    let mut out: Vec<(Plugin, Option<i64>)> = if all_disabled {
        Vec::new()
    } else {
        defaults
            .iter()
            .filter(|p| !disabled.contains(p))
            .map(|p| (*p, None))
            .collect()
    };
    for r in &set.enabled {
        let p = lookup(r)?;
        if let Some(e) = out.iter_mut().find(|(q, _)| *q == p) {
            e.1 = r.weight.or(e.1);
        } else {
            out.push((p, r.weight));
        }
    }
    Ok(out)
}

fn validate_resources(what: &str, rs: &[ResourceSpec]) -> Result<(), ConfigError> {
    for r in rs {
        if !(1..=100).contains(&r.weight) {
            return Err(ConfigError::Invalid(format!(
                "{what}: resource {:?} weight {} not in range [1, 100]",
                r.name, r.weight
            )));
        }
    }
    Ok(())
}

impl ProfileConfig {
    /// Validates the profile as kube-scheduler's config validation does for the parts
    /// this core implements.
    pub fn validate(self) -> Result<Profile, ConfigError> {
        if self.scheduler_name.is_empty() {
            return Err(ConfigError::Invalid(
                "schedulerName must not be empty".into(),
            ));
        }
        if let Some(p) = self.percentage_of_nodes_to_score
            && !(0..=100).contains(&p)
        {
            return Err(ConfigError::Invalid(format!(
                "percentageOfNodesToScore {p} not in range [0, 100]"
            )));
        }
        if self.parallelism == 0 || self.parallelism > MAX_PARALLELISM {
            return Err(ConfigError::Invalid(format!(
                "parallelism {} not in range [1, {MAX_PARALLELISM}]",
                self.parallelism
            )));
        }
        let default_filters: Vec<Plugin> =
            Plugin::ALL.into_iter().filter(|p| p.is_filter()).collect();
        let filters = resolve_set(&self.plugins.filter, "filter", &default_filters, |p| {
            p.is_filter()
        })?
        .into_iter()
        .map(|(p, _)| p)
        .collect::<Vec<_>>();
        let mut filters_sorted = filters.clone();
        filters_sorted.sort();
        filters_sorted.dedup();
        // kube-scheduler's default score order.
        let default_scores = [
            Plugin::TaintToleration,
            Plugin::NodeAffinity,
            Plugin::NodeResourcesFit,
            Plugin::PodTopologySpread,
            Plugin::InterPodAffinity,
            Plugin::NodeResourcesBalancedAllocation,
            Plugin::ImageLocality,
        ];
        let mut scores = Vec::new();
        for (p, w) in resolve_set(&self.plugins.score, "score", &default_scores, |p| {
            p.default_score_weight().is_some()
        })? {
            let w = w.unwrap_or_else(|| p.default_score_weight().unwrap_or(1));
            if !(1..=100).contains(&w) {
                return Err(ConfigError::Invalid(format!(
                    "score plugin {:?} weight {w} not in range [1, 100]",
                    p.name()
                )));
            }
            scores.push((p, w));
        }
        let fit = &self.plugin_config.node_resources_fit.scoring_strategy;
        validate_resources("NodeResourcesFit", &fit.resources)?;
        if fit.kind == ScoringStrategyType::RequestedToCapacityRatio {
            let shape = fit
                .requested_to_capacity_ratio
                .as_ref()
                .map(|r| r.shape.as_slice())
                .unwrap_or_default();
            if shape.is_empty() {
                return Err(ConfigError::Invalid(
                    "RequestedToCapacityRatio: at least one shape point is required".into(),
                ));
            }
            for (i, p) in shape.iter().enumerate() {
                if !(0..=100).contains(&p.utilization) {
                    return Err(ConfigError::Invalid(format!(
                        "shape[{i}].utilization {} not in range [0, 100]",
                        p.utilization
                    )));
                }
                if !(0..=10).contains(&p.score) {
                    return Err(ConfigError::Invalid(format!(
                        "shape[{i}].score {} not in range [0, 10]",
                        p.score
                    )));
                }
                if i > 0 && shape[i - 1].utilization >= p.utilization {
                    return Err(ConfigError::Invalid(format!(
                        "shape[{i}].utilization values must be sorted in increasing order"
                    )));
                }
            }
        }
        validate_resources(
            "NodeResourcesBalancedAllocation",
            &self
                .plugin_config
                .node_resources_balanced_allocation
                .resources,
        )?;
        let hw = self
            .plugin_config
            .inter_pod_affinity
            .hard_pod_affinity_weight;
        if !(0..=100).contains(&hw) {
            return Err(ConfigError::Invalid(format!(
                "hardPodAffinityWeight {hw} not in range [0, 100]"
            )));
        }
        // Keep kube-scheduler's filter order whatever order the file lists them in.
        Ok(Profile {
            scheduler_name: self.scheduler_name,
            percentage_of_nodes_to_score: self.percentage_of_nodes_to_score,
            parallelism: self.parallelism,
            filters: filters_sorted,
            scores,
            args: self.plugin_config,
            preemption: self.preemption,
        })
    }
}
