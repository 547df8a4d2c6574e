//! `Host::save` and `Host::load`: everything a canister has survives a restart.

mod common;

use candid::{Decode, Encode};
use common::*;
use icinfer_host::{Host, HostConfig, HostError};
use std::time::Duration;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("icinfer-host-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn query<T: candid::CandidType + for<'a> candid::Deserialize<'a>>(
    h: &mut Host,
    id: icinfer_host::Principal,
    method: &str,
    arg: Vec<u8>,
) -> T {
    let reply = h
        .query_call(id, user(1), method, &arg)
        .unwrap()
        .unwrap_reply();
    candid::decode_one(&reply).unwrap()
}

#[test]
fn a_restored_host_has_the_same_canisters_heaps_stable_memory_and_time() {
    let dir = temp_dir("roundtrip");
    let wasm = test_canister_wasm();
    let (mut h, id) = host_with(&wasm, &Encode!(&Some("init".to_string())).unwrap());
    let empty = h.create_canister(vec![user(2)]);
    let update = |h: &mut Host, method: &str, arg: Vec<u8>| {
        h.update_call(id, user(1), method, &arg)
            .unwrap()
            .unwrap_reply()
    };
    update(&mut h, "set_heap", Encode!(&123u64).unwrap());
    update(
        &mut h,
        "stable_put",
        Encode!(&70_000u64, &b"far away".to_vec()).unwrap(),
    );
    update(&mut h, "set_certified", Encode!(&vec![9u8; 32]).unwrap());
    update(
        &mut h,
        "log",
        Encode!(&"before the restart".to_string()).unwrap(),
    );
    update(&mut h, "schedule_timer", Encode!(&60u64).unwrap());
    h.add_cycles(id, 5).unwrap();
    let before = (
        h.time_ns(),
        h.cycle_balance(id).unwrap(),
        h.logs(id).to_vec(),
        h.data_certificate(id),
        h.canister_state(id).unwrap().global_timer,
    );

    let report = h.save(&dir).expect("save");
    assert_eq!(report.modules_written, 1);
    assert!(Host::saved_state_exists(&dir));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files after a save");
    drop(h);

    let mut h = Host::load(HostConfig::default(), &dir).expect("load");
    assert_eq!(h.canister_ids(), vec![id, empty]);
    assert_eq!(h.time_ns(), before.0);
    assert_eq!(h.cycle_balance(id).unwrap(), before.1);
    assert_eq!(h.logs(id), &before.2[..]);
    assert_eq!(
        h.data_certificate(id),
        before.3,
        "same state tree, same certificate"
    );
    assert_eq!(h.canister_state(id).unwrap().global_timer, before.4);
    assert_eq!(h.canister_state(empty).unwrap().controllers, vec![user(2)]);
    assert_eq!(
        query::<u64>(&mut h, id, "get_heap", Encode!().unwrap()),
        123
    );
    assert_eq!(
        query::<Vec<u8>>(
            &mut h,
            id,
            "stable_get",
            Encode!(&70_000u64, &8u64).unwrap()
        ),
        b"far away"
    );
    assert_eq!(
        query::<Option<String>>(&mut h, id, "init_arg", Encode!().unwrap()),
        Some("init".into())
    );
    // It keeps running: updates, the timer set before the restart, new canisters get new ids.
    h.update_call(id, user(1), "set_heap", &Encode!(&124u64).unwrap())
        .unwrap()
        .unwrap_reply();
    assert_eq!(
        query::<u64>(&mut h, id, "get_heap", Encode!().unwrap()),
        124
    );
    h.advance_time(Duration::from_secs(61));
    h.tick();
    assert_eq!(
        query::<u64>(&mut h, id, "timer_fired", Encode!().unwrap()),
        1
    );
    let third = h.create_canister(vec![]);
    assert!(third != id && third != empty);
    // Saving again rewrites the state; the module is already there.
    assert_eq!(h.save(&dir).unwrap().modules_written, 0);
    let reply = Decode!(
        &Host::load(HostConfig::default(), &dir)
            .unwrap()
            .query_call(id, user(1), "get_heap", &Encode!().unwrap())
            .unwrap()
            .unwrap_reply(),
        u64
    )
    .unwrap();
    assert_eq!(reply, 124);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_state_is_refused_by_a_host_with_another_seed_or_format() {
    let dir = temp_dir("refused");
    let mut h = host();
    h.create_canister(vec![controller()]);
    h.save(&dir).unwrap();
    let other = HostConfig {
        seed: b"another seed".to_vec(),
        ..HostConfig::default()
    };
    assert!(matches!(
        Host::load(other, &dir),
        Err(HostError::Persist(_))
    ));
    std::fs::write(dir.join("state.cbor"), b"\xa1\x66format\x63bad").unwrap();
    assert!(matches!(
        Host::load(HostConfig::default(), &dir),
        Err(HostError::Persist(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
