//! The inference canister over the IC HTTP interface, with typed calls and errors that say
//! what went wrong and what to do about it.

use crate::identity::LoadedIdentity;
use crate::network::Network;
use anyhow::{Context, Result, anyhow};
use candid::utils::ArgumentEncoder;
use candid::{CandidType, Deserialize, Principal, encode_args};
use ic_agent::{Agent, AgentError};
use icinfer_api::Error;
use std::time::Duration;

pub struct Client {
    pub agent: Agent,
    pub canister: Principal,
    pub network: Network,
    pub me: Principal,
    identity_source: String,
}

impl Client {
    pub async fn connect(
        network: Network,
        canister: Principal,
        identity: LoadedIdentity,
    ) -> Result<Client> {
        let me = identity.principal();
        let identity_source = identity.source;
        let agent = Agent::builder()
            .with_url(network.url())
            .with_boxed_identity(identity.identity)
            .with_max_tcp_error_retries(2)
            .with_max_polling_time(Duration::from_secs(300))
            .build()
            .with_context(|| format!("connecting to {}", network.url()))?;
        if !network.is_mainnet() {
            agent
                .fetch_root_key()
                .await
                .map_err(|e| unreachable_network(&network, e))?;
        }
        Ok(Client {
            agent,
            canister,
            network,
            me,
            identity_source,
        })
    }

    /// The root key certificates are checked against (DER).
    pub fn root_key(&self) -> Vec<u8> {
        self.agent.read_root_key()
    }

    pub async fn query<A, R>(&self, method: &str, args: A) -> Result<R>
    where
        A: ArgumentEncoder,
        R: CandidType + for<'de> Deserialize<'de>,
    {
        let reply = self
            .agent
            .query(&self.canister, method)
            .with_arg(encode_args(args)?)
            .call()
            .await
            .map_err(|e| self.transport(method, CallKind::Query, e))?;
        candid::decode_one(&reply).with_context(|| self.decode_hint(method))
    }

    pub async fn update<A, R>(&self, method: &str, args: A) -> Result<R>
    where
        A: ArgumentEncoder,
        R: CandidType + for<'de> Deserialize<'de>,
    {
        let reply = self
            .agent
            .update(&self.canister, method)
            .with_arg(encode_args(args)?)
            .call_and_wait()
            .await
            .map_err(|e| self.transport(method, CallKind::Update, e))?;
        candid::decode_one(&reply).with_context(|| self.decode_hint(method))
    }

    /// A canister `Err`, explained: the cause in the canister's words, then the fix.
    pub fn explain(&self, method: &str, error: Error) -> anyhow::Error {
        let fix = match &error {
            Error::Unauthorized { required, .. } if required.contains("inference") => {
                POLICY_ADVICE.into()
            }
            Error::Unauthorized { .. } => self.manager_advice(),
            Error::NotFound { kind, .. } if kind == "model" => {
                "list the models with `icinfer models`".into()
            }
            Error::NotFound { .. } => {
                "check the id (the log starts at 0; `icinfer log tail`)".into()
            }
            Error::AlreadyExists { kind, id } => format!(
                "{kind} '{id}' exists: `icinfer upload` resumes an upload of the same file; \
                 --replace deletes a different model of that id first"
            ),
            Error::HashMismatch { .. } => {
                "the uploaded bytes are not the file that was announced: upload it again \
                 (delete the model first if its chunks are corrupt)"
                    .into()
            }
            Error::UploadIncomplete { .. } => "run `icinfer upload` again to resume".into(),
            Error::ModelRejected { reason } => load_advice(reason).unwrap_or_default(),
            Error::InputMismatch { .. } => {
                "`icinfer models` shows each input's name, type and shape".into()
            }
            Error::LimitExceeded { .. } => "stay within the limit (docs/README)".into(),
            Error::InvalidState { .. } => "`icinfer models` shows the model's state".into(),
            Error::UseJob { model_id, .. } => format!(
                "run it as a job: `icinfer infer {model_id} --job …` (plain `icinfer infer` \
                 switches to one by itself)"
            ),
            Error::TokenizerRejected { .. } => {
                "pass the model's own Hugging Face tokenizer.json (a byte-level BPE) with \
                 --tokenizer, and upload it again"
                    .into()
            }
            Error::QuotaExceeded { resets_at_ns, .. } => format!(
                "wait for the quota's window to reset (at {resets_at_ns} ns, IC time), or ask a \
                 controller to raise it (`icinfer policy set`)"
            ),
            Error::InvalidArgument { .. } | Error::InferenceFailed { .. } => String::new(),
        };
        if fix.is_empty() {
            anyhow!("{method} failed: {error}")
        } else {
            anyhow!("{method} failed: {error}\n  fix: {fix}")
        }
    }

