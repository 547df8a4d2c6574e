//! `icinfer`: the command line of the icinfer inference canister.

mod client;
mod demo;
mod generate;
mod identity;
mod infer;
mod job;
mod label;
mod log;
mod models;
mod network;
mod policy;
mod receipt;
mod release;
mod replay;
mod serve;
mod tensors;
mod upload;
mod verify;

use anyhow::{Context, Result};
use candid::Principal;
use clap::{Args, Parser, Subcommand};
use client::Client;
use identity::IdentityChoice;
use network::Network;
use std::net::SocketAddr;
use std::path::PathBuf;

const DEFAULT_WASM: &str = "target/wasm32-unknown-unknown/release/inference.wasm";

#[derive(Parser)]
#[command(
    name = "icinfer",
    version,
    about = "Verifiable ML inference on the Internet Computer",
    after_help = "Start with `icinfer demo`, or `icinfer serve` and then `icinfer upload` in another terminal."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Who signs, and where the canister is.
#[derive(Args, Clone)]
struct Target {
    /// serve (icinfer serve on this machine, the default), local (a dfx replica), ic
    /// (mainnet), or a URL.
    #[arg(long, global = true, env = "ICINFER_NETWORK", default_value = "serve")]
    network: String,
    /// The inference canister; default: the one `icinfer serve` installed, or dfx's
    /// canister_ids.json for local and ic.
    #[arg(long, global = true, env = "ICINFER_CANISTER")]
    canister: Option<Principal>,
    /// The state directory of `icinfer serve` (where it records its canister).
    #[arg(long, global = true, env = "ICINFER_STATE")]
    state: Option<PathBuf>,
    #[command(flatten)]
    identity: IdentityArgs,
}

#[derive(Args, Clone)]
struct IdentityArgs {
    /// Sign with this PEM key (Ed25519, secp256k1 or P-256, as dfx writes them).
    #[arg(long, global = true, env = "ICINFER_PEM", conflicts_with_all = ["identity", "anonymous"])]
    pem: Option<PathBuf>,
    /// Sign as this dfx identity (~/.config/dfx/identity/<name>/identity.pem). Default: dfx's
    /// selected identity, else icinfer's own key (~/.config/icinfer/identity.pem).
    #[arg(long, global = true, conflicts_with = "anonymous")]
    identity: Option<String>,
    /// Sign nothing: act as the anonymous principal.
    #[arg(long, global = true)]
    anonymous: bool,
}

