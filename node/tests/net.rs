//! Multi-node tests of the network layer over real TCP on 127.0.0.1.
//!
//! Every test names itself `net_*`, so `cargo test -p lagrange-node net` runs them all.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lagrange_node::net::{NetEvent, TopicKind, params};
use lagrange_protocol::codec;
use lagrange_protocol::messages::{GossipMessage, ParamRequest, ParamResponse, Request, Response};
use lagrange_protocol::{Digest, Signed, SupernetId};
use libp2p::PeerId;

fn id(name: &str) -> SupernetId {
    SupernetId::new(name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_eight_nodes_discover_each_other_and_gossip_reaches_all() {
    const N: u64 = 8;
    let s = id("discovery");
    let cfg = supernet("discovery", 0, None);
    let started = Instant::now();
    let mut nodes = Vec::new();
    let mut boot = TestNode::new(0, refuse_all());
    let bootaddr = boot.join(cfg.clone(), vec![], |_| {}).await.addr;
    nodes.push(boot);
    for seed in 1..N {
        let mut node = TestNode::new(seed, refuse_all());
        node.join(cfg.clone(), vec![bootaddr.clone()], |_| {}).await;
        nodes.push(node);
    }

    // Everyone finds everyone through the DHT, knowing only the bootnode.
    let all: Vec<PeerId> = (0..N).map(peer).collect();
    let waits = nodes.iter_mut().map(|node| {
        let others: Vec<PeerId> = all.iter().copied().filter(|p| *p != node.peer()).collect();
        let s = s.clone();
        async move { node.wait_connected(&s, &others).await }
    });
    futures::future::join_all(waits).await;
    let discovered = started.elapsed();
    for node in &nodes {
        let routing: HashSet<PeerId> = node
            .net
            .handle(&s)
            .unwrap()
            .routing_peers()
            .await
            .into_iter()
            .collect();
        assert!(
            !routing.is_empty(),
            "node {} has an empty routing table",
            node.seed
        );
    }

    // A batch published by the gateway reaches all seven others.
    let batch = batch(&s, 0, 1, 4);
    let published = Instant::now();
    nodes[0]
        .net
        .handle(&s)
        .unwrap()
        .publish(GossipMessage::Batch(batch.clone()))
        .await
        .unwrap();
    let waits = nodes[1..].iter_mut().map(|node| {
        let s = s.clone();
        let want = batch.payload.batch_id;
        async move {
            node.wait_gossip(&s, |source, m| match m {
                GossipMessage::Batch(b) if b.payload.batch_id == want => Some(*source),
                _ => None,
            })
            .await
        }
    });
    let sources = futures::future::join_all(waits).await;
    let spread = published.elapsed();
    assert!(sources.iter().all(|p| *p == peer(0)));
    eprintln!(
        "net figures: 8-node discovery from one bootnode {:?}; publish to all 8 {:?}",
        discovered, spread
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_stranger_cannot_connect_gossip_or_request() {
    let s = id("closed");
    let members = [0u64, 1, 2];
    let cfg = supernet("closed", 0, Some(&members));
    let mut gw = TestNode::new(0, refuse_all());
    let gw_addr = gw.join(cfg.clone(), vec![], |_| {}).await.addr;
    let mut m1 = TestNode::new(1, refuse_all());
    m1.join(cfg.clone(), vec![gw_addr.clone()], |_| {}).await;
    let mut m2 = TestNode::new(2, refuse_all());
    m2.join(cfg.clone(), vec![gw_addr.clone()], |_| {}).await;
    m2.wait_connected(&s, &[peer(0), peer(1)]).await;

    // The stranger thinks the Supernet is open and knows the gateway's address.
    let stranger_seed = 66;
    let mut stranger = TestNode::new(stranger_seed, refuse_all());
    let mut open = cfg.clone();
    open.allowlist = None;
    let st = stranger
        .join(open, vec![gw_addr.clone()], |c| {
            c.publish_retry_window = Duration::from_millis(500);
        })
        .await
        .handle;

    // The gateway refuses the connection after the handshake names the stranger.
    gw.wait(|e| match e {
        NetEvent::ConnectionDenied { peer: p, .. } if *p == Some(peer(stranger_seed)) => Some(()),
        _ => None,
    })
    .await;
    assert!(
        !gw.net
            .handle(&s)
            .unwrap()
            .connected_peers()
            .await
            .contains(&peer(stranger_seed))
    );

    // Its gossip goes nowhere and its requests fail.
    let forged = batch(&s, stranger_seed, 9, 2);
    assert!(
        st.publish(GossipMessage::Batch(forged.clone()))
            .await
            .is_err()
    );
    let response = st
        .request(
            peer(0),
            Request::CatchUp {
                supernet: s.clone(),
            },
        )
        .await;
    assert!(response.is_err(), "stranger got an answer: {response:?}");

    // Members still talk; the stranger's message never arrives before theirs.
    m1.net
        .handle(&s)
        .unwrap()
        .publish(GossipMessage::Availability(availability(&s, 1, 1)))
        .await
        .unwrap();
    for member in [&mut m2, &mut gw] {
        member
            .wait_gossip(&s, |source, m| {
                assert_ne!(*source, peer(stranger_seed), "stranger gossip delivered");
                matches!(m, GossipMessage::Availability(_)).then_some(())
            })
            .await;
    }
    assert_eq!(gw.net.handle(&s).unwrap().stats().gossip_rejected.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_two_supernets_on_the_same_four_nodes_stay_isolated() {
    let (a, b) = (id("alpha"), id("beta"));
    let cfg_a = supernet("alpha", 0, None);
    let cfg_b = supernet("beta", 0, None);
    let mut nodes: Vec<TestNode> = (0..4).map(|s| TestNode::new(s, refuse_all())).collect();
    let boot_a = nodes[0].join(cfg_a.clone(), vec![], |_| {}).await.addr;
    let boot_b = nodes[0].join(cfg_b.clone(), vec![], |_| {}).await.addr;
    let mut beta_addr_of_2 = None;
    for (i, node) in nodes.iter_mut().enumerate().skip(1) {
        node.join(cfg_a.clone(), vec![boot_a.clone()], |_| {}).await;
        let j = node.join(cfg_b.clone(), vec![boot_b.clone()], |_| {}).await;
        if i == 2 {
            beta_addr_of_2 = Some(j.addr);
        }
    }
    let all: Vec<PeerId> = (0..4).map(peer).collect();
    for node in nodes.iter_mut() {
        let others: Vec<PeerId> = all.iter().copied().filter(|p| *p != node.peer()).collect();
        node.wait_connected(&a, &others).await;
        node.wait_connected(&b, &others).await;
    }

    let batch_a = batch(&a, 0, 1, 2);
    let batch_b = batch(&b, 0, 1, 2);
    nodes[0]
        .net
        .handle(&a)
        .unwrap()
        .publish(GossipMessage::Batch(batch_a.clone()))
        .await
        .unwrap();
    nodes[0]
        .net
        .handle(&b)
        .unwrap()
        .publish(GossipMessage::Batch(batch_b.clone()))
        .await
        .unwrap();
    for node in nodes.iter_mut().skip(1) {
        let mut got = HashSet::new();
        while got.len() < 2 {
            let (s, batch_id) = node
                .wait(|e| match e {
                    NetEvent::Gossip {
                        supernet,
                        message: GossipMessage::Batch(bt),
                        ..
                    } => Some((supernet.clone(), bt.payload.batch_id)),
                    _ => None,
                })
                .await;
            // Each batch arrives only on its own Supernet.
            if s == a {
                assert_eq!(batch_id, batch_a.payload.batch_id);
            } else {
                assert_eq!(s, b);
                assert_eq!(batch_id, batch_b.payload.batch_id);
            }
            got.insert(s);
        }
    }

    // A node only in alpha that dials node 2's beta swarm: neither requests nor the DHT
    // cross, and alpha's topics have no subscribers there.
    let mut outsider = TestNode::new(40, refuse_all());
    let alpha_only = outsider
        .join(cfg_a.clone(), vec![], |c| {
            c.publish_retry_window = Duration::from_millis(500);
        })
        .await
        .handle;
    alpha_only.dial(beta_addr_of_2.unwrap()).await.unwrap();
    outsider.wait_connected(&a, &[peer(2)]).await;
    let crossed = alpha_only
        .request(
            peer(2),
            Request::CatchUp {
                supernet: a.clone(),
            },
        )
        .await;
    assert!(
        crossed.is_err(),
        "alpha request answered by beta: {crossed:?}"
    );
    assert!(!alpha_only.routing_peers().await.contains(&peer(2)));
    assert!(
        alpha_only
            .publish(GossipMessage::Availability(availability(&a, 40, 1)))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_malformed_oversize_and_wrongly_signed_gossip_is_rejected_and_penalized() {
    let s = id("strict");
    let cfg = supernet("strict", 0, Some(&[0, 1, 2]));
    let mut gw = TestNode::new(0, refuse_all());
    let gw_addr = gw.join(cfg.clone(), vec![], |_| {}).await.addr;
    let mut bad = TestNode::new(1, refuse_all());
    let bh = bad
        .join(cfg.clone(), vec![gw_addr.clone()], |_| {})
        .await
        .handle;
    let mut good = TestNode::new(2, refuse_all());
    let gh = good.join(cfg.clone(), vec![gw_addr], |_| {}).await.handle;
    gw.wait_connected(&s, &[peer(1), peer(2)]).await;

    // 1. Random bytes. 2. Oversize for our codec (still under gossipsub's own limit).
    // 3. A valid frame with a tampered signature. 4. A batch from a non-gateway.
    // 5. A message signed by someone other than its author.
    let mut tampered = availability(&s, 1, 7);
    tampered.payload.capacity = 99;
    let mut oversize = vec![1u8, 0, 16];
    oversize.resize(65_000, 0xaa);
    let sends: Vec<(TopicKind, Vec<u8>)> = vec![
        (TopicKind::Jobs, b"not a frame at all".to_vec()),
        (TopicKind::Jobs, oversize),
        (
            TopicKind::Provers,
            codec::encode(&GossipMessage::Availability(tampered)).unwrap(),
        ),
        (
            TopicKind::Jobs,
            codec::encode(&GossipMessage::Batch(batch(&s, 1, 1, 2))).unwrap(),
        ),
        (
            TopicKind::Provers,
            codec::encode(&GossipMessage::Availability(availability(&s, 0, 3))).unwrap(),
        ),
    ];
    let n = sends.len();
    for (topic, data) in sends {
        bh.publish_raw(topic, data).await.unwrap();
    }
    let mut reasons = Vec::new();
    while reasons.len() < n {
        let reason = gw
            .wait(|e| match e {
                NetEvent::PeerPenalized {
                    peer: p, reason, ..
                } if *p == peer(1) => Some(reason.clone()),
                NetEvent::Gossip { source, .. } if *source == peer(1) => {
                    panic!("invalid gossip delivered")
                }
                _ => None,
            })
            .await;
        reasons.push(reason);
    }
    eprintln!("rejections: {reasons:#?}");
    let score = gw.net.handle(&s).unwrap().peer_score(peer(1)).await;
    assert!(score.is_some_and(|s| s < 0.0), "score {score:?}");

    // The gateway survived all of it and still takes valid messages from other members;
    // the offender's score is now below gossipsub's graylist threshold.
    gh.publish(GossipMessage::Availability(availability(&s, 2, 10)))
        .await
        .unwrap();
    gw.wait_gossip(&s, |source, m| {
        assert_ne!(*source, peer(1), "invalid gossip delivered");
        (*source == peer(2) && matches!(m, GossipMessage::Availability(_))).then_some(())
    })
    .await;
}

fn test_file(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new_derive_key("lagrange-node test parameter file")
        .finalize_xof()
        .fill(&mut out);
    out
}

fn chunk_server(path: std::path::PathBuf, refuse_from: Option<u64>) -> ParamHandler {
    Arc::new(move |_, request: ParamRequest| {
        if refuse_from.is_some_and(|limit| request.offset >= limit) {
            return ParamResponse::Refused {
                reason: "going away".into(),
            };
        }
        params::read_chunk(&path, request)
    })
}

async fn param_pair(
    s: &SupernetId,
    seeds: (u64, u64),
    serve: ParamHandler,
) -> (TestNode, TestNode) {
    let cfg = supernet(s.as_str(), seeds.0, Some(&[seeds.0, seeds.1]));
    let mut server = TestNode::serving_params(seeds.0, serve);
    let addr = server.join(cfg.clone(), vec![], |_| {}).await.addr;
    let mut client = TestNode::new(seeds.1, refuse_all());
    client.join(cfg, vec![addr], |_| {}).await;
    client.wait_connected(s, &[peer(seeds.0)]).await;
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_64_mib_parameter_file_transfers_verified_resumes_and_rejects_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let data = test_file(64 << 20);
    let digest = Digest(*blake3::hash(&data).as_bytes());
    let good = dir.path().join("good.params");
    std::fs::write(&good, &data).unwrap();
    let mut corrupt_data = data.clone();
    corrupt_data[40 << 20] ^= 1;
    let corrupt = dir.path().join("corrupt.params");
    std::fs::write(&corrupt, &corrupt_data).unwrap();
    drop(corrupt_data);

    // Honest transfer.
    let s = id("params");
    let (_server, client) = param_pair(&s, (0, 1), chunk_server(good.clone(), None)).await;
    let dest = dir.path().join("fetched.params");
    let started = Instant::now();
    let report = params::fetch(client.net.handle(&s).unwrap(), peer(0), digest, &dest)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.total_len, data.len() as u64);
    assert_eq!(report.resumed_from, 0);
    assert_eq!(params::digest_file(&dest).unwrap(), digest);
    assert!(std::fs::read(&dest).unwrap() == data);
    eprintln!(
        "net figures: 64 MiB parameter transfer in {secs:.2}s = {:.0} MB/s",
        64.0 * 1.048576 / secs
    );

    // A peer serving corrupted bytes under the same name: rejected, nothing left behind.
    let s2 = id("params-corrupt");
    let (_evil, victim) = param_pair(&s2, (2, 3), chunk_server(corrupt, None)).await;
    let dest2 = dir.path().join("victim.params");
    let err = params::fetch(victim.net.handle(&s2).unwrap(), peer(2), digest, &dest2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, params::ParamError::DigestMismatch { .. }),
        "{err}"
    );
    assert!(!dest2.exists());
    assert!(!params::part_path(&dest2).exists());

    // A transfer cut off part-way resumes where it stopped.
    let s3 = id("params-resume");
    let (_flaky, resumer) =
        param_pair(&s3, (4, 5), chunk_server(good.clone(), Some(16 << 20))).await;
    let dest3 = dir.path().join("resumed.params");
    let h3 = resumer.net.handle(&s3).unwrap().clone();
    let cut = params::fetch(&h3, peer(4), digest, &dest3)
        .await
        .unwrap_err();
    assert!(matches!(cut, params::ParamError::Refused(_)), "{cut}");
    let partial = std::fs::metadata(params::part_path(&dest3)).unwrap().len();
    assert!((16 << 20..64 << 20).contains(&partial), "partial {partial}");
    let s4 = id("params-resume2");
    let (_steady, resumer2) = param_pair(&s4, (6, 5), chunk_server(good, None)).await;
    let report = params::fetch(resumer2.net.handle(&s4).unwrap(), peer(6), digest, &dest3)
        .await
        .unwrap();
    assert_eq!(report.resumed_from, partial);
    assert_eq!(params::digest_file(&dest3).unwrap(), digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_late_joiner_catches_up_on_open_batches() {
    let s = id("catchup");
    let cfg = supernet("catchup", 0, Some(&[0, 1, 2]));
    let open_batches: Arc<
        std::sync::Mutex<Vec<Signed<lagrange_protocol::messages::BatchAnnouncement>>>,
    > = Arc::default();
    let served = open_batches.clone();
    let handler: Handler = Arc::new(move |_, request| match request {
        Request::CatchUp { .. } => Response::CatchUp {
            batches: served.lock().unwrap().clone(),
        },
        _ => Response::Refused {
            reason: "unexpected".into(),
        },
    });
    let mut gw = TestNode::new(0, handler);
    let gw_addr = gw.join(cfg.clone(), vec![], |_| {}).await.addr;
    let mut early = TestNode::new(1, refuse_all());
    early.join(cfg.clone(), vec![gw_addr.clone()], |_| {}).await;
    early.wait_connected(&s, &[peer(0)]).await;

    let b1 = batch(&s, 0, 1, 3);
    open_batches.lock().unwrap().push(b1.clone());
    gw.net
        .handle(&s)
        .unwrap()
        .publish(GossipMessage::Batch(b1.clone()))
        .await
        .unwrap();
    early
        .wait_gossip(&s, |_, m| {
            matches!(m, GossipMessage::Batch(_)).then_some(())
        })
        .await;

    // The late joiner missed the gossip; it asks the gateway once connected.
    let mut late = TestNode::new(2, refuse_all());
    let lh = late.join(cfg, vec![gw_addr], |_| {}).await.handle;
    late.wait_connected(&s, &[peer(0)]).await;
    let response = lh
        .request(
            peer(0),
            Request::CatchUp {
                supernet: s.clone(),
            },
        )
        .await
        .unwrap();
    let Response::CatchUp { batches } = response else {
        panic!("unexpected {response:?}");
    };
    assert_eq!(batches, vec![b1]);
    batches[0].verify_for(&s).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_leaving_a_supernet_at_run_time_closes_only_its_connections() {
    let (a, b) = (id("stay"), id("go"));
    let mut gw = TestNode::new(0, refuse_all());
    let boot_a = gw
        .join(supernet("stay", 0, None), vec![], |_| {})
        .await
        .addr;
    let boot_b = gw.join(supernet("go", 0, None), vec![], |_| {}).await.addr;
    let mut member = TestNode::new(1, refuse_all());
    member
        .join(supernet("stay", 0, None), vec![boot_a], |_| {})
        .await;
    member
        .join(supernet("go", 0, None), vec![boot_b], |_| {})
        .await;
    gw.wait_connected(&a, &[peer(1)]).await;
    gw.wait_connected(&b, &[peer(1)]).await;

    assert!(member.net.leave(&b));
    assert!(!member.net.leave(&b));
    assert_eq!(member.net.supernets(), vec![a.clone()]);
    gw.wait(|e| match e {
        NetEvent::PeerDisconnected { supernet, peer: p } if *supernet == b && *p == peer(1) => {
            Some(())
        }
        NetEvent::PeerDisconnected { supernet, .. } if *supernet == a => {
            panic!("the other supernet lost its connection")
        }
        _ => None,
    })
    .await;
    assert!(
        gw.net
            .handle(&a)
            .unwrap()
            .connected_peers()
            .await
            .contains(&peer(1))
    );

    // And joining again at run time works.
    let boot_b = gw.net.handle(&b).unwrap().listen_addrs().await[0]
        .clone()
        .with(libp2p::multiaddr::Protocol::P2p(peer(0)));
    member
        .join(supernet("go", 0, None), vec![boot_b], |_| {})
        .await;
    gw.wait_connected(&b, &[peer(1)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_requests_an_application_never_answers_are_bounded_and_expire() {
    let s = id("silent");
    let cfg = supernet("silent", 0, None);
    // The node whose application drops every request, with a short request timeout.
    let mut sink = TestNode::silent(0);
    let joined = sink
        .join(cfg.clone(), vec![], |c| {
            c.request_timeout = Duration::from_secs(1);
        })
        .await;
    let stats = joined.handle.shared_stats();
    let mut asker = TestNode::new(1, refuse_all());
    let handle = asker
        .join(cfg, vec![joined.addr.clone()], |c| {
            c.request_timeout = Duration::from_secs(2);
        })
        .await
        .handle;
    asker.wait_connected(&s, &[peer(0)]).await;
    // 100 requests at once: the sink keeps at most 32 waiting and refuses more at once.
    let requests = (0..100).map(|_| {
        let h = handle.clone();
        async move {
            h.request(
                peer(0),
                Request::CatchUp {
                    supernet: id("silent"),
                },
            )
            .await
        }
    });
    let answers = futures::future::join_all(requests).await;
    let refused = answers
        .iter()
        .filter(|a| {
            matches!(a, Ok(Response::Refused { reason }) if reason == "too many requests in flight")
        })
        .count();
    // Those the sink kept end when its timeout drops them (libp2p also caps streams per
    // connection, refusing some before they reach the table). A request that arrives after
    // the first ones expired finds room again, so what counts is how many ever waited at
    // once.
    assert!(refused > 0, "{answers:?}");
    let peak = stats.inbound_pending_peak();
    assert!(
        peak > 0 && peak <= lagrange_node::net::MAX_INBOUND_PER_PEER as i64,
        "{peak} waited at once: {answers:?}"
    );
    // The sink let go of the 32 once the requester's timeout passed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.inbound_pending() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} still waiting",
            stats.inbound_pending()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_parameter_downloads_trust_no_claimed_length_and_drop_stale_parts() {
    let dir = tempfile::tempdir().unwrap();
    let data = test_file(3 << 20);
    let digest = Digest(*blake3::hash(&data).as_bytes());
    let good = dir.path().join("good.params");
    std::fs::write(&good, &data).unwrap();

    // A partial download longer than the file (left by another file under the same name):
    // discarded, and the file fetched whole.
    let s = id("params-stale");
    let (_server, client) = param_pair(&s, (10, 11), chunk_server(good, None)).await;
    let dest = dir.path().join("stale.params");
    std::fs::write(params::part_path(&dest), vec![7u8; 5 << 20]).unwrap();
    let report = params::fetch(client.net.handle(&s).unwrap(), peer(10), digest, &dest)
        .await
        .unwrap();
    assert_eq!(report.resumed_from, 0);
    assert_eq!(params::digest_file(&dest).unwrap(), digest);

    // A peer claiming a file larger than any parameter file: refused after one chunk, and
    // nothing past that chunk is written.
    let s2 = id("params-huge");
    let liar: ParamHandler = Arc::new(|_, request: ParamRequest| ParamResponse::Chunk {
        digest: request.digest,
        total_len: params::MAX_PARAM_FILE + 1,
        offset: request.offset,
        data: vec![0; 1 << 10],
    });
    let (_liar, victim) = param_pair(&s2, (12, 13), liar).await;
    let dest2 = dir.path().join("huge.params");
    let err = params::fetch(victim.net.handle(&s2).unwrap(), peer(12), digest, &dest2)
        .await
        .unwrap_err();
    assert!(matches!(err, params::ParamError::TooLarge(_)), "{err}");
    let written = std::fs::metadata(params::part_path(&dest2)).map_or(0, |m| m.len());
    assert!(written <= 1 << 10, "{written} bytes written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_availability_spam_is_ignored_and_a_flood_cuts_its_sender_off() {
    let s = id("spam");
    let cfg = supernet("spam", 0, None);
    let mut gw = TestNode::new(0, refuse_all());
    // A window long enough that a loaded machine cannot see it roll over mid-test.
    let joined = gw
        .join(cfg.clone(), vec![], |c| {
            c.announcements = (10, Duration::from_secs(600));
        })
        .await;
    let stats = joined.handle.shared_stats();
    let mut spammer = TestNode::new(1, refuse_all());
    let handle = spammer
        .join(cfg, vec![joined.addr.clone()], |c| {
            c.publish_retry_window = Duration::from_secs(5);
        })
        .await
        .handle;
    spammer.wait_connected(&s, &[peer(0)]).await;
    let seen = |n: u64| {
        let stats = stats.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while stats.gossip_rate_limited.get() + stats.gossip_accepted.get() < n {
                assert!(
                    Instant::now() < deadline,
                    "only {} seen",
                    stats.gossip_accepted.get()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // 25 valid announcements at once (distinct, so gossip does not merge them): the gateway
    // takes the 10 of the window and ignores the rest, without blaming the sender.
    for at in 1..=25 {
        handle
            .publish(GossipMessage::Availability(availability(&s, 1, at)))
            .await
            .unwrap();
    }
    seen(25).await;
    assert_eq!(
        (stats.gossip_accepted.get(), stats.gossip_rate_limited.get()),
        (10, 15)
    );
    assert_eq!(stats.gossip_rejected.get(), 0);
    // Past three times the rate, the flood is rejected and its sender struck until blocked.
    // Once blocked, its publishes find no peer and wait out their retry window: flood from a
    // task of its own, stopped when the gateway reports the block.
    let flood = tokio::spawn({
        let s = s.clone();
        async move {
            for at in 26..=60 {
                let _ = handle
                    .publish(GossipMessage::Availability(availability(&s, 1, at)))
                    .await;
            }
        }
    });
    gw.wait(|e| match e {
        NetEvent::PeerBlocked { peer: p, .. } if *p == peer(1) => Some(()),
        _ => None,
    })
    .await;
    flood.abort();
    assert_eq!(stats.gossip_accepted.get(), 10);
    assert!(stats.gossip_rejected.get() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_a_peer_asking_too_many_parameter_chunks_is_told_to_slow_down() {
    use lagrange_node::launch::{self, ParamFiles};
    let net = proving_supernet("chunky", 10_000).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.params");
    std::fs::write(&file, test_file(1 << 16)).unwrap();
    let digest = params::digest_file(&file).unwrap();
    let files: ParamFiles = Arc::new([(digest, file)].into());
    let gw = launch::start_gateway(
        &lagrange_protocol::Keypair::insecure_from_seed(0),
        net.supernet.clone(),
        lagrange_node::store::Store::temporary().unwrap(),
        net.workload.clone(),
        lagrange_node::net::NetConfig::local(),
        None,
        files,
    )
    .await
    .unwrap();
    let mut asker = TestNode::new(5, refuse_all());
    let handle = asker
        .join((*net.supernet).clone(), vec![gw.p2p_addr.clone()], |_| {})
        .await
        .handle;
    asker.wait_connected(&net.supernet.id, &[peer(0)]).await;
    let mut served = 0;
    let mut slowed = 0;
    let started = Instant::now();
    for offset in 0..530u64 {
        let request = ParamRequest {
            digest,
            offset,
            max_len: 1,
        };
        match handle.request_params(peer(0), request).await.unwrap() {
            ParamResponse::Chunk { .. } => served += 1,
            ParamResponse::Refused { reason } if reason.contains("slow down") => slowed += 1,
            other => panic!("{other:?}"),
        }
    }
    // 512 chunks per 10 s window: all within one window here, unless the machine is so slow
    // that the window turned over mid-run (then the count starts again).
    if started.elapsed() < Duration::from_secs(10) {
        assert_eq!((served, slowed), (512, 18));
    } else {
        assert!(served >= 512, "{served} served, {slowed} slowed");
    }
}
