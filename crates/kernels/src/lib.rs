//! Our kernels for tract on wasm32+simd128, shaped for the IC's instruction weights.
//!
//! tract-linalg picks kernels through registries that other crates can add to. Matrix
//! products: every kernel is an `MmmRoutine`, and per architecture a ladder of `MmmTier`s names
//! the one to run; this crate submits five f32 kernels (tiles of 8×8, 8×16, 8×28, 8×32 and
//! 16×32, [`gemm_f32`]), two int8 kernels (8×8 and 8×16, [`gemm_i8`]) and one tier above
//! tract's own `wasm-simd128` tier, so every f32 or int8 matrix product with more than one
//! column runs one of them while tract keeps its own matrix-vector kernels, packing, fusion and
//! scheduling. Other inner loops: every kernel is a `Routine`, ranked per function; this crate
//! submits the two inner loops of f32 depthwise convolution ([`depthwise_f32`]) one step above
//! tract's wasm kernels. Nothing of tract is patched.
//!
//! The rest is called by the operators icinfer-core's rewrites put into tract's graphs: the
//! quantised depthwise convolution ([`depthwise_i8`]), the byte planes it and the int8 im2col
//! read ([`planes`]), the element-wise loops ([`elementwise`]); [`requantise`] is the integer
//! rescaling of the int8 kernels and the quantised depthwise convolution.
//!
//! The kernels are written against `simd`, which is Wasm SIMD in the canister and plain
//! arrays natively, so `cargo test` checks their logic on the machine that builds them.

pub mod depthwise_f32;
pub mod depthwise_i8;
pub mod elementwise;
pub mod gemm_f32;
pub mod gemm_i8;
pub mod planes;
pub mod requantise;
mod simd;

use tract_data::prelude::DatumType;
use tract_linalg::isa::{Arch, IsaSet};
use tract_linalg::mmm::{DynKernel, FusedKerSpec, Query, Suitable};
use tract_linalg::pack::{PackedI8K4, Packing};

pub use gemm_f32::{K_UNROLL, K_UNROLL_REST};
/// The matrix kernels' names in tract's registry (and in profiles of tract's plan).
pub const GEMM_8X8: &str = "icinfer_wasm_f32_8x8";
pub const GEMM_8X16: &str = "icinfer_wasm_f32_8x16";
pub const GEMM_8X28: &str = "icinfer_wasm_f32_8x28";
pub const GEMM_8X32: &str = "icinfer_wasm_f32_8x32";
pub const GEMM_16X32: &str = "icinfer_wasm_f32_16x32";
pub const GEMM_I8_8X8: &str = "icinfer_wasm_i8_8x8";
pub const GEMM_I8_8X16: &str = "icinfer_wasm_i8_8x16";
/// The depthwise kernels' names in tract's routine registry: channel last, and along a row.
pub const DEPTHWISE_C_NAME: &str = "icinfer_wasm_depthwise_c_f32";
pub const DEPTHWISE_W_NAME: &str = "icinfer_wasm_depthwise_w_f32";

/// The matrix kernels as tract-linalg describes them. Runnable only where they were built:
/// wasm32 with simd128, the one architecture our tier speaks for.
pub fn kernel_8x8() -> DynKernel<8, 8, f32> {
    described(GEMM_8X8, gemm_f32::f32_8x8::kernel)
}

pub fn kernel_8x16() -> DynKernel<8, 16, f32> {
    described(GEMM_8X16, gemm_f32::f32_8x16::kernel)
}

pub fn kernel_8x28() -> DynKernel<8, 28, f32> {
    described(GEMM_8X28, gemm_f32::f32_8x28::kernel)
}

pub fn kernel_8x32() -> DynKernel<8, 32, f32> {
    described(GEMM_8X32, gemm_f32::f32_8x32::kernel)
}

pub fn kernel_16x32() -> DynKernel<16, 32, f32> {
    described(GEMM_16X32, gemm_f32::f32_16x32::kernel)
}

pub fn kernel_i8_8x8() -> DynKernel<8, 8, i32> {
    described_i8(GEMM_I8_8X8, gemm_i8::kernel_8x8)
}

pub fn kernel_i8_8x16() -> DynKernel<8, 16, i32> {
    described_i8(GEMM_I8_8X16, gemm_i8::kernel_8x16)
}

/// An int8 kernel: i8 panels packed four k to a lane (what `i32x4.dot_i16x8_s` wants), i32
/// panels k-major for the rare i32 product; tiles stored as i32 or i8.
fn described_i8<const MR: usize, const NR: usize>(
    name: &str,
    kernel: unsafe fn(&[FusedKerSpec<i32>]) -> isize,
) -> DynKernel<MR, NR, i32> {
    let mut k = DynKernel::new(name, kernel, i32::packing(MR), i32::packing(NR))
        .with_packing(PackedI8K4::new(MR), PackedI8K4::new(NR))
        .with_store::<i8>();
    k.arch = Some(Arch::Wasm32Simd128);
    k.built = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));
    k
}

