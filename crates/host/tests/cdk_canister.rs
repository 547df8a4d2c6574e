//! Realistic behaviour with the ic-cdk test canister (`crates/host/test-canister`).

mod common;
use candid::{Decode, Encode, Principal};
use common::*;
use icinfer_host::{CanisterStatus, Host, HostConfig, HostError, InstructionLimits, RejectCode};
use std::time::Duration;

fn setup() -> (Host, Principal) {
    host_with(
        &test_canister_wasm(),
        &Encode!(&Some("hello init".to_string())).unwrap(),
    )
}

fn call<T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
    h: &mut Host,
    id: Principal,
    method: &str,
    arg: Vec<u8>,
) -> T {
    let bytes = h
        .update_call(id, user(1), method, &arg)
        .unwrap()
        .unwrap_reply();
    Decode!(&bytes, T).unwrap()
}

fn query<T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
    h: &mut Host,
    id: Principal,
    method: &str,
    arg: Vec<u8>,
) -> T {
    let bytes = h
        .query_call(id, user(1), method, &arg)
        .unwrap()
        .unwrap_reply();
    Decode!(&bytes, T).unwrap()
}

#[test]
fn init_args_queries_and_callers() {
    let (mut h, id) = setup();
    assert_eq!(
        query::<Option<String>>(&mut h, id, "init_arg", Encode!().unwrap()),
        Some("hello init".into())
    );
    assert_eq!(
        query::<String>(&mut h, id, "greet", Encode!(&"IC").unwrap()),
        "Hello, IC!"
    );
    for caller in [Principal::anonymous(), user(7), id] {
        let q = h
            .query_call(id, caller, "whoami", &Encode!().unwrap())
            .unwrap()
            .unwrap_reply();
        assert_eq!(Decode!(&q, Principal).unwrap(), caller);
        let u = h
            .update_call(id, caller, "whoami_update", &Encode!().unwrap())
            .unwrap()
            .unwrap_reply();
        assert_eq!(Decode!(&u, Principal).unwrap(), caller);
    }
}

#[test]
fn trap_rolls_back_heap_stable_and_certified_data() {
    let (mut h, id) = setup();
    call::<()>(&mut h, id, "set_heap", Encode!(&5u64).unwrap());
    call::<()>(
        &mut h,
        id,
        "set_certified",
        Encode!(&vec![1u8, 2, 3]).unwrap(),
    );
    let r = h
        .update_call(id, user(1), "write_then_trap", &Encode!(&99u64).unwrap())
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(
        r.message.contains("deliberate trap after writing 99"),
        "{}",
        r.message
    );
    assert_eq!(query::<u64>(&mut h, id, "get_heap", Encode!().unwrap()), 5);
    assert_eq!(
        query::<u64>(&mut h, id, "stable_pages", Encode!().unwrap()),
        0
    );
    assert_eq!(h.canister_state(id).unwrap().certified_data, [1, 2, 3]);
    assert!(
        h.logs(id)
            .iter()
            .any(|l| l.content.contains("[TRAP]") && l.content.contains("deliberate trap"))
    );
}

#[test]
fn instruction_limit_overrun_and_performance_counter() {
    let (mut h, id) = setup();
    let out = h
        .update_call(id, user(1), "perf", &Encode!(&1000u64).unwrap())
        .unwrap();
    let (a, b, c) = Decode!(&out.result.clone().unwrap(), u64, u64, u64).unwrap();
    assert!(
        a < b && b < c && c <= out.instructions,
        "{a} {b} {c} {}",
        out.instructions
    );

    h.set_instruction_limits(InstructionLimits {
        update: 10_000_000,
        ..InstructionLimits::default()
    });
    let out = h
        .update_call(id, user(1), "burn", &Encode!(&100_000_000u64).unwrap())
        .unwrap();
    let r = out.result.unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(
        r.message
            .contains("exceeded the limit of 10000000 instructions"),
        "{}",
        r.message
    );
    assert_eq!(
        query::<u64>(&mut h, id, "counter", Encode!().unwrap()),
        0,
        "the increment was rolled back"
    );
    call::<u64>(&mut h, id, "burn", Encode!(&10u64).unwrap());
    assert_eq!(query::<u64>(&mut h, id, "counter", Encode!().unwrap()), 1);
}

#[test]
fn queries_never_commit() {
    let (mut h, id) = setup();
    assert_eq!(
        query::<u64>(&mut h, id, "query_mutates", Encode!(&42u64).unwrap()),
        42
    );
    assert_eq!(query::<u64>(&mut h, id, "get_heap", Encode!().unwrap()), 0);
}