    fn manager_advice(&self) -> String {
        format!(
            "you are {} ({}); call as a controller of the canister or an admin \
             (--identity <dfx identity> or --pem <file>), or have a controller run \
             `dfx canister call {} add_admin '(principal \"{}\")'`",
            self.me, self.identity_source, self.canister, self.me
        )
    }

    /// What to do about a call `canister_inspect_message` refused: its message is the
    /// method's own error, so the advice is the same.
    fn inspect_advice(&self, message: &str) -> String {
        if message.contains("unauthorized") && message.contains("inference") {
            POLICY_ADVICE.into()
        } else if message.contains("unauthorized") {
            self.manager_advice()
        } else if message.contains("quota") {
            "wait for the quota's window to reset (the message says when), or ask a \
             controller to raise it (`icinfer policy set`)"
                .into()
        } else {
            "the canister does not take this call: check the method and the size of its \
             argument"
                .into()
        }
    }

    fn transport(&self, method: &str, kind: CallKind, error: AgentError) -> anyhow::Error {
        match &error {
            AgentError::CertifiedReject { reject, .. }
            | AgentError::UncertifiedReject { reject, .. } => {
                let fix = if reject.reject_message.contains(INSPECT_REFUSAL) {
                    format!("\n  fix: {}", self.inspect_advice(&reject.reject_message))
                } else if reject.reject_message.contains("no such canister")
                    || reject.reject_message.contains("not found")
                {
                    format!(
                        "\n  fix: no canister {} on {}: check --canister, or install it (icinfer \
                         serve does on the local host)",
                        self.canister,
                        self.network.url()
                    )
                } else if reject.reject_message.contains(OVER_INSTRUCTION_LIMIT) {
                    format!("\n  fix: {}", over_limit_advice(method, kind))
                } else if reject.reject_message.contains("has no query method")
                    || reject.reject_message.contains("has no update method")
                {
                    format!(
                        "\n  fix: {} is not an icinfer inference canister, or an older one: \
                         check --canister",
                        self.canister
                    )
                } else {
                    String::new()
                };
                anyhow!(
                    "{method} was rejected ({:?}): {}{fix}",
                    reject.reject_code,
                    reject.reject_message
                )
            }
            _ => unreachable_network(&self.network, error).context(format!("calling {method}")),
        }
    }

