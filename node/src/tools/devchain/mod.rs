//! An EVM chain inside the node's own process, for `devnet --workload chain` on a machine with
//! nothing installed. revm executes the transactions ([`state`]); a JSON-RPC endpoint on
//! loopback serves the part of Ethereum's API that the node's chain client uses, so the devnet
//! goes through the very client code (alloy over HTTP) that talks to a real node. One account,
//! with a fixed and public key, is funded at genesis: a development chain, never a real one.

mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use alloy::primitives::{Address, B256, Bytes, U64, keccak256};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use state::{BASE_FEE, BLOCK_GAS_LIMIT, Chain, Refusal};

/// The priority fee the chain suggests: 1 gwei.
const PRIORITY_FEE: u64 = 1_000_000_000;
/// The largest request body served (a contract's creation code with its key is a few KiB).
const MAX_BODY: usize = 8 << 20;
/// The most requests one batch may hold.
const MAX_BATCH: usize = 256;
/// The chain id of a dev chain (Hardhat's, so that wallets treat it as a dev chain too).
pub const CHAIN_ID: u64 = 31337;

/// A running dev chain; it stops when dropped.
pub struct DevChain {
    url: String,
    key: PrivateKeySigner,
    stop: CancellationToken,
}

impl DevChain {
    /// Starts a chain with id [`CHAIN_ID`], its JSON-RPC endpoint on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let key = dev_key();
        let chain = Arc::new(Mutex::new(Chain::new(CHAIN_ID, &[key.address()])));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = Router::new()
            .route("/", post(rpc))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(chain);
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "dev chain endpoint stopped");
            }
        });
        Ok(Self { url, key, stop })
    }

    /// The JSON-RPC endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key of the account funded at genesis.
    pub fn key(&self) -> &PrivateKeySigner {
        &self.key
    }
}

impl Drop for DevChain {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The funded account's key: fixed and public, derived from a label.
fn dev_key() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256("lagrange-node dev chain account 0"))
        .expect("a keccak digest below the curve order is a valid key")
}

/// One HTTP request: a JSON-RPC call or a batch of them, answered off the async runtime
/// (executing a transaction checks pairings).
async fn rpc(State(chain): State<Arc<Mutex<Chain>>>, body: axum::body::Bytes) -> impl IntoResponse {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return reply(&error(
                Value::Null,
                -32700,
                format!("parse error: {e}"),
                None,
            ));
        }
    };
    let answer = tokio::task::spawn_blocking(move || {
        let mut chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
        match request {
            Value::Array(batch) if batch.len() > MAX_BATCH => error(
                Value::Null,
                -32600,
                format!("a batch may hold at most {MAX_BATCH} requests"),
                None,
            ),
            Value::Array(batch) => batch.into_iter().map(|r| one(&mut chain, r)).collect(),
            single => one(&mut chain, single),
        }
    })
    .await
    .unwrap_or_else(|e| error(Value::Null, -32603, format!("internal error: {e}"), None));
    reply(&answer)
}

/// A JSON body.
fn reply(answer: &Value) -> impl IntoResponse + use<> {
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
}

/// A JSON-RPC error response.
fn error(id: Value, code: i64, message: String, data: Option<Bytes>) -> Value {
    let mut err = json!({ "code": code, "message": message });
    if let Some(data) = data {
        err["data"] = json!(data);
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": err })
}

/// One call, answered.
fn one(chain: &mut Chain, request: Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return error(id, -32600, "a request needs a method".into(), None);
    };
    let empty = Vec::new();
    let params = request
        .get("params")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    tracing::trace!(method, "dev chain request");
    match serve(chain, method, params) {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(refusal) => error(id, refusal.code, refusal.message, refusal.data),
    }
}

/// The `i`th parameter as a `T`.
fn param<T: DeserializeOwned>(params: &[Value], i: usize, what: &str) -> Result<T, Refusal> {
    let value = params
        .get(i)
        .ok_or_else(|| Refusal::invalid(format!("missing parameter {i} ({what})")))?;
    serde_json::from_value(value.clone())
        .map_err(|e| Refusal::invalid(format!("bad parameter {i} ({what}): {e}")))
}

/// A quantity, as the API writes it.
fn quantity(n: u64) -> Value {
    json!(U64::from(n))
}

/// A value as JSON.
fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, Refusal> {
    serde_json::to_value(value).map_err(|e| Refusal::invalid(e.to_string()))
}

/// Answers `method`.
fn serve(chain: &mut Chain, method: &str, params: &[Value]) -> Result<Value, Refusal> {
    Ok(match method {
        "eth_chainId" => quantity(chain.chain_id()),
        "net_version" => json!(chain.chain_id().to_string()),
        "web3_clientVersion" => json!(concat!(
            "lagrange-node-devchain/",
            env!("CARGO_PKG_VERSION")
        )),
        "eth_blockNumber" => quantity(chain.latest()),
        "eth_gasPrice" => quantity(BASE_FEE + PRIORITY_FEE),
        "eth_maxPriorityFeePerGas" => quantity(PRIORITY_FEE),
        "eth_feeHistory" => {
            let count: U64 = param(params, 0, "block count")?;
            let newest = chain.resolve(params.get(1).unwrap_or(&Value::Null))?;
            let percentiles: Vec<f64> = params
                .get(2)
                .map(|_| param(params, 2, "reward percentiles"))
                .transpose()?
                .unwrap_or_default();
            to_json(&chain.fee_history(count.to(), newest, &percentiles))?
        }
        "eth_getBlockByNumber" => {
            let number = chain.resolve(params.first().unwrap_or(&Value::Null))?;
            to_json(&chain.block(number))?
        }
        "eth_getBlockByHash" => {
            let hash: B256 = param(params, 0, "block hash")?;
            to_json(&chain.block_by_hash(hash).and_then(|n| chain.block(n)))?
        }
        "eth_getTransactionCount" | "eth_getBalance" | "eth_getCode" => {
            let account: Address = param(params, 0, "address")?;
            chain.at_latest(params.get(1))?;
            match method {
                "eth_getTransactionCount" => quantity(chain.nonce(account)),
                "eth_getBalance" => json!(chain.balance(account)),
                _ => json!(chain.code(account)),
            }
        }
        "eth_call" | "eth_estimateGas" => {
            let request: TransactionRequest = param(params, 0, "transaction")?;
            chain.at_latest(params.get(1))?;
            if method == "eth_call" {
                json!(chain.call(&request)?)
            } else {
                quantity(chain.estimate_gas(&request)?)
            }
        }
        "eth_sendRawTransaction" => {
            let raw: Bytes = param(params, 0, "signed transaction")?;
            json!(chain.send_raw(&raw)?)
        }
        "eth_getTransactionReceipt" => {
            let hash: B256 = param(params, 0, "transaction hash")?;
            to_json(&chain.receipt(hash))?
        }
        "eth_getLogs" => {
            let filter: Filter = param(params, 0, "filter")?;
            to_json(&chain.logs(&filter)?)?
        }
        other => {
            return Err(Refusal {
                code: -32601,
                message: format!("method {other} is not served by this dev chain"),
                data: None,
            });
        }
    })
}
