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
    VolumeBinding,
    PodTopologySpread,
    InterPodAffinity,
    NodeResourcesBalancedAllocation,
    ImageLocality,
}

impl Plugin {
    pub const ALL: [Plugin; 11] = [
        Plugin::NodeUnschedulable,
        Plugin::NodeName,
        Plugin::TaintToleration,
        Plugin::NodeAffinity,
        Plugin::NodePorts,
        Plugin::NodeResourcesFit,
        Plugin::VolumeBinding,
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
            Plugin::VolumeBinding => "VolumeBinding",
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

/// The extension points a profile can configure. `multiPoint` enables or disables a
/// plugin at every point it has; `postFilter` holds `DefaultPreemption`. Other
/// kube-scheduler extension points are refused by name (unknown field).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginsConfig {
    #[serde(default)]
    pub multi_point: PluginSet,
    #[serde(default)]
    pub filter: PluginSet,
    #[serde(default)]
    pub score: PluginSet,
    #[serde(default)]
    pub post_filter: PluginSet,
}

/// The PostFilter plugin (preemption).
pub const DEFAULT_PREEMPTION: &str = "DefaultPreemption";

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

/// Plugin arguments. In the file they are kube-scheduler's `pluginConfig` list,
/// `[{name: NodeResourcesFit, args: {...}}, ...]`; `args` may carry its own
/// `apiVersion`/`kind`, which are checked and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginArgs {
    pub node_resources_fit: NodeResourcesFitArgs,
    pub node_resources_balanced_allocation: BalancedAllocationArgs,
    pub inter_pod_affinity: InterPodAffinityArgs,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginConfigEntry {
    name: String,
    #[serde(default)]
    args: Option<serde_json::Value>,
}

/// Plugins kube-scheduler takes arguments for that this core does not (their defaults
/// are what it implements): naming them is an error rather than silently ignored.
const UNSUPPORTED_ARGS: [&str; 5] = [
    "DefaultPreemption",
    "PodTopologySpread",
    "NodeAffinity",
    "VolumeBinding",
    "DynamicResources",
];

fn plugin_args<A: serde::de::DeserializeOwned, E: serde::de::Error>(
    name: &str,
    args: Option<serde_json::Value>,
) -> Result<A, E> {
    let mut v = args.unwrap_or_else(|| serde_json::json!({}));
    if let Some(m) = v.as_object_mut() {
        if let Some(k) = m.remove("kind") {
            let want = format!("{name}Args");
            if k.as_str() != Some(want.as_str()) {
                return Err(E::custom(format!(
                    "pluginConfig {name}: args kind {k} is not {want:?}"
                )));
            }
        }
        m.remove("apiVersion");
    }
    serde_json::from_value(v).map_err(|e| E::custom(format!("pluginConfig {name}: {e}")))
}

impl<'de> Deserialize<'de> for PluginArgs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let entries = Vec::<PluginConfigEntry>::deserialize(d)?;
        let mut out = PluginArgs::default();
        let mut seen = std::collections::BTreeSet::new();
        for e in entries {
            if !seen.insert(e.name.clone()) {
                return Err(D::Error::custom(format!(
                    "pluginConfig {}: listed twice",
                    e.name
                )));
            }
            match e.name.as_str() {
                "NodeResourcesFit" => out.node_resources_fit = plugin_args(&e.name, e.args)?,
                "NodeResourcesBalancedAllocation" => {
                    out.node_resources_balanced_allocation = plugin_args(&e.name, e.args)?
                }
                "InterPodAffinity" => out.inter_pod_affinity = plugin_args(&e.name, e.args)?,
                n if UNSUPPORTED_ARGS.contains(&n) => {
                    return Err(D::Error::custom(format!(
                        "pluginConfig {n}: arguments for this plugin are not supported; \
                         its kube-scheduler defaults apply"
                    )));
                }
                n => {
                    return Err(D::Error::custom(format!(
                        "pluginConfig {n}: unknown plugin"
                    )));
                }
            }
        }
        Ok(out)
    }
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

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            scheduler_name: default_scheduler_name(),
            percentage_of_nodes_to_score: None,
            parallelism: DEFAULT_PARALLELISM,
            plugins: PluginsConfig::default(),
            plugin_config: PluginArgs::default(),
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

