//! Who the CLI signs as: PEM identities, compatible with dfx's.
//!
//! Resolution: `--pem <file>`; else `--identity <name>`, dfx's identity of that name; else
//! dfx's selected identity if dfx is set up on this machine (so `icinfer` acts as the same
//! principal as `dfx`); else icinfer's own Ed25519 key, created on first use. `--anonymous`
//! signs nothing.

use anyhow::{Context, Result, bail};
use candid::Principal;
use ic_agent::Identity;
use ic_agent::identity::{AnonymousIdentity, BasicIdentity, Prime256v1Identity, Secp256k1Identity};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default)]
pub struct IdentityChoice {
    pub pem: Option<PathBuf>,
    pub name: Option<String>,
    pub anonymous: bool,
}

pub struct LoadedIdentity {
    pub identity: Box<dyn Identity>,
    /// Where it came from, for messages.
    pub source: String,
}

impl LoadedIdentity {
    pub fn principal(&self) -> Principal {
        self.identity
            .sender()
            .expect("PEM and anonymous identities have a sender")
    }
}

fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set: pass --pem <file>")?;
    Ok(PathBuf::from(home).join(".config"))
}

fn dfx_identity_dir() -> Result<PathBuf> {
    Ok(config_dir()?.join("dfx").join("identity"))
}

/// icinfer's own key, for users without dfx.
pub fn own_key_path() -> Result<PathBuf> {
    Ok(config_dir()?.join("icinfer").join("identity.pem"))
}

pub fn load(choice: &IdentityChoice) -> Result<LoadedIdentity> {
    if choice.anonymous {
        return Ok(LoadedIdentity {
            identity: Box::new(AnonymousIdentity),
            source: "the anonymous identity".into(),
        });
    }
    if let Some(path) = &choice.pem {
        return from_pem_file(path);
    }
    if let Some(name) = &choice.name {
        return dfx_identity(name);
    }
    // dfx records its selected identity in identity.json; "default" exists once dfx ran.
    let dfx_dir = dfx_identity_dir()?;
    let selected = std::fs::read_to_string(dfx_dir.parent().unwrap().join("identity.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["default"].as_str().map(str::to_string))
        .unwrap_or_else(|| "default".into());
    if dfx_dir.join(&selected).is_dir() {
        return dfx_identity(&selected);
    }
    let own = own_key_path()?;
    if !own.exists() {
        create_ed25519_pem(&own)?;
        eprintln!(
            "icinfer: created a new Ed25519 identity in {}",
            own.display()
        );
    }
    from_pem_file(&own)
}

fn dfx_identity(name: &str) -> Result<LoadedIdentity> {
    if name == "anonymous" {
        return load(&IdentityChoice {
            anonymous: true,
            ..Default::default()
        });
    }
    let dir = dfx_identity_dir()?.join(name);
    let pem = dir.join("identity.pem");
    if pem.exists() {
        return from_pem_file(&pem);
    }
    if dir.join("identity.pem.encrypted").exists() {
        bail!(
            "dfx identity '{name}' is encrypted with a password, which icinfer cannot read: \
             export it with `dfx identity export {name} > {name}.pem` and pass --pem {name}.pem"
        );
    }
    if dir.join("identity.json").exists() {
        bail!(
            "dfx identity '{name}' keeps its key in the system keyring or a hardware wallet, \
             which icinfer cannot read: export it with `dfx identity export {name} > {name}.pem` \
             and pass --pem {name}.pem"
        );
    }
    bail!(
        "no dfx identity '{name}' in {}: list them with `dfx identity list`, or pass --pem <file>",
        dir.parent().unwrap().display()
    )
}

/// Reads an Ed25519 (PKCS#8), secp256k1 or P-256 (SEC1 or PKCS#8) private key, as dfx,
/// `openssl genpkey` and `openssl ecparam -genkey` write them.
pub fn from_pem_file(path: &Path) -> Result<LoadedIdentity> {
    let pem = std::fs::read(path).with_context(|| {
        format!(
            "reading the identity {}: pass an existing PEM file with --pem",
            path.display()
        )
    })?;
    let source = format!("the key in {}", path.display());
    let boxed = |identity: Box<dyn Identity>| LoadedIdentity {
        identity,
        source: source.clone(),
    };
    if let Ok(id) = BasicIdentity::from_pem(&pem) {
        return Ok(boxed(Box::new(id)));
    }
    if let Ok(id) = Secp256k1Identity::from_pem(&pem) {
        return Ok(boxed(Box::new(id)));
    }
    if let Ok(id) = Prime256v1Identity::from_pem(&pem) {
        return Ok(boxed(Box::new(id)));
    }
    bail!(
        "{} is not an Ed25519, secp256k1 or P-256 private key in PEM: create one with \
         `openssl genpkey -algorithm ed25519 -out key.pem` or `dfx identity new <name>`",
        path.display()
    )
}

/// A fresh Ed25519 key as PKCS#8 v1 PEM (what `openssl genpkey -algorithm ed25519` writes),
/// readable only by its owner.
pub fn create_ed25519_pem(path: &Path) -> Result<()> {
    let key = ic_ed25519::PrivateKey::generate();
    let pem = key.serialize_pkcs8_pem(ic_ed25519::PrivateKeyFormat::Pkcs8v1);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, pem.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_loads_and_keeps_its_principal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        create_ed25519_pem(&path).unwrap();
        let first = from_pem_file(&path).unwrap().principal();
        assert_eq!(from_pem_file(&path).unwrap().principal(), first);
        assert_ne!(first, Principal::anonymous());
        // Never overwritten.
        assert!(create_ed25519_pem(&path).is_err());
    }

    #[test]
    fn secp256k1_sec1_pem_as_dfx_writes_it() {
        // `dfx identity new` writes a SEC1 "EC PRIVATE KEY" for secp256k1 (this one is from
        // `openssl ecparam -name secp256k1 -genkey -noout`).
        let pem = "-----BEGIN EC PRIVATE KEY-----\n\
MHQCAQEEIF0RlXn82vYNItfkR6CaHi//jUUn7/6maAdDO3dB8rcCoAcGBSuBBAAK\n\
oUQDQgAEo7lrrVgrOSTfu2aNuIfykWyD+u+DSktmIhHqMG1Dx5HfZ1QOKnRTo9+J\n\
zo2Y5Xr07EB+wWWkwsuCxc5mnaV9BQ==\n\
-----END EC PRIVATE KEY-----\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, pem).unwrap();
        let loaded = from_pem_file(&path).unwrap();
        // A self-authenticating principal: 28 bytes of SHA-224 and the 0x02 suffix.
        let bytes = loaded.principal().as_slice().to_vec();
        assert_eq!((bytes.len(), bytes[28]), (29, 2));
    }

    #[test]
    fn garbage_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pem");
        std::fs::write(&path, "not a key").unwrap();
        let err = from_pem_file(&path).err().unwrap().to_string();
        assert!(err.contains("openssl genpkey"), "{err}");
        let err = from_pem_file(&dir.path().join("missing.pem"))
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("--pem"), "{err:#}");
    }
}
