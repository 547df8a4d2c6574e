//! The journal (`icinfer_host::journal`): every appended change comes back after a crash
//! (no checkpoint, no clean shutdown), a torn tail is dropped whole, and a journal the
//! checkpoint already holds is ignored.

mod common;

use candid::{CandidType, Decode, Encode, Nat};
use common::*;
use icinfer_host::journal::Journal;
use icinfer_host::{Host, HostConfig, IngressStatus, Principal};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("icinfer-journal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn update(h: &mut Host, id: Principal, method: &str, arg: Vec<u8>) {
    h.update_call(id, user(1), method, &arg)
        .unwrap()
        .unwrap_reply();
}

fn heap_value(h: &mut Host, id: Principal) -> u64 {
    let reply = h
        .query_call(id, user(1), "get_heap", &Encode!().unwrap())
        .unwrap()
        .unwrap_reply();
    candid::decode_one(&reply).unwrap()
}

#[derive(CandidType)]
struct Id {
    canister_id: Principal,
}

#[derive(CandidType)]
struct UploadChunk {
    canister_id: Principal,
    chunk: Vec<u8>,
}

#[derive(CandidType, candid::Deserialize)]
struct ChunkHash {
    #[allow(dead_code)]
    hash: Vec<u8>,
}

#[derive(CandidType)]
struct Settings {
    freezing_threshold: Option<Nat>,
}

#[derive(CandidType)]
struct UpdateSettings {
    canister_id: Principal,
    settings: Settings,
}

fn manage(h: &mut Host, method: &str, arg: Vec<u8>) -> Vec<u8> {
    h.system_update(Principal::management_canister(), controller(), method, &arg)
        .unwrap_or_else(|r| panic!("{method}: {r}"))
}

/// The management canister's view of `id`: status (with its settings) and stored chunks.
fn managed(h: &mut Host, id: Principal) -> (Vec<u8>, Vec<u8>) {
    let arg = Encode!(&Id { canister_id: id }).unwrap();
    (
        manage(h, "canister_status", arg.clone()),
        manage(h, "stored_chunks", arg),
    )
}

/// A new host in `dir` with the test canister installed, its journal open.
fn served(dir: &std::path::Path) -> (Host, Journal, Principal) {
    let (mut h, mut journal) = Journal::open(HostConfig::default(), dir).unwrap();
    let id = h.create_canister(vec![controller()]);
    h.install_code(
        id,
        &test_canister_wasm(),
        &Encode!(&Some("init".to_string())).unwrap(),
        controller(),
    )
    .unwrap();
    journal.append(&mut h).unwrap();
    (h, journal, id)
}

/// Everything observable that the journal must bring back.
fn observed(h: &mut Host, id: Principal) -> (Vec<u8>, Vec<u8>, u64, usize, u64) {
    let stable = h.canister_state(id).unwrap().stable_memory.to_bytes();
    (
        h.data_certificate(id),
        stable,
        heap_value(h, id),
        h.logs(id).len(),
        h.cycle_balance(id).unwrap() as u64,
    )
}

