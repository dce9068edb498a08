//! The node's own configuration: who it is, where it listens, which Supernet it joins and
//! which role it runs there.
//!
//! Every field has a default. A value comes from, in rising order of precedence: the
//! default, the config file (`node.toml`, TOML), the environment (`LAGRANGE_*`), and the
//! command line. `lagrange-node init` writes a commented file with every field; the operator
//! guide (`docs/operator-guide.md`) lists them all.
//!
//! Relative paths in the file are relative to the file's directory; relative paths given by
//! flag or environment are relative to the working directory. An invalid value stops the
//! node at start with one line naming the field.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use lagrange_circuits::MsmChoice;
use lagrange_protocol::JobCategory;
use lagrange_protocol::config::SupernetConfig;

/// The role a node runs in its Supernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes client tasks, runs auctions, verifies and aggregates.
    Gateway,
    /// Bids on jobs and proves them.
    Prover,
}

impl Role {
    /// `gateway` or `prover`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Prover => "prover",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gateway" => Ok(Role::Gateway),
            "prover" => Ok(Role::Prover),
            other => Err(format!("`{other}` is not a role: gateway or prover")),
        }
    }
}

/// How long a gateway keeps finished tasks and auctions unless configured otherwise: a week.
pub const DEFAULT_RETENTION_SECS: u64 = 7 * 24 * 3600;

/// The shortest retention a gateway accepts (other than 0, forever), seconds: time for
/// clients to fetch results and provers to fetch transcripts.
pub const MIN_RETENTION_SECS: u64 = 60;

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

/// Command-line and environment overrides of [`NodeConfig`] fields.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Role: gateway or prover.
    #[arg(long, env = "LAGRANGE_ROLE")]
    pub role: Option<Role>,
    /// The node key file.
    #[arg(long, env = "LAGRANGE_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Where the node keeps its state.
    #[arg(long, env = "LAGRANGE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where circuit parameters are kept.
    #[arg(long, env = "LAGRANGE_PARAMS_DIR")]
    pub params_dir: Option<PathBuf>,
    /// The Supernet's config file.
    #[arg(long = "supernet-config", env = "LAGRANGE_SUPERNET_CONFIG")]
    pub supernet: Option<PathBuf>,
    /// libp2p listen addresses (repeat, or comma-separate in the environment).
    #[arg(long, env = "LAGRANGE_LISTEN", value_delimiter = ',')]
    pub listen: Vec<Multiaddr>,
    /// Bootnodes, each ending in /p2p/<peer id> (repeat, or comma-separate).
    #[arg(long = "bootnode", env = "LAGRANGE_BOOTNODES", value_delimiter = ',')]
    pub bootnodes: Vec<Multiaddr>,
    /// Where /metrics, /healthz and /readyz are served (port 0 picks one).
    #[arg(long, env = "LAGRANGE_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// Gateway: where the gRPC API listens.
    #[arg(long, env = "LAGRANGE_GRPC")]
    pub grpc: Option<SocketAddr>,
    /// Gateway: memory for the store's page cache, MiB.
    #[arg(long, env = "LAGRANGE_STORE_CACHE_MB")]
    pub store_cache_mb: Option<u64>,
    /// Gateway: seconds a finished task and an auction are kept (0: forever).
    #[arg(long, env = "LAGRANGE_RETENTION_SECS")]
    pub retention_secs: Option<u64>,
    /// Gateway: client tasks split at once (0: one per CPU core).
    #[arg(long, env = "LAGRANGE_MAX_CONCURRENT_SPLITS")]
    pub max_concurrent_splits: Option<usize>,
    /// Gateway: SubmitTask calls one client address may make a minute (0: no limit).
    #[arg(long, env = "LAGRANGE_SUBMITS_PER_MINUTE")]
    pub submits_per_minute: Option<u32>,
    /// Prover: jobs proven at once.
    #[arg(long, env = "LAGRANGE_CAPACITY")]
    pub capacity: Option<u32>,
    /// Prover: price asked per second of proving time.
    #[arg(long, env = "LAGRANGE_PRICE_PER_SECOND")]
    pub price_per_second: Option<u64>,
    /// Prover: margin on top of the price, in percent.
    #[arg(long, env = "LAGRANGE_MARGIN_PERCENT")]
    pub margin_percent: Option<u64>,
    /// Prover: categories to bid on (repeat, or comma-separate).
    #[arg(long = "category", env = "LAGRANGE_CATEGORIES", value_delimiter = ',')]
    pub categories: Vec<JobCategory>,
    /// Prover: MSM backend, cpu, cuda or auto.
    #[arg(long, env = "LAGRANGE_MSM")]
    pub msm: Option<MsmChoice>,
    /// Testing: shift this process's clock by this many milliseconds (negative: behind),
    /// to show that nodes need not agree on the time.
    #[arg(
        long,
        env = "LAGRANGE_CLOCK_SKEW_MS",
        allow_hyphen_values = true,
        hide_short_help = true
    )]
    pub clock_skew_ms: Option<i64>,
    /// Testing: a gateway drops this percentage of its auction results instead of gossiping
    /// them, to show that winners learn of their jobs anyway.
    #[arg(long, env = "LAGRANGE_DROP_RESULTS_PERCENT", hide_short_help = true,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub drop_results_percent: Option<u32>,
}

