//! The [`Kv`] contract on a replicated member: writes become log entries
//! proposed through the leader; Range and read-only Txn wait for a read
//! index first unless `serializable`; watches are served from the local
//! engine; lease keep-alives and queries are answered by the leader;
//! Status and MemberList come from Raft's view of the cluster.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::kv::{
    CompactResponse, DeleteRangeRequest, DeleteRangeResponse, Kv, LeaseGrantResponse,
    LeaseKeepAliveResponse, LeaseTimeToLiveResponse, Member, PutRequest, PutResponse, RangeRequest,
    RangeResponse, RequestOp, ResponseHeader, StatusResponse, TxnRequest, TxnResponse, Watch,
    WatchRequest,
};
use crate::mvcc::{WriteOp, WriteResult};

use super::cluster;
use super::forward::{ForwardRequest, ForwardResponse};
use super::member::{RaftMember, unexpected};
use super::types::PeerNode;

fn wrong(result: WriteResult) -> StoreError {
    StoreError::Backend(format!("unexpected write result {result:?}"))
}

/// Whether a txn only reads (then it needs no log entry).
fn read_only(req: &TxnRequest) -> bool {
    req.success.iter().chain(&req.failure).all(|op| match op {
        RequestOp::Range(_) => true,
        RequestOp::Txn(t) => read_only(t),
        RequestOp::Put(_) | RequestOp::DeleteRange(_) => false,
    })
}

/// Whether every read of a txn is serializable.
fn serializable(req: &TxnRequest) -> bool {
    req.success.iter().chain(&req.failure).all(|op| match op {
        RequestOp::Range(r) => r.serializable,
        RequestOp::Txn(t) => serializable(t),
        RequestOp::Put(_) | RequestOp::DeleteRange(_) => true,
    })
}

impl RaftMember {
    fn header(&self) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.engine.cluster_id(),
            member_id: self.engine.member_id(),
            revision: self.engine.current_revision(),
            raft_term: self
                .raft
                .server_metrics()
                .borrow()
                .vote
                .leader_id()
                .get_term(),
        }
    }
}

#[async_trait]
impl Kv for RaftMember {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        if !req.serializable {
            self.read_barrier().await?;
        }
        self.engine.range(req).await
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse, StoreError> {
        match self.propose(WriteOp::Put(req)).await? {
            WriteResult::Put(resp) => Ok(resp),
            other => Err(wrong(other)),
        }
    }

    async fn delete_range(
        &self,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, StoreError> {
        match self.propose(WriteOp::Delete(req)).await? {
            WriteResult::Delete(resp) => Ok(resp),
            other => Err(wrong(other)),
        }
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, StoreError> {
        if read_only(&req) {
            if !serializable(&req) {
                self.read_barrier().await?;
            }
            return self.engine.txn(req).await;
        }
        match self.propose(WriteOp::Txn(req)).await? {
            WriteResult::Txn(resp) => Ok(resp),
            other => Err(wrong(other)),
        }
    }

    async fn compact(&self, revision: i64) -> Result<CompactResponse, StoreError> {
        match self.propose(WriteOp::Compact { revision }).await? {
            WriteResult::Compact(resp) => Ok(resp),
            other => Err(wrong(other)),
        }
    }

    async fn watch(&self, req: WatchRequest) -> Result<Watch, StoreError> {
        self.engine.watch(req).await
    }

    async fn lease_grant(&self, ttl: i64, id: i64) -> Result<LeaseGrantResponse, StoreError> {
        let explicit = id != 0;
        let mut attempts = 0;
        loop {
            let id = if explicit { id } else { self.new_lease_id() };
            match self.propose(WriteOp::LeaseGrant { id, ttl }).await {
                Ok(WriteResult::LeaseGrant(resp)) => return Ok(resp),
                Ok(other) => return Err(wrong(other)),
                // A chosen id that happens to exist: choose again.
                Err(StoreError::LeaseExists) if !explicit && attempts < 3 => attempts += 1,
                Err(err) => return Err(err),
            }
        }
    }

    async fn lease_revoke(&self, id: i64) -> Result<ResponseHeader, StoreError> {
        match self.propose(WriteOp::LeaseRevoke { id }).await? {
            WriteResult::LeaseRevoke(header) => Ok(header),
            other => Err(wrong(other)),
        }
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<LeaseKeepAliveResponse, StoreError> {
        match self.route(ForwardRequest::KeepAlive(id)).await? {
            ForwardResponse::KeepAlive(mut resp) => {
                resp.header = self.header();
                Ok(resp)
            }
            other => Err(unexpected(other)),
        }
    }

    async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<LeaseTimeToLiveResponse, StoreError> {
        match self.route(ForwardRequest::TimeToLive { id, keys }).await? {
            ForwardResponse::TimeToLive(mut resp) => {
                resp.header = self.header();
                Ok(resp)
            }
            other => Err(unexpected(other)),
        }
    }

    async fn lease_leases(&self) -> Result<(ResponseHeader, Vec<i64>), StoreError> {
        match self.route(ForwardRequest::Leases).await? {
            ForwardResponse::Leases(ids) => Ok((self.header(), ids)),
            other => Err(unexpected(other)),
        }
    }

    async fn status(&self) -> Result<StatusResponse, StoreError> {
        let mut status = self.engine.status().await?;
        let metrics = self.raft.metrics().borrow().clone();
        let is_voter = metrics
            .membership_config
            .membership()
            .voter_ids()
            .any(|id| id == self.id);
        status.header = self.header();
        status.leader = metrics.current_leader.unwrap_or(0);
        status.raft_term = metrics.current_term;
        status.raft_index = metrics.last_log_index.unwrap_or(0);
        status.raft_applied_index = metrics.last_applied.map_or(0, |l| l.index);
        status.is_learner = !is_voter;
        Ok(status)
    }

    async fn members(&self) -> Result<(ResponseHeader, Vec<Member>), StoreError> {
        Ok((self.header(), self.members_now()))
    }

    async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<(ResponseHeader, Member, Vec<Member>), StoreError> {
        let id = cluster::member_id(&peer_urls, &self.token);
        let node = PeerNode {
            name: String::new(),
            peer_urls: peer_urls.clone(),
            client_urls: Vec::new(),
        };
        let req = ForwardRequest::AddMember {
            id,
            node,
            learner: is_learner,
        };
        match self.route(req).await? {
            ForwardResponse::Changed => {}
            other => return Err(unexpected(other)),
        }
        let member = Member {
            id,
            name: String::new(),
            peer_urls,
            client_urls: Vec::new(),
            is_learner,
        };
        Ok((self.header(), member, self.members_now()))
    }

    async fn member_remove(&self, id: u64) -> Result<(ResponseHeader, Vec<Member>), StoreError> {
        match self.route(ForwardRequest::RemoveMember(id)).await? {
            ForwardResponse::Changed => Ok((self.header(), self.members_now())),
            other => Err(unexpected(other)),
        }
    }

    async fn member_promote(&self, id: u64) -> Result<(ResponseHeader, Vec<Member>), StoreError> {
        match self.route(ForwardRequest::PromoteMember(id)).await? {
            ForwardResponse::Changed => Ok((self.header(), self.members_now())),
            other => Err(unexpected(other)),
        }
    }
}
