//! etcd's `Cluster` service: MemberList, MemberAdd, MemberRemove and
//! MemberPromote through the [`Kv`] membership calls (a single member answers
//! `Unimplemented` for changes; the replicated store does them). MemberUpdate
//! (changing a member's peer URLs) is not supported.

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

#[tonic::async_trait]
impl PbClusterService for ClusterService {
    async fn member_add(
        &self,
        req: Request<PbMemberAddRequest>,
    ) -> Result<Response<PbMemberAddResponse>, Status> {
        let req = req.into_inner();
        let (header, member, members) = self
            .kv
            .member_add(req.peer_ur_ls, req.is_learner)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PbMemberAddResponse {
            header: Some(header_to_pb(&header)),
            member: Some(member_to_pb(member)),
            members: members.into_iter().map(member_to_pb).collect(),
        }))
    }

    async fn member_remove(
        &self,
        req: Request<PbMemberRemoveRequest>,
    ) -> Result<Response<PbMemberRemoveResponse>, Status> {
        let (header, members) = self
            .kv
            .member_remove(req.into_inner().id)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PbMemberRemoveResponse {
            header: Some(header_to_pb(&header)),
            members: members.into_iter().map(member_to_pb).collect(),
        }))
    }

    async fn member_update(
        &self,
        _req: Request<PbMemberUpdateRequest>,
    ) -> Result<Response<PbMemberUpdateResponse>, Status> {
        Err(Status::unimplemented(
            "changing a member's peer URLs is not supported by this store",
        ))
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
        req: Request<PbMemberPromoteRequest>,
    ) -> Result<Response<PbMemberPromoteResponse>, Status> {
        let (header, members) = self
            .kv
            .member_promote(req.into_inner().id)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PbMemberPromoteResponse {
            header: Some(header_to_pb(&header)),
            members: members.into_iter().map(member_to_pb).collect(),
        }))
    }
}
