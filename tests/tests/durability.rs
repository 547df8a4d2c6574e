//! What durability costs per call on the inference canister: each update's changes are
//! appended to the host's journal and synced before the reply (crates/host/src/journal.rs).
//! Measures the record (bytes, 4 KiB pages, µs to encode, write and fsync) of an upload chunk
//! and of an inference, and checks that a host replayed from the journal alone (no
//! checkpoint after the first) has the same log size and certified head.

use candid::{Encode, Principal};
use icinfer_api::{CreateModelArgs, InferArgs, UploadChunkArgs};
use icinfer_host::journal::{AppendReport, Journal};
use icinfer_host::{Host, HostConfig};
use icinfer_tests::models::read_npy;
use icinfer_tests::{CHUNK_BYTES, canister_wasm, model_bytes, workspace_root};
use serde_bytes::ByteBuf;
use sha2::Digest;
use std::time::Instant;

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}

fn update(h: &mut Host, id: Principal, method: &str, arg: Vec<u8>) -> Vec<u8> {
    h.update_call(id, controller(), method, &arg)
        .unwrap()
        .unwrap_reply()
}

/// Runs `call`, then appends its changes: the record and how long appending took.
fn journaled(
    h: &mut Host,
    journal: &mut Journal,
    call: impl FnOnce(&mut Host),
) -> (AppendReport, u128) {
    call(h);
    let start = Instant::now();
    let report = journal.append(h).unwrap();
    (report, start.elapsed().as_micros())
}

#[test]
fn journal_cost_of_an_upload_chunk_and_an_inference() {
    let dir = std::env::temp_dir().join(format!("icinfer-durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut h, mut journal) = Journal::open(HostConfig::default(), &dir).unwrap();
    let id = h.create_canister(vec![controller()]);
    h.install_code(
        id,
        &canister_wasm("inference"),
        &Encode!().unwrap(),
        controller(),
    )
    .unwrap();
    let (install, _) = journaled(&mut h, &mut journal, |_| {});

    // A 1 MiB chunk of a 3 MiB model (the digits model padded is not needed: the canister
    // stores chunks before it parses anything).
    let model = model_bytes("digits/digits.onnx");
    let big: Vec<u8> = (0..3 * CHUNK_BYTES).map(|i| (i * 7 % 251) as u8).collect();
    let create = |bytes: &[u8], name: &str| CreateModelArgs {
        id: name.into(),
        sha256: ByteBuf::from(sha2::Sha256::digest(bytes).to_vec()),
        size_bytes: bytes.len() as u64,
        description: None,
        input_facts: None,
        language_model: None,
    };
    let (created, _) = journaled(&mut h, &mut journal, |h| {
        update(
            h,
            id,
            "create_model",
            Encode!(&create(&big, "big")).unwrap(),
        );
    });
    let chunk = UploadChunkArgs {
        id: "big".into(),
        offset: 0,
        data: ByteBuf::from(big[..CHUNK_BYTES].to_vec()),
    };
    let (chunk_cost, chunk_us) = journaled(&mut h, &mut journal, |h| {
        update(h, id, "upload_model_chunk", Encode!(&chunk).unwrap());
    });

    journaled(&mut h, &mut journal, |h| {
        update(
            h,
            id,
            "create_model",
            Encode!(&create(&model, "digits")).unwrap(),
        );
        let chunk = UploadChunkArgs {
            id: "digits".into(),
            offset: 0,
            data: ByteBuf::from(model.clone()),
        };
        update(h, id, "upload_model_chunk", Encode!(&chunk).unwrap());
        update(
            h,
            id,
            "finalize_model",
            Encode!(&"digits".to_string()).unwrap(),
        );
    });
    let pixels = read_npy(
        &workspace_root().join("models/digits/reference/case0_in_pixels.npy"),
        "pixels",
    );
    let args = InferArgs {
        model_id: "digits".into(),
        inputs: vec![pixels],
        nonce: None,
    };
    let mut infers = Vec::new();
    for _ in 0..5 {
        infers.push(journaled(&mut h, &mut journal, |h| {
            update(h, id, "infer", Encode!(&args).unwrap());
        }));
    }
    let (infer_cost, _) = infers[infers.len() - 1];
    let mut micros: Vec<u128> = infers.iter().map(|(_, us)| *us).collect();
    micros.sort_unstable();
    println!(
        "[durability] install: {} bytes ({} heap pages); create_model: {} bytes",
        install.record_bytes, install.heap_pages, created.record_bytes
    );
    println!(
        "[durability] upload chunk (1 MiB): {} bytes, {} heap + {} stable pages, {chunk_us} µs",
        chunk_cost.record_bytes, chunk_cost.heap_pages, chunk_cost.stable_pages
    );
    println!(
        "[durability] infer (digits): {} bytes, {} heap + {} stable pages, median {} µs",
        infer_cost.record_bytes,
        infer_cost.heap_pages,
        infer_cost.stable_pages,
        micros[micros.len() / 2]
    );
    // A chunk's record holds its stable pages and the heap the canister decoded it into (the
    // argument and its copy, about 2 MiB); an inference's, its log entry and the heap it
    // touched, far less than the heap.
    assert!(chunk_cost.stable_pages >= 256, "{chunk_cost:?}");
    assert!(
        chunk_cost.record_bytes < 4 * CHUNK_BYTES as u64,
        "{chunk_cost:?}"
    );
    assert!(
        infer_cost.stable_pages >= 1,
        "the log entry is in stable memory"
    );
    assert!(
        infer_cost.record_bytes < install.record_bytes,
        "{infer_cost:?} vs install {install:?}"
    );

    // A crash: the host is rebuilt from the first checkpoint and the journal alone.
    let head = |h: &mut Host| {
        let reply = h
            .query_call(id, Principal::anonymous(), "log_size", &Encode!().unwrap())
            .unwrap()
            .unwrap_reply();
        (reply, h.canister_state(id).unwrap().certified_data.clone())
    };
    let before = head(&mut h);
    drop(journal);
    drop(h);
    let (mut h, _journal) = Journal::open(HostConfig::default(), &dir).unwrap();
    assert_eq!(head(&mut h), before);
    let _ = std::fs::remove_dir_all(&dir);
}
