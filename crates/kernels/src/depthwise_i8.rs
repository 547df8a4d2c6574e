//! Quantised depthwise convolution, one channel plane at a time, for the operator icinfer-core
//! puts in place of tract's lowering (an im2col, a one-row matrix product per channel and a
//! chain of element-wise requantisation operators, about 1,800 instructions an output).
//!
//! Eight outputs of a row at a time: per tap, one `v128.load8x8` of the input (or a load and a
//! shuffle, for stride 2), the zero point subtracted in i16, two widening multiplications into
//! i32 accumulators. Integer sums are exact, so they are tract's. The scale is applied in f64,
//! which is exact for the sums and scales that occur (see [`Requantise`]), and otherwise with
//! tract's own integer code.

use crate::planes::copy_row;
use crate::requantise::Requantise;
use crate::simd::{self, DepthwiseLanes, I16x8, I32x4};

/// The most taps a kernel may have (7×7).
pub const MAX_TAPS: usize = 49;

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
    pub requantise: &'a Requantise,
    pub y0: i32,
}

/// Two taps, multiplied with one `i32x4.dot_i16x8_s` per four outputs: their offsets from an
/// output's first tap, and their weights interleaved. A tap left over pairs with weight 0.
#[derive(Clone, Copy)]
struct TapPair {
    first: usize,
    second: usize,
    /// `second == first + 1`: both come from one load.
    adjacent: bool,
    weights: I16x8,
}

impl Plane<'_> {
    /// `out[oy·ow + ox] = saturate(requantise(bias + Σ (x − x0)·(w − k0)) + y0)`, the sum over
    /// the taps at `(oy·stride + ky, ox·stride + kx)` of the padded plane, for `oh × ow`
    /// outputs. Up to seven bytes of `out` past the plane may be overwritten, where `out` has
    /// them: the caller writes planes in order, so the next plane replaces them.
    pub fn convolve(&self, out: &mut [u8], oh: usize, ow: usize) {
        let [kh, kw] = self.kernel;
        assert!(self.weights.len() == kh * kw && self.weights.len() <= MAX_TAPS);
        assert!(out.len() >= oh * ow && oh > 0);
        let last = (oh - 1) * self.stride + kh - 1;
        let reach = ow.next_multiple_of(8) * self.stride + kw + 16;
        assert!(last * self.width + reach <= self.padded.len());
        // Σ (x − x0)·w = Σ x·w − x0·Σ w: the zero point goes into the bias, once.
        let weight_sum: i32 = self.weights.iter().map(|&w| i32::from(w)).sum();
        let bias = self.bias.wrapping_sub(i32::from(self.x0) * weight_sum);
        // |x − x0| ≤ 255, so this bounds every sum; under 2²² the scaling needs no check.
        let reach_of_sums = i64::from(self.bias).abs()
            + 255
                * self
                    .weights
                    .iter()
                    .map(|&w| i64::from(w).abs())
                    .sum::<i64>();
        let chunks = Chunks {
            plane: self,
            bias,
            bounded: reach_of_sums < 1 << 22,
            oh,
            ow,
        };
        // Signedness and stride as constants, so that neither costs a select per tap; 3×3
        // kernels (MobileNetV2's, PP-OCR's) with their taps written out.
        match (self.stride, self.signed_input, self.kernel == [3, 3]) {
            (1, false, true) => chunks.rows_3x3::<1, false>(out),
            (1, true, true) => chunks.rows_3x3::<1, true>(out),
            (2, false, true) => chunks.rows_3x3::<2, false>(out),
            (2, true, true) => chunks.rows_3x3::<2, true>(out),
            (1, false, false) => chunks.rows_of_any_kernel::<1, false>(out),
            (1, true, false) => chunks.rows_of_any_kernel::<1, true>(out),
            (2, false, false) => chunks.rows_of_any_kernel::<2, false>(out),
            (2, true, false) => chunks.rows_of_any_kernel::<2, true>(out),
            (stride, ..) => panic!("stride {stride}"),
        }
    }

    /// The taps in pairs, row by row: two neighbours in a row, or a row's last tap and the
    /// next row's first.
    fn tap_pairs(&self) -> impl Iterator<Item = TapPair> + '_ {
        // Offsets row by row, counted along rather than divided out (weight 10 a division).
        let (kw, width) = (self.kernel[1], self.width);
        let offsets = (0..).scan((0, 0), move |(ky, kx), _| {
            let offset = *ky * width + *kx;
            (*ky, *kx) = if *kx + 1 == kw {
                (*ky + 1, 0)
            } else {
                (*ky, *kx + 1)
            };
            Some(offset)
        });
        let mut taps = offsets.zip(self.weights.iter().copied());
        std::iter::from_fn(move || {
            let (first, w) = taps.next()?;
            Some(match taps.next() {
                Some((second, v)) => TapPair {
                    first,
                    second,
                    adjacent: second == first + 1,
                    weights: simd::i16_pairs(w, v),
                },
                None => TapPair {
                    first,
                    second: first + 1,
                    adjacent: true,
                    weights: simd::i16_pairs(w, 0),
                },
            })
        })
    }
}

/// A plane's outputs, eight of a row at a time.
struct Chunks<'p, 'a> {
    plane: &'p Plane<'a>,
    /// The plane's bias less `x0·Σ w`.
    bias: i32,
    /// Every sum lies strictly between −2²² and 2²².
    bounded: bool,
    oh: usize,
    ow: usize,
}

