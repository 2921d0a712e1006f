//! Starting an API server: store, API, bootstrap objects, security, controllers that live
//! in the API server (CRD serving), TLS, workers, and the admin kubeconfig.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clipper_proto::api::core::v1::Namespace;
use clipper_store::AnyStore;

use crate::api::{Api, ApiConfig, Scope, WriteOptions};
use crate::auth::pki::{self, Kubeconfig, ServingCertConfig};
use crate::http::{self, Server, ServerHandle};
use crate::security::Security;
use crate::status::ApiError;

/// Namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];
/// The admin kubeconfig's file name under the data directory.
pub const ADMIN_KUBECONFIG: &str = "admin.kubeconfig";

/// Which store the API server sits on.
#[derive(Clone, Debug)]
pub enum StoreChoice {
    /// The embedded store in this directory.
    Embedded(PathBuf),
    /// etcd at these endpoints (`http://host:port`).
    Etcd(Vec<String>),
}

/// An API server's settings.
#[derive(Clone, Debug)]
pub struct ApiServerConfig {
    /// Keys, certificates and the admin kubeconfig live here.
    pub data_dir: PathBuf,
    pub store: StoreChoice,
    pub listen: SocketAddr,
    /// Worker threads (one per core by default).
    pub workers: usize,
    pub service_cidr: String,
    /// NodePort range, inclusive.
    pub node_port_range: (i32, i32),
    /// More names and addresses for the serving certificate.
    pub extra_sans: Vec<String>,
    /// The address the `kubernetes` Service's endpoint names; none: the listen address,
    /// or when that is unspecified the source address of the default route (127.0.0.1
    /// without one).
    pub advertise_address: Option<IpAddr>,
}

/// The source address of the default route, found without sending anything (a UDP
/// socket's connect only picks a route); `None` without a default route.
pub fn default_route_ip() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

impl ApiServerConfig {
    /// Defaults for a data directory: embedded store under it, 0.0.0.0:6443, a worker per
    /// core, service CIDR 10.96.0.0/12.
    pub fn new(data_dir: impl Into<PathBuf>) -> ApiServerConfig {
        let data_dir = data_dir.into();
        ApiServerConfig {
            store: StoreChoice::Embedded(data_dir.join("store")),
            data_dir,
            listen: SocketAddr::from(([0, 0, 0, 0], 6443)),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            service_cidr: "10.96.0.0/12".into(),
            node_port_range: crate::services::NODE_PORT_RANGE,
            extra_sans: Vec::new(),
            advertise_address: None,
        }
    }
}

/// A running API server.
pub struct RunningApiServer {
    pub server: Arc<Server>,
    pub handle: ServerHandle,
    pub addr: SocketAddr,
    /// The QUIC node protocol, on the same port number over UDP.
    pub quic: crate::quic::QuicHandle,
    /// The admin kubeconfig (cluster-admin through `system:masters`).
    pub admin_kubeconfig: PathBuf,
    pub ca_pem: String,
    /// `https://host:port` as kubeconfigs name it.
    pub url: String,
    pub data_dir: PathBuf,
}

impl RunningApiServer {
    /// Writes `<data-dir>/<file>`, a kubeconfig for a control-plane component with its
    /// own client certificate (`CN=user`, `O=groups`), e.g. `system:kube-scheduler`, whose
    /// permissions come from the default RBAC policy.
    pub fn component_kubeconfig(
        &self,
        user: &str,
        groups: &[&str],
        file: &str,
    ) -> Result<PathBuf, ApiError> {
        let now = clipper_proto::Time::now().0;
        let cert = self
            .server
            .security
            .ca
            .issue_client_cert(user, groups, now, pki::LEAF_VALIDITY_SECS)
            .map_err(internal)?;
        let kubeconfig =
            Kubeconfig::with_client_cert("clipper", &self.url, &self.ca_pem, user, &cert);
        let path = self.data_dir.join(file);
        kubeconfig.write(&path).map_err(internal)?;
        Ok(path)
    }

