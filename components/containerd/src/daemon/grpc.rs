//! A small gRPC router over `tonic::server::Grpc`: the API message types come from
//! `containerd-client` (generated for clients only), so the server side is one dispatch
//! on the request path instead of a second code generation.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Request, Response, Status, Streaming};

pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;
pub type HttpResponse = http::Response<Body>;

/// Decode one request, run `f`, encode its answer.
pub async fn unary<Q, R, F, Fut>(req: http::Request<Body>, f: F) -> HttpResponse
where
    Q: prost::Message + Default + Send + 'static,
    R: prost::Message + Send + 'static,
    F: FnOnce(Request<Q>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, Status>> + Send + 'static,
{
    let mut f = Some(f);
    let svc = tower::service_fn(move |r: Request<Q>| {
        let f = f.take().expect("unary handler called once");
        async move { f(r).await.map(Response::new) }
    });
    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<R, Q>::default())
        .max_decoding_message_size(64 << 20);
    grpc.unary(svc, req).await
}

/// Decode one request, answer with a stream of messages.
pub async fn server_streaming<Q, R, F, Fut>(req: http::Request<Body>, f: F) -> HttpResponse
where
    Q: prost::Message + Default + Send + 'static,
    R: prost::Message + Send + 'static,
    F: FnOnce(Request<Q>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<BoxStream<R>, Status>> + Send + 'static,
{
    let mut f = Some(f);
    let svc = tower::service_fn(move |r: Request<Q>| {
        let f = f.take().expect("streaming handler called once");
        async move { f(r).await.map(Response::new) }
    });
    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<R, Q>::default());
    grpc.server_streaming(svc, req).await
}

/// A stream of requests answered by a stream of messages (content writes).
pub async fn streaming<Q, R, F, Fut>(req: http::Request<Body>, f: F) -> HttpResponse
where
    Q: prost::Message + Default + Send + 'static,
    R: prost::Message + Send + 'static,
    F: FnOnce(Request<Streaming<Q>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<BoxStream<R>, Status>> + Send + 'static,
{
    let mut f = Some(f);
    let svc = tower::service_fn(move |r: Request<Streaming<Q>>| {
        let f = f.take().expect("streaming handler called once");
        async move { f(r).await.map(Response::new) }
    });
    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<R, Q>::default())
        .max_decoding_message_size(64 << 20);
    grpc.streaming(svc, req).await
}

/// Route a request to the handler of its method. Every arm has one shape:
/// `"Method" => kind(binding, RequestType) { body }`, where `kind` is [`unary`],
/// [`server_streaming`] or [`streaming`] and `body` is the async handler with the
/// decoded `tonic::Request` bound to `binding`; `d` (the daemon) is moved into the
/// handler that runs. A method no arm names gets grpc-go's Unimplemented answer for
/// `unknown` (the full request path).
macro_rules! dispatch {
    ($key:expr, $req:ident, unknown $path:expr, {
        $( $method:literal => $kind:ident($r:pat, $ty:ty) $body:block )*
    }) => {
        match $key {
            $(
                $method => {
                    $crate::daemon::grpc::$kind($req, move |$r: ::tonic::Request<$ty>| async move $body)
                        .await
                }
            )*
            _ => $crate::daemon::grpc::unimplemented($path),
        }
    };
}
pub(crate) use dispatch;

/// The answer to a path nobody serves, as grpc-go gives it.
pub fn unimplemented(path: &str) -> HttpResponse {
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    Status::unimplemented(format!("unknown method {method} for service {service}")).into_http()
}

type Handler = Arc<
    dyn Fn(http::Request<Body>) -> Pin<Box<dyn Future<Output = HttpResponse> + Send>> + Send + Sync,
>;

/// One tonic service per gRPC service name, all sharing one dispatch function; tonic's
/// transport routes on the `/<service>/` prefix, so each needs its own `NAME`.
macro_rules! named_services {
    ($($ty:ident = $name:literal),* $(,)?) => {
        $(
            #[derive(Clone)]
            pub struct $ty(pub Handler);
            impl NamedService for $ty {
                const NAME: &'static str = $name;
            }
            impl tower::Service<http::Request<Body>> for $ty {
                type Response = HttpResponse;
                type Error = Infallible;
                type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;
                fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                    Poll::Ready(Ok(()))
                }
                fn call(&mut self, req: http::Request<Body>) -> Self::Future {
                    let fut = (self.0)(req);
                    Box::pin(async move { Ok(fut.await) })
                }
            }
        )*
        /// Add every service to a tonic router.
        pub fn router(handler: Handler) -> tonic::service::Routes {
            let mut routes = tonic::service::Routes::default();
            $( routes = routes.add_service($ty(handler.clone())); )*
            routes
        }
    };
}

named_services! {
    VersionSvc = "containerd.services.version.v1.Version",
    NamespacesSvc = "containerd.services.namespaces.v1.Namespaces",
    IntrospectionSvc = "containerd.services.introspection.v1.Introspection",
    ContentSvc = "containerd.services.content.v1.Content",
    ImagesSvc = "containerd.services.images.v1.Images",
    LeasesSvc = "containerd.services.leases.v1.Leases",
    ContainersSvc = "containerd.services.containers.v1.Containers",
    SnapshotsSvc = "containerd.services.snapshots.v1.Snapshots",
    DiffSvc = "containerd.services.diff.v1.Diff",
    TasksSvc = "containerd.services.tasks.v1.Tasks",
    EventsSvc = "containerd.services.events.v1.Events",
    HealthSvc = "grpc.health.v1.Health",
}

pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(http::Request<Body>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}
