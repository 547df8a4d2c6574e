//! The `icinfer` binary end to end, as a user runs it: `serve` in the background, then
//! `upload`, `models`, `infer`, `log` and `verify` against it over HTTP; a restart that keeps
//! everything; tampering that `verify` catches; and `demo`.
//!
//! Needs the inference canister built (scripts/test.sh does it first). Each test gets its
//! own state directory, port and identity (HOME and XDG_CONFIG_HOME point into a temp dir, so
//! the CLI creates a fresh Ed25519 key there and never sees the user's dfx identities).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct User {
    home: tempfile::TempDir,
    state: PathBuf,
    url: String,
    port: u16,
}

impl User {
    fn new() -> User {
        let home = tempfile::tempdir().unwrap();
        let state = home.path().join("state");
        let port = free_port();
        User {
            home,
            state,
            url: format!("http://127.0.0.1:{port}"),
            port,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_icinfer"));
        c.args(args)
            .current_dir(workspace())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("ICINFER_NETWORK", &self.url)
            .env("ICINFER_STATE", &self.state)
            .env_remove("ICINFER_CANISTER")
            .env_remove("ICINFER_PEM");
        c
    }

    /// Runs the CLI; returns stdout, panicking with both streams if it failed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "icinfer {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs the CLI expecting failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "icinfer {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts `icinfer serve` and waits for its ready file; returns what the file says.
    fn serve(&self) -> (Server, Ready) {
        self.serve_module(&wasm())
    }

    fn ready_file(&self) -> PathBuf {
        self.home.path().join("serve-ready.json")
    }

    fn serve_module(&self, wasm: &Path) -> (Server, Ready) {
        self.serve_with(wasm, &[])
    }

    /// `serve` with more options.
    fn serve_with(&self, wasm: &Path, options: &[&str]) -> (Server, Ready) {
        let ready_file = self.ready_file();
        let listen = format!("127.0.0.1:{}", self.port);
        let mut args = vec![
            "serve",
            "--listen",
            &listen,
            "--wasm",
            wasm.to_str().unwrap(),
            "--ready-file",
            ready_file.to_str().unwrap(),
        ];
        args.extend(options);
        let mut child = self
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Keep draining stdout so the server never blocks on a full pipe.
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let so_far = printed.clone();
        let drain = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut printed = so_far.lock().unwrap();
                *printed += &line;
                *printed += "\n";
            }
            so_far.lock().unwrap().clone()
        });
        let mut server = Server {
            child,
            drain: Some(drain),
            printed,
        };
        let started = std::time::Instant::now();
        let text = loop {
            // The file appears whole (written, then renamed), so one read is enough.
            if let Ok(text) = std::fs::read_to_string(&ready_file) {
                break text;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                let printed = server.drain.take().unwrap().join().unwrap();
                panic!("serve exited with {status} before it was ready:\n{printed}");
            }
            // Compiling the canister module takes a while on a busy machine.
            assert!(
                started.elapsed() < std::time::Duration::from_secs(900),
                "serve was not ready within 900 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let ready: Ready = serde_json::from_str(&text).unwrap();
        (server, ready)
    }
}

/// `serve --ready-file`'s contents.
#[derive(serde::Deserialize)]
struct Ready {
    url: String,
    canister_id: String,
    root_key: String,
}

