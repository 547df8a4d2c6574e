//! The HTTP server: routing, the four endpoints, CORS and the static frontend.
//!
//! Bounds: a request body is at most [`MAX_BODY_BYTES`] and its CBOR at most
//! [`cbor::MAX_ITEMS`] items ([`cbor::check_bounds`], before decoding); a connection has
//! [`HEADER_TIMEOUT`] for each request's headers and [`BODY_TIMEOUT`] for its body. Browsers:
//! only the served page's own origin (`http://127.0.0.1:<port>`, `http://localhost:<port>`) and
//! the origins of [`Options::cors_origins`] get CORS headers; an API request from any other
//! origin is refused (403), so that another web page cannot drive the local host as the
//! anonymous identity (a plain cross-origin POST needs no preflight).

use crate::auth::{self, Refusal, Request, RequestType};
use crate::cbor;
use crate::handle::{Core, HostHandle, Signer, error_code};
use bytes::Bytes;
use candid::Principal;
use ciborium::Value;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use icinfer_host::{CanisterStatus, Host, Reject, RejectCode};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request body: an ingress message of 2 MiB plus its envelope.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Time a connection has to send each request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a request has to send its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The interface specification version this server follows.
pub const IC_API_VERSION: &str = "0.18.0";

type Response = hyper::Response<Full<Bytes>>;

/// Server options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Serve the files of this directory (same origin) at every path outside `/api/`.
    pub frontend: Option<PathBuf>,
    /// Files made by the embedder, served at exactly these paths (e.g. `/icinfer.json`, which
    /// tells the frontend its canister), before the frontend directory.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Web origins besides the served page's own that may call the API from a browser
    /// (`"*"`: any). Default: none.
    pub cors_origins: Vec<String>,
}

/// A running server. Dropping it (or [`ServerHandle::shutdown`]) stops it.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The bound address (with the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, what agents take as their URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, ends open ones and waits for the server thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Server {
    host: HostHandle,
    frontend: Option<PathBuf>,
    files: BTreeMap<String, Vec<u8>>,
    /// Origins that get CORS headers: the page's own, and the configured ones.
    origins: Vec<String>,
}

