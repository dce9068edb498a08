//! A node key on disk: 32 secret bytes as 64 hex digits, written owner-only. The node reads
//! its key here when it starts; `init` and `keygen` write new ones. The Ethereum key that
//! signs deliveries is read here too, from a file or the environment, never a flag.

use std::path::Path;

use anyhow::{Context, Result, bail};
use lagrange_protocol::Keypair;

/// Writes a new node key to `out` (hex, owner-only permissions) and returns it: random, or
/// derived from `insecure_seed` (testnets only: anyone who knows the seed has the key).
pub fn create(out: &Path, insecure_seed: Option<u64>) -> Result<Keypair> {
    if out.exists() {
        bail!(
            "{} already exists; refusing to overwrite a key",
            out.display()
        );
    }
    let key = match insecure_seed {
        Some(seed) => Keypair::insecure_from_seed(seed),
        None => Keypair::from_secret_bytes(rand::random()),
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(out, hex::encode(key.secret_bytes()))
        .with_context(|| format!("writing {}", out.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

/// Reads a key written by [`create`].
pub fn read(path: &Path) -> Result<Keypair> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{}: not a 64-hex-digit key", path.display()))?;
    Ok(Keypair::from_secret_bytes(bytes))
}

/// The environment variable an Ethereum key may be given in.
#[cfg(feature = "chain")]
pub const ETH_KEY_ENV: &str = "LAGRANGE_ETH_KEY";

/// The Ethereum key that signs transactions (secp256k1, 64 hex digits, `0x` optional): read
/// from `file` if given, else from [`ETH_KEY_ENV`]. A command line is visible to every
/// user of the host, so no flag takes the key itself.
#[cfg(feature = "chain")]
pub fn read_eth_key(file: Option<&Path>) -> Result<alloy::signers::local::PrivateKeySigner> {
    let (text, origin) = match file {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            path.display().to_string(),
        ),
        None => match std::env::var(ETH_KEY_ENV) {
            Ok(text) => (text, ETH_KEY_ENV.to_string()),
            Err(_) => bail!("no Ethereum key: give --eth-key-file FILE or set {ETH_KEY_ENV}"),
        },
    };
    let digits = text.trim().trim_start_matches("0x");
    let bytes: [u8; 32] = hex::decode(digits)
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{origin}: not a 64-hex-digit key"))?;
    alloy::signers::local::PrivateKeySigner::from_bytes(&bytes.into())
        .with_context(|| format!("{origin}: not a secp256k1 secret key"))
}
