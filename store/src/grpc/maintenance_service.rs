//! etcd's `Maintenance` service: Status from [`Kv::status`], Alarm with no
//! alarms (this store raises none), HashKV and Defragment through the
//! optional [`MaintenanceOps`] of the engine. Snapshot, MoveLeader, Hash and
//! Downgrade are not offered and answer `Unimplemented`.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use etcd_client::proto::{
    PbAlarmRequest, PbAlarmResponse, PbDefragmentRequest, PbDefragmentResponse, PbDowngradeRequest,
    PbDowngradeResponse, PbHashKvRequest, PbHashKvResponse, PbHashRequest, PbHashResponse,
    PbMaintenanceService, PbMoveLeaderRequest, PbMoveLeaderResponse, PbSnapshotRequest,
    PbSnapshotResponse, PbStatusRequest, PbStatusResponse,
};
use futures::Stream;
use tonic::{Request, Response, Status};

use crate::error::StoreError;
use crate::grpc::convert::{header_to_pb, status_to_pb};
use crate::grpc::header::current_header;
use crate::grpc::leader::require_leader;
use crate::grpc::status::to_status;
use crate::kv::{Kv, ResponseHeader};

/// etcd's `HashKV` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashKv {
    pub header: ResponseHeader,
    pub hash: u32,
    pub compact_revision: i64,
    pub hash_revision: i64,
}

/// The maintenance operations that need the engine itself rather than the
/// [`Kv`] contract.
#[async_trait]
pub trait MaintenanceOps: Send + Sync + 'static {
    /// Hash of every key revision up to `revision` (0 = current).
    async fn hash_kv(&self, revision: i64) -> Result<HashKv, StoreError>;
    /// Compacts the storage files; the answer comes once done.
    async fn defragment(&self) -> Result<ResponseHeader, StoreError>;
}

pub struct MaintenanceService {
    kv: Arc<dyn Kv>,
    ops: Option<Arc<dyn MaintenanceOps>>,
}

impl MaintenanceService {
    pub fn new(kv: Arc<dyn Kv>, ops: Option<Arc<dyn MaintenanceOps>>) -> Self {
        MaintenanceService { kv, ops }
    }

    fn ops(&self, what: &str) -> Result<&Arc<dyn MaintenanceOps>, Status> {
        self.ops
            .as_ref()
            .ok_or_else(|| Status::unimplemented(format!("{what} is not supported by this store")))
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<PbSnapshotResponse, Status>> + Send>>;

#[tonic::async_trait]
impl PbMaintenanceService for MaintenanceService {
    async fn alarm(
        &self,
        req: Request<PbAlarmRequest>,
    ) -> Result<Response<PbAlarmResponse>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let header = current_header(self.kv.as_ref())
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PbAlarmResponse {
            header: Some(header_to_pb(&header)),
            alarms: Vec::new(),
        }))
    }

    async fn status(
        &self,
        _req: Request<PbStatusRequest>,
    ) -> Result<Response<PbStatusResponse>, Status> {
        let status = self.kv.status().await.map_err(|e| to_status(&e))?;
        Ok(Response::new(status_to_pb(status)))
    }

    async fn defragment(
        &self,
        _req: Request<PbDefragmentRequest>,
    ) -> Result<Response<PbDefragmentResponse>, Status> {
        let header = self
            .ops("Defragment")?
            .defragment()
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PbDefragmentResponse {
            header: Some(header_to_pb(&header)),
        }))
    }

    async fn hash(&self, _req: Request<PbHashRequest>) -> Result<Response<PbHashResponse>, Status> {
        Err(Status::unimplemented("Hash is not supported; use HashKV"))
    }

    async fn hash_kv(
        &self,
        req: Request<PbHashKvRequest>,
    ) -> Result<Response<PbHashKvResponse>, Status> {
        let h = self
            .ops("HashKV")?
            .hash_kv(req.into_inner().revision)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PbHashKvResponse {
            header: Some(header_to_pb(&h.header)),
            hash: h.hash,
            compact_revision: h.compact_revision,
            hash_revision: h.hash_revision,
        }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        _req: Request<PbSnapshotRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        Err(Status::unimplemented("Snapshot is not supported"))
    }

    async fn move_leader(
        &self,
        _req: Request<PbMoveLeaderRequest>,
    ) -> Result<Response<PbMoveLeaderResponse>, Status> {
        Err(Status::unimplemented("MoveLeader is not supported"))
    }

    async fn downgrade(
        &self,
        _req: Request<PbDowngradeRequest>,
    ) -> Result<Response<PbDowngradeResponse>, Status> {
        Err(Status::unimplemented("Downgrade is not supported"))
    }
}
