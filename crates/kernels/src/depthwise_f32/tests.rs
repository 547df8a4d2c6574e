use super::*;
use crate::tests::values;

/// Channel-last depthwise, as tract-linalg specifies `DepthwiseCF32`: the bias, then every tap
/// in order.
fn depthwise_reference(
    input: &[f32],
    kernel: &[f32],
    taps: &[(usize, isize)],
    bias: &[f32],
    k_stride: usize,
    (len, in_stride, out_stride): (usize, isize, isize),
) -> Vec<(usize, f32)> {
    let mut out = Vec::new();
    for i in 0..len {
        for (c, &b) in bias.iter().enumerate() {
            let mut sum = b;
            for &(tap, offset) in taps {
                let x = input[(i as isize * in_stride + offset) as usize + c];
                sum += x * kernel[tap * k_stride + c];
            }
            out.push(((i as isize * out_stride) as usize + c, sum));
        }
    }
    out
}

#[test]
fn depthwise_c_is_bit_identical_to_the_tap_ordered_sum_for_every_tap_count_and_width() {
    // 23 channels: a block of 16, a vector of 4, 3 single channels.
    let channels = 23;
    let k_stride = 24;
    let (len, in_stride, out_stride) = (5, 2 * channels as isize, channels as isize + 1);
    let input = values(64 * channels, 20);
    let kernel = values(9 * k_stride, 21);
    let bias = values(channels, 22);
    // A 3×3 window over rows of 8 positions, and the subsets a border zone keeps.
    let row = 8 * channels as isize;
    let window: Vec<(usize, isize)> = (0..9)
        .map(|t| {
            (
                t,
                (t / 3) as isize * row + (t % 3) as isize * channels as isize,
            )
        })
        .collect();
    for taps in [
        window.clone(),
        window[3..].to_vec(),
        vec![window[4], window[5], window[7], window[8]],
        window[..5].to_vec(),
    ] {
        let (tap_indices, offsets): (Vec<usize>, Vec<isize>) = taps.iter().copied().unzip();
        let mut output = vec![f32::NAN; (len - 1) * out_stride as usize + channels];
        // SAFETY: every read stays inside `input`, `kernel` and `bias`, every write in `output`.
        unsafe {
            depthwise_c(
                input.as_ptr(),
                output.as_mut_ptr(),
                kernel.as_ptr(),
                &tap_indices,
                &offsets,
                bias.as_ptr(),
                channels,
                k_stride,
                len,
                in_stride,
                out_stride,
            )
        };
        let expected = depthwise_reference(
            &input,
            &kernel,
            &taps,
            &bias,
            k_stride,
            (len, in_stride, out_stride),
        );
        for (at, value) in expected {
            assert_eq!(
                output[at].to_bits(),
                value.to_bits(),
                "{} taps, element {at}",
                taps.len()
            );
        }
    }
}

#[test]
fn depthwise_w_is_bit_identical_to_the_tap_ordered_sum_for_every_tap_count_and_stride() {
    // 32 + 2·4 + 3 points: a block, two vectors, then single points.
    let len = 43;
    let input = values(4 * 64, 23);
    let weights = values(9, 24);
    let bias = 0.375;
    let window: Vec<(f32, isize)> = (0..9)
        .map(|t| (weights[t], (t / 3) as isize * 64 + (t % 3) as isize))
        .collect();
    for in_stride in [1, 2] {
        let len = if in_stride == 1 { len } else { 20 };
        for taps in [
            window.clone(),
            window[3..].to_vec(),
            vec![window[4], window[5], window[7], window[8]],
            window[..5].to_vec(),
        ] {
            let (tap_weights, offsets): (Vec<f32>, Vec<isize>) = taps.iter().copied().unzip();
            let mut output = vec![f32::NAN; len];
            // SAFETY: the last point reads input[2·64 + 2 + (len - 1)·in_stride] at most.
            unsafe {
                depthwise_w(
                    input.as_ptr(),
                    output.as_mut_ptr(),
                    &tap_weights,
                    &offsets,
                    bias,
                    len,
                    in_stride,
                )
            };
            for (i, &got) in output.iter().enumerate() {
                let mut sum = bias;
                for &(w, offset) in &taps {
                    sum += input[(offset + i as isize * in_stride) as usize] * w;
                }
                assert_eq!(
                    got.to_bits(),
                    sum.to_bits(),
                    "{} taps, stride {in_stride}, point {i}",
                    taps.len()
                );
            }
        }
    }
}
