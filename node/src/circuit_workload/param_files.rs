//! The on-disk parameter cache: the node's copy of each circuit's keys.
//!
//! For circuit id `ID` (with `/` written as `__`), a cache directory holds:
//!
//! * `ID.params`: magic `LGRNPRM1`, `u16` little-endian id length, the id, then the
//!   compressed proving key (which embeds the verifying key);
//! * `ID.vk`: magic `LGRNVK01`, id length, id, then the compressed verifying key, for
//!   peers that only verify;
//! * `ID.params.blake3`, `ID.vk.blake3`: hex blake3 digest of the file next to it.
//!
//! The `.params` digest is what a Supernet config pins. Loading hashes the file first
//! and compares it with the sidecar and with the pinned digest when one is given, then
//! decodes with full validation (compressed points on the curve and in the subgroup, no
//! trailing bytes). Every failure is a typed [`ParamsError`].

use std::{
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use indicatif::{ProgressBar, ProgressStyle};
use lagrange_circuits::{
    CircuitParams, CircuitSpec, DecodeError, ParamDigest,
    curve::{Bn254, VerifyingKey},
    encoding,
    params::{SetupError, decode_proving_key, digest_bytes, setup_insecure_seeded},
};

const PARAMS_MAGIC: &[u8; 8] = b"LGRNPRM1";
const VK_MAGIC: &[u8; 8] = b"LGRNVK01";

/// A parameter-cache failure.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The file's digest differs from the expected one.
    #[error("{path}: checksum mismatch: expected {expected}, found {actual}")]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// Pinned or sidecar digest.
        expected: ParamDigest,
        /// Digest of the bytes on disk.
        actual: ParamDigest,
    },
    /// No pinned digest was given and the sidecar checksum file is missing or unreadable.
    #[error("{path}: no checksum to verify against")]
    MissingChecksum {
        /// The sidecar file.
        path: PathBuf,
    },
    /// The file ends early.
    #[error("{path}: truncated")]
    Truncated {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a parameter file of this format.
    #[error("{path}: not a parameter file (bad magic)")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// The file holds keys of another circuit.
    #[error("{path}: holds keys for {found}, expected {expected}")]
    WrongCircuit {
        /// The file.
        path: PathBuf,
        /// Circuit id asked for.
        expected: String,
        /// Circuit id in the file.
        found: String,
    },
    /// The key bytes do not decode or fail validation.
    #[error("{path}: {source}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: DecodeError,
    },
    /// Generating missing keys failed.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// Where [`store`] put things.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredParams {
    /// The `.params` file.
    pub params_path: PathBuf,
    /// Its digest (pin this).
    pub params_digest: ParamDigest,
    /// The `.vk` file.
    pub vk_path: PathBuf,
    /// Its digest.
    pub vk_digest: ParamDigest,
}

fn file_stem(spec: &CircuitSpec) -> String {
    spec.id().replace('/', "__")
}

/// Path of a circuit's `.params` file in `dir`.
pub fn params_path(dir: &Path, spec: &CircuitSpec) -> PathBuf {
    dir.join(format!("{}.params", file_stem(spec)))
}

/// Path of a circuit's `.vk` file in `dir`.
pub fn verifying_key_path(dir: &Path, spec: &CircuitSpec) -> PathBuf {
    dir.join(format!("{}.vk", file_stem(spec)))
}

fn sidecar(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".blake3");
    PathBuf::from(name)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ParamsError + '_ {
    move |source| ParamsError::Io {
        path: path.to_owned(),
        source,
    }
}

fn encode_file(magic: &[u8; 8], spec: &CircuitSpec, body: &[u8]) -> Vec<u8> {
    let id = spec.id();
    let id_len = u16::try_from(id.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(10 + id.len() + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&id_len.to_le_bytes());
    out.extend_from_slice(id.as_bytes().get(..usize::from(id_len)).unwrap_or_default());
    out.extend_from_slice(body);
    out
}

/// Writes `bytes` to `path` atomically (temporary file, then rename), with its sidecar.
fn write_with_checksum(path: &Path, bytes: &[u8]) -> Result<ParamDigest, ParamsError> {
    let digest = digest_bytes(bytes);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut file = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(bytes).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    let side = sidecar(path);
    fs::write(&side, format!("{digest}\n")).map_err(io_err(&side))?;
    Ok(digest)
}

/// Writes a circuit's keys (and checksums) into `dir`, creating it if needed.
pub fn store(dir: &Path, params: &CircuitParams) -> Result<StoredParams, ParamsError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let params_path = params_path(dir, &params.spec);
    let vk_path = verifying_key_path(dir, &params.spec);
    let bar = spinner(format!("writing keys for {}", params.spec));
    let pk_bytes = encode_file(PARAMS_MAGIC, &params.spec, &encoding::to_bytes(&*params.pk));
    let params_digest = write_with_checksum(&params_path, &pk_bytes)?;
    let vk_bytes = encode_file(
        VK_MAGIC,
        &params.spec,
        &encoding::encode_verifying_key(params.vk()),
    );
    let vk_digest = write_with_checksum(&vk_path, &vk_bytes)?;
    bar.finish_and_clear();
    Ok(StoredParams {
        params_path,
        params_digest,
        vk_path,
        vk_digest,
    })
}

