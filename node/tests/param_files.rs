//! The node's parameter cache on disk: round trips, checksums, corruption and truncation.

use std::{fs, path::PathBuf, sync::OnceLock};

use lagrange_circuits::{
    CircuitParams, CircuitSpec,
    params::{self, setup_insecure_seeded},
};
use lagrange_node::circuit_workload::param_files::{
    ParamsError, file_digest, load, load_or_setup_insecure_seeded, load_verifying_key, params_path,
    store,
};

/// A tiny circuit, so every test runs in a debug build in well under a second.
const TINY: CircuitSpec = CircuitSpec::Synthetic { log2: 6 };

fn tiny_params() -> &'static CircuitParams {
    static CELL: OnceLock<CircuitParams> = OnceLock::new();
    CELL.get_or_init(|| setup_insecure_seeded(TINY, 7).expect("setup"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "lagrange-param-files-test-{}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn stored_params_load_back_with_their_digest() {
    let dir = temp_dir("roundtrip");
    let stored = store(&dir, tiny_params()).expect("store");
    assert_eq!(
        file_digest(&stored.params_path).expect("digest"),
        stored.params_digest
    );
    let sidecar = fs::read_to_string(dir.join("synthetic-v1__k6.params.blake3")).expect("sidecar");
    assert_eq!(sidecar.trim(), stored.params_digest.to_hex());

    let loaded = load(&dir, &TINY, Some(&stored.params_digest)).expect("load");
    assert_eq!(*loaded.pk, *tiny_params().pk);
    let vk = load_verifying_key(&dir, &TINY, Some(&stored.vk_digest)).expect("vk");
    assert_eq!(vk, tiny_params().pk.vk);
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn corrupted_param_file_is_rejected() {
    let dir = temp_dir("corrupt");
    let stored = store(&dir, tiny_params()).expect("store");
    let mut bytes = fs::read(&stored.params_path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&stored.params_path, &bytes).expect("write");
    assert!(matches!(
        load(&dir, &TINY, None),
        Err(ParamsError::ChecksumMismatch { .. })
    ));
    assert!(matches!(
        load(&dir, &TINY, Some(&stored.params_digest)),
        Err(ParamsError::ChecksumMismatch { .. })
    ));
    // Even with a matching (attacker-written) sidecar, invalid points are refused:
    // overwrite alpha_g1 (right after the header) with a non-canonical x coordinate.
    let header = 8 + 2 + TINY.id().len();
    bytes[header..header + 32].fill(0xff);
    bytes[header + 31] = 0x3f;
    fs::write(&stored.params_path, &bytes).expect("write");
    let digest = params::digest_bytes(&bytes);
    fs::write(dir.join("synthetic-v1__k6.params.blake3"), digest.to_hex()).expect("write");
    assert!(matches!(
        load(&dir, &TINY, None),
        Err(ParamsError::Malformed { .. } | ParamsError::Truncated { .. })
    ));
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn truncated_param_file_is_rejected() {
    let dir = temp_dir("truncated");
    let stored = store(&dir, tiny_params()).expect("store");
    let bytes = fs::read(&stored.params_path).expect("read");
    let short = &bytes[..bytes.len() - 100];
    fs::write(&stored.params_path, short).expect("write");
    assert!(matches!(
        load(&dir, &TINY, None),
        Err(ParamsError::ChecksumMismatch { .. })
    ));
    let digest = params::digest_bytes(short);
    assert!(matches!(
        load(&dir, &TINY, Some(&digest)),
        Err(ParamsError::ChecksumMismatch { .. })
    ));
    fs::remove_file(dir.join("synthetic-v1__k6.params.blake3")).expect("rm sidecar");
    assert!(matches!(
        load(&dir, &TINY, Some(&digest)),
        Err(ParamsError::Truncated { .. })
    ));
    fs::write(&stored.params_path, &bytes[..5]).expect("write");
    let digest = params::digest_bytes(&bytes[..5]);
    assert!(matches!(
        load(&dir, &TINY, Some(&digest)),
        Err(ParamsError::Truncated { .. })
    ));
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_checksum_and_wrong_circuit_are_typed_errors() {
    let dir = temp_dir("wrong");
    let stored = store(&dir, tiny_params()).expect("store");
    fs::remove_file(dir.join("synthetic-v1__k6.params.blake3")).expect("rm");
    assert!(matches!(
        load(&dir, &TINY, None),
        Err(ParamsError::MissingChecksum { .. })
    ));
    let other = CircuitSpec::Synthetic { log2: 7 };
    fs::copy(&stored.params_path, params_path(&dir, &other)).expect("copy");
    assert!(matches!(
        load(&dir, &other, Some(&stored.params_digest)),
        Err(ParamsError::WrongCircuit { .. })
    ));
    assert!(matches!(
        load(&dir, &CircuitSpec::Synthetic { log2: 8 }, None),
        Err(ParamsError::Io { .. })
    ));
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn insecure_seeded_setup_is_deterministic_per_seed_and_circuit() {
    let a = setup_insecure_seeded(TINY, 7).expect("setup");
    assert_eq!(a.pk.vk, tiny_params().pk.vk);
    let b = setup_insecure_seeded(TINY, 8).expect("setup");
    assert_ne!(a.pk.vk, b.pk.vk);

    let dir = temp_dir("seeded");
    let first = load_or_setup_insecure_seeded(&dir, &TINY, 7).expect("setup and store");
    let second = load_or_setup_insecure_seeded(&dir, &TINY, 7).expect("load");
    assert_eq!(first.pk.vk, second.pk.vk);
    fs::remove_dir_all(&dir).ok();
}
