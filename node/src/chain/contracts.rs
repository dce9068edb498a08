//! The network's contracts, compiled once by the pinned solc (`node contracts/build.js`) and
//! committed under `contracts/out`, with a CI check that the compiler reproduces them byte
//! for byte: the node embeds their bytecode and ABI, so it needs no Solidity compiler, and
//! [`export`](crate::chain::contracts::export_verifier) writes them out with their source
//! for anyone who deploys by hand.

use std::path::Path;

use lagrange_circuits::curve::{Bn254, VerifyingKey};

/// The bindings alloy generates from the committed artifacts' ABIs.
mod bindings {
    // Generated: `QueryResults.submit` takes a whole task's parts as arguments.
    #![allow(clippy::too_many_arguments)]

    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        Groth16Verifier,
        "../contracts/out/Groth16Verifier.json"
    );

    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        QueryResults,
        "../contracts/out/QueryResults.json"
    );

    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        RowLog,
        "../contracts/out/RowLog.json"
    );

    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        ZkmlResults,
        "../contracts/out/ZkmlResults.json"
    );
}

pub use bindings::{Groth16Verifier, QueryResults, RowLog, ZkmlResults};

/// The verifier's Solidity source.
pub const GROTH16_VERIFIER_SOURCE: &str =
    include_str!("../../../contracts/src/Groth16Verifier.sol");

/// The verifier's compiled artifact (ABI, creation and runtime bytecode), as committed.
pub const GROTH16_VERIFIER_ARTIFACT: &str =
    include_str!("../../../contracts/out/Groth16Verifier.json");

/// What deploying the verifier for one circuit takes, as written by
/// [`export_verifier`].
#[derive(Debug, serde::Serialize)]
pub struct Deployment {
    /// The circuit (a coprocessor shape, a circom circuit, a zkML slice).
    pub circuit: String,
    /// Public inputs per proof.
    pub input_count: usize,
    /// keccak256 of the key's encoding: the deployed contract's `keyHash()`.
    pub key_hash: String,
    /// The constructor's argument, ABI-encoded (`bytes key`).
    pub constructor_args: String,
    /// The whole creation transaction's data: the bytecode, then the arguments.
    pub deploy_data: String,
}

impl Deployment {
    /// The deployment of the verifier for `vk`.
    pub fn new(circuit: &str, vk: &VerifyingKey<Bn254>) -> Self {
        use alloy::sol_types::SolConstructor;
        let key = lagrange_circuits::evm::key_bytes(vk);
        let key_hash = alloy::primitives::keccak256(&key);
        let args = Groth16Verifier::constructorCall { key: key.into() }.abi_encode();
        let mut data = Groth16Verifier::BYTECODE.to_vec();
        data.extend_from_slice(&args);
        Self {
            circuit: circuit.to_string(),
            input_count: vk.gamma_abc_g1.len().saturating_sub(1),
            key_hash: key_hash.to_string(),
            constructor_args: format!("0x{}", hex::encode(&args)),
            deploy_data: format!("0x{}", hex::encode(&data)),
        }
    }
}

/// Writes into `out` the verifier's source and artifact, and one `<circuit>.deploy.json`
/// per key: what `lagrange-node export-verifier` produces. Returns the files written.
pub fn export_verifier(
    out: &Path,
    keys: &[(String, VerifyingKey<Bn254>)],
) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut written = Vec::new();
    let mut write = |name: String, text: &str| -> std::io::Result<()> {
        let path = out.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
        Ok(())
    };
    write("Groth16Verifier.sol".into(), GROTH16_VERIFIER_SOURCE)?;
    write("Groth16Verifier.json".into(), GROTH16_VERIFIER_ARTIFACT)?;
    for (circuit, vk) in keys {
        let deployment = Deployment::new(circuit, vk);
        let json = serde_json::to_string_pretty(&deployment).map_err(std::io::Error::other)?;
        write(
            format!("{}.deploy.json", file_stem(circuit)),
            &(json + "\n"),
        )?;
    }
    Ok(written)
}

/// A circuit id as a file name: path separators and other odd characters become `_`.
fn file_stem(circuit: &str) -> String {
    circuit
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
