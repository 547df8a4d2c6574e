//! Where the canister is: the network's URL, the canister id, and which root key to trust.

use anyhow::{Context, Result, bail};
use candid::Principal;
use std::path::{Path, PathBuf};

/// `icinfer serve`'s default address. dfx's replica uses 4943; we keep out of its way.
pub const DEFAULT_SERVE_ADDR: &str = "127.0.0.1:4944";
/// A dfx (or icp-cli) local replica.
const DFX_LOCAL_URL: &str = "http://127.0.0.1:4943";
/// The IC's API boundary nodes.
const MAINNET_URL: &str = "https://icp-api.io";
/// What `icinfer serve` calls the canister in `canister_ids.json`-style files, and dfx.json.
pub const CANISTER_NAME: &str = "inference";
/// The first canister a fresh `icinfer serve` host creates (the id before it is the
/// registry's, which the host keeps, as the IC does).
pub const FIRST_LOCAL_CANISTER: &str = "rrkah-fqaaa-aaaaa-aaaaq-cai";
/// What `icinfer serve` serves at the root of its URL to say which canister it runs
/// (`{"canisterId": …}`), for the web page and the CLI.
pub const SERVED_CONFIG: &str = "icinfer.json";
/// How long to wait for it: the server is local, or a URL the user named.
const SERVED_CONFIG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The state directory of `icinfer serve` unless `--state` says otherwise, relative to the
/// working directory like dfx's `.dfx/`.
pub fn default_state_dir() -> PathBuf {
    PathBuf::from(".icinfer/local")
}

