//! The exports the web page calls (frontend/src/inputs/preprocess.ts), with raw pointers and
//! lengths into this module's memory: no wasm-bindgen.
//!
//! The page copies the picture and a JSON request `{"input": InputSpec, "preset": Preset}`
//! into buffers from `alloc`, calls `preprocess`, and reads the reply block it returns:
//!
//! ```text
//! u32 LE  block length (these 8 bytes included)
//! u32 LE  header length
//! header  JSON: {"shape", "dtype", "width", "height", "channels"} or {"error": message}
//! values  the tensor's elements, little-endian (f32) or bytes (u8)
//! pixels  the resized picture, `channels` bytes a pixel, for the preview
//! ```
//!
//! then frees all three with `free`.

use crate::{InputSpec, Prepared, Preset, Values, prepare};
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    input: InputSpec,
    #[serde(default)]
    preset: Preset,
}

/// A buffer of `len` bytes for the caller to fill; give it back with `free(ptr, len)`.
#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    Box::into_raw(vec![0u8; len].into_boxed_slice()).cast()
}

/// # Safety
/// `ptr` and `len` are those of one `alloc` (or of a reply block), freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut u8, len: usize) {
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
}

/// # Safety
/// Both ranges are buffers from `alloc`, filled by the caller.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn preprocess(
    picture: *const u8,
    picture_len: usize,
    request: *const u8,
    request_len: usize,
) -> *mut u8 {
    let picture = unsafe { std::slice::from_raw_parts(picture, picture_len) };
    let request = unsafe { std::slice::from_raw_parts(request, request_len) };
    let block = match serde_json::from_slice::<Request>(request) {
        Ok(request) => match prepare(picture, &request.input, &request.preset) {
            Ok(prepared) => reply(&prepared),
            Err(e) => error_block(&e.to_string()),
        },
        Err(e) => error_block(&format!("bad request: {e}")),
    };
    Box::into_raw(block.into_boxed_slice()).cast()
}

fn reply(prepared: &Prepared) -> Vec<u8> {
    let (dtype, values): (&str, Vec<u8>) = match &prepared.values {
        Values::F32(v) => ("f32", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Values::U8(v) => ("u8", v.clone()),
    };
    let header = serde_json::json!({
        "shape": prepared.shape,
        "dtype": dtype,
        "width": prepared.width,
        "height": prepared.height,
        "channels": prepared.channels,
    });
    block(header, &[&values, &prepared.pixels])
}

fn error_block(message: &str) -> Vec<u8> {
    block(serde_json::json!({ "error": message }), &[])
}

fn block(header: serde_json::Value, parts: &[&[u8]]) -> Vec<u8> {
    let header = header.to_string().into_bytes();
    let len = 8 + header.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut block = Vec::with_capacity(len);
    block.extend_from_slice(&(len as u32).to_le_bytes());
    block.extend_from_slice(&(header.len() as u32).to_le_bytes());
    block.extend_from_slice(&header);
    for part in parts {
        block.extend_from_slice(part);
    }
    block
}
