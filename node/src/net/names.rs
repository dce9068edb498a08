//! Per-Supernet names on the wire: gossip topics, the Kademlia protocol, the request-response
//! protocol and the identify version string.
//!
//! Everything is namespaced by the Supernet id, so two Supernets never share a topic, a DHT
//! or a request protocol, even between the same two nodes.

use lagrange_protocol::SupernetId;
use lagrange_protocol::messages::GossipMessage;
use libp2p::StreamProtocol;
use libp2p::gossipsub::IdentTopic;

/// The gossip topics of a Supernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicKind {
    /// Batch announcements and auction results, from gateways.
    Jobs,
    /// Bid commits and reveals, from provers.
    Bids,
    /// Prover availability announcements.
    Provers,
}

impl TopicKind {
    /// Every topic kind.
    pub const ALL: [TopicKind; 3] = [TopicKind::Jobs, TopicKind::Bids, TopicKind::Provers];

    /// The kind's name in the topic string.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Jobs => "jobs",
            TopicKind::Bids => "bids",
            TopicKind::Provers => "provers",
        }
    }

    /// The topic a gossip message belongs on.
    pub fn of(message: &GossipMessage) -> Self {
        match message {
            GossipMessage::Batch(_)
            | GossipMessage::Result(_)
            | GossipMessage::CommitsClosed(_) => TopicKind::Jobs,
            GossipMessage::Commit(_) | GossipMessage::Reveal(_) => TopicKind::Bids,
            GossipMessage::Availability(_) => TopicKind::Provers,
        }
    }
}

/// `/lagrange/<supernet>/<kind>/1`
pub fn topic(supernet: &SupernetId, kind: TopicKind) -> IdentTopic {
    IdentTopic::new(format!("/lagrange/{supernet}/{}/1", kind.as_str()))
}

/// `/lagrange/<supernet>/kad/1.0.0`: a private DHT per Supernet, never the public one.
pub fn kad_protocol(supernet: &SupernetId) -> StreamProtocol {
    protocol(format!("/lagrange/{supernet}/kad/1.0.0"))
}

/// `/lagrange/<supernet>/rpc/1`: the roles' request-response protocol (bids, jobs,
/// proofs, catch-up, transcripts).
pub fn rpc_protocol(supernet: &SupernetId) -> StreamProtocol {
    protocol(format!("/lagrange/{supernet}/rpc/1"))
}

/// `/lagrange/<supernet>/params/1`: chunks of content-addressed parameter files.
pub fn params_protocol(supernet: &SupernetId) -> StreamProtocol {
    protocol(format!("/lagrange/{supernet}/params/1"))
}

/// The identify protocol version string, `/lagrange/<supernet>/1`.
pub fn identify_version(supernet: &SupernetId) -> String {
    format!("/lagrange/{supernet}/1")
}

fn protocol(name: String) -> StreamProtocol {
    // Supernet ids are `[a-z0-9-]` and the prefix is a literal '/', so every name we build is
    // a valid protocol name.
    StreamProtocol::try_from_owned(name).expect("supernet protocol names start with '/'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_namespaced() {
        let a = SupernetId::new("alpha").unwrap();
        let b = SupernetId::new("beta").unwrap();
        assert_eq!(
            topic(&a, TopicKind::Jobs).to_string(),
            "/lagrange/alpha/jobs/1"
        );
        assert_ne!(
            topic(&a, TopicKind::Jobs).hash(),
            topic(&b, TopicKind::Jobs).hash()
        );
        assert_eq!(kad_protocol(&a).as_ref(), "/lagrange/alpha/kad/1.0.0");
        assert_ne!(kad_protocol(&a), kad_protocol(&b));
        assert_eq!(rpc_protocol(&b).as_ref(), "/lagrange/beta/rpc/1");
    }
}