/// Reads a file and checks its digest against `expected` and its sidecar.
fn read_checked(path: &Path, expected: Option<&ParamDigest>) -> Result<Vec<u8>, ParamsError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let actual = digest_bytes(&bytes);
    let side = sidecar(path);
    let sidecar_digest = fs::read_to_string(&side)
        .ok()
        .and_then(|s| s.parse::<ParamDigest>().ok());
    if expected.is_none() && sidecar_digest.is_none() {
        return Err(ParamsError::MissingChecksum { path: side });
    }
    for want in expected.into_iter().chain(sidecar_digest.as_ref()) {
        if *want != actual {
            return Err(ParamsError::ChecksumMismatch {
                path: path.to_owned(),
                expected: *want,
                actual,
            });
        }
    }
    Ok(bytes)
}

/// Splits the header off a parameter file and checks magic and circuit id.
fn parse_header<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: &[u8; 8],
    spec: &CircuitSpec,
) -> Result<&'a [u8], ParamsError> {
    let truncated = || ParamsError::Truncated {
        path: path.to_owned(),
    };
    let (found_magic, rest) = bytes.split_at_checked(8).ok_or_else(truncated)?;
    if found_magic != magic {
        return Err(ParamsError::BadMagic {
            path: path.to_owned(),
        });
    }
    let (len, rest) = rest.split_at_checked(2).ok_or_else(truncated)?;
    let len = usize::from(u16::from_le_bytes([
        len.first().copied().unwrap_or(0),
        len.get(1).copied().unwrap_or(0),
    ]));
    let (id, body) = rest.split_at_checked(len).ok_or_else(truncated)?;
    let found = String::from_utf8_lossy(id);
    if found != spec.id() {
        return Err(ParamsError::WrongCircuit {
            path: path.to_owned(),
            expected: spec.id(),
            found: found.into_owned(),
        });
    }
    Ok(body)
}

fn decode_error(path: &Path) -> impl FnOnce(DecodeError) -> ParamsError + '_ {
    move |source| match source {
        source if source.is_truncation() => ParamsError::Truncated {
            path: path.to_owned(),
        },
        source => ParamsError::Malformed {
            path: path.to_owned(),
            source,
        },
    }
}

/// Loads a circuit's keys from `dir`, verifying the checksum (`expected` is the digest
/// pinned in the Supernet config, if any) and validating every point.
pub fn load(
    dir: &Path,
    spec: &CircuitSpec,
    expected: Option<&ParamDigest>,
) -> Result<CircuitParams, ParamsError> {
    let path = params_path(dir, spec);
    let bytes = read_checked(&path, expected)?;
    let body = parse_header(&path, &bytes, PARAMS_MAGIC, spec)?;
    let bar = spinner(format!("validating keys for {spec}"));
    let pk = decode_proving_key(body).map_err(decode_error(&path));
    bar.finish_and_clear();
    Ok(CircuitParams {
        spec: *spec,
        pk: Arc::new(pk?),
    })
}

/// Loads only a circuit's verifying key from `dir` (checksum verified, points
/// validated).
pub fn load_verifying_key(
    dir: &Path,
    spec: &CircuitSpec,
    expected: Option<&ParamDigest>,
) -> Result<VerifyingKey<Bn254>, ParamsError> {
    let path = verifying_key_path(dir, spec);
    let bytes = read_checked(&path, expected)?;
    let body = parse_header(&path, &bytes, VK_MAGIC, spec)?;
    encoding::decode_verifying_key(body).map_err(decode_error(&path))
}

/// **INSECURE** (devnets only): loads cached keys, or generates them with
/// [`setup_insecure_seeded`] and stores them when the cache has none.
pub fn load_or_setup_insecure_seeded(
    dir: &Path,
    spec: &CircuitSpec,
    seed: u64,
) -> Result<CircuitParams, ParamsError> {
    if params_path(dir, spec).exists() {
        return load(dir, spec, None);
    }
    let bar = spinner(format!("generating Groth16 keys for {spec}"));
    let params = setup_insecure_seeded(*spec, seed);
    bar.finish_and_clear();
    let params = params?;
    store(dir, &params)?;
    Ok(params)
}

/// Digest of a file, streamed.
pub fn file_digest(path: &Path) -> io::Result<ParamDigest> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(File::open(path)?)?;
    Ok(ParamDigest(*hasher.finalize().as_bytes()))
}

/// A download's progress bar on stderr (drawn only on a terminal): bytes, rate and time
/// left, for `dest`.
pub fn download_bar(dest: &Path) -> ProgressBar {
    let bar = ProgressBar::new(0);
    let template = "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    let name = dest.file_name().map_or_else(
        || dest.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    bar.set_message(format!("fetching {name}"));
    bar
}

/// A spinner on stderr; indicatif draws nothing when stderr is not a terminal.
pub fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
