//! The per-message memory limits, lowered so a few pages reach them: stable memory accessed
//! per update and per query, and the canister's `wasm_memory_limit` (set by config for new
//! canisters), each failing as the replica does and rolling the message back.

mod common;
use common::*;
use icinfer_host::{Host, HostConfig, MemoryLimits, RejectCode};

const PAGE: i64 = 4096;

/// `read_pages`/`write_pages` touch the first N 4 KiB pages of stable memory (N = the
/// argument's first byte); `grow_heap` grows the heap by N 64 KiB pages.
fn limits_module() -> Vec<u8> {
    module(&format!(
        r#"
  (func $n (result i64)
    (call $arg_copy (i32.const 2048) (i32.const 0) (i32.const 1))
    (i64.extend_i32_u (i32.load8_u (i32.const 2048))))
  (func (export "canister_init") (drop (call $stable_grow (i64.const 16))))
  (func $read_pages (local $i i64)
    (local.set $i (i64.const 0))
    (block $done (loop $l
      (br_if $done (i64.ge_u (local.get $i) (call $n)))
      (call $stable_read (i64.const 4096) (i64.mul (local.get $i) (i64.const {PAGE})) (i64.const 8))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $l)))
    (call $reply))
  (func (export "canister_update read_pages") (call $read_pages))
  (func (export "canister_query read_pages_q") (call $read_pages))
  (func (export "canister_update write_pages")
    (call $stable_write (i64.const 0) (i64.const 0) (i64.mul (call $n) (i64.const {PAGE})))
    (call $reply))
  (func (export "canister_update grow_heap")
    (if (i32.eq (memory.grow (i32.wrap_i64 (call $n))) (i32.const -1)) (then unreachable))
    (call $reply))
  (func (export "canister_query grow_heap_q")
    (drop (memory.grow (i32.wrap_i64 (call $n))))
    (call $reply))
"#
    ))
}

fn limited_host() -> (Host, icinfer_host::Principal) {
    let mut h = Host::new(HostConfig {
        memory: MemoryLimits {
            stable_access_update: 4 * PAGE as u64,
            stable_access_query: 2 * PAGE as u64,
            stable_access_upgrade: 8 * PAGE as u64,
            // The module starts with one 64 KiB page: allow three.
            default_wasm_memory_limit: 3 * 65536,
        },
        ..HostConfig::default()
    });
    let id = h.create_canister(vec![controller()]);
    h.install_code(id, &limits_module(), &[], controller())
        .expect("install");
    (h, id)
}

#[test]
fn stable_memory_access_is_limited_per_message_by_its_kind() {
    let (mut h, id) = limited_host();
    // Pages are counted once each: reading 4 distinct pages is within the update limit.
    assert!(
        h.update_call(id, user(1), "read_pages", &[4])
            .unwrap()
            .result
            .is_ok()
    );
    let over = h
        .update_call(id, user(1), "read_pages", &[5])
        .unwrap()
        .result;
    let reject = over.expect_err("a fifth page is over the update limit");
    assert_eq!(reject.code, RejectCode::CanisterError);
    assert!(
        reject.message.contains(
            "Exceeded the limit for the number of accessed pages in the stable memory in a single message execution: limit 16 KB"
        ),
        "{}",
        reject.message
    );
    // Writes count too.
    assert!(
        h.update_call(id, user(1), "write_pages", &[4])
            .unwrap()
            .result
            .is_ok()
    );
    assert!(
        h.update_call(id, user(1), "write_pages", &[5])
            .unwrap()
            .result
            .is_err()
    );
    // Queries have their own, lower limit.
    assert!(
        h.query_call(id, user(1), "read_pages_q", &[2])
            .unwrap()
            .result
            .is_ok()
    );
    let reject = h
        .query_call(id, user(1), "read_pages_q", &[3])
        .unwrap()
        .result
        .expect_err("a third page is over the query limit");
    assert!(reject.message.contains("limit 8 KB"), "{}", reject.message);
}

#[test]
fn the_heap_cannot_grow_past_the_wasm_memory_limit_in_updates() {
    let (mut h, id) = limited_host();
    assert!(
        h.update_call(id, user(1), "grow_heap", &[1])
            .unwrap()
            .result
            .is_ok()
    );
    let reject = h
        .update_call(id, user(1), "grow_heap", &[2])
        .unwrap()
        .result
        .expect_err("four pages are over the limit of three");
    assert_eq!(reject.code, RejectCode::CanisterError);
    assert!(
        reject.message.contains(&format!(
            "Canister exceeded its current Wasm memory limit of {} bytes. The peak Wasm memory usage was {} bytes.",
            3 * 65536,
            4 * 65536
        )),
        "{}",
        reject.message
    );
    // Rolled back: one more page still fits.
    assert!(
        h.update_call(id, user(1), "grow_heap", &[1])
            .unwrap()
            .result
            .is_ok()
    );
    // Queries are exempt, as on the replica.
    assert!(
        h.query_call(id, user(1), "grow_heap_q", &[4])
            .unwrap()
            .result
            .is_ok()
    );
}
