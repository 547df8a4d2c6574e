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

/// The smallest and the largest of 0 and `values`, NaN skipped: a value replaces a bound only
/// when strictly beyond it, as tract-onnx's `DynamicQuantizeLinear` folds them (so neither
/// bound is ever -0).
pub fn range_with_zero(values: &[f32]) -> (f32, f32) {
    let (vectors, rest) = values.as_chunks::<4>();
    let (mut low, mut high) = (simd::splat(0.0), simd::splat(0.0));
    for vector in vectors {
        // SAFETY: four f32.
        let x = unsafe { simd::load(vector.as_ptr()) };
        (low, high) = (simd::pmin(low, x), simd::pmax(high, x));
    }
    let (mut min, mut max) = (0f32, 0f32);
    let lanes = (0..4).map(|l| (simd::lane(low, l), simd::lane(high, l)));
    for (l, h) in lanes.chain(rest.iter().map(|&x| (x, x))) {
        if l < min {
            min = l;
        }
        if h > max {
            max = h;
        }
    }
    (min, max)
}

/// How [`quantise_u8`] scales a value before rounding it. tract computes ONNX's
/// `DynamicQuantizeLinear` with a division and `QuantizeLinear` with a multiplication by the
/// reciprocal, and the two round some values to different integers.
#[derive(Clone, Copy, Debug)]
pub enum Scaling {
    DivideBy(f32),
    MultiplyBy(f32),
}

/// `into[i] = clamp(round_ties_even(from[i] scaled) + zero_point, 0, 255)`, sixteen at a
/// time. The slices have one length.
pub fn quantise_u8(into: &mut [u8], from: &[f32], scaling: Scaling, zero_point: u8) {
    // The choice as a constant, so that the loop does not branch on it per vector.
    match scaling {
        Scaling::DivideBy(scale) => quantise_u8_by::<true>(into, from, scale, zero_point),
        Scaling::MultiplyBy(scale) => quantise_u8_by::<false>(into, from, scale, zero_point),
    }
}

fn quantise_u8_by<const DIVIDE: bool>(into: &mut [u8], from: &[f32], scale: f32, zero_point: u8) {
    let (into_blocks, into_rest) = into.as_chunks_mut::<16>();
    let (from_blocks, from_rest) = from.as_chunks::<16>();
    let (scales, zero_points) = (simd::splat(scale), simd::i32_splat(i32::from(zero_point)));
    for (out, x) in into_blocks.iter_mut().zip(from_blocks) {
        // SAFETY: sixteen f32 in, sixteen u8 out.
        unsafe { simd::quantise_u8x16(x.as_ptr(), DIVIDE, scales, zero_points, out.as_mut_ptr()) };
    }
    for (out, &x) in into_rest.iter_mut().zip(from_rest) {
        let scaled = if DIVIDE { x / scale } else { x * scale };
        let q = (scaled.round_ties_even() as i32).wrapping_add(i32::from(zero_point));
        *out = q.clamp(0, 255) as u8;
    }
}

/// `into[i] = (from[i] − zero_point) as f32 · scale`, with the bytes read as i8 if `signed`,
/// else as u8, sixteen at a time: ONNX's `DequantizeLinear` as tract-core computes it. The
/// slices have one length.
pub fn dequantise(into: &mut [f32], from: &[u8], signed: bool, zero_point: i32, scale: f32) {
    let (into_blocks, into_rest) = into.as_chunks_mut::<16>();
    let (from_blocks, from_rest) = from.as_chunks::<16>();
    let (zero_points, scales) = (simd::i32_splat(zero_point), simd::splat(scale));
    for (out, x) in into_blocks.iter_mut().zip(from_blocks) {
        // SAFETY: sixteen bytes in, sixteen f32 out.
        unsafe { simd::dequantise_x16(x.as_ptr(), signed, zero_points, scales, out.as_mut_ptr()) };
    }
    for (out, &byte) in into_rest.iter_mut().zip(from_rest) {
        let x = if signed {
            i32::from(byte as i8)
        } else {
            i32::from(byte)
        };
        *out = (x - zero_point) as f32 * scale;
    }
}

/// `into[i] = table[from[i]]`. The slices have one length.
pub fn look_up(into: &mut [u8], from: &[u8], table: &[u8; 256]) {
    for (out, &x) in into.iter_mut().zip(from) {
        *out = table[usize::from(x)];
    }
}

