//! Precise semantics on hand-written modules: replies, rejects, rollback, instruction counts.

mod common;
use common::*;
use icinfer_host::{HostError, InstructionLimits, RejectCode, ValidationError};

const BASIC: &str = r#"
  (data (i32.const 0) "reject reason")
  (func (export "canister_update echo") (call $echo))
  (func (export "canister_query echo_q") (call $echo))
  (func (export "canister_update reject") (call $reject (i32.const 0) (i32.const 13)))
  (func (export "canister_update noreply"))
  (func (export "canister_update reply_only") (call $reply))
  ;; state: memory byte 512, global $g, stable memory byte 0, certified data
  (func $read_state
    (call $stable_read (i64.const 600) (i64.const 0) (i64.const 1))
    (i32.store8 (i32.const 601) (global.get $g))
    (call $reply_append (i32.const 512) (i32.const 1))
    (call $reply_append (i32.const 600) (i32.const 2))
    (call $reply))
  (func (export "canister_query read") (call $read_state))
  (func (export "canister_init")
    (drop (call $stable_grow (i64.const 1))))
  (func $mutate
    (i32.store8 (i32.const 512) (i32.const 9))
    (global.set $g (i32.const 9))
    (i32.store8 (i32.const 700) (i32.const 9))
    (call $stable_write (i64.const 0) (i64.const 700) (i64.const 1))
    (call $certify (i32.const 700) (i32.const 1)))
  (func (export "canister_update mutate") (call $mutate) (call $reply))
  (func (export "canister_update mutate_then_trap")
    (call $mutate)
    (drop (memory.grow (i32.const 3)))
    (drop (call $stable_grow (i64.const 5)))
    unreachable)
  (func (export "canister_update mutate_then_loop")
    (call $mutate)
    (loop $l (br $l)))
  (func (export "canister_query mutate_in_query") (call $mutate) (call $read_state))
"#;

#[test]
fn reply_reject_and_no_reply() {
    let (mut h, id) = host_with(&module(BASIC), &[]);
    let out = h.update_call(id, user(1), "echo", b"hello").unwrap();
    assert_eq!(out.result.unwrap(), b"hello");
    let out = h.query_call(id, user(1), "echo_q", b"q").unwrap();
    assert_eq!(out.result.unwrap(), b"q");

    let r = h
        .update_call(id, user(1), "reject", b"")
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterReject);
    assert_eq!(r.message, "reject reason");

    let r = h
        .update_call(id, user(1), "noreply", b"")
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(r.message.contains("did not reply"), "{}", r.message);

    let r = h
        .update_call(id, user(1), "nope", b"")
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(
        r.message.contains("has no update method 'nope'"),
        "{}",
        r.message
    );
}

#[test]
fn trap_rolls_back_heap_globals_stable_and_certified_data() {
    let (mut h, id) = host_with(&module(BASIC), &[]);
    let before = h
        .query_call(id, user(1), "read", b"")
        .unwrap()
        .unwrap_reply();
    assert_eq!(before, [0, 0, 7]);
    let heap_before = h.heap_size(id).unwrap();

    let r = h
        .update_call(id, user(1), "mutate_then_trap", b"")
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(r.message.contains("Canister trapped"), "{}", r.message);
    assert_eq!(
        h.query_call(id, user(1), "read", b"")
            .unwrap()
            .unwrap_reply(),
        before
    );
    assert_eq!(
        h.heap_size(id).unwrap(),
        heap_before,
        "memory.grow rolled back"
    );
    let state = h.canister_state(id).unwrap();
    assert!(state.certified_data.is_empty());
    assert_eq!(
        state.stable_memory.size_pages(),
        1,
        "stable grow rolled back"
    );

    // The same changes without the trap are kept.
    h.update_call(id, user(1), "mutate", b"")
        .unwrap()
        .unwrap_reply();
    assert_eq!(
        h.query_call(id, user(1), "read", b"")
            .unwrap()
            .unwrap_reply(),
        [9, 9, 9]
    );
    assert_eq!(h.canister_state(id).unwrap().certified_data, [9]);
}

