//! The host counts as the replica does (issue "The host counts as the replica does"): each test
//! runs a module whose cost under the replica's rules is worked out by hand in the comments,
//! and asserts the exact count.
//!
//! The replica's rules (dfinity/ic, `instrumentation.rs`, `system_api_replacements.rs`,
//! `system_api_complexity.rs`, `wasmtime_embedder.rs`): every function's first block starts at
//! 1; `call` 5, `call_indirect` 10, `return_call` 3, constants, `drop` and stores 1,
//! `memory.grow` and `data.drop` 300, `block`/`end` 0; `msg_reply` 500 of overhead; the
//! injected `stable64_size` only its `call`; `stable64_write` 20 + 1 a byte + 1,000 a newly
//! dirtied 4 KiB page; 1,000 a dirtied heap page; installation 6,000 an instruction of the
//! instrumented module (a hundredth for a module compiled before).

mod common;
use common::*;
use icinfer_host::instrumentation::COST_TO_COMPILE_WASM_INSTRUCTION;
use icinfer_host::{HostError, ValidationError, validate_module};

/// An update that only replies costs its entry (1), the `call` (5) and `msg_reply` (500).
const REPLY: u64 = 1 + 5 + 500;

fn calls_module() -> Vec<u8> {
    wat(r#"(module
      (import "ic0" "msg_reply" (func $reply))
      (import "ic0" "stable64_size" (func $stable_size (result i64)))
      (type $void (func))
      (table 1 funcref)
      (elem (i32.const 0) $leaf)
      (memory 1)
      (data $passive "x")
      (func $leaf)
      (func $tail (return_call $leaf))
      (func (export "canister_update reply") (call $reply))
      (func (export "canister_update calls")
        (call $leaf) (call $leaf) (call $leaf)
        (call $reply))
      (func (export "canister_update indirect")
        (call_indirect (type $void) (i32.const 0))
        (call $reply))
      (func (export "canister_update tail") (call $tail) (call $reply))
      (func (export "canister_update stable_size") (drop (call $stable_size)) (call $reply))
      (func (export "canister_update grow0") (drop (memory.grow (i32.const 0))) (call $reply))
      (func (export "canister_update grow1") (drop (memory.grow (i32.const 1))) (call $reply))
      (func (export "canister_update data_drop") (data.drop $passive) (call $reply)))"#)
}

/// The instructions of an update that replies.
fn instructions(h: &mut icinfer_host::Host, id: icinfer_host::Principal, method: &str) -> u64 {
    let out = h.update_call(id, user(1), method, b"").unwrap();
    out.result.clone().unwrap();
    out.instructions
}

#[test]
fn every_function_entry_costs_one_on_top_of_the_call() {
    let (mut h, id) = host_with(&calls_module(), &[]);
    let mut run = |method: &str| instructions(&mut h, id, method);
    assert_eq!(run("reply"), REPLY);
    // Three calls of an empty function: 5 for each call and 1 for each entry.
    assert_eq!(run("calls"), REPLY + 3 * (5 + 1));
    // i32.const 1, call_indirect 10, the callee's entry 1.
    assert_eq!(run("indirect"), REPLY + 1 + 10 + 1);
    // call $tail 5, its entry 1, return_call 3, the leaf's entry 1.
    assert_eq!(run("tail"), REPLY + 5 + 1 + 3 + 1);
}

#[test]
fn stable_size_costs_only_its_call_and_heavy_operators_300() {
    let (mut h, id) = host_with(&calls_module(), &[]);
    let mut run = |method: &str| instructions(&mut h, id, method);
    // call 5 and drop 1: the replica's injected `memory.size` is not metered.
    assert_eq!(run("stable_size"), REPLY + 5 + 1);
    // i32.const 1, memory.grow 300, drop 1, whether it grows by nothing or by a page (which is
    // not dirtied by growing).
    assert_eq!(run("grow0"), REPLY + 1 + 300 + 1);
    assert_eq!(run("grow1"), REPLY + 1 + 300 + 1);
    assert_eq!(run("data_drop"), REPLY + 300);
}