/// The set an extension point ends up with once `multiPoint` is folded in: its
/// disables apply everywhere, its enables wherever the plugin has that point; the
/// point's own settings come last and win.
fn with_multi_point(
    mp: &PluginSet,
    own: &PluginSet,
    has_point: impl Fn(Plugin) -> bool,
) -> Result<PluginSet, ConfigError> {
    let mut enabled = Vec::new();
    for r in mp.enabled.iter().filter(|r| r.name != DEFAULT_PREEMPTION) {
        let p =
            Plugin::from_name(&r.name).ok_or_else(|| ConfigError::UnknownPlugin(r.name.clone()))?;
        if has_point(p) && !own.disabled.iter().any(|d| d.name == r.name) {
            enabled.push(r.clone());
        }
    }
    enabled.extend(own.enabled.iter().cloned());
    let mut disabled = Vec::new();
    for r in mp.disabled.iter().filter(|r| r.name != DEFAULT_PREEMPTION) {
        match Plugin::from_name(&r.name) {
            _ if r.name == "*" => disabled.push(r.clone()),
            Some(p) if has_point(p) => disabled.push(r.clone()),
            Some(_) => {}
            None => return Err(ConfigError::UnknownPlugin(r.name.clone())),
        }
    }
    disabled.extend(own.disabled.iter().cloned());
    Ok(PluginSet { enabled, disabled })
}

/// Whether DefaultPreemption (the only PostFilter) stays enabled.
fn resolve_post_filter(plugins: &PluginsConfig) -> Result<bool, ConfigError> {
    let mut on = true;
    for set in [&plugins.multi_point, &plugins.post_filter] {
        for r in &set.disabled {
            match r.name.as_str() {
                "*" | DEFAULT_PREEMPTION => on = false,
                n if Plugin::from_name(n).is_some() => {}
                n => return Err(ConfigError::UnknownPlugin(n.to_string())),
            }
        }
    }
    for r in &plugins.post_filter.enabled {
        if r.name != DEFAULT_PREEMPTION {
            return Err(match Plugin::from_name(&r.name) {
                Some(_) => ConfigError::NoExtensionPoint(r.name.clone(), "postFilter"),
                None => ConfigError::UnknownPlugin(r.name.clone()),
            });
        }
        on = true;
    }
    if plugins
        .multi_point
        .enabled
        .iter()
        .any(|r| r.name == DEFAULT_PREEMPTION)
    {
        on = true;
    }
    Ok(on)
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
        let filter_set = with_multi_point(&self.plugins.multi_point, &self.plugins.filter, |p| {
            p.is_filter()
        })?;
        let score_set = with_multi_point(&self.plugins.multi_point, &self.plugins.score, |p| {
            p.default_score_weight().is_some()
        })?;
        let preemption = resolve_post_filter(&self.plugins)?;
        let filters = resolve_set(&filter_set, "filter", &default_filters, |p| p.is_filter())?
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
        for (p, w) in resolve_set(&score_set, "score", &default_scores, |p| {
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
            preemption,
        })
    }
}

/// The scheduler's configuration file: kube-scheduler's `KubeSchedulerConfiguration`
/// (`kubescheduler.config.k8s.io/v1`), the parts this scheduler implements. Fields that
/// only concern kube-scheduler's process (leader election, client connection, bind
/// addresses, profiling) are accepted and have no effect; extenders are refused.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulerConfiguration {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// Filter threads for every profile (kube-scheduler's default is 16).
    #[serde(default)]
    pub parallelism: Option<usize>,
    /// The default for profiles that do not set their own.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    #[serde(default)]
    pub pod_initial_backoff_seconds: Option<i64>,
    #[serde(default)]
    pub pod_max_backoff_seconds: Option<i64>,
    #[serde(default)]
    pub profiles: Vec<ProfileConfig>,
    #[serde(default)]
    pub extenders: Vec<serde_json::Value>,
    #[serde(default)]
    pub leader_election: Option<serde_json::Value>,
    #[serde(default)]
    pub client_connection: Option<serde_json::Value>,
    #[serde(default)]
    pub health_bind_address: Option<serde_json::Value>,
    #[serde(default)]
    pub healthz_bind_address: Option<serde_json::Value>,
    #[serde(default)]
    pub metrics_bind_address: Option<serde_json::Value>,
    #[serde(default)]
    pub enable_profiling: Option<bool>,
    #[serde(default)]
    pub enable_contention_profiling: Option<bool>,
    #[serde(default)]
    pub delay_cache_until_active: Option<bool>,
}

