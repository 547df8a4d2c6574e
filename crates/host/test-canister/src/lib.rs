//! A small ic-cdk canister that exercises icinfer-host: heap, stable memory, certified data,
//! inter-canister calls, timers, upgrades and the performance counter.

use candid::Principal;
use ic_cdk::call::{Call, CallFailed};
use std::cell::RefCell;
use std::time::Duration;

thread_local! {
    static HEAP_VALUE: RefCell<u64> = const { RefCell::new(0) };
    static COUNTER: RefCell<u64> = const { RefCell::new(0) };
    static TIMER_FIRED: RefCell<u64> = const { RefCell::new(0) };
    static INIT_ARG: RefCell<Option<String>> = const { RefCell::new(None) };
    static UPGRADE_ARG: RefCell<Option<String>> = const { RefCell::new(None) };
    static PRE_UPGRADE_SEEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

const PRE_UPGRADE_MARK_OFFSET: u64 = 60_000;
const PRE_UPGRADE_MARK: &[u8] = b"pre_upgrade ran";

#[ic_cdk::init]
fn init(arg: Option<String>) {
    INIT_ARG.with(|a| *a.borrow_mut() = arg);
}

#[ic_cdk::pre_upgrade]
fn pre_upgrade() {
    if ic_cdk::stable::stable_size() == 0 {
        ic_cdk::stable::stable_grow(1).expect("grow");
    }
    ic_cdk::stable::stable_write(PRE_UPGRADE_MARK_OFFSET, PRE_UPGRADE_MARK);
}

#[ic_cdk::post_upgrade]
fn post_upgrade(arg: Option<String>) {
    UPGRADE_ARG.with(|a| *a.borrow_mut() = arg);
    let mut buf = vec![0u8; PRE_UPGRADE_MARK.len()];
    ic_cdk::stable::stable_read(PRE_UPGRADE_MARK_OFFSET, &mut buf);
    PRE_UPGRADE_SEEN.with(|s| *s.borrow_mut() = Some(String::from_utf8_lossy(&buf).into_owned()));
}

#[ic_cdk::query]
fn init_arg() -> Option<String> {
    INIT_ARG.with(|a| a.borrow().clone())
}

#[ic_cdk::query]
fn upgrade_info() -> (Option<String>, Option<String>) {
    (
        UPGRADE_ARG.with(|a| a.borrow().clone()),
        PRE_UPGRADE_SEEN.with(|s| s.borrow().clone()),
    )
}

#[ic_cdk::query]
fn greet(name: String) -> String {
    format!("Hello, {name}!")
}

#[ic_cdk::query]
fn whoami() -> Principal {
    ic_cdk::api::msg_caller()
}

#[ic_cdk::update]
fn whoami_update() -> Principal {
    ic_cdk::api::msg_caller()
}

#[ic_cdk::update]
fn set_heap(v: u64) {
    HEAP_VALUE.with(|h| *h.borrow_mut() = v);
}

#[ic_cdk::query]
fn get_heap() -> u64 {
    HEAP_VALUE.with(|h| *h.borrow())
}

/// Changes heap, stable memory and certified data, then traps: nothing must persist.
#[ic_cdk::update]
fn write_then_trap(v: u64) {
    HEAP_VALUE.with(|h| *h.borrow_mut() = v);
    if ic_cdk::stable::stable_size() == 0 {
        ic_cdk::stable::stable_grow(1).expect("grow");
    }
    ic_cdk::stable::stable_write(0, &v.to_le_bytes());
    ic_cdk::api::certified_data_set(v.to_le_bytes());
    ic_cdk::trap(format!("deliberate trap after writing {v}"));
}

#[ic_cdk::update]
fn stable_put(offset: u64, bytes: Vec<u8>) {
    let needed = (offset + bytes.len() as u64).div_ceil(65_536);
    let have = ic_cdk::stable::stable_size();
    if needed > have {
        ic_cdk::stable::stable_grow(needed - have).expect("grow");
    }
    ic_cdk::stable::stable_write(offset, &bytes);
}

#[ic_cdk::query]
fn stable_get(offset: u64, len: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len as usize];
    ic_cdk::stable::stable_read(offset, &mut buf);
    buf
}

