//! Quantised depthwise convolution, one channel plane at a time, for the operator icinfer-core
//! puts in place of tract's lowering (an im2col, a one-row matrix product per channel and a
//! chain of element-wise requantisation operators, about 1,800 instructions an output).
//!
//! Eight outputs of a row at a time: per tap, one `v128.load8x8` of the input (or a load and a
//! shuffle, for stride 2), the zero point subtracted in i16, two widening multiplications into
//! i32 accumulators. Integer sums are exact, so they are tract's. The scale is applied in f64,
//! which is exact for the sums and scales that occur (see [`Requantise`]), and otherwise with
//! tract's own integer code.

use crate::simd::{self, I16x8, I32x4};
use tract_linalg::mmm::RoundingPolicy;
use tract_linalg::{ScaleShiftAndRound, Scaler};

/// The most taps a kernel may have (7×7).
pub const MAX_TAPS: usize = 49;

/// One of tract's integer rescalings (`Scaler` multiplications, rounding right shifts), or
/// none: computed in f64 where that is exact, else with tract's own integer code.
#[derive(Clone, Copy, Debug)]
pub struct Requantise {
    rescale: Rescale,
    /// The factor as an f64 when `round_ties_even(x · factor)` in f64 is tract's integer
    /// result for every |x| < 2²²: the policy rounds ties to even; the factor is a multiplier
    /// of at most 31 significant bits (so the product has at most 53 and is exact) times a
    /// negative power of two (a positive shift, so that tract rounds at all); and it is under
    /// 2⁸, which keeps the result inside i32, where tract would wrap.
    factor: Option<f64>,
}

#[derive(Clone, Copy, Debug)]
enum Rescale {
    Unscaled,
    Scale(Scaler),
    ShiftRight(usize, RoundingPolicy),
}

impl Requantise {
    /// The requantisation of a convolution's sums: tract's `Scaler` rounding ties to even,
    /// or nothing at a scale of exactly 1.
    pub fn new(scale: f32) -> Requantise {
        if scale == 1.0 {
            return Requantise {
                rescale: Rescale::Unscaled,
                factor: None,
            };
        }
        Requantise::scale(Scaler::new(scale, RoundingPolicy::Even))
    }

    /// `x.q_scale(scaler)`.
    pub fn scale(scaler: Scaler) -> Requantise {
        let shift = match scaler.mult {
            Some(_) => scaler.shift + 31,
            None => scaler.shift,
        };
        let exact =
            scaler.policy == RoundingPolicy::Even && shift > 0 && scaler.scale.abs() < 256.0;
        Requantise {
            rescale: Rescale::Scale(scaler),
            factor: exact.then(|| f64::from(scaler.mult.unwrap_or(1)) * 2f64.powi(-(shift as i32))),
        }
    }

    /// `x.q_shr(shift, policy)`.
    pub fn shift_right(shift: usize, policy: RoundingPolicy) -> Requantise {
        let exact = policy == RoundingPolicy::Even && (1..32).contains(&shift);
        Requantise {
            rescale: Rescale::ShiftRight(shift, policy),
            factor: exact.then(|| 2f64.powi(-(shift as i32))),
        }
    }

    /// Four values rescaled.
    #[inline(always)]
    pub fn apply(&self, v: I32x4) -> I32x4 {
        match (self.rescale, self.factor) {
            (Rescale::Unscaled, _) => v,
            (_, Some(factor)) if simd::below_2_22(v) => simd::scaled_rounded(v, factor),
            (Rescale::Scale(scaler), _) => {
                simd::i32_from_lanes(simd::i32_lanes(v).map(|x| x.q_scale(scaler)))
            }
            (Rescale::ShiftRight(shift, policy), _) => {
                simd::i32_from_lanes(simd::i32_lanes(v).map(|x| x.q_shr(shift, policy)))
            }
        }
    }
}

