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

/// The commutative f32 operations [`with_rows`] and [`with_blocks`] apply.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Arith {
    Add,
    Mul,
}

impl Arith {
    #[inline(always)]
    fn vector(self, a: simd::F32x4, b: simd::F32x4) -> simd::F32x4 {
        match self {
            Arith::Add => simd::add(a, b),
            Arith::Mul => simd::mul(a, b),
        }
    }

    #[inline(always)]
    fn scalar(self, a: f32, b: f32) -> f32 {
        match self {
            Arith::Add => a + b,
            Arith::Mul => a * b,
        }
    }
}

/// `values[r·n + i] = values[r·n + i] op row[i]` for every row `r`, `n = row.len()`: an operand
/// broadcast over leading axes (`[H, W, C]` with `[1, 1, C]`). `values.len()` is a multiple of
/// `row.len()`, which is not 0.
pub fn with_rows(op: Arith, values: &mut [f32], row: &[f32]) {
    let (row_vectors, row_rest) = row.as_chunks::<4>();
    for chunk in values.chunks_exact_mut(row.len()) {
        let (vectors, rest) = chunk.as_chunks_mut::<4>();
        for (vector, operand) in vectors.iter_mut().zip(row_vectors) {
            let (p, q) = (vector.as_mut_ptr(), operand.as_ptr());
            // SAFETY: `p` and `q` point at four f32 each.
            unsafe { simd::store(p, op.vector(simd::load(p), simd::load(q))) };
        }
        for (value, &operand) in rest.iter_mut().zip(row_rest) {
            *value = op.scalar(*value, operand);
        }
    }
}

/// `values[j·n + i] = values[j·n + i] op per_block[j]` for every block `j`,
/// `n = values.len() / per_block.len()`: an operand constant along trailing axes (`[C, H, W]`
/// with `[C, 1, 1]`). `values.len()` is a multiple of `per_block.len()`, which is not 0.
pub fn with_blocks(op: Arith, values: &mut [f32], per_block: &[f32]) {
    let block = values.len() / per_block.len();
    for (chunk, &operand) in values.chunks_exact_mut(block).zip(per_block) {
        let operands = simd::splat(operand);
        let (vectors, rest) = chunk.as_chunks_mut::<4>();
        for vector in vectors {
            let p = vector.as_mut_ptr();
            // SAFETY: `p` points at four f32.
            unsafe { simd::store(p, op.vector(simd::load(p), operands)) };
        }
        for value in rest {
            *value = op.scalar(*value, operand);
        }
    }
}

/// `into[i] = from[i] · factor`, four lanes at a time. The slices have one length.
pub fn scaled(into: &mut [f32], from: &[f32], factor: f32) {
    let (into_vectors, into_rest) = into.as_chunks_mut::<4>();
    let (from_vectors, from_rest) = from.as_chunks::<4>();
    let factors = simd::splat(factor);
    for (out, x) in into_vectors.iter_mut().zip(from_vectors) {
        // SAFETY: both point at four f32.
        unsafe { simd::store(out.as_mut_ptr(), simd::mul(simd::load(x.as_ptr()), factors)) };
    }
    for (out, &x) in into_rest.iter_mut().zip(from_rest) {
        *out = x * factor;
    }
}

/// GELU from `erf(x / √2)`: `x = (x · 0.5) · (erf + 1)`, in that order, four lanes at a time.
/// The slices have one length.
pub fn gelu_from_erf(values: &mut [f32], erf: &[f32]) {
    let (vectors, rest) = values.as_chunks_mut::<4>();
    let (erf_vectors, erf_rest) = erf.as_chunks::<4>();
    let (half, one) = (simd::splat(0.5), simd::splat(1.0));
    for (x, e) in vectors.iter_mut().zip(erf_vectors) {
        let p = x.as_mut_ptr();
        // SAFETY: both point at four f32.
        unsafe {
            let (x, e) = (simd::load(p), simd::load(e.as_ptr()));
            simd::store(p, simd::mul(simd::mul(x, half), simd::add(e, one)));
        }
    }
    for (x, &e) in rest.iter_mut().zip(erf_rest) {
        *x = (*x * 0.5) * (e + 1.0);
    }
}
