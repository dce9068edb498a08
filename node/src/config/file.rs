//! The config file's format: its sections (`[gateway]`, `[prover]`, `[[join]]`) and their
//! defaults, parsing it with errors that name the line and the field, and the commented
//! file with every field that `lagrange-node init` writes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Result;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use lagrange_circuits::MsmChoice;
use lagrange_protocol::JobCategory;

use super::{DEFAULT_RETENTION_SECS, Role};

/// The gateway role's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayRole {
    /// Where the gRPC client API listens.
    pub grpc: SocketAddr,
    /// Memory for the store's page cache, MiB. The store's engine counts its cache in
    /// stored bytes and holds a few times that in memory, beside structures that grow with
    /// the store itself (which `retention_secs` bounds).
    pub store_cache_mb: u64,
    /// How long a finished task (its result, proofs, jobs and events) and an auction
    /// (its bids and transcript) are kept, seconds; 0 keeps them forever.
    pub retention_secs: u64,
    /// Client tasks split at once (a split may be long CPU work); 0: one per CPU core.
    pub max_concurrent_splits: usize,
    /// `SubmitTask` calls one client address may make a minute; 0: no limit.
    pub submits_per_minute: u32,
    /// The JSON-RPC endpoint of the EVM chain the gateway delivers results to when a client
    /// asks (`submit query --deliver-to`); unset, it delivers nowhere and refuses such tasks.
    pub deliver_rpc: Option<String>,
    /// The chain id that endpoint must serve.
    pub deliver_chain_id: Option<u64>,
    /// A file holding the hex key that signs deliveries (unset: `LAGRANGE_ETH_KEY`).
    pub deliver_key_file: Option<PathBuf>,
}

impl GatewayRole {
    /// The client API's limits these settings give.
    pub fn api_limits(&self) -> crate::api::ApiLimits {
        let default = crate::api::ApiLimits::default();
        crate::api::ApiLimits {
            max_concurrent_splits: match self.max_concurrent_splits {
                0 => default.max_concurrent_splits,
                n => n,
            },
            submits_per_minute: self.submits_per_minute,
        }
    }
}

impl Default for GatewayRole {
    fn default() -> Self {
        Self {
            grpc: SocketAddr::from(([127, 0, 0, 1], 50051)),
            store_cache_mb: crate::store::DEFAULT_CACHE_MB,
            retention_secs: DEFAULT_RETENTION_SECS,
            max_concurrent_splits: 0,
            submits_per_minute: crate::api::server::DEFAULT_SUBMITS_PER_MINUTE,
            deliver_rpc: None,
            deliver_chain_id: None,
            deliver_key_file: None,
        }
    }
}

/// The prover role's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProverRole {
    /// Jobs proven at once.
    pub capacity: u32,
    /// Price asked per second of measured proving time.
    pub price_per_second: u64,
    /// Margin on top, in percent.
    pub margin_percent: u64,
    /// Categories to bid on (empty: every category the Supernet has).
    pub categories: Vec<JobCategory>,
    /// MSM backend: cpu, cuda, or auto (the GPU if it starts, else the CPU).
    #[serde(with = "as_text")]
    pub msm: MsmChoice,
}

impl Default for ProverRole {
    fn default() -> Self {
        Self {
            capacity: 1,
            price_per_second: 100,
            margin_percent: 10,
            categories: Vec::new(),
            msm: MsmChoice::Auto,
        }
    }
}

/// One more Supernet to join (`[[join]]`), with its own role and libp2p addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinConfig {
    /// The Supernet's config file.
    pub supernet: PathBuf,
    /// `gateway` or `prover` in it.
    pub role: Role,
    /// libp2p listen addresses for it (one swarm per Supernet, so its own port).
    #[serde(default = "any_port")]
    pub listen: Vec<Multiaddr>,
    /// Its bootnodes.
    #[serde(default)]
    pub bootnodes: Vec<Multiaddr>,
}

fn any_port() -> Vec<Multiaddr> {
    vec![all_interfaces(0)]
}

/// Serde through `Display` and `FromStr`, for types that spell themselves as text.
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A node's configuration file, as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// `gateway` or `prover`; when absent, the one role section present decides.
    pub role: Option<Role>,
    /// The node key (hex), written by `lagrange-node init` or `keygen`.
    pub key_file: PathBuf,
    /// Where the node keeps its state (`store/` for a gateway, `prover/` for a prover).
    pub data_dir: PathBuf,
    /// Where circuit parameters are kept.
    pub params_dir: PathBuf,
    /// The Supernet's config file.
    pub supernet: PathBuf,
    /// libp2p listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Bootnodes, each ending in `/p2p/<peer id>`.
    pub bootnodes: Vec<Multiaddr>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics: SocketAddr,
    /// Gateway settings.
    pub gateway: Option<GatewayRole>,
    /// Prover settings.
    pub prover: Option<ProverRole>,
    /// More Supernets to join, each with its own role.
    pub join: Vec<JoinConfig>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            role: None,
            key_file: "node.key".into(),
            data_dir: ".".into(),
            params_dir: "params".into(),
            supernet: "supernet.toml".into(),
            listen: vec![all_interfaces(9000)],
            bootnodes: Vec::new(),
            metrics: SocketAddr::from(([127, 0, 0, 1], 9100)),
            gateway: None,
            prover: None,
            join: Vec::new(),
        }
    }
}

/// `/ip4/0.0.0.0/tcp/<port>`: every interface.
fn all_interfaces(port: u16) -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    Multiaddr::from(Protocol::Ip4([0, 0, 0, 0].into())).with(Protocol::Tcp(port))
}

