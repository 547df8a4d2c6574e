//! `icinfer serve`: the local host with the inference canister, over the IC HTTP interface.
//!
//! The state directory holds the host (canisters, stable memory: models and log) and the seed
//! of its root key, so a restart keeps everything and certificates stay verifiable with the
//! same key. Every change is journaled and synced before its reply leaves, so even `kill -9`
//! loses nothing acknowledged (`icinfer_http::handle`, "Durability"). The canister is installed on first start; when `--wasm` is a different module
//! later, the canister is upgraded (stable memory, models and log are kept), as `dfx deploy`
//! would.

use crate::network::{CANISTER_NAME, canister_id_file};
use anyhow::{Context, Result, bail};
use candid::{Principal, encode_args};
use icinfer_host::{HostConfig, InstructionLimits};
use icinfer_http::{HandleOptions, HostHandle, Options, PersistOptions};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub struct ServeOptions {
    pub state: PathBuf,
    pub listen: SocketAddr,
    pub wasm: PathBuf,
    pub frontend: Option<PathBuf>,
    /// Controllers of a new canister: the CLI's identity and any `--controller`.
    pub controllers: Vec<Principal>,
    /// Where to write `ReadyFile` once the server answers.
    pub ready_file: Option<PathBuf>,
    pub max_query_instructions: u64,
    /// Web origins besides the served page's that may call the API from a browser.
    pub cors: Vec<String>,
}

/// What `--ready-file` holds once serve answers, for scripts and tests to read instead of
/// the banner: `{"url": …, "canister_id": …, "root_key": <hex DER>}`.
#[derive(serde::Serialize)]
struct ReadyFile {
    url: String,
    canister_id: String,
    root_key: String,
}

impl ReadyFile {
    /// Written next to `path` and renamed onto it, so that a reader never sees half a file.
    fn write(&self, path: &Path) -> Result<()> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(format!(".{}.partial", std::process::id()));
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, path)
            .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))
    }
}

/// Removes a ready file of an earlier run (or of this one, at shutdown): while it exists, it
/// says that a server answers.
fn remove_ready_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

pub(crate) const SEED_FILE: &str = "root-key.seed";

pub async fn run(options: ServeOptions) -> Result<()> {
    let wasm = std::fs::read(&options.wasm).with_context(|| {
        format!(
            "reading the canister module {}\n  fix: build it with `bash scripts/build-canister.sh`, \
             or pass --wasm <file>",
            options.wasm.display()
        )
    })?;
    std::fs::create_dir_all(&options.state)
        .with_context(|| format!("creating {}", options.state.display()))?;
    if let Some(path) = &options.ready_file {
        remove_ready_file(path)?;
    }
    let defaults = HostConfig::default();
    let config = HostConfig {
        seed: root_key_seed(&options.state)?,
        limits: InstructionLimits {
            query: options.max_query_instructions,
            ..defaults.limits
        },
        ..defaults
    };
    let handle = HostHandle::open(
        config,
        HandleOptions {
            persist: Some(PersistOptions::new(options.state.join("host"))),
            // A long inference or a checkpoint must not hold up queries (the page's reads).
            query_replica: true,
            ..HandleOptions::default()
        },
    )
    .with_context(|| format!("opening the host state in {}", options.state.display()))?;

    let canister = install_or_upgrade(&handle, &options, &wasm)?;
    std::fs::write(canister_id_file(&options.state), canister.to_text())?;

    let config_json = serde_json::json!({ "canisterId": canister.to_text() });
    let server = icinfer_http::serve(
        handle.clone(),
        options.listen,
        Options {
            frontend: options.frontend.clone(),
            files: [("/icinfer.json".to_string(), config_json.to_string().into_bytes())].into(),
            cors_origins: options.cors.clone(),
        },
    )
    .with_context(|| {
        format!(
            "listening on {}\n  fix: is another `icinfer serve` running? pass --listen 127.0.0.1:<port>",
            options.listen
        )
    })?;
    let url = server.url();
    println!("icinfer serve: ready at {url}, canister {canister}");
    println!("  root key (DER) {}", hex::encode(handle.root_key_der()));
    println!("  state          {}", options.state.display());
    if options.frontend.is_some() {
        println!("  frontend       {url}/?canister={canister}");
    }
    println!(
        "  try            icinfer upload models/digits/digits.onnx --id digits --network {url}"
    );
    if let Some(path) = &options.ready_file {
        ReadyFile {
            url: url.clone(),
            canister_id: canister.to_text(),
            root_key: hex::encode(handle.root_key_der()),
        }
        .write(path)?;
    }

    shutdown_signal().await;
    println!("icinfer serve: stopping; saving the state (a checkpoint of the journal)");
    let unready = match &options.ready_file {
        Some(path) => remove_ready_file(path),
        None => Ok(()),
    };
    server.shutdown();
    if let Some(saved) = handle.save() {
        saved.context("saving the host state")?;
    }
    unready
}

/// 32 random bytes, made once per state directory: every local host gets its own root key
/// (a known seed would let anyone forge its certificates), and keeps it across restarts.
fn root_key_seed(state: &Path) -> Result<Vec<u8>> {
    let path = state.join(SEED_FILE);
    match std::fs::read(&path) {
        Ok(seed) if seed.len() == 32 => return Ok(seed),
        Ok(_) => bail!("{} is not a 32-byte seed", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let mut seed = vec![0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, &seed)?;
    Ok(seed)
}

enum Installed {
    Unchanged,
    /// With the instructions the upgrade took.
    Upgraded(u64),
    New(u64),
}

fn install_or_upgrade(
    handle: &HostHandle,
    options: &ServeOptions,
    wasm: &[u8],
) -> Result<Principal> {
    let recorded = std::fs::read_to_string(canister_id_file(&options.state))
        .ok()
        .and_then(|text| Principal::from_text(text.trim()).ok());
    let controllers = options.controllers.clone();
    let sender = controllers[0];
    let wasm = wasm.to_vec();
    let module_hash: [u8; 32] = Sha256::digest(&wasm).into();
    let init_arg = encode_args(()).expect("no arguments");
    let (id, installed) = handle.with(move |host| -> Result<(Principal, Installed)> {
        let existing = recorded.filter(|id| host.canister_state(*id).is_some());
        match existing {
            Some(id) if host.canister_state(id).unwrap().module_hash == Some(module_hash) => {
                Ok((id, Installed::Unchanged))
            }
            Some(id) => {
                let done = host.upgrade_canister(id, &wasm, &init_arg, sender).with_context(|| {
                    format!(
                        "upgrading {CANISTER_NAME} canister {id} to the new module\n  fix: serve \
                         as one of its controllers {:?} (--identity/--pem), or start afresh with \
                         another --state",
                        host.canister_state(id).unwrap().controllers
                    )
                })?;
                Ok((id, Installed::Upgraded(done.instructions)))
            }
            None => {
                let id = host.create_canister(controllers);
                let done = host
                    .install_code(id, &wasm, &init_arg, sender)
                    .context("installing the inference canister")?;
                Ok((id, Installed::New(done.instructions)))
            }
        }
    })?;
    let module = hex::encode(module_hash);
    match installed {
        Installed::Unchanged => {
            println!("{CANISTER_NAME} canister {id}: module {module} (unchanged)")
        }
        Installed::Upgraded(n) => {
            println!(
                "{CANISTER_NAME} canister {id}: upgraded to module {module} ({n} instructions)"
            )
        }
        Installed::New(n) => {
            println!("{CANISTER_NAME} canister {id}: installed module {module} ({n} instructions)")
        }
    }
    Ok(id)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
