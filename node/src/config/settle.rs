//! Layering and checking the configuration: the command-line flags and `LAGRANGE_*`
//! variables that override fields of the file, and settling them all (defaults, the file,
//! the environment, the flags) into the settings a node runs with, relative paths resolved,
//! every value checked, and each Supernet's config read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libp2p::Multiaddr;

use lagrange_circuits::MsmChoice;
use lagrange_protocol::JobCategory;
use lagrange_protocol::config::SupernetConfig;

use super::{MIN_RETENTION_SECS, Membership, NodeConfig, Role, Settings};

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
    /// Gateway: the JSON-RPC endpoint of the EVM chain results are delivered to.
    #[arg(long, env = "LAGRANGE_DELIVER_RPC")]
    pub deliver_rpc: Option<String>,
    /// Gateway: the chain id that endpoint must serve.
    #[arg(long, env = "LAGRANGE_DELIVER_CHAIN_ID")]
    pub deliver_chain_id: Option<u64>,
    /// Gateway: a file holding the hex key that signs deliveries (else LAGRANGE_ETH_KEY).
    #[arg(long, env = "LAGRANGE_DELIVER_KEY_FILE")]
    pub deliver_key_file: Option<PathBuf>,
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

fn read_supernet(origin: &str, field: &str, file: &Path) -> Result<SupernetConfig> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{origin}: {field}: reading {}", file.display()))?;
    SupernetConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

impl NodeConfig {
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
        paths.extend(
            cfg.gateway
                .iter_mut()
                .filter_map(|g| g.deliver_key_file.as_mut()),
        );
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
        if let Some(rpc) = &over.deliver_rpc {
            gateway.deliver_rpc = Some(rpc.clone());
        }
        if let Some(id) = over.deliver_chain_id {
            gateway.deliver_chain_id = Some(id);
        }
        if let Some(file) = &over.deliver_key_file {
            gateway.deliver_key_file = Some(file.clone());
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
