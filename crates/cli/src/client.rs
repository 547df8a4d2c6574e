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
            .map_err(|e| self.transport(method, e))?;
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
            .map_err(|e| self.transport(method, e))?;
        candid::decode_one(&reply).with_context(|| self.decode_hint(method))
    }

    /// A canister `Err`, explained: the cause in the canister's words, then the fix.
    pub fn explain(&self, method: &str, error: Error) -> anyhow::Error {
        let fix = match &error {
            Error::Unauthorized { .. } => format!(
                "you are {} ({}); call as a controller of the canister or an admin \
                 (--identity <dfx identity> or --pem <file>), or have a controller run \
                 `dfx canister call {} add_admin '(principal \"{}\")'`",
                self.me, self.identity_source, self.canister, self.me
            ),
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
            Error::ModelRejected { .. } => {
                "check the file is an ONNX model tract supports (models/README.md lists the \
                 workarounds, e.g. --input-fact for free image sizes)"
                    .into()
            }
            Error::InputMismatch { .. } => {
                "`icinfer models` shows each input's name, type and shape".into()
            }
            Error::LimitExceeded { .. } => "stay within the limit (docs/README)".into(),
            Error::InvalidState { .. } => "`icinfer models` shows the model's state".into(),
            Error::TokenizerRejected { .. } => {
                "pass the model's own Hugging Face tokenizer.json (a byte-level BPE) with \
                 --tokenizer, and upload it again"
                    .into()
            }
            Error::InvalidArgument { .. } | Error::InferenceFailed { .. } => String::new(),
        };
        if fix.is_empty() {
            anyhow!("{method} failed: {error}")
        } else {
            anyhow!("{method} failed: {error}\n  fix: {fix}")
        }
    }

    fn transport(&self, method: &str, error: AgentError) -> anyhow::Error {
        match &error {
            AgentError::CertifiedReject { reject, .. }
            | AgentError::UncertifiedReject { reject, .. } => {
                let fix = if reject.reject_message.contains("no such canister")
                    || reject.reject_message.contains("not found")
                {
                    format!(
                        "\n  fix: no canister {} on {}: check --canister, or install it (icinfer \
                         serve does on the local host)",
                        self.canister,
                        self.network.url()
                    )
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
