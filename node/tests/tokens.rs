//! The token rules on a real network: a gateway and a prover over libp2p on loopback, in a
//! Supernet that runs the token rules. A two-job query is proven, and the gateway's ledger
//! afterwards holds exactly the subsidy, client fee, buyback and vesting entries computed by
//! hand below, as `ListAccounts` and `GetResult` show them.

use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{key, peer, proving_supernet, staked};
use lagrange_node::api::pb::{self, gateway_client::GatewayClient};
use lagrange_node::launch;
use lagrange_node::model::{TaskSpec, TaskStatus};
use lagrange_node::net::NetConfig;
use lagrange_node::store::Store;
use lagrange_protocol::config::{SupernetConfig, TokenAllocation, TokensConfig};
use lagrange_protocol::tokenomics::{SlashTo, TokenomicsParams};
use lagrange_protocol::{JobCategory, SupernetId};

/// One native token is worth 2 fee units in the pool at genesis; subsidies are capped at
/// 50%, a fifth of client fees buys tokens back, grants vest over 10 epochs after a 2-epoch
/// cliff, and an epoch (an hour) does not end during the test.
fn tokens() -> TokensConfig {
    TokensConfig {
        epoch_ms: 3_600_000,
        genesis_budget: 10_000,
        rules: TokenomicsParams {
            initial_supply: 1_000_000,
            annual_emission: 36_500,
            epochs_per_year: 365,
            max_subsidy_bps: 5_000,
            buyback_bps: 2_000,
            vesting_cliff_epochs: 2,
            vesting_epochs: 10,
            unbonding_epochs: 3,
            slash_to: SlashTo::Burn,
            pool_native: 100_000,
            pool_fee_asset: 200_000,
        },
        allocations: vec![],
        delegations: vec![TokenAllocation {
            account: peer(20),
            amount: 5_000,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proven_task_leaves_the_hand_computed_ledger_entries() {
    let net = proving_supernet("tokens", 20_000).await;
    let mut economics = staked(1..=16);
    economics.tokens = Some(tokens());
    let supernet = Arc::new(SupernetConfig {
        id: SupernetId::new("tokens").unwrap(),
        economics,
        ..(*net.supernet).clone()
    });
    supernet.validate().unwrap();
    let gw = launch::start_gateway(
        &key(0),
        supernet.clone(),
        Store::temporary().unwrap(),
        net.workload.clone(),
        NetConfig::local(),
        Some("127.0.0.1:0".parse().unwrap()),
        launch::ParamFiles::default(),
    )
    .await
    .unwrap();
    // One prover: 500 ms a job at 400 per second, so every job is won at 200 fee units.
    let prover = launch::start_prover(
        &key(1),
        supernet.clone(),
        net.workload.clone(),
        vec![gw.p2p_addr.clone()],
        common::prover_settings(400),
        launch::ParamFiles::default(),
    )
    .unwrap();

    // 64 rows: two chunks of 32, two jobs.
    let (rows, lo, hi) = lagrange_circuits::coprocessor::sample_task(0, 64);
    let task = gw
        .gateway
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
        .unwrap();
    assert_eq!(task.jobs, 2);
    let record = gw
        .gateway
        .wait_final(&task.id, Duration::from_secs(60))
        .await
        .expect("the task did not finish");
    assert_eq!(record.status, TaskStatus::Done);

    // By hand. Job 1, price 200: the budget (10,000 tokens = 20,000 fee units at 2 each)
    // covers far more than this epoch's demand (200), so the cap holds: 50% = 100 fee units
    // = 50 tokens from the budget; the client pays 100, a fifth of it (20) buys
    // floor(100,000 * 20 / 200,020) = 9 tokens back, the prover gets 80 fee units.
    // Pool: 99,991 tokens, 200,020 fee units. Budget: 9,950.
    // Job 2, price 200: the cap again; 100 fee units at the new price are
    // floor(100 * 99,991 / 200,020) = 49 tokens; the client pays 100, 20 buy back
    // floor(99,991 * 20 / 200,040) = 9 tokens, the prover gets 80.
    // Pool: 99,982 and 200,040. Budget: 9,901. The prover's grant: 50 + 9 + 49 + 9 = 117,
    // vesting (epoch 0, before the cliff).
    let payments = gw.gateway.store().task_payments(&task.id).unwrap().unwrap();
    assert_eq!(
        (
            payments.jobs,
            payments.price,
            payments.client_paid,
            payments.subsidized,
            payments.subsidy_native,
            payments.buyback_fee,
            payments.bought_native
        ),
        (2, 400, 200, 200, 99, 40, 18)
    );
    let ledger = gw.gateway.store().tokens().unwrap().unwrap().ledger;
    let (prover_key, gateway_key) = (key(1).public(), key(0).public());
    assert_eq!(ledger.pool().price(), (200_040, 99_982));
    assert_eq!(ledger.budget(&supernet.id), 9_901);
    assert_eq!(ledger.vesting(&prover_key), (117, 0));
    assert_eq!(ledger.fees(&prover_key), 160);
    // The gateway brought in its clients' 200 fee units and paid them all out.
    assert_eq!(ledger.fees(&gateway_key), 0);
    assert_eq!(ledger.fee_asset(), (200_200, 200_200));
    // Genesis put 16 deposits of 1000 and a delegation of 5000 in bonds and left the
    // treasury 1,000,000 - 100,000 (pool) - 21,000 - 10,000 (budget) = 869,000; nothing
    // moved them since.
    let s = ledger.supply();
    assert_eq!(s.total(), s.placed());
    assert_eq!(
        (s.bonded, s.treasury, s.liquid, s.vesting, s.budgets, s.pool),
        (21_000, 869_000, 0, 117, 9_901, 99_982)
    );

    // The same over gRPC: the task's client-paid and subsidized amounts, and the accounts.
    let mut client = GatewayClient::connect(format!("http://{}", gw.grpc_addr.unwrap()))
        .await
        .unwrap();
    let result = client
        .get_result(pb::GetResultRequest {
            task_id: task.id.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    let p = result.payments.unwrap();
    assert_eq!(
        (p.client_paid, p.subsidized, p.subsidy_native),
        (200, 200, 99)
    );
    let accounts = client
        .list_accounts(pb::ListAccountsRequest {
            supernet: "tokens".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let of = |seed: u64| {
        let peer = peer(seed).to_string();
        accounts
            .iter()
            .find(|a| a.peer_id == peer)
            .and_then(|a| a.tokens)
            .unwrap_or_else(|| panic!("no account for seed {seed}"))
    };
    let p1 = of(1);
    assert_eq!(
        (p1.staked, p1.vesting, p1.vested, p1.fee_balance, p1.liquid),
        (1_000, 117, 0, 160, 0)
    );
    assert_eq!((of(20).delegated, of(20).staked), (5_000, 0));
    assert_eq!(of(2).staked, 1_000);
    assert_eq!(
        accounts
            .iter()
            .find(|a| a.peer_id == peer(1).to_string())
            .unwrap()
            .jobs_paid,
        2
    );

    // What an operator graphs, from the same ledger.
    let metrics = lagrange_node::metrics::NodeMetrics::new("gateway");
    let _ = metrics.add_gateway(&supernet.id, gw.gateway.store().clone());
    let text = metrics.encode();
    for line in [
        "lagrange_tokens_client_paid_total{supernet=\"tokens\"} 200",
        "lagrange_tokens_subsidized_total{supernet=\"tokens\"} 200",
        "lagrange_tokens_bought_back_total{supernet=\"tokens\"} 18",
        "lagrange_tokens_budget{supernet=\"tokens\"} 9901",
        "lagrange_tokens_locked{supernet=\"tokens\"} 21117",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    assert!(
        text.contains("lagrange_tokens_pool_price{supernet=\"tokens\"} 2.0"),
        "{text}"
    );

    prover.kill().await;
    gw.shutdown().await;
}
