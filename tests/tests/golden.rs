//! A stable-memory image written by the previous release loads in the built module, and the
//! committed release is the build its manifest names.
//!
//! testdata/golden/ holds, for the release in `releases::PREVIOUS_RELEASE`:
//! `inference-<release>.stable.golden.gz`, the canister's stable memory (gzip) after the
//! release was installed, the digits model uploaded and three inferences logged; and
//! `inference-<release>.json`, what the release answered then: the log's canonical entries,
//! its size and root, the certified data, the model's id and SHA-256. Both are written by
//! the ignored test below (testdata/golden/README.md), never edited by hand.

use candid::{Encode, Principal};
use icinfer_api::{
    Error, InferArgs, InferResult, LogConsistency, LogConsistencyArgs, LogHead, LogProof,
    LogProofArgs, ModelInfo, ModelState,
};
use icinfer_tests::models::load_model;
use icinfer_tests::releases::{
    PREVIOUS_RELEASE, Release, compress_image, decompress_image, layout_version, previous_release,
};
use icinfer_tests::{CHUNK_BYTES, LocalHost, Replica, ReplicaExt, canister_wasm, workspace_root};
use icinfer_verify::merkle::{proof_nodes, verify_consistency};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

type R<T> = Result<T, Error>;

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}

fn user() -> Principal {
    Principal::from_slice(&[0x05; 29])
}

/// What the release answered when it wrote the image.
#[derive(Serialize, Deserialize, Debug)]
struct Recorded {
    release: String,
    layout_version: u8,
    model_id: String,
    model_sha256: String,
    log_size: u64,
    root_hash: String,
    certified_data: String,
    /// Each entry's canonical encoding (the Merkle leaf), as `log_proof` gives it.
    entries: Vec<String>,
}

fn golden_dir() -> PathBuf {
    workspace_root().join("testdata").join("golden")
}

fn image_path(release: &str) -> PathBuf {
    golden_dir().join(format!("inference-{release}.stable.golden.gz"))
}

