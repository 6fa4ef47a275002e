//! The peer gRPC service `oxkube.raft.Peer`: unary methods whose request and
//! answer are one protobuf message holding bincode bytes ([`PeerMessage`]),
//! so Raft's own message types travel unchanged. Served next to nothing
//! else on `--listen-peer-urls`; [`PeerClient`] is the calling side.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::codegen::{Service, StdError, http};
use tonic::server::NamedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Response, Status};

/// Largest peer message (snapshot chunks are 3 MiB; entries batches less).
pub const MAX_PEER_MESSAGE: usize = 64 << 20;

const SERVICE: &str = "oxkube.raft.Peer";

/// One bincode-encoded request or answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PeerMessage {
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// The peer methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    AppendEntries,
    Vote,
    InstallSnapshot,
    /// A client request a member sends to the leader.
    Forward,
}

impl Method {
    fn path(self) -> &'static str {
        match self {
            Method::AppendEntries => "/oxkube.raft.Peer/AppendEntries",
            Method::Vote => "/oxkube.raft.Peer/Vote",
            Method::InstallSnapshot => "/oxkube.raft.Peer/InstallSnapshot",
            Method::Forward => "/oxkube.raft.Peer/Forward",
        }
    }

    fn from_path(path: &str) -> Option<Method> {
        [
            Method::AppendEntries,
            Method::Vote,
            Method::InstallSnapshot,
            Method::Forward,
        ]
        .into_iter()
        .find(|m| m.path() == path)
    }
}

/// What serves the peer methods.
pub trait PeerHandler: Send + Sync + 'static {
    fn handle(
        &self,
        method: Method,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, Status>> + Send;
}

/// The tonic service over a [`PeerHandler`].
pub struct PeerServer<H> {
    handler: Arc<H>,
}

impl<H> Clone for PeerServer<H> {
    fn clone(&self) -> Self {
        PeerServer {
            handler: self.handler.clone(),
        }
    }
}

impl<H: PeerHandler> PeerServer<H> {
    pub fn new(handler: Arc<H>) -> Self {
        PeerServer { handler }
    }
}

impl<H> NamedService for PeerServer<H> {
    const NAME: &'static str = SERVICE;
}

struct Unary<H> {
    handler: Arc<H>,
    method: Method,
}

impl<H: PeerHandler> tonic::server::UnaryService<PeerMessage> for Unary<H> {
    type Response = PeerMessage;
    type Future = Pin<Box<dyn Future<Output = Result<Response<PeerMessage>, Status>> + Send>>;

    fn call(&mut self, request: Request<PeerMessage>) -> Self::Future {
        let handler = self.handler.clone();
        let method = self.method;
        Box::pin(async move {
            let data = handler.handle(method, request.into_inner().data).await?;
            Ok(Response::new(PeerMessage { data }))
        })
    }
}

impl<H, B> Service<http::Request<B>> for PeerServer<H>
where
    H: PeerHandler,
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(method) = Method::from_path(req.uri().path()) else {
            return Box::pin(async {
                Ok(Status::unimplemented("unknown peer method").into_http())
            });
        };
        let handler = self.handler.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                .apply_max_message_size_config(Some(MAX_PEER_MESSAGE), Some(MAX_PEER_MESSAGE));
            Ok(grpc.unary(Unary { handler, method }, req).await)
        })
    }
}

/// A lazily connected client of one peer.
#[derive(Clone)]
pub struct PeerClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl PeerClient {
    /// A client for `url` (`http://` or `https://` with `tls`). Connects on
    /// first use and reconnects after failures.
    pub fn new(url: &str, tls: Option<ClientTlsConfig>) -> Result<Self, tonic::transport::Error> {
        let mut endpoint = Endpoint::from_shared(url.to_string())?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(3));
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls)?;
        }
        let grpc = tonic::client::Grpc::new(endpoint.connect_lazy())
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE);
        Ok(PeerClient { grpc })
    }

    pub async fn call(
        &mut self,
        method: Method,
        data: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("peer not ready: {e}")))?;
        let mut request = Request::new(PeerMessage { data });
        request.set_timeout(timeout);
        let path = http::uri::PathAndQuery::from_static(method.path());
        let fut = self
            .grpc
            .unary(request, path, tonic_prost::ProstCodec::default());
        match tokio::time::timeout(timeout, fut).await {
            Ok(answer) => answer.map(|r: Response<PeerMessage>| r.into_inner().data),
            Err(_) => Err(Status::deadline_exceeded("peer call timed out")),
        }
    }
}
