//! Every endpoint of candid/inference.did with its argument types from icinfer-api, decoded
//! as the canister decodes them: ic-cdk's `decode_args_with_config` with a skipping quota of
//! 10,000, and an empty argument read as `()` (ic-cdk-macros 0.20.3, export.rs).

use candid::utils::{ArgumentDecoder, ArgumentEncoder, decode_args_with_config};
use candid::{DecoderConfig, Principal};
use icinfer_api::{
    CreateModelArgs, FindLogArgs, GenerateArgs, InferArgs, InferencePolicy, JobId,
    LogConsistencyArgs, LogPageArgs, LogProofArgs, UploadChunkArgs,
};

/// The skipping quota ic-cdk's endpoints decode with.
pub const SKIPPING_QUOTA: usize = 10_000;

/// Decodes `bytes` as an endpoint's arguments, exactly as ic-cdk does.
pub fn decode_as<T: for<'a> ArgumentDecoder<'a>>(bytes: &[u8]) -> Result<T, candid::Error> {
    let bytes: &[u8] = if bytes.is_empty() {
        b"DIDL\x00\x00"
    } else {
        bytes
    };
    let mut config = DecoderConfig::new();
    config.set_skipping_quota(SKIPPING_QUOTA);
    decode_args_with_config(bytes, &config)
}

macro_rules! endpoints {
    ($($name:literal => $variant:ident $args:ty,)*) => {
        /// A decoded call: the endpoint and its arguments.
        #[derive(Clone, Debug)]
        pub enum Call {
            $($variant($args),)*
        }

        /// The endpoints' names, in the order `decode` numbers them.
        pub const NAMES: &[&str] = &[$($name,)*];

        /// Decodes `bytes` as the arguments of endpoint `index` (modulo their number).
        pub fn decode(index: usize, bytes: &[u8]) -> Result<Call, candid::Error> {
            const DECODERS: &[fn(&[u8]) -> Result<Call, candid::Error>] =
                &[$(|bytes| decode_as::<$args>(bytes).map(Call::$variant),)*];
            DECODERS[index % DECODERS.len()](bytes)
        }

        impl Call {
            pub fn name(&self) -> &'static str {
                match self {
                    $(Call::$variant(_) => $name,)*
                }
            }

            /// The arguments encoded again, as a client would send them.
            pub fn encode(&self) -> Vec<u8> {
                match self {
                    $(Call::$variant(args) => encode(args.clone()),)*
                }
            }
        }
    };
}

fn encode(args: impl ArgumentEncoder) -> Vec<u8> {
    candid::utils::encode_args(args).expect("decoded arguments encode again")
}

endpoints! {
    "create_model" => CreateModel (CreateModelArgs,),
    "upload_model_chunk" => UploadModelChunk (UploadChunkArgs,),
    "upload_tokenizer_chunk" => UploadTokenizerChunk (UploadChunkArgs,),
    "finalize_model" => FinalizeModel (String,),
    "delete_model" => DeleteModel (String,),
    "list_models" => ListModels (),
    "model_info" => ModelInfo (String,),
    "upload_status" => UploadStatus (String,),
    "add_admin" => AddAdmin (Principal,),
    "remove_admin" => RemoveAdmin (Principal,),
    "list_admins" => ListAdmins (),
    "policy" => Policy (),
    "set_policy" => SetPolicy (InferencePolicy,),
    "infer" => Infer (InferArgs,),
    "infer_query" => InferQuery (InferArgs,),
    "infer_start" => InferStart (InferArgs,),
    "job_status" => JobStatus (JobId,),
    "job_cancel" => JobCancel (JobId,),
    "set_job_step_budget" => SetJobStepBudget (u64,),
    "set_one_message_limit" => SetOneMessageLimit (u64,),
    "job_step" => JobStep (JobId,),
    "finalize_step" => FinalizeStep (String,),
    "generate_start" => GenerateStart (GenerateArgs,),
    "generation_status" => GenerationStatus (JobId,),
    "log_size" => LogSize (),
    "log_entry" => LogEntry (u64,),
    "log_entries" => LogEntries (LogPageArgs,),
    "find_log_entries" => FindLogEntries (FindLogArgs,),
    "log_head" => LogHead (),
    "code_epochs" => CodeEpochs (),
    "log_proof" => LogProof (LogProofArgs,),
    "log_consistency" => LogConsistency (LogConsistencyArgs,),
    "stats" => Stats (),
}

/// The method names of candid/inference.did's service, in order.
pub fn interface_methods() -> Vec<&'static str> {
    let did = include_str!("../../candid/inference.did");
    let service = &did[did.find("service :").expect("a service")..];
    service
        .lines()
        .skip(1)
        .filter_map(|line| line.trim().split_once(" : ").map(|(name, _)| name))
        .filter(|name| !name.starts_with("//"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_method_of_the_interface_is_decoded() {
        assert_eq!(super::interface_methods(), super::NAMES);
    }
}
