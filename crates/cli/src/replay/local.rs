//! The inference canister on a fresh local host in this process: what a replay runs on
//! (crates/host, as `icinfer serve` runs it, without persistence or network).

use super::{ReplayError, refused};
use candid::utils::ArgumentEncoder;
use candid::{CandidType, Principal};
use icinfer_api::{
    CreateModelArgs, Error, GenerateArgs, GenerationState, GenerationStatus, InferArgs,
    InferResult, ModelDeclaration, ModelInfo, ModelState, Tensor, UploadChunkArgs, UploadProgress,
    UploadStatus,
};
use icinfer_host::{Host, HostConfig};
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

/// Host rounds a finalize or generation job may take before the replay gives up.
const MAX_TICKS: usize = 100_000;

/// The inference canister on a fresh in-process host, installed by `CONTROLLER`.
pub(crate) struct Replayer {
    host: Host,
    id: Principal,
}

/// Who installs the replay's canister and makes its calls: any principal does, the
/// entry's caller is not part of what is compared.
const CONTROLLER: Principal = Principal::from_slice(&[0x52; 29]);

impl Replayer {
    pub(crate) fn install(module: &[u8]) -> Result<Replayer, ReplayError> {
        let mut host = Host::new(HostConfig::default());
        let id = host.create_canister(vec![CONTROLLER]);
        let init = candid::encode_args(()).expect("no arguments");
        host.install_code(id, module, &init, CONTROLLER)
            .map_err(|e| refused("installing the module")(e.to_string()))?;
        Ok(Replayer { host, id })
    }

    pub(crate) fn call<A: ArgumentEncoder, T: CandidType + DeserializeOwned>(
        &mut self,
        step: &'static str,
        method: &str,
        args: A,
        query: bool,
    ) -> Result<T, ReplayError> {
        let arg = candid::encode_args(args).expect("arguments encode");
        let outcome = match query {
            true => self.host.query_call(self.id, CONTROLLER, method, &arg),
            false => self.host.update_call(self.id, CONTROLLER, method, &arg),
        };
        let reply = outcome
            .map_err(|e| e.to_string())
            .and_then(|o| o.result.map_err(|r| r.to_string()))
            .map_err(refused(step))?;
        let (result,): (Result<T, Error>,) =
            candid::decode_args(&reply).map_err(|e| refused(step)(e.to_string()))?;
        result.map_err(|e| refused(step)(e.to_string()))
    }

    /// Creates the model with the entry's declarations, uploads it (and its tokenizer), and
    /// finalizes it, driving a finalize job to its end.
    pub(crate) fn load_model(
        &mut self,
        id: &str,
        model: &[u8],
        tokenizer: Option<&[u8]>,
        declaration: &ModelDeclaration,
    ) -> Result<(), ReplayError> {
        let id = id.to_string();
        let create = CreateModelArgs {
            id: id.clone(),
            sha256: ByteBuf::from(Sha256::digest(model).to_vec()),
            size_bytes: model.len() as u64,
            description: None,
            input_facts: (!declaration.input_facts.is_empty())
                .then(|| declaration.input_facts.clone()),
            language_model: declaration.language_model.clone(),
        };
        let _: ModelInfo = self.call("create_model", "create_model", (create,), false)?;
        let status: UploadStatus = self.call("upload_status", "upload_status", (&id,), true)?;
        let chunk = usize::try_from(status.chunk_size)
            .unwrap_or(usize::MAX)
            .max(1);
        let mut parts = vec![("upload_model_chunk", model)];
        if let (Some(tokenizer), Some(_)) = (tokenizer, &declaration.language_model) {
            parts.push(("upload_tokenizer_chunk", tokenizer));
        }
        for (method, bytes) in parts {
            for (index, data) in bytes.chunks(chunk).enumerate() {
                let args = UploadChunkArgs {
                    id: id.clone(),
                    offset: (index * chunk) as u64,
                    data: ByteBuf::from(data.to_vec()),
                };
                let _: UploadProgress = self.call("uploading the model", method, (args,), false)?;
            }
        }
        let mut info: ModelInfo = self.call("finalize_model", "finalize_model", (&id,), false)?;
        for _ in 0..MAX_TICKS {
            match info.state {
                ModelState::Ready => return Ok(()),
                ModelState::Failed { error } => {
                    return Err(refused("finalize_model")(error.to_string()));
                }
                _ => {}
            }
            self.host.tick();
            info = self.call("model_info", "model_info", (&id,), true)?;
        }
        Err(refused("finalize_model")(
            "the finalize job did not finish".into(),
        ))
    }

    pub(crate) fn infer(
        &mut self,
        model_id: &str,
        inputs: &[Tensor],
        nonce: Option<&[u8]>,
    ) -> Result<InferResult, ReplayError> {
        let args = InferArgs {
            model_id: model_id.to_string(),
            inputs: inputs.to_vec(),
            nonce: nonce.map(|n| ByteBuf::from(n.to_vec())),
        };
        self.call("infer", "infer", (args,), false)
    }

    /// Starts a generation and drives it to its end.
    pub(crate) fn generate(&mut self, args: GenerateArgs) -> Result<GenerationStatus, ReplayError> {
        let job: u64 = self.call("generate_start", "generate_start", (args,), false)?;
        self.finish_generation(job)
    }

    fn finish_generation(&mut self, job: u64) -> Result<GenerationStatus, ReplayError> {
        for _ in 0..MAX_TICKS {
            let status: GenerationStatus =
                self.call("generation_status", "generation_status", (job,), true)?;
            if status.state != GenerationState::Pending {
                return Ok(status);
            }
            self.host.tick();
        }
        Err(refused("generation")("the job did not finish".into()))
    }
}
