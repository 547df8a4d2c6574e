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

/// How a sum becomes an output value, before the output's zero point: as tract's requantisation
/// (`Scaler` with ties to even, or nothing at a scale of exactly 1).
#[derive(Clone, Copy, Debug)]
pub struct Requantise {
    scaler: Option<Scaler>,
    /// The scale as an f64 when `round_ties_even(sum · factor)` in f64 is tract's integer
    /// result for every |sum| < 2²²: tract's multiplier has at most 31 significant bits, so
    /// the product has at most 53 and is exact; a positive shift keeps tract's rounding (ties to
    /// even, the sign applied after); a scale under 2⁸ keeps the result inside i32, where tract
    /// would wrap.
    factor: Option<f64>,
}

impl Requantise {
    pub fn new(scale: f32) -> Requantise {
        if scale == 1.0 {
            return Requantise {
                scaler: None,
                factor: None,
            };
        }
        let scaler = Scaler::new(scale, RoundingPolicy::Even);
        let shift = match scaler.mult {
            Some(_) => scaler.shift + 31,
            None => scaler.shift,
        };
        let factor = (shift > 0 && scale.abs() < 256.0)
            .then(|| f64::from(scaler.mult.unwrap_or(1)) * 2f64.powi(-(shift as i32)));
        Requantise {
            scaler: Some(scaler),
            factor,
        }
    }

    #[inline(always)]
    fn apply(&self, low: I32x4, high: I32x4) -> (I32x4, I32x4) {
        let Some(scaler) = self.scaler else {
            return (low, high);
        };
        match self.factor {
            Some(factor) if simd::below_2_22(low, high) => (
                simd::scaled_rounded(low, factor),
                simd::scaled_rounded(high, factor),
            ),
            _ => {
                let each =
                    |v: I32x4| simd::i32_from_lanes(simd::i32_lanes(v).map(|x| x.q_scale(scaler)));
                (each(low), each(high))
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
                let (low, high) = self.requantise.apply(low, high);
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
