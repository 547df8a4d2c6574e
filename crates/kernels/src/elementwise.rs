//! Element-wise loops for the operators icinfer-core patches into tract's graphs.

use crate::simd;

/// Every NaN in `values` replaced by `replacement`, four lanes at a time.
pub fn replace_nan(values: &mut [f32], replacement: f32) {
    let (vectors, rest) = values.as_chunks_mut::<4>();
    let replacements = simd::splat(replacement);
    for vector in vectors {
        let p = vector.as_mut_ptr();
        // SAFETY: `p` points at four f32 of `values`.
        unsafe { simd::store(p, simd::replace_nan(simd::load(p), replacements)) };
    }
    for value in rest.iter_mut().filter(|value| value.is_nan()) {
        *value = replacement;
    }
}
