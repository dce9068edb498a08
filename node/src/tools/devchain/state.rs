//! The embedded chain's state: accounts and contracts in revm's in-memory database, and the
//! blocks mined so far with their receipts and logs. Every transaction is executed when it
//! arrives and mined alone in a block of its own (as Hardhat's node does by default); calls
//! and gas estimates run against the latest state without changing it.
//!
//! What a dev chain leaves out: no history of states (calls and estimates are answered at
//! the latest block only), no state or transaction tries (their roots in the headers are
//! those of empty tries), a base fee that does not move.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::consensus::transaction::SignerRecoverable;
use alloy::consensus::{
    Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction as _, TxEnvelope,
    TxType,
};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::{Address, B256, Bytes, Log, TxKind, U256, keccak256, logs_bloom};
use alloy::rpc::types::{
    Block, BlockTransactions, Filter, FilterBlockOption, TransactionReceipt, TransactionRequest,
};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::result::ExecutionResult;
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::hardfork::SpecId;
use revm::state::AccountInfo;
use revm::{Context, ExecuteCommitEvm, ExecuteEvm, Journal, MainBuilder};

/// The gas limit of every block, and the most a call or an estimate may use.
pub const BLOCK_GAS_LIMIT: u64 = 30_000_000;
/// The base fee of every block: 1 gwei.
pub const BASE_FEE: u64 = 1_000_000_000;
/// What a funded account starts with: a million ether.
const FUNDS: u128 = 1_000_000 * 1_000_000_000_000_000_000;
/// The most blocks one `eth_getLogs` may span.
const MAX_LOG_RANGE: u64 = 100_000;

/// Why the chain refused a request: JSON-RPC's code and message, and revert data if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The JSON-RPC error code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
    /// A reverted call's output (its encoded error), for the client to decode.
    pub data: Option<Bytes>,
}

impl Refusal {
    /// A request the chain cannot serve (-32000, as Ethereum nodes answer).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: -32000,
            message: message.into(),
            data: None,
        }
    }

    /// A call that reverted, with its output (code 3, as geth and Hardhat answer).
    fn reverted(output: Bytes) -> Self {
        Self {
            code: 3,
            message: "execution reverted".into(),
            data: Some(output),
        }
    }
}

/// A mined transaction, as its receipt tells it.
#[derive(Debug, Clone)]
struct Mined {
    block: u64,
    tx_type: TxType,
    from: Address,
    to: Option<Address>,
    contract: Option<Address>,
    success: bool,
    gas_used: u64,
    gas_price: u128,
    logs: Vec<Log>,
}

/// A mined block: its header, and the transactions in it.
#[derive(Debug, Clone)]
struct MinedBlock {
    hash: B256,
    header: Header,
    txs: Vec<B256>,
}

/// An EVM chain in memory.
pub struct Chain {
    db: CacheDB<EmptyDB>,
    chain_id: u64,
    blocks: Vec<MinedBlock>,
    txs: HashMap<B256, Mined>,
}

/// A block number or tag of a request.
fn block_number(tag: &serde_json::Value, latest: u64) -> Result<u64, Refusal> {
    match tag.as_str() {
        None | Some("latest" | "pending" | "safe" | "finalized") => Ok(latest),
        Some("earliest") => Ok(0),
        Some(hex) => u64::from_str_radix(hex.trim_start_matches("0x"), 16)
            .map_err(|_| Refusal::invalid(format!("bad block number {hex:?}"))),
    }
}

impl Chain {
    /// A chain with id `chain_id` whose genesis funds `accounts`.
    pub fn new(chain_id: u64, accounts: &[Address]) -> Self {
        let mut db = CacheDB::new(EmptyDB::new());
        for &account in accounts {
            db.insert_account_info(
                account,
                AccountInfo {
                    balance: U256::from(FUNDS),
                    ..Default::default()
                },
            );
        }
        let mut chain = Self {
            db,
            chain_id,
            blocks: Vec::new(),
            txs: HashMap::new(),
        };
        chain.mine(Vec::new(), 0, Default::default(), now());
        chain
    }

