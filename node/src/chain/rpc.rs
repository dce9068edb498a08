//! A JSON-RPC client of an EVM chain (alloy): deploys the verifier contract for a circuit
//! and asks a deployed verifier about proofs, with the gas each answer costs. Every failure
//! names what failed: an unreachable node, the wrong chain, a missing contract, a revert
//! with its decoded reason.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use lagrange_circuits::{
    curve::{Bn254, Fr, Proof, VerifyingKey},
    evm,
};

use super::contracts::Groth16Verifier::{self, Groth16VerifierErrors, Groth16VerifierInstance};
use super::contracts::{
    QueryResults::QueryResultsErrors, RowLog::RowLogErrors, ZkmlResults::ZkmlResultsErrors,
};

/// Why a chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The RPC URL does not parse.
    #[error("bad RPC URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The node does not answer.
    #[error("the EVM node at {url} does not answer: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// The node serves another chain than the one asked for.
    #[error("the EVM node serves chain {got}, not chain {expected}")]
    WrongChain {
        /// The chain id asked for.
        expected: u64,
        /// The node's chain id.
        got: u64,
    },
    /// No contract code at the address.
    #[error("no contract at {0}")]
    NoContract(Address),
    /// A call or transaction reverted.
    #[error("{what} reverted: {reason}")]
    Reverted {
        /// What was asked.
        what: &'static str,
        /// The decoded revert reason, or the node's message.
        reason: String,
    },
    /// Any other failure of a call or transaction.
    #[error("{what} failed: {reason}")]
    Rpc {
        /// What was asked.
        what: &'static str,
        /// What the node or the transport said.
        reason: String,
    },
    /// A transaction needs a key to sign with and the client has none.
    #[error("{0} needs a key to sign with")]
    NoSigner(&'static str),
    /// The node stopped answering during `what`, or a sent transaction's receipt never
    /// came: trying again may succeed.
    #[error("{what}: no answer from the node: {reason}")]
    Transport {
        /// What was asked.
        what: &'static str,
        /// What the transport said.
        reason: String,
    },
}

impl ChainError {
    /// Whether trying again later may succeed (the node was out of reach), as opposed to an
    /// answer that will not change (a revert, a wrong chain, no contract).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChainError::Unreachable { .. } | ChainError::Transport { .. }
        )
    }

    /// A failure of the node's to answer `what`: [`ChainError::Transport`] when the answer
    /// never came, [`ChainError::Rpc`] when the node refused.
    pub fn node(what: &'static str, e: alloy::transports::TransportError) -> Self {
        match e {
            alloy::transports::RpcError::Transport(kind) => ChainError::Transport {
                what,
                reason: kind.to_string(),
            },
            other => ChainError::rpc(what, other),
        }
    }

    /// A failure of `what` that is not a revert.
    pub fn rpc(what: &'static str, e: impl std::fmt::Display) -> Self {
        ChainError::Rpc {
            what,
            reason: e.to_string(),
        }
    }
}

/// A connection to one EVM chain, with the key it signs with if it has one.
#[derive(Clone, Debug)]
pub struct Evm {
    provider: DynProvider,
    url: String,
    chain_id: u64,
    sender: Option<Address>,
}

/// A contract deployed by a transaction.
#[derive(Clone, Copy, Debug)]
pub struct Deployed {
    /// Its address.
    pub address: Address,
    /// Gas the creation used.
    pub gas_used: u64,
}

impl Deployed {
    /// The contract a creation transaction's receipt names, if it succeeded.
    pub fn from_receipt(
        what: &'static str,
        receipt: alloy::rpc::types::TransactionReceipt,
    ) -> Result<Self, ChainError> {
        match (receipt.status(), receipt.contract_address) {
            (true, Some(address)) => Ok(Deployed {
                address,
                gas_used: receipt.gas_used,
            }),
            _ => Err(ChainError::Reverted {
                what,
                reason: format!("transaction {} failed on chain", receipt.transaction_hash),
            }),
        }
    }
}