impl Chunks<'_, '_> {
    fn rows_3x3<const STRIDE: usize, const SIGNED: bool>(&self, out: &mut [u8]) {
        // Neighbours in row 0, row 0's last tap and row 1's first, neighbours in rows 1 and
        // 2, and row 2's last tap alone; the second pair's loads work for any two taps.
        let mut pairs = self.plane.tap_pairs();
        let mut next = || pairs.next().expect("nine taps make five pairs");
        let (p0, p1, p2, p3, p4) = (next(), next(), next(), next(), next());
        self.each_chunk(out, |first, sums, lanes| {
            // SAFETY: convolve checked that 16 bytes past the furthest tap of the furthest
            // chunk are inside `padded`.
            unsafe {
                let sums = accumulate::<STRIDE, true, SIGNED>(sums, first, p0, lanes);
                let sums = accumulate::<STRIDE, false, SIGNED>(sums, first, p1, lanes);
                let sums = accumulate::<STRIDE, true, SIGNED>(sums, first, p2, lanes);
                let sums = accumulate::<STRIDE, true, SIGNED>(sums, first, p3, lanes);
                accumulate::<STRIDE, true, SIGNED>(sums, first, p4, lanes)
            }
        });
    }

    fn rows_of_any_kernel<const STRIDE: usize, const SIGNED: bool>(&self, out: &mut [u8]) {
        let mut pairs = [TapPair {
            first: 0,
            second: 0,
            adjacent: true,
            weights: simd::i16_pairs(0, 0),
        }; MAX_TAPS.div_ceil(2)];
        let mut count = 0;
        for (slot, pair) in pairs.iter_mut().zip(self.plane.tap_pairs()) {
            (*slot, count) = (pair, count + 1);
        }
        self.each_chunk(out, |first, mut sums, lanes| {
            for &pair in &pairs[..count] {
                // SAFETY: as in `rows_3x3`.
                sums = unsafe {
                    if pair.adjacent {
                        accumulate::<STRIDE, true, SIGNED>(sums, first, pair, lanes)
                    } else {
                        accumulate::<STRIDE, false, SIGNED>(sums, first, pair, lanes)
                    }
                };
            }
            sums
        });
    }

    /// Runs `sums(first tap, bias)` for every chunk of eight outputs of a row and stores the
    /// outputs: eight bytes at a time while `out` has them (the last chunk of a row writes
    /// into the next, which comes later), then the rest.
    #[inline(always)]
    fn each_chunk(
        &self,
        out: &mut [u8],
        sums: impl Fn(*const u8, (I32x4, I32x4), &DepthwiseLanes) -> (I32x4, I32x4),
    ) {
        // The scaling chosen once, not per vector.
        let requantise = self.plane.requantise;
        match requantise.exact_factor() {
            Some(factor) if self.bounded => {
                let scaled = simd::ScaledRounded::new(factor);
                self.each_chunk_scaled(out, sums, |v| scaled.apply(v))
            }
            _ => self.each_chunk_scaled(out, sums, |v| requantise.apply(v)),
        }
    }

    #[inline(always)]
    fn each_chunk_scaled(
        &self,
        out: &mut [u8],
        sums: impl Fn(*const u8, (I32x4, I32x4), &DepthwiseLanes) -> (I32x4, I32x4),
        requantise: impl Fn(I32x4) -> I32x4,
    ) {
        let plane = self.plane;
        let (y0, bias) = (simd::i32_splat(plane.y0), simd::i32_splat(self.bias));
        let lanes = simd::depthwise_lanes(plane.signed_output);
        let chunk = |first: *const u8, into: *mut u8| {
            let (low, high) = sums(first, (bias, bias), &lanes);
            let (low, high) = (requantise(low), requantise(high));
            let (low, high) = (simd::add_i32(low, y0), simd::add_i32(high, y0));
            // SAFETY: the caller's eight bytes.
            unsafe { simd::store_clamped_x8(low, high, &lanes, into) };
        };
        let chunks = self.ow.div_ceil(8);
        for oy in 0..self.oh {
            let start = oy * self.ow;
            // Whole chunks of eight bytes, the last one into the next row (which comes
            // later), while `out` has room for it.
            let whole = if out.len() - start >= 8 * chunks {
                chunks
            } else {
                chunks - 1
            };
            let out_row = out[start..].as_mut_ptr();
            // SAFETY: convolve checked the reach of every chunk; `whole` chunks of `out`.
            unsafe {
                let first_row = plane.padded.as_ptr().add(oy * plane.stride * plane.width);
                for c in 0..whole {
                    chunk(first_row.add(8 * c * plane.stride), out_row.add(8 * c));
                }
                if whole < chunks {
                    let mut bytes = [0u8; 8];
                    chunk(first_row.add(8 * whole * plane.stride), bytes.as_mut_ptr());
                    let rest = &mut out[start + 8 * whole..start + self.ow];
                    copy_row(rest, &bytes[..rest.len()]);
                }
            }
        }
    }
}

/// Adds one pair of taps' `x·w` to eight sums, for the outputs whose first tap is at `first`.
///
/// # Safety
/// 16 bytes from both of the pair's taps are readable.
#[inline(always)]
unsafe fn accumulate<const STRIDE: usize, const ADJACENT: bool, const SIGNED: bool>(
    (low, high): (I32x4, I32x4),
    first: *const u8,
    pair: TapPair,
    lanes: &DepthwiseLanes,
) -> (I32x4, I32x4) {
    let (x_low, x_high) = unsafe {
        simd::tap_pairs::<STRIDE, ADJACENT, SIGNED>(
            first.add(pair.first),
            first.add(pair.second),
            lanes,
        )
    };
    (
        simd::add_i32(low, simd::dot(x_low, pair.weights)),
        simd::add_i32(high, simd::dot(x_high, pair.weights)),
    )
}
