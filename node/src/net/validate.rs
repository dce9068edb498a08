//! Gossip validation, off the swarm task.
//!
//! The swarm task hands every received gossip message to a bounded queue. The validator
//! drains up to [`BATCH`] messages at a time and checks them on the blocking pool: decode with
//! the protocol codec, author on the allowlist, topic and Supernet right, signer equal to the
//! gossip author (so "who signed" is "who sent"), gateway-only messages from a gateway, and
//! all signatures at once with batch verification. Each message gets exactly one verdict,
//! sent back to the swarm task as a command; accepted messages go to the application.

use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use tokio::sync::mpsc;
use tracing::debug;

use lagrange_protocol::codec;
use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::messages::GossipMessage;
use lagrange_protocol::messages::MAX_COMMITS_PER_BATCH;
use lagrange_protocol::signed::SignedError;

use super::event::{Command, NetEvent};
use super::names::TopicKind;
use super::rate::RateLimiter;
use super::stats::NetStats;

/// Most messages checked in one batch.
pub const BATCH: usize = 64;

/// A gossip message waiting for its verdict.
#[derive(Debug)]
pub(crate) struct Pending {
    pub message_id: MessageId,
    pub propagation_source: PeerId,
    pub source: Option<PeerId>,
    pub topic: Option<TopicKind>,
    pub data: Vec<u8>,
}

/// Checks everything about a message except its signature. Returns the decoded message or
/// the reason to reject it.
pub fn check_envelope(
    supernet: &SupernetConfig,
    source: Option<PeerId>,
    topic: Option<TopicKind>,
    data: &[u8],
) -> Result<GossipMessage, String> {
    let source = source.ok_or("unsigned gossip")?;
    if !supernet.is_allowed(&source) {
        return Err(format!("author {source} is not on the allowlist"));
    }
    let message = codec::decode::<GossipMessage>(data).map_err(|e| e.to_string())?;
    if Some(TopicKind::of(&message)) != topic {
        return Err("message on the wrong topic".into());
    }
    if message.supernet() != &supernet.id {
        return Err(format!("message for supernet {}", message.supernet()));
    }
    let signer = message.signer().peer_id().map_err(|e| e.to_string())?;
    if signer != source {
        return Err(format!("signed by {signer} but authored by {source}"));
    }
    let gateway_only = matches!(
        message,
        GossipMessage::Batch(_) | GossipMessage::Result(_) | GossipMessage::CommitsClosed(_)
    );
    if gateway_only && !supernet.is_gateway(&source) {
        return Err(format!("{source} is not a gateway of this supernet"));
    }
    match &message {
        GossipMessage::Batch(b) => b.payload.validate().map_err(|e| e.to_string())?,
        GossipMessage::Availability(a) => a.payload.validate().map_err(|e| e.to_string())?,
        GossipMessage::CommitsClosed(c)
            if c.payload.commits.len() > MAX_COMMITS_PER_BATCH
                || !c.payload.commits.is_sorted_by(|a, b| a < b) =>
        {
            return Err("a closed set that is too large or not sorted".into());
        }
        _ => {}
    }
    Ok(message)
}

fn verify_signature(message: &GossipMessage) -> Result<(), SignedError> {
    match message {
        GossipMessage::Batch(m) => m.verify(),
        GossipMessage::Commit(m) => m.verify(),
        GossipMessage::Reveal(m) => m.verify(),
        GossipMessage::Result(m) => m.verify(),
        GossipMessage::Availability(m) => m.verify(),
        GossipMessage::CommitsClosed(m) => m.verify(),
    }
}

/// Verifies all signatures, in batches per message kind when they are all good, one by one
/// to find the bad ones otherwise.
fn verify_all(messages: &[&GossipMessage]) -> Vec<bool> {
    use lagrange_protocol::Signed;
    let mut commits = Vec::new();
    let mut reveals = Vec::new();
    let mut others = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        match m {
            GossipMessage::Commit(c) => commits.push((i, c)),
            GossipMessage::Reveal(r) => reveals.push((i, r)),
            _ => others.push(i),
        }
    }
    let mut ok = vec![false; messages.len()];
    if Signed::verify_batch(commits.iter().map(|(_, c)| *c)).is_ok() {
        commits.iter().for_each(|(i, _)| ok[*i] = true);
    } else {
        commits
            .iter()
            .for_each(|(i, c)| ok[*i] = c.verify().is_ok());
    }
    if Signed::verify_batch(reveals.iter().map(|(_, r)| *r)).is_ok() {
        reveals.iter().for_each(|(i, _)| ok[*i] = true);
    } else {
        reveals
            .iter()
            .for_each(|(i, r)| ok[*i] = r.verify().is_ok());
    }
    for i in others {
        ok[i] = verify_signature(messages[i]).is_ok();
    }
    ok
}

