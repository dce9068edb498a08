//! Supernet configuration: who may take part, auction timing, categories, circuits and
//! economics. Loaded from TOML and checked by [`SupernetConfig::validate`].
//!
//! ```toml
//! id = "coprocessor"
//! gateways = ["12D3KooW..."]
//! allowlist = ["12D3KooW...", "12D3KooW..."]   # omit for an open Supernet
//!
//! [auction]
//! batch_interval_ms = 2000
//! commit_window_ms = 600
//! reveal_window_ms = 600
//! reveal_grace_ms = 2000                       # late reveals still counted (default 2000)
//! max_jobs_per_batch = 256
//!
//! [economics]
//! genesis_stake = 1000                         # allowlisted provers' stake
//! min_stake = 100
//! slash_amount = 100
//! non_reveal_penalty = 10
//!
//! [[economics.deposits]]                       # recorded deposits (open Supernets need them)
//! prover = "12D3KooW..."
//! amount = 5000
//!
//! [economics.tokens]                           # optional: the token rules (docs/economics.md)
//! epoch_ms = 86400000
//! genesis_budget = 1000000
//! [economics.tokens.rules]
//! initial_supply = 1000000000
//! # ... every field of TokenomicsParams
//!
//! [[categories]]
//! category = "small"
//! proving_deadline_ms = 10000
//! reserve_price = 1000
//!
//! [[circuits]]
//! id = "coprocessor-sum-v1/small"
//! category = "small"
//! params_digest = "<64 hex digits>"
//! ```

use std::collections::BTreeSet;
use std::fmt;

use libp2p_identity::PeerId;
use serde::{Deserialize, Serialize};

use crate::category::JobCategory;
use crate::ids::{CircuitId, SupernetId};
use crate::messages::MAX_JOBS_PER_BATCH;
use crate::tokenomics::TokenomicsParams;
use crate::{Digest, Price, PublicKey};

/// Auction timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuctionConfig {
    /// How often the gateway announces a batch.
    pub batch_interval_ms: u64,
    /// How long commits are accepted after an announcement.
    pub commit_window_ms: u64,
    /// How long reveals are accepted after the commit window closes.
    pub reveal_window_ms: u64,
    /// How late, past the reveal window, a reveal is still counted: the tolerance for
    /// network latency and for provers whose clocks disagree with the gateway's. An auction
    /// closes as soon as every committer has revealed, so the grace only delays a batch with
    /// a missing reveal.
    #[serde(default = "default_reveal_grace_ms")]
    pub reveal_grace_ms: u64,
    /// Most jobs in one batch.
    pub max_jobs_per_batch: u32,
}

impl Default for AuctionConfig {
    /// One-second batches with 300 ms commit and reveal windows, up to 64 jobs each: suits a
    /// local network.
    fn default() -> Self {
        Self {
            batch_interval_ms: 1000,
            commit_window_ms: 300,
            reveal_window_ms: 300,
            reveal_grace_ms: default_reveal_grace_ms(),
            max_jobs_per_batch: 64,
        }
    }
}

fn default_reveal_grace_ms() -> u64 {
    2_000
}

/// Stake and penalties, in the Supernet's fee unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EconomicsConfig {
    /// Stake every allowlisted prover of a permissioned Supernet starts with, unless a
    /// deposit is recorded for it.
    pub genesis_stake: u64,
    /// Stake below which a prover may not win.
    pub min_stake: u64,
    /// Stake taken for an invalid proof or a missed deadline.
    pub slash_amount: u64,
    /// Stake taken for a commit without a valid reveal.
    pub non_reveal_penalty: u64,
    /// Recorded deposits: a prover's starting stake. In an open Supernet they are the only
    /// stake there is; announcing itself gives a key none.
    #[serde(default)]
    pub deposits: Vec<Deposit>,
    /// The token rules, if the Supernet runs them (`[economics.tokens]`): each verified job
    /// is then also paid under them (partly from the emission budget, partly by the client,
    /// with buybacks and vesting), stakes and slashes are in native tokens, and the ledger is
    /// what `ListAccounts` shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokensConfig>,
}