/// The file in the state directory that names the served canister.
pub fn canister_id_file(state_dir: &Path) -> PathBuf {
    state_dir.join("canister_id")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Network {
    /// `icinfer serve` on this machine (the default).
    Serve,
    /// A dfx replica: `--network local`.
    DfxLocal,
    /// The Internet Computer: `--network ic`.
    Mainnet,
    /// Any other replica or boundary node.
    Url(String),
}

impl Network {
    pub fn parse(name: &str) -> Result<Network> {
        Ok(match name {
            "serve" | "icinfer" => Network::Serve,
            "local" => Network::DfxLocal,
            "ic" => Network::Mainnet,
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Network::Url(url.trim_end_matches('/').to_string())
            }
            other => bail!(
                "unknown network '{other}': use 'serve' (icinfer serve, the default), 'local' \
                 (a dfx replica), 'ic' (mainnet), or a URL such as http://127.0.0.1:4944"
            ),
        })
    }

    pub fn url(&self) -> String {
        match self {
            Network::Serve => format!("http://{DEFAULT_SERVE_ADDR}"),
            Network::DfxLocal => DFX_LOCAL_URL.to_string(),
            Network::Mainnet => MAINNET_URL.to_string(),
            Network::Url(url) => url.clone(),
        }
    }

    /// Mainnet's root key is built into the agent; every other network's is fetched from
    /// it, which is only as trustworthy as the connection (`verify` says so).
    pub fn is_mainnet(&self) -> bool {
        match self {
            Network::Mainnet => true,
            Network::Url(url) => ["icp0.io", "ic0.app", "icp-api.io"]
                .iter()
                .any(|domain| url.contains(domain)),
            _ => false,
        }
    }

    /// Whether `icinfer serve` may be what answers here: the default network and any URL
    /// that is not mainnet's (a `serve --listen` elsewhere, or behind a proxy).
    fn may_be_served(&self) -> bool {
        matches!(self, Network::Serve) || matches!(self, Network::Url(_)) && !self.is_mainnet()
    }

    /// The canister `icinfer serve` announces at `/icinfer.json` on this network (as the web
    /// page finds it), or `None` when nothing there serves that file (a dfx replica, a boundary
    /// node, or no server at all: connecting then says so).
    pub async fn served_canister(&self) -> Result<Option<Principal>> {
        if !self.may_be_served() {
            return Ok(None);
        }
        let url = format!("{}/{SERVED_CONFIG}", self.url());
        let client = reqwest::Client::builder()
            .timeout(SERVED_CONFIG_TIMEOUT)
            .build()
            .context("an HTTP client")?;
        let response = match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => response,
            _ => return Ok(None),
        };
        let Ok(bytes) = response.bytes().await else {
            return Ok(None);
        };
        let config: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{url} is not the JSON `icinfer serve` writes"))?;
        let id = config["canisterId"]
            .as_str()
            .with_context(|| format!("{url} names no canisterId"))?;
        Principal::from_text(id)
            .map(Some)
            .with_context(|| format!("{url}: '{id}' is not a canister id"))
    }

    /// The inference canister's id on this network, when `--canister` is not given: the one
    /// the server announces (`served`, from [`Network::served_canister`]); else the one
    /// `icinfer serve` recorded in its state directory (for the default network and local
    /// URLs; the first canister of a fresh host when there is none), or dfx's
    /// `canister_ids.json`. The server comes first: a state directory may be another serve's.
    pub fn default_canister(
        &self,
        served: Option<Principal>,
        state_dir: &Path,
    ) -> Result<Principal> {
        if let Some(id) = served {
            return Ok(id);
        }
        let from_file = |path: PathBuf, key: &str| -> Result<Option<Principal>> {
            let Ok(text) = std::fs::read_to_string(&path) else {
                return Ok(None);
            };
            let ids: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            match ids[CANISTER_NAME][key].as_str() {
                Some(id) => Ok(Some(Principal::from_text(id).with_context(|| {
                    format!("{}: '{id}' is not a canister id", path.display())
                })?)),
                None => Ok(None),
            }
        };
        let recorded = match std::fs::read_to_string(canister_id_file(state_dir)) {
            Ok(text) => Some(Principal::from_text(text.trim()).with_context(|| {
                format!(
                    "{} is not a canister id",
                    canister_id_file(state_dir).display()
                )
            })?),
            Err(_) => None,
        };
        let found = match self {
            Network::Serve => recorded.or(Some(Principal::from_text(FIRST_LOCAL_CANISTER)?)),
            Network::DfxLocal => from_file(PathBuf::from(".dfx/local/canister_ids.json"), "local")?,
            Network::Mainnet => from_file(PathBuf::from("canister_ids.json"), "ic")?,
            Network::Url(_) if self.may_be_served() => recorded,
            Network::Url(_) => None,
        };
        found.with_context(|| {
            format!(
                "no inference canister id for network {}: pass --canister <id> (or set \
                 ICINFER_CANISTER){}",
                self.url(),
                match self {
                    Network::DfxLocal => ", or run this in the dfx project after `dfx deploy`",
                    Network::Mainnet => ", or run this where canister_ids.json names it",
                    Network::Url(_) if self.may_be_served() => {
                        ", or start `icinfer serve` there (it serves /icinfer.json)"
                    }
                    _ => "",
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert_eq!(
            Network::parse("serve").unwrap().url(),
            "http://127.0.0.1:4944"
        );
        assert_eq!(Network::parse("local").unwrap().url(), DFX_LOCAL_URL);
        assert!(Network::parse("ic").unwrap().is_mainnet());
        let url = Network::parse("https://icp0.io/").unwrap();
        assert_eq!(url, Network::Url("https://icp0.io".into()));
        assert!(url.is_mainnet());
        assert!(
            !Network::parse("http://127.0.0.1:8000")
                .unwrap()
                .is_mainnet()
        );
        let err = Network::parse("mainnet").unwrap_err().to_string();
        assert!(err.contains("'ic' (mainnet)"), "{err}");
    }

    #[test]
    fn the_served_canister_is_found_in_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = Principal::from_text(FIRST_LOCAL_CANISTER).unwrap();
        // The host numbers canisters as the IC's first subnet does, after the registry.
        assert_eq!(
            first,
            Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
        );
        assert_ne!(first, icinfer_host::registry_id());
        assert_eq!(
            Network::Serve.default_canister(None, dir.path()).unwrap(),
            first
        );
        let served_elsewhere = Network::Url("http://127.0.0.1:5000".into());
        let err = served_elsewhere
            .default_canister(None, dir.path())
            .unwrap_err();
        assert!(err.to_string().contains("/icinfer.json"), "{err}");
        let other = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 7, 1, 1]);
        std::fs::write(canister_id_file(dir.path()), other.to_text()).unwrap();
        assert_eq!(
            Network::Serve.default_canister(None, dir.path()).unwrap(),
            other
        );
        assert_eq!(
            served_elsewhere.default_canister(None, dir.path()).unwrap(),
            other
        );
        // What the server announces wins over a state directory, which may be another's.
        let announced = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 1, 1]);
        assert_eq!(
            served_elsewhere
                .default_canister(Some(announced), dir.path())
                .unwrap(),
            announced
        );
        let err = Network::Url("https://icp0.io".into())
            .default_canister(None, dir.path())
            .unwrap_err();
        assert!(err.to_string().contains("--canister"), "{err}");
    }
}
