//! `devnet --workload chain`: the coprocessor's whole path through an EVM chain. The chunk
//! circuit's verifier and a `QueryResults` are deployed; each task's rows are recorded in a
//! `RowLog` of their own and read back from its events (checked against the commitment the
//! log holds); the network proves the query, and the gateway delivers the result itself
//! (`submitFor` the log); the answer is then read from the contract. The chain is an EVM node
//! named by its JSON-RPC endpoint, or else one inside the devnet's process
//! ([`crate::tools::devchain`]), reached through the same client. Without the `chain` feature
//! each step says that it needs it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use lagrange_circuits::coprocessor::Query;
use lagrange_protocol::{JobCategory, TaskId};
use tokio_util::sync::CancellationToken;

use crate::gateway::driver::GatewayHandle;
use crate::model::{Delivery, TaskSpec};

/// Where a `--workload chain` devnet runs.
#[derive(Debug, Clone)]
pub struct DevnetChain {
    /// The EVM node's JSON-RPC endpoint.
    pub rpc: String,
    /// A file holding the hex key that deploys, records and delivers (else the key is read
    /// from `LAGRANGE_ETH_KEY`).
    pub eth_key_file: Option<PathBuf>,
}

#[cfg(feature = "chain")]
pub(super) use evm::ChainRun;

/// Without the `chain` feature there is no chain to run on.
#[cfg(not(feature = "chain"))]
pub(super) enum ChainRun {}

/// Deploys the contracts of a chain run (on `chain`, else on an EVM in this process) and
/// starts the gateway's own deliveries.
pub(super) async fn setup(
    chain: Option<&DevnetChain>,
    category: JobCategory,
    params_dir: &Path,
    gateway: &GatewayHandle,
    stop: &CancellationToken,
    say: impl Fn(String),
) -> Result<ChainRun> {
    #[cfg(feature = "chain")]
    {
        let spec = crate::circuit_workload::circuit_for(true, category);
        let chunk_rows = match spec {
            lagrange_circuits::CircuitSpec::Coprocessor(shape) => shape.rows as u64,
            other => anyhow::bail!("{other} is not a coprocessor circuit"),
        };
        let run = ChainRun::deploy(chain, params_dir, &spec.id(), chunk_rows, say).await?;
        drop(run.deliver_for(gateway, stop.clone()));
        Ok(run)
    }
    #[cfg(not(feature = "chain"))]
    {
        let _ = (chain, category, params_dir, gateway, stop, say);
        anyhow::bail!("--workload chain needs a lagrange-node built with the `chain` feature")
    }
}

/// A chain run's query task gets its rows from the chain: recorded in a RowLog and read back
/// from its events. Returns where the gateway delivers the result.
pub(super) async fn record(
    chain: Option<&ChainRun>,
    spec: &mut TaskSpec,
    say: impl Fn(String),
) -> Result<Option<Delivery>> {
    let (Some(chain), TaskSpec::Query { rows, .. }) = (chain, spec) else {
        return Ok(None);
    };
    #[cfg(feature = "chain")]
    {
        let (read, to) = chain.record(rows, say).await?;
        *rows = read;
        Ok(Some(to))
    }
    #[cfg(not(feature = "chain"))]
    {
        let _ = (rows, say);
        match *chain {}
    }
}

/// The answer the contract holds for a delivered task over the rows of the log they were
/// read from; fails if the delivery did not land.
pub(super) async fn answer(
    chain: Option<&ChainRun>,
    gateway: &GatewayHandle,
    task: &TaskId,
    query: Query,
) -> Result<Option<(u128, u64)>> {
    let Some(chain) = chain else {
        return Ok(None);
    };
    #[cfg(feature = "chain")]
    {
        let log = match gateway.store().delivery(task)? {
            Some(crate::model::DeliveryRecord {
                to: Delivery {
                    source: Some(log), ..
                },
                state: crate::model::DeliveryState::Delivered { .. },
            }) => alloy::primitives::Address::from(log),
            other => {
                anyhow::bail!("task {task}: the result was not delivered on chain ({other:?})")
            }
        };
        let held = chain.answer(log, query).await?;
        Ok(Some((held.answer.sum, held.answer.count)))
    }
    #[cfg(not(feature = "chain"))]
    {
        let _ = (gateway, task, query);
        match *chain {}
    }
}

#[cfg(feature = "chain")]
mod evm {
    use std::path::Path;

    use alloy::primitives::Address;
    use anyhow::{Context, Result, anyhow, bail};
    use lagrange_circuits::coprocessor::{DataSet, Query, Row};
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;

