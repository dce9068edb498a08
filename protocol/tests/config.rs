//! Supernet configuration: parsing from TOML and the validation rules.

use lagrange_protocol::config::{ConfigError, SupernetConfig};
use lagrange_protocol::{JobCategory, Keypair};

fn peer(i: u64) -> String {
    Keypair::insecure_from_seed(i).peer_id().to_string()
}

fn example() -> String {
    format!(
        r#"
id = "coprocessor"
gateways = ["{g}"]
allowlist = ["{g}", "{p1}", "{p2}"]

[auction]
batch_interval_ms = 2000
commit_window_ms = 600
reveal_window_ms = 600
max_jobs_per_batch = 256

[economics]
genesis_stake = 1000
min_stake = 100
slash_amount = 100
non_reveal_penalty = 10

[[categories]]
category = "small"
proving_deadline_ms = 10000
reserve_price = 1000

[[categories]]
category = "large"
proving_deadline_ms = 60000
reserve_price = 20000

[[circuits]]
id = "coprocessor-sum-v1/small"
category = "small"
params_digest = "{d}"
"#,
        g = peer(0),
        p1 = peer(1),
        p2 = peer(2),
        d = "ab".repeat(32),
    )
}

#[test]
fn example_parses_and_round_trips() {
    let cfg = SupernetConfig::from_toml(&example()).unwrap();
    assert_eq!(cfg.id.as_str(), "coprocessor");
    assert!(cfg.is_allowed(&Keypair::insecure_from_seed(1).peer_id()));
    assert!(!cfg.is_allowed(&Keypair::insecure_from_seed(9).peer_id()));
    assert!(cfg.is_gateway(&Keypair::insecure_from_seed(0).peer_id()));
    assert_eq!(
        cfg.category(JobCategory::Large).unwrap().reserve_price,
        20000
    );
    assert!(cfg.category(JobCategory::Medium).is_none());
    let again = SupernetConfig::from_toml(&cfg.to_toml()).unwrap();
    assert_eq!(again, cfg);
}

#[test]
fn open_supernet_admits_anyone() {
    let text = example().replace(
        &format!(
            "allowlist = [\"{}\", \"{}\", \"{}\"]\n",
            peer(0),
            peer(1),
            peer(2)
        ),
        "",
    );
    let cfg = SupernetConfig::from_toml(&text).unwrap();
    assert!(cfg.allowlist.is_none());
    assert!(cfg.is_allowed(&Keypair::insecure_from_seed(77).peer_id()));
}

fn issues_of(text: &str) -> String {
    match SupernetConfig::from_toml(text) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted an invalid config"),
    }
}

#[test]
fn bad_values_get_errors_that_name_the_field() {
    let cases = [
        (
            "commit_window_ms = 600",
            "commit_window_ms = 1600",
            "exceeds batch_interval_ms",
        ),
        (
            "reveal_window_ms = 600",
            "reveal_window_ms = 0",
            "auction.reveal_window_ms",
        ),
        (
            "max_jobs_per_batch = 256",
            "max_jobs_per_batch = 5000",
            "auction.max_jobs_per_batch",
        ),
        (
            "genesis_stake = 1000",
            "genesis_stake = 10",
            "economics.genesis_stake",
        ),
        (
            "reserve_price = 1000",
            "reserve_price = 0",
            "categories[0].reserve_price",
        ),
        (
            "category = \"large\"",
            "category = \"small\"",
            "category small is listed twice",
        ),
        (
            "id = \"coprocessor-sum-v1/small\"\ncategory = \"small\"",
            "id = \"coprocessor-sum-v1/small\"\ncategory = \"medium\"",
            "circuits[0].category",
        ),
    ];
    for (from, to, expect) in cases {
        let text = example().replacen(from, to, 1);
        assert_ne!(text, example(), "{from} not found");
        let msg = issues_of(&text);
        assert!(msg.contains(expect), "{expect:?} not in {msg:?}");
    }
}