#[test]
fn upgrade_keeps_stable_memory_resets_heap_and_runs_hooks() {
    let (mut h, id) = setup();
    let wasm = test_canister_wasm();
    call::<()>(
        &mut h,
        id,
        "stable_put",
        Encode!(&10u64, &b"persist".to_vec()).unwrap(),
    );
    call::<()>(&mut h, id, "set_heap", Encode!(&77u64).unwrap());
    let version = h.canister_state(id).unwrap().version;

    let err = h
        .upgrade_canister(
            id,
            &wasm,
            &Encode!(&Some("up".to_string())).unwrap(),
            user(9),
        )
        .unwrap_err();
    assert!(matches!(err, HostError::NotController { .. }), "{err}");

    h.upgrade_canister(
        id,
        &wasm,
        &Encode!(&Some("up".to_string())).unwrap(),
        controller(),
    )
    .unwrap();
    assert_eq!(h.canister_state(id).unwrap().version, version + 1);
    assert_eq!(
        query::<u64>(&mut h, id, "get_heap", Encode!().unwrap()),
        0,
        "fresh heap"
    );
    assert_eq!(
        query::<Vec<u8>>(&mut h, id, "stable_get", Encode!(&10u64, &7u64).unwrap()),
        b"persist"
    );
    let bytes = h
        .query_call(id, user(1), "upgrade_info", &Encode!().unwrap())
        .unwrap()
        .unwrap_reply();
    let (arg, seen) = Decode!(&bytes, Option<String>, Option<String>).unwrap();
    assert_eq!(arg.as_deref(), Some("up"));
    assert_eq!(seen.as_deref(), Some("pre_upgrade ran"));
    assert_eq!(
        query::<Option<String>>(&mut h, id, "init_arg", Encode!().unwrap()),
        None,
        "init does not run on upgrade"
    );

    // A failing post_upgrade (bad argument) leaves the canister as it was.
    call::<()>(&mut h, id, "set_heap", Encode!(&5u64).unwrap());
    let err = h
        .upgrade_canister(id, &wasm, b"not candid", controller())
        .unwrap_err();
    assert!(
        matches!(
            &err,
            HostError::InstallFailed {
                method: "canister_post_upgrade",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(query::<u64>(&mut h, id, "get_heap", Encode!().unwrap()), 5);
    assert_eq!(h.canister_state(id).unwrap().version, version + 1);
}

#[test]
fn inter_canister_calls_commit_at_the_await() {
    let mut h = host();
    let wasm = test_canister_wasm();
    let a = h.create_canister(vec![controller()]);
    let b = h.create_canister(vec![controller()]);
    for id in [a, b] {
        h.install_code(id, &wasm, &Encode!(&None::<String>).unwrap(), controller())
            .unwrap();
    }
    type R = Result<Vec<u8>, (u32, String)>;

    // Reply.
    let r: R = call(
        &mut h,
        a,
        "call_other",
        Encode!(&b, &"greet", &Encode!(&"A").unwrap()).unwrap(),
    );
    assert_eq!(Decode!(&r.unwrap(), String).unwrap(), "Hello, A!");
    // The callee sees the calling canister as its caller.
    let r: R = call(
        &mut h,
        a,
        "call_other",
        Encode!(&b, &"whoami_update", &Encode!().unwrap()).unwrap(),
    );
    assert_eq!(Decode!(&r.unwrap(), Principal).unwrap(), a);

    // Callee traps: reject code 5, and the caller's state before the await is committed.
    let before = query::<u64>(&mut h, a, "counter", Encode!().unwrap());
    let r: R = call(
        &mut h,
        a,
        "call_other",
        Encode!(&b, &"callee_trap", &Encode!().unwrap()).unwrap(),
    );
    let (code, msg) = r.unwrap_err();
    assert_eq!(code, RejectCode::CanisterError as u32);
    assert!(msg.contains("callee trapped on purpose"), "{msg}");
    assert_eq!(
        query::<u64>(&mut h, a, "counter", Encode!().unwrap()),
        before + 1
    );

    // Explicit reject: code 4.
    let r: R = call(
        &mut h,
        a,
        "call_other",
        Encode!(&b, &"callee_reject", &Encode!().unwrap()).unwrap(),
    );
    assert_eq!(r.unwrap_err(), (4, "rejected on purpose".to_string()));

    // Nonexistent canister: DestinationInvalid (3).
    let ghost = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 99, 1, 1]);
    let r: R = call(
        &mut h,
        a,
        "call_other",
        Encode!(&ghost, &"greet", &Encode!(&"x").unwrap()).unwrap(),
    );
    let (code, msg) = r.unwrap_err();
    assert_eq!(code, RejectCode::DestinationInvalid as u32);
    assert!(msg.contains("not found"), "{msg}");

    // Missing method: code 5.
    let r: R = call(
        &mut h,
        a,
        "call_other",
        Encode!(&b, &"nope", &Encode!().unwrap()).unwrap(),
    );
    assert_eq!(r.unwrap_err().0, RejectCode::CanisterError as u32);

    // Trap in the callback: the part before the await stays, the part after is rolled back.
    let before = query::<u64>(&mut h, a, "counter", Encode!().unwrap());
    let out = h
        .update_call(a, user(1), "call_then_trap", &Encode!(&b).unwrap())
        .unwrap();
    let r = out.result.unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(r.message.contains("trap in the callback"), "{}", r.message);
    assert_eq!(
        query::<u64>(&mut h, a, "counter", Encode!().unwrap()),
        before + 1
    );
    assert!(
        out.instructions > out.message_instructions,
        "callback instructions are counted"
    );
}

#[test]
fn timers_fire_after_advance_time_and_tick() {
    let (mut h, id) = setup();
    call::<()>(&mut h, id, "schedule_timer", Encode!(&10u64).unwrap());
    h.tick();
    assert_eq!(
        query::<u64>(&mut h, id, "timer_fired", Encode!().unwrap()),
        0
    );
    h.advance_time(Duration::from_secs(5));
    h.tick();
    assert_eq!(
        query::<u64>(&mut h, id, "timer_fired", Encode!().unwrap()),
        0
    );
    h.advance_time(Duration::from_secs(6));
    h.tick();
    assert_eq!(
        query::<u64>(&mut h, id, "timer_fired", Encode!().unwrap()),
        1
    );
    assert!(h.logs(id).iter().any(|l| l.content == "timer fired"));
    h.advance_time(Duration::from_secs(60));
    h.tick();
    assert_eq!(
        query::<u64>(&mut h, id, "timer_fired", Encode!().unwrap()),
        1,
        "a one-shot timer fires once"
    );
}

#[test]
fn time_is_controlled_and_strictly_increasing() {
    let (mut h, id) = setup();
    let t1 = query::<u64>(&mut h, id, "now", Encode!().unwrap());
    assert_eq!(t1, h.time_ns());
    call::<()>(&mut h, id, "set_heap", Encode!(&1u64).unwrap());
    let t2 = query::<u64>(&mut h, id, "now", Encode!().unwrap());
    assert!(t2 > t1);
    h.advance_time(Duration::from_secs(3600));
    let t3 = query::<u64>(&mut h, id, "now", Encode!().unwrap());
    assert_eq!(t3 - t2, 3_600_000_000_000);
}

#[test]
fn payload_size_limits() {
    let (mut h, id) = setup();
    let big = vec![0u8; 2 * 1024 * 1024 + 1];
    let err = h.update_call(id, user(1), "log", &big).unwrap_err();
    assert!(matches!(err, HostError::PayloadTooLarge { .. }), "{err}");

    // A 2.5 MiB reply is fine for a query (3 MiB) but not for an update (2 MiB).
    let n = 5 * 512 * 1024u64;
    assert_eq!(
        query::<Vec<u8>>(&mut h, id, "blob", Encode!(&n).unwrap()).len() as u64,
        n
    );
    let r = h
        .update_call(id, user(1), "blob_update", &Encode!(&n).unwrap())
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(
        r.message.contains("cannot be larger than 2097152"),
        "{}",
        r.message
    );
    let r = h
        .query_call(
            id,
            user(1),
            "blob",
            &Encode!(&(4 * 1024 * 1024u64)).unwrap(),
        )
        .unwrap()
        .result
        .unwrap_err();
    assert!(
        r.message.contains("cannot be larger than 3145728"),
        "{}",
        r.message
    );

    // An inter-canister request over 2 MiB traps in the caller.
    let b = h.create_canister(vec![controller()]);
    h.install_code(
        b,
        &test_canister_wasm(),
        &Encode!(&None::<String>).unwrap(),
        controller(),
    )
    .unwrap();
    let arg = Encode!(&b, &"log", &vec![1u8; 2 * 1024 * 1024 + 10]).unwrap();
    let err = h.update_call(id, user(1), "call_other", &arg).unwrap_err();
    assert!(
        matches!(err, HostError::PayloadTooLarge { .. }),
        "the ingress itself is too large: {err}"
    );
}

#[test]
fn certificate_verifies_against_the_root_key() {
    let (mut h, id) = setup();
    call::<()>(
        &mut h,
        id,
        "set_certified",
        Encode!(&b"abc".to_vec()).unwrap(),
    );
    h.advance_time(Duration::from_secs(1));
    let cert = query::<Option<Vec<u8>>>(&mut h, id, "certificate", Encode!().unwrap())
        .expect("queries get a certificate");
    assert_eq!(&cert[..3], &[0xd9, 0xd9, 0xf7], "self-describing CBOR tag");

    // Decode: { tree, signature }.
    let value: ciborium::Value = ciborium::from_reader(&cert[..]).unwrap();
    let map = match value {
        ciborium::Value::Tag(55799, inner) => inner.into_map().unwrap(),
        other => panic!("not tagged: {other:?}"),
    };
    let field = |name: &str| {
        map.iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let signature = field("signature").into_bytes().unwrap();
    assert_eq!(signature.len(), 48);
    // serde_cbor: pruned nodes deserialise from borrowed bytes, which ciborium's reader
    // cannot lend.
    let parsed: ic_certification::Certificate = serde_cbor::from_slice(&cert[3..]).unwrap();
    let root = parsed.tree.digest();

    let der = h.root_key_der();
    assert_eq!(der.len(), 133);
    let mut msg = b"\x0Dic-state-root".to_vec();
    msg.extend_from_slice(&root);
    ic_verify_bls_signature::verify_bls_signature(&signature, &msg, &der[37..])
        .expect("signature verifies");
    let mut tampered = msg.clone();
    tampered[20] ^= 1;
    assert!(
        ic_verify_bls_signature::verify_bls_signature(&signature, &tampered, &der[37..]).is_err()
    );

    use ic_certification::LookupResult;
    let data = parsed.tree.lookup_path([
        b"canister".as_slice(),
        id.as_slice(),
        b"certified_data".as_slice(),
    ]);
    assert_eq!(data, LookupResult::Found(b"abc"));
    let time = parsed.tree.lookup_path([b"time".as_slice()]);
    assert_eq!(
        time,
        LookupResult::Found(&icinfer_host::certificate::leb128(h.time_ns())[..])
    );

    // Same seed, same key: stable across restarts.
    assert_eq!(Host::new(HostConfig::default()).root_key_der(), der);
    assert_ne!(
        Host::new(HostConfig {
            seed: b"other".to_vec(),
            ..HostConfig::default()
        })
        .root_key_der(),
        der
    );
    // Updates get no certificate.
    assert_eq!(
        call::<Option<Vec<u8>>>(&mut h, id, "certificate", Encode!().unwrap()),
        None
    );
}

#[test]
fn stop_and_start() {
    let (mut h, id) = setup();
    assert!(matches!(
        h.stop_canister(id, user(3)),
        Err(HostError::NotController { .. })
    ));
    h.stop_canister(id, controller()).unwrap();
    assert_eq!(h.canister_status(id).unwrap(), CanisterStatus::Stopped);
    let r = h
        .update_call(id, user(1), "set_heap", &Encode!(&1u64).unwrap())
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(r.message.contains("is stopped"), "{}", r.message);
    assert!(
        h.query_call(id, user(1), "get_heap", &Encode!().unwrap())
            .unwrap()
            .result
            .is_err()
    );
    h.start_canister(id, controller()).unwrap();
    call::<()>(&mut h, id, "set_heap", Encode!(&1u64).unwrap());
    assert_eq!(query::<u64>(&mut h, id, "get_heap", Encode!().unwrap()), 1);
}

#[test]
fn raw_rand_is_deterministic_from_the_seed() {
    let (mut h1, a) = setup();
    let (mut h2, b) = setup();
    let x1: Vec<u8> = call(&mut h1, a, "random", Encode!().unwrap());
    let x2: Vec<u8> = call(&mut h1, a, "random", Encode!().unwrap());
    let y1: Vec<u8> = call(&mut h2, b, "random", Encode!().unwrap());
    assert_eq!(x1.len(), 32);
    assert_ne!(x1, x2);
    assert_eq!(x1, y1);
}

#[test]
fn logs_capture_debug_print_and_traps() {
    let (mut h, id) = setup();
    call::<()>(&mut h, id, "log", Encode!(&"hello log").unwrap());
    let logs = h.logs(id);
    assert!(logs.iter().any(|l| l.content == "hello log"));
    assert!(logs.windows(2).all(|w| w[0].idx < w[1].idx));
}

#[test]
fn compiled_modules_are_cached_on_disk() {
    let dir = std::env::temp_dir().join(format!("icinfer-host-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut h = Host::new(HostConfig {
        module_cache_dir: Some(dir.clone()),
        ..HostConfig::default()
    });
    let id = h.create_canister(vec![controller()]);
    // A module no other test compiles, so the process-wide cache does not already hold it.
    let m = module(r#"(func (export "canister_update cache_probe") (call $reply))"#);
    h.install_code(id, &m, &[], controller()).unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].file_name().to_string_lossy().ends_with(".cwasm"));
    let _ = std::fs::remove_dir_all(&dir);
}