/// kube-scheduler's defaults for the backoff queue.
pub const DEFAULT_POD_INITIAL_BACKOFF_SECONDS: u64 = 1;
pub const DEFAULT_POD_MAX_BACKOFF_SECONDS: u64 = 10;
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";

/// A validated configuration: at least one profile, distinct scheduler names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub profiles: Vec<Profile>,
    pub pod_initial_backoff_seconds: u64,
    pub pod_max_backoff_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            profiles: vec![Profile::default()],
            pod_initial_backoff_seconds: DEFAULT_POD_INITIAL_BACKOFF_SECONDS,
            pod_max_backoff_seconds: DEFAULT_POD_MAX_BACKOFF_SECONDS,
        }
    }
}

impl Config {
    /// Parses and validates a configuration file's text (YAML or JSON).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: SchedulerConfiguration =
            yaml_serde::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        raw.validate()
    }
}

impl SchedulerConfiguration {
    pub fn validate(self) -> Result<Config, ConfigError> {
        if let Some(v) = &self.api_version
            && v != API_VERSION
        {
            return Err(ConfigError::Invalid(format!(
                "apiVersion {v:?} is not supported (use {API_VERSION:?})"
            )));
        }
        if let Some(k) = &self.kind
            && k != "KubeSchedulerConfiguration"
        {
            return Err(ConfigError::Invalid(format!(
                "kind {k:?} is not KubeSchedulerConfiguration"
            )));
        }
        if !self.extenders.is_empty() {
            return Err(ConfigError::Invalid("extenders are not supported".into()));
        }
        let initial = self
            .pod_initial_backoff_seconds
            .unwrap_or(DEFAULT_POD_INITIAL_BACKOFF_SECONDS as i64);
        let max = self
            .pod_max_backoff_seconds
            .unwrap_or(DEFAULT_POD_MAX_BACKOFF_SECONDS as i64);
        if initial <= 0 {
            return Err(ConfigError::Invalid(format!(
                "podInitialBackoffSeconds {initial} must be greater than 0"
            )));
        }
        if max < initial {
            return Err(ConfigError::Invalid(format!(
                "podMaxBackoffSeconds {max} must be at least podInitialBackoffSeconds {initial}"
            )));
        }
        let mut profiles = self.profiles;
        if profiles.is_empty() {
            profiles.push(ProfileConfig::default());
        }
        let mut names = std::collections::BTreeSet::new();
        let mut out = Vec::with_capacity(profiles.len());
        for (i, mut p) in profiles.into_iter().enumerate() {
            if !names.insert(p.scheduler_name.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "profiles[{i}].schedulerName {:?} is used by another profile",
                    p.scheduler_name
                )));
            }
            if let Some(par) = self.parallelism {
                p.parallelism = par;
            }
            if p.percentage_of_nodes_to_score.is_none() {
                p.percentage_of_nodes_to_score = self.percentage_of_nodes_to_score;
            }
            let name = p.scheduler_name.clone();
            out.push(p.validate().map_err(|e| match e {
                ConfigError::Invalid(m) => ConfigError::Invalid(format!("profile {name:?}: {m}")),
                other => other,
            })?);
        }
        Ok(Config {
            profiles: out,
            pod_initial_backoff_seconds: initial as u64,
            pod_max_backoff_seconds: max as u64,
        })
    }
}