/// `into[i] = from[i] ^ 0x80`: a u8 as the i8 `x − 128`. The slices have one length.
pub fn flip_top_bits(into: &mut [u8], from: &[u8]) {
    const TOP_BITS: u64 = 0x8080_8080_8080_8080;
    let (into_words, into_rest) = into.as_chunks_mut::<8>();
    let (from_words, from_rest) = from.as_chunks::<8>();
    for (out, x) in into_words.iter_mut().zip(from_words) {
        *out = (u64::from_ne_bytes(*x) ^ TOP_BITS).to_ne_bytes();
    }
    for (out, &x) in into_rest.iter_mut().zip(from_rest) {
        *out = x ^ 0x80;
    }
}

/// One step of a clip between dequantising and quantising: `x.max(c)` or `x.min(c)`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Bound {
    Lower(u32),
    Upper(u32),
}

/// `into[i] = quantise(clip(dequantise(from[i])))`, sixteen at a time, with the arithmetic of
/// [`dequantise`] (bytes read as i8 if `signed`), then the bounds in order, then
/// [`quantise_u8`] by multiplication: a `DequantizeLinear`, clip, `QuantizeLinear` chain in one
/// pass. The dequantised values are finite and never −0 (`(x − zero_point) as f32` times a
/// positive scale), where every definition of max and min agrees, so the bounds use
/// `pmax`/`pmin`. The slices have one length.
pub fn requantise_clipped(
    into: &mut [u8],
    from: &[u8],
    signed: bool,
    input: (i32, f32),
    bounds: &[Bound],
    output: (f32, u8),
) {
    let bound = |x, bound: Bound| match bound {
        Bound::Lower(c) => simd::pmax(x, simd::splat(f32::from_bits(c))),
        Bound::Upper(c) => simd::pmin(x, simd::splat(f32::from_bits(c))),
    };
    let any = |x| bounds.iter().fold(x, |x, &b| bound(x, b));
    // Signedness as a constant, and a clip (a lower bound, then an upper one) without a loop
    // or a match, so that neither costs a branch or a select per vector.
    match (signed, bounds) {
        (signed, &[Bound::Lower(low), Bound::Upper(high)]) => {
            let (low, high) = (
                simd::splat(f32::from_bits(low)),
                simd::splat(f32::from_bits(high)),
            );
            let clip = move |x| simd::pmin(simd::pmax(x, low), high);
            if signed {
                requantise_with::<true>(into, from, input, output, clip)
            } else {
                requantise_with::<false>(into, from, input, output, clip)
            }
        }
        (false, _) => requantise_with::<false>(into, from, input, output, any),
        (true, _) => requantise_with::<true>(into, from, input, output, any),
    }
}

#[inline(always)]
fn requantise_with<const SIGNED: bool>(
    into: &mut [u8],
    from: &[u8],
    (in_zero_point, in_scale): (i32, f32),
    (out_scale, out_zero_point): (f32, u8),
    clip: impl Fn(simd::F32x4) -> simd::F32x4,
) {
    let (into_blocks, into_rest) = into.as_chunks_mut::<16>();
    let (from_blocks, from_rest) = from.as_chunks::<16>();
    let (in_zero_points, in_scales) = (simd::i32_splat(in_zero_point), simd::splat(in_scale));
    let out_zero_points = simd::i32_splat(i32::from(out_zero_point));
    let out_scales = simd::splat(out_scale);
    for (out, x) in into_blocks.iter_mut().zip(from_blocks) {
        // SAFETY: sixteen bytes in, sixteen out.
        unsafe {
            let values = simd::load_x16_centred(x.as_ptr(), SIGNED, in_zero_points)
                .map(|x| clip(simd::mul(x, in_scales)));
            simd::store_quantised_u8x16(values, out_scales, out_zero_points, out.as_mut_ptr());
        }
    }
    for (out, &byte) in into_rest.iter_mut().zip(from_rest) {
        let x = if SIGNED {
            i32::from(byte as i8)
        } else {
            i32::from(byte)
        };
        let x = simd::lane(clip(simd::splat((x - in_zero_point) as f32 * in_scale)), 0);
        let q = ((x * out_scale).round_ties_even() as i32).wrapping_add(i32::from(out_zero_point));
        *out = q.clamp(0, 255) as u8;
    }
}

#[cfg(test)]
mod tests;
