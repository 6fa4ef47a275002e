//! The state every handler shares: the resource table, the object store, the
//! server's settings and its metrics.

use std::sync::{Arc, RwLock};

use store::Kv;

use crate::metrics::Metrics;
use crate::registry::{ObjectStore, Resource, ResourceTable};
use crate::strategy::ServiceAllocator;
use crate::watch_cache::WatchCache;

/// Settings that change request handling (not transport).
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `--service-cluster-ip-range`, e.g. 10.96.0.0/12.
    pub service_cluster_ip_range: String,
    /// `--service-node-port-range`, e.g. 30000-32767.
    pub service_node_port_range: (u16, u16),
    /// Largest request body accepted (upstream: 3 MiB).
    pub max_request_body_bytes: usize,
    /// host:port clients reach the server at (discovery's serverAddress).
    pub advertise_address: String,
    /// ServiceAccount token issuing and authentication (`--service-account-*`);
    /// None: bearer tokens are not accepted and TokenRequest is not served.
    pub service_accounts: Option<Arc<crate::serviceaccount::TokenSettings>>,
    /// The ServiceAccount admission plugin (on in `oxkube server` and
    /// `oxkube apiserver` unless `--disable-admission-plugins=ServiceAccount`;
    /// off by default in the in-process test server, as in upstream's
    /// integration tests).
    pub service_account_admission: bool,
    /// `--etcd-compaction-interval`: how often the store's history is
    /// compacted (`compactor.rs`); None: never.
    pub compaction_interval: Option<std::time::Duration>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            service_cluster_ip_range: "10.96.0.0/12".into(),
            service_node_port_range: (30000, 32767),
            max_request_body_bytes: 3 * 1024 * 1024,
            advertise_address: "127.0.0.1:6443".into(),
            service_accounts: None,
            service_account_admission: false,
            compaction_interval: Some(std::time::Duration::from_secs(300)),
        }
    }
}

pub struct ApiState {
    table: RwLock<Arc<ResourceTable>>,
    pub store: ObjectStore,
    pub settings: ApiSettings,
    pub metrics: Metrics,
    bootstrapped: std::sync::atomic::AtomicBool,
    /// Wakes the namespace cleanup task (a namespace was marked for deletion).
    pub namespace_deleted: Arc<tokio::sync::Notify>,
    /// One store watch per resource, shared by all watchers.
    pub watch_cache: Arc<WatchCache>,
    /// Cluster IPs and node ports of Services (None if the configured
    /// ranges are unusable; then Services get none).
    services: Option<ServiceAllocator>,
}

impl ApiState {
    pub fn new(kv: Arc<dyn Kv>, settings: ApiSettings) -> Arc<Self> {
        Arc::new(ApiState {
            table: RwLock::new(Arc::new(ResourceTable::builtin())),
            watch_cache: Arc::new(WatchCache::new(kv.clone())),
            store: ObjectStore::new(kv),
            metrics: Metrics::default(),
            bootstrapped: std::sync::atomic::AtomicBool::new(false),
            namespace_deleted: Arc::new(tokio::sync::Notify::new()),
            services: ServiceAllocator::new(
                &settings.service_cluster_ip_range,
                settings.service_node_port_range,
            )
            .map_err(|e| tracing::warn!(error = %e, "service IP/port allocation disabled"))
            .ok(),
            settings,
        })
    }

    /// The allocator, when `res` is core/v1 Services.
    pub fn service_allocator(&self, res: &Resource) -> Option<&ServiceAllocator> {
        (res.info.group.is_empty() && res.info.kind == "Service")
            .then_some(self.services.as_ref())
            .flatten()
    }

    /// Gives back what a removed object held (a Service's IPs and ports).
    pub fn deleted(&self, res: &Resource, obj: &serde_json::Value) {
        if let Some(alloc) = self.service_allocator(res) {
            alloc.release_service(obj);
        }
    }

    /// Marks the IPs and ports of stored Services as taken (at start).
    pub async fn load_services(&self) -> crate::error::ApiResult<()> {
        let table = self.table();
        let (Some(alloc), Some(res)) = (self.services.as_ref(), table.get("", "v1", "services"))
        else {
            return Ok(());
        };
        let all = crate::registry::list::list(&self.store, &res, None, &Default::default()).await?;
        alloc.load(all.items.iter());
        Ok(())
    }

    /// Whether the start-up objects (system namespaces) exist.
    pub fn bootstrapped(&self) -> bool {
        self.bootstrapped.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn set_bootstrapped(&self) {
        self.bootstrapped
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Replaces the resource table (the CRD controller, when the set of
    /// established custom resources changes). Requests in flight keep the
    /// table they started with.
    pub fn set_table(&self, table: Arc<ResourceTable>) {
        match self.table.write() {
            Ok(mut t) => *t = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }

    /// The current resource table (cheap: an `Arc` clone).
    pub fn table(&self) -> Arc<ResourceTable> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