fn stable_module() -> Vec<u8> {
    wat(r#"(module
      (import "ic0" "msg_reply" (func $reply))
      (import "ic0" "stable64_grow" (func $stable_grow (param i64) (result i64)))
      (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
      (memory 1)
      (func (export "canister_init") (drop (call $stable_grow (i64.const 1))))
      (func (export "canister_update write")
        ;; bytes 4090..4100: pages 0 and 1, both dirtied first here
        (call $stable_write (i64.const 4090) (i64.const 0) (i64.const 10))
        ;; bytes 4096..4104: page 1 again
        (call $stable_write (i64.const 4096) (i64.const 0) (i64.const 8))
        (call $reply))
      (func (export "canister_update nothing")
        (call $stable_write (i64.const 1000000) (i64.const 0) (i64.const 0))
        (call $reply))
      (func (export "canister_update touch_heap")
        (i32.store (i32.const 0) (i32.const 1))
        (i32.store (i32.const 4096) (i32.const 1))
        ;; bytes 8190..8194 (all four set): pages 1 and 2
        (i32.store (i32.const 8190) (i32.const -1))
        (call $reply)))"#)
}

#[test]
fn stable_writes_pay_for_each_page_they_dirty_first_in_a_message() {
    let (mut h, id) = host_with(&stable_module(), &[]);
    // Wasm: 6 i64.const and 2 calls (5 each); the writes: 20 + 10 bytes + 2 pages, then
    // 20 + 8 bytes and no new page.
    let expected = REPLY + 6 + 2 * 5 + (20 + 10 + 2 * 1_000) + (20 + 8);
    for _ in 0..2 {
        // Every message starts with no dirty page.
        let out = h.update_call(id, user(1), "write", b"").unwrap();
        out.result.clone().unwrap();
        assert_eq!(out.instructions, expected);
    }
    // A write of no bytes returns before checking its offset (which is out of bounds here).
    let out = h.update_call(id, user(1), "nothing", b"").unwrap();
    out.result.clone().unwrap();
    assert_eq!(out.instructions, REPLY + 3 + 5 + 20);
}

#[test]
fn heap_pages_a_message_dirties_cost_1000_each() {
    let (mut h, id) = host_with(&stable_module(), &[]);
    // Three stores (two consts and the store each), pages 0, 1 and 2 dirtied.
    assert_eq!(
        instructions(&mut h, id, "touch_heap"),
        REPLY + 3 * 3 + 3 * 1_000
    );
}

/// A module whose instrumented size is counted by hand below.
const COUNTED: &str = r#"(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
  (global $g (mut i32) (i32.const 0))
  (memory 1)
  (func (export "canister_update f")
    (if (global.get $g) (then (nop)))
    (call $reply))
  (func $loop (loop $l (br_if $l (i32.const 0))))
  (func $fill (memory.fill (i32.const 0) (i32.const 0) (i32.const 0)))
  (func $grow (drop (memory.grow (i32.const 0)))))"#;

/// The replica's instruction count of `COUNTED` after its instrumentation.
const COUNTED_INSTRUCTIONS: u64 = {
    // f: global.get, if, nop, end, call, end (6); its first block (to the `if`) +10, the
    // `then` (nop) +4, the block after it (the call) +4.
    let f = 6 + 10 + 4 + 4;
    // loop: loop, i32.const, br_if, end, end (5); the function's block +10, the loop's +10,
    // the blocks after (only `end`s) cost nothing and are not metered.
    let looped = 5 + 10 + 10;
    // fill: 3 consts, memory.fill, end (5); the dynamic cost before memory.fill +3, the
    // function's block +10.
    let fill = 5 + 3 + 10;
    // grow: i32.const, memory.grow, drop, end (4); +3 around memory.grow, +10.
    let grow = 4 + 3 + 10;
    // The injected counter decrement (20) and page count (46), the Wasm replacing
    // stable64_write (107), and 2 for each global: $g and the 3 counters.
    f + looped + fill + grow + 20 + 46 + 107 + 2 * 4
};

#[test]
fn installation_pays_the_compilation_charge_and_a_hundredth_for_a_known_module() {
    let m = wat(COUNTED);
    assert_eq!(
        validate_module(&m).unwrap().instrumented_instructions,
        COUNTED_INSTRUCTIONS
    );
    let full = COST_TO_COMPILE_WASM_INSTRUCTION * COUNTED_INSTRUCTIONS;
    let mut h = host();
    let first = h.create_canister(vec![controller()]);
    let out = h.install_code(first, &m, &[], controller()).unwrap();
    assert_eq!(
        (out.instructions, out.compilation_instructions),
        (full, full)
    );

    // The same module again (on another canister, or as an upgrade) was compiled before.
    let second = h.create_canister(vec![controller()]);
    let out = h.install_code(second, &m, &[], controller()).unwrap();
    assert_eq!(out.instructions, full / 100);
    let out = h.upgrade_canister(first, &m, &[], controller()).unwrap();
    assert_eq!(out.instructions, full / 100);
}

