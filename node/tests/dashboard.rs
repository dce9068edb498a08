//! The dashboard in a real browser: a gateway and a prover over libp2p on loopback, the
//! node's HTTP endpoint serving the page, and headless Chromium (driven by playwright-core,
//! `node/tests/browser/`) watching a task go from proving to done while this test drives it
//! through the gateway. The page must load with no console error. CI installs Chromium and
//! the driver (`.ci/run`); elsewhere the browser part is skipped if they are missing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::{key, prover_settings, proving_supernet};
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::model::{TaskSpec, TaskStatus};
use lagrange_node::net::NetConfig;
use lagrange_node::store::Store;
use lagrange_protocol::JobCategory;

fn browser_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_task_move_to_done_in_a_real_browser() {
    let net = proving_supernet("dash", 20_000).await;
    let gw = launch::start_gateway(
        &key(0),
        net.supernet.clone(),
        Store::temporary().unwrap(),
        net.workload.clone(),
        NetConfig::local(),
        None,
        ParamFiles::default(),
    )
    .await
    .unwrap();
    let (addr, _server) =
        lagrange_node::http::serve("127.0.0.1:0".parse().unwrap(), gw.metrics.clone())
            .await
            .unwrap();
    // The prover holds its proofs until the browser has seen the task proving: a small task
    // could otherwise be done between two of the page's polls.
    let seen = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let hold = seen.clone();
    let hooked = common::Hooked {
        before: Box::new(move || {
            let (flag, cv) = &*hold;
            let guard = flag.lock().unwrap();
            let _ = cv
                .wait_timeout_while(guard, Duration::from_secs(30), |seen| !*seen)
                .unwrap();
        }),
        ..common::Hooked::new(net.workload.clone())
    };
    let prover = launch::start_prover(
        &key(1),
        net.supernet.clone(),
        std::sync::Arc::new(hooked),
        vec![gw.p2p_addr.clone()],
        prover_settings(400),
        ParamFiles::default(),
    )
    .unwrap();

    // The JSON the page polls, without a browser.
    let body = http_get(addr, "/dashboard.json").await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["supernets"][0]["id"], "dash");
    assert_eq!(json["supernets"][0]["gateway"], true);
    let page = http_get(addr, "/").await;
    assert!(page.contains("<title>lagrange-node</title>"));

    let submit = || async {
        let (rows, lo, hi) = lagrange_circuits::coprocessor::sample_task(0, 64);
        gw.gateway
            .submit(
                TaskSpec::Query {
                    rows,
                    lo,
                    hi,
                    category: JobCategory::Small,
                },
                1000,
                lagrange_node::clock::now_ms() + 60_000,
            )
            .await
            .unwrap()
    };

    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists() && browser_dir().join("node_modules").exists();
    assert!(
        ready || std::env::var_os("CI").is_none(),
        "CI needs Chromium and node/tests/browser/node_modules (.ci/run installs them)"
    );
    let release = || {
        let (flag, cv) = &*seen;
        *flag.lock().unwrap() = true;
        cv.notify_all();
    };
    if !ready {
        eprintln!("skipping the browser: no {chromium} or no node/tests/browser/node_modules");
        release();
        let task = submit().await;
        gw.gateway
            .wait_final(&task.id, Duration::from_secs(60))
            .await
            .unwrap();
        prover.kill().await;
        gw.shutdown().await;
        return;
    }
    let shot = std::env::var("DASHBOARD_SCREENSHOT").unwrap_or_else(|_| {
        std::env::temp_dir()
            .join("lagrange-dashboard.png")
            .display()
            .to_string()
    });
    let mut browser = Command::new("node")
        .arg(browser_dir().join("dashboard.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(&shot)
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The page is up: drive a task through the gateway while the browser watches.
    let mut lines = BufReader::new(browser.stdout.take().unwrap()).lines();
    let first = tokio::task::spawn_blocking(move || (lines.next(), lines))
        .await
        .unwrap();
    let (first, mut lines) = first;
    assert_eq!(first.map(|l| l.unwrap()).as_deref(), Some("ready"));
    let task = submit().await;
    // The browser has seen it proving: let the prover finish.
    let (proving, mut lines) = tokio::task::spawn_blocking(move || (lines.next(), lines))
        .await
        .unwrap();
    release();
    assert_eq!(proving.map(|l| l.unwrap()).as_deref(), Some("proving"));
    let record = gw
        .gateway
        .wait_final(&task.id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(record.status, TaskStatus::Done);
    let (status, last, stderr) = tokio::task::spawn_blocking(move || {
        let last = lines.next().map(|l| l.unwrap());
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut browser.stderr.take().unwrap(), &mut stderr).unwrap();
        (browser.wait().unwrap(), last, stderr)
    })
    .await
    .unwrap();
    assert!(status.success(), "the browser saw a problem: {stderr}");
    assert_eq!(last.as_deref(), Some("ok"), "{stderr}");
    assert!(Path::new(&shot).exists());
    prover.kill().await;
    gw.shutdown().await;
}

/// A plain HTTP/1.1 GET on loopback; returns the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}
