//! Depthwise convolution: the inner loops tract-linalg calls per zone of the output, with the
//! channel as the contiguous axis ([`depthwise_c`], tract's `DepthwiseCF32`: MobileNetV2's
//! convolutions once tract's optimiser moved the channels last) or the output's row ([`depthwise_w`],
//! `DepthwiseWF32`: channels first).
//!
//! tract's own wasm kernels loop over the taps inside every output position or point block and
//! carry each accumulator through memory or a local per tap, about 3.3 instructions per
//! multiply-accumulate under the IC's weights. These specialise on the tap count of a zone (9
//! inside a 3×3 convolution, 6 along its edges, 4 in its corners; likewise for 5×5), keep the
//! weights and the bias in Wasm locals, and chain each accumulator `acc + x·w` through every tap
//! in tract's order, so the results are bit-identical to tract's.

use crate::simd::{self, F32x4};

/// Calls `$receiver.$method` with the tap count as a constant for the zones of 3×3 and 5×5
/// convolutions (a full window, and what an edge, a corner or a map two or three rows high
/// leaves of it), or evaluates `$otherwise` for any other count.
macro_rules! by_tap_count {
    ($taps:expr, $receiver:ident.$method:ident($($arg:expr),*), $otherwise:expr) => {
        match $taps {
            4 => $receiver.$method::<4>($($arg),*),
            6 => $receiver.$method::<6>($($arg),*),
            8 => $receiver.$method::<8>($($arg),*),
            9 => $receiver.$method::<9>($($arg),*),
            10 => $receiver.$method::<10>($($arg),*),
            12 => $receiver.$method::<12>($($arg),*),
            15 => $receiver.$method::<15>($($arg),*),
            16 => $receiver.$method::<16>($($arg),*),
            20 => $receiver.$method::<20>($($arg),*),
            25 => $receiver.$method::<25>($($arg),*),
            _ => $otherwise,
        }
    };
}

/// Channels per block: four vectors, so one position's four accumulator chains share the
/// tap pointers computed for it.
const BLOCK: usize = 16;

/// `len` output positions of `channels` contiguous channels each, position `i` at
/// `output.offset(i * out_stride)`: channel `c` is `bias[c]` plus every
/// `kernel[tap_indices[t] * k_stride + c] * input[i * in_stride + offsets[t] + c]`.
///
/// # Safety
/// Every element that formula reads must be readable and every one it writes writable, for
/// every position below `len`, tap and channel; `offsets` is as long as `tap_indices`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn depthwise_c(
    input: *const f32,
    output: *mut f32,
    kernel: *const f32,
    tap_indices: &[usize],
    offsets: &[isize],
    bias: *const f32,
    channels: usize,
    k_stride: usize,
    len: usize,
    in_stride: isize,
    out_stride: isize,
) {
    let run = Run {
        input,
        output,
        kernel,
        tap_indices,
        offsets,
        bias,
        k_stride,
        len,
        in_stride,
        out_stride,
    };
    let vectors_end = channels - channels % 4;
    unsafe {
        let blocks_end = by_tap_count!(tap_indices.len(), run.blocks(channels), 0);
        run.vectors(blocks_end, vectors_end);
        run.scalars(vectors_end, channels);
    }
}

struct Run<'a> {
    input: *const f32,
    output: *mut f32,
    kernel: *const f32,
    tap_indices: &'a [usize],
    offsets: &'a [isize],
    bias: *const f32,
    k_stride: usize,
    len: usize,
    in_stride: isize,
    out_stride: isize,
}

impl Run<'_> {
    /// Blocks of 16 channels with `T` taps, as many as fit; returns where they stop.
    #[inline(always)]
    unsafe fn blocks<const T: usize>(&self, channels: usize) -> usize {
        let mut c = 0;
        while c + BLOCK <= channels {
            unsafe { self.block::<T>(c) };
            c += BLOCK;
        }
        c
    }

    /// Channels `c..c + 16`, every position.
    #[inline(always)]
    unsafe fn block<const T: usize>(&self, c: usize) {
        const V: usize = BLOCK / 4;
        unsafe {
            let weights: [[F32x4; V]; T] = std::array::from_fn(|t| {
                let w = self.kernel.add(self.tap_indices[t] * self.k_stride + c);
                std::array::from_fn(|v| simd::load(w.add(4 * v)))
            });
            let bias: [F32x4; V] = std::array::from_fn(|v| simd::load(self.bias.add(c + 4 * v)));
            let offsets: [isize; T] = std::array::from_fn(|t| self.offsets[t]);
            let (mut x, mut o) = (self.input.add(c), self.output.add(c));
            for _ in 0..self.len {
                // Opaque, the position's pointer is no induction variable to LLVM's loop
                // strength reduction, which would step one pointer per tap and compute every
                // vector's address with an `i32.add`; from it, each tap costs one add and its
                // vectors fold their offsets into the loads.
                let here = std::hint::black_box(x);
                let taps: [*const f32; T] = std::array::from_fn(|t| here.offset(offsets[t]));
                for v in 0..V {
                    let mut acc = bias[v];
                    for t in 0..T {
                        acc = simd::add(
                            acc,
                            simd::mul(simd::load(taps[t].add(4 * v)), weights[t][v]),
                        );
                    }
                    simd::store(o.add(4 * v), acc);
                }
                x = x.offset(self.in_stride);
                o = o.offset(self.out_stride);
            }
        }
    }

    /// Channels `from..end` (a multiple of 4 apart), four at a time, any tap count.
    unsafe fn vectors(&self, from: usize, end: usize) {
        unsafe {
            for c in (from..end).step_by(4) {
                let bias = simd::load(self.bias.add(c));
                let (mut x, mut o) = (self.input.add(c), self.output.add(c));
                for _ in 0..self.len {
                    let mut acc = bias;
                    for (&tap, &offset) in self.tap_indices.iter().zip(self.offsets) {
                        let w = simd::load(self.kernel.add(tap * self.k_stride + c));
                        acc = simd::add(acc, simd::mul(simd::load(x.offset(offset)), w));
                    }
                    simd::store(o, acc);
                    x = x.offset(self.in_stride);
                    o = o.offset(self.out_stride);
                }
            }
        }
    }

    /// The last `channels % 4` channels, one at a time.
    unsafe fn scalars(&self, from: usize, channels: usize) {
        unsafe {
            for c in from..channels {
                let (mut x, mut o) = (self.input.add(c), self.output.add(c));
                for _ in 0..self.len {
                    let mut sum = *self.bias.add(c);
                    for (&tap, &offset) in self.tap_indices.iter().zip(self.offsets) {
                        sum += *x.offset(offset) * *self.kernel.add(tap * self.k_stride + c);
                    }
                    *o = sum;
                    x = x.offset(self.in_stride);
                    o = o.offset(self.out_stride);
                }
            }
        }
    }
}

