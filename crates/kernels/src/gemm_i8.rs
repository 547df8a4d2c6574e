//! The int8 matrix kernel (`i8_8x16`): i8 × i8 products into an 8×16 tile of i32, for the
//! quantised models' matrix products and convolutions, and every fused operation tract sends
//! an i32 tile.
//!
//! Why its shape, in the IC's weights (crates/host/src/cost.rs): `i32x4.dot_i16x8_s` does
//! eight multiply-accumulates for weight 1, and its `i32x4.add` weighs 1, so with the
//! accumulator chained through several steps (as in the f32 kernels) an int8 MAC costs about
//! half an instruction where an f32 one cannot cost less than 1.5. tract's own wasm kernel
//! widens to i32 and multiplies with `i32x4.mul` (weight 2) four lanes at a time: 3.9
//! instructions per MAC in all-MiniLM-L6-v2's quantised products. build.rs writes the product
//! loop (see there); the fused operations before and after it touch each element once per
//! tile, not once per k, and run on a plain array of the tile with tract's own rounding code.
//!
//! Integer sums are exact, so the tile holds the same values as any of tract's i32 kernels.
//!
//! # Safety
//! The pointers in the specs must be valid for a whole tile as tract-linalg lays it out:
//! packed panels of k×MR and k×NR values (i8 in `PackedI8K4`, k rounded up to four; or i32
//! in `PackedFormat`), per-row and per-column vectors of MR and NR i32, and output tiles of MR
//! rows and NR columns of i8 or i32 at their strides.

use crate::simd;
use tract_linalg::mmm::{FusedKerSpec, OutputStoreKer};
use tract_linalg::{ScaleShiftAndRound, Scaler};

include!(concat!(env!("OUT_DIR"), "/kernel_i8.rs"));

/// Runs `specs` (up to `Done`) on one 8×16 tile.
///
/// # Safety
/// See the module.
pub unsafe fn kernel_8x16(specs: &[FusedKerSpec<i32>]) -> isize {
    unsafe { run(specs, i8_8x16::add_mat_mul) }
}

/// The address of element (row i, column j) of an output tile.
#[inline(always)]
fn at(tile: &OutputStoreKer, i: usize, j: usize) -> *mut u8 {
    tile.ptr
        .wrapping_offset(tile.row_byte_stride * i as isize + tile.col_byte_stride * j as isize)
}

/// Applies `f(value, row, column)` to every element of the tile.
#[inline(always)]
fn each<const MR: usize, const NR: usize>(
    tile: &mut [[i32; NR]; MR],
    f: impl Fn(i32, usize, usize) -> i32,
) {
    for (i, row) in tile.iter_mut().enumerate() {
        for (j, value) in row.iter_mut().enumerate() {
            *value = f(*value, i, j);
        }
    }
}