/// Serves the IC's HTTP interface for `host` on `addr`, which must be a loopback address
/// (port 0 picks a free port). Returns once the socket is bound.
pub fn serve(
    host: HostHandle,
    addr: SocketAddr,
    options: Options,
) -> std::io::Result<ServerHandle> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("icinfer-http serves on loopback addresses only, not {addr}"),
        ));
    }
    let frontend = match options.frontend {
        Some(dir) => Some(dir.canonicalize().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("frontend directory {}: {e}", dir.display()),
            )
        })?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("icinfer-http")
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let port = addr.port();
    let mut origins = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ];
    origins.extend(options.cors_origins);
    let server = Arc::new(Server {
        host,
        frontend,
        files: options.files,
        origins,
    });
    let thread = std::thread::Builder::new()
        .name("icinfer-http-accept".into())
        .spawn(move || {
            runtime.block_on(accept_loop(listener, server, stop_rx));
            // Dropping the runtime drops every connection task (and the host handles they
            // hold) before this thread ends, so a shutdown is complete when `join` returns.
            drop(runtime);
        })?;
    Ok(ServerHandle {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

async fn accept_loop(
    listener: std::net::TcpListener,
    server: Arc<Server>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("icinfer-http: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let server = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, std::convert::Infallible>(server.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

// ----- Responses.

/// Adds the CORS headers that let a page of `origin` read the response.
fn with_cors(mut r: Response, origin: HeaderValue) -> Response {
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, HEAD, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Accept, Authorization, Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Content-Length, Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("7200"),
    );
    r
}

fn response(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !content_type.is_empty() {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    r
}

fn cbor_response(status: u16, v: Value) -> Response {
    response(status, "application/cbor", cbor::encode(v))
}

fn text(status: u16, message: impl Into<String>) -> Response {
    response(
        status,
        "text/plain; charset=utf-8",
        message.into().into_bytes(),
    )
}

fn refusal(r: Refusal) -> Response {
    text(r.status, r.message)
}

fn reject_fields(reject: &Reject) -> [(&'static str, Value); 3] {
    [
        ("reject_code", Value::Integer(reject.code.as_u32().into())),
        ("reject_message", Value::Text(reject.message.clone())),
        ("error_code", Value::Text(error_code(reject).into())),
    ]
}

// ----- Routing.

enum Effective {
    Canister(Principal),
    Subnet(Principal),
}

impl Server {
    /// Runs `f` on the host; its response leaves once the changes it made are durable, and a
    /// 503 refusal takes its place when they could not be written.
    async fn on_host(&self, f: impl FnOnce(&mut Core) -> Response + Send + 'static) -> Response {
        match self.host.run(f).await {
            Ok(r) => r,
            Err(e) => text(
                503,
                format!("the host could not make the change durable (it is kept in memory): {e}"),
            ),
        }
    }

    /// Whether a browser page of `origin` may call the API.
    fn allows(&self, origin: &HeaderValue) -> bool {
        let origin = origin.to_str().unwrap_or("");
        self.origins.iter().any(|o| o == "*" || o == origin)
    }

    async fn handle(&self, req: hyper::Request<Incoming>) -> Response {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let api = path.starts_with("/api/");
        // Browsers name the page's origin; other clients (agents, the CLI) send none.
        let origin = req.headers().get(header::ORIGIN).cloned();
        let allowed = origin.clone().filter(|o| self.allows(o));
        if api && origin.is_some() && allowed.is_none() {
            return text(
                403,
                "this origin may not call the API (icinfer serve --cors <origin> allows one)",
            );
        }
        let r = if method == Method::OPTIONS {
            response(204, "", Vec::new())
        } else if api {
            self.api(req, &method, &path).await
        } else if method == Method::GET || method == Method::HEAD {
            self.static_file(&path, method == Method::HEAD).await
        } else {
            text(405, "method not allowed")
        };
        match allowed {
            Some(origin) => with_cors(r, origin),
            None => r,
        }
    }

    async fn api(&self, req: hyper::Request<Incoming>, method: &Method, path: &str) -> Response {
        if path == "/api/v2/status" {
            if method != Method::GET && method != Method::HEAD {
                return text(405, "use GET");
            }
            return self.status();
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (version, scope, id, endpoint) = match parts.as_slice() {
            ["api", version, scope, id, endpoint] => (*version, *scope, *id, *endpoint),
            _ => return text(404, format!("no endpoint at {path}")),
        };
        if method != Method::POST {
            return text(405, "use POST");
        }
        let Ok(principal) = Principal::from_text(id) else {
            return text(400, format!("`{id}` is not a principal"));
        };
        let effective = match scope {
            "canister" => Effective::Canister(principal),
            "subnet" => Effective::Subnet(principal),
            _ => return text(404, format!("no endpoint at {path}")),
        };
        let collect = Limited::new(req.into_body(), MAX_BODY_BYTES).collect();
        let body = match tokio::time::timeout(BODY_TIMEOUT, collect).await {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(_)) => {
                return text(
                    413,
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                );
            }
            Err(_) => {
                return text(
                    408,
                    format!("the request body did not arrive within {BODY_TIMEOUT:?}"),
                );
            }
        };
        let request = match auth::authenticate(&body, self.host.now_ns()) {
            Ok(r) => r,
            Err(r) => return refusal(r),
        };
        match (version, endpoint, effective) {
            ("v2" | "v3", "query", Effective::Canister(c)) => self.query(request, c).await,
            ("v2", "call", Effective::Canister(c)) => self.call(request, c, false).await,
            ("v3" | "v4", "call", Effective::Canister(c)) => self.call(request, c, true).await,
            ("v2" | "v3", "read_state", e) => self.read_state(request, e).await,
            ("v3", "query", Effective::Subnet(_)) | ("v4", "call", Effective::Subnet(_)) => text(
                400,
                "icinfer-http does not serve subnet-scoped calls and queries: send management calls to /api/v4/canister/<the canister>/call",
            ),
            _ => text(404, format!("no endpoint at {path}")),
        }
    }

    fn status(&self) -> Response {
        cbor_response(
            200,
            cbor::map([
                ("ic_api_version", Value::Text(IC_API_VERSION.into())),
                ("impl_source", Value::Text("icinfer-http".into())),
                (
                    "impl_version",
                    Value::Text(env!("CARGO_PKG_VERSION").into()),
                ),
                ("root_key", Value::Bytes(self.host.root_key_der().to_vec())),
                ("replica_health_status", Value::Text("healthy".into())),
            ]),
        )
    }

    /// Checks that a call or query targets `effective` (or the management canister).
    fn target(
        request: &Request,
        effective: Principal,
    ) -> Result<(Principal, String, Vec<u8>), Refusal> {
        let (canister, method, arg) = request
            .call
            .clone()
            .ok_or_else(|| Refusal::bad_request("expected a call or a query"))?;
        // A management call names its effective canister in its argument; it is checked
        // against the URL with the rest of the ingress filter (Host::system_ingress_check).
        if canister != effective && canister != Principal::management_canister() {
            return Err(Refusal::bad_request(format!(
                "Specified CanisterId {canister} does not match effective canister id in URL {effective}"
            )));
        }
        Ok((canister, method, arg))
    }

    async fn query(&self, request: Request, effective: Principal) -> Response {
        if request.kind != RequestType::Query {
            return text(400, "expected a query (request_type \"query\")");
        }
        let (canister, method, arg) = match Self::target(&request, effective) {
            Ok(t) => t,
            Err(r) => return refusal(r),
        };
        let (id, sender) = (request.id, request.sender);
        self.host
            .query(move |host: &mut Host, signer: &Signer| {
                let result = if host.is_system_canister(canister) {
                    host.system_query(canister, &method, &arg)
                } else {
                    match host.query_call(canister, sender, &method, &arg) {
                        Ok(outcome) => outcome.result,
                        Err(e) => Err(host_error_reject(canister, e)),
                    }
                };
                let request_id = Value::Bytes(id.to_vec());
                let body = match result {
                    Ok(reply) => {
                        let reply = cbor::map([("arg", Value::Bytes(reply))]);
                        let signatures = signer.sign_query_response(
                            host,
                            vec![
                                ("status", Value::Text("replied".into())),
                                ("reply", reply.clone()),
                                ("request_id", request_id),
                            ],
                        );
                        cbor::map([
                            ("status", Value::Text("replied".into())),
                            ("reply", reply),
                            ("signatures", signatures),
                        ])
                    }
                    Err(reject) => {
                        let [code, message, error] = reject_fields(&reject);
                        let signatures = signer.sign_query_response(
                            host,
                            vec![
                                ("status", Value::Text("rejected".into())),
                                code.clone(),
                                message.clone(),
                                error.clone(),
                                ("request_id", request_id),
                            ],
                        );
                        cbor::map([
                            ("status", Value::Text("rejected".into())),
                            code,
                            message,
                            error,
                            ("signatures", signatures),
                        ])
                    }
                };
                cbor_response(200, body)
            })
            .await
            .unwrap_or_else(|| text(503, "the query thread stopped"))
    }

    async fn call(&self, request: Request, effective: Principal, sync: bool) -> Response {
        if request.kind != RequestType::Call {
            return text(400, "expected a call (request_type \"call\")");
        }
        let (canister, method, arg) = match Self::target(&request, effective) {
            Ok(t) => t,
            Err(r) => return refusal(r),
        };
        let (id, sender, expiry) = (request.id, request.sender, request.ingress_expiry);
        self.on_host(move |core: &mut Core| {
                let respond = |core: &mut Core| {
                    if !sync {
                        return response(202, "", Vec::new());
                    }
                    let path = vec![b"request_status".to_vec(), id.to_vec()];
                    let certificate = core.certificate(&[path]);
                    cbor_response(
                        200,
                        cbor::map([
                            ("status", Value::Text("replied".into())),
                            ("certificate", Value::Bytes(certificate)),
                        ]),
                    )
                };
                // A request the host already knows is not run again (the ingress history is
                // durable, so this holds across restarts too).
                if core.host.ingress_status(&id).is_some() {
                    return respond(core);
                }
                let result = if core.host.is_system_canister(canister) {
                    match core
                        .host
                        .system_ingress_check(canister, sender, &method, &arg)
                    {
                        Err(reject) => return non_replicated_rejection(&reject, sync),
                        Ok(target) if target != effective => {
                            return text(
                                400,
                                format!(
                                    "Specified CanisterId {target} does not match effective canister id in URL {effective}"
                                ),
                            );
                        }
                        Ok(_) => core.host.system_update(canister, sender, &method, &arg),
                    }
                } else {
                    if let Some(reject) = not_accepted(core, canister, sender, &method, &arg) {
                        return non_replicated_rejection(&reject, sync);
                    }
                    match core
                        .host
                        .update_call_accepted(canister, sender, &method, &arg)
                    {
                        Ok(outcome) => outcome.result,
                        Err(e) => Err(host_error_reject(canister, e)),
                    }
                };
                core.record(id, sender, effective, expiry, result);
                respond(core)
            })
            .await
    }

    async fn read_state(&self, request: Request, effective: Effective) -> Response {
        if request.kind != RequestType::ReadState {
            return text(400, "expected a read_state request");
        }
        let subnet_id = self.host.subnet_id();
        if let Effective::Subnet(s) = effective
            && s != subnet_id
        {
            return text(
                404,
                format!("subnet {s} is not served here (the subnet is {subnet_id})"),
            );
        }
        self.on_host(move |core: &mut Core| {
            if let Err(r) = check_paths(core, &request, &effective) {
                return refusal(r);
            }
            let certificate = core.certificate(&request.paths);
            cbor_response(200, cbor::map([("certificate", Value::Bytes(certificate))]))
        })
        .await
    }

    async fn static_file(&self, path: &str, head: bool) -> Response {
        if let Some(bytes) = self.files.get(path) {
            let len = bytes.len();
            let mut r = response(
                200,
                content_type(Path::new(path)),
                if head { Vec::new() } else { bytes.clone() },
            );
            if head {
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            return r;
        }
        let Some(root) = &self.frontend else {
            return text(404, "not found (no frontend directory is served)");
        };
        let Some(file) = resolve_static(root, path) else {
            return text(404, "not found");
        };
        match tokio::fs::read(&file).await {
            Ok(bytes) => {
                let len = bytes.len();
                let mut r = response(
                    200,
                    content_type(&file),
                    if head { Vec::new() } else { bytes },
                );
                if head {
                    r.headers_mut()
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                }
                r
            }
            Err(_) => text(404, "not found"),
        }
    }
}

/// The body of a call the host does not accept (v2: the reject fields only).
fn non_replicated_rejection(reject: &Reject, sync: bool) -> Response {
    let mut fields = Vec::from(reject_fields(reject));
    if sync {
        fields.insert(
            0,
            ("status", Value::Text("non_replicated_rejection".into())),
        );
    }
    let body = Value::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Value::Text(k.into()), v))
            .collect(),
    );
    cbor_response(200, body)
}

/// Why the host would not accept an ingress call (the IC's checks before a call enters its
/// state): no such canister, no module, not running, or `canister_inspect_message` said no.
fn not_accepted(
    core: &mut Core,
    canister: Principal,
    sender: Principal,
    method: &str,
    arg: &[u8],
) -> Option<Reject> {
    let reject = |code, m: String| Some(Reject { code, message: m });
    let Some(state) = core.host.canister_state(canister) else {
        return reject(
            RejectCode::DestinationInvalid,
            format!("Canister {canister} not found"),
        );
    };
    if state.module_hash.is_none() {
        return reject(
            RejectCode::CanisterError,
            format!("Error from Canister {canister}: Canister has no Wasm module installed"),
        );
    }
    match state.status {
        CanisterStatus::Running => {}
        CanisterStatus::Stopping => {
            return reject(
                RejectCode::CanisterError,
                format!("Canister {canister} is stopping"),
            );
        }
        CanisterStatus::Stopped => {
            return reject(
                RejectCode::CanisterError,
                format!("Canister {canister} is stopped"),
            );
        }
    }
    match core.host.inspect_message(canister, sender, method, arg) {
        Ok(outcome) => outcome.result.err(),
        Err(e) => Some(host_error_reject(canister, e)),
    }
}

fn host_error_reject(canister: Principal, e: icinfer_host::HostError) -> Reject {
    use icinfer_host::HostError;
    let code = match e {
        HostError::CanisterNotFound(_) => RejectCode::DestinationInvalid,
        HostError::PayloadTooLarge { .. } => RejectCode::CanisterError,
        _ => RejectCode::SysFatal,
    };
    let message = match e {
        HostError::CanisterNotFound(_) => format!("Canister {canister} not found"),
        other => other.to_string(),
    };
    Reject { code, message }
}

/// The read_state path rules of the interface specification, for this one-subnet host.
fn check_paths(core: &Core, request: &Request, effective: &Effective) -> Result<(), Refusal> {
    let not_found = || Refusal {
        status: 404,
        message: "Invalid path requested.".into(),
    };
    let forbidden = |m: &str| Refusal {
        status: 403,
        message: m.into(),
    };
    let mut request_id: Option<&[u8]> = None;
    for path in &request.paths {
        let labels: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
        match labels.as_slice() {
            [b"time"] => {}
            [b"subnet"]
            | [b"subnet", _]
            | [
                b"subnet",
                _,
                b"public_key" | b"canister_ranges" | b"node" | b"type",
            ]
            | [b"subnet", _, b"node", _]
            | [b"subnet", _, b"node", _, b"public_key"] => {}
            [b"api_boundary_nodes", ..] if labels.len() <= 3 => {}
            [b"canister_ranges", _] => {
                if let Effective::Canister(_) = effective {
                    return Err(Refusal::bad_request(
                        "/canister_ranges can only be read at /api/v3/subnet/<subnet id>/read_state",
                    ));
                }
            }
            [b"canister", id, b"module_hash" | b"controllers"] => {
                canister_in_path(id, effective)?;
            }
            [b"canister", id, b"metadata", name] => {
                let id = canister_in_path(id, effective)?;
                let name = std::str::from_utf8(name).map_err(|_| {
                    Refusal::bad_request("Malformed request: the metadata name is not UTF-8")
                })?;
                check_metadata_access(core, id, name, request.sender)?;
            }
            [b"request_status", id]
            | [
                b"request_status",
                id,
                b"status" | b"reply" | b"reject_code" | b"reject_message" | b"error_code",
            ] => {
                if id.len() != 32 {
                    return Err(Refusal::bad_request(
                        "Invalid request id in paths: request ids are 32 bytes",
                    ));
                }
                if request_id.is_some_and(|r| r != *id) {
                    return Err(Refusal::bad_request(
                        "More than one non-unique request ID exists in request_status paths",
                    ));
                }
                request_id = Some(id);
                let key: [u8; 32] = (*id).try_into().expect("length checked");
                if let Some(record) = core.host.ingress_status(&key) {
                    if record.sender != request.sender {
                        return Err(forbidden(
                            "The user tries to access Request ID not signed by the caller.",
                        ));
                    }
                    if let Effective::Canister(e) = effective
                        && record.canister != *e
                    {
                        return Err(forbidden(
                            "The request was sent to another effective canister id.",
                        ));
                    }
                    if !request.may_target(&record.canister) {
                        return Err(forbidden(
                            "The user tries to access request IDs for canisters not belonging to sender delegation targets.",
                        ));
                    }
                }
            }
            _ => return Err(not_found()),
        }
    }
    Ok(())
}

/// The canister id of a `/canister/<id>/…` path, which must be the URL's effective id.
fn canister_in_path(id: &[u8], effective: &Effective) -> Result<Principal, Refusal> {
    let Effective::Canister(e) = effective else {
        return Err(Refusal {
            status: 404,
            message: "Invalid path requested.".into(),
        });
    };
    let id = Principal::try_from_slice(id)
        .map_err(|_| Refusal::bad_request("Malformed request: invalid canister id in path"))?;
    if id != *e {
        return Err(Refusal::bad_request(format!(
            "Effective principal id in URL {e} does not match requested principal id: {id}."
        )));
    }
    Ok(id)
}

/// The specification's rule for `/canister/<id>/metadata/<name>`: anyone may read it
/// unless it is an `icp:private` section, which only the canister's controllers may.
fn check_metadata_access(
    core: &Core,
    canister: Principal,
    name: &str,
    sender: Principal,
) -> Result<(), Refusal> {
    let private = core
        .host
        .canister_metadata(canister)
        .get(name)
        .is_some_and(|s| !s.public);
    let controller = core
        .host
        .canister_state(canister)
        .is_some_and(|s| s.controllers.contains(&sender));
    if private && !controller {
        return Err(Refusal {
            status: 403,
            message: format!(
                "Custom section {name:.100} can only be requested by the controllers of the canister."
            ),
        });
    }
    Ok(())
}

/// Maps a URL path to a file under `root` (directories give their `index.html`); `None`
/// when it is missing or would leave `root`.
fn resolve_static(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let mut file = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\\') || s.contains('\0') => return None,
            s => file.push(s),
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    let file = file.canonicalize().ok()?;
    (file.starts_with(root) && file.is_file()).then_some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}