    /// The chain's id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The latest block's number.
    pub fn latest(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    /// Refuses a state query at any block but the latest (the only state kept).
    pub fn at_latest(&self, tag: Option<&serde_json::Value>) -> Result<(), Refusal> {
        let latest = self.latest();
        let asked = tag.map_or(Ok(latest), |t| block_number(t, latest))?;
        if asked == latest {
            Ok(())
        } else {
            Err(Refusal::invalid(format!(
                "this chain keeps only its latest state (block {latest}), not block {asked}'s"
            )))
        }
    }

    /// An account's nonce (the next transaction it may send).
    pub fn nonce(&self, account: Address) -> u64 {
        self.db
            .cache
            .accounts
            .get(&account)
            .map_or(0, |a| a.info.nonce)
    }

    /// An account's balance.
    pub fn balance(&self, account: Address) -> U256 {
        self.db
            .cache
            .accounts
            .get(&account)
            .map_or(U256::ZERO, |a| a.info.balance)
    }

    /// The code deployed at `account` (empty if none).
    pub fn code(&self, account: Address) -> Bytes {
        self.db
            .cache
            .accounts
            .get(&account)
            .and_then(|a| a.info.code.as_ref())
            .map_or_else(Bytes::new, |c| c.original_bytes())
    }

    /// The environment of the block that would be mined next.
    fn next_block(&self, base_fee: u64) -> BlockEnv {
        let parent = &self.blocks[self.blocks.len() - 1].header;
        BlockEnv {
            number: U256::from(parent.number + 1),
            timestamp: U256::from(next_timestamp(parent.timestamp)),
            gas_limit: BLOCK_GAS_LIMIT,
            basefee: base_fee,
            prevrandao: Some(parent.hash_slow()),
            ..Default::default()
        }
    }

    /// Runs `tx` against the latest state, in the block `block`, and keeps the changes if
    /// `commit`.
    fn execute(
        &mut self,
        tx: TxEnv,
        block: BlockEnv,
        unchecked: bool,
        commit: bool,
    ) -> Result<ExecutionResult, Refusal> {
        let chain_id = self.chain_id;
        let mut evm = Context::<BlockEnv, TxEnv, CfgEnv, _, Journal<_>, ()>::new(
            &mut self.db,
            SpecId::PRAGUE,
        )
        .modify_cfg_chained(|cfg| {
            cfg.chain_id = chain_id;
            cfg.disable_nonce_check = unchecked;
        })
        .with_block(block)
        .build_mainnet();
        let result = if commit {
            evm.transact_commit(tx)
        } else {
            evm.transact(tx).map(|r| r.result)
        };
        result.map_err(|e| Refusal::invalid(e.to_string()))
    }

    /// A call's environment: the request as `from` would send it, with no fee and no nonce
    /// check.
    fn call_env(&self, req: &TransactionRequest, gas: u64) -> TxEnv {
        let from = req.from.unwrap_or_default();
        TxEnv {
            caller: from,
            gas_limit: gas,
            gas_price: 0,
            kind: req.to.unwrap_or(TxKind::Create),
            value: req.value.unwrap_or_default(),
            data: req.input.input().cloned().unwrap_or_default(),
            nonce: self.nonce(from),
            chain_id: Some(self.chain_id),
            ..Default::default()
        }
    }

    /// `eth_call`: what the request returns at the latest block; a revert is refused with
    /// its output.
    pub fn call(&mut self, req: &TransactionRequest) -> Result<Bytes, Refusal> {
        let gas = req.gas.unwrap_or(BLOCK_GAS_LIMIT).min(BLOCK_GAS_LIMIT);
        let env = self.call_env(req, gas);
        match self.execute(env, self.next_block(0), true, false)? {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(Refusal::reverted(output)),
            ExecutionResult::Halt { reason, .. } => {
                Err(Refusal::invalid(format!("execution halted: {reason:?}")))
            }
        }
    }

    /// `eth_estimateGas`: the least gas limit with which the request succeeds (found by
    /// bisection, as nodes do: the 63/64 rule makes a call need more than it uses).
    pub fn estimate_gas(&mut self, req: &TransactionRequest) -> Result<u64, Refusal> {
        let cap = req.gas.unwrap_or(BLOCK_GAS_LIMIT).min(BLOCK_GAS_LIMIT);
        let run = |chain: &mut Self, gas: u64| {
            let env = chain.call_env(req, gas);
            chain.execute(env, chain.next_block(0), true, false)
        };
        let used = match run(self, cap)? {
            ExecutionResult::Success { gas, .. } => gas.tx_gas_used(),
            ExecutionResult::Revert { output, .. } => return Err(Refusal::reverted(output)),
            ExecutionResult::Halt { reason, .. } => {
                return Err(Refusal::invalid(format!(
                    "execution halted with {cap} gas: {reason:?}"
                )));
            }
        };
        let (mut low, mut high) = (used.saturating_sub(1), cap);
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if run(self, mid)?.is_success() {
                high = mid;
            } else {
                low = mid;
            }
        }
        Ok(high)
    }

