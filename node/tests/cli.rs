//! The binary as a newcomer meets it: what it prints for ordinary mistakes.

use std::path::Path;
use std::process::{Command, Output};

fn node(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lagrange-node"))
        .args(args)
        .current_dir(dir)
        // A user's error is not a bug: no stack trace, whatever this says.
        .env("RUST_BACKTRACE", "1")
        .env_remove("LAGRANGE_GATEWAY")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_user_error_is_its_message_and_causes_without_a_stack_trace() {
    let dir = tempfile::tempdir().unwrap();
    let out = node(&["verify", "missing.json", "--params-dir", "."], dir.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("error: reading missing.json"), "{err}");
    assert!(err.contains("caused by: No such file"), "{err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
}

#[test]
fn verify_says_what_a_result_file_is() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.json"), "{}").unwrap();
    let out = node(&["verify", "empty.json", "--params-dir", "."], dir.path());
    let err = stderr(&out);
    assert!(
        err.contains("not a result file: a task's result is an object with one key"),
        "{err}"
    );
}

#[test]
fn init_force_says_it_kept_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = node(&["init", "--dir", "n", "--role", "prover"], dir.path());
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("wrote n/node.key"));
    let again = node(
        &["init", "--dir", "n", "--role", "prover", "--force"],
        dir.path(),
    );
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("kept the existing n/node.key"), "{text}");
}

#[test]
fn a_supernet_config_with_several_problems_lists_one_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let init = node(&["init", "--dir", "n", "--role", "gateway"], dir.path());
    assert!(init.status.success(), "{}", stderr(&init));
    std::fs::write(
        dir.path().join("n/supernet.toml"),
        r#"
id = "x"
gateways = []
circuits = []
[auction]
batch_interval_ms = 1000
commit_window_ms = 2000
reveal_window_ms = 300
max_jobs_per_batch = 64
[economics]
genesis_stake = 1000
min_stake = 100
slash_amount = 100
non_reveal_penalty = 10
[[categories]]
category = "small"
proving_deadline_ms = 1000
reserve_price = 0
"#,
    )
    .unwrap();
    let out = node(&["run", "--config", "n/node.toml"], dir.path());
    let err = stderr(&out);
    let issues: Vec<&str> = err
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .collect();
    assert!(issues.len() >= 3, "{err}");
    assert!(
        issues
            .iter()
            .any(|l| l.contains("commit_window_ms + reveal_window_ms")),
        "{err}"
    );
    assert!(
        issues
            .iter()
            .any(|l| l.contains("categories[0].reserve_price")),
        "{err}"
    );
}

#[test]
fn the_gateway_address_is_taken_as_the_gateway_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there; what matters is that the address is understood.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = format!("127.0.0.1:{port}");
    let out = node(&["task", "00", "--gateway", &gateway], dir.path());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("connecting to the gateway at http://{gateway}")),
        "{err}"
    );
}

#[test]
fn gpu_check_on_a_host_without_a_gpu_says_why_and_fails_only_when_required() {
    let dir = tempfile::tempdir().unwrap();
    let out = node(&["gpu-check", "--quick", "--json", "gpu.json"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("gpu.json")).unwrap()).unwrap();
    if !report["gpu"].is_null() {
        // A GPU host: gpu-check must pass its self-test there.
        assert!(out.status.success(), "{text}{}", stderr(&out));
        return;
    }
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("GPU: none usable: "), "{text}");
    assert!(text.contains("proves on the CPU"), "{text}");
    assert!(report["unavailable"].is_string() && report["hint"].is_string());

    let required = node(&["gpu-check", "--require-gpu"], dir.path());
    assert_eq!(required.status.code(), Some(1));
    assert!(
        stderr(&required).contains("no usable GPU (--require-gpu)"),
        "{}",
        stderr(&required)
    );
}
