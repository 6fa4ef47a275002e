//! [`RemoteKv`]: the [`Kv`] contract served by a real etcd cluster (the
//! apiserver's `--etcd-servers`), over `etcd_client::Client`.
//!
//! Requests are built with the client's option builders; responses are read
//! from the protobuf messages they wrap and translated by
//! [`crate::grpc::convert`], so both doors of the store share one mapping.
//! Errors: a gRPC status whose message is one of etcd's becomes the matching
//! [`StoreError`] variant; anything else becomes `StoreError::Remote` (or
//! `Unavailable` for connection failures).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Certificate, Client, ConnectOptions, DeleteOptions, GetOptions, Identity, LeaseGrantOptions,
    LeaseTimeToLiveOptions, PutOptions, TlsOptions, Txn, TxnOp, WatchFilterType, WatchOptions,
};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{GrpcCode, StoreError};
use crate::grpc::convert;
use crate::grpc::status::from_status;
use crate::kv::*;

/// Where the etcd cluster is and how to reach it.
#[derive(Debug, Clone, Default)]
pub struct RemoteConfig {
    /// `http://host:port` or `https://host:port`, tried in turn.
    pub endpoints: Vec<String>,
    /// CA bundle that signs the servers' certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for etcd's `--client-cert-auth`.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Give up connecting after this long (default 20 s).
    pub connect_timeout: Option<Duration>,
}

/// A [`Kv`] backed by a remote etcd.
#[derive(Clone)]
pub struct RemoteKv {
    client: Client,
}

fn client_error(err: etcd_client::Error) -> StoreError {
    match err {
        etcd_client::Error::GRpcStatus(status) => from_status(&status),
        etcd_client::Error::TransportError(e) => StoreError::Remote {
            code: GrpcCode::Unavailable,
            message: format!("etcd connection: {e}"),
        },
        other => StoreError::Remote {
            code: GrpcCode::Unknown,
            message: other.to_string(),
        },
    }
}

fn convert_error(err: convert::ConvertError) -> StoreError {
    StoreError::Remote {
        code: GrpcCode::Internal,
        message: format!("unexpected etcd response: {err}"),
    }
}

fn read_pem(path: &PathBuf) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|e| StoreError::Remote {
        code: GrpcCode::InvalidArgument,
        message: format!("cannot read {}: {e}", path.display()),
    })
}

impl RemoteKv {
    /// Connects to the cluster (the first reachable endpoint answers).
    pub async fn connect(config: &RemoteConfig) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.connect_timeout.unwrap_or(Duration::from_secs(20)))
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10));
        if config.ca_file.is_some() || config.cert_file.is_some() {
            let mut tls = TlsOptions::new();
            if let Some(ca) = &config.ca_file {
                tls = tls.ca_certificate(Certificate::from_pem(read_pem(ca)?));
            }
            if let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) {
                tls = tls.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
            }
            options = options.with_tls(tls);
        }
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(client_error)?;
        tracing::info!(endpoints = ?config.endpoints, "connected to etcd");
        Ok(RemoteKv { client })
    }
}

fn sort_target(t: SortTarget) -> etcd_client::SortTarget {
    match t {
        SortTarget::Key => etcd_client::SortTarget::Key,
        SortTarget::Version => etcd_client::SortTarget::Version,
        SortTarget::Create => etcd_client::SortTarget::Create,
        SortTarget::Mod => etcd_client::SortTarget::Mod,
        SortTarget::Value => etcd_client::SortTarget::Value,
    }
}

fn sort_order(o: SortOrder) -> etcd_client::SortOrder {
    match o {
        SortOrder::None => etcd_client::SortOrder::None,
        SortOrder::Ascend => etcd_client::SortOrder::Ascend,
        SortOrder::Descend => etcd_client::SortOrder::Descend,
    }
}

fn get_options(r: &RangeRequest) -> GetOptions {
    let mut o = GetOptions::new();
    if !r.range_end.is_empty() {
        o = o.with_range(r.range_end.clone());
    }
    if r.sort_order != SortOrder::None || r.sort_target != SortTarget::Key {
        o = o.with_sort(sort_target(r.sort_target), sort_order(r.sort_order));
    }
    o = o
        .with_limit(r.limit)
        .with_revision(r.revision)
        .with_min_mod_revision(r.min_mod_revision)
        .with_max_mod_revision(r.max_mod_revision)
        .with_min_create_revision(r.min_create_revision)
        .with_max_create_revision(r.max_create_revision);
    if r.serializable {
        o = o.with_serializable();
    }
    if r.keys_only {
        o = o.with_keys_only();
    }
    if r.count_only {
        o = o.with_count_only();
    }
    o
}

fn put_options(r: &PutRequest) -> PutOptions {
    let mut o = PutOptions::new().with_lease(r.lease);
    if r.prev_kv {
        o = o.with_prev_key();
    }
    if r.ignore_value {
        o = o.with_ignore_value();
    }
    if r.ignore_lease {
        o = o.with_ignore_lease();
    }
    o
}