fn recorded_path(release: &str) -> PathBuf {
    golden_dir().join(format!("inference-{release}.json"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A canister on its own host, driven by its controller.
struct Canister {
    local: LocalHost,
    id: Principal,
}

impl Canister {
    fn install(wasm: &[u8]) -> Self {
        let mut local = LocalHost::new();
        let id = local.create_canister(controller());
        local.install(id, wasm, Encode!().unwrap(), controller());
        Canister { local, id }
    }

    fn update<A: candid::CandidType, T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
        &mut self,
        sender: Principal,
        method: &str,
        arg: A,
    ) -> T {
        self.local
            .update::<_, (T,)>(self.id, sender, method, (arg,))
            .map(|(t,)| t)
            .unwrap_or_else(|r| panic!("{method} was rejected: {r:?}"))
    }

    fn query<A: candid::CandidType, T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
        &mut self,
        method: &str,
        arg: A,
    ) -> T {
        self.local
            .query::<_, (T,)>(self.id, Principal::anonymous(), method, (arg,))
            .map(|(t,)| t)
            .unwrap_or_else(|r| panic!("query {method} was rejected: {r:?}"))
    }

    fn tick(&mut self) {
        self.local.advance_time(Duration::from_secs(1));
        self.local.tick();
    }

    fn infer(&mut self, sender: Principal, case: usize, nonce: Option<Vec<u8>>) -> InferResult {
        let digits = load_model("digits").unwrap();
        let args = InferArgs {
            model_id: "digits".into(),
            inputs: digits.cases[case].inputs.clone(),
            nonce: nonce.map(ByteBuf::from),
        };
        self.update::<_, R<InferResult>>(sender, "infer", args)
            .unwrap()
    }

    fn entry_bytes(&mut self, index: u64) -> Vec<u8> {
        let args = LogProofArgs {
            index,
            tree_size: None,
        };
        let proof: R<LogProof> = self.query("log_proof", args);
        proof.unwrap().entry_bytes.into_vec()
    }

    fn stable_image(&self) -> Vec<u8> {
        let state = self.local.host.canister_state(self.id).unwrap();
        state.stable_memory.to_bytes()
    }
}

/// Writes testdata/golden/ from the previous release. Run it once per release:
/// `cargo test --locked --workspace --test golden -- --ignored write_golden`.
#[test]
#[ignore = "writes testdata/golden/; run by hand for a new release"]
fn write_golden_image_with_the_previous_release() {
    let release = previous_release();
    let mut canister = Canister::install(&release.wasm_gz);
    canister.tick();
    let digits = load_model("digits").unwrap();
    let sha256 = Sha256::digest(&digits.bytes).to_vec();
    let args = icinfer_api::CreateModelArgs {
        id: "digits".into(),
        sha256: ByteBuf::from(sha256.clone()),
        size_bytes: digits.bytes.len() as u64,
        description: Some("the golden image's model".into()),
        input_facts: None,
        language_model: None,
    };
    let _: ModelInfo = canister
        .update::<_, R<ModelInfo>>(controller(), "create_model", args)
        .unwrap();
    assert!(digits.bytes.len() <= CHUNK_BYTES);
    let chunk = icinfer_api::UploadChunkArgs {
        id: "digits".into(),
        offset: 0,
        data: ByteBuf::from(digits.bytes.clone()),
    };
    let _: icinfer_api::UploadProgress = canister
        .update::<_, R<_>>(controller(), "upload_model_chunk", chunk)
        .unwrap();
    let _: ModelInfo = canister
        .update::<_, R<ModelInfo>>(controller(), "finalize_model", "digits".to_string())
        .unwrap();
    canister.infer(user(), 0, None);
    canister.infer(user(), 1, Some(vec![0x5a; 32]));
    canister.infer(controller(), 2, None);
    canister.tick();

    let head: LogHead = canister.query("log_head", ());
    let entries = (0..head.tree_size)
        .map(|i| hex(&canister.entry_bytes(i)))
        .collect();
    let image = canister.stable_image();
    let state = canister.local.host.canister_state(canister.id).unwrap();
    let recorded = Recorded {
        release: release.name.clone(),
        layout_version: layout_version(&image).expect("the release wrote a layout header"),
        model_id: "digits".into(),
        model_sha256: hex(&sha256),
        log_size: head.tree_size,
        root_hash: hex(&head.root_hash),
        certified_data: hex(&state.certified_data),
        entries,
    };
    std::fs::create_dir_all(golden_dir()).unwrap();
    let compressed = compress_image(&image);
    std::fs::write(image_path(&release.name), &compressed).unwrap();
    let json = serde_json::to_string_pretty(&recorded).unwrap() + "\n";
    std::fs::write(recorded_path(&release.name), json).unwrap();
    println!(
        "golden: {} bytes of stable memory, {} gzipped; log of {} entries, root {}",
        image.len(),
        compressed.len(),
        recorded.log_size,
        recorded.root_hash
    );
}

/// Setup: testdata/golden/'s image and record of the previous release.
/// Runbook: install the release on a new canister, load the image as its stable memory,
/// upgrade to the built module, tick, infer once more.
/// Success criteria: the upgrade is accepted; the head has the recorded size and root and
/// the certified data is the recorded one; every recorded entry reads back byte for byte;
/// the model is ready with its hash; the stable layout is the built module's; the upgrade's
/// code epoch and a new inference append, the inference with the output hash the release
/// logged for the same input, and the log is consistent with the recorded head.
#[test]
fn a_stable_image_the_previous_release_wrote_loads_after_upgrade_with_its_root() {
    let recorded: Recorded = serde_json::from_slice(
        &std::fs::read(recorded_path(PREVIOUS_RELEASE)).expect("testdata/golden/ holds the record"),
    )
    .unwrap();
    let image = decompress_image(&std::fs::read(image_path(PREVIOUS_RELEASE)).unwrap());
    assert_eq!(layout_version(&image), Some(recorded.layout_version));
    let release = previous_release();
    let built = canister_wasm("inference");

    let mut canister = Canister::install(&release.wasm_gz);
    canister
        .local
        .host
        .load_stable_memory_image(canister.id, &image)
        .unwrap();
    canister
        .local
        .upgrade(canister.id, &built, Encode!().unwrap(), controller())
        .unwrap_or_else(|r| panic!("the built module refused the release's image: {r:?}"));

    let head: LogHead = canister.query("log_head", ());
    assert_eq!(
        (head.tree_size, hex(&head.root_hash)),
        (recorded.log_size, recorded.root_hash.clone())
    );
    let state = canister.local.host.canister_state(canister.id).unwrap();
    assert_eq!(hex(&state.certified_data), recorded.certified_data);
    for (index, entry) in recorded.entries.iter().enumerate() {
        assert_eq!(
            &hex(&canister.entry_bytes(index as u64)),
            entry,
            "entry {index}"
        );
    }
    let info: R<ModelInfo> = canister.query("model_info", recorded.model_id.clone());
    let info = info.unwrap();
    assert_eq!(
        (hex(&info.sha256), info.state),
        (recorded.model_sha256.clone(), ModelState::Ready)
    );
    assert_eq!(
        layout_version(&canister.stable_image()),
        Some(icinfer_core::memory::LAYOUT_VERSION)
    );

    canister.tick();
    let after = canister.infer(user(), 0, None);
    // The image's log: the install's code epoch, then the inference of case 0.
    let first = icinfer_verify::entry::decode_entry(&unhex(&recorded.entries[1])).unwrap();
    assert_eq!(
        after.receipt.seq,
        recorded.log_size + 1,
        "the upgrade's epoch, then this"
    );
    assert_eq!(
        (&after.receipt.input_hash, &after.receipt.output_hash),
        (&first.input_hash, &first.output_hash),
        "the loaded model answers as the release did"
    );
    let args = LogConsistencyArgs {
        from_size: recorded.log_size,
        to_size: after.receipt.seq + 1,
    };
    let consistency: R<LogConsistency> = canister.query("log_consistency", args);
    let consistency = consistency.unwrap();
    let from_root: [u8; 32] = unhex(&recorded.root_hash).try_into().unwrap();
    let to_root: [u8; 32] = consistency.to_root.as_slice().try_into().unwrap();
    let nodes = proof_nodes(&consistency.proof).unwrap();
    assert_eq!(consistency.from_root.as_slice(), from_root);
    let (from, to) = (consistency.from_size, consistency.to_size);
    verify_consistency(from, to, &from_root, &to_root, &nodes)
        .expect("the log after the upgrade extends the recorded one");
}

/// The committed release is the build its manifest names: the `.wasm.gz` and the module
/// inside it hash to the manifest's SHA-256s (what `icinfer verify --release` compares).
#[test]
fn the_previous_release_matches_its_manifest() {
    let release: Release = previous_release();
    let manifest = &release.manifest;
    assert_eq!(
        (manifest.format.as_str(), manifest.package.as_str()),
        ("icinfer-release/1", "inference")
    );
    assert!(
        manifest.source_commit.starts_with(PREVIOUS_RELEASE),
        "{manifest:?}"
    );
    assert_eq!(hex(&Sha256::digest(&release.wasm_gz)), manifest.gzip_sha256);
    assert_eq!(hex(&Sha256::digest(release.wasm())), manifest.module_sha256);
    assert_eq!(hex(&release.module_hash()), manifest.gzip_sha256);
}
