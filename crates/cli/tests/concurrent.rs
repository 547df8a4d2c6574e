//! `icinfer serve` over its HTTP interface, as many clients at once and as unwelcome ones.
//!
//! Setup: `icinfer serve` with the built inference module and its own state directory; the
//! digits model uploaded with `icinfer upload` (the CLI's identity is the controller); made-up
//! Ed25519 identities signing with ic-agent, the client the IC's own tools use.
//! Runbook: 24 identities call `infer` at once while another task reads the certified head
//! over and over; then calls that `canister_inspect_message` refuses, and a policy set with
//! `icinfer policy set`.
//! Success criteria: the 24 entries take contiguous sequence numbers, each caller's receipt is
//! its entry, every head certified during the storm verifies and is a prefix of the final
//! one; refused calls get the IC's reject (reject code 5, error code IC0503, the method's
//! reason) and leave the log and the stats as they were.

use candid::{Decode, Encode, Principal};
use ic_agent::identity::{AnonymousIdentity, BasicIdentity};
use ic_agent::{Agent, AgentError, Identity};
use icinfer_api::{
    Error, InferArgs, InferResult, LogConsistency, LogConsistencyArgs, LogEntry, LogHead, Stats,
    Tensor, TensorData,
};
use icinfer_verify::verifier::{Trust, verify_head, verify_log_consistency};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DIGITS: &str = "models/digits/digits.onnx";
const CALLERS: u8 = 24;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wasm() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let wasm = target.join("wasm32-unknown-unknown/release/inference.wasm");
    assert!(
        wasm.exists(),
        "{} is missing: run `bash scripts/build-canister.sh` first",
        wasm.display()
    );
    wasm
}

/// `icinfer serve` in a temp home, killed on drop.
struct Served {
    home: tempfile::TempDir,
    url: String,
    canister: Principal,
    root_key: Vec<u8>,
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(serde::Deserialize)]
struct Ready {
    canister_id: String,
    root_key: String,
}

impl Served {
    fn start() -> Served {
        let home = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let ready_file = home.path().join("ready.json");
        let mut served = Served {
            url,
            canister: Principal::anonymous(),
            root_key: Vec::new(),
            child: Command::new(env!("CARGO_BIN_EXE_icinfer"))
                .args([
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--wasm",
                    wasm().to_str().unwrap(),
                    "--ready-file",
                    ready_file.to_str().unwrap(),
                ])
                .current_dir(workspace())
                .env("HOME", home.path())
                .env("XDG_CONFIG_HOME", home.path().join("config"))
                .env("ICINFER_STATE", home.path().join("state"))
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
            home,
        };
        let started = Instant::now();
        let text = loop {
            if let Ok(text) = std::fs::read_to_string(&ready_file) {
                break text;
            }
            if let Some(status) = served.child.try_wait().unwrap() {
                panic!("serve exited with {status} before it was ready");
            }
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "serve not ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let ready: Ready = serde_json::from_str(&text).unwrap();
        served.canister = Principal::from_text(ready.canister_id).unwrap();
        served.root_key = hex::decode(ready.root_key).unwrap();
        served
    }

    /// The CLI as the controller (its own key in the temp home).
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_icinfer"))
            .args(args)
            .current_dir(workspace())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("ICINFER_NETWORK", &self.url)
            .env("ICINFER_STATE", self.home.path().join("state"))
            .env_remove("ICINFER_CANISTER")
            .env_remove("ICINFER_PEM")
            .output()
            .unwrap()
    }

    fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "icinfer {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn agent(&self, identity: impl Identity + 'static) -> Agent {
        let agent = Agent::builder()
            .with_url(&self.url)
            .with_identity(identity)
            .build()
            .unwrap();
        agent.set_root_key(self.root_key.clone());
        agent
    }

    fn trust(&self) -> Trust {
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Trust {
            root_key: self.root_key.clone(),
            canister_id: self.canister,
            now_ns,
            max_age_ns: 600 * 1_000_000_000,
        }
    }
}

