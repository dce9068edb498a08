//! zkML inferences on chain: a `ZkmlResults` per served model, over one verifier per slice,
//! checks whole inferences (every slice's proof, the chain of activation commitments from
//! the client's input to the output values, the output's commitment computed on chain) and
//! keeps each proven output's commitment for other contracts to read.

use alloy::primitives::{Address, I256, U256};
use lagrange_circuits::{curve::Fr, zkml::ZkmlResult};

use super::contracts::ZkmlResults;
use super::query::{Delivered, fr_of_word, transact, word};
use super::rpc::{ChainError, Deployed, Evm, contract_error, deploy, proof_words};

/// An inference's parts as `ZkmlResults.submit` takes them.
type Calldata = (
    Vec<U256>,
    Vec<Vec<I256>>,
    Vec<Vec<U256>>,
    Vec<Vec<[U256; 8]>>,
);

fn calldata(result: &ZkmlResult) -> Calldata {
    let mut inputs = Vec::new();
    let mut values = Vec::new();
    let mut links = Vec::new();
    let mut proofs = Vec::new();
    for inference in &result.inferences {
        inputs.push(word(&inference.input_commitment));
        values.push(
            inference
                .output
                .iter()
                .map(|v| I256::try_from(*v).unwrap_or_default())
                .collect(),
        );
        let k = inference.slices.len();
        links.push(
            inference
                .slices
                .iter()
                .take(k.saturating_sub(1))
                .map(|s| word(&s.output))
                .collect(),
        );
        proofs.push(
            inference
                .slices
                .iter()
                .map(|s| proof_words(&s.proof))
                .collect(),
        );
    }
    (inputs, values, links, proofs)
}

impl Evm {
    /// Deploys a `ZkmlResults` for the model committed to by `model`, over its slices'
    /// verifiers in order.
    pub async fn deploy_zkml_results(
        &self,
        model: &Fr,
        slices: &[Address],
    ) -> Result<Deployed, ChainError> {
        const WHAT: &str = "deploying ZkmlResults";
        self.signer_needed(WHAT)?;
        deploy(
            WHAT,
            ZkmlResults::deploy_builder(self.provider(), word(model), slices.to_vec()),
        )
        .await
    }

    /// Delivers a zkML task's inferences to the `ZkmlResults` at `at`: first as a call, so
    /// that a result the contract refuses is reported with its reason and costs nothing.
    pub async fn submit_inferences(
        &self,
        at: Address,
        task_id: &str,
        result: &ZkmlResult,
    ) -> Result<Delivered, ChainError> {
        const WHAT: &str = "ZkmlResults.submit";
        self.signer_needed(WHAT)?;
        let contract = ZkmlResults::new(self.code_at(at).await?, self.provider().clone());
        let (inputs, values, links, proofs) = calldata(result);
        let call = contract.submit(super::task_key(task_id), inputs, values, links, proofs);
        transact(WHAT, call).await
    }

    /// The commitment to the proven output on the input committed to by `input`, if any.
    pub async fn zkml_output(&self, at: Address, input: &Fr) -> Result<Option<Fr>, ChainError> {
        const WHAT: &str = "ZkmlResults.outputOf";
        let contract = ZkmlResults::new(self.code_at(at).await?, self.provider().clone());
        let w = contract
            .outputOf(word(input))
            .call()
            .await
            .map_err(|e| contract_error(WHAT, e))?;
        if w.is_zero() {
            return Ok(None);
        }
        fr_of_word(WHAT, w).map(Some)
    }

    /// The activations commitment of `values` as the contract computes it.
    pub async fn zkml_activations(&self, at: Address, values: &[i64]) -> Result<Fr, ChainError> {
        const WHAT: &str = "ZkmlResults.activations";
        let contract = ZkmlResults::new(self.code_at(at).await?, self.provider().clone());
        let values = values
            .iter()
            .map(|v| I256::try_from(*v).unwrap_or_default())
            .collect();
        let w = contract
            .activations(values)
            .call()
            .await
            .map_err(|e| contract_error(WHAT, e))?;
        fr_of_word(WHAT, w)
    }
}