/// One Supernet the node is in, and its role there.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The role.
    pub role: Role,
    /// The Supernet config file.
    pub supernet_file: PathBuf,
    /// The Supernet.
    pub supernet: SupernetConfig,
    /// libp2p listen addresses of its swarm.
    pub listen: Vec<Multiaddr>,
    /// Its bootnodes.
    pub bootnodes: Vec<Multiaddr>,
}

/// The settings a node runs with, after defaults, file, environment and flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Supernets it is in: the top-level `supernet` first, then each `[[join]]`.
    pub memberships: Vec<Membership>,
    /// The node key file.
    pub key_file: PathBuf,
    /// The state directory.
    pub data_dir: PathBuf,
    /// The parameter directory.
    pub params_dir: PathBuf,
    /// The metrics endpoint.
    pub metrics: SocketAddr,
    /// Gateway settings (for gateway memberships).
    pub gateway: GatewayRole,
    /// Prover settings (for prover memberships).
    pub prover: ProverRole,
}

impl Settings {
    /// The roles it runs, e.g. `gateway` or `gateway+prover`.
    pub fn roles(&self) -> String {
        let mut roles: Vec<&str> = self.memberships.iter().map(|m| m.role.as_str()).collect();
        roles.sort_unstable();
        roles.dedup();
        roles.join("+")
    }
}