#[test]
fn instruction_limit_overrun_rolls_back_and_canister_keeps_serving() {
    let (mut h, id) = host_with(&module(BASIC), &[]);
    h.set_instruction_limits(InstructionLimits {
        update: 1_000_000,
        ..InstructionLimits::default()
    });
    let out = h.update_call(id, user(1), "mutate_then_loop", b"").unwrap();
    let r = out.result.unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(
        r.message
            .contains("exceeded the limit of 1000000 instructions"),
        "{}",
        r.message
    );
    assert_eq!(out.instructions, 1_000_000);
    assert_eq!(
        h.query_call(id, user(1), "read", b"")
            .unwrap()
            .unwrap_reply(),
        [0, 0, 7]
    );
    assert_eq!(
        h.update_call(id, user(1), "echo", b"ok")
            .unwrap()
            .unwrap_reply(),
        b"ok"
    );
    assert!(
        h.logs(id)
            .iter()
            .any(|l| l.content.contains("exceeded the limit"))
    );
}

#[test]
fn queries_never_commit() {
    let (mut h, id) = host_with(&module(BASIC), &[]);
    let seen = h.query_call(id, user(1), "mutate_in_query", b"").unwrap();
    // certified_data_set is not allowed in a query: the query traps.
    let r = seen.result.unwrap_err();
    assert!(
        r.message.contains("ic0_certified_data_set"),
        "{}",
        r.message
    );
    assert_eq!(
        h.query_call(id, user(1), "read", b"")
            .unwrap()
            .unwrap_reply(),
        [0, 0, 7]
    );

    // A query method called as an update (replicated query) does not keep changes either.
    let m = module(
        r#"(func (export "canister_query bump")
             (i32.store8 (i32.const 512) (i32.add (i32.load8_u (i32.const 512)) (i32.const 1)))
             (call $reply_append (i32.const 512) (i32.const 1)) (call $reply))"#,
    );
    let (mut h, id) = host_with(&m, &[]);
    assert_eq!(
        h.update_call(id, user(1), "bump", b"")
            .unwrap()
            .unwrap_reply(),
        [1]
    );
    assert_eq!(
        h.update_call(id, user(1), "bump", b"")
            .unwrap()
            .unwrap_reply(),
        [1]
    );
    assert_eq!(
        h.query_call(id, user(1), "bump", b"")
            .unwrap()
            .unwrap_reply(),
        [1]
    );
}

#[test]
fn instruction_count_of_a_minimal_reply_is_exact() {
    let (mut h, id) = host_with(&module(BASIC), &[]);
    let out = h.update_call(id, user(1), "reply_only", b"").unwrap();
    out.result.clone().unwrap();
    // The function's entry (1), `call $reply`: call (5) + msg_reply's System API overhead (500).
    assert_eq!(out.instructions, 506);
    assert_eq!(out.message_instructions, 506);
}

fn loop_module(op: &str) -> Vec<u8> {
    module(&format!(
        r#"(func (export "canister_update run") (local $i i32) (local $x f32)
             (local.set $x (f32.const 3.5))
             (call $arg_copy (i32.const 0) (i32.const 0) (i32.const 4))
             (local.set $i (i32.load (i32.const 0)))
             (loop $l
               (local.set $x ({op} (local.get $x) (f32.const 1.0001)))
               (local.set $i (i32.sub (local.get $i) (i32.const 1)))
               (br_if $l (local.get $i)))
             (call $reply))"#
    ))
}

#[test]
fn operator_weights_follow_the_replica_table() {
    for (op, per_iteration) in [
        ("f32.div", 13u64),
        ("f32.add", 12),
        ("f32.mul", 12),
        ("f32.min", 28),
    ] {
        let (mut h, id) = host_with(&loop_module(op), &[]);
        let run = |h: &mut icinfer_host::Host, n: u32| {
            h.update_call(id, user(1), "run", &n.to_le_bytes())
                .unwrap()
                .instructions
        };
        let a = run(&mut h, 1000);
        let b = run(&mut h, 2000);
        // local.get 1, f32.const 1, op w, local.set 1, local.get 1, i32.const 1, i32.sub 1,
        // local.set 1, local.get 1, br_if 2  =  10 + w
        assert_eq!(b - a, 1000 * per_iteration, "{op}");
    }
}

