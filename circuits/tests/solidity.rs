//! The Solidity the circuits' parameters give (`lagrange_circuits::solidity`) is the
//! Solidity committed under `contracts/src`, which the node's contracts are compiled from.
//! `UPDATE_CONTRACTS=1` rewrites the file (then run `node contracts/build.js`).

#[test]
fn the_committed_poseidon_library_is_what_the_parameters_give() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/src/Poseidon.sol");
    let generated = lagrange_circuits::solidity::poseidon_library();
    if std::env::var_os("UPDATE_CONTRACTS").is_some() {
        std::fs::write(&path, &generated).expect("writing Poseidon.sol");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "contracts/src/Poseidon.sol is not what the circuits' Poseidon parameters give: \
         UPDATE_CONTRACTS=1 cargo test -p lagrange-circuits --test solidity, then \
         node contracts/build.js"
    );
}