    /// Stops serving.
    pub fn shutdown(self) {
        self.quic.shutdown();
        self.handle.shutdown();
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Opens the configured store.
pub async fn open_store(choice: &StoreChoice) -> Result<AnyStore, ApiError> {
    match choice {
        StoreChoice::Embedded(dir) => clipper_store::embedded::EmbeddedStore::open(dir)
            .map(AnyStore::from)
            .map_err(|e| {
                ApiError::service_unavailable(format!(
                    "opening the embedded store in {}: {e}",
                    dir.display()
                ))
            }),
        StoreChoice::Etcd(endpoints) => clipper_store::etcd::EtcdStore::connect(endpoints)
            .await
            .map(AnyStore::from)
            .map_err(|e| {
                ApiError::service_unavailable(format!(
                    "connecting to etcd at {}: {e}",
                    endpoints.join(",")
                ))
            }),
    }
}

async fn bootstrap_namespaces(api: &Api) -> Result<(), ApiError> {
    let set = api.served.load();
    let served = set
        .get("", "v1", "namespaces")
        .cloned()
        .ok_or_else(|| internal("namespaces not served"))?;
    let scope = Scope {
        served,
        namespace: None,
    };
    let opts = WriteOptions {
        field_manager: "clipper-bootstrap".into(),
        ..Default::default()
    };
    for ns in SYSTEM_NAMESPACES {
        match api.get(&scope, ns).await {
            Ok(_) => continue,
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        let mut obj = Namespace::default();
        obj.metadata.name = Some(ns.to_string());
        match api.create(&scope, Box::new(obj), &opts).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Starts an API server on `store` (already opened).
pub async fn start_with_store(
    config: &ApiServerConfig,
    store: AnyStore,
) -> Result<RunningApiServer, ApiError> {
    let pki_dir = config.data_dir.join("pki");
    let encryption = crate::encryption::SecretsEncryption::load_or_create(&pki_dir)
        .map_err(|e| internal(format!("the secrets encryption key: {e}")))?;
    let store = store.with_transformer(Arc::new(encryption));
    let api = Arc::new(Api::new(
        Arc::new(store),
        ApiConfig {
            service_cidr: config.service_cidr.clone(),
            node_port_range: config.node_port_range,
            ..Default::default()
        },
    ));
    bootstrap_namespaces(&api).await?;
    let security = Security::start(api.clone(), &pki_dir).await?;
    let server = Server::new(api.clone(), security.clone())?;
    crate::crds::start(server.clone()).await?;
    crate::namespaces::start(api.clone()).await?;
    crate::certificates::controller::start(server.clone()).await?;

    let now = clipper_proto::Time::now().0;
    let mut cert_config = ServingCertConfig::new(&pki::detect_host_name(), &config.service_cidr);
    cert_config.extra_sans = config.extra_sans.clone();
    if !config.listen.ip().is_unspecified() {
        cert_config.extra_sans.push(config.listen.ip().to_string());
    }
    // Other hosts reach the server at its advertised address: the certificate names it.
    let advertise_ip = config
        .advertise_address
        .or_else(|| (!config.listen.ip().is_unspecified()).then_some(config.listen.ip()))
        .or_else(default_route_ip)
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    cert_config.extra_sans.push(advertise_ip.to_string());
    let (serving, _) = pki::load_or_create_serving_cert(&pki_dir, &security.ca, &cert_config, now)
        .map_err(internal)?;
    let tls = pki::server_tls_config(&security.ca, &serving).map_err(internal)?;
    let handle = http::serve(
        server.clone(),
        Arc::new(tls.clone()),
        config.listen,
        config.workers,
    )
    .map_err(|e| ApiError::service_unavailable(format!("listening on {}: {e}", config.listen)))?;
    let addr = handle.addr;
    let quic = crate::quic::serve(server.clone(), tls, addr, config.workers).map_err(|e| {
        ApiError::service_unavailable(format!("listening on {addr} (UDP, QUIC): {e}"))
    })?;

    let advertise = advertise_ip;
    // Without it in-cluster clients cannot find the API, but the API itself works.
    if let Err(e) = crate::services::ensure_kubernetes_service(
        &server,
        &config.service_cidr,
        SocketAddr::new(advertise, addr.port()),
    )
    .await
    {
        tracing::warn!("the kubernetes Service: {}", e.message);
    }

    let advertised_url = match advertise {
        IpAddr::V4(ip) => format!("https://{ip}:{}", addr.port()),
        IpAddr::V6(ip) => format!("https://[{ip}]:{}", addr.port()),
    };
    if let Err(e) =
        crate::cluster_info::ensure(&server, &advertised_url, security.ca.cert_pem()).await
    {
        tracing::warn!("kube-public/cluster-info: {}", e.message);
    }

    let admin = security
        .ca
        .issue_admin_cert("kubernetes-admin", now)
        .map_err(internal)?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let url = format!("https://{host}:{}", addr.port());
    let kubeconfig = Kubeconfig::with_client_cert(
        "clipper",
        &url,
        security.ca.cert_pem(),
        "kubernetes-admin",
        &admin,
    );
    let admin_kubeconfig = config.data_dir.join(ADMIN_KUBECONFIG);
    kubeconfig.write(&admin_kubeconfig).map_err(internal)?;
    Ok(RunningApiServer {
        server,
        handle,
        addr,
        quic,
        admin_kubeconfig,
        ca_pem: security.ca.cert_pem().to_string(),
        url,
        data_dir: config.data_dir.clone(),
    })
}

/// Opens the store and starts an API server.
pub async fn start(config: &ApiServerConfig) -> Result<RunningApiServer, ApiError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| internal(format!("creating {}: {e}", config.data_dir.display())))?;
    let store = open_store(&config.store).await?;
    start_with_store(config, store).await
}
