//! Crash test: `kill -9` of `icinfer serve` at random points of an inference and upload loop.
//!
//! Setup: one state directory; the digits model uploaded; a client thread that runs `icinfer
//! infer --save` (each acknowledged inference leaves its receipt) and, every few inferences,
//! uploads the model under a new id (begin, chunk, finalize).
//! Runbook: for each round, start serve, let the client run for a random time (seeded), send
//! SIGKILL, wait for the client to see the connection fail, start serve again.
//! Success criteria, after every restart: every acknowledged entry is in the log with the
//! bytes of its receipt (no sequence number reused, so no fork); the newest receipt verifies
//! against the certified head (inclusion and consistency proofs); every acknowledged upload
//! is finalized. Reported: crashes survived and entries checked.
//!
//! `ICINFER_CRASH_ROUNDS` (default 6, a minute or two: each restart of the debug build
//! loads the state twice, for the host and its query replica, and takes 5-15 s) and `ICINFER_CRASH_SEED` change the run; `scripts/crash-test.sh` runs the
//! long version (25 rounds).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DIGITS: &str = "models/digits/digits.onnx";

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

/// xorshift64*: seeded, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[derive(Clone)]
struct Env {
    home: PathBuf,
    url: String,
    port: u16,
}

impl Env {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_icinfer"));
        c.args(args)
            .current_dir(workspace())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env("ICINFER_NETWORK", &self.url)
            .env("ICINFER_STATE", self.home.join("state"))
            .env_remove("ICINFER_CANISTER")
            .env_remove("ICINFER_PEM");
        c
    }

    /// stdout of a successful run, or `None` (the server went away).
    fn try_run(&self, args: &[&str]) -> Option<String> {
        let out = self.command(args).stderr(Stdio::null()).output().unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "icinfer {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Starts serve and waits until it answers.
    fn serve(&self) -> Child {
        let ready = self.home.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let mut child = self
            .command(&[
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
                "--wasm",
                wasm().to_str().unwrap(),
                "--ready-file",
                ready.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        let started = Instant::now();
        while !ready.exists() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "serve exited before it was ready"
            );
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "serve was not ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }
}

/// What the client was told: receipts by sequence number, and finalized uploads.
#[derive(Default)]
struct Acknowledged {
    receipts: Vec<(u64, PathBuf)>,
    uploads: Vec<String>,
}

fn client_loop(env: &Env, round: u64, acked: &Mutex<Acknowledged>, stop: &AtomicBool) {
    let pixels = format!(
        "pixels=[[{}]]",
        vec![format!("{}", round as f32 / 32.0); 64].join(",")
    );
    for k in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if k % 3 == round % 2 {
            let id = format!("m{round}x{k}");
            match env.try_run(&["upload", DIGITS, "--id", &id, "--no-progress"]) {
                Some(out) if out.contains("finalized") => acked.lock().unwrap().uploads.push(id),
                _ => return,
            }
            continue;
        }
        let dir = env.home.join(format!("receipts/{round}-{k}"));
        let Some(out) = env.try_run(&[
            "infer",
            "digits",
            "-i",
            &pixels,
            "--json",
            "--save",
            dir.to_str().unwrap(),
        ]) else {
            return;
        };
        let out: serde_json::Value = serde_json::from_str(&out).unwrap();
        let seq = out["receipt"]["seq"].as_u64().expect("a receipt");
        acked.lock().unwrap().receipts.push((seq, dir));
    }
}

fn log_entries(env: &Env) -> Vec<serde_json::Value> {
    env.ok(&[
        "log", "list", "--json", "--start", "0", "--limit", "1000000",
    ])
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

#[test]
fn kill_9_at_random_points_loses_nothing_acknowledged() {
    let rounds: u64 = std::env::var("ICINFER_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(6);
    let seed: u64 = std::env::var("ICINFER_CRASH_SEED")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0x1ce_f00d);
    let mut rng = Rng(seed | 1);
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env {
        home: home.path().to_path_buf(),
        url: format!("http://127.0.0.1:{port}"),
        port,
    };
    env.ok(&["whoami"]);
    let mut server = env.serve();
    env.ok(&["upload", DIGITS, "--id", "digits", "--no-progress"]);
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut entries_checked = 0u64;
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let (env, acked, stop) = (env.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || client_loop(&env, round, &acked, &stop))
        };
        // Once the round has one acknowledged call (so every round checks something new),
        // the kill comes at a random point of what follows.
        let acknowledged = |a: &Acknowledged| a.receipts.len() + a.uploads.len();
        let before = acknowledged(&acked.lock().unwrap());
        let waiting = Instant::now();
        while acknowledged(&acked.lock().unwrap()) == before && !client.is_finished() {
            assert!(
                waiting.elapsed() < Duration::from_secs(120),
                "round {round}: no progress"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(rng.below(1000)));
        server.kill().unwrap(); // SIGKILL: no shutdown, no checkpoint
        server.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        client.join().unwrap();

        let restart = Instant::now();
        server = env.serve();
        let restarted_in = restart.elapsed();
        let log = log_entries(&env);
        let acked = acked.lock().unwrap();
        for (seq, dir) in &acked.receipts {
            let saved: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("receipt.json")).unwrap())
                    .unwrap();
            let entry = log.get(*seq as usize).unwrap_or_else(|| {
                panic!(
                    "round {round}: acknowledged entry #{seq} is missing (log size {})",
                    log.len()
                )
            });
            for field in [
                "seq",
                "model_sha256",
                "input_hash",
                "output_hash",
                "caller",
                "timestamp_ns",
            ] {
                assert_eq!(
                    entry[field], saved["entry"][field],
                    "round {round}: entry #{seq} differs from its receipt in {field}"
                );
            }
            entries_checked += 1;
        }
        if let Some((seq, dir)) = acked.receipts.last() {
            let out = env.ok(&["verify", "--receipt", dir.to_str().unwrap()]);
            assert!(
                out.contains(&format!("entry #{seq} is in the log")),
                "round {round}:\n{out}"
            );
        }
        eprintln!(
            "round {round}: {} acknowledged so far, restarted in {restarted_in:?}",
            acked.receipts.len()
        );
        let models = env.ok(&["models", "--json"]);
        let models: serde_json::Value = serde_json::from_str(&models).unwrap();
        for id in &acked.uploads {
            let m = models
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == id.as_str());
            assert!(
                m.is_some(),
                "round {round}: acknowledged upload {id} is missing"
            );
        }
    }
    server.kill().unwrap();
    let acked = acked.lock().unwrap();
    println!(
        "crashes survived: {rounds}; entries checked: {entries_checked} ({} acknowledged inferences, {} uploads)",
        acked.receipts.len(),
        acked.uploads.len()
    );
    assert!(
        (acked.receipts.len() + acked.uploads.len()) as u64 >= rounds,
        "the loop made progress"
    );
}
