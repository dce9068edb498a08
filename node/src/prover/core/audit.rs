//! Auditing a settled auction: the transcript fetched from the gateway goes, with what this
//! prover holds about its own bids, to the audit that runs off the runtime.

use tracing::{debug, warn};

use lagrange_protocol::BatchId;
use lagrange_protocol::audit::Evidence;
use lagrange_protocol::messages::AuctionTranscript;

use super::{Output, ProverCore};

impl ProverCore {
    pub(super) fn on_transcript(
        &mut self,
        batch: BatchId,
        result: Result<Box<AuctionTranscript>, String>,
        out: &mut Vec<Output>,
    ) {
        let Some(pending) = self.audits.remove(&batch) else {
            return;
        };
        match result {
            Ok(transcript) if transcript.batch.payload.batch_id == batch => {
                out.push(Output::Audit {
                    evidence: Box::new(Evidence {
                        transcript: *transcript,
                        receipts: pending.receipts,
                        commits: vec![pending.commit],
                        reveals: vec![pending.reveal],
                        availability: self.announcements.iter().cloned().collect(),
                    }),
                    dir: self.evidence_dir.clone(),
                });
            }
            Ok(_) => {
                warn!(batch_id = %batch, peer = %pending.gateway, "the gateway sent the transcript of another batch");
                self.metrics.audited("unavailable");
            }
            Err(reason) => {
                debug!(batch_id = %batch, %reason, "no transcript to audit");
                self.metrics.audited("unavailable");
            }
        }
    }
}
