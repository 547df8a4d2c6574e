//! Model presets: what a model expects of a picture, from `models/manifest.json`.
//!
//! A model is known by its SHA-256 where the manifest pins its bytes, and by its manifest id
//! only where it cannot (models generated on each machine). Every field is optional: a
//! preset fills what the user did not say, and the defaults of [`crate::prepare`] fill the
//! rest.

use serde::{Deserialize, Serialize};

/// The manifest the clients were built with.
const BUNDLED: &str = include_str!("../../../models/manifest.json");

/// Channel order of a three-channel input.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelOrder {
    #[serde(rename = "RGB")]
    Rgb,
    /// OpenCV's order, which models trained on `cv2.imread` pictures expect.
    #[serde(rename = "BGR")]
    Bgr,
}

/// Where height, width and channels go in the model's input.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// [N, C, H, W]
    Nchw,
    /// [N, H, W, C]
    Nhwc,
    /// [N, H*W]: one grey channel, flattened (the digits model).
    Flat,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Subtracted per channel after scaling (one value for all, or one per channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    /// Divides per channel after the mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
    /// Multiplies the 0..=255 pixel values first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<ChannelOrder>,
    /// Dark ink on light paper becomes light on dark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invert: Option<bool>,
    /// `[width, height]` to resize to, where the model's own size is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
    /// Class names of the model's class-score output, in index order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
}

impl Preset {
    /// This preset, with every field `over` sets taken from `over`.
    pub fn overridden_by(&self, over: &Preset) -> Preset {
        Preset {
            mean: over.mean.clone().or_else(|| self.mean.clone()),
            std: over.std.clone().or_else(|| self.std.clone()),
            scale: over.scale.or(self.scale),
            order: over.order.or(self.order),
            invert: over.invert.or(self.invert),
            resize: over.resize.or(self.resize),
            layout: over.layout.or(self.layout),
            labels: over.labels.clone().or_else(|| self.labels.clone()),
        }
    }
}

#[derive(Deserialize, Clone, Debug)]
pub struct Manifest {
    pub models: Vec<ManifestModel>,
}

/// The fields of a manifest entry that clients read (the conformance tests read others).
#[derive(Deserialize, Clone, Debug)]
pub struct ManifestModel {
    pub id: String,
    /// Hex SHA-256 of the model file, where its bytes are fixed.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub preset: Preset,
}

impl Manifest {
    pub fn parse(json: &str) -> Result<Manifest, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// `models/manifest.json` as it was when this crate was built.
    pub fn bundled() -> Manifest {
        Manifest::parse(BUNDLED).expect("models/manifest.json parses (tested)")
    }

    /// The preset of the model with this SHA-256 (hex), or, for an entry whose bytes the
    /// manifest cannot pin, with this id; empty when the manifest does not know the model.
    pub fn preset_for(&self, id: &str, sha256_hex: &str) -> Preset {
        let by_hash = self
            .models
            .iter()
            .find(|m| m.sha256.as_deref() == Some(sha256_hex));
        let by_id = || {
            self.models
                .iter()
                .find(|m| m.sha256.is_none() && m.id == id)
        };
        by_hash
            .or_else(by_id)
            .map(|m| m.preset.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_manifest_parses_and_finds_models_by_hash_then_id() {
        let manifest = Manifest::bundled();
        let digits = manifest
            .models
            .iter()
            .find(|m| m.id == "digits")
            .expect("digits is in the manifest");
        let sha = digits.sha256.clone().expect("digits.onnx is committed");
        // Under any id, the digits model's bytes find its preset.
        let preset = manifest.preset_for("my-digits", &sha);
        assert_eq!(preset.layout, Some(Layout::Flat));
        assert_eq!(preset.labels.as_ref().map(Vec::len), Some(10));
        // A pinned entry is not found by its id alone: other bytes are another model.
        assert_eq!(
            manifest.preset_for("digits", &"00".repeat(32)),
            Preset::default()
        );
        // An entry without a pinned hash is found by its id.
        let unpinned = manifest
            .models
            .iter()
            .find(|m| m.sha256.is_none() && m.preset != Preset::default())
            .expect("an unpinned model with a preset");
        assert_eq!(
            manifest.preset_for(&unpinned.id, &"00".repeat(32)),
            unpinned.preset
        );
    }

    #[test]
    fn overrides_win_field_by_field() {
        let preset = Preset {
            mean: Some(vec![0.5]),
            std: Some(vec![0.5]),
            order: Some(ChannelOrder::Bgr),
            ..Preset::default()
        };
        let over = Preset {
            mean: Some(vec![0.0]),
            invert: Some(true),
            ..Preset::default()
        };
        let merged = preset.overridden_by(&over);
        assert_eq!(merged.mean, Some(vec![0.0]));
        assert_eq!(merged.std, Some(vec![0.5]));
        assert_eq!(merged.order, Some(ChannelOrder::Bgr));
        assert_eq!(merged.invert, Some(true));
    }

    #[test]
    fn unknown_preset_fields_are_refused() {
        let err = serde_json::from_str::<Preset>(r#"{"means": [0.5]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