/// A verifier's answer about a proof or a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Whether it verified.
    pub valid: bool,
    /// Gas the check costs as a transaction (including the 21,000 of any transaction and
    /// the calldata).
    pub gas: u64,
}

impl Evm {
    /// Connects to the node at `url` and reads its chain id; with `expect_chain`, refuses a
    /// node on another chain. With a `signer`, transactions are signed by it (its nonce and
    /// fees filled in by the client); without one, only calls can be made.
    pub async fn connect(
        url: &str,
        signer: Option<PrivateKeySigner>,
        expect_chain: Option<u64>,
    ) -> Result<Self, ChainError> {
        // https endpoints: rustls with ring's crypto, for the whole process (a provider
        // installed already, by whoever, is kept).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let parsed: alloy::transports::http::reqwest::Url =
            url.parse().map_err(|e| ChainError::BadUrl {
                url: url.to_string(),
                reason: format!("{e}"),
            })?;
        let sender = signer.as_ref().map(|s| s.address());
        // The nonce is asked of the node for every transaction, never counted here: a
        // transaction the node refused (no funds yet, a fee too low) must not leave a gap
        // that every later one falls into. Transactions go out one at a time.
        let builder = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id();
        let provider = match signer {
            Some(signer) => builder
                .wallet(EthereumWallet::from(signer))
                .connect_http(parsed)
                .erased(),
            None => builder.connect_http(parsed).erased(),
        };
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| ChainError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        if let Some(expected) = expect_chain
            && expected != chain_id
        {
            return Err(ChainError::WrongChain {
                expected,
                got: chain_id,
            });
        }
        Ok(Self {
            provider,
            url: url.to_string(),
            chain_id,
            sender,
        })
    }

    /// The account this client signs with, if it has a key.
    pub fn sender(&self) -> Option<Address> {
        self.sender
    }

    /// The chain's id, as the node said when connecting.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The provider, for calls this client has no method for.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Deploys the verifier for one circuit's key.
    pub async fn deploy_verifier(&self, vk: &VerifyingKey<Bn254>) -> Result<Deployed, ChainError> {
        const WHAT: &str = "deploying the verifier";
        self.signer_needed(WHAT)?;
        let key = Bytes::from(evm::key_bytes(vk));
        deploy(WHAT, Groth16Verifier::deploy_builder(&self.provider, key)).await
    }

    /// Fails unless this client has a key to sign `what` with.
    pub(super) fn signer_needed(&self, what: &'static str) -> Result<(), ChainError> {
        match self.sender {
            Some(_) => Ok(()),
            None => Err(ChainError::NoSigner(what)),
        }
    }

    /// `address`, after checking that a contract is deployed there.
    pub async fn code_at(&self, address: Address) -> Result<Address, ChainError> {
        let code = self
            .provider
            .get_code_at(address)
            .await
            .map_err(|e| ChainError::node("reading a contract's code", e))?;
        if code.is_empty() {
            return Err(ChainError::NoContract(address));
        }
        Ok(address)
    }

    /// The verifier deployed at `address`, after checking that there is code there.
    pub async fn verifier(
        &self,
        address: Address,
    ) -> Result<Groth16VerifierInstance<DynProvider>, ChainError> {
        Ok(Groth16Verifier::new(
            self.code_at(address).await?,
            self.provider.clone(),
        ))
    }

    /// Asks the verifier at `address` whether `proof` is valid for `inputs`.
    pub async fn verify_proof(
        &self,
        address: Address,
        proof: &Proof<Bn254>,
        inputs: &[Fr],
    ) -> Result<Verdict, ChainError> {
        let verifier = self.verifier(address).await?;
        verdict(
            "verifyProof",
            verifier.verifyProof(proof_words(proof), input_words(inputs)),
        )
        .await
    }