    use super::DevnetChain;
    use crate::chain::{Evm, ProvenAnswer};
    use crate::gateway::driver::GatewayHandle;
    use crate::model::{Delivery, hex0x};
    use crate::tools::devchain::{self, DevChain};

    /// The contracts of one chain devnet.
    pub struct ChainRun {
        evm: Evm,
        results: Address,
        /// The EVM in this process, when no node was named (it stops when dropped).
        _embedded: Option<DevChain>,
    }

    impl ChainRun {
        /// Connects to `chain`'s node (else starts an EVM in this process) and deploys the
        /// verifier of `circuit` (its key from `params_dir`) and a `QueryResults` over it for
        /// chunks of `chunk_rows` rows.
        pub async fn deploy(
            chain: Option<&DevnetChain>,
            params_dir: &Path,
            circuit: &str,
            chunk_rows: u64,
            say: impl Fn(String),
        ) -> Result<Self> {
            let (evm, embedded) = match chain {
                Some(chain) => {
                    let signer = crate::keyfile::read_eth_key(chain.eth_key_file.as_deref())?;
                    (Evm::connect(&chain.rpc, Some(signer), None).await?, None)
                }
                None => {
                    let dev = DevChain::start()
                        .await
                        .context("starting the embedded EVM")?;
                    let evm =
                        Evm::connect(dev.url(), Some(dev.key().clone()), Some(devchain::CHAIN_ID))
                            .await?;
                    (evm, Some(dev))
                }
            };
            let node = match &embedded {
                Some(_) => "an EVM in this process (revm)",
                None => "the node",
            };
            let (_, vk) = crate::circuit_workload::verifier_keys(params_dir, circuit)?
                .into_iter()
                .next()
                .context("the chunk circuit has no verifying key")?;
            let verifier = evm.deploy_verifier(&vk).await?;
            let results = evm
                .deploy_query_results(verifier.address, chunk_rows)
                .await?;
            say(format!(
                "chain {} on {node} at {}: verifier of {circuit} at {} ({} gas), QueryResults at {} ({} gas)",
                evm.chain_id(),
                evm.url(),
                verifier.address,
                verifier.gas_used,
                results.address,
                results.gas_used
            ));
            Ok(Self {
                evm,
                results: results.address,
                _embedded: embedded,
            })
        }

        /// Starts the gateway's own deliveries through this chain.
        pub fn deliver_for(
            &self,
            gateway: &GatewayHandle,
            stop: CancellationToken,
        ) -> JoinHandle<()> {
            crate::chain::deliver::spawn(gateway.clone(), self.evm.clone(), stop)
        }

        /// Records `rows` in a new `RowLog` and reads them back from its events, checked against
        /// the commitment the log holds for them. Returns the rows as read, and where the result
        /// goes.
        pub async fn record(
            &self,
            rows: &[(u64, u64)],
            say: impl Fn(String),
        ) -> Result<(Vec<(u64, u64)>, Delivery)> {
            let log = self.evm.deploy_row_log().await?.address;
            let rows: Vec<Row> = rows
                .iter()
                .map(|&(key, value)| Row { key, value })
                .collect();
            let gas = self.evm.record_all_rows(log, &rows).await?;
            let read = self.evm.rows_from_chain(log, None, None).await?;
            if read != rows {
                bail!("the rows read back from RowLog {log} differ from those recorded");
            }
            let on_chain = self.evm.row_log_commitment(log).await?;
            let data = DataSet::new(read.clone()).map_err(|e| anyhow!(e.to_string()))?;
            if on_chain != data.commitment() {
                bail!("RowLog {log} holds another commitment than its rows'");
            }
            say(format!(
                "{} rows recorded in RowLog {log} ({gas} gas) and read back from its events; commitment matches",
                read.len()
            ));
            let delivery = Delivery {
                contract: self.results.into_array(),
                source: Some(log.into_array()),
            };
            Ok((read.iter().map(|r| (r.key, r.value)).collect(), delivery))
        }

        /// The answer the `QueryResults` holds for `query` over every row the `RowLog` at
        /// `log` recorded.
        pub async fn answer(&self, log: Address, query: Query) -> Result<ProvenAnswer> {
            let (held, _) = self
                .evm
                .query_answer_over_log(self.results, log, query)
                .await?;
            held.with_context(|| {
                format!(
                    "{} holds no answer for the query",
                    hex0x(self.results.as_slice())
                )
            })
        }
    }
}