/// Output points per block of [`depthwise_w`]: eight vectors share the tap pointers.
const POINTS: usize = 32;

/// `len` output points from `output`, point `i` the bias plus every
/// `taps[t] * input[offsets[t] + i * in_stride]`. Vectorised when the input is contiguous too
/// (`in_stride == 1`); tract's kernel is scalar otherwise, and so is this one.
///
/// # Safety
/// `input.offset(offsets[t] + i * in_stride)` must be readable for every tap and every `i`
/// below `len`, and `len` values writable from `output`; `offsets` is as long as `taps`.
pub unsafe fn depthwise_w(
    input: *const f32,
    output: *mut f32,
    taps: &[f32],
    offsets: &[isize],
    bias: f32,
    len: usize,
    in_stride: isize,
) {
    let row = Row {
        input,
        output,
        taps,
        offsets,
        bias,
    };
    let mut vectors_end = 0;
    unsafe {
        if in_stride == 1 {
            let blocks_end = by_tap_count!(taps.len(), row.blocks(len), 0);
            vectors_end = row.vectors(blocks_end, len);
        }
        row.scalars(vectors_end, len, in_stride);
    }
}

struct Row<'a> {
    input: *const f32,
    output: *mut f32,
    taps: &'a [f32],
    offsets: &'a [isize],
    bias: f32,
}

impl Row<'_> {
    /// Blocks of 32 points with `T` taps, as many as fit in `len`; returns where they stop.
    #[inline(always)]
    unsafe fn blocks<const T: usize>(&self, len: usize) -> usize {
        let weights: [F32x4; T] = std::array::from_fn(|t| simd::splat(self.taps[t]));
        let offsets: [isize; T] = std::array::from_fn(|t| self.offsets[t]);
        let bias = simd::splat(self.bias);
        let mut i = 0;
        while i + POINTS <= len {
            unsafe { self.block(i, &weights, &offsets, bias) };
            i += POINTS;
        }
        i
    }

    /// Points `i..i + 32`.
    #[inline(always)]
    unsafe fn block<const T: usize>(
        &self,
        i: usize,
        weights: &[F32x4; T],
        offsets: &[isize; T],
        bias: F32x4,
    ) {
        unsafe {
            // Opaque for the reason given in `Run::block`.
            let here = std::hint::black_box(self.input.add(i));
            let taps: [*const f32; T] = std::array::from_fn(|t| here.offset(offsets[t]));
            let out = self.output.add(i);
            for v in 0..POINTS / 4 {
                let mut acc = bias;
                for t in 0..T {
                    acc = simd::add(acc, simd::mul(simd::load(taps[t].add(4 * v)), weights[t]));
                }
                simd::store(out.add(4 * v), acc);
            }
        }
    }

    /// Points from `from`, four at a time, any tap count, while a whole vector fits in `len`;
    /// returns where they stop. The last reads up to `offsets[t] + len - 1`, no further.
    unsafe fn vectors(&self, from: usize, len: usize) -> usize {
        let bias = simd::splat(self.bias);
        let mut i = from;
        unsafe {
            while i + 4 <= len {
                let mut acc = bias;
                for (&tap, &offset) in self.taps.iter().zip(self.offsets) {
                    let x = simd::load(self.input.offset(offset).add(i));
                    acc = simd::add(acc, simd::mul(x, simd::splat(tap)));
                }
                simd::store(self.output.add(i), acc);
                i += 4;
            }
        }
        i
    }

    /// Points `from..len`, one at a time.
    unsafe fn scalars(&self, from: usize, len: usize, in_stride: isize) {
        for i in from..len {
            let mut sum = self.bias;
            for (&tap, &offset) in self.taps.iter().zip(self.offsets) {
                sum += unsafe { *self.input.offset(offset + i as isize * in_stride) } * tap;
            }
            unsafe { *self.output.add(i) = sum };
        }
    }
}

#[cfg(test)]
mod tests;
