//! Translation between etcd's protobuf messages (`etcd_client::proto`) and
//! the plain Rust types of [`crate::kv`], in both directions: the gRPC server
//! decodes requests and encodes responses, the remote client does the
//! reverse. Nothing here looks at the data: every field maps to the field of
//! the same name, and enum numbers follow `rpc.proto` / `kv.proto`.

use etcd_client::proto::{
    PbCompare, PbCompareTarget, PbDeleteRequest, PbDeleteResponse, PbEvent, PbKeyValue, PbMember,
    PbPutRequest, PbPutResponse, PbRangeRequest, PbRangeResponse, PbResponseHeader, PbResponseOp,
    PbStatusResponse, PbTargetUnion, PbTxnOpRequest, PbTxnOpResponse, PbTxnRequest, PbTxnRequestOp,
    PbTxnResponse,
};

use crate::kv::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, Event,
    EventType, KeyValue, Member, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    ResponseHeader, ResponseOp, SortOrder, SortTarget, StatusResponse, TxnRequest, TxnResponse,
};

/// A request field held a number `rpc.proto` does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("etcdserver: invalid sort option")]
    InvalidSortOption,
    #[error("unknown compare result {0}")]
    UnknownCompareResult(i32),
    #[error("unknown compare target {0}")]
    UnknownCompareTarget(i32),
    #[error("request operation is empty")]
    EmptyRequestOp,
    #[error("response operation is empty")]
    EmptyResponseOp,
    #[error("unknown event type {0}")]
    UnknownEventType(i32),
}

// ---- headers and key-values -------------------------------------------------

pub fn header_to_pb(h: &ResponseHeader) -> PbResponseHeader {
    PbResponseHeader {
        cluster_id: h.cluster_id,
        member_id: h.member_id,
        revision: h.revision,
        raft_term: h.raft_term,
    }
}

pub fn header_from_pb(h: Option<&PbResponseHeader>) -> ResponseHeader {
    h.map(|h| ResponseHeader {
        cluster_id: h.cluster_id,
        member_id: h.member_id,
        revision: h.revision,
        raft_term: h.raft_term,
    })
    .unwrap_or_default()
}

