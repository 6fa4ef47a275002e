//! Helpers shared by the engine integration tests: a fresh engine in a
//! temporary directory and short request builders.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, Engine, EngineOptions, Kv,
    PutRequest, RangeRequest, RequestOp,
};

pub fn open(dir: &Path) -> Arc<Engine> {
    Engine::open(dir, EngineOptions::default()).expect("open engine")
}

pub fn open_with(dir: &Path, options: EngineOptions) -> Arc<Engine> {
    Engine::open(dir, options).expect("open engine")
}

pub fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

pub async fn put(kv: &Engine, key: &str, value: &str) -> i64 {
    kv.put(put_req(key, value))
        .await
        .expect("put")
        .header
        .revision
}

pub async fn get(kv: &Engine, key: &str) -> Option<store::KeyValue> {
    kv.range(RangeRequest::key(key))
        .await
        .expect("range")
        .kvs
        .into_iter()
        .next()
}

pub fn del_req(key: &str) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: key.as_bytes().to_vec(),
        ..Default::default()
    }
}

pub fn op_put(key: &str, value: &str) -> RequestOp {
    RequestOp::Put(put_req(key, value))
}

pub fn op_get(key: &str) -> RequestOp {
    RequestOp::Range(RangeRequest::key(key))
}

pub fn op_del(key: &str) -> RequestOp {
    RequestOp::DeleteRange(del_req(key))
}

pub fn cmp(key: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare {
        key: key.as_bytes().to_vec(),
        range_end: Vec::new(),
        result,
        target,
    }
}

pub fn keys(kvs: &[store::KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}