fn delete_options(r: &DeleteRangeRequest) -> DeleteOptions {
    let mut o = DeleteOptions::new();
    if !r.range_end.is_empty() {
        o = o.with_range(r.range_end.clone());
    }
    if r.prev_kv {
        o = o.with_prev_key();
    }
    o
}

fn compare(c: Compare) -> etcd_client::Compare {
    use etcd_client::CompareOp;
    let op = match c.result {
        CompareResult::Equal => CompareOp::Equal,
        CompareResult::Greater => CompareOp::Greater,
        CompareResult::Less => CompareOp::Less,
        CompareResult::NotEqual => CompareOp::NotEqual,
    };
    let key = c.key;
    let cmp = match c.target {
        CompareTarget::Version(v) => etcd_client::Compare::version(key, op, v),
        CompareTarget::Create(v) => etcd_client::Compare::create_revision(key, op, v),
        CompareTarget::Mod(v) => etcd_client::Compare::mod_revision(key, op, v),
        CompareTarget::Value(v) => etcd_client::Compare::value(key, op, v),
        CompareTarget::Lease(v) => etcd_client::Compare::lease(key, op, v),
    };
    if c.range_end.is_empty() {
        cmp
    } else {
        cmp.with_range(c.range_end)
    }
}

fn txn_op(op: RequestOp) -> TxnOp {
    match op {
        RequestOp::Range(r) => {
            let o = get_options(&r);
            TxnOp::get(r.key, Some(o))
        }
        RequestOp::Put(r) => {
            let o = put_options(&r);
            TxnOp::put(r.key, r.value, Some(o))
        }
        RequestOp::DeleteRange(r) => {
            let o = delete_options(&r);
            TxnOp::delete(r.key, Some(o))
        }
        RequestOp::Txn(t) => TxnOp::txn(txn(t)),
    }
}

fn txn(t: TxnRequest) -> Txn {
    Txn::new()
        .when(t.compare.into_iter().map(compare).collect::<Vec<_>>())
        .and_then(t.success.into_iter().map(txn_op).collect::<Vec<_>>())
        .or_else(t.failure.into_iter().map(txn_op).collect::<Vec<_>>())
}

fn watch_options(r: &WatchRequest) -> WatchOptions {
    let mut o = WatchOptions::new().with_start_revision(r.start_revision);
    if !r.range_end.is_empty() {
        o = o.with_range(r.range_end.clone());
    }
    if r.prev_kv {
        o = o.with_prev_key();
    }
    if r.progress_notify {
        o = o.with_progress_notify();
    }
    let mut filters = Vec::new();
    if r.no_put {
        filters.push(WatchFilterType::NoPut);
    }
    if r.no_delete {
        filters.push(WatchFilterType::NoDelete);
    }
    if !filters.is_empty() {
        o = o.with_filters(filters);
    }
    o
}

/// One etcd watch response as the [`Kv`] watch stream yields it; `None` for
/// the `created` acknowledgement, which the contract does not carry.
fn watch_response(resp: etcd_client::WatchResponse) -> Option<Result<WatchResponse, StoreError>> {
    let pb = resp.0;
    let header = convert::header_from_pb(pb.header.as_ref());
    if pb.compact_revision != 0 {
        return Some(Ok(WatchResponse::Compacted {
            header,
            compact_revision: pb.compact_revision,
        }));
    }
    if pb.canceled {
        return Some(Err(StoreError::Remote {
            code: GrpcCode::Unknown,
            message: pb.cancel_reason,
        }));
    }
    if pb.created {
        return None;
    }
    if pb.events.is_empty() {
        return Some(Ok(WatchResponse::Progress { header }));
    }
    let events = pb
        .events
        .into_iter()
        .map(convert::event_from_pb)
        .collect::<Result<Vec<_>, _>>();
    Some(
        events
            .map(|events| WatchResponse::Events { header, events })
            .map_err(convert_error),
    )
}

#[async_trait]
impl Kv for RemoteKv {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        let options = get_options(&req);
        let resp = self
            .client
            .kv_client()
            .get(req.key, Some(options))
            .await
            .map_err(client_error)?;
        Ok(convert::range_response_from_pb(resp.0))
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse, StoreError> {
        let options = put_options(&req);
        let resp = self
            .client
            .kv_client()
            .put(req.key, req.value, Some(options))
            .await
            .map_err(client_error)?;
        Ok(convert::put_response_from_pb(resp.0))
    }

