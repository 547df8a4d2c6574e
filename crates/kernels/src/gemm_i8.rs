//! The int8 matrix kernels (`i8_8x8`, `i8_8x16`): i8 × i8 products into a tile of i32, for the
//! quantised models' matrix products and convolutions, and every fused operation tract sends
//! an i32 tile.
//!
//! Why its shape, in the IC's weights (crates/host/src/cost.rs): `i32x4.dot_i16x8_s` does
//! eight multiply-accumulates for weight 1, and its `i32x4.add` weighs 1, so with the
//! accumulator chained through several steps (as in the f32 kernels) an int8 MAC costs about
//! half an instruction where an f32 one cannot cost less than 1.5. tract's own wasm kernel
//! widens to i32 and multiplies with `i32x4.mul` (weight 2) four lanes at a time: 3.9
//! instructions per MAC in all-MiniLM-L6-v2's quantised products. build.rs writes the kernel
//! (see there): the tile stays in locals, and the fused operations work on it four lanes at a
//! time; rescalings go through [`Requantise`], exact in f64 or tract's own integer code.
//!
//! Integer sums are exact, so the tile holds the same values as any of tract's i32 kernels.
//!
//! # Safety
//! The pointers in the specs must be valid for a whole tile as tract-linalg lays it out:
//! packed panels of k×MR and k×NR values (i8 in `PackedI8K4`, k rounded up to four; or i32
//! in `PackedFormat`), per-row and per-column vectors of MR and NR i32, and output tiles of MR
//! rows and NR columns of i8 or i32 at their strides.

use crate::requantise::Requantise;
use crate::simd;
use tract_linalg::Scaler;
use tract_linalg::mmm::{FusedKerSpec, OutputStoreKer};

include!(concat!(env!("OUT_DIR"), "/gemm_i8.rs"));

/// Runs `specs` (up to `Done`) on one 8×8 tile.
///
/// # Safety
/// See the module.
pub unsafe fn kernel_8x8(specs: &[FusedKerSpec<i32>]) -> isize {
    unsafe { i8_8x8::kernel(specs) }
}

/// Runs `specs` (up to `Done`) on one 8×16 tile.
///
/// # Safety
/// See the module.
pub unsafe fn kernel_8x16(specs: &[FusedKerSpec<i32>]) -> isize {
    unsafe { i8_8x16::kernel(specs) }
}

/// Packs a `k × mn` matrix of bytes whose mn axis is contiguous (row `kk` at
/// `src[kk·k_stride..]`) into tract-linalg's `PackedI8K4` panels of `r` columns (8 or 16),
/// four k to a column: `out[p·panel + (kk / 4)·4r + 4m + kk % 4] = src[kk, p·r + m]` with
/// `panel = 4r·⌈k / 4⌉`, and 0 where `kk ≥ k` or `p·r + m ≥ mn`. Whole blocks of four k and
/// eight columns are moved 32 bytes at a time; tract's `PackedI8K4::pack_view` moves a byte
/// at a time, about 17 instructions a byte in the int8 MobileNetV2.
pub fn pack_k4(src: &[u8], k_stride: usize, k: usize, mn: usize, r: usize, out: &mut [u8]) {
    match r {
        8 => pack_k4_panels::<8>(src, k_stride, k, mn, out),
        16 => pack_k4_panels::<16>(src, k_stride, k, mn, out),
        _ => panic!("panels of {r} columns"),
    }
}

/// [`pack_k4`] with `r` a constant, so that a block's groups of eight columns are unrolled.
fn pack_k4_panels<const R: usize>(
    src: &[u8],
    k_stride: usize,
    k: usize,
    mn: usize,
    out: &mut [u8],
) {
    let r = R;
    assert!(k > 0 && mn > 0);
    let panel = 4 * r * k.div_ceil(4);
    assert!(out.len() == mn.div_ceil(r) * panel);
    assert!((k - 1) * k_stride + mn <= src.len());
    let (whole_panels, whole_blocks) = (mn / r, k / 4);
    let (from, into) = (src.as_ptr(), out.as_mut_ptr());
    // Whole blocks, with no checks of their own: rows 4·block..4·block + 4 < k and columns
    // p·r..p·r + r ≤ mn are inside `src`, and the block's 4r bytes inside `out` (asserted).
    for p in 0..whole_panels {
        for block in 0..whole_blocks {
            // SAFETY: as above.
            unsafe {
                let row = from.add(4 * block * k_stride + p * r);
                let out = into.add(p * panel + 4 * r * block);
                for group in (0..R).step_by(8) {
                    let rows = std::array::from_fn(|dk| row.add(dk * k_stride + group));
                    simd::interleave_4x8(rows, out.add(4 * group));
                }
            }
        }
    }
    // The rest: the last panel if partial, the last block of every panel if k % 4 ≠ 0.
    for p in 0..mn.div_ceil(r) {
        let blocks = if p < whole_panels { whole_blocks } else { 0 };
        for block in blocks..k.div_ceil(4) {
            let first = 4 * block * k_stride + p * r;
            for (i, byte) in out[p * panel + 4 * r * block..][..4 * r]
                .iter_mut()
                .enumerate()
            {
                let (m, dk) = (i / 4, i % 4);
                let inside = 4 * block + dk < k && p * r + m < mn;
                *byte = if inside {
                    src[first + dk * k_stride + m]
                } else {
                    0
                };
            }
        }
    }
}

/// The address of element (row i, column j) of an output tile.
#[inline(always)]
fn at(tile: &OutputStoreKer, i: usize, j: usize) -> *mut u8 {
    tile.ptr
        .wrapping_offset(tile.row_byte_stride * i as isize + tile.col_byte_stride * j as isize)
}

/// Element (i, j) of a tile of i8 or i32 (`item_size` 1 or 4), as i32.
///
/// # Safety
/// The element is readable.
#[inline(always)]
unsafe fn read(tile: &OutputStoreKer, i: usize, j: usize) -> i32 {
    unsafe {
        match tile.item_size {
            1 => i32::from(*(at(tile, i, j) as *const i8)),
            _ => (at(tile, i, j) as *const i32).read_unaligned(),
        }
    }
}

/// Writes `value` at (i, j) of a tile of i8 (its low byte, as tract's kernels do) or i32.
///
/// # Safety
/// The element is writable.
#[inline(always)]
unsafe fn write(tile: &OutputStoreKer, i: usize, j: usize, value: i32) {
    unsafe {
        match tile.item_size {
            1 => *(at(tile, i, j) as *mut i8) = value as i8,
            _ => (at(tile, i, j) as *mut i32).write_unaligned(value),
        }
    }
}

#[cfg(test)]
mod tests;
