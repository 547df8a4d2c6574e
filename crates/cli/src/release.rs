//! Release manifests: what `scripts/release.sh` writes beside a release's modules, and what
//! `icinfer verify --release` accepts as the code a canister must run.
//!
//! ```json
//! { "format": "icinfer-release/1", "package": "inference",
//!   "module_sha256": "<SHA-256 of inference.wasm>",
//!   "gzip_sha256": "<SHA-256 of inference.wasm.gz, what dfx and icp install>",
//!   "source_commit": "<git commit>", "toolchain": "rustc 1.95.0 (…)", "ic_wasm": "0.11.1" }
//! ```
//!
//! The IC certifies the SHA-256 of the module as installed, so a canister installed from
//! this release has one of the two hashes: the gzipped one when the `.wasm.gz` was installed
//! (as dfx.json and icp.yaml do), the raw one otherwise.

use anyhow::{Context, Result, ensure};
use serde::Deserialize;
use std::path::Path;

pub const FORMAT: &str = "icinfer-release/1";

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReleaseManifest {
    pub format: String,
    pub package: String,
    pub module_sha256: String,
    pub gzip_sha256: String,
    pub source_commit: String,
    pub toolchain: String,
    pub ic_wasm: String,
}

impl ReleaseManifest {
    pub fn load(path: &Path) -> Result<ReleaseManifest> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("{} is not a release manifest", path.display()))
    }

    pub fn parse(text: &str) -> Result<ReleaseManifest> {
        let manifest: ReleaseManifest = serde_json::from_str(text)?;
        ensure!(
            manifest.format == FORMAT,
            "format {:?}, expected {FORMAT:?}",
            manifest.format
        );
        manifest.module_hashes()?;
        Ok(manifest)
    }

    /// The module hashes a canister installed from this release is certified with: the
    /// gzipped module's, then the raw module's.
    pub fn module_hashes(&self) -> Result<Vec<[u8; 32]>> {
        [
            ("gzip_sha256", &self.gzip_sha256),
            ("module_sha256", &self.module_sha256),
        ]
        .into_iter()
        .map(|(field, value)| parse_hash(value).with_context(|| field.to_string()))
        .collect()
    }
}

/// 64 hex digits (an optional `0x`, as `dfx canister info` prints module hashes).
pub fn parse_hash(text: &str) -> Result<[u8; 32]> {
    let digits = text.trim().trim_start_matches("0x");
    let bytes = hex::decode(digits).context("not hex")?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("a SHA-256 is 32 bytes, got {}", b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(format: &str, gzip: &str) -> String {
        format!(
            r#"{{"format": "{format}", "package": "inference", "module_sha256": "{}",
                "gzip_sha256": "{gzip}", "source_commit": "9be1257", "toolchain": "rustc 1.95.0",
                "ic_wasm": "0.11.1"}}"#,
            "11".repeat(32)
        )
    }

    #[test]
    fn a_manifest_names_the_gzipped_and_the_raw_module_hash() {
        let m = ReleaseManifest::parse(&manifest(FORMAT, &"22".repeat(32))).unwrap();
        assert_eq!(m.module_hashes().unwrap(), vec![[0x22; 32], [0x11; 32]]);
    }

    #[test]
    fn malformed_manifests_are_refused_with_the_reason() {
        let short = ReleaseManifest::parse(&manifest(FORMAT, "2222")).unwrap_err();
        assert!(format!("{short:#}").contains("gzip_sha256: a SHA-256 is 32 bytes, got 2"));
        let other = ReleaseManifest::parse(&manifest("other/2", &"22".repeat(32))).unwrap_err();
        assert!(other.to_string().contains("expected \"icinfer-release/1\""));
        let extra = r#"{"format": "icinfer-release/1", "surprise": 1}"#;
        assert!(ReleaseManifest::parse(extra).is_err());
    }

    #[test]
    fn hashes_may_carry_the_0x_dfx_prints() {
        assert_eq!(
            parse_hash(&format!("0x{}", "ab".repeat(32))).unwrap(),
            [0xab; 32]
        );
        assert!(parse_hash("zz").is_err());
    }
}
