//! [`MaintenanceOps`] of the embedded engine: HashKV and Defragment, which
//! need the engine itself rather than the [`crate::Kv`] contract.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::grpc::maintenance_service::{HashKv, MaintenanceOps};
use crate::kv::ResponseHeader;
use crate::mvcc::Engine;

#[async_trait]
impl MaintenanceOps for Engine {
    async fn hash_kv(&self, revision: i64) -> Result<HashKv, StoreError> {
        let (header, hash, compact_revision) = Engine::hash_kv(self, revision).await?;
        let hash_revision = if revision > 0 {
            revision
        } else {
            header.revision
        };
        Ok(HashKv {
            header,
            hash,
            compact_revision,
            hash_revision,
        })
    }

    async fn defragment(&self) -> Result<ResponseHeader, StoreError> {
        // RocksDB's full compaction blocks: keep it off the async workers
        // where the runtime allows that.
        let run = || Engine::defragment(self);
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
            _ => run(),
        }?;
        let probe = crate::grpc::header::current_header(self).await?;
        Ok(probe)
    }
}
