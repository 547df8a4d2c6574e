//! # icinfer-http: the Internet Computer's HTTP interface for icinfer-host
//!
//! Lets real IC clients (ic-agent, @icp-sdk/core) talk to a local [`icinfer_host::Host`]:
//!
//! | endpoint | |
//! |---|---|
//! | `GET /api/v2/status` | CBOR with `root_key` (DER), for agents that fetch the root key |
//! | `POST /api/v2\|v3/canister/<id>/query` | query; the response is signed by the node key |
//! | `POST /api/v2/canister/<id>/call` | asynchronous call: 202, then poll `read_state` |
//! | `POST /api/v3\|v4/canister/<id>/call` | synchronous call: a certificate of `/request_status/<id>` |
//! | `POST /api/v2\|v3/canister/<id>/read_state` | `/time`, `/request_status/<id>/…`, `/canister/<id>/module_hash\|controllers\|metadata/<name>`, `/subnet/…` |
//! | `POST /api/v2\|v3/subnet/<subnet id>/read_state` | the same for subnet paths (and `/canister_ranges/<subnet id>`) |
//!
//! Bodies are CBOR with the self-describing tag 55799. Request ids are the
//! representation-independent hash of the `content` map as sent ([`cbor`]). Requests are
//! authenticated ([`auth`]): Ed25519, ECDSA secp256k1 and P-256 signatures and delegation
//! chains, `ingress_expiry` within 5 minutes (+1 minute of drift) of the host's time;
//! anonymous requests need no signature. Refused requests get 400 (malformed, bad signature,
//! expired), 403 (reading another sender's request status), 404 (unknown path), 413 (body
//! too large) with a plain-text reason; calls the host would not accept (no such canister, no
//! module, stopped, `canister_inspect_message` refused) get the specification's CBOR
//! non-replicated rejection. Certificates are signed by the host's BLS12-381 root key (no
//! delegation, a fresh `/time`); query responses by the one node's Ed25519 key, published at
//! `/subnet/<subnet id>/node/<node id>/public_key`.
//!
//! [`Options::frontend`] serves a directory of static files at every other path, so the page
//! uses the API from its own origin. Browsers of other origins are refused (403) unless
//! [`Options::cors_origins`] names them (`icinfer serve --cors <origin>`); request bodies,
//! their CBOR and the time to send them are bounded (see the server module).
//!
//! The host runs on one thread behind a [`HostHandle`], which also keeps request statuses
//! and makes every change durable before its reply ([`PersistOptions`]; see [`handle`]).
//! With [`HandleOptions::query_replica`] (as `icinfer serve` runs), queries are answered on
//! another thread by a replica of the host that the journal keeps up to date, so a long
//! update or a checkpoint does not hold them up.
//!
//! ```no_run
//! use icinfer_http::{HostHandle, Options, serve};
//! let host = icinfer_host::Host::new(icinfer_host::HostConfig::default());
//! let handle = HostHandle::new(host);
//! let server = serve(handle.clone(), "127.0.0.1:0".parse().unwrap(), Options::default()).unwrap();
//! println!("agents can use {}", server.url());
//! ```
//!
//! Calls to the management canister (`aaaaa-aa`, with the target canister as the effective
//! id), to the cycles ledger's `create_canister` and queries to the CMC's
//! `get_default_subnets` go to the host's system canisters
//! ([`icinfer_host::Host::system_update`]), after the IC's ingress filter; that is what
//! icp-cli deploys and manages canisters with. `/canister/<id>/metadata/<name>` serves
//! `icp:public` sections to anyone and `icp:private` ones to controllers (403 otherwise).
//!
//! Not served: subnet-scoped calls, canister signatures and WebAuthn keys, `sender_info`
//! (accepted in the request id, not passed on), `/subnet/<id>/metrics`, HTTPS.

pub mod auth;
pub mod cbor;
pub mod handle;
mod replica;
mod server;

pub use handle::{HandleOptions, HostHandle, PersistOptions};
pub use server::{
    BODY_TIMEOUT, HEADER_TIMEOUT, IC_API_VERSION, MAX_BODY_BYTES, Options, ServerHandle, serve,
};
