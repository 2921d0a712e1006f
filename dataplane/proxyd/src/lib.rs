//! clipper-proxyd: the service proxy's control loop. Informers over the QUIC node
//! protocol keep Services and EndpointSlices; every change recomputes the table entries
//! of the Services it touches ([`model::specs_for`], pure) and hands only the
//! difference to the running io_uring proxy, which swaps its table atomically without
//! pausing the data path. ClusterIPs and externalIPs become local addresses on a link
//! of their own ([`vip::VipLink`]) before the proxy listens on them, and leave it after.
//! The same informers feed the cluster DNS zone when one is attached
//! ([`ProxyLoop::with_dns`]): one watch per kind serves both.

pub mod metrics;
pub mod model;
pub mod tproxy;
pub mod vip;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use clipper_client::{Change, ClientError, Informer, QuicClient};
use clipper_dataplane::ProxyHandle;
use clipper_dataplane::service::ServiceSpec;
use clipper_proto::api::core::v1::Service;
use clipper_proto::api::discovery::v1::EndpointSlice;
use clipper_proto::wire::WatchRequest;
use tokio::sync::watch;

pub use model::{NodeContext, SvcKey};

/// What the loop did, for tests and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Table updates handed to the proxy.
    pub applies: u64,
    /// Table entries (service port × address) currently served.
    pub entries: usize,
    /// Failed updates of the service-IP link.
    pub vip_errors: u64,
}

pub struct ProxyLoop {
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    proxy: Arc<ProxyHandle>,
    vips: Option<vip::VipLink>,
    /// Addresses the link holds besides the Services' (the cluster DNS address).
    extra_vips: BTreeSet<IpAddr>,
    ctx: NodeContext,
    /// By name: the endpoint list a service's slices give is in one order from one
    /// reconcile to the next (a Maglev table over the same endpoints stays the same).
    slices_by_svc: HashMap<SvcKey, BTreeMap<String, Arc<EndpointSlice>>>,
    specs: HashMap<SvcKey, Vec<ServiceSpec>>,
    dirty: HashSet<SvcKey>,
    /// Whether the first full reconcile (after both informers synced) happened.
    primed: bool,
    ready: watch::Sender<bool>,
    dns: Option<clipper_dns::ZoneHandle>,
    pub stats: Stats,
}

fn svc_key_of_slice(s: &EndpointSlice) -> Option<SvcKey> {
    let name = s
        .metadata
        .labels
        .as_ref()?
        .get(model::SERVICE_NAME_LABEL)?
        .clone();
    Some((s.metadata.namespace.clone().unwrap_or_default(), name))
}

fn key_of_svc(s: &Service) -> SvcKey {
    (
        s.metadata.namespace.clone().unwrap_or_default(),
        s.metadata.name.clone().unwrap_or_default(),
    )
}

impl ProxyLoop {
    /// `vips`: the link service IPs go on (`None`: the caller manages addresses, e.g. a
    /// test binding loopback aliases). `extra_vips` stay on the link whatever the
    /// Services say.
    pub fn new(
        quic: &Arc<QuicClient>,
        proxy: Arc<ProxyHandle>,
        vips: Option<vip::VipLink>,
        extra_vips: BTreeSet<IpAddr>,
        ctx: NodeContext,
    ) -> ProxyLoop {
        let watch = |group: &str, resource: &str| WatchRequest {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            ..Default::default()
        };
        ProxyLoop {
            services: Informer::new(quic.watch(watch("", "services"))),
            slices: Informer::new(quic.watch(watch("discovery.k8s.io", "endpointslices"))),
            proxy,
            vips,
            extra_vips,
            ctx,
            slices_by_svc: HashMap::new(),
            specs: HashMap::new(),
            dirty: HashSet::new(),
            primed: false,
            ready: watch::Sender::new(false),
            dns: None,
            stats: Stats::default(),
        }
    }

    /// Keeps `zone` current with the Services and EndpointSlices this loop watches.
    pub fn with_dns(mut self, zone: clipper_dns::ZoneHandle) -> ProxyLoop {
        self.dns = Some(zone);
        self
    }

