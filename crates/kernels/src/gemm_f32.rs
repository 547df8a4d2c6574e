//! The matrix kernels, one module per tile (`f32_8x8`, `f32_8x16`, `f32_8x28`, `f32_8x32`,
//! `f32_16x32`):
//! an MR×NR tile of f32 accumulators and every fused operation tract sends a tile
//! (tract-linalg's `FusedKerSpec`). build.rs writes them out (see there why).
//!
//! Why its shape, in the IC's weights (crates/host/src/cost.rs): `f32x4.mul` and `f32x4.add`
//! weigh 2 each and every `local.get` 1, so one four-lane multiply-accumulate cannot cost less
//! than 6 (two operands, mul, add): 1.5 instructions per MAC is the floor for f32 on simd128.
//! The kernels get close to it by
//! - unrolling k by K_UNROLL and chaining `acc + a·b` through the steps, so an accumulator is
//!   read and written once per K_UNROLL steps instead of once per step (the chain keeps
//!   tract's summation order, so results are bit-identical to tract's own wasm kernel);
//! - broadcasting A with `v128.load32_splat` (weight 1) rather than a lane shuffle (weight 3);
//! - tiles of two to eight vectors by 8 or 16 rows, which spread the MR splats and NR/4 loads
//!   of each k step over MR·NR MACs (crate::preferred picks the tile per product);
//! - storing (and adding unicast tiles) a vector at a time when the tile's columns are
//!   contiguous, as they are for convolutions in NCHW.
//!
//! # Safety
//! The pointers in the specs must be valid for a whole tile as tract-linalg lays it out: packed
//! panels of k×MR and k×NR f32, per-row and per-column vectors of MR and NR f32, and output
//! tiles of MR rows and NR columns of f32 at their strides.

use crate::simd;
use tract_linalg::Scaler;
use tract_linalg::mmm::{FusedKerSpec, OutputStoreKer};

include!(concat!(env!("OUT_DIR"), "/gemm_f32.rs"));

/// The address of element (row i, column j) of an output tile.
#[inline(always)]
fn at(tile: &OutputStoreKer, i: usize, j: usize) -> *mut f32 {
    tile.ptr
        .wrapping_offset(tile.row_byte_stride * i as isize + tile.col_byte_stride * j as isize)
        as *mut f32
}

#[cfg(test)]
mod tests;
