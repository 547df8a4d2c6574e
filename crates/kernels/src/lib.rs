//! Our f32 matrix-multiplication kernel for tract on wasm32+simd128.
//!
//! tract-linalg picks kernels through two registries, both open to other crates: every kernel
//! is an `MmmRoutine`, and per architecture a ladder of `MmmTier`s names the one to run. This
//! crate submits one kernel and one tier above tract's own `wasm-simd128` tier, so every f32
//! matrix product with more than one column runs [`gemm::kernel`] while tract keeps its own
//! matrix-vector kernels, packing, fusion and scheduling. Nothing of tract is patched.
//!
//! The kernel is written against [`simd`], which is Wasm SIMD in the canister and plain arrays
//! natively, so `cargo test` checks its logic on the machine that builds it.

pub mod gemm;
mod simd;

use tract_data::prelude::DatumType;
use tract_linalg::isa::{Arch, IsaSet};
use tract_linalg::mmm::{DynKernel, Query, Suitable};
use tract_linalg::pack::Packing;

pub use gemm::{K_UNROLL, K_UNROLL_REST, MR, NR};
/// The kernel's name in tract's registry (and in profiles of tract's plan).
pub const NAME: &str = "icinfer_wasm_f32_8x16";

/// The kernel as tract-linalg describes one. Runnable only where it was built: wasm32 with
/// simd128, the one architecture its tier speaks for.
pub fn kernel() -> DynKernel<MR, NR, f32> {
    let mut k = DynKernel::new(NAME, gemm::kernel, f32::packing(MR), f32::packing(NR));
    k.arch = Some(Arch::Wasm32Simd128);
    k.built = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));
    k
}

/// Our tier's answer: this kernel for every f32 product with n > 1 (or n unknown); no
/// opinion otherwise, which leaves matrix-vector products to tract's GEMV kernels.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn preferred(
    _isa: &IsaSet,
    accumulator: DatumType,
    query: &Query,
    _suitable: &[Suitable],
) -> Option<&'static str> {
    (accumulator == DatumType::F32 && query.n != Some(1)).then_some(NAME)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod registration {
    inventory::submit! {
        tract_linalg::mmm_routines::MmmRoutine { make: || super::kernel().mmm() }
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
}

/// Keeps this crate's registrations in the module. wasm-ld drops an object that nothing
/// references, inventory entries included (measured: without this call the shipped module had
/// no trace of the kernel), so the model loader calls this: a symbol of this crate's own object
/// that cannot be inlined away.
#[inline(never)]
pub fn link() {
    std::hint::black_box(kernel as fn() -> DynKernel<MR, NR, f32>);
}

#[cfg(test)]
mod tests;