/// A Supernet's token ledger: the rules and what it starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    /// Length of an epoch, in milliseconds: emissions, vesting and unbonding count epochs.
    pub epoch_ms: u64,
    /// Emission budget the Supernet starts with, moved from the treasury at genesis (what a
    /// chain would have allocated it before the gateway started).
    #[serde(default)]
    pub genesis_budget: u64,
    /// The rules.
    pub rules: TokenomicsParams,
    /// Liquid native tokens at genesis. Each prover's deposit is allocated and staked too.
    #[serde(default)]
    pub allocations: Vec<TokenAllocation>,
    /// Delegations to this Supernet at genesis: allocated, then bonded.
    #[serde(default)]
    pub delegations: Vec<TokenAllocation>,
}

/// Native tokens of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenAllocation {
    /// The account's peer id.
    pub account: PeerId,
    /// How many.
    pub amount: u64,
}

/// A prover's recorded deposit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deposit {
    /// The prover.
    pub prover: PeerId,
    /// Its stake.
    pub amount: u64,
}

impl Default for EconomicsConfig {
    /// Genesis stake 1000, minimum 100, slash 100, non-reveal penalty 10.
    fn default() -> Self {
        Self {
            genesis_stake: 1000,
            min_stake: 100,
            slash_amount: 100,
            non_reveal_penalty: 10,
            deposits: Vec::new(),
            tokens: None,
        }
    }
}

/// One job category's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    /// The category.
    pub category: JobCategory,
    /// Time a winner has, from assignment, to submit a valid proof.
    pub proving_deadline_ms: u64,
    /// The highest price the gateway pays for a job of this category.
    pub reserve_price: Price,
}

/// A circuit the Supernet proves, pinned by the digest of its parameter file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitConfig {
    /// The circuit.
    pub id: CircuitId,
    /// The category its jobs fall in.
    pub category: JobCategory,
    /// blake3 digest of its parameter file (for a circom circuit, its `.zkey`).
    pub params_digest: Digest,
    /// For a circom circuit (id `circom/<name>`): blake3 digest of its `.r1cs`, which the
    /// gateway checks client witnesses against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r1cs_digest: Option<Digest>,
    /// For a circom circuit, optionally: blake3 digest of its witness generator (`.wasm`),
    /// with which the gateway computes witnesses from clients' input signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_digest: Option<Digest>,
    /// For a zkML model (id `zkml/<name>`): the pinned model. Its `params_digest` is then
    /// the digest of the model's keys file (one key per slice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelPin>,
}

/// A zkML model as a Supernet pins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPin {
    /// blake3 digest of the ONNX file.
    pub onnx_digest: Digest,
    /// The Poseidon commitment to the quantized model (a BN254 scalar, 32 bytes
    /// little-endian), which every slice proof names as a public input.
    pub commitment: Digest,
}

/// The prefix of a circom circuit's id.
pub const CIRCOM_PREFIX: &str = "circom/";

/// The prefix of a zkML model's id.
pub const ZKML_PREFIX: &str = "zkml/";

impl CircuitConfig {
    /// Whether this is a circom circuit (its id starts with `circom/`).
    pub fn is_circom(&self) -> bool {
        self.id.as_str().starts_with(CIRCOM_PREFIX)
    }

    /// Whether this is a zkML model (its id starts with `zkml/`).
    pub fn is_zkml(&self) -> bool {
        self.id.as_str().starts_with(ZKML_PREFIX)
    }
}

/// A Supernet's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernetConfig {
    /// The Supernet's name.
    pub id: SupernetId,
    /// Peer ids of its gateways.
    pub gateways: Vec<PeerId>,
    /// Peer ids allowed in; `None` means anyone may join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlist: Option<Vec<PeerId>>,
    /// Auction timing.
    pub auction: AuctionConfig,
    /// Stake and penalties.
    pub economics: EconomicsConfig,
    /// Category terms.
    pub categories: Vec<CategoryConfig>,
    /// Circuits.
    pub circuits: Vec<CircuitConfig>,
}

/// One problem in a config, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted path of the field, e.g. `auction.commit_window_ms`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Why a Supernet config was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not valid TOML, or a field of the wrong type, or an unknown field.
    #[error("supernet config does not parse: {0}")]
    Parse(String),
    /// Parses, but breaks one or more rules: one line each.
    #[error("invalid supernet config:{}", lines(.0))]
    Invalid(Vec<ConfigIssue>),
}

