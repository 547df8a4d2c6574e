//! Writes the seed corpora (fuzz/seeds/<target>/) from testdata/ and models/: run by
//! `scripts/fuzz.sh seeds` after the corpus or the interface changes. Each seed is named by
//! what it holds; libFuzzer starts from them and keeps what it finds in fuzz/corpus/.

use candid::Principal;
use icinfer_api::{
    Access, CreateModelArgs, DType, Dim, FindLogArgs, GenerateArgs, InferArgs, InferencePolicy,
    LogConsistencyArgs, LogFilter, LogPageArgs, LogProofArgs, Quota, Sampling, Tensor, TensorData,
    TensorFact, UploadChunkArgs,
};
use icinfer_fuzz::corpus::{certificates, trusts, valid_cases};
use icinfer_fuzz::endpoints::{Call, NAMES};
use icinfer_fuzz::json::{bytes, list, text};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = root().join("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// One call of every endpoint, with arguments the canister would accept.
fn calls() -> Vec<Call> {
    let affine = std::fs::read(root().join("models/tiny/affine.onnx")).unwrap();
    let id = || "affine".to_string();
    let infer = InferArgs {
        model_id: id(),
        inputs: vec![Tensor {
            name: "x".into(),
            shape: vec![1, 3],
            data: TensorData::F32(vec![1.0, 2.0, 3.0]),
        }],
        nonce: Some(ByteBuf::from(vec![7; 32])),
    };
    vec![
        Call::CreateModel((CreateModelArgs {
            id: id(),
            sha256: ByteBuf::from(Sha256::digest(&affine).to_vec()),
            size_bytes: affine.len() as u64,
            description: Some("tiny affine".into()),
            input_facts: Some(vec![TensorFact {
                name: "x".into(),
                dtype: DType::F32,
                shape: vec![Dim::Fixed(1), Dim::Fixed(3)],
            }]),
            language_model: None,
        },)),
        Call::UploadModelChunk((UploadChunkArgs {
            id: "part".into(),
            offset: 0,
            data: ByteBuf::from(vec![0; 10]),
        },)),
        Call::UploadTokenizerChunk((UploadChunkArgs {
            id: id(),
            offset: 0,
            data: ByteBuf::from(b"{}".to_vec()),
        },)),
        Call::FinalizeModel((id(),)),
        Call::DeleteModel(("part".into(),)),
        Call::ListModels(()),
        Call::ModelInfo((id(),)),
        Call::UploadStatus(("part".into(),)),
        Call::AddAdmin((Principal::from_slice(&[0xa1; 29]),)),
        Call::RemoveAdmin((Principal::from_slice(&[0xad; 29]),)),
        Call::ListAdmins(()),
        Call::Policy(()),
        Call::SetPolicy((InferencePolicy {
            access: Access::AllowList(vec![Principal::from_slice(&[0xa1; 29])]),
            window_seconds: 60,
            per_caller: Quota {
                max_calls: Some(10),
                max_instructions: None,
            },
            global: Quota::default(),
        },)),
        Call::Infer((infer.clone(),)),
        Call::InferQuery((infer.clone(),)),
        Call::InferStart((infer,)),
        Call::JobStatus((0,)),
        Call::JobCancel((0,)),
        Call::SetJobStepBudget((1_000_000,)),
        Call::SetOneMessageLimit((1_000_000_000,)),
        Call::JobStep((0,)),
        Call::FinalizeStep(("part".into(),)),
        Call::GenerateStart((GenerateArgs {
            model_id: id(),
            prompt: "once upon a time".into(),
            max_new_tokens: 4,
            sampling: Sampling::Greedy,
            stop: vec!["\n".into()],
            nonce: None,
        },)),
        Call::GenerationStatus((0,)),
        Call::LogSize(()),
        Call::LogEntry((0,)),
        Call::LogEntries((LogPageArgs {
            start: 0,
            limit: 10,
        },)),
        Call::FindLogEntries((FindLogArgs {
            filter: LogFilter::ModelSha256(ByteBuf::from(Sha256::digest(&affine).to_vec())),
            start: 0,
            limit: 10,
        },)),
        Call::LogHead(()),
        Call::CodeEpochs(()),
        Call::LogProof((LogProofArgs {
            index: 0,
            tree_size: Some(1),
        },)),
        Call::LogConsistency((LogConsistencyArgs {
            from_size: 1,
            to_size: 1,
        },)),
        Call::Stats(()),
    ]
}

fn main() {
    let calls = calls();
    assert_eq!(calls.len(), NAMES.len(), "a seed for every endpoint");
    for call in &calls {
        let index = NAMES.iter().position(|n| *n == call.name()).unwrap() as u8;
        let encoded = call.encode();
        write(
            "candid_args",
            call.name(),
            &[&[index][..], &encoded].concat(),
        );
        // The endpoints target reads a caller byte first: 0, a controller.
        write(
            "endpoints",
            call.name(),
            &[&[0, index][..], &encoded].concat(),
        );
    }

    let hashing: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("testdata/hashing.json")).unwrap(),
    )
    .unwrap();
    for group in ["entries", "generation_entries", "code_epoch_entries"] {
        for (i, case) in list(&hashing[group]).iter().enumerate() {
            write(
                "entry_decode",
                &format!("{group}-{i}"),
                &[&[0][..], &bytes(&case["bytes"])].concat(),
            );
        }
    }
    for case in list(&hashing["entry_bytes_that_do_not_decode"])
        .iter()
        .take(40)
    {
        write(
            "entry_decode",
            &format!("refused-{}", text(&case["name"])),
            &[&[0][..], &bytes(&case["bytes"])].concat(),
        );
    }

    let trusts = trusts();
    for (i, signed) in certificates().iter().enumerate() {
        let trust = trusts
            .iter()
            .position(|(key, canister)| *key == signed.root_key && *canister == signed.canister)
            .unwrap() as u8;
        write(
            "certificate",
            &format!("certificate-{i}"),
            &[&[trust][..], &signed.certificate].concat(),
        );
    }
    for i in 0..valid_cases().len() {
        // No edits: the case as the corpus has it.
        write("log_proof", &format!("case-{i}"), &[i as u8]);
    }

    for dir in ["models/tiny", "models/tiny/hostile", "models/digits"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "onnx") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                write("onnx_load", &name, &std::fs::read(&path).unwrap());
            }
        }
    }
}