impl IdentityArgs {
    fn choice(&self) -> IdentityChoice {
        IdentityChoice {
            pem: self.pem.clone(),
            name: self.identity.clone(),
            anonymous: self.anonymous,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Start the canister on a local host, load the bundled model, infer, and show and
    /// verify the receipt: the whole product in one command.
    Demo {
        /// The canister module (built by scripts/build-canister.sh).
        #[arg(long, default_value = DEFAULT_WASM)]
        wasm: PathBuf,
    },
    /// Run the local host with the inference canister, over the IC HTTP interface, until
    /// interrupted. State (models, log, root key) is kept in --state.
    Serve {
        #[arg(long, default_value = network::DEFAULT_SERVE_ADDR)]
        listen: SocketAddr,
        #[arg(long, default_value = DEFAULT_WASM)]
        wasm: PathBuf,
        /// Serve this directory (the built frontend) at every path outside /api; default:
        /// frontend/dist when it has been built (npm --prefix frontend run build).
        #[arg(long)]
        frontend: Option<PathBuf>,
        /// More controllers of a new canister, besides your identity.
        #[arg(long)]
        controller: Vec<Principal>,
        #[command(flatten)]
        identity: IdentityArgs,
        #[arg(long, env = "ICINFER_STATE")]
        state: Option<PathBuf>,
        /// Once ready, write {"url", "canister_id", "root_key"} (hex DER) to this file as
        /// JSON (written whole, then renamed into place; removed at shutdown).
        #[arg(long)]
        ready_file: Option<PathBuf>,
        /// Instructions a query may use (the IC's limit by default): lower it to see how a
        /// model fares on a smaller budget.
        #[arg(long, default_value_t = icinfer_host::InstructionLimits::default().query)]
        max_query_instructions: u64,
        /// Let pages of this web origin (e.g. http://localhost:5173) call the API from a
        /// browser; `*` lets any. Repeatable. Default: only the served page's own origin.
        #[arg(long)]
        cors: Vec<String>,
    },
    /// Upload an ONNX model in chunks (resumable: run it again after an interruption), and
    /// finalize it. Needs a controller or admin identity.
    Upload {
        file: PathBuf,
        /// The model's id; default: the file's name without extension.
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Declare an input's fact for models with free dimensions tract cannot resolve:
        /// name=dtype[dim,...], e.g. x=f32[1,3,height,width]. Repeatable.
        #[arg(long = "input-fact", value_parser = upload::parse_input_fact)]
        input_facts: Vec<icinfer_api::TensorFact>,
        /// Delete a different model of the same id first.
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        no_progress: bool,
        #[command(flatten)]
        language_model: generate::LanguageModelArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Generate text with a language model: streams the completion with a progress line,
    /// then prints the receipt (its log entry).
    Generate {
        model: String,
        prompt: String,
        #[arg(long, short = 'n', default_value_t = 64)]
        max_new_tokens: u32,
        /// Sample at this temperature (default: greedy).
        #[arg(long)]
        temperature: Option<f32>,
        #[arg(long)]
        top_k: Option<u32>,
        #[arg(long)]
        top_p: Option<f32>,
        /// 32 bytes of hex: a sample that replays (default: the canister draws one).
        #[arg(long)]
        seed: Option<String>,
        /// End the completion before this text. Repeatable.
        #[arg(long)]
        stop: Vec<String>,
        /// Salt the prompt commitment with this nonce (hex, 16 to 64 bytes); default: 32
        /// random bytes.
        #[arg(long, conflicts_with = "no_nonce")]
        nonce: Option<String>,
        #[arg(long)]
        no_nonce: bool,
        /// Save the receipt, nonce, prompt and completion here, for `icinfer verify --receipt`.
        #[arg(long)]
        save: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// List the models with their inputs and outputs.
    Models {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Run a model: prints the outputs and the receipt (its provenance log entry).
    Infer {
        model: String,
        /// <name>=<source>, or just <source> for a one-input model. A source is a .npy, .json
        /// (nested arrays or {"shape", "data"}), .png or .jpg file, or inline JSON. Repeatable.
        #[arg(long = "input", short = 'i', required = true)]
        inputs: Vec<String>,
        /// Pictures: resize to WIDTHxHEIGHT (default: the model's fixed size). What the
        /// picture options leave unset comes from the model's preset (models/manifest.json).
        #[arg(long, value_parser = parse_size)]
        resize: Option<(u32, u32)>,
        /// Pictures: per-channel mean subtracted after scaling, e.g. 0.485,0.456,0.406
        /// [default: the preset's, else 0].
        #[arg(long, value_delimiter = ',')]
        mean: Option<Vec<f32>>,
        /// Pictures: per-channel standard deviation, e.g. 0.229,0.224,0.225 [default: the
        /// preset's, else 1].
        #[arg(long, value_delimiter = ',')]
        std: Option<Vec<f32>>,
        /// Pictures: multiply 0-255 pixel values by this first [default: the preset's, else
        /// 1/255 for float32 inputs, 1 for uint8 inputs, which take the pixels themselves].
        #[arg(long)]
        scale: Option<f32>,
        /// Pictures: the channel order of a three-channel input [default: the preset's, else
        /// RGB].
        #[arg(long, value_parser = parse_order)]
        order: Option<icinfer_preprocess::ChannelOrder>,
        /// Pictures: invert (dark ink on light paper becomes light on dark); --invert=false
        /// turns a preset's inversion off.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        invert: Option<bool>,
        /// Salt the input hash with this nonce (hex, 16 to 64 bytes); default: 32 random bytes.
        #[arg(long, conflicts_with = "no_nonce")]
        nonce: Option<String>,
        /// No nonce: the input hash can then be tested against guessed inputs by anyone.
        #[arg(long)]
        no_nonce: bool,
        /// Save the receipt, the nonce and the tensors here, for `icinfer verify --receipt`.
        #[arg(long)]
        save: Option<PathBuf>,
        /// Run as a query: one replica, not logged, no receipt, cheaper.
        #[arg(long)]
        query: bool,
        /// Run as a job (node by node across messages, for models too large for one
        /// message), showing its progress; Ctrl-C cancels it. Without it, icinfer switches to
        /// a job by itself when the canister says the model needs one.
        #[arg(long, conflicts_with = "query")]
        job: bool,
        /// Show the k largest values of single-row outputs.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Class labels, one per line, for the top-k display.
        #[arg(long)]
        labels: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// The inference policy (controllers only): who may infer, and the quotas.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
        #[arg(long, global = true)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Read and search the provenance log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
        #[arg(long, global = true)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Write a provenance bundle beside a generated file: <FILE>.provenance.json, which
    /// `icinfer verify --bundle` checks offline. Without --receipt, the entry is found by the
    /// file's output hash (a generation's text, or an inference's output tensor list).
    Label {
        /// The generated file (written from the receipt if it does not exist).
        file: PathBuf,
        /// The directory `icinfer infer --save` or `icinfer generate --save` wrote.
        #[arg(long)]
        receipt: Option<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Prove a log entry against the IC root key: certificate, witness, Merkle proofs, and
    /// (given the tensors) the recomputed input and output hashes.
    Verify {
        /// The entry's sequence number (or take it from --receipt).
        seq: Option<u64>,
        /// Check a provenance bundle (`icinfer label`) offline instead: the root key is
        /// --root-key, mainnet's, or the local host's (--state).
        #[arg(long, conflicts_with_all = ["seq", "receipt", "inputs", "outputs", "nonce", "model"])]
        bundle: Option<PathBuf>,
        /// With --bundle: the labelled file, checked against the entry's output hash.
        #[arg(long, requires = "bundle")]
        content: Option<PathBuf>,
        /// A directory saved by `icinfer infer --save`: entry, nonce and tensors.
        #[arg(long)]
        receipt: Option<PathBuf>,
        /// An input as <name>=<file.npy>, in the model's input order. Repeatable.
        #[arg(long = "input")]
        inputs: Vec<String>,
        /// An output as <name>=<file.npy>, in the model's output order. Repeatable.
        #[arg(long = "output")]
        outputs: Vec<String>,
        /// The nonce the input hash was salted with (hex).
        #[arg(long)]
        nonce: Option<String>,
        /// Check the entry's model SHA-256 against this file.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Trust this root key (hex DER or raw, or a file of it) instead of the network's.
        #[arg(long)]
        root_key: Option<String>,
        /// Oldest acceptable certificate, in seconds.
        #[arg(long, default_value_t = 300)]
        max_age: u64,
        /// Fail unless the IC certifies this module hash (hex) for the canister.
        #[arg(long, conflicts_with = "release")]
        expect_module_hash: Option<String>,
        /// Fail unless the canister runs the module of this release manifest
        /// (scripts/release.sh writes it).
        #[arg(long)]
        release: Option<PathBuf>,
        #[command(flatten)]
        replay: replay::ReplayArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Print the principal of the identity the CLI signs with.
    Whoami {
        #[command(flatten)]
        identity: IdentityArgs,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print the policy in force.
    Show,
    /// Replace the policy: every flag not given takes its default (open, unlimited, 3600 s
    /// windows). Controllers are always exempt.
    Set {
        /// open, authenticated (refuses the anonymous principal) or allow-list.
        #[arg(long, default_value = "open")]
        access: String,
        /// A principal of the allow-list (with --access allow-list). Repeatable.
        #[arg(long)]
        allow: Vec<Principal>,
        /// Quotas count in fixed windows of this many seconds.
        #[arg(long, default_value_t = 3600)]
        window_seconds: u64,
        /// Calls (infer, infer_start, generate_start) each caller may make per window.
        #[arg(long)]
        per_caller_calls: Option<u64>,
        /// Instructions each caller's inferences may use per window.
        #[arg(long)]
        per_caller_instructions: Option<u64>,
        /// Calls of all callers together per window.
        #[arg(long)]
        global_calls: Option<u64>,
        /// Instructions of all callers together per window.
        #[arg(long)]
        global_instructions: Option<u64>,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Entries from --start, in order.
    List {
        #[arg(long, default_value_t = 0)]
        start: u64,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// The last entries; --follow keeps printing new ones.
    Tail {
        #[arg(short = 'n', long, default_value_t = 10)]
        count: u64,
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Entries by model, hash or caller.
    Find {
        #[command(flatten)]
        by: FindBy,
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct FindBy {
    /// A model id (its current SHA-256 is searched).
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    model_sha256: Option<String>,
    #[arg(long)]
    input_hash: Option<String>,
    #[arg(long)]
    output_hash: Option<String>,
    #[arg(long)]
    caller: Option<String>,
}

fn parse_order(text: &str) -> Result<icinfer_preprocess::ChannelOrder, String> {
    match text.to_ascii_uppercase().as_str() {
        "RGB" => Ok(icinfer_preprocess::ChannelOrder::Rgb),
        "BGR" => Ok(icinfer_preprocess::ChannelOrder::Bgr),
        _ => Err(format!("'{text}': expected RGB or BGR")),
    }
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("'{text}': expected WIDTHxHEIGHT, e.g. 224x224"))?;
    let parse = |s: &str| s.parse::<u32>().map_err(|e| format!("'{text}': {e}"));
    Ok((parse(w)?, parse(h)?))
}

impl Target {
    async fn connect(&self) -> Result<Client> {
        let network = Network::parse(&self.network)?;
        let state = self
            .state
            .clone()
            .unwrap_or_else(network::default_state_dir);
        let canister = match self.canister {
            Some(id) => id,
            None => network.default_canister(network.served_canister().await?, &state)?,
        };
        let identity = identity::load(&self.identity.choice())?;
        Client::connect(network, canister, identity).await
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run(Cli::parse().command).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Demo { wasm } => demo::run(&wasm).await,
        Command::Serve {
            listen,
            wasm,
            frontend,
            controller,
            identity,
            state,
            ready_file,
            max_query_instructions,
            cors,
        } => {
            let me = identity::load(&identity.choice())?;
            eprintln!(
                "icinfer serve: controller {} ({})",
                me.principal(),
                me.source
            );
            let mut controllers = vec![me.principal()];
            controllers.extend(controller);
            serve::run(serve::ServeOptions {
                state: state.unwrap_or_else(network::default_state_dir),
                listen,
                wasm,
                frontend: frontend.or_else(|| {
                    let built = PathBuf::from("frontend/dist");
                    built.join("index.html").exists().then_some(built)
                }),
                controllers,
                ready_file,
                max_query_instructions,
                cors,
            })
            .await
        }
        Command::Upload {
            file,
            id,
            description,
            input_facts,
            replace,
            no_progress,
            language_model,
            target,
        } => {
            let id = match id {
                Some(id) => id,
                None => file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .context("pass --id <model id>")?
                    .to_string(),
            };
            let client = target.connect().await?;
            upload::run(
                &client,
                upload::UploadOptions {
                    file: &file,
                    id,
                    description,
                    input_facts,
                    replace,
                    progress: !no_progress,
                    language_model: language_model.declaration()?,
                },
            )
            .await
            .map(|_| ())
        }
        Command::Generate {
            model,
            prompt,
            max_new_tokens,
            temperature,
            top_k,
            top_p,
            seed,
            stop,
            nonce,
            no_nonce,
            save,
            json,
            target,
        } => {
            let nonce = match (nonce, no_nonce) {
                (Some(hex_nonce), _) => {
                    infer::Nonce::Given(hex::decode(&hex_nonce).context("--nonce is not hex")?)
                }
                (None, true) => infer::Nonce::Unsalted,
                (None, false) => infer::Nonce::Random,
            };
            let seed = seed
                .map(|s| hex::decode(&s).context("--seed is not hex"))
                .transpose()?;
            let client = target.connect().await?;
            generate::run(
                &client,
                generate::GenerateOptions {
                    model,
                    prompt,
                    max_new_tokens,
                    temperature,
                    top_k,
                    top_p,
                    seed,
                    stop,
                    nonce,
                    save,
                    json,
                },
            )
            .await
        }
        Command::Models { json, target } => models::run(&target.connect().await?, json).await,
        Command::Infer {
            model,
            inputs,
            resize,
            mean,
            std,
            scale,
            order,
            invert,
            nonce,
            no_nonce,
            save,
            query,
            job,
            top,
            labels,
            json,
            target,
        } => {
            let nonce = match (nonce, no_nonce) {
                (Some(hex_nonce), _) => {
                    infer::Nonce::Given(hex::decode(&hex_nonce).context("--nonce is not hex")?)
                }
                (None, true) => infer::Nonce::Unsalted,
                (None, false) => infer::Nonce::Random,
            };
            let client = target.connect().await?;
            infer::run(
                &client,
                infer::InferOptions {
                    model,
                    inputs,
                    preprocess: icinfer_preprocess::Preset {
                        resize: resize.map(|(w, h)| [w, h]),
                        scale,
                        mean,
                        std,
                        order,
                        invert,
                        ..icinfer_preprocess::Preset::default()
                    },
                    nonce,
                    query,
                    job,
                    save,
                    top_k: top,
                    labels,
                    json,
                },
            )
            .await
        }
        Command::Policy {
            command,
            json,
            target,
        } => {
            let client = target.connect().await?;
            match command {
                PolicyCommand::Show => policy::show(&client, json).await,
                PolicyCommand::Set {
                    access,
                    allow,
                    window_seconds,
                    per_caller_calls,
                    per_caller_instructions,
                    global_calls,
                    global_instructions,
                } => {
                    let flags = policy::PolicyFlags {
                        access,
                        allow,
                        window_seconds,
                        per_caller_calls,
                        per_caller_instructions,
                        global_calls,
                        global_instructions,
                    };
                    policy::set(&client, flags.policy()?, json).await
                }
            }
        }
        Command::Log {
            command,
            json,
            target,
        } => {
            let command = match command {
                LogCommand::List { start, limit } => log::LogCommand::List { start, limit },
                LogCommand::Tail { count, follow } => log::LogCommand::Tail { count, follow },
                LogCommand::Find { by, limit } => {
                    let filter = if let Some(m) = by.model {
                        log::Filter::Model(m)
                    } else if let Some(h) = by.model_sha256 {
                        log::Filter::ModelSha256(h)
                    } else if let Some(h) = by.input_hash {
                        log::Filter::InputHash(h)
                    } else if let Some(h) = by.output_hash {
                        log::Filter::OutputHash(h)
                    } else {
                        log::Filter::Caller(by.caller.expect("clap requires one filter"))
                    };
                    log::LogCommand::Find { filter, limit }
                }
            };
            log::run(&target.connect().await?, command, json).await
        }
        Command::Label {
            file,
            receipt,
            target,
        } => label::run(&target.connect().await?, &file, receipt.as_deref()).await,
        Command::Verify {
            bundle: Some(bundle),
            content,
            root_key,
            expect_module_hash,
            release,
            target,
            ..
        } => label::verify_bundle(label::BundleOptions {
            bundle,
            content,
            root_key,
            state: target.state.unwrap_or_else(network::default_state_dir),
            expect_module_hash,
            release,
        }),
        Command::Verify {
            seq,
            receipt,
            inputs,
            outputs,
            nonce,
            model,
            root_key,
            max_age,
            expect_module_hash,
            release,
            replay,
            target,
            bundle: None,
            content: _,
        } => {
            let client = target.connect().await?;
            verify::run(
                &client,
                verify::VerifyOptions {
                    seq,
                    receipt,
                    inputs,
                    outputs,
                    nonce,
                    root_key,
                    model,
                    max_age_secs: max_age,
                    expect_module_hash,
                    release,
                    replay,
                },
            )
            .await
        }
        Command::Whoami { identity } => {
            let me = identity::load(&identity.choice())?;
            println!("{}", me.principal());
            eprintln!("({})", me.source);
            Ok(())
        }
    }
}