fn lines(issues: &[ConfigIssue]) -> String {
    issues.iter().map(|i| format!("\n  - {i}")).collect()
}

impl SupernetConfig {
    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The config as TOML.
    pub fn to_toml(&self) -> String {
        // Every field is a plain TOML value, so serialization cannot fail.
        toml::to_string_pretty(self).expect("supernet config always serializes")
    }

    /// Checks every rule and reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut issues = Vec::new();
        let mut bad = |field: &str, problem: String| {
            issues.push(ConfigIssue {
                field: field.to_string(),
                problem,
            })
        };

        if self.gateways.is_empty() {
            bad(
                "gateways",
                "at least one gateway peer id is required".into(),
            );
        }
        if let Some(dup) = first_duplicate(self.gateways.iter()) {
            bad("gateways", format!("peer id {dup} is listed twice"));
        }
        if let Some(allow) = &self.allowlist {
            if allow.is_empty() {
                bad(
                    "allowlist",
                    "an empty allowlist admits nobody; omit it for an open supernet".into(),
                );
            }
            if let Some(dup) = first_duplicate(allow.iter()) {
                bad("allowlist", format!("peer id {dup} is listed twice"));
            }
            for gw in &self.gateways {
                if !allow.contains(gw) {
                    bad("gateways", format!("gateway {gw} is not on the allowlist"));
                }
            }
        }

        let a = &self.auction;
        if a.batch_interval_ms == 0 {
            bad("auction.batch_interval_ms", "must be greater than 0".into());
        }
        if a.commit_window_ms == 0 {
            bad("auction.commit_window_ms", "must be greater than 0".into());
        }
        if a.reveal_window_ms == 0 {
            bad("auction.reveal_window_ms", "must be greater than 0".into());
        }
        if a.commit_window_ms.saturating_add(a.reveal_window_ms) > a.batch_interval_ms {
            bad(
                "auction",
                format!(
                    "commit_window_ms + reveal_window_ms ({} ms) exceeds batch_interval_ms \
                     ({} ms): auctions of consecutive batches would overlap",
                    a.commit_window_ms.saturating_add(a.reveal_window_ms),
                    a.batch_interval_ms
                ),
            );
        }
        if a.max_jobs_per_batch == 0 || a.max_jobs_per_batch as usize > MAX_JOBS_PER_BATCH {
            bad(
                "auction.max_jobs_per_batch",
                format!("must be between 1 and {MAX_JOBS_PER_BATCH}"),
            );
        }

        let e = &self.economics;
        if e.genesis_stake < e.min_stake {
            bad(
                "economics.genesis_stake",
                format!(
                    "{} is below min_stake {}: no prover could ever bid",
                    e.genesis_stake, e.min_stake
                ),
            );
        }

        if let Some(dup) = first_duplicate(e.deposits.iter().map(|d| d.prover)) {
            bad(
                "economics.deposits",
                format!("prover {dup} has two deposits"),
            );
        }

        if self.categories.is_empty() {
            bad("categories", "at least one category is required".into());
        }
        if let Some(dup) = first_duplicate(self.categories.iter().map(|c| c.category)) {
            bad("categories", format!("category {dup} is listed twice"));
        }
        for (i, c) in self.categories.iter().enumerate() {
            if c.proving_deadline_ms == 0 {
                bad(
                    &format!("categories[{i}].proving_deadline_ms"),
                    "must be greater than 0".into(),
                );
            }
            if c.reserve_price == 0 {
                bad(
                    &format!("categories[{i}].reserve_price"),
                    "must be greater than 0".into(),
                );
            }
        }