pub fn kv_to_pb(kv: KeyValue) -> PbKeyValue {
    PbKeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

pub fn kv_from_pb(kv: PbKeyValue) -> KeyValue {
    KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

// ---- range -------------------------------------------------------------------

fn sort_order_from_pb(n: i32) -> Result<SortOrder, ConvertError> {
    match n {
        0 => Ok(SortOrder::None),
        1 => Ok(SortOrder::Ascend),
        2 => Ok(SortOrder::Descend),
        _ => Err(ConvertError::InvalidSortOption),
    }
}

fn sort_order_to_pb(o: SortOrder) -> i32 {
    match o {
        SortOrder::None => 0,
        SortOrder::Ascend => 1,
        SortOrder::Descend => 2,
    }
}

fn sort_target_from_pb(n: i32) -> Result<SortTarget, ConvertError> {
    match n {
        0 => Ok(SortTarget::Key),
        1 => Ok(SortTarget::Version),
        2 => Ok(SortTarget::Create),
        3 => Ok(SortTarget::Mod),
        4 => Ok(SortTarget::Value),
        _ => Err(ConvertError::InvalidSortOption),
    }
}

fn sort_target_to_pb(t: SortTarget) -> i32 {
    match t {
        SortTarget::Key => 0,
        SortTarget::Version => 1,
        SortTarget::Create => 2,
        SortTarget::Mod => 3,
        SortTarget::Value => 4,
    }
}

pub fn range_request_from_pb(r: PbRangeRequest) -> Result<RangeRequest, ConvertError> {
    Ok(RangeRequest {
        key: r.key,
        range_end: r.range_end,
        limit: r.limit,
        revision: r.revision,
        sort_order: sort_order_from_pb(r.sort_order)?,
        sort_target: sort_target_from_pb(r.sort_target)?,
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    })
}

pub fn range_request_to_pb(r: RangeRequest) -> PbRangeRequest {
    PbRangeRequest {
        key: r.key,
        range_end: r.range_end,
        limit: r.limit,
        revision: r.revision,
        sort_order: sort_order_to_pb(r.sort_order),
        sort_target: sort_target_to_pb(r.sort_target),
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    }
}

pub fn range_response_to_pb(r: RangeResponse) -> PbRangeResponse {
    PbRangeResponse {
        header: Some(header_to_pb(&r.header)),
        kvs: r.kvs.into_iter().map(kv_to_pb).collect(),
        more: r.more,
        count: r.count,
    }
}

pub fn range_response_from_pb(r: PbRangeResponse) -> RangeResponse {
    RangeResponse {
        header: header_from_pb(r.header.as_ref()),
        kvs: r.kvs.into_iter().map(kv_from_pb).collect(),
        more: r.more,
        count: r.count,
    }
}

// ---- put / delete ------------------------------------------------------------

pub fn put_request_from_pb(r: PbPutRequest) -> PutRequest {
    PutRequest {
        key: r.key,
        value: r.value,
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

pub fn put_request_to_pb(r: PutRequest) -> PbPutRequest {
    PbPutRequest {
        key: r.key,
        value: r.value,
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

pub fn put_response_to_pb(r: PutResponse) -> PbPutResponse {
    PbPutResponse {
        header: Some(header_to_pb(&r.header)),
        prev_kv: r.prev_kv.map(kv_to_pb),
    }
}

pub fn put_response_from_pb(r: PbPutResponse) -> PutResponse {
    PutResponse {
        header: header_from_pb(r.header.as_ref()),
        prev_kv: r.prev_kv.map(kv_from_pb),
    }
}

pub fn delete_request_from_pb(r: PbDeleteRequest) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: r.key,
        range_end: r.range_end,
        prev_kv: r.prev_kv,
    }
}

pub fn delete_request_to_pb(r: DeleteRangeRequest) -> PbDeleteRequest {
    PbDeleteRequest {
        key: r.key,
        range_end: r.range_end,
        prev_kv: r.prev_kv,
    }
}

pub fn delete_response_to_pb(r: DeleteRangeResponse) -> PbDeleteResponse {
    PbDeleteResponse {
        header: Some(header_to_pb(&r.header)),
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(kv_to_pb).collect(),
    }
}

pub fn delete_response_from_pb(r: PbDeleteResponse) -> DeleteRangeResponse {
    DeleteRangeResponse {
        header: header_from_pb(r.header.as_ref()),
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(kv_from_pb).collect(),
    }
}

// ---- txn ---------------------------------------------------------------------

fn compare_from_pb(c: PbCompare) -> Result<Compare, ConvertError> {
    let result = match c.result {
        0 => CompareResult::Equal,
        1 => CompareResult::Greater,
        2 => CompareResult::Less,
        3 => CompareResult::NotEqual,
        n => return Err(ConvertError::UnknownCompareResult(n)),
    };
    let declared = PbCompareTarget::try_from(c.target)
        .map_err(|_| ConvertError::UnknownCompareTarget(c.target))?;
    // etcd reads the union member named by `target`; any other (or no)
    // union member reads as that member's zero value, as protobuf getters do.
    let u = c.target_union;
    let target = match declared {
        PbCompareTarget::Version => CompareTarget::Version(match u {
            Some(PbTargetUnion::Version(v)) => v,
            _ => 0,
        }),
        PbCompareTarget::Create => CompareTarget::Create(match u {
            Some(PbTargetUnion::CreateRevision(v)) => v,
            _ => 0,
        }),
        PbCompareTarget::Mod => CompareTarget::Mod(match u {
            Some(PbTargetUnion::ModRevision(v)) => v,
            _ => 0,
        }),
        PbCompareTarget::Value => CompareTarget::Value(match u {
            Some(PbTargetUnion::Value(v)) => v,
            _ => Vec::new(),
        }),
        PbCompareTarget::Lease => CompareTarget::Lease(match u {
            Some(PbTargetUnion::Lease(v)) => v,
            _ => 0,
        }),
    };
    Ok(Compare {
        key: c.key,
        range_end: c.range_end,
        result,
        target,
    })
}

fn compare_to_pb(c: Compare) -> PbCompare {
    let result = match c.result {
        CompareResult::Equal => 0,
        CompareResult::Greater => 1,
        CompareResult::Less => 2,
        CompareResult::NotEqual => 3,
    };
    let (target, union) = match c.target {
        CompareTarget::Version(v) => (PbCompareTarget::Version, PbTargetUnion::Version(v)),
        CompareTarget::Create(v) => (PbCompareTarget::Create, PbTargetUnion::CreateRevision(v)),
        CompareTarget::Mod(v) => (PbCompareTarget::Mod, PbTargetUnion::ModRevision(v)),
        CompareTarget::Value(v) => (PbCompareTarget::Value, PbTargetUnion::Value(v)),
        CompareTarget::Lease(v) => (PbCompareTarget::Lease, PbTargetUnion::Lease(v)),
    };
    PbCompare {
        result,
        target: target as i32,
        key: c.key,
        range_end: c.range_end,
        target_union: Some(union),
    }
}

fn request_op_from_pb(op: PbTxnRequestOp) -> Result<RequestOp, ConvertError> {
    Ok(match op.request.ok_or(ConvertError::EmptyRequestOp)? {
        PbTxnOpRequest::RequestRange(r) => RequestOp::Range(range_request_from_pb(r)?),
        PbTxnOpRequest::RequestPut(r) => RequestOp::Put(put_request_from_pb(r)),
        PbTxnOpRequest::RequestDeleteRange(r) => RequestOp::DeleteRange(delete_request_from_pb(r)),
        PbTxnOpRequest::RequestTxn(r) => RequestOp::Txn(txn_request_from_pb(r)?),
    })
}

fn request_op_to_pb(op: RequestOp) -> PbTxnRequestOp {
    let request = match op {
        RequestOp::Range(r) => PbTxnOpRequest::RequestRange(range_request_to_pb(r)),
        RequestOp::Put(r) => PbTxnOpRequest::RequestPut(put_request_to_pb(r)),
        RequestOp::DeleteRange(r) => PbTxnOpRequest::RequestDeleteRange(delete_request_to_pb(r)),
        RequestOp::Txn(r) => PbTxnOpRequest::RequestTxn(txn_request_to_pb(r)),
    };
    PbTxnRequestOp {
        request: Some(request),
    }
}

pub fn txn_request_from_pb(r: PbTxnRequest) -> Result<TxnRequest, ConvertError> {
    Ok(TxnRequest {
        compare: r
            .compare
            .into_iter()
            .map(compare_from_pb)
            .collect::<Result<_, _>>()?,
        success: r
            .success
            .into_iter()
            .map(request_op_from_pb)
            .collect::<Result<_, _>>()?,
        failure: r
            .failure
            .into_iter()
            .map(request_op_from_pb)
            .collect::<Result<_, _>>()?,
    })
}

pub fn txn_request_to_pb(r: TxnRequest) -> PbTxnRequest {
    PbTxnRequest {
        compare: r.compare.into_iter().map(compare_to_pb).collect(),
        success: r.success.into_iter().map(request_op_to_pb).collect(),
        failure: r.failure.into_iter().map(request_op_to_pb).collect(),
    }
}

pub fn txn_response_to_pb(r: TxnResponse) -> PbTxnResponse {
    PbTxnResponse {
        header: Some(header_to_pb(&r.header)),
        succeeded: r.succeeded,
        responses: r
            .responses
            .into_iter()
            .map(|op| PbResponseOp {
                response: Some(match op {
                    ResponseOp::Range(r) => PbTxnOpResponse::ResponseRange(range_response_to_pb(r)),
                    ResponseOp::Put(r) => PbTxnOpResponse::ResponsePut(put_response_to_pb(r)),
                    ResponseOp::DeleteRange(r) => {
                        PbTxnOpResponse::ResponseDeleteRange(delete_response_to_pb(r))
                    }
                    ResponseOp::Txn(r) => PbTxnOpResponse::ResponseTxn(txn_response_to_pb(r)),
                }),
            })
            .collect(),
    }
}

pub fn txn_response_from_pb(r: PbTxnResponse) -> Result<TxnResponse, ConvertError> {
    let responses = r
        .responses
        .into_iter()
        .map(|op| {
            Ok(match op.response.ok_or(ConvertError::EmptyResponseOp)? {
                PbTxnOpResponse::ResponseRange(r) => ResponseOp::Range(range_response_from_pb(r)),
                PbTxnOpResponse::ResponsePut(r) => ResponseOp::Put(put_response_from_pb(r)),
                PbTxnOpResponse::ResponseDeleteRange(r) => {
                    ResponseOp::DeleteRange(delete_response_from_pb(r))
                }
                PbTxnOpResponse::ResponseTxn(r) => ResponseOp::Txn(txn_response_from_pb(r)?),
            })
        })
        .collect::<Result<_, ConvertError>>()?;
    Ok(TxnResponse {
        header: header_from_pb(r.header.as_ref()),
        succeeded: r.succeeded,
        responses,
    })
}

// ---- watch events ----------------------------------------------------------------

pub fn event_to_pb(e: Event) -> PbEvent {
    PbEvent {
        r#type: match e.kind {
            EventType::Put => 0,
            EventType::Delete => 1,
        },
        kv: Some(kv_to_pb(e.kv)),
        prev_kv: e.prev_kv.map(kv_to_pb),
    }
}

pub fn event_from_pb(e: PbEvent) -> Result<Event, ConvertError> {
    let kind = match e.r#type {
        0 => EventType::Put,
        1 => EventType::Delete,
        n => return Err(ConvertError::UnknownEventType(n)),
    };
    Ok(Event {
        kind,
        kv: e.kv.map(kv_from_pb).unwrap_or_default(),
        prev_kv: e.prev_kv.map(kv_from_pb),
    })
}

// ---- maintenance and cluster --------------------------------------------------------

pub fn status_to_pb(s: StatusResponse) -> PbStatusResponse {
    PbStatusResponse {
        header: Some(header_to_pb(&s.header)),
        version: s.version,
        db_size: s.db_size,
        leader: s.leader,
        raft_index: s.raft_index,
        raft_term: s.raft_term,
        raft_applied_index: s.raft_applied_index,
        errors: Vec::new(),
        db_size_in_use: s.db_size_in_use,
        is_learner: s.is_learner,
        ..Default::default()
    }
}

pub fn status_from_pb(s: PbStatusResponse) -> StatusResponse {
    StatusResponse {
        header: header_from_pb(s.header.as_ref()),
        version: s.version,
        db_size: s.db_size,
        db_size_in_use: s.db_size_in_use,
        leader: s.leader,
        raft_index: s.raft_index,
        raft_term: s.raft_term,
        raft_applied_index: s.raft_applied_index,
        is_learner: s.is_learner,
    }
}

pub fn member_to_pb(m: Member) -> PbMember {
    PbMember {
        id: m.id,
        name: m.name,
        peer_ur_ls: m.peer_urls,
        client_ur_ls: m.client_urls,
        is_learner: m.is_learner,
    }
}

pub fn member_from_pb(m: PbMember) -> Member {
    Member {
        id: m.id,
        name: m.name,
        peer_urls: m.peer_ur_ls,
        client_urls: m.client_ur_ls,
        is_learner: m.is_learner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_round_trips_through_protobuf() {
        let txn = TxnRequest {
            compare: vec![
                Compare {
                    key: b"a".to_vec(),
                    range_end: vec![],
                    result: CompareResult::NotEqual,
                    target: CompareTarget::Value(b"x".to_vec()),
                },
                Compare {
                    key: b"b".to_vec(),
                    range_end: vec![0],
                    result: CompareResult::Less,
                    target: CompareTarget::Mod(7),
                },
            ],
            success: vec![
                RequestOp::Put(PutRequest {
                    key: b"a".to_vec(),
                    value: b"1".to_vec(),
                    prev_kv: true,
                    ..Default::default()
                }),
                RequestOp::Txn(TxnRequest {
                    compare: vec![],
                    success: vec![RequestOp::Range(RangeRequest {
                        key: b"c".to_vec(),
                        sort_order: SortOrder::Descend,
                        sort_target: SortTarget::Mod,
                        ..Default::default()
                    })],
                    failure: vec![],
                }),
            ],
            failure: vec![RequestOp::DeleteRange(DeleteRangeRequest {
                key: b"d".to_vec(),
                range_end: b"e".to_vec(),
                prev_kv: true,
            })],
        };
        let back = txn_request_from_pb(txn_request_to_pb(txn.clone()));
        assert_eq!(back, Ok(txn));
    }

    #[test]
    fn unknown_sort_order_is_etcds_invalid_sort_option() {
        let pb = PbRangeRequest {
            key: b"a".to_vec(),
            sort_order: 9,
            ..Default::default()
        };
        let err = range_request_from_pb(pb).unwrap_err();
        assert_eq!(err.to_string(), "etcdserver: invalid sort option");
    }

    #[test]
    fn compare_with_other_union_member_reads_zero_value() {
        let pb = PbCompare {
            result: 0,
            target: PbCompareTarget::Mod as i32,
            key: b"a".to_vec(),
            range_end: vec![],
            target_union: Some(PbTargetUnion::Value(b"v".to_vec())),
        };
        let c = compare_from_pb(pb).map(|c| c.target);
        assert_eq!(c, Ok(CompareTarget::Mod(0)));
    }
}
