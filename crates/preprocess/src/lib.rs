//! Pictures into model inputs, one implementation for every client.
//!
//! The CLI links this crate; the web page runs the same code compiled to
//! `wasm32-unknown-unknown` (`wasm.rs`: raw `alloc`/`free`/`preprocess` exports, no
//! wasm-bindgen). Decoding and resizing happen here, never in a browser's canvas (whose
//! scaling and colour handling differ between browsers), so the same file gives the same
//! tensor, and so the same input hash in a receipt, whichever client sent it.
//!
//! What a model expects of a picture (normalisation, channel order, size, labels) is its
//! [`Preset`], kept in `models/manifest.json` ([`Manifest`]) and read by both clients.

mod picture;
mod preset;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use picture::{
    Element, InputSpec, MAX_PICTURE_SIDE, Prepared, PreprocessError, Values, prepare,
};
pub use preset::{ChannelOrder, Layout, Manifest, ManifestModel, Preset};