#[inline(always)]
unsafe fn run<const MR: usize, const NR: usize>(
    specs: &[FusedKerSpec<i32>],
    add_mat_mul: unsafe fn(usize, *const i8, *const i8, &mut [[i32; NR]; MR]),
) -> isize {
    let mut tile = [[0i32; NR]; MR];
    unsafe {
        for spec in specs {
            match *spec {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => tile = [[0; NR]; MR],
                FusedKerSpec::LoadTile(_col_major, row_major) => {
                    each(&mut tile, |_, i, j| *row_major.add(i * NR + j))
                }
                FusedKerSpec::ScalarMin(x) => each(&mut tile, |v, _, _| v.min(x)),
                FusedKerSpec::ScalarMax(x) => each(&mut tile, |v, _, _| v.max(x)),
                FusedKerSpec::ScalarAdd(x) => each(&mut tile, |v, _, _| v.wrapping_add(x)),
                FusedKerSpec::ScalarMul(x) => each(&mut tile, |v, _, _| v.wrapping_mul(x)),
                FusedKerSpec::ScalarSub(x) => each(&mut tile, |v, _, _| x.wrapping_sub(v)),
                FusedKerSpec::ScalarSubF(x) => each(&mut tile, |v, _, _| v.wrapping_sub(x)),
                FusedKerSpec::LeakyRelu(alpha) => {
                    each(
                        &mut tile,
                        |v, _, _| if v > 0 { v } else { alpha.wrapping_mul(v) },
                    )
                }
                FusedKerSpec::PerRowMin(r) => each(&mut tile, |v, i, _| v.min(*r.add(i))),
                FusedKerSpec::PerRowMax(r) => each(&mut tile, |v, i, _| v.max(*r.add(i))),
                FusedKerSpec::PerRowAdd(r) => each(&mut tile, |v, i, _| v.wrapping_add(*r.add(i))),
                FusedKerSpec::PerRowMul(r) => each(&mut tile, |v, i, _| v.wrapping_mul(*r.add(i))),
                FusedKerSpec::PerRowSub(r) => {
                    each(&mut tile, |v, i, _| (*r.add(i)).wrapping_sub(v))
                }
                FusedKerSpec::PerRowSubF(r) => each(&mut tile, |v, i, _| v.wrapping_sub(*r.add(i))),
                FusedKerSpec::PerColMin(c) => each(&mut tile, |v, _, j| v.min(*c.add(j))),
                FusedKerSpec::PerColMax(c) => each(&mut tile, |v, _, j| v.max(*c.add(j))),
                FusedKerSpec::PerColAdd(c) => each(&mut tile, |v, _, j| v.wrapping_add(*c.add(j))),
                FusedKerSpec::PerColMul(c) => each(&mut tile, |v, _, j| v.wrapping_mul(*c.add(j))),
                FusedKerSpec::PerColSub(c) => {
                    each(&mut tile, |v, _, j| (*c.add(j)).wrapping_sub(v))
                }
                FusedKerSpec::PerColSubF(c) => each(&mut tile, |v, _, j| v.wrapping_sub(*c.add(j))),
                FusedKerSpec::QScale(shift, policy, mult) => {
                    let scaler = Scaler::from_fuse_params(shift, policy, mult);
                    each(&mut tile, |v, _, _| v.q_scale(scaler))
                }
                FusedKerSpec::RoundingShiftRight(shift, policy) => {
                    each(&mut tile, |v, _, _| v.q_shr(shift, policy))
                }
                FusedKerSpec::ShiftLeft(shift) => each(&mut tile, |v, _, _| v.q_shl(shift)),
                FusedKerSpec::AddRowColProducts(rows, cols) => each(&mut tile, |v, i, j| {
                    v.wrapping_add((*rows.add(i)).wrapping_mul(*cols.add(j)))
                }),
                FusedKerSpec::AddUnicast(other) => match other.item_size {
                    1 => each(&mut tile, |v, i, j| {
                        v.wrapping_add(i32::from(*(at(&other, i, j) as *const i8)))
                    }),
                    4 => each(&mut tile, |v, i, j| {
                        v.wrapping_add((at(&other, i, j) as *const i32).read_unaligned())
                    }),
                    _ => return 1,
                },
                FusedKerSpec::Store(out) => match out.item_size {
                    1 => each(&mut tile, |v, i, j| {
                        *(at(&out, i, j) as *mut i8) = v as i8;
                        v
                    }),
                    4 => each(&mut tile, |v, i, j| {
                        (at(&out, i, j) as *mut i32).write_unaligned(v);
                        v
                    }),
                    _ => return 1,
                },
                FusedKerSpec::AddMatMul { k, pa, pb, packing } => match packing {
                    1 => add_mat_mul(k, pa as *const i8, pb as *const i8, &mut tile),
                    // i32 × i32, k-major panels: no quantised model we know sends these.
                    0 => {
                        let (a, b) = (pa as *const i32, pb as *const i32);
                        for step in 0..k {
                            each(&mut tile, |v, i, j| {
                                v.wrapping_add(
                                    (*a.add(step * MR + i)).wrapping_mul(*b.add(step * NR + j)),
                                )
                            });
                        }
                    }
                    _ => return 1,
                },
            }
        }
    }
    0
}