#[test]
fn performance_counter_is_monotonic_and_matches_the_reported_count() {
    let m = module(
        r#"(func (export "canister_update perf")
             (i64.store (i32.const 0) (call $perf (i32.const 0)))
             (i64.store (i32.const 8) (call $perf (i32.const 0)))
             (i64.store (i32.const 16) (call $perf (i32.const 1)))
             (call $reply_append (i32.const 0) (i32.const 24))
             (call $reply))"#,
    );
    let (mut h, id) = host_with(&m, &[]);
    let out = h.update_call(id, user(1), "perf", b"").unwrap();
    let reply = out.result.clone().unwrap();
    let n = |i: usize| u64::from_le_bytes(reply[i * 8..i * 8 + 8].try_into().unwrap());
    let (a, b, c) = (n(0), n(1), n(2));
    assert!(a >= 200 && a < b && b < c, "{a} {b} {c}");
    // Each reading costs the call (5), the overhead (200) and the i32.const/i64.store around it.
    assert_eq!(b - a, 5 + 200 + 1 + 1 + 1);
    // After the last reading: i64.store; reply_append's two consts, call (5), overhead 500 and
    // 50 per byte; reply: call (5) + 500; after the run, 1,000 for the heap page the readings
    // were stored in.
    assert_eq!(
        out.instructions,
        c + 1 + 2 + 5 + 500 + 50 * 24 + 5 + 500 + 1_000
    );
}

