//! The response header for answers the store call itself does not produce
//! (watch created/canceled, Alarm, a keep-alive for a missing lease): the
//! store's current revision, read with a cheap serializable count of one key.

use crate::error::StoreError;
use crate::kv::{Kv, RangeRequest, ResponseHeader};

pub async fn current_header(kv: &dyn Kv) -> Result<ResponseHeader, StoreError> {
    let probe = RangeRequest {
        key: vec![0],
        serializable: true,
        count_only: true,
        ..Default::default()
    };
    Ok(kv.range(probe).await?.header)
}
