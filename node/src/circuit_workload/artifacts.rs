//! Where a circom circuit's and a zkML model's files live in a parameter directory, and how a
//! model is prepared to be served: quantized, cut into slices, keyed and written.

use super::*;

/// Where a circom circuit's artifacts live in a parameter directory:
/// `circom/<name>.zkey`, `.r1cs` and `.wasm`, for id `circom/<name>`.
pub fn circom_paths(params_dir: &Path, id: &str) -> CircomPaths {
    let name = id
        .strip_prefix(lagrange_protocol::config::CIRCOM_PREFIX)
        .unwrap_or(id);
    let dir = params_dir.join("circom");
    CircomPaths {
        zkey: dir.join(format!("{name}.zkey")),
        r1cs: dir.join(format!("{name}.r1cs")),
        wasm: dir.join(format!("{name}.wasm")),
    }
}

/// A circom circuit's artifact files.
#[derive(Debug, Clone)]
pub struct CircomPaths {
    /// The proving key.
    pub zkey: std::path::PathBuf,
    /// The constraints.
    pub r1cs: std::path::PathBuf,
    /// The witness generator.
    pub wasm: std::path::PathBuf,
}

pub(super) fn verifying_key(
    params_dir: &Path,
    circuit: &str,
) -> Result<lagrange_circuits::curve::VerifyingKey<Bn254>, WorkloadError> {
    if circuit.starts_with(lagrange_protocol::config::CIRCOM_PREFIX) {
        let zkey = circom_paths(params_dir, circuit).zkey;
        let bytes = std::fs::read(&zkey)
            .map_err(|e| WorkloadError::Setup(format!("reading {}: {e}", zkey.display())))?;
        let key = lagrange_circuits::circom::CircomKey::from_bytes(&bytes).map_err(|source| {
            FamilyError::Circom {
                what: zkey.display().to_string(),
                source,
            }
        })?;
        return Ok(key.pk.vk);
    }
    let spec = CircuitSpec::parse(circuit).map_err(WorkloadError::setup)?;
    super::param_files::load_verifying_key(params_dir, &spec, None).map_err(WorkloadError::setup)
}

/// The verifying keys an on-chain verifier is deployed with for `circuit` (a coprocessor or
/// synthetic circuit, `circom/<name>` or `zkml/<name>`), each named: one key, or for a zkML
/// model one per slice (`zkml/<name>/slice-<i>`).
pub fn verifier_keys(
    params_dir: &Path,
    circuit: &str,
) -> Result<Vec<(String, lagrange_circuits::curve::VerifyingKey<Bn254>)>, WorkloadError> {
    if circuit.starts_with(lagrange_protocol::config::ZKML_PREFIX) {
        let keys = zkml_keys(params_dir, circuit)?;
        return Ok(keys
            .vks
            .into_iter()
            .enumerate()
            .map(|(i, vk)| (format!("{circuit}/slice-{i}"), vk))
            .collect());
    }
    Ok(vec![(
        circuit.to_string(),
        verifying_key(params_dir, circuit)?,
    )])
}

/// Where a zkML model's files live in a parameter directory: `zkml/<name>.onnx` and
/// `zkml/<name>.keys`, for id `zkml/<name>`.
pub fn zkml_paths(params_dir: &Path, id: &str) -> ZkmlPaths {
    let name = id
        .strip_prefix(lagrange_protocol::config::ZKML_PREFIX)
        .unwrap_or(id);
    let dir = params_dir.join("zkml");
    ZkmlPaths {
        onnx: dir.join(format!("{name}.onnx")),
        keys: dir.join(format!("{name}.keys")),
    }
}

/// A zkML model's files.
#[derive(Debug, Clone)]
pub struct ZkmlPaths {
    /// The model.
    pub onnx: std::path::PathBuf,
    /// Its slices' keys.
    pub keys: std::path::PathBuf,
}

/// How a model's keys are made when it is prepared.
pub enum KeySource {
    /// A one-party setup with the operating system's randomness, forgotten afterwards.
    Fresh,
    /// **Insecure, devnets and tests only**: from a public seed; keys already in the
    /// parameter directory are kept when they fit the model.
    InsecureSeeded(u64),
}

