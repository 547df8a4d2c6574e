//! testdata/hashing.json: the encodings and hashes of docs/hashing.md, as this crate computes
//! them: tensor lists and their input and output hashes, log entries and their leaf hashes
//! (with bytes that must not decode), LEB128, the certified head and its witness, and the
//! Merkle leaf and node hashes.
//!
//! A new log-entry encoding version is new cases in [`entry_cases`] and [`entry_probes`];
//! text generations (version 2, kind 2) are in [`generation_entry_cases`], under their own
//! key until every verifier reads kind 2.

use super::json::{entry_json, hex, tensors_json, u64_text};
use candid::Principal;
use icinfer_api::{
    CodeEpoch, DType, DeploymentMode, Dim, EntryKind, GenerationReceipt, KvPair, LanguageModel,
    LogEntry, ModelDeclaration, SampleSettings, Sampling, StopReason, Tensor, TensorData,
    TensorFact, TokenizerFile,
};
use icinfer_verify::entry::encode_entry;
use icinfer_verify::head::{encode_head_witness, head_commitment, leb128};
use icinfer_verify::merkle::{EMPTY_ROOT, leaf_hash, node_hash};
use icinfer_verify::tensor::{encode_tensor_list, input_hash, output_hash};
use serde_bytes::ByteBuf;
use serde_json::{Value, json};

pub fn corpus() -> Value {
    json!({
        "about": "The encodings and hashes of docs/hashing.md, written by crates/verify \
                  (tests/corpus/hashing.rs); every implementation must reproduce them. \
                  Regenerate: ICINFER_WRITE_TESTDATA=1 cargo test -p icinfer-verify --test testdata",
        "tensor_lists": tensor_cases().into_iter().map(|(name, tensors, nonces)| tensor_list_json(name, &tensors, &nonces)).collect::<Vec<_>>(),
        "entries": entry_cases().iter().map(|(name, entry)| entry_json_case(name, entry)).collect::<Vec<_>>(),
        "code_epoch_entries": code_epoch_cases().iter().map(|(name, entry)| entry_json_case(name, entry)).collect::<Vec<_>>(),
        "generation_entries": generation_entry_cases().iter().map(|(name, entry)| entry_json_case(name, entry)).collect::<Vec<_>>(),
        "model_entries": model_entry_cases().iter().map(|(name, entry)| entry_json_case(name, entry)).collect::<Vec<_>>(),
        "model_entry_bytes_that_do_not_decode": model_entry_probes(),
        "entries_without_encoding": unencodable_entries(),
        "entry_bytes_that_do_not_decode": entry_probes(),
        "leb128": ([0, 1, 127, 128, 300, 624_485, u64::MAX >> 1, u64::MAX]).iter().map(|&v| json!({ "value": u64_text(v), "bytes": hex(&leb128(v)) })).collect::<Vec<_>>(),
        "leb128_invalid": leb128_invalid(),
        "heads": heads(),
        "leaf_hashes": ([&b""[..], b"\x00", b"leaf 0", &[0xab; 100]]).iter().map(|data| json!({ "data": hex(data), "hash": hex(&leaf_hash(data)) })).collect::<Vec<_>>(),
        "node_hashes": ([([0u8; 32], [0u8; 32]), ([1; 32], [2; 32]), (EMPTY_ROOT, leaf_hash(b""))]).iter().map(|(l, r)| json!({ "left": hex(l), "right": hex(r), "hash": hex(&node_hash(l, r)) })).collect::<Vec<_>>(),
    })
}

fn t(name: &str, shape: &[u64], data: TensorData) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        data,
    }
}