/// Where a TOML error is: `line N, key a.b`, from its byte offset.
fn locate(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line_no = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let section = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = line.split_once('=').map(|(k, _)| k.trim().to_string());
    match (section, key) {
        (Some(s), Some(k)) => format!("line {line_no}, {s}.{k}"),
        (None, Some(k)) => format!("line {line_no}, {k}"),
        _ => format!("line {line_no}"),
    }
}

impl NodeConfig {
    /// Parses a config file's text; the error is one line with the place and the field.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            let place = e
                .span()
                .map(|s| format!(" ({})", locate(text, s.start)))
                .unwrap_or_default();
            anyhow::anyhow!(
                "{}{place}: {}",
                origin.display(),
                e.message().trim().replace('\n', " ")
            )
        })
    }

    /// A commented file with every field at its default, for `init`.
    pub fn commented(role: Role, supernet: &Path, bootnodes: &[Multiaddr]) -> String {
        let d = NodeConfig::default();
        let g = GatewayRole::default();
        let p = ProverRole::default();
        let list = |v: &[Multiaddr]| {
            v.iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (gateway, prover) = match role {
            Role::Gateway => ("", "# "),
            Role::Prover => ("# ", ""),
        };
        format!(
            r#"# lagrange-node configuration. Every field is optional; shown are the defaults.
# Each can also be set by a flag of `lagrange-node run` or a LAGRANGE_* variable
# (flag > variable > this file > default). Relative paths are relative to this file.

# gateway or prover (LAGRANGE_ROLE, --role).
role = "{role}"
# The node key, hex; keep it private (LAGRANGE_KEY_FILE, --key-file).
key_file = "{key}"
# State: store/ for a gateway, prover/ for a prover (LAGRANGE_DATA_DIR, --data-dir).
data_dir = "{data}"
# Circuit parameters; missing files are fetched from the bootnodes and checked against
# the Supernet's pinned digests (LAGRANGE_PARAMS_DIR, --params-dir).
params_dir = "{params}"
# The Supernet's config: id, allowlist, circuits, auction timing, economics
# (LAGRANGE_SUPERNET_CONFIG, --supernet-config).
supernet = "{supernet}"
# libp2p listen addresses (LAGRANGE_LISTEN, --listen).
listen = [{listen}]
# Peers to join through, each ending in /p2p/<peer id> (LAGRANGE_BOOTNODES, --bootnode).
bootnodes = [{boot}]
# /metrics, /healthz and /readyz (LAGRANGE_METRICS, --metrics). Keep it off public
# interfaces.
metrics = "{metrics}"

{gateway}[gateway]
# The gRPC client API (LAGRANGE_GRPC, --grpc).
{gateway}grpc = "{grpc}"
# Memory for the store's page cache, MiB (LAGRANGE_STORE_CACHE_MB, --store-cache-mb). The
# store holds a few times this in memory once the cache is warm.
{gateway}store_cache_mb = {cache}
# Seconds a finished task (result, proofs, events) and an auction (bids, transcript) are
# kept before they are pruned; 0 keeps them forever, and memory and disk then grow with the
# history (LAGRANGE_RETENTION_SECS, --retention-secs).
{gateway}retention_secs = {retention}
# Client tasks split at once (splitting may be long CPU work; more submissions wait their
# turn); 0 means one per CPU core (LAGRANGE_MAX_CONCURRENT_SPLITS, --max-concurrent-splits).
{gateway}max_concurrent_splits = {splits}
# SubmitTask calls one client address may make a minute, a tenth of that at once; past it
# the call is refused with RESOURCE_EXHAUSTED; 0 means no limit (LAGRANGE_SUBMITS_PER_MINUTE,
# --submits-per-minute).
{gateway}submits_per_minute = {submits}
# The EVM chain the gateway delivers results to when a client asks (`submit query
# --deliver-to`): its JSON-RPC endpoint, the chain id it must serve, and a file holding the
# hex key that pays for deliveries (unset: LAGRANGE_ETH_KEY). Unset, such tasks are refused.
# deliver_rpc = "http://127.0.0.1:8545"
# deliver_chain_id = 31337
# deliver_key_file = "eth.key"

{prover}[prover]
# Jobs proven at once (LAGRANGE_CAPACITY, --capacity).
{prover}capacity = {capacity}
# Bid = measured proving seconds x price_per_second x (100 + margin_percent) / 100
# (LAGRANGE_PRICE_PER_SECOND, --price-per-second; LAGRANGE_MARGIN_PERCENT, --margin-percent).
{prover}price_per_second = {pps}
{prover}margin_percent = {margin}
# Categories to bid on; empty means all the Supernet has (LAGRANGE_CATEGORIES, --category).
{prover}categories = []
# MSM backend: cpu, cuda (a GPU, or fail), auto (a GPU if one works, else the CPU, saying
# why) (LAGRANGE_MSM, --msm). `lagrange-node gpu-check` says whether this host's GPU works.
{prover}msm = "{msm}"

# More Supernets to join, each with its own role and its own libp2p port (a node runs one
# swarm per Supernet). The [gateway] and [prover] settings above apply to all of them; one
# gRPC API serves every Supernet the node is a gateway of.
# [[join]]
# supernet = "other-supernet.toml"
# role = "prover"
# listen = ["/ip4/0.0.0.0/tcp/9001"]
# bootnodes = []
"#,
            key = d.key_file.display(),
            data = d.data_dir.display(),
            params = d.params_dir.display(),
            supernet = supernet.display(),
            listen = list(&d.listen),
            boot = list(bootnodes),
            metrics = d.metrics,
            grpc = g.grpc,
            cache = g.store_cache_mb,
            retention = g.retention_secs,
            splits = g.max_concurrent_splits,
            submits = g.submits_per_minute,
            capacity = p.capacity,
            pps = p.price_per_second,
            margin = p.margin_percent,
            msm = p.msm,
        )
    }
}
