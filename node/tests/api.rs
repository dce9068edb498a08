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
        .list_tasks(pb::ListTasksRequest { limit: 0 })
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
        .list_tasks(pb::ListTasksRequest { limit: 5 })
        .await
        .unwrap();
}