#[test]
fn every_appended_change_survives_a_crash() {
    let dir = temp_dir("replay");
    let (mut h, mut journal, id) = served(&dir);
    update(&mut h, id, "set_heap", Encode!(&41u64).unwrap());
    let small = journal.append(&mut h).unwrap();
    update(
        &mut h,
        id,
        "stable_put",
        Encode!(&200_000u64, &vec![7u8; 10_000]).unwrap(),
    );
    update(
        &mut h,
        id,
        "set_certified",
        Encode!(&vec![3u8; 32]).unwrap(),
    );
    update(
        &mut h,
        id,
        "log",
        Encode!(&"journaled".to_string()).unwrap(),
    );
    let other = h.create_canister(vec![user(5)]);
    let request_id = [9u8; 32];
    let status = IngressStatus {
        sender: user(1),
        canister: id,
        keep_until_ns: h.time_ns() + 1_000_000_000_000,
        result: Ok(b"DIDL\x00\x00".to_vec()),
    };
    h.record_ingress_status(request_id, status.clone());
    for chunk in [b"first chunk".to_vec(), b"second chunk".to_vec()] {
        let arg = UploadChunk {
            canister_id: id,
            chunk,
        };
        manage(&mut h, "upload_chunk", Encode!(&arg).unwrap());
    }
    let settings = UpdateSettings {
        canister_id: id,
        settings: Settings {
            freezing_threshold: Some(Nat::from(1234u64)),
        },
    };
    manage(&mut h, "update_settings", Encode!(&settings).unwrap());
    let big = journal.append(&mut h).unwrap();
    // A cleared store and a new chunk: the record says which chunks remain.
    manage(
        &mut h,
        "clear_chunk_store",
        Encode!(&Id { canister_id: id }).unwrap(),
    );
    let arg = UploadChunk {
        canister_id: id,
        chunk: b"third chunk".to_vec(),
    };
    manage(&mut h, "upload_chunk", Encode!(&arg).unwrap());
    // Only what changed is written: a few heap pages for set_heap, the written stable pages.
    assert!(
        small.heap_pages < 64 && small.stable_pages == 0,
        "{small:?}"
    );
    assert!(big.stable_pages >= 3, "{big:?}");
    // An upgrade gives a new instance: its heap is written whole, once.
    h.upgrade_canister(
        id,
        &test_canister_wasm(),
        &Encode!(&Some("upgraded".to_string())).unwrap(),
        controller(),
    )
    .unwrap();
    update(&mut h, id, "set_heap", Encode!(&42u64).unwrap());
    journal.append(&mut h).unwrap();
    let before = observed(&mut h, id);
    let time = h.time_ns();
    let management = managed(&mut h, id);

    // A crash: no checkpoint, no clean shutdown; only state.cbor of the first start and the
    // journal are on disk.
    drop(journal);
    drop(h);
    let (mut h, _journal) = Journal::open(HostConfig::default(), &dir).unwrap();
    assert_eq!(observed(&mut h, id), before);
    assert_eq!(h.time_ns(), time);
    assert_eq!(managed(&mut h, id), management, "settings and chunk store");
    let hashes = Decode!(&management.1, Vec<ChunkHash>).unwrap();
    assert_eq!(hashes.len(), 1);
    assert_eq!(h.canister_ids(), vec![id, other]);
    assert_eq!(h.canister_state(other).unwrap().controllers, vec![user(5)]);
    assert_eq!(h.ingress_status(&request_id), Some(&status));
    let upgrade_info = h
        .query_call(id, user(1), "upgrade_info", &Encode!().unwrap())
        .unwrap()
        .unwrap_reply();
    let (upgrade_arg, _) = Decode!(&upgrade_info, Option<String>, Option<String>).unwrap();
    assert_eq!(upgrade_arg.as_deref(), Some("upgraded"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_torn_tail_is_dropped_whole_and_cut_off() {
    let dir = temp_dir("torn");
    let (mut h, mut journal, id) = served(&dir);
    let mut ends = vec![journal.bytes()];
    for v in 1..=3u64 {
        update(&mut h, id, "set_heap", Encode!(&v).unwrap());
        journal.append(&mut h).unwrap();
        ends.push(journal.bytes());
    }
    drop(journal);
    drop(h);
    let path = dir.join("journal.log");
    let full = std::fs::read(&path).unwrap();
    let last = ends[2] as usize..ends[3] as usize;
    // Cut inside the length, the checksum and the payload of the last record, and a flipped
    // byte in its payload: the host comes back with the record before it, never half of it.
    let mut damaged: Vec<Vec<u8>> = [1, 20, 40, last.len() / 2, last.len() - 1]
        .iter()
        .map(|cut| full[..last.start + cut].to_vec())
        .collect();
    let mut flipped = full.clone();
    flipped[last.start + 36 + last.len() / 3] ^= 0x40;
    damaged.push(flipped);
    for bytes in &damaged {
        std::fs::write(&path, bytes).unwrap();
        let mut h = Host::load(HostConfig::default(), &dir).unwrap();
        assert_eq!(heap_value(&mut h, id), 2, "at {} bytes", bytes.len());
    }
    // Opening cuts the torn tail off, so that the next record follows the valid ones.
    let (mut h, mut journal) = Journal::open(HostConfig::default(), &dir).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[2]);
    update(&mut h, id, "set_heap", Encode!(&4u64).unwrap());
    journal.append(&mut h).unwrap();
    drop(journal);
    drop(h);
    let mut h = Host::load(HostConfig::default(), &dir).unwrap();
    assert_eq!(heap_value(&mut h, id), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_the_checkpoint_holds_is_ignored() {
    let dir = temp_dir("generation");
    let (mut h, mut journal, id) = served(&dir);
    update(&mut h, id, "set_heap", Encode!(&1u64).unwrap());
    journal.append(&mut h).unwrap();
    let old_journal = std::fs::read(dir.join("journal.log")).unwrap();
    update(&mut h, id, "set_heap", Encode!(&2u64).unwrap());
    let arg = UploadChunk {
        canister_id: id,
        chunk: b"kept by the checkpoint".to_vec(),
    };
    manage(&mut h, "upload_chunk", Encode!(&arg).unwrap());
    let management = managed(&mut h, id);
    journal.checkpoint(&mut h).unwrap();
    assert!(std::fs::metadata(dir.join("journal.log")).unwrap().len() < 64);
    drop(journal);
    drop(h);
    // A crash after the checkpoint was written and before the empty journal replaced the old
    // one: the old journal's records are in the checkpoint already and must not be replayed.
    std::fs::write(dir.join("journal.log"), &old_journal).unwrap();
    let (mut h, mut journal) = Journal::open(HostConfig::default(), &dir).unwrap();
    assert_eq!(heap_value(&mut h, id), 2);
    assert_eq!(managed(&mut h, id), management);
    update(&mut h, id, "set_heap", Encode!(&3u64).unwrap());
    journal.append(&mut h).unwrap();
    drop(journal);
    drop(h);
    let mut h = Host::load(HostConfig::default(), &dir).unwrap();
    assert_eq!(heap_value(&mut h, id), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