fn described<const MR: usize, const NR: usize>(
    name: &str,
    kernel: unsafe fn(&[FusedKerSpec<f32>]) -> isize,
) -> DynKernel<MR, NR, f32> {
    let mut k = DynKernel::new(name, kernel, f32::packing(MR), f32::packing(NR));
    k.arch = Some(Arch::Wasm32Simd128);
    k.built = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));
    k
}

/// Weighted instructions per block of four k in the int8 kernels' main loop, read off the
/// shipped module (docs/performance.md).
const I8_8X8_BLOCK: f64 = 187.0;
const I8_8X16_BLOCK: f64 = 343.0;

/// Our tier's answer for every f32 product with n > 1 (or n unknown): the kernel whose tiles
/// cost least over the product, padding included; for every int8 one (i32 accumulators), the
/// int8 kernel; no opinion otherwise, which leaves matrix-vector products to tract's GEMV
/// kernels.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn preferred(
    _isa: &IsaSet,
    accumulator: DatumType,
    query: &Query,
    _suitable: &[Suitable],
) -> Option<&'static str> {
    if query.n == Some(1) {
        return None;
    }
    // Weighted instructions per tile and step of k in each kernel's main loop, read off the
    // shipped module (docs/performance.md); tract pads the last tiles to their full size.
    let kernels: &[(&'static str, usize, usize, f64)] = match accumulator {
        DatumType::F32 => &[
            (GEMM_8X8, 8, 8, 119.9),
            (GEMM_8X16, 8, 16, 221.9),
            (GEMM_8X28, 8, 28, 374.9),
            (GEMM_8X32, 8, 32, 425.9),
            (GEMM_16X32, 16, 32, 833.9),
        ],
        // Per block of four k.
        DatumType::I32 => &[
            (GEMM_I8_8X8, 8, 8, I8_8X8_BLOCK),
            (GEMM_I8_8X16, 8, 16, I8_8X16_BLOCK),
        ],
        _ => return None,
    };
    // m or n unknown until run time: 8×16, which wastes little whatever they turn out to be.
    let (m, n) = (query.m.unwrap_or(8), query.n.unwrap_or(16));
    let cost = |&(_, mr, nr, per_step): &(&str, usize, usize, f64)| {
        (m.div_ceil(mr) * n.div_ceil(nr)) as f64 * per_step
    };
    kernels
        .iter()
        .min_by(|a, b| cost(a).total_cmp(&cost(b)))
        .map(|&(name, ..)| name)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod registration {
    inventory::submit! {
        tract_linalg::mmm_routines::MmmRoutine { make: || super::kernel_8x8().mmm() }
    }
    inventory::submit! {
        tract_linalg::mmm_routines::MmmRoutine { make: || super::kernel_8x16().mmm() }
    }
    inventory::submit! {
        tract_linalg::mmm_routines::MmmRoutine { make: || super::kernel_8x28().mmm() }
    }
    inventory::submit! {
        tract_linalg::mmm_routines::MmmRoutine { make: || super::kernel_8x32().mmm() }
    }
    inventory::submit! {
        tract_linalg::mmm_routines::MmmRoutine { make: || super::kernel_16x32().mmm() }
    }
    inventory::submit! {
        tract_linalg::mmm_routines::MmmRoutine { make: || super::kernel_i8_8x8().mmm() }
    }
    inventory::submit! {
        tract_linalg::mmm_routines::MmmRoutine { make: || super::kernel_i8_8x16().mmm() }
    }
    inventory::submit! {
        tract_linalg::mmm_tiers::MmmTier {
            arch: Some(tract_linalg::isa::Arch::Wasm32Simd128),
            // tract's own wasm tier is 1; ties between tiers of one architecture are a coin toss.
            precedence: 2,
            name: "icinfer",
            applies: |_| true,
            preferred: super::preferred,
        }
    }
    use tract_linalg::routines::{Func, Routine, RoutineFactory};
    /// A routine for wasm32+simd128 that outranks tract's own there: tract ranks routines of one
    /// architecture and instruction-set level by boost, and its own are at 0.
    const fn outranking_tract(func: Func, factory: RoutineFactory) -> Routine {
        Routine {
            func,
            arch: Some(tract_linalg::isa::Arch::Wasm32Simd128),
            isa: tract_linalg::isa::IsaReq::ANY,
            boost: 1,
            round_trip: false,
            factory,
        }
    }
    inventory::submit! {
        outranking_tract(Func::DepthwiseC, RoutineFactory::DepthwiseCF32 {
            name: super::DEPTHWISE_C_NAME,
            run: super::depthwise_f32::depthwise_c,
        })
    }
    inventory::submit! {
        outranking_tract(Func::DepthwiseW, RoutineFactory::DepthwiseWF32 {
            name: super::DEPTHWISE_W_NAME,
            run: super::depthwise_f32::depthwise_w,
        })
    }
}

/// Keeps this crate's registrations in the module. wasm-ld drops an object that nothing
/// references, inventory entries included (measured: without this call the shipped module had
/// no trace of the kernel), so the model loader calls this: a symbol of this crate's own object
/// that cannot be inlined away.
#[inline(never)]
pub fn link() {
    std::hint::black_box(kernel_8x16 as fn() -> DynKernel<8, 16, f32>);
}

#[cfg(test)]
mod tests;