#[test]
fn the_compilation_charge_counts_against_the_install_limit() {
    let m = wat(COUNTED);
    let mut h = host();
    let mut limits = h.instruction_limits();
    limits.install = COST_TO_COMPILE_WASM_INSTRUCTION * COUNTED_INSTRUCTIONS - 1;
    h.set_instruction_limits(limits);
    let id = h.create_canister(vec![controller()]);
    let err = h.install_code(id, &m, &[], controller()).unwrap_err();
    assert!(
        matches!(&err, HostError::InstallFailed { reject, .. } if reject.message.contains("exceeded the limit")),
        "{err}"
    );
    assert!(h.module_report(id).is_none(), "the canister stays empty");
}

#[test]
fn validation_refuses_table_mutations_and_accepts_tail_calls() {
    for (instruction, code) in [
        ("table.set", "(table.set (i32.const 0) (ref.null func))"),
        (
            "table.grow",
            "(drop (table.grow (ref.null func) (i32.const 1)))",
        ),
        (
            "table.fill",
            "(table.fill (i32.const 0) (ref.null func) (i32.const 1))",
        ),
        (
            "table.copy",
            "(table.copy (i32.const 0) (i32.const 0) (i32.const 1))",
        ),
        (
            "table.init",
            "(table.init $e (i32.const 0) (i32.const 0) (i32.const 1))",
        ),
    ] {
        let m = wat(&format!(
            r#"(module (table 2 funcref) (elem $e func $f) (func $f) (func {code}))"#
        ));
        assert_eq!(
            validate_module(&m).unwrap_err(),
            ValidationError::UnsupportedInstruction {
                function: 1,
                instruction
            },
            "{instruction}"
        );
    }
    let tail = wat(r#"(module (func $f) (func (return_call $f)))"#);
    validate_module(&tail).unwrap();
}

fn exports_module(names: impl Iterator<Item = String>) -> Vec<u8> {
    let exports: String = names
        .map(|n| format!(r#"(export "{n}" (func $f))"#))
        .collect();
    wat(&format!("(module (func $f) {exports})"))
}

#[test]
fn only_canister_methods_count_against_the_export_limit() {
    let helpers = exports_module((0..1_500).map(|i| format!("helper_{i}")));
    assert_eq!(validate_module(&helpers).unwrap().exports, 1_500);
    let methods = exports_module((0..1_001).map(|i| format!("canister_query q{i}")));
    assert!(matches!(
        validate_module(&methods).unwrap_err(),
        ValidationError::LimitExceeded {
            what: "number of exported canister methods",
            actual: 1_001,
            limit: 1_000
        }
    ));
    // The `canister_` prefix is the IC's: an unknown entry point is refused.
    let reserved = exports_module(std::iter::once("canister_nonsense".to_string()));
    assert!(matches!(
        validate_module(&reserved).unwrap_err(),
        ValidationError::InvalidExport { name, .. } if name == "canister_nonsense"
    ));
}

/// A module with `functions` bodies of `nops` `nop`s each, built as bytes (WAT text of
/// this size would be slow).
fn code_of(functions: usize, nops: usize) -> Vec<u8> {
    use wasm_encoder::{CodeSection, FunctionSection, Module, TypeSection};
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut body = vec![0u8]; // no locals
    body.resize(1 + nops, 0x01);
    body.push(0x0b);
    for _ in 0..functions {
        funcs.function(0);
        code.raw(&body);
    }
    let mut m = Module::new();
    m.section(&types).section(&funcs).section(&code);
    m.finish()
}

#[test]
fn the_code_section_may_hold_12_mib_as_in_current_replicas() {
    const MIB: usize = 1024 * 1024;
    // 11 functions of just under 1 MiB each: about 11 MiB, over the old 10 MiB limit.
    let eleven = code_of(11, MIB - 8);
    let report = validate_module(&eleven).unwrap();
    assert!(report.code_section_bytes > 10 * MIB + MIB / 2);
    let thirteen = code_of(13, MIB - 8);
    assert!(matches!(
        validate_module(&thirteen).unwrap_err(),
        ValidationError::LimitExceeded { what: "code section size", limit, .. } if limit == 12 * MIB
    ));
}
