//! Coprocessor queries on chain: a data source whose rows the chain commits to as the
//! coprocessor does (`RowLog`, built on the `Rows` library), the rows read back from its
//! events, and whole query results checked and stored by `QueryResults`.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::DynProvider;
use alloy::rpc::types::TransactionReceipt;
use lagrange_circuits::coprocessor::{Answer, Commitment, DataSet, Query, Row};
use lagrange_circuits::{AggregatedProof, curve::Fr, evm};

use super::contracts::{QueryResults, RowLog};
use super::rpc::{
    ChainError, Deployed, Evm, contract_error, deploy, input_words, proof_words, send_and_wait,
};

/// Rows recorded per transaction by [`Evm::record_all_rows`] (64 rows cost about 3.3 M gas).
pub const ROWS_PER_TX: usize = 64;

/// A task's answer as stored on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProvenAnswer {
    /// The answer.
    pub answer: Answer,
    /// Rows of the data set it covers.
    pub rows: u64,
}

/// A result delivered in a transaction.
#[derive(Clone, Copy, Debug)]
pub struct Delivered {
    /// The transaction.
    pub tx: B256,
    /// Its block.
    pub block: Option<u64>,
    /// Gas it used.
    pub gas_used: u64,
}

/// The `bytes32` a task id is known by on chain: keccak256 of the id's text.
pub fn task_key(task_id: &str) -> B256 {
    keccak256(task_id.as_bytes())
}

pub(super) fn word(x: &Fr) -> U256 {
    U256::from_be_bytes(evm::fr_word(x))
}

fn receipt_ok(what: &'static str, receipt: TransactionReceipt) -> Result<Delivered, ChainError> {
    if !receipt.status() {
        return Err(ChainError::Reverted {
            what,
            reason: format!("transaction {} failed on chain", receipt.transaction_hash),
        });
    }
    Ok(Delivered {
        tx: receipt.transaction_hash,
        block: receipt.block_number,
        gas_used: receipt.gas_used,
    })
}

impl Evm {
    /// Deploys a `QueryResults` over the chunk verifier at `verifier` for chunks of up to
    /// `capacity` rows.
    pub async fn deploy_query_results(
        &self,
        verifier: Address,
        capacity: u64,
    ) -> Result<Deployed, ChainError> {
        const WHAT: &str = "deploying QueryResults";
        self.signer_needed(WHAT)?;
        deploy(
            WHAT,
            QueryResults::deploy_builder(self.provider(), verifier, capacity),
        )
        .await
    }

    /// Delivers a coprocessor result to the `QueryResults` at `at`: first as a call, so a
    /// result the contract refuses is reported with its reason and costs nothing, then as a
    /// transaction. With a `source` (a `RowLog`, or any `IRowSource`), the contract checks
    /// the proofs against the commitment the source holds for the rows they cover
    /// (`submitFor`); without one, against the commitment the result names (`submit`).
    pub async fn submit_query(
        &self,
        at: Address,
        source: Option<Address>,
        task_id: &str,
        result: &AggregatedProof,
    ) -> Result<Delivered, ChainError> {
        let what = match source {
            Some(_) => "QueryResults.submitFor",
            None => "QueryResults.submit",
        };
        self.signer_needed(what)?;
        let contract = QueryResults::new(self.code_at(at).await?, self.provider().clone());
        let (proofs, inputs) = chunk_calldata(result);
        let (task, query, answer) = (task_key(task_id), result.query, result.answer);
        match source {
            Some(source) => {
                let call = contract.submitFor(
                    self.code_at(source).await?,
                    task,
                    query.lo,
                    query.hi,
                    answer.sum,
                    answer.count,
                    proofs,
                    inputs,
                );
                transact(what, call).await
            }
            None => {
                let call = contract.submit(
                    task,
                    word(&result.commitment.0),
                    query.lo,
                    query.hi,
                    answer.sum,
                    answer.count,
                    proofs,
                    inputs,
                );
                transact(what, call).await
            }
        }
    }

    /// The answer the `QueryResults` at `at` holds for `query` over `commitment`, if proven.
    pub async fn query_answer(
        &self,
        at: Address,
        commitment: &Commitment,
        query: Query,
    ) -> Result<Option<ProvenAnswer>, ChainError> {
        const WHAT: &str = "QueryResults.answerOf";
        let contract = QueryResults::new(self.code_at(at).await?, self.provider().clone());
        let a = contract
            .answerOf(word(&commitment.0), query.lo, query.hi)
            .call()
            .await
            .map_err(|e| contract_error(WHAT, e))?;
        Ok(a.proven.then_some(ProvenAnswer {
            answer: Answer {
                sum: a.sum,
                count: a.count,
            },
            rows: a.rows,
        }))
    }

    /// The answer the `QueryResults` at `results` holds for `query` over every row the
    /// `RowLog` at `log` recorded (read from its events), if proven; with how many rows the
    /// log holds.
    pub async fn query_answer_over_log(
        &self,
        results: Address,
        log: Address,
        query: Query,
    ) -> Result<(Option<ProvenAnswer>, usize), ChainError> {
        let rows = self.rows_from_chain(log, None, None).await?;
        let count = rows.len();
        let data = DataSet::new(rows).map_err(|e| {
            ChainError::rpc("reading RowAppended events", format!("RowLog {log}: {e}"))
        })?;
        let held = self
            .query_answer(results, &data.commitment(), query)
            .await?;
        Ok((held, count))
    }

