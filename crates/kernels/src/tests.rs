//! The crate's own tests (the tier's choice of kernel), and what the modules' tests share.

use super::*;

/// Deterministic values in [-1, 1) with varied exponents, so summation order shows in the bits.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * (1 + (x & 7)) as f32
        })
        .collect()
}

#[test]
fn the_tier_claims_f32_products_with_the_tile_that_wastes_least_and_leaves_the_rest_to_tract() {
    let isa = IsaSet::of_arch(Arch::Wasm32Simd128);
    let pick = |acc, m, n| preferred(&isa, acc, &Query::plain(acc, Some(m), Some(64), n), &[]);
    // 49 columns take 56 in 28-wide tiles, 64 in 16- or 32-wide ones; 144 = 9·16 = 4.5·32.
    assert_eq!(pick(DatumType::F32, 64, Some(49)), Some(GEMM_8X28));
    assert_eq!(pick(DatumType::F32, 64, Some(196)), Some(GEMM_8X28));
    assert_eq!(pick(DatumType::F32, 64, Some(144)), Some(GEMM_8X16));
    assert_eq!(pick(DatumType::F32, 64, Some(16)), Some(GEMM_8X16));
    assert_eq!(pick(DatumType::F32, 64, Some(6)), Some(GEMM_8X8));
    assert_eq!(pick(DatumType::F32, 64, None), Some(GEMM_8X16));
    // 128 columns fill 32-wide tiles; 16 rows of them where m allows.
    assert_eq!(pick(DatumType::F32, 64, Some(128)), Some(GEMM_16X32));
    assert_eq!(pick(DatumType::F32, 8, Some(128)), Some(GEMM_8X32));
    assert_eq!(pick(DatumType::F32, 64, Some(1)), None);
    // int8 products (i32 accumulators) likewise; matrix-vector ones stay tract's. The int8
    // MobileNetV2's rows of 7 fill 8-wide tiles, of 28 two 16-wide ones.
    assert_eq!(pick(DatumType::I32, 64, Some(7)), Some(GEMM_I8_8X8));
    assert_eq!(pick(DatumType::I32, 64, Some(28)), Some(GEMM_I8_8X16));
    assert_eq!(pick(DatumType::I32, 64, Some(128)), Some(GEMM_I8_8X16));
    assert_eq!(pick(DatumType::I32, 64, None), Some(GEMM_I8_8X16));
    assert_eq!(pick(DatumType::I32, 64, Some(1)), None);
    assert_eq!(pick(DatumType::F16, 64, Some(49)), None);
    assert_eq!(kernel_i8_8x8().mmm().name(), GEMM_I8_8X8);
    assert_eq!(kernel_i8_8x16().mmm().name(), GEMM_I8_8X16);
    for (k, name) in [
        (kernel_8x8().mmm(), GEMM_8X8),
        (kernel_8x16().mmm(), GEMM_8X16),
        (kernel_8x28().mmm(), GEMM_8X28),
        (kernel_8x32().mmm(), GEMM_8X32),
        (kernel_16x32().mmm(), GEMM_16X32),
    ] {
        assert_eq!(k.name(), name);
    }
}