    fn decode_hint(&self, method: &str) -> String {
        format!(
            "decoding the reply of {method}: is {} an icinfer inference canister of this \
             version?",
            self.canister
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CallKind {
    Query,
    Update,
}

/// How the canister's `canister_inspect_message` begins a refusal (canisters/inference).
const INSPECT_REFUSAL: &str = "refused by canister_inspect_message";

const POLICY_ADVICE: &str = "sign as a principal the inference policy admits (a controller \
     prints it with `icinfer policy show`)";

/// What the IC (and the host) says when a message runs out of instructions.
const OVER_INSTRUCTION_LIMIT: &str = "instructions for single message execution";

/// What to do when a call ran out of instructions: a query has a smaller limit than an
/// update (5 B and 40 B on the IC), and a job has none per inference.
fn over_limit_advice(method: &str, kind: CallKind) -> String {
    match (method, kind) {
        ("infer_query", _) => "a query may use far fewer instructions than an update (5 B \
             against 40 B on the IC): run it as an update call, without --query (it is then \
             logged, with a receipt), or as a job with --job if it needs more"
            .into(),
        ("infer", _) => "the inference needs more than one message: run it as a job, \
             `icinfer infer … --job`"
            .into(),
        ("finalize_model", _) => "the model needs more instructions to load than one \
             message allows: a smaller model (or one exported with fewer, larger operators) \
             loads"
            .into(),
        (_, CallKind::Query) => format!(
            "{method} is a query, which has a smaller instruction limit than an update: ask \
             for less (a smaller page or range)"
        ),
        (_, CallKind::Update) => format!("{method} needs more than one message allows"),
    }
}

/// Advice for a model tract would not load, chosen by what the canister's reason says;
/// `None` when the reason names nothing specific, which then stands alone.
pub fn load_advice(reason: &str) -> Option<String> {
    let reason = reason.to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| reason.contains(w));
    let advice = if says(&["external data", "external_data"]) {
        "the weights are in a separate file, which a canister cannot read: save the model \
         with them inside (onnx.save(model, path, save_as_external_data=False), or \
         torch.onnx.export(..., dynamo=False))"
    } else if says(&["input_facts names", "not an input"]) {
        "--input-fact must name one of the model's inputs, as the ONNX graph names them"
    } else if says(&["element type"]) {
        "an input or output has an element type icinfer does not carry: cast it in the graph \
         (ONNX Cast) to f32, f64, i64, i32, i8, u8 or bool"
    } else if says(&[
        "reading proto model",
        "protobuf",
        "wire type",
        "buffer underflow",
    ]) {
        "the file is not an ONNX model, or is cut short: check it with `python3 -c \"import \
         onnx, sys; onnx.checker.check_model(sys.argv[1])\" FILE`"
    } else if says(&[
        "unimplemented",
        "not implemented",
        "unsupported op",
        "unknown op",
        "no such op",
    ]) {
        "tract does not run one of the model's operators: export it at another opset, or \
         replace that operator before exporting"
    } else if says(&["symbol", "undetermined", "could not resolve", "streaming"]) {
        "declare the free dimensions: --input-fact name=dtype[dims], e.g. \
         --input-fact x=f32[1,3,224,224]"
    } else if says(&["failed analyse", "infering facts", "impossible to unify"]) {
        "tract could not work out the types or shapes at the node named: a --input-fact must \
         agree with the model (its element type, and sizes its first operators accept)"
    } else if says(&["out of memory", "memory allocation", "capacity overflow"]) {
        "loading needs more memory than the canister's heap allows: a smaller model loads"
    } else {
        return None;
    };
    Some(advice.to_string())
}

fn unreachable_network(network: &Network, error: AgentError) -> anyhow::Error {
    let url = network.url();
    let fix = match network {
        Network::Serve => "start the local host with `icinfer serve` (or pass --network)",
        Network::DfxLocal => "start the dfx replica with `dfx start --background`",
        _ => "check the URL and your connection",
    };
    match error {
        AgentError::TransportError(_) | AgentError::InvalidReplicaStatus => {
            anyhow!("cannot reach {url}: {error}\n  fix: {fix}")
        }
        other => anyhow!("{url}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_failures_get_advice_for_their_cause_only() {
        for (reason, advice) in [
            (
                "Failed to decode Protobuf message: invalid wire type value: 7",
                "not an ONNX model",
            ),
            (
                "input_facts names 'y', which is not an input",
                "--input-fact must name",
            ),
            (
                "tensor 'x' has element type F16; supported: f32",
                "ONNX Cast",
            ),
            (
                "Translating node #3 \"If\": Unimplemented operator",
                "another opset",
            ),
            (
                "Undetermined symbol in expression: height",
                "declare the free dimensions",
            ),
            (
                "Failed analyse for node #5 \"h1\" MatMulInference: Infering facts: Impossible \
                 to unify F64 with F32.",
                "must agree with the model",
            ),
            (
                "Reading proto model: failed to decode Protobuf message: ModelProto.graph: \
                 buffer underflow",
                "cut short",
            ),
            (
                "model.onnx.data: external data is not supported",
                "weights are in a separate file",
            ),
        ] {
            let got = load_advice(reason).unwrap_or_else(|| panic!("no advice for {reason}"));
            assert!(got.contains(advice), "{reason}: {got}");
            assert!(!got.contains("README"), "no repository paths: {got}");
        }
        assert_eq!(load_advice("a reason nobody foresaw"), None);
    }

    #[test]
    fn an_over_limit_query_is_told_to_run_as_an_update() {
        let query = over_limit_advice("infer_query", CallKind::Query);
        assert!(query.contains("without --query"), "{query}");
        let update = over_limit_advice("infer", CallKind::Update);
        assert!(update.contains("--job"), "{update}");
    }
}
