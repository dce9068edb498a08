//! A stand-in workload for tests of the state machines (the real Groth16 path is exercised
//! by the end-to-end tests): `Synthetic { jobs }` splits into that many jobs, a proof is
//! valid when its bytes say "valid", while `blind` the gateway's side can check nothing, and
//! the next `fail_aggregations` aggregations fail.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use lagrange_node::store::ProofRecord;

use lagrange_node::model::{JobRecord, TaskRecord, TaskSpec};
use lagrange_node::workload::{Check, JobPlan, ProofBytes, Workload};
use lagrange_protocol::CircuitId;
use lagrange_protocol::messages::ProofSubmission;

/// The stand-in workload.
#[derive(Default)]
pub struct StandIn {
    blind: AtomicBool,
    fail_aggregations: AtomicU32,
}

impl StandIn {
    /// One whose verifier is broken from the start.
    pub fn blind() -> Self {
        Self {
            blind: true.into(),
            ..Self::default()
        }
    }

    /// Makes the next `n` aggregations fail.
    #[allow(dead_code)]
    pub fn fail_aggregations(&self, n: u32) {
        self.fail_aggregations.store(n, Ordering::Relaxed);
    }

    /// Breaks (or mends) the verifier.
    pub fn set_blind(&self, blind: bool) {
        self.blind.store(blind, Ordering::Relaxed);
    }
}

impl Workload for StandIn {
    fn split(
        &self,
        spec: &TaskSpec,
    ) -> Result<Vec<JobPlan>, lagrange_node::workload::WorkloadError> {
        match spec {
            TaskSpec::Synthetic { jobs, category } => Ok((0..*jobs)
                .map(|i| JobPlan {
                    circuit: CircuitId::new("synthetic.small").unwrap(),
                    category: *category,
                    input: i.to_le_bytes().to_vec(),
                })
                .collect()),
            _ => Err(lagrange_node::workload::WorkloadError::Refused(
                "only synthetic tasks are served here".into(),
            )),
        }
    }
    fn prove(
        &self,
        _: &CircuitId,
        _: &[u8],
    ) -> Result<ProofBytes, lagrange_node::workload::WorkloadError> {
        Ok(ProofBytes {
            proof: b"valid".to_vec(),
            public_inputs: vec![],
        })
    }
    fn verify(&self, items: &[(JobRecord, Vec<u8>, ProofSubmission)]) -> Vec<Check> {
        let blind = self.blind.load(Ordering::Relaxed);
        items
            .iter()
            .map(|(_, _, s)| match (blind, s.proof == b"valid") {
                (true, _) => Check::Unchecked("the verifier is down".into()),
                (false, true) => Check::Valid,
                (false, false) => Check::Invalid("proof does not verify".into()),
            })
            .collect()
    }
    fn aggregate(
        &self,
        _: &TaskRecord,
        proofs: &[(JobRecord, Vec<u8>, ProofRecord)],
    ) -> Result<Vec<u8>, lagrange_node::workload::WorkloadError> {
        let failing = self
            .fail_aggregations
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(lagrange_node::workload::WorkloadError::Refused(
                "the aggregator is down".into(),
            ));
        }
        Ok(format!("{} proofs", proofs.len()).into_bytes())
    }
}
