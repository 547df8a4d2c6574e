//! The inference canister running on the local host, with typed calls.

use anyhow::{Context, Result, anyhow};
use candid::utils::ArgumentEncoder;
use candid::{CandidType, Deserialize, Principal, encode_args};
use icinfer_host::{CallOutcome, Host, HostConfig, HostError};

pub struct LocalCanister {
    pub host: Host,
    pub canister: Principal,
    /// Instructions of the last call.
    pub instructions: u64,
}

impl LocalCanister {
    /// Creates a host and installs `wasm` on it, controlled by `controller`.
    pub fn start(wasm: &[u8], controller: Principal) -> Result<Self> {
        let mut host = Host::new(HostConfig::default());
        let canister = host.create_canister(vec![controller]);
        let installed = host
            .install_code(
                canister,
                wasm,
                &encode_args(()).expect("no arguments"),
                controller,
            )
            .context("installing the inference canister")?;
        Ok(LocalCanister {
            host,
            canister,
            instructions: installed.instructions,
        })
    }

    pub fn update<A, R>(&mut self, sender: Principal, method: &str, args: A) -> Result<R>
    where
        A: ArgumentEncoder,
        R: CandidType + for<'de> Deserialize<'de>,
    {
        let arg = encode_args(args)?;
        let outcome = self.host.update_call(self.canister, sender, method, &arg);
        self.reply(method, outcome)
    }

    pub fn query<A, R>(&mut self, sender: Principal, method: &str, args: A) -> Result<R>
    where
        A: ArgumentEncoder,
        R: CandidType + for<'de> Deserialize<'de>,
    {
        let arg = encode_args(args)?;
        let outcome = self.host.query_call(self.canister, sender, method, &arg);
        self.reply(method, outcome)
    }

    fn reply<R>(&mut self, method: &str, outcome: Result<CallOutcome, HostError>) -> Result<R>
    where
        R: CandidType + for<'de> Deserialize<'de>,
    {
        let outcome = outcome.with_context(|| format!("calling {method}"))?;
        self.instructions = outcome.instructions;
        let bytes = outcome
            .result
            .map_err(|reject| anyhow!("{method} was rejected: {reject}"))?;
        candid::decode_one(&bytes).with_context(|| format!("decoding the reply of {method}"))
    }
}