/// A zkML model prepared to be served.
pub struct PreparedModel {
    /// The `[[circuits]]` entry that pins it.
    pub entry: lagrange_protocol::config::CircuitConfig,
    /// The model, cut into slices.
    pub model: ServedModel,
    /// Its slices' keys.
    pub keys: ModelKeys,
}

/// Prepares the ONNX model `onnx` to be served as `id` (`zkml/<name>`): quantizes it
/// (refusing what it cannot prove, by name), cuts it into slices starting at the layers in
/// `cuts` (none: one slice per layer), makes its keys and writes `zkml/<name>.onnx` and
/// `zkml/<name>.keys` into `params_dir`.
pub fn prepare_zkml(
    params_dir: &Path,
    id: &CircuitId,
    category: JobCategory,
    onnx: &[u8],
    cuts: &[usize],
    source: KeySource,
) -> Result<PreparedModel, WorkloadError> {
    let name = id
        .as_str()
        .strip_prefix(lagrange_protocol::config::ZKML_PREFIX)
        .ok_or_else(|| WorkloadError::Setup(format!("{id} is not a zkml/<name> id")))?;
    let refused = |e: ZkmlError| WorkloadError::Setup(format!("model {id}: {e}"));
    let quantized = lagrange_circuits::zkml::onnx::load(
        onnx,
        lagrange_circuits::zkml::model::DEFAULT_SCALE_BITS,
    )
    .map_err(refused)?;
    let layers = quantized.layers.len();
    let mut starts: Vec<usize> = if cuts.is_empty() {
        (0..layers).collect()
    } else {
        std::iter::once(0).chain(cuts.iter().copied()).collect()
    };
    starts.dedup();
    let slices = starts
        .iter()
        .zip(starts.iter().skip(1).chain([&layers]))
        .map(|(&a, &b)| a..b)
        .collect();
    let model = ServedModel::new(name, quantized, slices).map_err(refused)?;
    let paths = zkml_paths(params_dir, id.as_str());
    let cached = match source {
        KeySource::InsecureSeeded(_) => std::fs::read(&paths.keys)
            .ok()
            .and_then(|bytes| ModelKeys::from_bytes(&bytes).ok())
            .filter(|k| k.slices == model.slices() && k.scale_bits == model.model().scale_bits),
        KeySource::Fresh => None,
    };
    let keys = match (cached, source) {
        (Some(keys), _) => keys,
        (None, source) => {
            let bar = super::param_files::spinner(format!(
                "generating Groth16 keys for {id}'s {} slices",
                model.slices().len()
            ));
            let keys = match source {
                KeySource::InsecureSeeded(seed) => ModelKeys::setup_insecure_seeded(&model, seed),
                KeySource::Fresh => ModelKeys::setup(&model, &mut rand::rngs::OsRng),
            };
            bar.finish_and_clear();
            keys.map_err(refused)?
        }
    };
    let keys_bytes = keys.to_bytes();
    for (path, bytes) in [(&paths.onnx, onnx), (&paths.keys, keys_bytes.as_slice())] {
        write_atomically(path, bytes)
            .map_err(|e| WorkloadError::Setup(format!("writing {}: {e}", path.display())))?;
    }
    let digest = |bytes: &[u8]| Digest(*blake3::hash(bytes).as_bytes());
    let entry = lagrange_protocol::config::CircuitConfig {
        id: id.clone(),
        category,
        params_digest: digest(&keys_bytes),
        r1cs_digest: None,
        wasm_digest: None,
        model: Some(lagrange_protocol::config::ModelPin {
            onnx_digest: digest(onnx),
            commitment: commitment_digest(&model.commitment()),
        }),
    };
    Ok(PreparedModel { entry, model, keys })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let part = path.with_extension("part");
    std::fs::write(&part, bytes)?;
    std::fs::rename(&part, path)
}

/// A zkML model's slices' verifying keys, read from its keys file in `params_dir`.
pub(super) fn zkml_keys(
    params_dir: &Path,
    model: &str,
) -> Result<ModelVerifyingKeys, WorkloadError> {
    let path = zkml_paths(params_dir, model).keys;
    let bytes = std::fs::read(&path)
        .map_err(|e| WorkloadError::Setup(format!("reading {}: {e}", path.display())))?;
    ModelVerifyingKeys::from_bytes(&bytes)
        .map_err(|e| WorkloadError::Setup(format!("{}: {e}", path.display())))
}
