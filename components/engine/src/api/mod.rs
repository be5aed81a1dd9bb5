//! The Engine API over HTTP/1.1: listeners (`unix://`, `tcp://`, `fd://`), API version
//! negotiation on `/vX.Y/` prefixes, and dispatch of each route to its handler module.

mod archive;
mod binaries;
mod body;
mod build;
mod containers;
mod detach;
mod error;
mod exec;
mod images;
pub(crate) mod networks;
mod query;
mod registry;
mod system;
pub mod tls;
mod volumes;

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;

pub use body::Body;
pub use error::ApiError;
pub use query::Filters;

use crate::daemon::Daemon;

/// The newest API version this engine speaks, and the oldest it accepts.
pub const API_VERSION: &str = "1.47";
pub const MIN_API_VERSION: &str = "1.24";

pub type Resp = Result<Response<Body>, ApiError>;

/// One incoming request, already stripped of its version prefix.
pub struct Ctx {
    pub daemon: Arc<Daemon>,
    pub version: (u32, u32),
    pub query: query::Query,
    pub req: Request<Incoming>,
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Serve HTTP on one accepted connection until the client goes away.
pub async fn serve_connection<S>(daemon: Arc<Daemon>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let daemon = daemon.clone();
        async move { Ok::<_, Infallible>(handle(daemon, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

async fn handle(daemon: Arc<Daemon>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let (version, rest) = match split_version(&path) {
        Ok(v) => v,
        Err(e) => return finish(e.into_response()),
    };
    let query = query::Query::parse(req.uri().query().unwrap_or(""));
    let method = req.method().clone();
    let ctx = Ctx {
        daemon,
        version,
        query,
        req,
    };
    let resp = dispatch(ctx, &method, &rest).await;
    finish(resp.unwrap_or_else(ApiError::into_response))
}

/// Headers dockerd puts on every response.
fn finish(mut resp: Response<Body>) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert("Api-Version", API_VERSION.parse().unwrap());
    h.insert("Docker-Experimental", "false".parse().unwrap());
    h.insert("Ostype", "linux".parse().unwrap());
    if let Ok(v) = format!("Docker/{} (linux)", buildinfo::VERSION).parse() {
        h.insert("Server", v);
    }
    resp
}

fn split_version(path: &str) -> Result<((u32, u32), String), ApiError> {
    let current = parse_version(API_VERSION).unwrap();
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((current, path.to_string()));
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some(v) = parse_version(ver) else {
        return Ok((current, path.to_string()));
    };
    if v > current {
        return Err(ApiError::bad_request(format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if v < parse_version(MIN_API_VERSION).unwrap() {
        return Err(ApiError::bad_request(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok((v, tail.to_string()))
}

async fn dispatch(ctx: Ctx, method: &Method, path: &str) -> Resp {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(query::percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.as_str();
    match (m, s.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => system::ping(m == "HEAD"),
        ("GET", ["version"]) => system::version(ctx).await,
        ("GET", ["info"]) => system::info(ctx).await,
        ("GET", ["events"]) => system::events(ctx).await,
        ("GET", ["system", "df"]) => system::df(ctx).await,

        ("POST", ["images", "create"]) => images::create(ctx).await,
        ("POST", ["images", "load"]) => images::load(ctx).await,
        ("GET", ["images", "json"]) => images::list(ctx),
        ("GET", ["images", "get"]) => images::save(ctx, None).await,
        ("POST", ["images", "prune"]) => images::prune(ctx).await,
        ("POST", ["commit"]) => images::commit(ctx).await,
        ("GET", ["images", name @ .., "json"]) => images::inspect(ctx, &name.join("/")),
        ("GET", ["images", name @ .., "history"]) => images::history(ctx, &name.join("/")),
        ("GET", ["images", name @ .., "get"]) => {
            let n = name.join("/");
            images::save(ctx, Some(n)).await
        }
        ("POST", ["images", name @ .., "tag"]) => images::tag(ctx, &name.join("/")),
        ("POST", ["images", name @ .., "push"]) => registry::push(ctx, &name.join("/")).await,
        ("POST", ["auth"]) => registry::auth(ctx).await,
        ("POST", ["build"]) => build::build(ctx).await,
        ("DELETE", ["images", name @ ..]) if !name.is_empty() => {
            images::remove(ctx, &name.join("/")).await
        }

        ("POST", ["containers", "create"]) => containers::create(ctx).await,
        ("GET", ["containers", "json"]) => containers::list(ctx).await,
        ("POST", ["containers", "prune"]) => containers::prune(ctx).await,
        ("GET", ["containers", id, "json"]) => containers::inspect(ctx, id).await,
        ("POST", ["containers", id, "start"]) => containers::start(ctx, id).await,
        ("POST", ["containers", id, "stop"]) => containers::stop(ctx, id).await,
        ("POST", ["containers", id, "restart"]) => containers::restart(ctx, id).await,
        ("POST", ["containers", id, "kill"]) => containers::kill(ctx, id).await,
        ("POST", ["containers", id, "wait"]) => containers::wait(ctx, id).await,
        ("POST", ["containers", id, "attach"]) => containers::attach(ctx, id).await,
        ("GET", ["containers", id, "logs"]) => containers::logs(ctx, id).await,
        ("POST", ["containers", id, "pause"]) => containers::pause(ctx, id, true).await,
        ("POST", ["containers", id, "unpause"]) => containers::pause(ctx, id, false).await,
        ("POST", ["containers", id, "rename"]) => containers::rename(ctx, id).await,
        ("POST", ["containers", id, "resize"]) => containers::resize(ctx, id).await,
        ("POST", ["containers", id, "update"]) => containers::update(ctx, id).await,
        ("GET", ["containers", id, "top"]) => containers::top(ctx, id).await,
        ("GET", ["containers", id, "changes"]) => containers::changes(ctx, id).await,
        ("GET", ["containers", id, "export"]) => containers::export(ctx, id).await,
        ("GET", ["containers", id, "stats"]) => containers::stats(ctx, id).await,
        ("DELETE", ["containers", id]) => containers::remove(ctx, id).await,
        ("GET" | "HEAD", ["containers", id, "archive"]) => archive::get(ctx, id, m == "HEAD").await,
        ("PUT", ["containers", id, "archive"]) => archive::put(ctx, id).await,

        ("POST", ["containers", id, "exec"]) => exec::create(ctx, id).await,
        ("POST", ["exec", id, "start"]) => exec::start(ctx, id).await,
        ("POST", ["exec", id, "resize"]) => exec::resize(ctx, id).await,
        ("GET", ["exec", id, "json"]) => exec::inspect(ctx, id).await,

        ("GET", ["volumes"]) => volumes::list(ctx),
        ("POST", ["volumes", "create"]) => volumes::create(ctx).await,
        ("POST", ["volumes", "prune"]) => volumes::prune(ctx).await,
        ("GET", ["volumes", name]) => volumes::inspect(ctx, name),
        ("DELETE", ["volumes", name]) => volumes::remove(ctx, name).await,

        ("GET", ["networks"]) => networks::list(ctx),
        ("POST", ["networks", "create"]) => networks::create(ctx).await,
        ("POST", ["networks", "prune"]) => networks::prune(ctx).await,
        ("GET", ["networks", id]) => networks::inspect(ctx, id),
        ("DELETE", ["networks", id]) => networks::remove(ctx, id),
        ("POST", ["networks", id, "connect"]) => networks::connect(ctx, id).await,
        ("POST", ["networks", id, "disconnect"]) => networks::disconnect(ctx, id).await,
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Accept connections on a listener until the daemon exits.
pub async fn serve_unix(daemon: Arc<Daemon>, listener: tokio::net::UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(daemon.clone(), stream));
            }
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// As [`serve_unix`]; with `tls`, each connection first completes a TLS handshake.
pub async fn serve_tcp(
    daemon: Arc<Daemon>,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => match tls.clone() {
                None => {
                    tokio::spawn(serve_connection(daemon.clone(), stream));
                }
                Some(acceptor) => {
                    let daemon = daemon.clone();
                    tokio::spawn(async move {
                        match acceptor.accept(stream).await {
                            Ok(s) => serve_connection(daemon, s).await,
                            Err(e) => eprintln!("http: TLS handshake error from {peer}: {e}"),
                        }
                    });
                }
            },
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Physical memory, the limit `stats` reports for containers without one.
pub fn system_mem() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(split_version("/v1.41/info").unwrap().0, (1, 41));
        assert_eq!(split_version("/info").unwrap().0, (1, 47));
        let e = split_version("/v1.99/info").unwrap_err();
        assert_eq!(
            e.message,
            "client version 1.99 is too new. Maximum supported API version is 1.47"
        );
        let e = split_version("/v1.12/info").unwrap_err();
        assert!(e.message.starts_with("client version 1.12 is too old"));
    }
}
