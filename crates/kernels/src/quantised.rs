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
        assert!(self.weights.len() == self.kernel[0] * self.kernel[1]);
        assert!(self.weights.len() <= MAX_TAPS && matches!(self.stride, 1 | 2));
        let oh = out.len() / ow;
        let last = (oh - 1) * self.stride + self.kernel[0] - 1;
        let reach = ow.next_multiple_of(8) * self.stride + self.kernel[1] + 16;
        assert!(last * self.width + reach <= self.padded.len());
        let mut weights = [simd::i16_splat(0); MAX_TAPS];
        for (splat, &w) in weights.iter_mut().zip(self.weights) {
            *splat = simd::i16_splat(w);
        }
        if self.stride == 1 {
            self.rows::<1>(out, ow, &weights);
        } else {
            self.rows::<2>(out, ow, &weights);
        }
    }

    #[inline(always)]
    fn rows<const STRIDE: usize>(&self, out: &mut [u8], ow: usize, weights: &[I16x8; MAX_TAPS]) {
        let [kh, kw] = self.kernel;
        let (x0, y0, bias) = (
            simd::i16_splat(self.x0),
            simd::i32_splat(self.y0),
            simd::i32_splat(self.bias),
        );
        for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
            for ox in (0..ow).step_by(8) {
                let (mut low, mut high) = (bias, bias);
                for ky in 0..kh {
                    let row = (oy * STRIDE + ky) * self.width + ox * STRIDE;
                    for kx in 0..kw {
                        // SAFETY: convolve checked that 16 bytes past the furthest tap of the
                        // furthest chunk are inside `padded`.
                        let x = unsafe {
                            let p = self.padded.as_ptr().add(row + kx);
                            if STRIDE == 1 {
                                simd::load_x8_widened(p, self.signed_input)
                            } else {
                                simd::load_x8_every_other_widened(p, self.signed_input)
                            }
                        };
                        let (l, h) =
                            simd::widening_products(simd::sub_i16(x, x0), weights[ky * kw + kx]);
                        (low, high) = (simd::add_i32(low, l), simd::add_i32(high, h));
                    }
                }
                let (low, high) = self.requantise.apply(low, high);
                let (low, high) = (simd::add_i32(low, y0), simd::add_i32(high, y0));
                let mut bytes = [0u8; 8];
                // SAFETY: eight bytes.
                unsafe {
                    simd::store_saturated_x8(low, high, self.signed_output, bytes.as_mut_ptr())
                };
                let n = (ow - ox).min(8);
                out_row[ox..ox + n].copy_from_slice(&bytes[..n]);
            }
        }
    }
}