fn identity(n: u8) -> BasicIdentity {
    BasicIdentity::from_raw_key(&[n; 32])
}

fn digits_args() -> InferArgs {
    InferArgs {
        model_id: "digits".into(),
        inputs: vec![Tensor {
            name: "pixels".into(),
            shape: vec![1, 64],
            data: TensorData::F32((0..64).map(|i| (i % 17) as f32).collect()),
        }],
        nonce: None,
    }
}

async fn query<R: candid::CandidType + for<'de> candid::Deserialize<'de>>(
    agent: &Agent,
    canister: Principal,
    method: &str,
    arg: Vec<u8>,
) -> R {
    let reply = agent
        .query(&canister, method)
        .with_arg(arg)
        .call()
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"));
    candid::decode_one(&reply).unwrap()
}

async fn infer(
    agent: &Agent,
    canister: Principal,
) -> Result<Result<InferResult, Error>, AgentError> {
    let reply = agent
        .update(&canister, "infer")
        .with_arg(Encode!(&digits_args()).unwrap())
        .call_and_wait()
        .await?;
    Ok(Decode!(&reply, Result<InferResult, Error>).unwrap())
}

#[test]
fn twenty_four_callers_at_once_get_contiguous_sequence_numbers() {
    let served = Served::start();
    served.cli_ok(&["upload", DIGITS, "--id", "digits", "--no-progress"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let reader = served.agent(AnonymousIdentity);
        let canister = served.canister;
        let size_before: u64 = query(&reader, canister, "log_size", Encode!().unwrap()).await;
        let storm = Instant::now();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Certified heads, read while the inferences run.
        let heads = {
            let (reader, done) = (reader.clone(), done.clone());
            tokio::spawn(async move {
                let mut heads: Vec<LogHead> = Vec::new();
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    heads.push(query(&reader, canister, "log_head", Encode!().unwrap()).await);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                heads
            })
        };
        let calls: Vec<_> = (1..=CALLERS)
            .map(|n| {
                let agent = served.agent(identity(n));
                tokio::spawn(async move {
                    let me = agent.get_principal().unwrap();
                    (me, infer(&agent, canister).await)
                })
            })
            .collect();
        let mut receipts: Vec<(Principal, LogEntry)> = Vec::new();
        for call in calls {
            let (me, result) = call.await.unwrap();
            let result = result.unwrap_or_else(|e| panic!("{me}: {e}"));
            receipts.push((me, result.unwrap().receipt));
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let heads = heads.await.unwrap();
        println!(
            "[concurrent] {CALLERS} callers answered in {:?}; {} heads read meanwhile",
            storm.elapsed(),
            heads.len()
        );

        let mut seqs: Vec<u64> = receipts.iter().map(|(_, r)| r.seq).collect();
        seqs.sort_unstable();
        let expected: Vec<u64> = (size_before..size_before + u64::from(CALLERS)).collect();
        assert_eq!(seqs, expected, "contiguous, none reused, none skipped");
        for (me, receipt) in &receipts {
            assert_eq!(receipt.caller, *me);
            let stored: Result<LogEntry, Error> = query(
                &reader,
                canister,
                "log_entry",
                Encode!(&receipt.seq).unwrap(),
            )
            .await;
            assert_eq!(&stored.unwrap(), receipt, "the receipt is the log's entry");
        }
        let final_head: LogHead = query(&reader, canister, "log_head", Encode!().unwrap()).await;
        let trust = served.trust();
        let last = verify_head(&final_head, &trust).unwrap();
        assert_eq!(last.tree_size, size_before + u64::from(CALLERS));
        let mut checked = 0;
        for head in &heads {
            let seen = verify_head(head, &trust).unwrap();
            let proof: Result<LogConsistency, Error> = query(
                &reader,
                canister,
                "log_consistency",
                Encode!(&LogConsistencyArgs {
                    from_size: seen.tree_size,
                    to_size: last.tree_size,
                })
                .unwrap(),
            )
            .await;
            verify_log_consistency(&proof.unwrap(), &trust, Some((seen.tree_size, &seen.root)))
                .unwrap_or_else(|e| panic!("head of {} entries: {e:?}", seen.tree_size));
            checked += 1;
        }
        assert!(checked > 0, "at least one head was read during the storm");
        println!("[concurrent] {checked} certified heads are prefixes of the final one");
    });
}

/// The reject of a call canister_inspect_message refused: the IC's reject code 5 with the
/// error code of a trap, and the method's reason.
fn assert_refused_early(result: Result<impl std::fmt::Debug, AgentError>, reason: &str) {
    match result {
        Err(AgentError::UncertifiedReject { reject, .. })
        | Err(AgentError::CertifiedReject { reject, .. }) => {
            assert_eq!(
                reject.reject_code,
                ic_agent::agent::RejectCode::CanisterError
            );
            assert_eq!(reject.error_code.as_deref(), Some("IC0503"), "{reject:?}");
            assert!(
                reject
                    .reject_message
                    .contains("refused by canister_inspect_message")
                    && reject.reject_message.contains(reason),
                "{reject:?}"
            );
        }
        other => panic!("expected the inspection's reject, got {other:?}"),
    }
}

#[test]
fn refused_calls_get_the_ics_reject_over_http_and_change_nothing() {
    let served = Served::start();
    served.cli_ok(&["upload", DIGITS, "--id", "digits", "--no-progress"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let canister = served.canister;
        let anonymous = served.agent(AnonymousIdentity);
        let stranger = served.agent(identity(7));
        let stats_before: Stats = query(&anonymous, canister, "stats", Encode!().unwrap()).await;

        // Management from a stranger, an unknown method, an argument over the method's bound.
        let refused = stranger
            .update(&canister, "add_admin")
            .with_arg(Encode!(&stranger.get_principal().unwrap()).unwrap())
            .call_and_wait()
            .await;
        assert_refused_early(refused, "is not a controller");
        let refused = stranger
            .update(&canister, "drain_cycles")
            .with_arg(Encode!().unwrap())
            .call_and_wait()
            .await;
        assert_refused_early(refused, "method 'drain_cycles' not found");
        let refused = stranger
            .update(&canister, "delete_model")
            .with_arg(vec![0u8; 100 << 10])
            .call_and_wait()
            .await;
        assert_refused_early(refused, "argument bytes of delete_model");

        // A policy set with the CLI: authenticated callers only, one inference each per hour.
        let shown = served.cli_ok(&[
            "policy",
            "set",
            "--access",
            "authenticated",
            "--per-caller-calls",
            "1",
            "--json",
        ]);
        let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(shown["access"], "authenticated");
        assert_eq!(shown["per_caller"]["max_calls"], 1);
        let printed = served.cli_ok(&["policy", "show"]);
        assert!(
            printed.contains("authenticated") && printed.contains("1 calls"),
            "{printed}"
        );

        assert_refused_early(infer(&anonymous, canister).await, "anonymous");
        infer(&stranger, canister).await.unwrap().unwrap();
        assert_refused_early(infer(&stranger, canister).await, "per_caller.max_calls");
        // The CLI explains a refusal.
        let pixels = format!(
            "pixels={}",
            serde_json::to_string(&vec![vec![0.5f32; 64]]).unwrap()
        );
        let out = served.cli(&["infer", "digits", "-i", &pixels, "--anonymous"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("anonymous") && err.contains("policy"), "{err}");
        // Others may not read the policy.
        let out = served.cli(&["policy", "show", "--anonymous"]);
        assert!(!out.status.success());

        // Only the one admitted inference changed anything.
        let stats_after: Stats = query(&anonymous, canister, "stats", Encode!().unwrap()).await;
        assert_eq!(stats_after.log_size, stats_before.log_size + 1);
        assert_eq!(stats_after.models, stats_before.models);
        let admins: Vec<Principal> =
            query(&anonymous, canister, "list_admins", Encode!().unwrap()).await;
        assert!(admins.is_empty());
    });
}
