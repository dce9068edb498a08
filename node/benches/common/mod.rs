//! What the gateway benchmarks share: a workload that splits synthetic tasks and accepts
//! every proof unchecked, so that they measure the gateway's bookkeeping alone.

use lagrange_node::gateway::{Input as GIn, Output as GOut};
use lagrange_node::model::{JobRecord, TaskRecord, TaskSpec};
use lagrange_node::store::ProofRecord;
use lagrange_node::workload::{Check, JobPlan, ProofBytes, Workload};
use lagrange_protocol::CircuitId;
use lagrange_protocol::messages::ProofSubmission;

/// Splits `Synthetic { jobs }` into jobs and accepts every proof without checking it.
/// **A no-op verifier, for measuring gateway bookkeeping only.**
pub struct NoopVerify;

impl Workload for NoopVerify {
    fn split(
        &self,
        spec: &TaskSpec,
    ) -> Result<Vec<JobPlan>, lagrange_node::workload::WorkloadError> {
        let TaskSpec::Synthetic { jobs, category } = spec else {
            return Err(lagrange_node::workload::WorkloadError::Refused(
                "synthetic only".into(),
            ));
        };
        Ok((0..*jobs)
            .map(|i| JobPlan {
                circuit: CircuitId::new("synthetic-v1/k12").unwrap(),
                category: *category,
                input: i.to_le_bytes().to_vec(),
            })
            .collect())
    }
    fn prove(
        &self,
        _: &CircuitId,
        _: &[u8],
    ) -> Result<ProofBytes, lagrange_node::workload::WorkloadError> {
        Ok(ProofBytes {
            proof: vec![0; 128],
            public_inputs: vec![0; 64],
        })
    }
    fn verify(&self, items: &[(JobRecord, Vec<u8>, ProofSubmission)]) -> Vec<Check> {
        vec![Check::Valid; items.len()]
    }
    fn aggregate(
        &self,
        _: &TaskRecord,
        p: &[(JobRecord, Vec<u8>, ProofRecord)],
    ) -> Result<Vec<u8>, lagrange_node::workload::WorkloadError> {
        Ok(vec![p.len() as u8])
    }
}

/// What the gateway's driver feeds back for a `Verify` or an `Aggregate` output with the
/// no-op workload (every proof valid, every aggregation done at once); nothing for any
/// other output.
pub fn noop_follow_up(output: GOut) -> Option<GIn> {
    match output {
        GOut::Verify {
            token, submission, ..
        } => Some(GIn::Verified {
            token,
            submission,
            outcome: Check::Valid,
        }),
        GOut::Aggregate { task, proofs } => Some(GIn::Aggregated {
            task: task.id,
            result: NoopVerify
                .aggregate(&task, &proofs)
                .map_err(|e| e.to_string()),
        }),
        _ => None,
    }
}
