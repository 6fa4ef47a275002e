//! etcd's `KV` service (Range, Put, DeleteRange, Txn, Compact, and the newer
//! RangeStream): validate as etcd's gRPC layer does, translate, call [`Kv`].

use std::pin::Pin;
use std::sync::Arc;

use etcd_client::proto::{
    PbCompactionRequest, PbCompactionResponse, PbDeleteRequest, PbDeleteResponse, PbKvService,
    PbPutRequest, PbPutResponse, PbRangeRequest, PbRangeResponse, PbRangeStreamResponse,
    PbTxnRequest, PbTxnResponse,
};
use futures::Stream;
use tonic::{Request, Response, Status};

use crate::grpc::convert;
use crate::grpc::leader::require_leader;
use crate::grpc::status::to_status;
use crate::grpc::validate;
use crate::kv::Kv;

pub struct KvService {
    kv: Arc<dyn Kv>,
}

impl KvService {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        KvService { kv }
    }

    async fn do_range(&self, req: Request<PbRangeRequest>) -> Result<PbRangeResponse, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let pb = req.into_inner();
        validate::check_range(&pb)?;
        let r = convert::range_request_from_pb(pb)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let resp = self.kv.range(r).await.map_err(|e| to_status(&e))?;
        Ok(convert::range_response_to_pb(resp))
    }
}

type RangeStream = Pin<Box<dyn Stream<Item = Result<PbRangeStreamResponse, Status>> + Send>>;

#[tonic::async_trait]
impl PbKvService for KvService {
    async fn range(
        &self,
        req: Request<PbRangeRequest>,
    ) -> Result<Response<PbRangeResponse>, Status> {
        self.do_range(req).await.map(Response::new)
    }

    type RangeStreamStream = RangeStream;

    /// Answers in one chunk: the whole range response.
    async fn range_stream(
        &self,
        req: Request<PbRangeRequest>,
    ) -> Result<Response<RangeStream>, Status> {
        let resp = self.do_range(req).await?;
        let chunk = PbRangeStreamResponse {
            range_response: Some(resp),
        };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(chunk)]))))
    }

    async fn put(&self, req: Request<PbPutRequest>) -> Result<Response<PbPutResponse>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let pb = req.into_inner();
        validate::check_put(&pb)?;
        validate::check_size(&pb)?;
        let resp = self
            .kv
            .put(convert::put_request_from_pb(pb))
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(convert::put_response_to_pb(resp)))
    }

    async fn delete_range(
        &self,
        req: Request<PbDeleteRequest>,
    ) -> Result<Response<PbDeleteResponse>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let pb = req.into_inner();
        validate::check_delete(&pb)?;
        validate::check_size(&pb)?;
        let resp = self
            .kv
            .delete_range(convert::delete_request_from_pb(pb))
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(convert::delete_response_to_pb(resp)))
    }

    async fn txn(&self, req: Request<PbTxnRequest>) -> Result<Response<PbTxnResponse>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let pb = req.into_inner();
        validate::check_txn(&pb)?;
        validate::check_size(&pb)?;
        let t = convert::txn_request_from_pb(pb)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let resp = self.kv.txn(t).await.map_err(|e| to_status(&e))?;
        Ok(Response::new(convert::txn_response_to_pb(resp)))
    }

    async fn compact(
        &self,
        req: Request<PbCompactionRequest>,
    ) -> Result<Response<PbCompactionResponse>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let revision = req.into_inner().revision;
        let resp = self.kv.compact(revision).await.map_err(|e| to_status(&e))?;
        Ok(Response::new(PbCompactionResponse {
            header: Some(convert::header_to_pb(&resp.header)),
        }))
    }
}
