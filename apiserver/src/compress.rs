//! gzip for large responses when the client accepts it, as kube-apiserver
//! does (responses of 128 KiB and more; never streams such as watches).

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, header};
use http_body::Body as _;
use http_body_util::BodyExt;
use std::io::Write;

/// Bodies smaller than this are sent as they are.
const MIN_SIZE: u64 = 128 * 1024;

pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.split(';').next().unwrap_or_default().trim() == "gzip")
}

/// Compresses `resp` if its body has a known size of at least `MIN_SIZE`.
pub async fn maybe_gzip(resp: Response) -> Response {
    let size = resp.body().size_hint().exact();
    if resp.headers().contains_key(header::CONTENT_ENCODING) || size.is_none_or(|s| s < MIN_SIZE) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let compressed = match encoder.write_all(&bytes).and_then(|_| encoder.finish()) {
        Ok(c) => c,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    Response::from_parts(parts, Body::from(compressed))
}