#[test]
fn missing_import_is_rejected_by_name() {
    let m =
        wat(r#"(module (import "ic0" "mint_cycles128" (func (param i64 i64 i32))) (memory 1))"#);
    let mut h = host();
    let id = h.create_canister(vec![controller()]);
    let err = h.install_code(id, &m, &[], controller()).unwrap_err();
    assert!(
        matches!(&err, HostError::UnsupportedImport { name, .. } if name == "mint_cycles128"),
        "{err}"
    );
    assert!(err.to_string().contains("ic0.mint_cycles128"), "{err}");

    let m = wat(r#"(module (import "env" "foo" (func)) (memory 1))"#);
    let err = h.install_code(id, &m, &[], controller()).unwrap_err();
    assert!(err.to_string().contains("env.foo"), "{err}");

    let m = wat(r#"(module (import "ic0" "no_such_api" (func)) (memory 1))"#);
    let err = h.install_code(id, &m, &[], controller()).unwrap_err();
    assert!(err.to_string().contains("ic0.no_such_api"), "{err}");

    let m = wat(r#"(module (import "ic0" "msg_reply" (func (param i32))) (memory 1))"#);
    let err = h.install_code(id, &m, &[], controller()).unwrap_err();
    assert!(err.to_string().contains("ic0.msg_reply"), "{err}");
}

#[test]
fn validation_limits_and_gzip() {
    let globals: String = (0..1001)
        .map(|i| format!("(global $g{i} i32 (i32.const {i}))"))
        .collect();
    let err = icinfer_host::validate_module(&wat(&format!("(module {globals})"))).unwrap_err();
    assert_eq!(
        err,
        ValidationError::LimitExceeded {
            what: "number of globals",
            actual: 1001,
            limit: 1000
        }
    );

    // Only canister methods count against the export limit (other exports: see
    // replica_counting.rs).
    let exports: String = (0..1001)
        .map(|i| format!("(export \"canister_update e{i}\" (func $f))"))
        .collect();
    let err =
        icinfer_host::validate_module(&wat(&format!("(module (func $f) {exports})"))).unwrap_err();
    assert_eq!(
        err,
        ValidationError::LimitExceeded {
            what: "number of exported canister methods",
            actual: 1001,
            limit: 1000
        }
    );

    let err = icinfer_host::validate_module(&wat(
        r#"(module (func (export "canister_update f") (param i32)))"#,
    ))
    .unwrap_err();
    assert!(
        matches!(err, ValidationError::InvalidExport { .. }),
        "{err}"
    );

    let err = icinfer_host::validate_module(&wat(r#"(module (memory 1 1 shared))"#)).unwrap_err();
    assert!(
        matches!(err, ValidationError::InvalidWasm(_)),
        "threads are off: {err}"
    );

    // gzip is accepted, and measured like the raw module.
    let raw = module(BASIC);
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        enc.write_all(&raw).unwrap();
        enc.finish().unwrap();
    }
    let a = icinfer_host::validate_module(&raw).unwrap();
    let b = icinfer_host::validate_module(&gz).unwrap();
    assert!(b.gzipped && !a.gzipped);
    assert_eq!(
        (a.functions, a.globals, a.exports, a.code_section_bytes),
        (b.functions, b.globals, b.exports, b.code_section_bytes)
    );
    assert!(a.update_methods.contains(&"echo".to_string()));
    assert!(a.query_methods.contains(&"read".to_string()));
    let (mut h, id) = host_with(&gz, &[]);
    assert_eq!(
        h.update_call(id, user(1), "echo", b"gz")
            .unwrap()
            .unwrap_reply(),
        b"gz"
    );
}

#[test]
fn call_on_cleanup_runs_after_a_trapping_callback() {
    // Canister A calls B's "echo"; A's reply callback marks byte 101 then traps; the cleanup
    // callback marks byte 100. B's id comes as the argument.
    let a = module(
        r#"(data (i32.const 200) "echo")
           (table 3 funcref)
           (elem (i32.const 0) $on_reply $on_reject $on_cleanup)
           (func $on_reply (param i32) (i32.store8 (i32.const 101) (i32.const 1)) unreachable)
           (func $on_reject (param i32) (i32.store8 (i32.const 102) (i32.const 1)))
           (func $on_cleanup (param i32) (i32.store8 (i32.const 100) (local.get 0)))
           (func (export "canister_update go")
             (call $arg_copy (i32.const 300) (i32.const 0) (call $arg_size))
             (call $call_new (i32.const 300) (call $arg_size) (i32.const 200) (i32.const 4)
                             (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0))
             (call $call_on_cleanup (i32.const 2) (i32.const 42))
             (call $call_data_append (i32.const 200) (i32.const 4))
             (drop (call $call_perform)))
           (func (export "canister_query marks")
             (call $reply_append (i32.const 100) (i32.const 3)) (call $reply))"#,
    );
    let mut h = host();
    let ida = h.create_canister(vec![controller()]);
    let idb = h.create_canister(vec![controller()]);
    h.install_code(ida, &a, &[], controller()).unwrap();
    h.install_code(idb, &module(BASIC), &[], controller())
        .unwrap();
    let r = h
        .update_call(ida, user(1), "go", idb.as_slice())
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterError);
    assert!(r.message.contains("Canister trapped"), "{}", r.message);
    assert_eq!(
        h.query_call(ida, user(1), "marks", b"")
            .unwrap()
            .unwrap_reply(),
        [42, 0, 0]
    );
}

#[test]
fn inspect_message_filters_ingress_but_not_queries() {
    // Accepts only messages whose first argument byte is 1.
    let m = wat(r#"(module
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "accept_message" (func $accept))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  (func (export "canister_inspect_message")
    (call $arg_copy (i32.const 0) (i32.const 0) (i32.const 1))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 1)) (then (call $accept))))
  (func (export "canister_update go") (call $reply))
  (func (export "canister_query q") (call $reply)))"#);
    let (mut h, id) = host_with(&m, &[]);
    h.update_call(id, user(1), "go", &[1])
        .unwrap()
        .result
        .unwrap();
    let r = h
        .update_call(id, user(1), "go", &[2])
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(r.code, RejectCode::CanisterReject);
    assert!(
        r.message.contains("canister_inspect_message"),
        "{}",
        r.message
    );
    h.query_call(id, user(1), "q", &[2])
        .unwrap()
        .result
        .unwrap();
}

#[test]
fn every_provided_system_api_function_links_with_its_spec_signature() {
    use icinfer_host::ic0::{IC0_FUNCTIONS, Ty};
    let ty = |t: &Ty| match t {
        Ty::I32 => "i32",
        Ty::I64 => "i64",
    };
    let imports: String = IC0_FUNCTIONS
        .iter()
        .filter(|f| f.provided)
        .map(|f| {
            let params: Vec<_> = f.params.iter().map(ty).collect();
            let results: Vec<_> = f.results.iter().map(ty).collect();
            format!(
                "(import \"ic0\" \"{}\" (func (param {}) (result {})))\n",
                f.name,
                params.join(" "),
                results.join(" ")
            )
        })
        .collect();
    let m = wat(&format!(
        "(module {imports} (memory (export \"memory\") 1))"
    ));
    let report = icinfer_host::validate_module(&m).unwrap();
    assert_eq!(
        report.imports.len(),
        IC0_FUNCTIONS.iter().filter(|f| f.provided).count()
    );
    let mut h = host();
    let id = h.create_canister(vec![controller()]);
    h.install_code(id, &m, &[], controller()).unwrap();
}