fn read_supernet(origin: &str, field: &str, file: &Path) -> Result<SupernetConfig> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{origin}: {field}: reading {}", file.display()))?;
    SupernetConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
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

    /// Reads the file at `path` (if any), applies `over`, checks everything and reads the
    /// Supernet's config. `explicit` says whether the operator named the file: a missing
    /// default file just means "defaults and flags only".
    pub fn settle(path: &Path, explicit: bool, over: &Overrides) -> Result<Settings> {
        let (mut cfg, base) = match std::fs::read_to_string(path) {
            Ok(text) => {
                let cfg = Self::parse(&text, path)?;
                let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                (cfg, base)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                (NodeConfig::default(), PathBuf::from("."))
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut paths = vec![
            &mut cfg.key_file,
            &mut cfg.data_dir,
            &mut cfg.params_dir,
            &mut cfg.supernet,
        ];
        paths.extend(cfg.join.iter_mut().map(|j| &mut j.supernet));
        for p in paths {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        let origin = path.display();
        let role = match (over.role.or(cfg.role), &cfg.gateway, &cfg.prover) {
            (Some(r), _, _) => r,
            (None, Some(_), None) => Role::Gateway,
            (None, None, Some(_)) => Role::Prover,
            (None, Some(_), Some(_)) => bail!(
                "{origin}: role: both [gateway] and [prover] are present; set role = \"gateway\" or \"prover\""
            ),
            (None, None, None) => {
                bail!("{origin}: role: not set; set role = \"gateway\" or \"prover\" (or --role)")
            }
        };
        let mut gateway = cfg.gateway.clone().unwrap_or_default();
        let mut prover = cfg.prover.clone().unwrap_or_default();
        let pick = |o: &Option<PathBuf>, v: PathBuf| o.clone().unwrap_or(v);
        let key_file = pick(&over.key_file, cfg.key_file);
        let data_dir = pick(&over.data_dir, cfg.data_dir);
        let params_dir = pick(&over.params_dir, cfg.params_dir);
        let supernet_file = pick(&over.supernet, cfg.supernet);
        let listen = if over.listen.is_empty() {
            cfg.listen
        } else {
            over.listen.clone()
        };
        let bootnodes = if over.bootnodes.is_empty() {
            cfg.bootnodes
        } else {
            over.bootnodes.clone()
        };
        let metrics = over.metrics.unwrap_or(cfg.metrics);
        if let Some(g) = over.grpc {
            gateway.grpc = g;
        }
        if let Some(c) = over.store_cache_mb {
            gateway.store_cache_mb = c;
        }
        if let Some(r) = over.retention_secs {
            gateway.retention_secs = r;
        }
        if let Some(n) = over.max_concurrent_splits {
            gateway.max_concurrent_splits = n;
        }
        if let Some(n) = over.submits_per_minute {
            gateway.submits_per_minute = n;
        }
        if let Some(c) = over.capacity {
            prover.capacity = c;
        }
        if let Some(p) = over.price_per_second {
            prover.price_per_second = p;
        }
        if let Some(m) = over.margin_percent {
            prover.margin_percent = m;
        }
        if !over.categories.is_empty() {
            prover.categories = over.categories.clone();
        }
        if let Some(m) = over.msm {
            prover.msm = m;
        }

        if listen.is_empty() {
            bail!("{origin}: listen: name at least one address");
        }
        if !(1..=1 << 20).contains(&gateway.store_cache_mb) {
            bail!(
                "{origin}: gateway.store_cache_mb: {} is not between 1 and 1048576 MiB",
                gateway.store_cache_mb
            );
        }
        if (1..MIN_RETENTION_SECS).contains(&gateway.retention_secs) {
            bail!(
                "{origin}: gateway.retention_secs: {} is too short: 0 (keep forever) or at least {MIN_RETENTION_SECS}",
                gateway.retention_secs
            );
        }
        for b in &bootnodes {
            if crate::net::peer_of(b).is_none() {
                bail!("{origin}: bootnodes: {b} does not end in /p2p/<peer id>");
            }
        }
        let mut memberships = vec![Membership {
            role,
            supernet: read_supernet(&origin.to_string(), "supernet", &supernet_file)?,
            supernet_file,
            listen,
            bootnodes,
        }];
        for (i, j) in cfg.join.iter().enumerate() {
            let field = format!("join[{i}]");
            if j.listen.is_empty() {
                bail!("{origin}: {field}.listen: name at least one address");
            }
            if let Some(b) = j
                .bootnodes
                .iter()
                .find(|b| crate::net::peer_of(b).is_none())
            {
                bail!("{origin}: {field}.bootnodes: {b} does not end in /p2p/<peer id>");
            }
            memberships.push(Membership {
                role: j.role,
                supernet: read_supernet(&origin.to_string(), &field, &j.supernet)?,
                supernet_file: j.supernet.clone(),
                listen: j.listen.clone(),
                bootnodes: j.bootnodes.clone(),
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for m in &memberships {
            if !seen.insert(m.supernet.id.clone()) {
                bail!(
                    "{origin}: join: supernet {} is joined twice (a node has one role per supernet)",
                    m.supernet.id
                );
            }
        }
        let proving: Vec<&Membership> = memberships
            .iter()
            .filter(|m| m.role == Role::Prover)
            .collect();
        if !proving.is_empty() {
            if prover.capacity == 0 {
                bail!("{origin}: prover.capacity: must be at least 1");
            }
            if prover.price_per_second == 0 {
                bail!("{origin}: prover.price_per_second: must be at least 1");
            }
            if let Some(c) = prover
                .categories
                .iter()
                .find(|c| !proving.iter().any(|m| m.supernet.category(**c).is_some()))
            {
                bail!(
                    "{origin}: prover.categories: no supernet the node proves in has a {c} category"
                );
            }
        }
        Ok(Settings {
            memberships,
            key_file,
            data_dir,
            params_dir,
            metrics,
            gateway,
            prover,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn supernet_toml() -> String {
        let gateway = lagrange_protocol::Keypair::insecure_from_seed(1).peer_id();
        format!(
            r#"
id = "cfg-test"
gateways = ["{gateway}"]
[auction]
batch_interval_ms = 1000
commit_window_ms = 300
reveal_window_ms = 300
max_jobs_per_batch = 64
[economics]
genesis_stake = 1000
min_stake = 100
slash_amount = 100
non_reveal_penalty = 10
[[categories]]
category = "small"
reserve_price = 1000
proving_deadline_ms = 10000
[[circuits]]
id = "coprocessor-sum-v1/small"
category = "small"
params_digest = "{zeros}"
"#,
            zeros = "0".repeat(64)
        )
    }

    fn settle(text: &str, over: &Overrides) -> Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "supernet.toml", &supernet_toml());
        let path = write(dir.path(), "node.toml", text);
        NodeConfig::settle(&path, true, over)
    }

    #[test]
    fn the_commented_file_parses_to_the_defaults() {
        for role in [Role::Gateway, Role::Prover] {
            let text = NodeConfig::commented(role, Path::new("supernet.toml"), &[]);
            let cfg = NodeConfig::parse(&text, Path::new("node.toml")).unwrap();
            assert_eq!(cfg.role, Some(role));
            let d = NodeConfig::default();
            assert_eq!(cfg.listen, d.listen);
            assert_eq!(cfg.metrics, d.metrics);
            match role {
                Role::Gateway => assert_eq!(cfg.gateway, Some(GatewayRole::default())),
                Role::Prover => assert_eq!(cfg.prover, Some(ProverRole::default())),
            }
        }
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let over = Overrides {
            capacity: Some(7),
            ..Overrides::default()
        };
        let s = settle("[prover]\ncapacity = 3\nmargin_percent = 5\n", &over).unwrap();
        assert_eq!(s.memberships[0].role, Role::Prover);
        assert_eq!(s.prover.capacity, 7);
        assert_eq!(s.prover.margin_percent, 5);
        assert_eq!(s.prover.price_per_second, 100);
        assert!(s.key_file.ends_with("node.key"));
    }

    #[test]
    fn every_bad_value_is_one_line_naming_its_field() {
        let cases = [
            ("[prover]\ncapacity = \"two\"\n", "prover.capacity"),
            ("[prover]\ncapacity = 0\n", "prover.capacity"),
            ("[prover]\ncapacty = 2\n", "capacty"),
            ("role = \"judge\"\n", "role"),
            ("role = \"gateway\"\nlisten = []\n", "listen"),
            ("role = \"gateway\"\nmetrics = \"nowhere\"\n", "metrics"),
            ("[gateway]\ngrpc = \"1.2.3.4\"\n", "gateway.grpc"),
            ("[gateway]\n[prover]\n", "role"),
            ("key_file = \"k\"\n", "role"),
            (
                "role = \"prover\"\nbootnodes = [\"/ip4/1.2.3.4/tcp/1\"]\n",
                "bootnodes",
            ),
            ("[prover]\ncategories = [\"large\"]\n", "prover.categories"),
            (
                "role = \"prover\"\n[[join]]\nsupernet = \"supernet.toml\"\nrole = \"gateway\"\n",
                "joined twice",
            ),
            (
                "role = \"prover\"\n[[join]]\nsupernet = \"nowhere.toml\"\nrole = \"gateway\"\n",
                "join[0]",
            ),
            (
                "role = \"prover\"\n[[join]]\nrole = \"gateway\"\n",
                "supernet",
            ),
            ("[prover]\nmsm = \"fpga\"\n", "prover.msm"),
        ];
        for (text, field) in cases {
            let err = format!("{:#}", settle(text, &Overrides::default()).unwrap_err());
            assert!(
                !err.contains('\n'),
                "{text:?} gave a multi-line error: {err}"
            );
            assert!(err.contains(field), "{text:?}: {err} does not name {field}");
        }
    }

    #[test]
    fn more_supernets_are_joined_with_their_own_role_and_port() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "supernet.toml", &supernet_toml());
        let other = supernet_toml().replace("cfg-test", "cfg-other");
        write(dir.path(), "other.toml", &other);
        let text = "role = \"gateway\"\n[[join]]\nsupernet = \"other.toml\"\nrole = \"prover\"\nlisten = [\"/ip4/127.0.0.1/tcp/9001\"]\n";
        let path = write(dir.path(), "node.toml", text);
        let s = NodeConfig::settle(&path, true, &Overrides::default()).unwrap();
        let joined: Vec<_> = s
            .memberships
            .iter()
            .map(|m| (m.supernet.id.as_str().to_string(), m.role))
            .collect();
        assert_eq!(
            joined,
            [
                ("cfg-test".to_string(), Role::Gateway),
                ("cfg-other".to_string(), Role::Prover)
            ]
        );
        assert_eq!(s.roles(), "gateway+prover");
        assert_eq!(
            s.memberships[1].listen[0].to_string(),
            "/ip4/127.0.0.1/tcp/9001"
        );
    }

    #[test]
    fn a_missing_default_file_means_defaults_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let supernet = write(dir.path(), "s.toml", &supernet_toml());
        let over = Overrides {
            role: Some(Role::Gateway),
            supernet: Some(supernet),
            ..Overrides::default()
        };
        let absent = dir.path().join("node.toml");
        let s = NodeConfig::settle(&absent, false, &over).unwrap();
        assert_eq!(s.memberships[0].role, Role::Gateway);
        assert_eq!(s.gateway, GatewayRole::default());
        assert!(NodeConfig::settle(&absent, true, &over).is_err());
    }
}