/// One channel plane of a quantised depthwise convolution.
pub struct Plane<'a> {
    /// The input plane surrounded by its zero point, so that every tap of every output is
    /// inside it, in rows of `width` bytes, followed by at least 32 readable bytes.
    pub padded: &'a [u8],
    pub width: usize,
    /// Input and output bytes are i8 if signed, else u8.
    pub signed_input: bool,
    pub signed_output: bool,
    pub x0: i16,
    /// `w − k0` for every tap, row by row (at most [`MAX_TAPS`]).
    pub weights: &'a [i16],
    pub kernel: [usize; 2],
    /// 1 or 2, along both axes.
    pub stride: usize,
    pub bias: i32,
    pub requantise: Requantise,
    pub y0: i32,
}

impl Plane<'_> {
    /// `out[oy·ow + ox] = saturate(requantise(bias + Σ (x − x0)·(w − k0)) + y0)`, the sum over
    /// the taps at `(oy·stride + ky, ox·stride + kx)` of the padded plane, for `out` of
    /// `oh × ow` bytes.
    pub fn convolve(&self, out: &mut [u8], ow: usize) {
        let [kh, kw] = self.kernel;
        assert!(self.weights.len() == kh * kw && self.weights.len() <= MAX_TAPS);
        let oh = out.len() / ow;
        let last = (oh - 1) * self.stride + kh - 1;
        let reach = ow.next_multiple_of(8) * self.stride + kw + 16;
        assert!(last * self.width + reach <= self.padded.len());
        // Signedness and stride as constants, so that neither costs a select per tap; 3×3
        // kernels (MobileNetV2's, PP-OCR's) with their nine taps written out and the weights
        // in locals.
        match (self.stride, self.signed_input, self.kernel == [3, 3]) {
            (1, false, true) => self.rows_3x3::<1, false>(out, ow),
            (1, true, true) => self.rows_3x3::<1, true>(out, ow),
            (2, false, true) => self.rows_3x3::<2, false>(out, ow),
            (2, true, true) => self.rows_3x3::<2, true>(out, ow),
            (1, false, false) => self.rows_of_any_kernel::<1, false>(out, ow),
            (1, true, false) => self.rows_of_any_kernel::<1, true>(out, ow),
            (2, false, false) => self.rows_of_any_kernel::<2, false>(out, ow),
            (2, true, false) => self.rows_of_any_kernel::<2, true>(out, ow),
            (stride, ..) => panic!("stride {stride}"),
        }
    }

    fn rows_3x3<const STRIDE: usize, const SIGNED: bool>(&self, out: &mut [u8], ow: usize) {
        let w: [I16x8; 9] = std::array::from_fn(|t| simd::i16_splat(self.weights[t]));
        let [w0, w1, w2, w3, w4, w5, w6, w7, w8] = w;
        let (line, bias) = (self.width, simd::i32_splat(self.bias));
        self.each_chunk(out, ow, |at| {
            let tap = |sums, offset, w| {
                // SAFETY: convolve checked that 16 bytes past the furthest tap of the
                // furthest chunk are inside `padded`.
                unsafe { self.tap::<STRIDE, SIGNED>(sums, at + offset, w) }
            };
            let mut sums = (bias, bias);
            sums = tap(sums, 0, w0);
            sums = tap(sums, 1, w1);
            sums = tap(sums, 2, w2);
            sums = tap(sums, line, w3);
            sums = tap(sums, line + 1, w4);
            sums = tap(sums, line + 2, w5);
            sums = tap(sums, 2 * line, w6);
            sums = tap(sums, 2 * line + 1, w7);
            tap(sums, 2 * line + 2, w8)
        });
    }

    fn rows_of_any_kernel<const STRIDE: usize, const SIGNED: bool>(
        &self,
        out: &mut [u8],
        ow: usize,
    ) {
        let [kh, kw] = self.kernel;
        let mut weights = [simd::i16_splat(0); MAX_TAPS];
        for (splat, &w) in weights.iter_mut().zip(self.weights) {
            *splat = simd::i16_splat(w);
        }
        self.each_chunk(out, ow, |at| {
            let mut sums = (simd::i32_splat(self.bias), simd::i32_splat(self.bias));
            for ky in 0..kh {
                for kx in 0..kw {
                    let w = weights[ky * kw + kx];
                    // SAFETY: as in `rows_3x3`.
                    sums =
                        unsafe { self.tap::<STRIDE, SIGNED>(sums, at + ky * self.width + kx, w) };
                }
            }
            sums
        });
    }

    /// Adds one tap's `(x − x0)·w` to eight sums: x from eight bytes at `offset`, one apart
    /// (or two, with stride 2).
    ///
    /// # Safety
    /// 16 bytes from `offset` are inside `padded`.
    #[inline(always)]
    unsafe fn tap<const STRIDE: usize, const SIGNED: bool>(
        &self,
        (low, high): (I32x4, I32x4),
        offset: usize,
        w: I16x8,
    ) -> (I32x4, I32x4) {
        let x = unsafe {
            let p = self.padded.as_ptr().add(offset);
            if STRIDE == 1 {
                simd::load_x8_widened(p, SIGNED)
            } else {
                simd::load_x8_every_other_widened(p, SIGNED)
            }
        };
        let (l, h) = simd::widening_products(simd::sub_i16(x, simd::i16_splat(self.x0)), w);
        (simd::add_i32(low, l), simd::add_i32(high, h))
    }

    /// Runs `sums(first tap's offset)` for every chunk of eight outputs of a row (the last
    /// chunk of a row reads past it; its extra lanes are dropped) and stores the outputs.
    #[inline(always)]
    fn each_chunk(&self, out: &mut [u8], ow: usize, sums: impl Fn(usize) -> (I32x4, I32x4)) {
        let y0 = simd::i32_splat(self.y0);
        for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
            let row = oy * self.stride * self.width;
            for ox in (0..ow).step_by(8) {
                let (low, high) = sums(row + ox * self.stride);
                let (low, high) = (self.requantise.apply(low), self.requantise.apply(high));
                let (low, high) = (simd::add_i32(low, y0), simd::add_i32(high, y0));
                let rest = &mut out_row[ox..];
                if rest.len() >= 8 {
                    // SAFETY: eight bytes.
                    unsafe {
                        simd::store_saturated_x8(low, high, self.signed_output, rest.as_mut_ptr())
                    };
                } else {
                    let mut bytes = [0u8; 8];
                    // SAFETY: eight bytes.
                    unsafe {
                        simd::store_saturated_x8(low, high, self.signed_output, bytes.as_mut_ptr())
                    };
                    copy_short(rest, &bytes[..rest.len()]);
                }
            }
        }
    }
}

/// `into.copy_from_slice(from)` without `memory.copy`, whose weight of 100 plus a byte is most
/// of the cost for the short rows of small feature maps: eight bytes at a time, then 4, 2, 1.
pub fn copy_short(into: &mut [u8], from: &[u8]) {
    assert_eq!(into.len(), from.len());
    let (into_words, into_rest) = into.as_chunks_mut::<8>();
    let (from_words, from_rest) = from.as_chunks::<8>();
    for (i, f) in into_words.iter_mut().zip(from_words) {
        *i = *f;
    }
    let mut at = 0;
    for size in [4, 2, 1] {
        if into_rest.len() - at >= size {
            // Fixed sizes: loads and stores, not a call to memcpy.
            match size {
                4 => into_rest[at..at + 4].copy_from_slice(&from_rest[at..at + 4]),
                2 => into_rest[at..at + 2].copy_from_slice(&from_rest[at..at + 2]),
                _ => into_rest[at] = from_rest[at],
            }
            at += size;
        }
    }
}