/// A list of tensors, and the nonces to salt its input hash with.
type TensorCase = (&'static str, Vec<Tensor>, Vec<Vec<u8>>);

fn tensor_cases() -> Vec<TensorCase> {
    let f32s = |v: &[f32]| TensorData::F32(v.to_vec());
    vec![
        (
            "docs/hashing.md golden vectors: b (i64) given before a (f32), nonce 16 bytes of 0x42",
            vec![
                t("b", &[1, 2], TensorData::I64(vec![3, 4])),
                t("a", &[3], f32s(&[0.5, 0.25, -1.0])),
            ],
            vec![vec![0x42; 16]],
        ),
        (
            "docs/hashing.md: one f32 tensor",
            vec![t("x", &[2], f32s(&[1.0, -2.5]))],
            vec![],
        ),
        (
            "the empty list; nonces of 16, 64, 255 and 256 bytes (too long to encode: no hash)",
            vec![],
            vec![vec![0; 16], vec![0x42; 64], vec![7; 255], vec![7; 256]],
        ),
        (
            "f64, with -0.0 and an extreme value",
            vec![t("t", &[3], TensorData::F64(vec![1.0, -0.0, 1e300]))],
            vec![],
        ),
        (
            "i64 extremes",
            vec![t("t", &[3], TensorData::I64(vec![i64::MIN, -2, i64::MAX]))],
            vec![],
        ),
        (
            "i32",
            vec![t("t", &[2], TensorData::I32(vec![258, i32::MIN]))],
            vec![],
        ),
        (
            "i8",
            vec![t("t", &[3], TensorData::I8(vec![-1, -128, 127]))],
            vec![],
        ),
        (
            "u8",
            vec![t("t", &[3], TensorData::U8(ByteBuf::from(vec![0, 7, 255])))],
            vec![],
        ),
        (
            "bool as one byte 0/1",
            vec![t("t", &[2], TensorData::Bool(vec![true, false]))],
            vec![],
        ),
        (
            "f32 0.0 (compare with -0.0 below: floats are hashed bit for bit)",
            vec![t("a", &[2], f32s(&[1.0, 0.0]))],
            vec![],
        ),
        ("f32 -0.0", vec![t("a", &[2], f32s(&[1.0, -0.0]))], vec![]),
        (
            "names sorted by their UTF-8 bytes (U+FF21 before U+1F600), not UTF-16 code units",
            vec![
                t("\u{1f600}", &[1], TensorData::U8(ByteBuf::from(vec![2]))),
                t("\u{ff21}", &[1], TensorData::U8(ByteBuf::from(vec![1]))),
            ],
            vec![vec![0x5a; 32]],
        ),
        (
            "a scalar (rank 0) and an empty tensor",
            vec![
                t("scalar", &[], f32s(&[3.5])),
                t("empty", &[0, 3], f32s(&[])),
            ],
            vec![],
        ),
    ]
}

fn tensor_list_json(name: &str, tensors: &[Tensor], nonces: &[Vec<u8>]) -> Value {
    let mut encoding = Vec::new();
    encode_tensor_list(tensors, &mut |b| encoding.extend_from_slice(b));
    json!({
        "name": name,
        "tensors": tensors_json(tensors),
        "encoding": hex(&encoding),
        "input_hash": hex(&input_hash(tensors, None).unwrap()),
        "output_hash": hex(&output_hash(tensors)),
        "salted": nonces.iter().map(|nonce| json!({
            "nonce": hex(nonce),
            "input_hash": input_hash(tensors, Some(nonce)).map(|h| hex(&h)),
        })).collect::<Vec<_>>(),
    })
}

fn digests(entry: LogEntry, model: u8, input: u8, output: u8) -> LogEntry {
    LogEntry {
        model_sha256: ByteBuf::from(vec![model; 32]),
        input_hash: ByteBuf::from(vec![input; 32]),
        output_hash: ByteBuf::from(vec![output; 32]),
        ..entry
    }
}

fn entry(seq: u64, timestamp_ns: u64, caller: Principal, model_id: &str) -> LogEntry {
    LogEntry {
        seq,
        timestamp_ns,
        caller,
        model_id: model_id.into(),
        model_sha256: ByteBuf::new(),
        input_hash: ByteBuf::new(),
        output_hash: ByteBuf::new(),
        input_salted: false,
        instructions: 0,
        messages: None,
        kind: None,
    }
}

/// Entries and their canonical bytes, one encoding version after another.
pub fn entry_cases() -> Vec<(&'static str, LogEntry)> {
    vec![
        (
            "version 1, docs/hashing.md example: anonymous caller, model m, salted",
            LogEntry {
                input_salted: true,
                instructions: 3,
                ..digests(entry(1, 2, Principal::anonymous(), "m"), 0x11, 0x22, 0x33)
            },
        ),
        (
            "version 1, unsalted",
            LogEntry {
                instructions: 123_456,
                ..digests(
                    entry(
                        0,
                        1_700_000_000_000_000_000,
                        Principal::anonymous(),
                        "digits",
                    ),
                    0xaa,
                    0xbb,
                    0xcc,
                )
            },
        ),
        (
            "version 1, a 29-byte caller, a 64-byte model id, the largest numbers",
            LogEntry {
                input_salted: true,
                instructions: 1 << 63,
                ..digests(
                    entry(
                        u64::MAX,
                        u64::MAX,
                        Principal::from_slice(&[0xa1; 29]),
                        &"Az09._-".repeat(10)[..64],
                    ),
                    0,
                    0xff,
                    0x5a,
                )
            },
        ),
        (
            "version 1, the empty principal (the management canister) and an empty model id",
            digests(
                entry(7, 8, Principal::management_canister(), ""),
                0x01,
                0x02,
                0x03,
            ),
        ),
        (
            "version 2, kind 1 (inference), docs/hashing.md example: a job of 4 messages",
            LogEntry {
                input_salted: true,
                instructions: 3,
                messages: Some(4),
                kind: None,
                ..digests(entry(1, 2, Principal::anonymous(), "m"), 0x11, 0x22, 0x33)
            },
        ),
        (
            "version 2, kind 1, an unsalted one-message `infer` with a 29-byte caller",
            LogEntry {
                instructions: 3,
                messages: Some(1),
                ..digests(
                    entry(1, 2, Principal::from_slice(&[0xab; 29]), "m"),
                    0x11,
                    0x22,
                    0x33,
                )
            },
        ),
        (
            "version 2, kind 1, the largest numbers and a 64-byte model id",
            LogEntry {
                input_salted: true,
                instructions: u64::MAX,
                messages: Some(u64::MAX),
                kind: None,
                ..digests(
                    entry(
                        u64::MAX,
                        u64::MAX,
                        Principal::from_slice(&[0xa1; 29]),
                        &"Az09._-".repeat(10)[..64],
                    ),
                    0,
                    0xff,
                    0x5a,
                )
            },
        ),
    ]
}

/// Version 2, kind 3: code epochs (frontend/src/verify/hashing.test.ts reads them too).
pub fn code_epoch_cases() -> Vec<(&'static str, LogEntry)> {
    let empty = || ByteBuf::from(vec![0; 32]);
    let epoch = |controllers: Vec<Principal>, mode| LogEntry {
        seq: 5,
        timestamp_ns: 1_750_000_000_000_000_000,
        caller: Principal::from_slice(&[0, 0, 0, 0, 0, 0x30, 0, 7, 1, 1]),
        model_id: String::new(),
        model_sha256: empty(),
        input_hash: empty(),
        output_hash: empty(),
        input_salted: false,
        instructions: 31_000,
        messages: Some(1),
        kind: Some(EntryKind::CodeEpoch(CodeEpoch {
            first_index: 4,
            canister_version: 2,
            started_ns: 1_749_999_999_000_000_000,
            module_hash: ByteBuf::from(vec![0x3c; 32]),
            mode,
            deployed_version: 3,
            deployed_ns: 1_749_999_999_000_000_000,
            total_num_changes: 4,
            controllers,
        })),
    };
    vec![
        (
            "version 2, kind 3 (code epoch): an upgrade, one controller",
            epoch(
                vec![Principal::from_slice(&[0xc0; 29])],
                DeploymentMode::Upgrade,
            ),
        ),
        (
            "version 2, kind 3: the first install, no controllers",
            epoch(Vec::new(), DeploymentMode::Install),
        ),
    ]
}

/// Version 2, kind 4: model entries, as finalize appends them (docs/hashing.md, "Kind 4").
pub fn model_entry_cases() -> Vec<(&'static str, LogEntry)> {
    let empty = || ByteBuf::from(vec![0; 32]);
    let model = |id: &str, declaration| LogEntry {
        seq: 2,
        timestamp_ns: 1_750_000_000_000_000_000,
        caller: Principal::from_slice(&[0xc0; 29]),
        model_id: id.into(),
        model_sha256: ByteBuf::from(vec![0xe4; 32]),
        input_hash: empty(),
        output_hash: empty(),
        input_salted: false,
        instructions: 8_300_000,
        messages: Some(1),
        kind: Some(EntryKind::Model(Box::new(declaration))),
    };
    let fact = |name: &str, dtype, shape| TensorFact {
        name: name.into(),
        dtype,
        shape,
    };
    vec![
        (
            "version 2, kind 4 (model): no declarations",
            model(
                "digits",
                ModelDeclaration {
                    input_facts: Vec::new(),
                    language_model: None,
                },
            ),
        ),
        (
            "version 2, kind 4: declared input facts, fixed and symbolic",
            model(
                "ppocr-cls",
                ModelDeclaration {
                    input_facts: vec![
                        fact("x", DType::F32, [1, 3, 48, 192].map(Dim::Fixed).to_vec()),
                        fact(
                            "ids",
                            DType::I64,
                            vec![Dim::Symbol("batch".into()), Dim::Fixed(128)],
                        ),
                        fact("flag", DType::Bool, Vec::new()),
                    ],
                    language_model: None,
                },
            ),
        ),
        (
            "version 2, kind 4: a language model with a KV cache",
            model(
                "tiny-gpt",
                ModelDeclaration {
                    input_facts: Vec::new(),
                    language_model: Some(LanguageModel {
                        input_ids: "input_ids".into(),
                        logits: "logits".into(),
                        attention_mask: Some("attention_mask".into()),
                        position_ids: None,
                        past: vec![
                            KvPair {
                                input: "past_key_values.0.key".into(),
                                output: "present.0.key".into(),
                            },
                            KvPair {
                                input: "past_key_values.0.value".into(),
                                output: "present.0.value".into(),
                            },
                        ],
                        context_length: 128,
                        eos_token: Some(0),
                        tokenizer: TokenizerFile {
                            sha256: ByteBuf::from(vec![0x70; 32]),
                            size_bytes: 61_234,
                        },
                    }),
                },
            ),
        ),
    ]
}

/// Bytes near a model entry's that must not decode: every truncation, one trailing byte,
/// and each tag out of range.
fn model_entry_probes() -> Vec<Value> {
    let bytes = encode_entry(&model_entry_cases()[1].1).unwrap();
    let mut probes: Vec<(String, Vec<u8>)> = (0..bytes.len())
        .map(|cut| {
            (
                format!("kind 4 truncated to {cut} bytes"),
                bytes[..cut].to_vec(),
            )
        })
        .collect();
    let mut extended = bytes.clone();
    extended.push(0);
    probes.push(("kind 4, one trailing byte".into(), extended));
    // After the header (2 + 16 + 1 + 29 + 16), the id (1 + 9), the hash and the count: the
    // first fact's name "x" (2 + 1), then its dtype, its rank and its first dim's tag.
    let dtype_at = 2 + 16 + 1 + 29 + 16 + 1 + 9 + 32 + 2 + 3;
    for (name, at, value) in [
        ("kind 4, dtype 0", dtype_at, 0),
        ("kind 4, dtype 8 (unknown)", dtype_at, 8),
        ("kind 4, a dim tag of 2", dtype_at + 2, 2),
        ("kind 4, a language-model tag of 2", bytes.len() - 1, 2),
        ("kind 4, a fact name that is not UTF-8", dtype_at - 1, 0xff),
    ] {
        let mut probe = bytes.clone();
        probe[at] = value;
        probes.push((name.into(), probe));
    }
    probes
        .into_iter()
        .map(|(name, bytes)| json!({ "name": name, "bytes": hex(&bytes) }))
        .collect()
}

fn entry_json_case(name: &str, entry: &LogEntry) -> Value {
    let bytes = encode_entry(entry).unwrap();
    json!({
        "name": name,
        "entry": entry_json(entry),
        "bytes": hex(&bytes),
        "leaf_hash": hex(&leaf_hash(&bytes)),
    })
}

fn unencodable_entries() -> Vec<Value> {
    let base = entry_cases().remove(1).1;
    let cases = [
        (
            "output_hash of 31 bytes",
            LogEntry {
                output_hash: ByteBuf::from(vec![0; 31]),
                ..base.clone()
            },
        ),
        (
            "model id of 256 bytes",
            LogEntry {
                model_id: "m".repeat(256),
                ..base
            },
        ),
    ];
    cases
        .into_iter()
        .map(|(name, entry)| {
            let reason = match encode_entry(&entry) {
                Err(e) => e.reason(),
                Ok(_) => panic!("{name} encodes"),
            };
            json!({ "name": name, "entry": entry_json(&entry), "reason": reason })
        })
        .collect()
}

/// Text generations (version 2, kind 2): greedy and sampled receipts, every stop reason,
/// optional sampling fields present and absent.
pub fn generation_entry_cases() -> Vec<(&'static str, LogEntry)> {
    let receipt = |sampling, stop_reason, generated_tokens| {
        Some(EntryKind::Generation(Box::new(GenerationReceipt {
            tokenizer_sha256: ByteBuf::from(vec![0x44; 32]),
            completion_tokens_sha256: ByteBuf::from(vec![0x55; 32]),
            sampling,
            prompt_tokens: 7,
            generated_tokens,
            stop_reason,
        })))
    };
    let sampled = |top_k, top_p| {
        Sampling::Sample(SampleSettings {
            temperature: 0.75,
            top_k,
            top_p,
            seed: Some(ByteBuf::from((0..32).collect::<Vec<u8>>())),
        })
    };
    let base = LogEntry {
        instructions: 123_456_789,
        messages: Some(12),
        ..digests(
            entry(
                9,
                1_750_000_000_000_000_000,
                Principal::from_slice(&[0xab; 29]),
                "tiny-gpt",
            ),
            0x11,
            0x22,
            0x33,
        )
    };
    vec![
        (
            "version 2, kind 2, a greedy generation stopped by max_new_tokens",
            LogEntry {
                kind: receipt(Sampling::Greedy, StopReason::MaxNewTokens, 48),
                ..base.clone()
            },
        ),
        (
            "version 2, kind 2, sampled with top_k and top_p, stopped at eos",
            LogEntry {
                input_salted: true,
                kind: receipt(sampled(Some(40), Some(0.9)), StopReason::Eos, 3),
                ..base.clone()
            },
        ),
        (
            "version 2, kind 2, sampled by temperature alone, stopped by a stop sequence",
            LogEntry {
                kind: receipt(sampled(None, None), StopReason::StopSequence, 0),
                ..base.clone()
            },
        ),
        (
            "version 2, kind 2, sampled with top_p alone, the context full",
            LogEntry {
                kind: receipt(sampled(None, Some(1.0)), StopReason::ContextFull, u32::MAX),
                ..base
            },
        ),
    ]
}

/// Bytes no entry encodes to: each must be refused by the decoder.
fn entry_probes() -> Vec<Value> {
    let bytes = encode_entry(&entry_cases()[1].1).unwrap();
    let mut probes: Vec<(String, Vec<u8>)> = (0..bytes.len())
        .map(|cut| (format!("truncated to {cut} bytes"), bytes[..cut].to_vec()))
        .collect();
    let mut changed = |name: &str, at: usize, value: u8| {
        let mut probe = bytes.clone();
        probe[at] = value;
        probes.push((name.into(), probe));
    };
    changed("an unknown version (0xff)", 0, 0xff);
    changed("an unknown version (0)", 0, 0);
    changed("a caller of 30 bytes (principals have at most 29)", 17, 30);
    changed("an unknown flag (2)", bytes.len() - 9, 2);
    changed("an unknown flag (0x80)", bytes.len() - 9, 0x80);
    // The model id "digits" starts at 20: after the caller's length, the caller (anonymous,
    // one byte) and the id's length.
    changed("a model id that is not UTF-8", 20, 0xff);
    let mut extended = bytes.clone();
    extended.push(0);
    probes.push(("one trailing byte".into(), extended));
    // Version 2: `02 | kind | seq | time | len(caller) | caller | instructions | messages |
    // body`; the anonymous caller is one byte, so the body's model id length is at 36.
    let v2 = encode_entry(&LogEntry {
        messages: Some(1),
        ..entry_cases()[1].1.clone()
    })
    .unwrap();
    probes.extend((0..v2.len()).map(|cut| {
        (
            format!("version 2 truncated to {cut} bytes"),
            v2[..cut].to_vec(),
        )
    }));
    let mut changed_v2 = |name: &str, at: usize, value: u8| {
        let mut probe = v2.clone();
        probe[at] = value;
        probes.push((name.into(), probe));
    };
    changed_v2("version 2, an unknown kind (2, not yet defined)", 1, 2);
    changed_v2("version 2, kind 0", 1, 0);
    changed_v2("version 2, a caller of 30 bytes", 18, 30);
    changed_v2("version 2, an unknown flag (2)", v2.len() - 1, 2);
    changed_v2("version 2, a model id that is not UTF-8", 37, 0xff);
    let mut extended = v2.clone();
    extended.push(0);
    probes.push(("version 2, one trailing byte".into(), extended));
    probes
        .into_iter()
        .map(|(name, bytes)| json!({ "name": name, "bytes": hex(&bytes) }))
        .collect()
}

fn leb128_invalid() -> Vec<Value> {
    let mut too_big = leb128(u64::MAX);
    too_big[9] = 0x02;
    let cases: [(&str, Vec<u8>); 6] = [
        ("empty", vec![]),
        ("unterminated", vec![0x80]),
        ("padded (not the shortest form)", vec![0x81, 0x00]),
        ("a trailing byte", vec![0x01, 0x01]),
        ("more than 64 bits", too_big),
        ("eleven bytes", [vec![0x80; 10], vec![0x00]].concat()),
    ];
    cases
        .iter()
        .map(|(name, bytes)| json!({ "name": name, "bytes": hex(bytes) }))
        .collect()
}

fn heads() -> Vec<Value> {
    let cases: [(u64, [u8; 32]); 6] = [
        (300, [0xab; 32]),
        (0, EMPTY_ROOT),
        (1, leaf_hash(b"")),
        (127, [0x3c; 32]),
        (128, [0x3c; 32]),
        (u64::MAX, [0xff; 32]),
    ];
    cases
        .iter()
        .map(|(size, root)| {
            json!({
                "size": u64_text(*size),
                "root": hex(root),
                "commitment": hex(&head_commitment(*size, root)),
                "witness": hex(&encode_head_witness(*size, root)),
            })
        })
        .collect()
}
