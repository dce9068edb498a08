//! The gRPC API: every kind of bad input gets a clear status, and the node keeps serving.

mod common;

use lagrange_node::api::pb::{self, gateway_client::GatewayClient, submit_task_request::Task};
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::net::NetConfig;
use lagrange_node::store::Store;
use lagrange_protocol::Keypair;
use tonic::Code;

async fn gateway() -> (launch::GatewayNode, common::Proving) {
    let net = common::proving_supernet("api", 10_000).await;
    let node = launch::start_gateway(
        &Keypair::insecure_from_seed(0),
        net.supernet.clone(),
        Store::temporary().unwrap(),
        net.workload.clone(),
        NetConfig::local(),
        Some("127.0.0.1:0".parse().unwrap()),
        ParamFiles::default(),
    )
    .await
    .unwrap();
    (node, net)
}

fn query(rows: usize, category: pb::Category) -> pb::SubmitTaskRequest {
    pb::SubmitTaskRequest {
        supernet: "api".into(),
        category: category.into(),
        task: Some(Task::Query(pb::QueryTask {
            rows: (0..rows as u64)
                .map(|i| pb::Row { key: i, value: i })
                .collect(),
            lo: 0,
            hi: 10,
        })),
        max_fee_per_job: 100,
        deadline_ms: 60_000,
        deliver_to: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_bad_input_gets_clear_statuses_and_the_node_keeps_serving() {
    let (node, _params) = gateway().await;
    let url = format!("http://{}", node.grpc_addr.unwrap());
    let mut client = GatewayClient::connect(url.clone()).await.unwrap();

    let cases: Vec<(pb::SubmitTaskRequest, Code, &str)> = vec![
        (
            pb::SubmitTaskRequest {
                supernet: "elsewhere".into(),
                ..query(10, pb::Category::Small)
            },
            Code::NotFound,
            "no gateway for supernet elsewhere; it serves: api",
        ),
        (
            pb::SubmitTaskRequest {
                supernet: "Not An Id".into(),
                ..query(10, pb::Category::Small)
            },
            Code::InvalidArgument,
            "supernet",
        ),
        (
            query(10, pb::Category::Unspecified),
            Code::InvalidArgument,
            "category",
        ),
        (
            query(0, pb::Category::Small),
            Code::InvalidArgument,
            "rows is empty",
        ),
        (
            query(10, pb::Category::Large),
            Code::InvalidArgument,
            "not served",
        ),
        (
            pb::SubmitTaskRequest {
                task: None,
                ..query(10, pb::Category::Small)
            },
            Code::InvalidArgument,
            "task is missing",
        ),
        (
            pb::SubmitTaskRequest {
                max_fee_per_job: 0,
                ..query(10, pb::Category::Small)
            },
            Code::InvalidArgument,
            "max_fee_per_job",
        ),
        (
            pb::SubmitTaskRequest {
                deadline_ms: 0,
                ..query(10, pb::Category::Small)
            },
            Code::InvalidArgument,
            "deadline_ms",
        ),
        (
            pb::SubmitTaskRequest {
                deliver_to: Some(pb::Delivery {
                    contract: "0x1234".into(),
                    source: String::new(),
                }),
                ..query(10, pb::Category::Small)
            },
            Code::InvalidArgument,
            "deliver_to.contract \"0x1234\": 2 bytes, an address has 20",
        ),
        (
            pb::SubmitTaskRequest {
                deliver_to: Some(pb::Delivery {
                    contract: format!("0x{}", "ab".repeat(20)),
                    source: String::new(),
                }),
                ..query(10, pb::Category::Small)
            },
            Code::FailedPrecondition,
            "this gateway delivers to no chain",
        ),
        (
            query(70_000, pb::Category::Small),
            Code::InvalidArgument,
            "limit",
        ),
    ];
    for (request, code, words) in cases {
        let status = client.submit_task(request).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert!(
            status.message().contains(words),
            "{words:?} not in {status:?}"
        );
    }

    // A request over the size limit is refused before it is decoded, as gRPC clients
    // expect it.
    let huge = query(1_200_000, pb::Category::Small);
    let status = client.submit_task(huge).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    // Accounts of a Supernet this node does not serve: NOT_FOUND, as for a task.
    let status = client
        .list_accounts(pb::ListAccountsRequest {
            supernet: "elsewhere".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("it serves: api"), "{status:?}");

    for bad in ["zz", "00"] {
        let status = client
            .get_result(pb::GetResultRequest {
                task_id: bad.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    let status = client
        .get_result(pb::GetResultRequest {
            task_id: "00".repeat(16),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // Still serving: a valid task is stored and listed, and its history streams.
    let mut client = GatewayClient::connect(url).await.unwrap();
    let ok = client
        .submit_task(query(40, pb::Category::Small))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.jobs, 2);
    let listed = client
        .list_tasks(pb::ListTasksRequest {
            limit: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.tasks.len(), 1);
    assert_eq!(listed.tasks[0].task_id, ok.task_id);
    assert_eq!(listed.tasks[0].status(), pb::TaskStatus::Proving);
    let mut stream = client
        .watch_task(pb::WatchTaskRequest {
            task_id: ok.task_id.clone(),
            from_seq: 0,
            snapshot: false,
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!((first.seq, first.kind.as_str()), (0, "submitted"));
    // A snapshot of a task still proving ends at the current end of its history.
    let mut snapshot = client
        .watch_task(pb::WatchTaskRequest {
            task_id: ok.task_id.clone(),
            from_seq: 0,
            snapshot: true,
        })
        .await
        .unwrap()
        .into_inner();
    let mut kinds = Vec::new();
    while let Some(e) = snapshot.message().await.unwrap() {
        kinds.push(e.kind);
    }
    assert_eq!(kinds.first().map(String::as_str), Some("submitted"));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_task_streams_per_client_are_bounded_and_given_back() {
    use lagrange_node::api::MAX_WATCHES_PER_CLIENT;
    let (node, _params) = gateway().await;
    let url = format!("http://{}", node.grpc_addr.unwrap());
    let mut client = GatewayClient::connect(url.clone()).await.unwrap();
    // A task nobody proves (no prover joins): its stream stays open.
    let task = client
        .submit_task(query(8, pb::Category::Small))
        .await
        .unwrap()
        .into_inner()
        .task_id;
    let watch = || pb::WatchTaskRequest {
        task_id: task.clone(),
        from_seq: 0,
        snapshot: false,
    };
    let mut open = Vec::new();
    for _ in 0..MAX_WATCHES_PER_CLIENT {
        open.push(client.watch_task(watch()).await.unwrap().into_inner());
    }
    let err = client.watch_task(watch()).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    // A stream the client drops gives its slot back.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match client.watch_task(watch()).await {
            Ok(stream) => {
                open.push(stream.into_inner());
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the slot never came back"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    // Other calls are unaffected.
    client
        .list_tasks(pb::ListTasksRequest {
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
}

/// The gateway's service with `limits`, called directly (as from one client address).
fn service(
    node: &launch::GatewayNode,
    limits: lagrange_node::api::ApiLimits,
) -> lagrange_node::api::server::GatewayService {
    let supernet = lagrange_protocol::SupernetId::new("api").unwrap();
    let gateways = [(supernet, node.gateway.clone())].into_iter().collect();
    lagrange_node::api::server::GatewayService::with_limits(gateways, limits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_a_client_that_submits_too_fast_is_refused_resource_exhausted() {
    use lagrange_node::api::pb::gateway_server::Gateway;
    let (node, _params) = gateway().await;
    // Twenty a minute: two at once.
    let service = service(
        &node,
        lagrange_node::api::ApiLimits {
            max_concurrent_splits: 2,
            submits_per_minute: 20,
        },
    );
    // Every call counts, a refused one too (these name a Supernet not served here).
    let elsewhere = || {
        tonic::Request::new(pb::SubmitTaskRequest {
            supernet: "elsewhere".into(),
            ..query(10, pb::Category::Small)
        })
    };
    for _ in 0..2 {
        let status = service.submit_task(elsewhere()).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    let status = service.submit_task(elsewhere()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("retry in"), "{status:?}");
    // Other calls are not rated.
    service
        .list_tasks(tonic::Request::new(pb::ListTasksRequest::default()))
        .await
        .unwrap();
    node.shutdown().await;
}

/// The real workload, with splits held at a gate to count how many run at once.
struct Gated {
    inner: std::sync::Arc<lagrange_node::circuit_workload::CircuitWorkload>,
    /// (splitting now, most at once, gate open)
    state: std::sync::Mutex<(usize, usize, bool)>,
    changed: std::sync::Condvar,
}

impl Gated {
    /// Waits up to `timeout` until `ready` holds of the state; returns it.
    fn wait(
        &self,
        timeout: std::time::Duration,
        ready: impl Fn(&(usize, usize, bool)) -> bool,
    ) -> (usize, usize, bool) {
        let guard = self.state.lock().unwrap();
        *self
            .changed
            .wait_timeout_while(guard, timeout, |s| !ready(s))
            .unwrap()
            .0
    }

    fn open(&self) {
        self.state.lock().unwrap().2 = true;
        self.changed.notify_all();
    }
}

impl lagrange_node::workload::Workload for Gated {
    fn split(
        &self,
        spec: &lagrange_node::model::TaskSpec,
    ) -> Result<Vec<lagrange_node::workload::JobPlan>, lagrange_node::workload::WorkloadError> {
        {
            let mut s = self.state.lock().unwrap();
            s.0 += 1;
            s.1 = s.1.max(s.0);
            self.changed.notify_all();
            let timeout = std::time::Duration::from_secs(30);
            let (mut s, _) = self
                .changed
                .wait_timeout_while(s, timeout, |s| !s.2)
                .unwrap();
            s.0 -= 1;
        }
        self.inner.split(spec)
    }
    fn prove(
        &self,
        circuit: &lagrange_protocol::CircuitId,
        input: &[u8],
    ) -> Result<lagrange_node::workload::ProofBytes, lagrange_node::workload::WorkloadError> {
        self.inner.prove(circuit, input)
    }
    fn verify(
        &self,
        items: &[(
            lagrange_node::model::JobRecord,
            Vec<u8>,
            lagrange_protocol::messages::ProofSubmission,
        )],
    ) -> Vec<lagrange_node::workload::Check> {
        self.inner.verify(items)
    }
    fn aggregate(
        &self,
        task: &lagrange_node::model::TaskRecord,
        proofs: &[(
            lagrange_node::model::JobRecord,
            Vec<u8>,
            lagrange_node::store::ProofRecord,
        )],
    ) -> Result<Vec<u8>, lagrange_node::workload::WorkloadError> {
        self.inner.aggregate(task, proofs)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_no_more_tasks_are_split_at_once_than_the_limit() {
    use lagrange_node::api::pb::gateway_server::Gateway;
    let net = common::proving_supernet("api", 10_000).await;
    let gated = std::sync::Arc::new(Gated {
        inner: net.workload.clone(),
        state: Default::default(),
        changed: Default::default(),
    });
    let node = launch::start_gateway(
        &Keypair::insecure_from_seed(0),
        net.supernet.clone(),
        Store::temporary().unwrap(),
        gated.clone(),
        NetConfig::local(),
        None,
        ParamFiles::default(),
    )
    .await
    .unwrap();
    let service = service(
        &node,
        lagrange_node::api::ApiLimits {
            max_concurrent_splits: 2,
            submits_per_minute: 0,
        },
    );
    let submits: Vec<_> = (0..6)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                service
                    .submit_task(tonic::Request::new(query(10, pb::Category::Small)))
                    .await
            })
        })
        .collect();
    let g = gated.clone();
    let waited = tokio::task::spawn_blocking(move || {
        let two = g.wait(std::time::Duration::from_secs(30), |s| s.0 >= 2);
        // Given time, a third split would start: none may.
        let after = g.wait(std::time::Duration::from_millis(500), |s| s.0 > 2);
        g.open();
        (two, after)
    })
    .await
    .unwrap();
    assert_eq!(waited.0.0, 2, "two splits should have started");
    assert_eq!(waited.1.1, 2, "more splits ran at once than the limit");
    for s in submits {
        assert_eq!(s.await.unwrap().unwrap().into_inner().jobs, 1);
    }
    assert_eq!(gated.state.lock().unwrap().1, 2);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tasks_are_listed_a_page_at_a_time_newest_first() {
    let (node, _params) = gateway().await;
    let url = format!("http://{}", node.grpc_addr.unwrap());
    let mut client = GatewayClient::connect(url).await.unwrap();
    let mut submitted = Vec::new();
    for _ in 0..5 {
        submitted.push(
            client
                .submit_task(query(10, pb::Category::Small))
                .await
                .unwrap()
                .into_inner()
                .task_id,
        );
    }
    let mut listed = Vec::new();
    let mut pages = 0;
    let mut page_token = String::new();
    loop {
        let page = client
            .list_tasks(pb::ListTasksRequest {
                limit: 2,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.tasks.len() <= 2);
        listed.extend(page.tasks);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    // Every task once, newest first.
    let ids: Vec<&str> = listed.iter().map(|t| t.task_id.as_str()).collect();
    let mut expected: Vec<&str> = submitted.iter().map(String::as_str).collect();
    expected.sort();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].created_at_ms >= w[1].created_at_ms)
    );
    // A token this gateway never gave is refused.
    let status = client
        .list_tasks(pb::ListTasksRequest {
            limit: 2,
            page_token: "not a token".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    node.shutdown().await;
}

/// Issue 25, item 11: the API reads the store while the gateway's core writes it, so it may
/// see a task done before the core has flushed; it makes what it saw durable before it
/// shows it, by `GetResult` or `WatchTask`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_a_finished_task_is_durable_before_it_is_shown() {
    use lagrange_node::api::pb::gateway_server::Gateway;
    use tokio_stream::StreamExt;
    let (node, _params) = gateway().await;
    let service = service(&node, lagrange_node::api::ApiLimits::default());
    let id = service
        .submit_task(tonic::Request::new(query(10, pb::Category::Small)))
        .await
        .unwrap()
        .into_inner()
        .task_id;
    let store = node.gateway.store().clone();
    let task: lagrange_protocol::TaskId = id.parse().unwrap();
    // The core's write, caught before its flush.
    store.complete_task(&task, b"result", 1).unwrap();
    let before = store.flushes();
    let result = service
        .get_result(tonic::Request::new(pb::GetResultRequest {
            task_id: id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(result.status, i32::from(pb::TaskStatus::Done));
    assert!(store.flushes() > before, "shown done before a flush");

    let before = store.flushes();
    let mut events = service
        .watch_task(tonic::Request::new(pb::WatchTaskRequest {
            task_id: id,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let mut seen = 0;
    while let Some(event) = events.next().await {
        event.unwrap();
        seen += 1;
    }
    assert!(seen > 0);
    assert!(
        store.flushes() > before,
        "events of a done task shown before a flush"
    );
    node.shutdown().await;
}
