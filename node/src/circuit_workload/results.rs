//! Result files checked and exported offline, with the verifying keys of a parameter
//! directory: what `verify` and `export-snarkjs` run.

use super::artifacts::{verifying_key, zkml_keys};
use super::*;

/// Checks a result file offline with the verifying keys in `params_dir`: every proof, the
/// chain of chunk statements and the combined answer; for a zkML result, every slice proof
/// with its slice's key and every inference's chain.
///
/// With `inputs` (real values), a zkML result must also be of those inputs.
pub fn check_result_file(
    params_dir: &Path,
    bytes: &[u8],
    inputs: Option<&[Vec<f32>]>,
) -> Result<Checked, WorkloadError> {
    let result = TaskResult::from_json(bytes)?;
    if let TaskResult::Zkml(zkml) = &result {
        let keys = zkml_keys(params_dir, &zkml.model)?;
        let quantized = inputs
            .map(|inputs| {
                inputs
                    .iter()
                    .enumerate()
                    .map(|(n, x)| {
                        lagrange_circuits::zkml::model::quantize(x, zkml.scale_bits).map_err(|e| {
                            WorkloadError::Family(FamilyError::Input(format!("input {n}: {e}")))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        return Ok(result.check_zkml(&keys.prepared(), quantized.as_deref())?);
    }
    if inputs.is_some() {
        return Err(WorkloadError::Refused(
            "inputs are checked against zkML results only".into(),
        ));
    }
    let vk = verifying_key(params_dir, result.circuit())?;
    Ok(result.check(&lagrange_circuits::curve::prepare(&vk))?)
}

/// Writes each proof of a result in snarkjs's formats: `<out>/<n>/verification_key.json`,
/// `proof.json` and `public.json`, after checking the result with the keys in
/// `params_dir`. Returns how many proofs were written.
///
/// A zkML result's proofs are written inference by inference, slice by slice, each with its
/// slice's key.
pub fn export_snarkjs(params_dir: &Path, bytes: &[u8], out: &Path) -> Result<usize, WorkloadError> {
    // Nothing is written unless the keys here verify the result: a wrong parameter
    // directory must not produce a verification_key.json that does not match the proofs.
    check_result_file(params_dir, bytes, None).map_err(|e| {
        WorkloadError::Setup(format!(
            "the keys in {} do not verify this result, so nothing was written: {e}",
            params_dir.display()
        ))
    })?;
    let result = TaskResult::from_json(bytes)?;
    let vks = match &result {
        TaskResult::Zkml(zkml) => zkml_keys(params_dir, &zkml.model)?.vks,
        _ => vec![verifying_key(params_dir, result.circuit())?],
    };
    let statements = result.statements()?;
    for (i, (inputs, proof)) in statements.iter().enumerate() {
        let vk = &vks[i % vks.len()];
        write_snarkjs(&out.join(i.to_string()), vk, proof, inputs)
            .map_err(|e| WorkloadError::Setup(format!("writing {}: {e}", out.display())))?;
    }
    Ok(statements.len())
}

/// Writes `verification_key.json`, `proof.json` and `public.json` into `dir`.
pub fn write_snarkjs(
    dir: &Path,
    vk: &lagrange_circuits::curve::VerifyingKey<Bn254>,
    proof: &Proof<Bn254>,
    inputs: &[Fr],
) -> std::io::Result<()> {
    use lagrange_circuits::snarkjs::{proof_json, public_json, verification_key_json};
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, value: serde_json::Result<String>| {
        std::fs::write(dir.join(name), value.map_err(std::io::Error::other)?)
    };
    write(
        "verification_key.json",
        serde_json::to_string_pretty(&verification_key_json(vk)),
    )?;
    write(
        "proof.json",
        serde_json::to_string_pretty(&proof_json(proof)),
    )?;
    write(
        "public.json",
        serde_json::to_string_pretty(&public_json(inputs)),
    )
}
