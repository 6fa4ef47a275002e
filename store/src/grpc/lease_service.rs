//! etcd's `Lease` service. KeepAlive is a bidirectional stream: each request
//! renews one lease and is answered in order; a lease that does not exist is
//! answered with `TTL: 0` (etcd's way), other errors end the stream.

use std::pin::Pin;
use std::sync::Arc;

use etcd_client::proto::{
    PbLeaseGrantRequest, PbLeaseGrantResponse, PbLeaseKeepAliveRequest, PbLeaseKeepAliveResponse,
    PbLeaseLeasesRequest, PbLeaseLeasesResponse, PbLeaseRevokeRequest, PbLeaseRevokeResponse,
    PbLeaseService, PbLeaseStatus, PbLeaseTimeToLiveRequest, PbLeaseTimeToLiveResponse,
};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::error::StoreError;
use crate::grpc::convert::header_to_pb;
use crate::grpc::header::current_header;
use crate::grpc::leader::require_leader;
use crate::grpc::status::to_status;
use crate::kv::Kv;

pub struct LeaseService {
    kv: Arc<dyn Kv>,
}

impl LeaseService {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        LeaseService { kv }
    }
}

type KeepAliveStream = Pin<Box<dyn Stream<Item = Result<PbLeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl PbLeaseService for LeaseService {
    async fn lease_grant(
        &self,
        req: Request<PbLeaseGrantRequest>,
    ) -> Result<Response<PbLeaseGrantResponse>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let r = req.into_inner();
        let resp = self
            .kv
            .lease_grant(r.ttl, r.id)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PbLeaseGrantResponse {
            header: Some(header_to_pb(&resp.header)),
            id: resp.id,
            ttl: resp.ttl,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        req: Request<PbLeaseRevokeRequest>,
    ) -> Result<Response<PbLeaseRevokeResponse>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let header = self
            .kv
            .lease_revoke(req.into_inner().id)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PbLeaseRevokeResponse {
            header: Some(header_to_pb(&header)),
        }))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        req: Request<Streaming<PbLeaseKeepAliveRequest>>,
    ) -> Result<Response<KeepAliveStream>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let mut incoming = req.into_inner();
        let kv = self.kv.clone();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(msg) = incoming.next().await {
                let answer = match msg {
                    Ok(r) => keep_alive_once(&kv, r.id).await,
                    Err(status) => {
                        tracing::debug!(%status, "lease keep-alive stream ended");
                        return;
                    }
                };
                let stop = answer.is_err();
                if tx.send(answer).await.is_err() || stop {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn lease_time_to_live(
        &self,
        req: Request<PbLeaseTimeToLiveRequest>,
    ) -> Result<Response<PbLeaseTimeToLiveResponse>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let r = req.into_inner();
        let resp = self
            .kv
            .lease_time_to_live(r.id, r.keys)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PbLeaseTimeToLiveResponse {
            header: Some(header_to_pb(&resp.header)),
            id: resp.id,
            ttl: resp.ttl,
            granted_ttl: resp.granted_ttl,
            keys: resp.keys,
        }))
    }

    async fn lease_leases(
        &self,
        req: Request<PbLeaseLeasesRequest>,
    ) -> Result<Response<PbLeaseLeasesResponse>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let (header, ids) = self.kv.lease_leases().await.map_err(|e| to_status(&e))?;
        Ok(Response::new(PbLeaseLeasesResponse {
            header: Some(header_to_pb(&header)),
            leases: ids.into_iter().map(|id| PbLeaseStatus { id }).collect(),
        }))
    }
}

async fn keep_alive_once(kv: &Arc<dyn Kv>, id: i64) -> Result<PbLeaseKeepAliveResponse, Status> {
    match kv.lease_keep_alive(id).await {
        Ok(r) => Ok(PbLeaseKeepAliveResponse {
            header: Some(header_to_pb(&r.header)),
            id: r.id,
            ttl: r.ttl,
        }),
        Err(StoreError::LeaseNotFound) => {
            let header = current_header(kv.as_ref()).await.unwrap_or_default();
            Ok(PbLeaseKeepAliveResponse {
                header: Some(header_to_pb(&header)),
                id,
                ttl: 0,
            })
        }
        Err(e) => Err(to_status(&e)),
    }
}