    /// Turns true once the proxy serves the cluster's state as of its first sync.
    pub fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// Runs until `stop` turns true or a watch fails for good. The service-IP link is
    /// removed on the way out.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<Stats, ClientError> {
        let result = loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break Ok(()),
                changes = self.services.next() => match changes {
                    Ok(c) => self.on_services(c),
                    Err(e) => break Err(e),
                },
                changes = self.slices.next() => match changes {
                    Ok(c) => self.on_slices(c),
                    Err(e) => break Err(e),
                },
            }
            tracing::debug!(
                services_synced = self.services.cache().synced(),
                slices_synced = self.slices.cache().synced(),
                dirty = self.dirty.len(),
                "proxy loop turn"
            );
            if self.services.cache().synced() && self.slices.cache().synced() {
                self.reconcile().await;
            }
        };
        if let Some(link) = self.vips.take()
            && let Err(e) = link.remove().await
        {
            tracing::warn!(error = %e, "removing the service IP link");
        }
        result.map(|()| self.stats)
    }

    fn on_services(&mut self, changes: Vec<Change<Service>>) {
        if let Some(zone) = &self.dns {
            zone.update(|z| {
                for c in &changes {
                    let r = match c {
                        Change::Added(s) | Change::Updated { new: s, .. } => z.upsert_service(s),
                        Change::Deleted(s) => {
                            let (ns, name) = key_of_svc(s);
                            z.remove_service(&ns, &name);
                            Ok(())
                        }
                        Change::Synced(_) => Ok(()),
                    };
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "a Service the DNS zone cannot hold");
                    }
                }
            });
        }
        for c in changes {
            match c {
                Change::Added(s) | Change::Deleted(s) | Change::Updated { new: s, .. } => {
                    self.dirty.insert(key_of_svc(&s));
                }
                Change::Synced(_) => {}
            }
        }
    }

    fn on_slices(&mut self, changes: Vec<Change<EndpointSlice>>) {
        if let Some(zone) = &self.dns {
            zone.update(|z| {
                for c in &changes {
                    let r = match c {
                        Change::Added(s) | Change::Updated { new: s, .. } => z.upsert_slice(s),
                        Change::Deleted(s) => {
                            z.remove_slice(
                                s.metadata.namespace.as_deref().unwrap_or(""),
                                s.metadata.name.as_deref().unwrap_or(""),
                            );
                            Ok(())
                        }
                        Change::Synced(_) => Ok(()),
                    };
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "an EndpointSlice the DNS zone cannot hold");
                    }
                }
            });
        }
        for c in changes {
            match c {
                Change::Added(s) | Change::Updated { new: s, .. } => {
                    let name = s.metadata.name.clone().unwrap_or_default();
                    // A slice whose label moved is dropped from its old service first.
                    for (k, m) in self.slices_by_svc.iter_mut() {
                        if m.remove(&name).is_some() && Some(k) != svc_key_of_slice(&s).as_ref() {
                            self.dirty.insert(k.clone());
                        }
                    }
                    if let Some(k) = svc_key_of_slice(&s) {
                        self.slices_by_svc
                            .entry(k.clone())
                            .or_default()
                            .insert(name, s);
                        self.dirty.insert(k);
                    }
                }
                Change::Deleted(s) => {
                    if let Some(k) = svc_key_of_slice(&s) {
                        if let Some(m) = self.slices_by_svc.get_mut(&k) {
                            m.remove(s.metadata.name.as_deref().unwrap_or(""));
                        }
                        self.dirty.insert(k);
                    }
                }
                Change::Synced(_) => {}
            }
        }
    }

    async fn reconcile(&mut self) {
        if !self.primed {
            // Everything known so far, plus what the table holds from an earlier run.
            self.dirty.extend(self.specs.keys().cloned());
            self.dirty
                .extend(self.services.cache().list().iter().map(|s| key_of_svc(s)));
        }
        if self.dirty.is_empty() && self.primed {
            return;
        }
        let mut changes = Vec::new();
        for k in std::mem::take(&mut self.dirty) {
            let new = match self.services.cache().get(&k.0, &k.1) {
                Some(svc) => {
                    let slices: Vec<Arc<EndpointSlice>> = self
                        .slices_by_svc
                        .get(&k)
                        .map(|m| m.values().cloned().collect())
                        .unwrap_or_default();
                    model::specs_for(&svc, &slices, &self.ctx)
                }
                None => Vec::new(),
            };
            let old = self.specs.get(&k).map(Vec::as_slice).unwrap_or_default();
            changes.extend(model::diff(old, &new));
            if new.is_empty() {
                self.specs.remove(&k);
            } else {
                self.specs.insert(k, new);
            }
        }
        // New addresses go on the link before the proxy listens on them; old ones leave
        // after it stopped.
        let mut want = model::virtual_ips(&self.specs);
        want.extend(self.extra_vips.iter().copied());
        if let Some(link) = &mut self.vips {
            let mut grow = link.addresses().clone();
            grow.extend(want.iter().copied());
            if let Err(e) = link.sync(&grow).await {
                self.stats.vip_errors += 1;
                tracing::warn!(error = %e, "adding service IPs");
            }
        }
        if !changes.is_empty() {
            self.proxy.apply(changes);
            self.stats.applies += 1;
        }
        if let Some(link) = &mut self.vips
            && let Err(e) = link.sync(&want).await
        {
            self.stats.vip_errors += 1;
            tracing::warn!(error = %e, "removing service IPs");
        }
        if self.ctx.preserve_source {
            let local: std::collections::BTreeSet<std::net::SocketAddr> = self
                .slices_by_svc
                .values()
                .flat_map(|m| m.values())
                .flat_map(|s| model::local_backends(s, &self.ctx))
                .collect();
            self.proxy.table().set_transparent(local);
            self.proxy
                .table()
                .set_local_networks(self.ctx.pod_networks.clone());
        }
        self.stats.entries = self.specs.values().map(Vec::len).sum();
        if !self.primed {
            self.primed = true;
            tracing::info!(entries = self.stats.entries, "service proxy synced");
            self.ready.send_replace(true);
        }
    }
}
