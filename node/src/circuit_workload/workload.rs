//! The served circuits as the [`Workload`] the gateway and provers drive: splitting tasks,
//! proving jobs, verifying proofs in batches per circuit, aggregating and checking results.

use super::*;

/// A decoded proof waiting for batch verification: its item index, the proof and the
/// public inputs computed from the job.
type Pending = (usize, Proof<Bn254>, Vec<Fr>);

impl Workload for CircuitWorkload {
    fn split(&self, spec: &TaskSpec) -> Result<Vec<JobPlan>, WorkloadError> {
        let (id, category) = self.route(spec)?;
        let family = self.family(&id)?;
        let inputs = family.split(&task_of(spec), lagrange_protocol::codec::MAX_JOB_INPUT)?;
        inputs
            .into_iter()
            .map(|input| {
                let circuit = family.job_circuit(&input)?;
                Ok(JobPlan {
                    circuit: CircuitId::new(circuit).map_err(WorkloadError::setup)?,
                    category,
                    input,
                })
            })
            .collect()
    }

    fn prove(&self, circuit: &CircuitId, input: &[u8]) -> Result<ProofBytes, WorkloadError> {
        let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
        let proven = self.circuit(circuit.as_str())?.prove(input, &mut rng)?;
        Ok(ProofBytes {
            proof: encoding::encode_proof(&proven.proof),
            public_inputs: encoding::encode_public_inputs(&proven.public_inputs),
        })
    }

    fn verify(&self, items: &[(JobRecord, Vec<u8>, ProofSubmission)]) -> Vec<Check> {
        // Decode everything first; group what decodes by circuit for batch verification. The
        // input is the gateway's own: if it does not decode, that is not the prover's fault.
        let mut verdicts: Vec<Check> = vec![Check::Valid; items.len()];
        let mut groups: BTreeMap<&str, Vec<Pending>> = BTreeMap::new();
        for (i, (job, input, submission)) in items.iter().enumerate() {
            let statement = self
                .circuit(job.circuit.as_str())
                .and_then(|c| Ok(c.statement(input)?));
            let statement = match statement {
                Ok(statement) => statement,
                Err(e) => {
                    verdicts[i] = Check::Unchecked(format!("the gateway's job input: {e}"));
                    continue;
                }
            };
            match encoding::decode_proof(&submission.proof) {
                Ok(proof) => groups
                    .entry(job.circuit.as_str())
                    .or_default()
                    .push((i, proof, statement)),
                Err(e) => verdicts[i] = Check::Invalid(e.to_string()),
            }
        }
        let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
        for (circuit, group) in groups {
            let circuit = match self.circuit(circuit) {
                Ok(circuit) => circuit,
                // Cannot happen (its statement came from the family), but never pass a
                // proof nobody checked.
                Err(e) => {
                    for (i, _, _) in &group {
                        verdicts[*i] = Check::Unchecked(e.to_string());
                    }
                    continue;
                }
            };
            let pvk = circuit.verifying_key();
            let batch: Vec<_> = group
                .iter()
                .map(|(_, p, x)| (p.clone(), x.clone()))
                .collect();
            if verify::batch_verify(pvk, &batch, &mut rng).is_err() {
                // Somebody's proof is bad: check one by one to know whose.
                for (i, proof, inputs) in &group {
                    if let Err(e) = verify::verify(pvk, proof, inputs) {
                        verdicts[*i] = Check::Invalid(e.to_string());
                    }
                }
            }
        }
        verdicts
    }

    fn aggregate(
        &self,
        task: &TaskRecord,
        proofs: &[(JobRecord, Vec<u8>, ProofRecord)],
    ) -> Result<Vec<u8>, WorkloadError> {
        if proofs.is_empty() {
            return Err(WorkloadError::Refused("a task with no proofs".into()));
        }
        let proofs = proofs
            .iter()
            .map(|(_, input, record)| {
                let proof = encoding::decode_proof(&record.proof).map_err(FamilyError::from)?;
                Ok((input.as_slice(), proof))
            })
            .collect::<Result<Vec<_>, WorkloadError>>()?;
        let (id, _) = self.route(&task.spec)?;
        let result = self.family(&id)?.aggregate(&task_of(&task.spec), &proofs)?;
        Ok(result.to_json()?)
    }
}