    /// `eth_sendRawTransaction`: decodes, checks and executes a signed transaction and
    /// mines it in a block of its own. A transaction that reverts is mined (failed, its gas
    /// paid); one the chain cannot take (bad signature, nonce, funds, chain) is refused.
    pub fn send_raw(&mut self, raw: &[u8]) -> Result<B256, Refusal> {
        let mut buf = raw;
        let tx = TxEnvelope::decode_2718(&mut buf)
            .map_err(|e| Refusal::invalid(format!("not a signed transaction: {e}")))?;
        if !buf.is_empty() {
            return Err(Refusal::invalid("trailing bytes after the transaction"));
        }
        let tx_type = tx.tx_type();
        if !matches!(tx_type, TxType::Legacy | TxType::Eip2930 | TxType::Eip1559) {
            return Err(Refusal::invalid(format!(
                "transaction type {tx_type} is not served by this chain"
            )));
        }
        let from = tx
            .recover_signer()
            .map_err(|e| Refusal::invalid(format!("bad signature: {e}")))?;
        let hash = *tx.tx_hash();
        if self.txs.contains_key(&hash) {
            return Err(Refusal::invalid(format!(
                "transaction {hash} already mined"
            )));
        }
        let env = TxEnv {
            tx_type: tx_type as u8,
            caller: from,
            gas_limit: tx.gas_limit(),
            gas_price: tx.max_fee_per_gas(),
            gas_priority_fee: tx.max_priority_fee_per_gas(),
            kind: tx.kind(),
            value: tx.value(),
            data: tx.input().clone(),
            nonce: tx.nonce(),
            chain_id: tx.chain_id(),
            access_list: tx.access_list().cloned().unwrap_or_default(),
            ..Default::default()
        };
        let nonce = self.nonce(from);
        let block = self.next_block(BASE_FEE);
        let timestamp = block.timestamp.saturating_to();
        let result = self.execute(env, block, false, true)?;
        let contract = match (&result, tx.kind()) {
            (ExecutionResult::Success { .. }, TxKind::Create) => Some(from.create(nonce)),
            _ => None,
        };
        let gas_used = result.tx_gas_used();
        let mined = Mined {
            block: self.latest() + 1,
            tx_type,
            from,
            to: tx.to(),
            contract,
            success: result.is_success(),
            gas_used,
            gas_price: tx.effective_gas_price(Some(BASE_FEE)),
            logs: result.into_logs(),
        };
        let bloom = logs_bloom(&mined.logs);
        self.txs.insert(hash, mined);
        self.mine(vec![hash], gas_used, bloom, timestamp);
        Ok(hash)
    }

    /// Appends a block holding `txs`, executed at `timestamp`.
    fn mine(
        &mut self,
        txs: Vec<B256>,
        gas_used: u64,
        logs_bloom: alloy::primitives::Bloom,
        timestamp: u64,
    ) {
        let (number, parent_hash) = match self.blocks.last() {
            Some(parent) => (parent.header.number + 1, parent.hash),
            None => (0, B256::ZERO),
        };
        let header = Header {
            parent_hash,
            number,
            timestamp,
            gas_limit: BLOCK_GAS_LIMIT,
            gas_used,
            base_fee_per_gas: Some(BASE_FEE),
            logs_bloom,
            // The transactions' root of a dev chain: a digest of their hashes, not a trie.
            transactions_root: keccak256(txs.concat()),
            ..Default::default()
        };
        self.blocks.push(MinedBlock {
            hash: header.hash_slow(),
            header,
            txs,
        });
    }

    /// `eth_getBlockByNumber` / `…ByHash`: the block, its transactions as hashes.
    pub fn block(&self, number: u64) -> Option<Block> {
        let mined = self.blocks.get(usize::try_from(number).ok()?)?;
        Some(Block {
            header: alloy::rpc::types::Header {
                hash: mined.hash,
                inner: mined.header.clone(),
                total_difficulty: Some(U256::ZERO),
                size: None,
            },
            uncles: Vec::new(),
            transactions: BlockTransactions::Hashes(mined.txs.clone()),
            withdrawals: None,
        })
    }

    /// The number of the block with hash `hash`.
    pub fn block_by_hash(&self, hash: B256) -> Option<u64> {
        self.blocks
            .iter()
            .position(|b| b.hash == hash)
            .map(|n| n as u64)
    }

    /// A block number or tag, resolved.
    pub fn resolve(&self, tag: &serde_json::Value) -> Result<u64, Refusal> {
        block_number(tag, self.latest())
    }