type Checked = (Pending, Result<GossipMessage, String>);

fn check_batch(supernet: &SupernetConfig, batch: Vec<Pending>) -> Vec<Checked> {
    let mut checked: Vec<Checked> = batch
        .into_iter()
        .map(|p| {
            let r = check_envelope(supernet, p.source, p.topic, &p.data);
            (p, r)
        })
        .collect();
    let good: Vec<usize> = (0..checked.len())
        .filter(|&i| checked[i].1.is_ok())
        .collect();
    let messages: Vec<&GossipMessage> = good
        .iter()
        .filter_map(|&i| checked[i].1.as_ref().ok())
        .collect();
    let verdicts = verify_all(&messages);
    for (&i, ok) in good.iter().zip(verdicts) {
        if !ok {
            checked[i].1 = Err("bad signature".into());
        }
    }
    checked
}

/// Runs until the queue closes.
pub(crate) async fn run(
    supernet: Arc<SupernetConfig>,
    (limit, window): (u32, Duration),
    mut queue: mpsc::Receiver<Pending>,
    commands: mpsc::Sender<Command>,
    events: mpsc::Sender<NetEvent>,
    stats: Arc<NetStats>,
) {
    // A prover announces itself every few seconds. More than `limit` per `window` from a signer
    // is spam: ignored (the messages are valid); more than three times that, sent by the
    // signer itself, is a flood, rejected so that gossip scoring and strikes cut the sender
    // off (a relay is never blamed: only the signer's own deliveries are rejected). The
    // table of signers is bounded but never refuses a new one, so the count is always the
    // signer's own: many other signers never make one look like a flood.
    let mut announcements = RateLimiter::new(limit, window);
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let cfg = supernet.clone();
        let Ok(checked) = tokio::task::spawn_blocking(move || check_batch(&cfg, batch)).await
        else {
            return;
        };
        for (pending, result) in checked {
            let over = match (&result, pending.source) {
                (Ok(GossipMessage::Availability(_)), Some(source)) => {
                    let n = announcements.count(source, tokio::time::Instant::now());
                    (n > announcements.limit()).then_some((n, source))
                }
                _ => None,
            };
            let (acceptance, reason, accepted) = match result {
                Ok(_)
                    if over.is_some_and(|(n, source)| {
                        n > 3 * announcements.limit() && source == pending.propagation_source
                    }) =>
                {
                    stats.gossip_rate_limited.inc();
                    (
                        MessageAcceptance::Reject,
                        Some("availability flood".to_string()),
                        None,
                    )
                }
                Ok(_) if over.is_some() => {
                    stats.gossip_rate_limited.inc();
                    (MessageAcceptance::Ignore, None, None)
                }
                Ok(message) => (MessageAcceptance::Accept, None, Some(message)),
                Err(reason) => {
                    debug!(peer = %pending.propagation_source, %reason, "rejecting gossip");
                    (MessageAcceptance::Reject, Some(reason), None)
                }
            };
            let verdict = Command::Verdict {
                message_id: pending.message_id,
                propagation_source: pending.propagation_source,
                acceptance,
                reason,
            };
            if commands.send(verdict).await.is_err() {
                return;
            }
            if let (Some(message), Some(source)) = (accepted, pending.source) {
                let event = NetEvent::Gossip {
                    supernet: supernet.id.clone(),
                    source,
                    message,
                };
                if events.send(event).await.is_err() {
                    return;
                }
                stats.gossip_accepted.inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lagrange_protocol::config::{
        AuctionConfig, CategoryConfig, CircuitConfig, EconomicsConfig,
    };
    use lagrange_protocol::messages::{HardwareSummary, ProverAvailability};
    use lagrange_protocol::{CircuitId, Digest, JobCategory, Keypair, Signed, SupernetId};

    fn cfg(allow: &[u64]) -> SupernetConfig {
        let peer = |s: &u64| Keypair::insecure_from_seed(*s).peer_id();
        SupernetConfig {
            id: SupernetId::new("v").unwrap(),
            gateways: vec![peer(&0)],
            allowlist: Some(allow.iter().map(peer).collect()),
            auction: AuctionConfig {
                batch_interval_ms: 1000,
                commit_window_ms: 300,
                reveal_window_ms: 300,
                reveal_grace_ms: 2_000,
                max_jobs_per_batch: 16,
            },
            economics: EconomicsConfig {
                genesis_stake: 10,
                min_stake: 1,
                slash_amount: 1,
                non_reveal_penalty: 1,
                deposits: Vec::new(),
                tokens: None,
            },
            categories: vec![CategoryConfig {
                category: JobCategory::Small,
                proving_deadline_ms: 1000,
                reserve_price: 10,
            }],
            circuits: vec![CircuitConfig {
                id: CircuitId::new("c").unwrap(),
                category: JobCategory::Small,
                params_digest: Digest([0; 32]),
                r1cs_digest: None,
                wasm_digest: None,
                model: None,
            }],
        }
    }

    fn availability(seed: u64) -> Vec<u8> {
        let msg = Signed::sign(
            ProverAvailability {
                supernet: SupernetId::new("v").unwrap(),
                categories: vec![JobCategory::Small],
                capacity: 1,
                hardware: HardwareSummary::default(),
                node_version: "t".into(),
                announced_at: 0,
            },
            &Keypair::insecure_from_seed(seed),
        );
        codec::encode(&GossipMessage::Availability(msg)).unwrap()
    }

    /// More signers than the rate table holds, each announcing once within its window and
    /// delivering its own message: none of them is flooding, so every one is accepted (no
    /// reject, no strike), however full the table is.
    #[tokio::test]
    async fn a_full_rate_table_never_rejects_a_new_signer() {
        let signers = super::super::rate::MAX_PEERS as u64 + 8;
        let mut open = cfg(&[]);
        open.allowlist = None;
        let (queue_tx, queue) = mpsc::channel(signers as usize);
        let (commands, mut verdicts) = mpsc::channel(signers as usize);
        let (events, mut accepted) = mpsc::channel(signers as usize);
        for seed in 1..=signers {
            let data = availability(seed);
            let signer = Keypair::insecure_from_seed(seed).peer_id();
            queue_tx
                .try_send(Pending {
                    message_id: super::super::gossip::content_id(&data),
                    propagation_source: signer,
                    source: Some(signer),
                    topic: Some(TopicKind::Provers),
                    data,
                })
                .unwrap();
        }
        drop(queue_tx);
        // A window far longer than the test: every window stays live throughout.
        let validator = run(
            Arc::new(open),
            (10, Duration::from_secs(3600)),
            queue,
            commands,
            events,
            Arc::new(NetStats::default()),
        );
        tokio::time::timeout(Duration::from_secs(120), validator)
            .await
            .expect("the validator finishes its queue");
        let mut n = 0;
        while let Ok(Command::Verdict {
            acceptance, reason, ..
        }) = verdicts.try_recv()
        {
            assert!(
                matches!(acceptance, MessageAcceptance::Accept),
                "verdict {n}: {acceptance:?} ({reason:?})"
            );
            n += 1;
        }
        assert_eq!(n, signers);
        let mut delivered = 0;
        while accepted.try_recv().is_ok() {
            delivered += 1;
        }
        assert_eq!(delivered, signers);
    }

    #[test]
    fn a_strangers_message_relayed_by_a_member_is_rejected() {
        let supernet = cfg(&[0, 1]);
        let stranger = Keypair::insecure_from_seed(9).peer_id();
        let member = Keypair::insecure_from_seed(1).peer_id();
        // Gossip keeps the author as `source` however many members relay it.
        let err = check_envelope(
            &supernet,
            Some(stranger),
            Some(TopicKind::Provers),
            &availability(9),
        )
        .unwrap_err();
        assert!(err.contains("not on the allowlist"), "{err}");
        check_envelope(
            &supernet,
            Some(member),
            Some(TopicKind::Provers),
            &availability(1),
        )
        .unwrap();
        // Right author, wrong topic.
        assert!(
            check_envelope(
                &supernet,
                Some(member),
                Some(TopicKind::Jobs),
                &availability(1)
            )
            .is_err()
        );
        // No author at all.
        assert!(
            check_envelope(&supernet, None, Some(TopicKind::Provers), &availability(1)).is_err()
        );
    }
}