#[ic_cdk::query]
fn stable_pages() -> u64 {
    ic_cdk::stable::stable_size()
}

#[ic_cdk::update]
fn set_certified(data: Vec<u8>) {
    ic_cdk::api::certified_data_set(data);
}

#[ic_cdk::query]
fn certificate() -> Option<Vec<u8>> {
    ic_cdk::api::data_certificate()
}

#[ic_cdk::query]
fn now() -> u64 {
    ic_cdk::api::time()
}

/// Increments the counter, then calls another canister: the increment is committed at the
/// await even if the callee traps. Returns the reply or (reject code, message).
#[ic_cdk::update]
async fn call_other(
    callee: Principal,
    method: String,
    arg: Vec<u8>,
) -> Result<Vec<u8>, (u32, String)> {
    COUNTER.with(|c| *c.borrow_mut() += 1);
    match Call::unbounded_wait(callee, &method)
        .with_raw_args(&arg)
        .await
    {
        Ok(resp) => Ok(resp.into_bytes()),
        Err(CallFailed::CallRejected(r)) => {
            Err((r.raw_reject_code(), r.reject_message().to_string()))
        }
        Err(other) => Err((0, other.to_string())),
    }
}

/// Calls another canister, then traps in the callback: the counter increment before the await
/// stays, the one after it is rolled back.
#[ic_cdk::update]
async fn call_then_trap(callee: Principal) {
    COUNTER.with(|c| *c.borrow_mut() += 1);
    let _ = Call::unbounded_wait(callee, "greet")
        .with_arg("x".to_string())
        .await;
    COUNTER.with(|c| *c.borrow_mut() += 100);
    ic_cdk::trap("trap in the callback");
}

#[ic_cdk::query]
fn counter() -> u64 {
    COUNTER.with(|c| *c.borrow())
}

#[ic_cdk::update]
fn callee_trap() -> String {
    ic_cdk::trap("callee trapped on purpose")
}

#[ic_cdk::update(manual_reply = true)]
fn callee_reject() {
    ic_cdk::api::msg_reject("rejected on purpose");
}

#[ic_cdk::update]
fn schedule_timer(secs: u64) {
    ic_cdk_timers::set_timer(Duration::from_secs(secs), async {
        TIMER_FIRED.with(|t| *t.borrow_mut() += 1);
        ic_cdk::api::debug_print("timer fired");
    });
}

#[ic_cdk::query]
fn timer_fired() -> u64 {
    TIMER_FIRED.with(|t| *t.borrow())
}

/// Two readings of performance counter 0 around some work.
#[ic_cdk::update]
fn perf(n: u64) -> (u64, u64, u64) {
    let a = ic_cdk::api::performance_counter(0);
    let mut x = 0u64;
    for i in 0..n {
        x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
    }
    std::hint::black_box(x);
    let b = ic_cdk::api::performance_counter(0);
    (a, b, ic_cdk::api::performance_counter(1))
}

/// Burns instructions: `n` iterations of a multiply-add loop.
#[ic_cdk::update]
fn burn(n: u64) -> u64 {
    COUNTER.with(|c| *c.borrow_mut() += 1);
    let mut x = 0u64;
    for i in 0..n {
        x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
    }
    x
}

#[ic_cdk::update]
async fn random() -> Vec<u8> {
    let resp = Call::unbounded_wait(Principal::management_canister(), "raw_rand")
        .await
        .expect("raw_rand");
    resp.candid::<Vec<u8>>().expect("blob")
}

#[ic_cdk::query]
fn blob(n: u64) -> Vec<u8> {
    vec![7u8; n as usize]
}

#[ic_cdk::update]
fn blob_update(n: u64) -> Vec<u8> {
    vec![7u8; n as usize]
}

#[ic_cdk::update]
fn log(msg: String) {
    ic_cdk::api::debug_print(msg);
}

/// Tries to change state in a query: the host must not keep it.
#[ic_cdk::query]
fn query_mutates(v: u64) -> u64 {
    HEAP_VALUE.with(|h| *h.borrow_mut() = v);
    v
}