    /// Asks the verifier at `address` whether every proof of a batch is valid, in one
    /// pairing check.
    pub async fn verify_batch(
        &self,
        address: Address,
        items: &[(Proof<Bn254>, Vec<Fr>)],
    ) -> Result<Verdict, ChainError> {
        let verifier = self.verifier(address).await?;
        let proofs = items.iter().map(|(p, _)| proof_words(p)).collect();
        let inputs = items.iter().map(|(_, x)| input_words(x)).collect();
        verdict("verifyBatch", verifier.verifyBatch(proofs, inputs)).await
    }
}

/// A creation transaction sent, and the contract it made.
pub(super) async fn deploy(
    what: &'static str,
    builder: alloy::contract::RawCallBuilder<&DynProvider>,
) -> Result<Deployed, ChainError> {
    Deployed::from_receipt(what, send_and_wait(what, &builder).await?)
}

/// How long a sent transaction may take to be mined before the wait is given up (the
/// transaction may still land: its hash is in the error).
pub const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// A transaction signed, sent and its receipt awaited, for at most [`RECEIPT_TIMEOUT`]
/// (the nonce, gas and fees filled in by the provider's fillers).
pub(super) async fn send_and_wait<D: alloy::contract::CallDecoder>(
    what: &'static str,
    call: &alloy::contract::CallBuilder<&DynProvider, D>,
) -> Result<alloy::rpc::types::TransactionReceipt, ChainError> {
    let pending = call
        .send()
        .await
        .map_err(|e| contract_error(what, e))?
        .with_timeout(Some(RECEIPT_TIMEOUT));
    let tx = *pending.tx_hash();
    pending
        .get_receipt()
        .await
        .map_err(|e| ChainError::Transport {
            what,
            reason: format!("transaction {tx} sent, no receipt: {e}"),
        })
}

/// A verifier's answer to a call, and the gas the call costs as a transaction.
async fn verdict<C>(
    what: &'static str,
    call: alloy::contract::SolCallBuilder<&DynProvider, C>,
) -> Result<Verdict, ChainError>
where
    C: alloy::sol_types::SolCall<Return = bool> + Send + Sync + Unpin,
{
    let valid = call.call().await.map_err(|e| contract_error(what, e))?;
    let gas = call
        .estimate_gas()
        .await
        .map_err(|e| contract_error(what, e))?;
    Ok(Verdict { valid, gas })
}

/// A proof as the verifier's `uint256[8]`.
pub fn proof_words(proof: &Proof<Bn254>) -> [U256; 8] {
    evm::proof_words(proof).map(|w| U256::from_be_bytes(w))
}

/// Public inputs as the verifier's `uint256[]`.
pub fn input_words(inputs: &[Fr]) -> Vec<U256> {
    evm::input_words(inputs)
        .into_iter()
        .map(U256::from_be_bytes)
        .collect()
}

/// A contract call's error, its revert decoded where it is one of the network's contracts'
/// errors.
pub(super) fn contract_error(what: &'static str, e: alloy::contract::Error) -> ChainError {
    let decoded = e
        .as_decoded_interface_error::<QueryResultsErrors>()
        .map(|d| format!("{d:?}"))
        .or_else(|| {
            e.as_decoded_interface_error::<Groth16VerifierErrors>()
                .map(|d| format!("{d:?}"))
        })
        .or_else(|| {
            e.as_decoded_interface_error::<RowLogErrors>()
                .map(|d| format!("{d:?}"))
        })
        .or_else(|| {
            e.as_decoded_interface_error::<ZkmlResultsErrors>()
                .map(|d| format!("{d:?}"))
        });
    if let Some(reason) = decoded {
        return ChainError::Reverted { what, reason };
    }
    if let Some(revert) = e.as_revert_data() {
        return ChainError::Reverted {
            what,
            reason: format!("0x{}", hex::encode(revert)),
        };
    }
    if let alloy::contract::Error::TransportError(alloy::transports::RpcError::Transport(kind)) = &e
    {
        return ChainError::Transport {
            what,
            reason: kind.to_string(),
        };
    }
    ChainError::Rpc {
        what,
        reason: e.to_string(),
    }
}