#[test]
fn membership_rules() {
    let text = example().replace(
        &format!("\"{}\", \"{}\"]", peer(1), peer(2)),
        &format!("\"{}\", \"{}\"]", peer(1), peer(1)),
    );
    assert!(issues_of(&text).contains("is listed twice"));
    let text = example().replace(&format!("allowlist = [\"{}\", ", peer(0)), "allowlist = [");
    assert!(issues_of(&text).contains("is not on the allowlist"));
    let text = example().replace(
        &format!("[\"{}\", \"{}\", \"{}\"]", peer(0), peer(1), peer(2)),
        "[]",
    );
    assert!(issues_of(&text).contains("empty allowlist"));
    let text = example().replace(&format!("gateways = [\"{}\"]", peer(0)), "gateways = []");
    assert!(issues_of(&text).contains("at least one gateway"));
}

#[test]
fn parse_errors_are_clear() {
    assert!(matches!(
        SupernetConfig::from_toml("id = 3"),
        Err(ConfigError::Parse(_))
    ));
    let typo = example().replace("min_stake", "minimum_stake");
    let msg = issues_of(&typo);
    assert!(msg.contains("minimum_stake"), "{msg}");
    let bad_peer = example().replace(&peer(1), "not-a-peer");
    assert!(matches!(
        SupernetConfig::from_toml(&bad_peer),
        Err(ConfigError::Parse(_))
    ));
    let bad_id = example().replace("id = \"coprocessor\"", "id = \"Co Processor\"");
    assert!(issues_of(&bad_id).contains("supernet id"));
}

#[test]
fn several_problems_are_reported_together() {
    let text = example()
        .replace("reveal_window_ms = 600", "reveal_window_ms = 0")
        .replace("reserve_price = 1000", "reserve_price = 0");
    match SupernetConfig::from_toml(&text) {
        Err(ConfigError::Invalid(issues)) => assert_eq!(issues.len(), 2, "{issues:?}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_zkml_model_is_pinned_with_its_model_and_serves_its_slices() {
    let model = format!(
        "[[circuits]]\nid = \"zkml/mnist-mlp\"\ncategory = \"small\"\nparams_digest = \"{d}\"\n\
         model = {{ onnx_digest = \"{d}\", commitment = \"{c}\" }}\n",
        d = "cd".repeat(32),
        c = "01".repeat(32),
    );
    let cfg = SupernetConfig::from_toml(&(example() + &model)).unwrap();
    assert_eq!(SupernetConfig::from_toml(&cfg.to_toml()).unwrap(), cfg);
    let id = |s: &str| lagrange_protocol::CircuitId::new(s).unwrap();
    // Each slice's jobs are terms of the model's entry; nothing else is.
    let slice = cfg.circuit(&id("zkml/mnist-mlp/1-2")).unwrap();
    assert_eq!(slice.id.as_str(), "zkml/mnist-mlp");
    for other in ["zkml/mnist-mlp/1", "zkml/mnist-mlp/a-2", "zkml/other/0-1"] {
        assert!(cfg.circuit(&id(other)).is_none(), "{other}");
    }
    // A model needs its pin, and only a model has one.
    let unpinned = model.replace(
        &format!(
            "model = {{ onnx_digest = \"{d}\", commitment = \"{c}\" }}\n",
            d = "cd".repeat(32),
            c = "01".repeat(32)
        ),
        "",
    );
    assert!(issues_of(&(example() + &unpinned)).contains("circuits[1].model"));
    let misplaced = model.replace("zkml/mnist-mlp", "circom2/x");
    assert!(issues_of(&(example() + &misplaced)).contains("only it has one"));
    let bad_name = model.replace("zkml/mnist-mlp", "zkml/a.b");
    assert!(issues_of(&(example() + &bad_name)).contains("letters, digits and '-'"));
}
