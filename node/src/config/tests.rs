//! Tests of the node config: the commented file, layering, joining, and one-line errors.

use std::path::Path;

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