        if let Some(tokens) = &self.economics.tokens {
            if tokens.epoch_ms == 0 {
                bad("economics.tokens.epoch_ms", "must be greater than 0".into());
            }
            if let Err(problem) = tokens.rules.validate() {
                bad("economics.tokens.rules", problem);
            }
            for (i, a) in tokens
                .allocations
                .iter()
                .chain(&tokens.delegations)
                .enumerate()
            {
                if PublicKey::from_peer_id(&a.account).is_err() {
                    bad(
                        &format!("economics.tokens: account {i}"),
                        format!("{} is not an ed25519 peer id", a.account),
                    );
                }
            }
        }
        if self.circuits.is_empty() {
            bad("circuits", "at least one circuit is required".into());
        }
        if let Some(dup) = first_duplicate(self.circuits.iter().map(|c| &c.id)) {
            bad("circuits", format!("circuit {dup} is listed twice"));
        }
        let cats: BTreeSet<_> = self.categories.iter().map(|c| c.category).collect();
        for (i, c) in self.circuits.iter().enumerate() {
            if !cats.contains(&c.category) {
                bad(
                    &format!("circuits[{i}].category"),
                    format!(
                        "category {} is not configured in [[categories]]",
                        c.category
                    ),
                );
            }
            if !c.is_circom() && c.wasm_digest.is_some() {
                bad(
                    &format!("circuits[{i}].wasm_digest"),
                    "only a circom circuit (id circom/<name>) has a witness generator".into(),
                );
            }
            if c.is_circom() != c.r1cs_digest.is_some() {
                bad(
                    &format!("circuits[{i}].r1cs_digest"),
                    "a circom circuit (id circom/<name>) needs its .r1cs digest, and only it has one"
                        .into(),
                );
            }
            if c.is_zkml() != c.model.is_some() {
                bad(
                    &format!("circuits[{i}].model"),
                    "a zkML model (id zkml/<name>) needs its model pin, and only it has one".into(),
                );
            }
            if c.is_zkml()
                && !c.id.as_str()[ZKML_PREFIX.len()..]
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
            {
                bad(
                    &format!("circuits[{i}].id"),
                    "a zkML model's name (after zkml/) is letters, digits and '-'".into(),
                );
            }
        }

        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(issues))
        }
    }

    /// The stake `peer` starts with: its recorded deposit; else, in a permissioned
    /// Supernet, `genesis_stake` if it is allowlisted; else none. A fresh key that only
    /// announces itself has no stake, so it cannot bid, and a flood of them costs the
    /// auction nothing.
    pub fn initial_stake(&self, peer: &PeerId) -> u64 {
        if let Some(d) = self.economics.deposits.iter().find(|d| d.prover == *peer) {
            return d.amount;
        }
        match &self.allowlist {
            Some(list) if list.contains(peer) => self.economics.genesis_stake,
            _ => 0,
        }
    }

    /// Is `peer` allowed in? Always true in an open Supernet.
    pub fn is_allowed(&self, peer: &PeerId) -> bool {
        self.allowlist
            .as_ref()
            .is_none_or(|list| list.contains(peer))
    }

    /// Is `peer` one of the Supernet's gateways?
    pub fn is_gateway(&self, peer: &PeerId) -> bool {
        self.gateways.contains(peer)
    }

    /// The terms of `category`, if configured.
    pub fn category(&self, category: JobCategory) -> Option<&CategoryConfig> {
        self.categories.iter().find(|c| c.category == category)
    }

    /// The circuit `id`, if configured. A zkML slice (`zkml/<name>/<from>-<to>`) is served
    /// by its model's entry.
    pub fn circuit(&self, id: &CircuitId) -> Option<&CircuitConfig> {
        self.circuits.iter().find(|c| &c.id == id).or_else(|| {
            let model = zkml_model_of(id.as_str())?;
            self.circuits
                .iter()
                .find(|c| c.is_zkml() && c.id.as_str() == model)
        })
    }
}

/// The model a zkML slice belongs to: `zkml/<name>` for `zkml/<name>/<from>-<to>`.
pub fn zkml_model_of(id: &str) -> Option<&str> {
    let rest = id.strip_prefix(ZKML_PREFIX)?;
    let (name, range) = rest.split_once('/')?;
    let (from, to) = range.split_once('-')?;
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (number(from) && number(to)).then(|| &id[..ZKML_PREFIX.len() + name.len()])
}

fn first_duplicate<T: Ord + fmt::Display>(items: impl Iterator<Item = T>) -> Option<T> {
    let mut seen = BTreeSet::new();
    for item in items {
        if seen.contains(&item) {
            return Some(item);
        }
        seen.insert(item);
    }
    None
}
