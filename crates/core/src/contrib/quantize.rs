//! onnxruntime's dynamic quantisation of a float matrix and its integer product, as its
//! CPU kernels compute them (`GetQuantizationParameter`, `MlasQuantizeLinear` and the
//! quantised GEMM of `rnn_helpers.cc`): the range is widened to include zero, the scale is
//! `(max - min) / 255`, the zero point `0 - min / scale` rounded half to even and
//! saturated; each value is `x / scale` rounded half to even, plus the zero point,
//! saturated to u8. The products are exact in i32, then scaled once in f32.

/// A float matrix quantised to u8 with one scale and zero point.
pub struct Quantized {
    pub values: Vec<u8>,
    pub scale: f32,
    pub zero_point: u8,
}

/// onnxruntime's `GetQuantizationParameter::<u8>` then `MlasQuantizeLinear`.
pub fn quantize(values: &[f32]) -> Quantized {
    let (mut min, mut max) = (f32::MAX, f32::MIN);
    for &v in values {
        min = min.min(v);
        max = max.max(v);
    }
    let min = min.min(0.0);
    let max = max.max(0.0);
    let scale = if max == min { 1.0 } else { (max - min) / 255.0 };
    let zero_point = (0.0 - min / scale).clamp(0.0, 255.0).round_ties_even() as u8;
    let values = values
        .iter()
        .map(|&v| ((v / scale).round_ties_even() + f32::from(zero_point)).clamp(0.0, 255.0) as u8)
        .collect();
    Quantized {
        values,
        scale,
        zero_point,
    }
}

/// A weight matrix `[k, n]` (row-major) with its zero point taken off, and its scales: one
/// for the matrix or one per column.
pub struct Weights {
    pub centered: Vec<i16>,
    pub k: usize,
    pub n: usize,
    pub scales: Vec<f32>,
}

impl Weights {
    /// `output[m, n] (+)= (a[m, :] - a.zero_point) · weights[:, n] · a.scale · scale[n]`
    /// for the `m` rows of `a`: onnxruntime's quantised GEMM with its scale-and-add output
    /// processor (`accumulate` adds to what `output` holds, as for the recurrent term).
    pub fn multiply(&self, a: &Quantized, m: usize, output: &mut [f32], accumulate: bool) {
        let multipliers: Vec<f32> = self.scales.iter().map(|s| a.scale * s).collect();
        let mut sums = vec![0i32; self.n];
        for row in 0..m {
            sums.iter_mut().for_each(|s| *s = 0);
            let a_row = &a.values[row * self.k..(row + 1) * self.k];
            for (kk, &q) in a_row.iter().enumerate() {
                let centered = i32::from(q) - i32::from(a.zero_point);
                if centered == 0 {
                    continue;
                }
                let w_row = &self.centered[kk * self.n..(kk + 1) * self.n];
                for (sum, &w) in sums.iter_mut().zip(w_row) {
                    *sum += centered * i32::from(w);
                }
            }
            let out = &mut output[row * self.n..(row + 1) * self.n];
            for (column, (o, &sum)) in out.iter_mut().zip(&sums).enumerate() {
                let multiplier = multipliers[if multipliers.len() == 1 { 0 } else { column }];
                let value = sum as f32 * multiplier;
                *o = if accumulate { *o + value } else { value };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_rounding_follow_onnxruntime() {
        // min -1, max 3: scale 4/255, zero point 63.75 -> 64; 0.5/scale = 31.875 -> 32 + 64.
        let q = quantize(&[-1.0, 3.0, 0.5, 0.0]);
        assert_eq!(q.scale, 4.0 / 255.0);
        assert_eq!(q.zero_point, 64);
        assert_eq!(q.values, vec![0, 255, 96, 64]);
        // All zero: scale 1, zero point 0 (the first step of a recurrence).
        let zero = quantize(&[0.0; 3]);
        assert_eq!(
            (zero.scale, zero.zero_point, zero.values),
            (1.0, 0, vec![0; 3])
        );
        // Positive only: the range is widened to include zero, so zero maps to 0; scale
        // 255/255 = 1 makes exact ties, which round to even.
        let positive = quantize(&[255.0, 0.5, 1.5, 2.5]);
        assert_eq!((positive.scale, positive.zero_point), (1.0, 0));
        assert_eq!(positive.values, vec![255, 0, 2, 2]);
    }

    #[test]
    fn the_integer_product_is_exact_then_scaled() {
        let a = Quantized {
            values: vec![10, 0, 5, 5],
            scale: 0.5,
            zero_point: 5,
        };
        let weights = Weights {
            centered: vec![1, -2, 3, 4],
            k: 2,
            n: 2,
            scales: vec![2.0, 4.0],
        };
        let mut out = vec![1.0; 4];
        weights.multiply(&a, 2, &mut out, true);
        // row 0: (5, -5) · [[1, -2], [3, 4]] = (-10, -30); times 0.5·(2, 4) = (-10, -60), plus 1.
        // row 1: (0, 0) -> 0, plus 1.
        assert_eq!(out, vec![-9.0, -59.0, 1.0, 1.0]);
    }
}