struct Server {
    child: Child,
    drain: Option<std::thread::JoinHandle<String>>,
    /// What it printed so far.
    printed: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// The first line it printed that contains `text`, waiting for it a while.
    fn printed_line(&self, text: &str) -> String {
        for _ in 0..200 {
            if let Some(line) = self
                .printed
                .lock()
                .unwrap()
                .lines()
                .find(|l| l.contains(text))
            {
                return line.to_string();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "serve printed no '{text}':\n{}",
            self.printed.lock().unwrap()
        );
    }

    /// SIGTERM, as a user's Ctrl-C or a service manager would; returns all it printed.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve exited with {status}");
        self.drain.take().unwrap().join().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const DIGITS: &str = "models/digits/digits.onnx";
const IMAGE: &str = "models/digits/reference/case0_in_pixels.npy";

fn read_f32(path: &Path) -> Vec<f32> {
    npyz::NpyFile::new(std::fs::read(path).unwrap().as_slice())
        .unwrap()
        .into_vec()
        .unwrap()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The whole user journey against one server, then a restart.
#[test]
fn serve_upload_infer_log_verify_and_restart() {
    let user = User::new();
    let me = user.ok(&["whoami"]).trim().to_string();
    assert_eq!(me, user.ok(&["whoami"]).trim(), "the identity is kept");

    // Nothing listens yet: the error names the cause and the fix.
    let err = user.fails(&["models", "--canister", "rrkah-fqaaa-aaaaa-aaaaq-cai"]);
    assert!(err.contains(&format!("cannot reach {}", user.url)), "{err}");

    let (server, ready) = user.serve();
    let canister = ready.canister_id.clone();
    assert_eq!(ready.url, user.url);
    assert_eq!(
        std::fs::read_to_string(user.state.join("canister_id")).unwrap(),
        canister
    );
    // The root key is the host's: verifying against it, pinned, passes below.
    assert!(ready.root_key.starts_with("308182"), "{}", ready.root_key);

    let out = user.ok(&["upload", DIGITS, "--id", "digits", "--no-progress"]);
    assert!(out.contains("1 of 1 chunks to send"), "{out}");
    assert!(out.contains("finalized"), "{out}");
    assert!(out.contains("input   pixels: f32[N, 64]"), "{out}");
    let out = user.ok(&["upload", DIGITS, "--id", "digits"]);
    assert!(out.contains("already uploaded and finalized"), "{out}");
    // A different file under the same id needs --replace.
    let err = user.fails(&["upload", IMAGE, "--id", "digits"]);
    assert!(err.contains("--replace"), "{err}");
    // Only controllers and admins upload; the message says what to do.
    let err = user.fails(&["upload", DIGITS, "--id", "other", "--anonymous"]);
    assert!(
        err.contains("unauthorized") && err.contains("add_admin"),
        "{err}"
    );

    let models: serde_json::Value = serde_json::from_str(&user.ok(&["models", "--json"])).unwrap();
    let sha = hex::encode(sha2_digest(
        &std::fs::read(workspace().join(DIGITS)).unwrap(),
    ));
    assert_eq!(models[0]["id"], "digits");
    assert_eq!(models[0]["sha256"], sha);
    assert_eq!(models[0]["inputs"][0]["fact"], "f32[N, 64]");

    // Infer from a .npy, keeping the receipt.
    let saved = user.home.path().join("receipt0");
    let out = user.ok(&[
        "infer",
        "digits",
        "-i",
        IMAGE,
        "--save",
        saved.to_str().unwrap(),
    ]);
    // Entry #0 is the code epoch the canister logged after its install, #1 the model's
    // entry its finalize logged.
    assert!(out.contains("receipt: provenance log entry #2"), "{out}");
    assert!(out.contains(&format!("caller        {me}")), "{out}");
    let reference =
        read_f32(&workspace().join("models/digits/reference/case0_out_probabilities.npy"));
    let receipt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(saved.join("receipt.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = receipt["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(names.contains(&"probabilities"), "{names:?}");
    // Each tensor's file is named after it.
    let got = read_f32(&saved.join("output-probabilities.npy"));
    assert_eq!(got.len(), reference.len());
    for (g, r) in got.iter().zip(&reference) {
        assert!(
            (g - r).abs() < 1e-5,
            "{got:?} vs onnxruntime's {reference:?}"
        );
    }
    assert!(receipt["entry"]["input_salted"].as_bool().unwrap());
    let output_hash = receipt["entry"]["output_hash"]
        .as_str()
        .unwrap()
        .to_string();

    // Inline JSON, unsalted, as JSON.
    let pixels = serde_json::to_string(&vec![vec![0.5f32; 64]]).unwrap();
    let out: serde_json::Value = serde_json::from_str(&user.ok(&[
        "infer",
        "digits",
        "-i",
        &format!("pixels={pixels}"),
        "--no-nonce",
        "--json",
    ]))
    .unwrap();
    assert_eq!(out["receipt"]["seq"], 3);
    assert_eq!(out["receipt"]["input_salted"], false);
    // A wrong shape: the canister's typed error and where to look.
    let err = user.fails(&["infer", "digits", "-i", "pixels=[[1, 2]]"]);
    assert!(
        err.contains("input 'pixels'") && err.contains("icinfer models"),
        "{err}"
    );
    let err = user.fails(&["infer", "nope", "-i", "[1]"]);
    assert!(err.contains("model 'nope' not found"), "{err}");

    // The log: list, tail, find.
    let listed = user.ok(&["log", "list"]);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    assert!(
        listed.lines().next().unwrap().starts_with("#0 "),
        "{listed}"
    );
    let tail = json_lines(&user.ok(&["log", "tail", "-n", "1", "--json"]));
    assert_eq!((tail.len(), &tail[0]["seq"]), (1, &serde_json::json!(3)));
    // The model's entry is the uploader's and names the model too.
    let mine = json_lines(&user.ok(&["log", "find", "--caller", &me, "--json"]));
    assert_eq!(mine.len(), 3);
    let by_output = json_lines(&user.ok(&["log", "find", "--output-hash", &output_hash, "--json"]));
    assert_eq!(by_output[0]["seq"], 2);
    let by_model = json_lines(&user.ok(&["log", "find", "--model", "digits", "--json"]));
    assert_eq!(by_model.len(), 3);
    let none = user.ok(&["log", "find", "--caller", "2vxsx-fae"]);
    assert!(none.contains("no entries match"), "{none}");

    // Verify the saved receipt: certificate, proofs, recomputed hashes, the model file.
    let out = user.ok(&[
        "verify",
        "--receipt",
        saved.to_str().unwrap(),
        "--model",
        DIGITS,
    ]);
    for check in [
        "✓ IC certificate (BLS signature, delegation, certified data): signed (BLS12-381) by the root key",
        "✓ RFC 9162 inclusion proof: entry #2 is in the log",
        "it is the receipt you hold",
        "✓ Input hash recomputed from the inputs and nonce",
        "✓ Output hash recomputed from the outputs",
        "✓ Model SHA-256 is the entry's",
        "✓ Module hash the IC certifies for the canister now",
        "✓ Controllers the IC certifies for the canister now",
    ] {
        assert!(out.contains(check), "missing '{check}' in:\n{out}");
    }
    // The code the IC certifies, against the module served, a release manifest, another hash.
    let module_hash = hex::encode(sha2_digest(&std::fs::read(wasm()).unwrap()));
    let out = user.ok(&["verify", "2", "--expect-module-hash", &module_hash]);
    assert!(
        out.contains(&format!(
            "/module_hash = {module_hash}, the module hash expected"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "Code epoch: entry #2 falls in the epoch that began at entry #0 (its code epoch entry #0 is proven in the log): written by module {module_hash} (Install"
        )) && out.contains("the module the IC certifies now"),
        "{out}"
    );
    let manifest = user.home.path().join("release.json");
    let release = |module: &str| {
        serde_json::json!({
            "format": "icinfer-release/1", "package": "inference",
            "module_sha256": module, "gzip_sha256": "00".repeat(32),
            "source_commit": "0000000", "toolchain": "rustc 1.95.0", "ic_wasm": "0.11.1",
        })
        .to_string()
    };
    std::fs::write(&manifest, release(&module_hash)).unwrap();
    let manifest_arg = manifest.to_str().unwrap();
    let out = user.ok(&["verify", "2", "--release", manifest_arg]);
    assert!(out.contains("expecting the module of release"), "{out}");
    std::fs::write(&manifest, release(&"ab".repeat(32))).unwrap();
    let err = user.fails(&["verify", "2", "--release", manifest_arg]);
    assert!(
        err.contains("NOT VERIFIED: Module hash the IC certifies for the canister now")
            && err.contains(&format!("not the expected {} or abab", "00".repeat(32))),
        "{err}"
    );
    // The same from loose files.
    let nonce = receipt["nonce"].as_str().unwrap();
    let input = format!("pixels={}", saved.join("input-pixels.npy").display());
    let outputs: Vec<String> = names
        .iter()
        .map(|n| format!("{n}={}", saved.join(format!("output-{n}.npy")).display()))
        .collect();
    let mut args = vec!["verify", "2", "--input", &input, "--nonce", nonce];
    for o in &outputs {
        args.extend(["--output", o]);
    }
    assert!(user.ok(&args).contains("✓ Input hash recomputed"));

    // Tampered outputs, a wrong nonce, a wrong root key: all refused.
    let tampered = user.home.path().join("tampered");
    copy_dir(&saved, &tampered);
    // One bit of the last probability (the data ends the file; the header is untouched).
    let forged = tampered.join("output-probabilities.npy");
    let mut npy = std::fs::read(&forged).unwrap();
    *npy.last_mut().unwrap() ^= 0x01;
    std::fs::write(&forged, npy).unwrap();
    let err = user.fails(&["verify", "--receipt", tampered.to_str().unwrap()]);
    assert!(
        err.contains("NOT VERIFIED") && err.contains("output"),
        "{err}"
    );
    let wrong_nonce = "00".repeat(32);
    args[5] = &wrong_nonce;
    let err = user.fails(&args);
    assert!(
        err.contains("NOT VERIFIED") && err.contains("input"),
        "{err}"
    );
    let other_key = other_root_key();
    let err = user.fails(&["verify", "2", "--root-key", &other_key]);
    assert!(err.contains("NOT VERIFIED"), "{err}");
    let out = user.ok(&["verify", "2", "--root-key", &ready.root_key]);
    assert!(out.contains("against the root key you pinned"), "{out}");
    let err = user.fails(&["verify", "2", "--model", IMAGE]);
    assert!(err.contains("NOT VERIFIED: Model SHA-256"), "{err}");

    // Replay: the module the entry's epoch names re-runs it on a local host.
    let receipt_dir = saved.to_str().unwrap();
    let module = wasm();
    let module = module.to_str().unwrap();
    let replay = [
        "verify",
        "--receipt",
        receipt_dir,
        "--replay",
        "--module",
        module,
    ];
    let out = user.ok(&[&replay[..], &["--model", DIGITS]].concat());
    for line in [
        "Model entry: #1 declares how 'digits' was loaded (proven in the log).",
        "input hash, output hash",
        "Proven by re-execution: module",
    ] {
        assert!(out.contains(line), "missing '{line}' in:\n{out}");
    }
    let other_module = user.home.path().join("other.wasm");
    let mut other = std::fs::read(wasm()).unwrap();
    other.extend_from_slice(&custom_section("icinfer-test", b"other"));
    std::fs::write(&other_module, &other).unwrap();
    let mut with_other = replay;
    with_other[5] = other_module.to_str().unwrap();
    let err = user.fails(&[&with_other[..], &["--model", DIGITS]].concat());
    assert!(
        err.contains("NOT REPLAYED: the module file has SHA-256"),
        "{err}"
    );
    let err = user.fails(&replay);
    assert!(err.contains("--model"), "{err}");

    // Restart on the same state: the canister, its models, its log and the root key stay.
    let printed = server.stop();
    assert!(printed.contains("saving the state"), "{printed}");
    assert!(!user.ready_file().exists(), "a stopped server is not ready");
    let (server, again) = user.serve();
    assert_eq!(again.canister_id, canister);
    assert_eq!(again.root_key, ready.root_key, "the root key is kept");
    assert!(user.ok(&["models"]).contains("digits  [ready]"));
    assert_eq!(user.ok(&["log", "list"]).lines().count(), 4);
    assert!(
        user.ok(&["verify", "--receipt", saved.to_str().unwrap()])
            .contains("entry #2 is in the log")
    );
    let out = user.ok(&["infer", "digits", "-i", IMAGE]);
    assert!(out.contains("entry #4"), "{out}");
    let printed = server.stop();
    assert!(printed.contains("(unchanged)"), "{printed}");

    // A new module upgrades the canister in place: stable memory, models and log stay.
    let new_module = user.home.path().join("inference-v2.wasm");
    let mut bytes = std::fs::read(wasm()).unwrap();
    bytes.extend_from_slice(&custom_section("icinfer-test", b"v2"));
    std::fs::write(&new_module, &bytes).unwrap();
    let (server, again) = user.serve_module(&new_module);
    assert_eq!(again.canister_id, canister);
    assert!(user.ok(&["models"]).contains("digits  [ready]"));
    assert!(user.ok(&["verify", "3"]).contains("entry #3 is in the log"));
    // The IC now certifies the new module: the old hash is refused.
    let err = user.fails(&["verify", "3", "--expect-module-hash", &module_hash]);
    assert!(
        err.contains("module-hash") || err.contains("not the expected"),
        "{err}"
    );
    let new_hash = hex::encode(sha2_digest(&bytes));
    let out = user.ok(&["verify", "3"]);
    assert!(
        out.contains(&format!("written by module {module_hash}"))
            && out.contains("the canister has been upgraded since"),
        "{out}"
    );
    assert!(
        user.ok(&["verify", "3", "--expect-module-hash", &new_hash])
            .contains("the module hash expected")
    );
    let printed = server.stop();
    assert!(printed.contains("upgraded to module"), "{printed}");
}

/// A Wasm custom section (id 0): changes the module hash, not the behaviour.
fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut content = vec![name.len() as u8];
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    assert!(content.len() < 128, "one-byte LEB128 sizes only");
    let mut section = vec![0, content.len() as u8];
    section.extend(content);
    section
}

/// An interrupted upload is finished by running the command again: only the missing chunks
/// are sent. (The model is random bytes, so tract rejects it at finalize, with tract's reason.)
#[test]
fn an_interrupted_upload_resumes_with_the_missing_chunks() {
    use candid::{Decode, Encode};
    use icinfer_api::{CreateModelArgs, Error, ModelInfo, UploadChunkArgs, UploadProgress};

    let user = User::new();
    user.ok(&["whoami"]); // creates the identity the server will be controlled by
    let (server, ready) = user.serve();
    let canister = ready.canister_id;
    let file = user.home.path().join("junk.onnx");
    let bytes: Vec<u8> = (0..(2 << 20) + 1000u32)
        .map(|i| (u64::from(i) * 7919 % 251) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();

    // Begin the upload as the CLI would, but send only the middle chunk.
    let pem = user.home.path().join("config/icinfer/identity.pem");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let agent = ic_agent::Agent::builder()
            .with_url(&user.url)
            .with_identity(ic_agent::identity::BasicIdentity::from_pem_file(&pem).unwrap())
            .build()
            .unwrap();
        agent.fetch_root_key().await.unwrap();
        let canister = candid::Principal::from_text(&canister).unwrap();
        let create = CreateModelArgs {
            id: "junk".into(),
            sha256: serde_bytes::ByteBuf::from(sha2_digest(&bytes).to_vec()),
            size_bytes: bytes.len() as u64,
            description: None,
            input_facts: None,
            language_model: None,
        };
        let reply = agent
            .update(&canister, "create_model")
            .with_arg(Encode!(&create).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        Decode!(&reply, Result<ModelInfo, Error>).unwrap().unwrap();
        let chunk = UploadChunkArgs {
            id: "junk".into(),
            offset: 1 << 20,
            data: serde_bytes::ByteBuf::from(bytes[1 << 20..2 << 20].to_vec()),
        };
        let reply = agent
            .update(&canister, "upload_model_chunk")
            .with_arg(Encode!(&chunk).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        let progress = Decode!(&reply, Result<UploadProgress, Error>)
            .unwrap()
            .unwrap();
        assert_eq!((progress.chunks_received, progress.chunks_total), (1, 3));
    });

    let out = user.run(&["upload", file.to_str().unwrap(), "--no-progress"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("resuming the upload"), "{stdout}");
    assert!(
        stdout.contains("2 of 3 chunks to send (1049576 bytes; the canister has the other 1)"),
        "{stdout}"
    );
    assert!(!out.status.success());
    assert!(stderr.contains("model rejected by tract"), "{stderr}");
    // Advice for this failure (not an ONNX file), and no generic pointer at the repository.
    assert!(
        stderr.contains("fix: the file is not an ONNX model"),
        "{stderr}"
    );
    assert!(!stderr.contains("README"), "{stderr}");
    server.stop();
}

/// A model whose finalize does not fit one message finalizes as a job, and `icinfer upload`
/// follows it with its progress. The digits model padded to 12 MiB (a trailing protobuf
/// `doc_string`, which tract ignores), its first chunk sent last by the command: that
/// upload hashes 8 chunks, so finalize has chunks left to hash and runs as a job.
#[test]
fn upload_follows_a_finalize_job_with_its_progress() {
    use candid::{Decode, Encode};
    use icinfer_api::{CreateModelArgs, Error, ModelInfo, UploadChunkArgs, UploadProgress};

    let user = User::new();
    user.ok(&["whoami"]);
    let (server, ready) = user.serve();
    let canister = ready.canister_id.clone();
    let onnx = std::fs::read(workspace().join(DIGITS)).unwrap();
    let size = (12 << 20) + 100;
    // ModelProto field 6 (doc_string): tag 0x32, a varint length, then the padding.
    let pad = size - onnx.len() - 1 - 4;
    let mut bytes = onnx.clone();
    bytes.push(0x32);
    let mut length = pad;
    for _ in 0..4 {
        let low = (length & 0x7f) as u8;
        length >>= 7;
        bytes.push(if length > 0 { low | 0x80 } else { low });
    }
    assert_eq!(length, 0, "the length fits four varint bytes");
    bytes.resize(size, b' ');
    let file = user.home.path().join("padded.onnx");
    std::fs::write(&file, &bytes).unwrap();

    let create = CreateModelArgs {
        id: "padded".into(),
        sha256: serde_bytes::ByteBuf::from(sha2_digest(&bytes).to_vec()),
        size_bytes: bytes.len() as u64,
        description: None,
        input_facts: None,
        language_model: None,
    };
    let reply = user.update_as_me(&canister, "create_model", Encode!(&create).unwrap());
    Decode!(&reply, Result<ModelInfo, Error>).unwrap().unwrap();
    let chunks = bytes.len().div_ceil(1 << 20);
    for index in 1..chunks {
        let start = index << 20;
        let chunk = UploadChunkArgs {
            id: "padded".into(),
            offset: start as u64,
            data: serde_bytes::ByteBuf::from(bytes[start..(start + (1 << 20)).min(size)].to_vec()),
        };
        let reply = user.update_as_me(&canister, "upload_model_chunk", Encode!(&chunk).unwrap());
        Decode!(&reply, Result<UploadProgress, Error>)
            .unwrap()
            .unwrap();
    }
    // About one chunk's hash per step, so the job takes several messages.
    user.set_job_step_budget(&canister, 100_000_000);

    let out = user.ok(&[
        "upload",
        file.to_str().unwrap(),
        "--id",
        "padded",
        "--no-progress",
    ]);
    assert!(out.contains("resuming the upload"), "{out}");
    assert!(
        out.contains("finalizing as a job (the model does not fit one message)"),
        "{out}"
    );
    let progress: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("finalizing: ") && l.contains("chunks hashed"))
        .collect();
    assert!(!progress.is_empty(), "progress while it runs:\n{out}");
    assert!(
        progress[0].contains(&format!("/{chunks} chunks hashed, "))
            && progress[0].contains(" messages, "),
        "{out}"
    );
    assert!(
        out.contains("finalized: the canister checked the SHA-256"),
        "{out}"
    );
    let models = user.ok(&["models"]);
    assert!(models.contains("padded  [ready]"), "{models}");
    server.stop();
}

/// A language model's upload resumes its tokenizer too: with the model's chunks all sent
/// and one of the tokenizer's three, `upload --tokenizer` sends the two the canister's
/// `upload_status` lists as missing, not the whole file. (Both files are junk, so finalize
/// then refuses the tokenizer.)
#[test]
fn an_interrupted_tokenizer_upload_resumes_with_its_missing_chunks() {
    use candid::{Decode, Encode};
    use icinfer_api::{
        CreateModelArgs, Error, KvPair, LanguageModel, ModelInfo, TokenizerFile, UploadChunkArgs,
        UploadProgress,
    };

    let user = User::new();
    user.ok(&["whoami"]);
    let (server, ready) = user.serve();
    let canister = ready.canister_id;
    let model: Vec<u8> = (0..5000u32).map(|i| (i * 13 % 251) as u8).collect();
    let tokenizer: Vec<u8> = (0..(2 << 20) + 10u32)
        .map(|i| (u64::from(i) * 31 % 253) as u8)
        .collect();
    let (model_file, tokenizer_file) = (
        user.home.path().join("lm.onnx"),
        user.home.path().join("tokenizer.json"),
    );
    std::fs::write(&model_file, &model).unwrap();
    std::fs::write(&tokenizer_file, &tokenizer).unwrap();

    // What `upload --tokenizer FILE --kv-layers 1` declares, created and half sent as if
    // an earlier run had been interrupted.
    let create = CreateModelArgs {
        id: "lm".into(),
        sha256: serde_bytes::ByteBuf::from(sha2_digest(&model).to_vec()),
        size_bytes: model.len() as u64,
        description: None,
        input_facts: None,
        language_model: Some(LanguageModel {
            input_ids: "input_ids".into(),
            logits: "logits".into(),
            attention_mask: None,
            position_ids: None,
            past: ["key", "value"]
                .map(|kv| KvPair {
                    input: format!("past_key_values.0.{kv}"),
                    output: format!("present.0.{kv}"),
                })
                .to_vec(),
            context_length: 1024,
            eos_token: None,
            tokenizer: TokenizerFile {
                sha256: serde_bytes::ByteBuf::from(sha2_digest(&tokenizer).to_vec()),
                size_bytes: tokenizer.len() as u64,
            },
        }),
    };
    let reply = user.update_as_me(&canister, "create_model", Encode!(&create).unwrap());
    Decode!(&reply, Result<ModelInfo, Error>).unwrap().unwrap();
    for (method, offset, data) in [
        ("upload_model_chunk", 0, &model[..]),
        (
            "upload_tokenizer_chunk",
            1 << 20,
            &tokenizer[1 << 20..2 << 20],
        ),
    ] {
        let chunk = UploadChunkArgs {
            id: "lm".into(),
            offset,
            data: serde_bytes::ByteBuf::from(data.to_vec()),
        };
        let reply = user.update_as_me(&canister, method, Encode!(&chunk).unwrap());
        Decode!(&reply, Result<UploadProgress, Error>)
            .unwrap()
            .unwrap();
    }

    let out = user.run(&[
        "upload",
        model_file.to_str().unwrap(),
        "--id",
        "lm",
        "--tokenizer",
        tokenizer_file.to_str().unwrap(),
        "--kv-layers",
        "1",
        "--no-progress",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("resuming the upload"), "{stdout}");
    assert!(
        stdout.contains("0 of 1 chunks to send (0 bytes; the canister has the other 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "tokenizer: 2 of 3 chunks to send (1048586 bytes; the canister has the other 1)"
        ),
        "{stdout}"
    );
    assert!(!out.status.success());
    assert!(stderr.contains("tokenizer"), "{stderr}");
    server.stop();
}

/// The README's first command: the bundled model uploaded, inferred and verified over HTTP on
/// a throw-away host.
#[test]
fn demo_verifies_its_receipt() {
    let user = User::new();
    let out = user.ok(&["demo", "--wasm", wasm().to_str().unwrap()]);
    for step in [
        "finalized: the canister checked the SHA-256",
        // #0: the install's code epoch, #1: the model's entry.
        "receipt: provenance log entry #2",
        "against the root key you pinned",
        "✓ RFC 9162 inclusion proof: entry #2 is in the log",
        "✓ Input hash recomputed from the inputs and nonce",
        "✓ Model SHA-256 is the entry's",
        "Proven:",
    ] {
        assert!(out.contains(step), "missing '{step}' in:\n{out}");
    }
}

/// `label` writes a provenance bundle beside an output, from the receipt or found by the
/// file's own hash; `verify --bundle` checks it with the server gone, from the local host's
/// root key alone, and names the module that wrote the entry; a changed content byte, a
/// tampered proof and a wrong root key each fail with the reason.
#[test]
fn label_an_output_and_verify_its_bundle_offline() {
    let user = User::new();
    let (server, _ready) = user.serve();
    user.ok(&["upload", DIGITS, "--id", "digits", "--no-progress"]);
    let saved = user.home.path().join("receipt");
    user.ok(&[
        "infer",
        "digits",
        "-i",
        IMAGE,
        "--save",
        saved.to_str().unwrap(),
    ]);
    // The log names each entry by its kind: the install's code epoch, the model's declaration, then the inference.
    let listed = user.ok(&["log", "list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].contains("code epoch       module "), "{listed}");
    assert!(
        lines[0].contains("(install at canister version"),
        "{listed}"
    );
    assert!(lines[1].contains("digits (model)   sha256 "), "{listed}");
    assert!(lines[2].contains("digits           in "), "{listed}");

    // From the receipt: the content file (the outputs' canonical tensor list) is written.
    let content = user.home.path().join("outputs.bin");
    let out = user.ok(&[
        "label",
        content.to_str().unwrap(),
        "--receipt",
        saved.to_str().unwrap(),
    ]);
    assert!(out.contains("the outputs' canonical tensor list"), "{out}");
    assert!(out.contains("as the output of entry #2"), "{out}");
    assert!(out.contains("written by module "), "{out}");
    let bundle = user.home.path().join("outputs.bin.provenance.json");
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    assert_eq!(first["format"], "icinfer-provenance-bundle");
    assert_eq!(first["content"]["encoding"], "output-tensor-list");
    assert_eq!(first["code_epoch"]["entry"]["seq"], "0");

    // From the file alone: its hash finds the same entry.
    std::fs::remove_file(&bundle).unwrap();
    let out = user.ok(&["label", content.to_str().unwrap()]);
    assert!(out.contains("as the output of entry #2"), "{out}");
    // A file no entry produced is not labelled.
    let stranger = user.home.path().join("stranger.txt");
    std::fs::write(&stranger, "not generated here").unwrap();
    let err = user.fails(&["label", stranger.to_str().unwrap()]);
    assert!(
        err.contains("has") && err.contains("as its output"),
        "{err}"
    );
    server.stop();

    // Offline: nothing listens any more.
    let (bundle_arg, content_arg) = (bundle.to_str().unwrap(), content.to_str().unwrap());
    let out = user.ok(&["verify", "--bundle", bundle_arg, "--content", content_arg]);
    assert!(
        out.contains("offline, against the root key of the local host"),
        "{out}"
    );
    assert!(
        out.contains(
            "✓ Code epoch covers the entry: entry #2 falls in the code epoch that began at entry #0"
        ),
        "{out}"
    );
    assert!(
        out.contains("✓ Content hashes to the entry's output hash"),
        "{out}"
    );
    assert!(out.contains("- Written by module "), "{out}");

    let mut changed = std::fs::read(&content).unwrap();
    *changed.last_mut().unwrap() ^= 1;
    let changed_path = user.home.path().join("changed.bin");
    std::fs::write(&changed_path, &changed).unwrap();
    let err = user.fails(&[
        "verify",
        "--bundle",
        bundle_arg,
        "--content",
        changed_path.to_str().unwrap(),
    ]);
    assert!(
        err.contains("NOT VERIFIED: content: the outputs do not hash to the entry's output_hash"),
        "{err}"
    );

    let mut tampered = first.clone();
    let node = tampered["entry"]["inclusion_proof"][0]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = format!(
        "{}{}",
        if node.starts_with('0') { "1" } else { "0" },
        &node[1..]
    );
    tampered["entry"]["inclusion_proof"][0] = serde_json::Value::String(flipped);
    let tampered_path = user.home.path().join("tampered.provenance.json");
    std::fs::write(&tampered_path, tampered.to_string()).unwrap();
    let err = user.fails(&[
        "verify",
        "--bundle",
        tampered_path.to_str().unwrap(),
        "--content",
        content_arg,
    ]);
    assert!(
        err.contains(
            "NOT VERIFIED: entry: the tree root named is not the one the inclusion proof leads to"
        ),
        "{err}"
    );

    let err = user.fails(&[
        "verify",
        "--bundle",
        bundle_arg,
        "--root-key",
        &other_root_key(),
    ]);
    assert!(err.contains("NOT VERIFIED: entry: certificate:"), "{err}");
}

/// A generated text is labelled from the text alone: its SHA-256 is the generation's output
/// hash, so `label` finds the entry without a receipt; the bundle verifies offline with the
/// text, and not with the text changed.
#[test]
fn a_generated_text_is_labelled_from_the_text_alone() {
    let user = User::new();
    let (server, _ready) = user.serve();
    user.ok(&[
        "upload",
        "models/tiny-gpt/tiny-gpt.onnx",
        "--id",
        "tiny",
        "--tokenizer",
        "models/tiny-gpt/tokenizer.json",
        "--kv-layers",
        "4",
        "--context-length",
        "128",
        "--eos-token",
        "0",
        "--no-progress",
    ]);
    let saved = user.home.path().join("generation");
    user.ok(&[
        "generate",
        "tiny",
        "In the beginning",
        "-n",
        "12",
        "--save",
        saved.to_str().unwrap(),
    ]);
    // What a reader of the text has: the text, nothing else.
    let text = user.home.path().join("answer.txt");
    std::fs::copy(saved.join("completion.bin"), &text).unwrap();
    let out = user.ok(&["label", text.to_str().unwrap()]);
    assert!(out.contains("as the output of entry #2"), "{out}");
    server.stop();

    let bundle = user.home.path().join("answer.txt.provenance.json");
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    assert_eq!(value["content"]["encoding"], "completion-bytes");
    assert!(value["entry"]["entry"]["generation"].is_object(), "{value}");
    let (bundle_arg, text_arg) = (bundle.to_str().unwrap(), text.to_str().unwrap());
    let out = user.ok(&["verify", "--bundle", bundle_arg, "--content", text_arg]);
    assert!(
        out.contains("✓ Content hashes to the entry's output hash: the content's")
            && out.contains("(a completion, hashed as they are)"),
        "{out}"
    );
    let mut changed = std::fs::read(&text).unwrap();
    changed.push(b' ');
    std::fs::write(&text, &changed).unwrap();
    let err = user.fails(&["verify", "--bundle", bundle_arg, "--content", text_arg]);
    assert!(err.contains("NOT VERIFIED: content:"), "{err}");
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// The root key of a host with another seed (raw 96 bytes, hex).
fn other_root_key() -> String {
    let host = icinfer_host::Host::new(icinfer_host::HostConfig {
        seed: b"someone else".to_vec(),
        module_cache_dir: None,
        ..Default::default()
    });
    hex::encode(host.root_key_der())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The shared picture vectors (crates/preprocess/testdata): the CLI must give each model the
/// input whose hash the vector names, as the web page must (frontend/src/inputs/
/// preprocess.test.ts), so a picture commits to the same input hash from either client.
#[test]
fn a_picture_gives_the_input_hash_of_the_shared_vectors() {
    let testdata = workspace().join("crates/preprocess/testdata");
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testdata.join("picture-inputs.json")).unwrap(),
    )
    .unwrap();
    let picture = testdata.join(vectors["picture"].as_str().unwrap());
    let user = User::new();
    user.ok(&["whoami"]);
    let (server, _) = user.serve();
    let mut checked = 0;
    for case in vectors["cases"].as_array().unwrap() {
        let model = case["model"].as_str().unwrap();
        let file = workspace().join(case["file"].as_str().unwrap());
        let Ok(bytes) = std::fs::read(&file) else {
            eprintln!("{model}: {} is not here; skipped", file.display());
            continue;
        };
        assert_eq!(hex::encode(sha2_digest(&bytes)), case["sha256"], "{model}");
        let mut upload = vec![
            "upload",
            file.to_str().unwrap(),
            "--id",
            model,
            "--no-progress",
        ];
        if let Some(fact) = case["input_fact"].as_str() {
            upload.extend(["--input-fact", fact]);
        }
        user.ok(&upload);
        let out: serde_json::Value = serde_json::from_str(&user.ok(&[
            "infer",
            model,
            "-i",
            picture.to_str().unwrap(),
            "--no-nonce",
            "--json",
        ]))
        .unwrap();
        assert_eq!(
            out["receipt"]["input_hash"],
            case["input_hash"],
            "{model}: the CLI's input from {}",
            picture.display()
        );
        checked += 1;
    }
    assert!(checked >= 2, "digits and pixels are always here");
    server.stop();
}

impl User {
    /// An update call as this user's identity (the serve's controller), outside the CLI.
    fn update_as_me(&self, canister: &str, method: &str, arg: Vec<u8>) -> Vec<u8> {
        let pem = self.home.path().join("config/icinfer/identity.pem");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let agent = ic_agent::Agent::builder()
                .with_url(&self.url)
                .with_identity(ic_agent::identity::BasicIdentity::from_pem_file(&pem).unwrap())
                .build()
                .unwrap();
            agent.fetch_root_key().await.unwrap();
            agent
                .update(&candid::Principal::from_text(canister).unwrap(), method)
                .with_arg(arg)
                .call_and_wait()
                .await
                .unwrap()
        })
    }

    /// Lowers the canister's job step budget, so that a small model's job takes many steps.
    fn set_job_step_budget(&self, canister: &str, budget: u64) {
        self.set_u64(canister, "set_job_step_budget", budget);
    }

    fn set_one_message_limit(&self, canister: &str, instructions: u64) {
        self.set_u64(canister, "set_one_message_limit", instructions);
    }

    /// A controller's setter taking one `nat64` and answering `Result<(), Error>`.
    fn set_u64(&self, canister: &str, method: &str, value: u64) {
        use candid::{Decode, Encode};
        let reply = self.update_as_me(canister, method, Encode!(&value).unwrap());
        Decode!(&reply, Result<(), icinfer_api::Error>)
            .unwrap()
            .unwrap();
    }
}

/// `serve`'s "try" line, run as printed from a directory without serve's state: the CLI
/// finds the canister from the URL's /icinfer.json.
#[test]
fn the_command_serve_suggests_works_verbatim_without_its_state_directory() {
    let user = User::new();
    user.ok(&["whoami"]);
    let (server, ready) = user.serve();
    let line = server.printed_line("try ");
    let suggested: Vec<&str> = line
        .split_whitespace()
        .skip_while(|w| *w != "icinfer")
        .collect();
    assert_eq!(suggested[..2], ["icinfer", "upload"], "{line}");
    assert!(suggested.contains(&ready.url.as_str()), "{line}");
    // Elsewhere: no .icinfer/ here, and no ICINFER_STATE or ICINFER_NETWORK; only the
    // model files the command names.
    let elsewhere = user.home.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(workspace().join("models"), elsewhere.join("models")).unwrap();
    let run = |args: &[&str]| {
        let out = user
            .command(args)
            .current_dir(&elsewhere)
            .env_remove("ICINFER_STATE")
            .env_remove("ICINFER_NETWORK")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, out, err) = run(&suggested[1..]);
    assert!(ok, "{line}:\n{out}\n{err}");
    assert!(out.contains("finalized"), "{out}");
    let (ok, out, err) = run(&["models", "--network", &ready.url]);
    assert!(ok && out.contains("digits  [ready]"), "{out}\n{err}");
    assert!(!elsewhere.join(".icinfer").exists());
    server.stop();
}

/// A job: the receipt of `infer` (same outputs and hashes), its progress on screen, in
/// many messages, with `--job` or by itself when `infer` answers `UseJob`; and the options
/// that cannot go together say so.
#[test]
fn infer_as_a_job_shows_progress_and_gives_the_result_of_infer() {
    let user = User::new();
    user.ok(&["whoami"]);
    let (server, ready) = user.serve();
    user.ok(&["upload", DIGITS, "--id", "digits", "--no-progress"]);
    let infer = |extra: &[&str]| -> (serde_json::Value, String) {
        let mut args = vec!["infer", "digits", "-i", IMAGE, "--no-nonce", "--json"];
        args.extend(extra);
        let out = user.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{args:?}: {stderr}");
        (serde_json::from_slice(&out.stdout).unwrap(), stderr)
    };
    let (one_message, _) = infer(&[]);
    user.set_job_step_budget(&ready.canister_id, 60_000);
    let (job, progress) = infer(&["--job"]);
    assert_eq!(job["outputs"], one_message["outputs"]);
    for key in ["input_hash", "output_hash", "model_sha256"] {
        assert_eq!(job["receipt"][key], one_message["receipt"][key], "{key}");
    }
    assert_eq!(one_message["receipt"]["messages"], 1);
    let messages = job["receipt"]["messages"].as_u64().unwrap();
    assert!(messages >= 3, "{messages} messages");
    assert!(
        progress.contains("job 0 started on model 'digits'"),
        "{progress}"
    );
    assert!(
        progress.contains(" nodes, "),
        "progress while it runs: {progress}"
    );
    assert!(
        progress.contains("job 0 done: ") && progress.contains(&format!(" in {messages} messages")),
        "{progress}"
    );

    // Without --job: a model over the one-message limit gets UseJob from infer, and the
    // command switches to a job by itself, with the same result and progress on screen.
    user.set_one_message_limit(&ready.canister_id, 10_000);
    let (switched, progress) = infer(&[]);
    assert!(
        progress.contains("stopped after") && progress.contains("running it as a job"),
        "the reason says what infer measured: {progress}"
    );
    assert!(progress.contains(" nodes, "), "progress: {progress}");
    assert_eq!(switched["outputs"], one_message["outputs"]);
    assert_eq!(
        switched["receipt"]["output_hash"],
        one_message["receipt"]["output_hash"]
    );
    assert!(switched["receipt"]["messages"].as_u64().unwrap() >= 3);
    // The measurement is kept: the next infer is refused at once and switches too.
    let (_, progress) = infer(&[]);
    assert!(
        progress.contains("measured at") && progress.contains("running it as a job"),
        "{progress}"
    );

    // A query has no receipt to save, and is not a job.
    let err = user.fails(&["infer", "digits", "-i", IMAGE, "--query", "--save", "x"]);
    assert!(
        err.contains("--save keeps a receipt") && err.contains("drop --query"),
        "{err}"
    );
    let err = user.fails(&["infer", "digits", "-i", IMAGE, "--query", "--job"]);
    assert!(err.contains("cannot be used with"), "{err}");
    server.stop();
}

/// Ctrl-C while a job runs cancels it: nothing is logged.
#[test]
fn ctrl_c_cancels_a_running_job() {
    let user = User::new();
    user.ok(&["whoami"]);
    let (server, ready) = user.serve();
    user.upload_cls();
    // Small steps: the job takes many messages, each a round trip of the host's timer.
    user.set_job_step_budget(&ready.canister_id, 5_000_000);
    let mut job = user
        .command(&["infer", "cls", "-i", CLS_INPUT, "--job"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(job.stderr.take().unwrap());
    let mut printed = String::new();
    // Interrupt once the job shows progress.
    while !printed.contains(" nodes, ") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the job ended early:\n{printed}"
        );
        printed += &line;
    }
    Command::new("kill")
        .args(["-INT", &job.id().to_string()])
        .status()
        .unwrap();
    let status = job.wait().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut printed).unwrap();
    assert!(!status.success(), "{printed}");
    assert!(
        printed.contains("interrupted: cancelling job 0"),
        "{printed}"
    );
    assert!(
        printed.contains("job 0 cancelled (nothing was logged)"),
        "{printed}"
    );
    // The log holds the install's code epoch and the model's entry (kind 4), and no
    // inference of the model.
    let of_cls = json_lines(&user.ok(&["log", "find", "--model", "cls", "--json"]));
    assert!(
        !of_cls.is_empty() && of_cls.iter().all(|e| e["kind"].get("model").is_some()),
        "{of_cls:?}"
    );
    server.stop();
}

/// A query over its instruction limit is told to run as an update, which then works.
#[test]
fn an_over_limit_query_is_told_to_run_as_an_update() {
    let user = User::new();
    user.ok(&["whoami"]);
    let (server, _) = user.serve_with(&wasm(), &["--max-query-instructions", QUERY_LIMIT]);
    user.upload_cls();
    let err = user.fails(&["infer", "cls", "-i", CLS_INPUT, "--query"]);
    assert!(
        err.contains("instructions for single message execution")
            && err.contains("without --query"),
        "{err}"
    );
    let out = user.ok(&["infer", "cls", "-i", CLS_INPUT]);
    // Entry 0 is the install's code epoch, 1 the model's entry.
    assert!(out.contains("receipt: provenance log entry #2"), "{out}");
    server.stop();
}

/// Well above what `model_info` takes as a query (about 0.5 M), below a cls inference.
const QUERY_LIMIT: &str = "5000000";

/// PP-OCR's direction classifier (fetched by scripts/test.sh): 225 nodes, tens of millions
/// of instructions.
const CLS: &str = "models/cache/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx";
const CLS_INPUT: &str = "models/ppocr/cls/case0_in_x.npy";

impl User {
    fn upload_cls(&self) {
        assert!(
            workspace().join(CLS).exists(),
            "{CLS} is missing: python3 models/fetch_registry.py"
        );
        self.ok(&[
            "upload",
            CLS,
            "--id",
            "cls",
            "--input-fact",
            "x=f32[1,3,48,192]",
            "--no-progress",
        ]);
    }
}