    /// Deploys a `RowLog` data source.
    pub async fn deploy_row_log(&self) -> Result<Deployed, ChainError> {
        const WHAT: &str = "deploying RowLog";
        self.signer_needed(WHAT)?;
        deploy(WHAT, RowLog::deploy_builder(self.provider())).await
    }

    /// Records rows in the `RowLog` at `at`, in one transaction.
    pub async fn record_rows(&self, at: Address, rows: &[Row]) -> Result<Delivered, ChainError> {
        const WHAT: &str = "RowLog.recordMany";
        self.signer_needed(WHAT)?;
        let log = RowLog::new(self.code_at(at).await?, self.provider().clone());
        let call = log.recordMany(
            rows.iter().map(|r| r.key).collect(),
            rows.iter().map(|r| r.value).collect(),
        );
        transact(WHAT, call).await
    }

    /// Records rows in the `RowLog` at `at`, [`ROWS_PER_TX`] a transaction (the last
    /// transaction's rows may be fewer); returns the gas of them all.
    pub async fn record_all_rows(&self, at: Address, rows: &[Row]) -> Result<u64, ChainError> {
        let mut gas = 0u64;
        for part in rows.chunks(ROWS_PER_TX) {
            gas = gas.saturating_add(self.record_rows(at, part).await?.gas_used);
        }
        Ok(gas)
    }

    /// The commitment the `RowLog` at `at` holds now.
    pub async fn row_log_commitment(&self, at: Address) -> Result<Commitment, ChainError> {
        const WHAT: &str = "RowLog.commitment";
        let log = RowLog::new(self.code_at(at).await?, self.provider().clone());
        let c = log
            .commitment()
            .call()
            .await
            .map_err(|e| contract_error(WHAT, e))?;
        commitment_of_word(WHAT, c)
    }

    /// The commitment the `RowLog` at `at` holds to its first `rows` rows (`None` if it
    /// has fewer).
    pub async fn row_log_commitment_at(
        &self,
        at: Address,
        rows: u64,
    ) -> Result<Option<Commitment>, ChainError> {
        const WHAT: &str = "RowLog.commitmentAt";
        let log = RowLog::new(self.code_at(at).await?, self.provider().clone());
        let c = log
            .commitmentAt(rows)
            .call()
            .await
            .map_err(|e| contract_error(WHAT, e))?;
        if c.is_zero() {
            return Ok(None);
        }
        commitment_of_word(WHAT, c).map(Some)
    }

    /// The rows the `RowLog` at `at` recorded, from its `RowAppended` events in blocks
    /// `from..=to` (the whole history by default), in index order. Refuses a gap in the
    /// indices: a data set read from a window must be the chain's first rows.
    pub async fn rows_from_chain(
        &self,
        at: Address,
        from_block: Option<u64>,
        to_block: Option<u64>,
    ) -> Result<Vec<Row>, ChainError> {
        const WHAT: &str = "reading RowAppended events";
        let log = RowLog::new(self.code_at(at).await?, self.provider().clone());
        let mut filter = log.RowAppended_filter().from_block(from_block.unwrap_or(0));
        if let Some(to) = to_block {
            filter = filter.to_block(to);
        }
        let events = filter.query().await.map_err(|e| contract_error(WHAT, e))?;
        let mut rows = Vec::with_capacity(events.len());
        for (event, _) in events {
            if event.index != rows.len() as u64 {
                return Err(ChainError::Rpc {
                    what: WHAT,
                    reason: format!(
                        "row {} follows {} rows: the blocks read must start at the log's first row",
                        event.index,
                        rows.len()
                    ),
                });
            }
            rows.push(Row {
                key: event.key,
                value: event.value,
            });
        }
        Ok(rows)
    }
}

/// A word a contract returned, as a scalar (an error naming `what` if it is not one).
pub(super) fn fr_of_word(what: &'static str, w: U256) -> Result<Fr, ChainError> {
    evm::fr_from_word(&w.to_be_bytes())
        .ok_or_else(|| ChainError::rpc(what, format!("{w} is not a scalar")))
}

fn commitment_of_word(what: &'static str, w: U256) -> Result<Commitment, ChainError> {
    fr_of_word(what, w).map(Commitment)
}

/// A result's chunk proofs and public inputs as `QueryResults` takes them.
fn chunk_calldata(result: &AggregatedProof) -> (Vec<[U256; 8]>, Vec<Vec<U256>>) {
    let proofs = result
        .chunks
        .iter()
        .map(|c| proof_words(&c.proof))
        .collect();
    let inputs = result
        .chunks
        .iter()
        .map(|c| input_words(&c.statement.to_public_inputs()))
        .collect();
    (proofs, inputs)
}

/// Sends a contract call as a transaction: first as a call, so that a revert is reported
/// with its reason and costs nothing, then signed and sent, and its receipt awaited.
pub(super) async fn transact<C>(
    what: &'static str,
    call: alloy::contract::SolCallBuilder<&DynProvider, C>,
) -> Result<Delivered, ChainError>
where
    C: alloy::sol_types::SolCall + Send + Sync + Unpin,
{
    call.call_raw().await.map_err(|e| contract_error(what, e))?;
    receipt_ok(what, send_and_wait(what, &call).await?)
}