    async fn delete_range(
        &self,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, StoreError> {
        let options = delete_options(&req);
        let resp = self
            .client
            .kv_client()
            .delete(req.key, Some(options))
            .await
            .map_err(client_error)?;
        Ok(convert::delete_response_from_pb(resp.0))
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, StoreError> {
        let resp = self
            .client
            .kv_client()
            .txn(txn(req))
            .await
            .map_err(client_error)?;
        convert::txn_response_from_pb(resp.0).map_err(convert_error)
    }

    async fn compact(&self, revision: i64) -> Result<CompactResponse, StoreError> {
        let options = etcd_client::CompactionOptions::new().with_physical();
        let resp = self
            .client
            .kv_client()
            .compact(revision, Some(options))
            .await
            .map_err(client_error)?;
        Ok(CompactResponse {
            header: convert::header_from_pb(resp.0.header.as_ref()),
        })
    }

    async fn watch(&self, req: WatchRequest) -> Result<Watch, StoreError> {
        let options = watch_options(&req);
        let mut stream = self
            .client
            .watch_client()
            .watch(req.key, Some(options))
            .await
            .map_err(client_error)?;
        let (tx, rx) = mpsc::channel(64);
        let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<()>();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    Some(()) = progress_rx.recv() => {
                        if let Err(e) = stream.request_progress().await {
                            let _ = tx.send(Err(client_error(e))).await;
                            return;
                        }
                    }
                    msg = stream.message() => {
                        let item = match msg {
                            Ok(Some(resp)) => match watch_response(resp) {
                                Some(item) => item,
                                None => continue,
                            },
                            Ok(None) => return,
                            Err(e) => Err(client_error(e)),
                        };
                        let last = !matches!(item, Ok(WatchResponse::Events { .. } | WatchResponse::Progress { .. }));
                        if tx.send(item).await.is_err() || last {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Watch {
            responses: ReceiverStream::new(rx).boxed(),
            progress: progress_tx,
        })
    }

    async fn lease_grant(&self, ttl: i64, id: i64) -> Result<LeaseGrantResponse, StoreError> {
        let options = LeaseGrantOptions::new().with_id(id);
        let resp = self
            .client
            .lease_client()
            .grant(ttl, Some(options))
            .await
            .map_err(client_error)?;
        Ok(LeaseGrantResponse {
            header: convert::header_from_pb(resp.0.header.as_ref()),
            id: resp.0.id,
            ttl: resp.0.ttl,
        })
    }

    async fn lease_revoke(&self, id: i64) -> Result<ResponseHeader, StoreError> {
        let resp = self
            .client
            .lease_client()
            .revoke(id)
            .await
            .map_err(client_error)?;
        Ok(convert::header_from_pb(resp.0.header.as_ref()))
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<LeaseKeepAliveResponse, StoreError> {
        // The client's keeper swallows the first answer; renewing once more
        // yields a full response (header and TTL). A renewal is idempotent.
        let (mut keeper, mut stream) = match self.client.lease_client().keep_alive(id).await {
            Ok(pair) => pair,
            Err(etcd_client::Error::LeaseKeepAliveError(_)) => {
                return Err(StoreError::LeaseNotFound);
            }
            Err(e) => return Err(client_error(e)),
        };
        keeper.keep_alive().await.map_err(client_error)?;
        let resp = stream
            .message()
            .await
            .map_err(client_error)?
            .ok_or_else(|| StoreError::Remote {
                code: GrpcCode::Unavailable,
                message: "etcd closed the keep-alive stream".to_string(),
            })?;
        if resp.0.ttl <= 0 {
            return Err(StoreError::LeaseNotFound);
        }
        Ok(LeaseKeepAliveResponse {
            header: convert::header_from_pb(resp.0.header.as_ref()),
            id: resp.0.id,
            ttl: resp.0.ttl,
        })
    }

    async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<LeaseTimeToLiveResponse, StoreError> {
        let mut options = LeaseTimeToLiveOptions::new();
        if keys {
            options = options.with_keys();
        }
        let resp = self
            .client
            .lease_client()
            .time_to_live(id, Some(options))
            .await
            .map_err(client_error)?;
        let pb = resp.0;
        Ok(LeaseTimeToLiveResponse {
            header: convert::header_from_pb(pb.header.as_ref()),
            id: pb.id,
            ttl: pb.ttl,
            granted_ttl: pb.granted_ttl,
            keys: pb.keys,
        })
    }

    async fn lease_leases(&self) -> Result<(ResponseHeader, Vec<i64>), StoreError> {
        let resp = self
            .client
            .lease_client()
            .leases()
            .await
            .map_err(client_error)?;
        let header = convert::header_from_pb(resp.0.header.as_ref());
        Ok((header, resp.0.leases.iter().map(|l| l.id).collect()))
    }

    async fn status(&self) -> Result<StatusResponse, StoreError> {
        let resp = self
            .client
            .maintenance_client()
            .status()
            .await
            .map_err(client_error)?;
        Ok(convert::status_from_pb(resp.0))
    }

    async fn members(&self) -> Result<(ResponseHeader, Vec<Member>), StoreError> {
        let resp = self
            .client
            .cluster_client()
            .member_list()
            .await
            .map_err(client_error)?;
        let header = convert::header_from_pb(resp.0.header.as_ref());
        Ok((
            header,
            resp.0
                .members
                .into_iter()
                .map(convert::member_from_pb)
                .collect(),
        ))
    }
}