    /// `eth_feeHistory` over the `count` blocks up to `newest`: the base fee never moves.
    pub fn fee_history(
        &self,
        count: u64,
        newest: u64,
        percentiles: &[f64],
    ) -> alloy::rpc::types::FeeHistory {
        let newest = newest.min(self.latest());
        let count = count.clamp(1, 1024).min(newest + 1);
        let oldest = newest + 1 - count;
        let blocks = oldest..=newest;
        alloy::rpc::types::FeeHistory {
            base_fee_per_gas: vec![u128::from(BASE_FEE); count as usize + 1],
            gas_used_ratio: blocks
                .clone()
                .map(|n| self.blocks[n as usize].header.gas_used as f64 / BLOCK_GAS_LIMIT as f64)
                .collect(),
            oldest_block: oldest,
            reward: (!percentiles.is_empty()).then(|| {
                blocks
                    .map(|n| {
                        let paid = self.blocks[n as usize]
                            .txs
                            .first()
                            .map_or(0, |h| self.txs[h].gas_price - u128::from(BASE_FEE));
                        vec![paid; percentiles.len()]
                    })
                    .collect()
            }),
            ..Default::default()
        }
    }

    /// `eth_getTransactionReceipt`.
    pub fn receipt(&self, hash: B256) -> Option<TransactionReceipt> {
        let mined = self.txs.get(&hash)?;
        let block = &self.blocks[mined.block as usize];
        let logs = self.rpc_logs(hash, mined, block);
        let receipt = ReceiptWithBloom {
            logs_bloom: block.header.logs_bloom,
            receipt: Receipt {
                status: Eip658Value::Eip658(mined.success),
                cumulative_gas_used: mined.gas_used,
                logs,
            },
        };
        let inner = match mined.tx_type {
            TxType::Legacy => ReceiptEnvelope::Legacy(receipt),
            TxType::Eip2930 => ReceiptEnvelope::Eip2930(receipt),
            _ => ReceiptEnvelope::Eip1559(receipt),
        };
        Some(TransactionReceipt {
            inner,
            transaction_hash: hash,
            transaction_index: Some(0),
            block_hash: Some(block.hash),
            block_number: Some(mined.block),
            gas_used: mined.gas_used,
            effective_gas_price: mined.gas_price,
            blob_gas_used: None,
            blob_gas_price: None,
            from: mined.from,
            to: mined.to,
            contract_address: mined.contract,
        })
    }

    /// The logs of one mined transaction, as the RPC gives them.
    fn rpc_logs(
        &self,
        hash: B256,
        mined: &Mined,
        block: &MinedBlock,
    ) -> Vec<alloy::rpc::types::Log> {
        mined
            .logs
            .iter()
            .enumerate()
            .map(|(i, log)| alloy::rpc::types::Log {
                inner: log.clone(),
                block_hash: Some(block.hash),
                block_number: Some(mined.block),
                block_timestamp: Some(block.header.timestamp),
                transaction_hash: Some(hash),
                transaction_index: Some(0),
                log_index: Some(i as u64),
                removed: false,
            })
            .collect()
    }

    /// `eth_getLogs`: the logs matching `filter`, in chain order.
    pub fn logs(&self, filter: &Filter) -> Result<Vec<alloy::rpc::types::Log>, Refusal> {
        let latest = self.latest();
        let (from, to) = match &filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                let n = self
                    .block_by_hash(*hash)
                    .ok_or_else(|| Refusal::invalid(format!("no block {hash}")))?;
                (n, n)
            }
            FilterBlockOption::Range {
                from_block,
                to_block,
            } => {
                let resolve = |b: &Option<alloy::eips::BlockNumberOrTag>| match b {
                    Some(tag) if tag.is_earliest() => 0,
                    Some(tag) => tag.as_number().unwrap_or(latest),
                    None => latest,
                };
                (resolve(from_block), resolve(to_block).min(latest))
            }
        };
        if to >= from && to - from >= MAX_LOG_RANGE {
            return Err(Refusal::invalid(format!(
                "a log query may span at most {MAX_LOG_RANGE} blocks"
            )));
        }
        let mut out = Vec::new();
        for number in from..=to.min(latest) {
            let block = &self.blocks[number as usize];
            if !filter.matches_bloom(block.header.logs_bloom) {
                continue;
            }
            for hash in &block.txs {
                let mined = &self.txs[hash];
                out.extend(
                    self.rpc_logs(*hash, mined, block)
                        .into_iter()
                        .filter(|log| {
                            filter.matches_address(log.address())
                                && filter.matches_topics(log.topics())
                        }),
                );
            }
        }
        Ok(out)
    }
}

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The timestamp of a block after one at `parent`: now, and later than its parent.
fn next_timestamp(parent: u64) -> u64 {
    now().max(parent + 1)
}
