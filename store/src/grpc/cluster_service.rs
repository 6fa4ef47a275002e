//! etcd's `Cluster` service: MemberList from [`Kv::members`]. Membership
//! changes belong to the replicated store and answer `Unimplemented` here.

use std::sync::Arc;

use etcd_client::proto::{
    PbClusterService, PbMemberAddRequest, PbMemberAddResponse, PbMemberListRequest,
    PbMemberListResponse, PbMemberPromoteRequest, PbMemberPromoteResponse, PbMemberRemoveRequest,
    PbMemberRemoveResponse, PbMemberUpdateRequest, PbMemberUpdateResponse,
};
use tonic::{Request, Response, Status};

use crate::grpc::convert::{header_to_pb, member_to_pb};
use crate::grpc::status::to_status;
use crate::kv::Kv;

pub struct ClusterService {
    kv: Arc<dyn Kv>,
}

impl ClusterService {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        ClusterService { kv }
    }
}

fn membership_change() -> Status {
    Status::unimplemented("membership changes are not supported by this store")
}

#[tonic::async_trait]
impl PbClusterService for ClusterService {
    async fn member_add(
        &self,
        _req: Request<PbMemberAddRequest>,
    ) -> Result<Response<PbMemberAddResponse>, Status> {
        Err(membership_change())
    }

    async fn member_remove(
        &self,
        _req: Request<PbMemberRemoveRequest>,
    ) -> Result<Response<PbMemberRemoveResponse>, Status> {
        Err(membership_change())
    }

    async fn member_update(
        &self,
        _req: Request<PbMemberUpdateRequest>,
    ) -> Result<Response<PbMemberUpdateResponse>, Status> {
        Err(membership_change())
    }

    async fn member_list(
        &self,
        _req: Request<PbMemberListRequest>,
    ) -> Result<Response<PbMemberListResponse>, Status> {
        let (header, members) = self.kv.members().await.map_err(|e| to_status(&e))?;
        Ok(Response::new(PbMemberListResponse {
            header: Some(header_to_pb(&header)),
            members: members.into_iter().map(member_to_pb).collect(),
        }))
    }

    async fn member_promote(
        &self,
        _req: Request<PbMemberPromoteRequest>,
    ) -> Result<Response<PbMemberPromoteResponse>, Status> {
        Err(membership_change())
    }
}
