//! Byte planes as the quantised depthwise convolution and the int8 im2col of icinfer-core
//! read them: a plane inside a border of its zero point, rows gathered at a stride, rows
//! copied in a few fixed-size copies.

use crate::simd;

/// A buffer that holds one input plane at a time surrounded by its zero point, for [`Plane`](crate::depthwise_i8::Plane).
pub struct Padding {
    bytes: Vec<u8>,
    /// Of a padded row.
    width: usize,
    /// Where the plane's first byte goes.
    start: usize,
}

impl Padding {
    /// For planes of `height × width` bytes, with rows and columns of `x0` before and after.
    pub fn new(
        [height, width]: [usize; 2],
        pad_before: [usize; 2],
        pad_after: [usize; 2],
        x0: u8,
    ) -> Padding {
        let padded_width = pad_before[1] + width + pad_after[1];
        let padded_height = pad_before[0] + height + pad_after[0];
        // The 32 bytes after the last row let the kernels read whole vectors past it.
        Padding {
            bytes: vec![x0; padded_height * padded_width + 32],
            width: padded_width,
            start: pad_before[0] * padded_width + pad_before[1],
        }
    }

    /// Puts `plane`, rows of `width` bytes, inside the border (see [`copy_row`]).
    pub fn fill(&mut self, plane: &[u8], width: usize) {
        for (y, row) in plane.chunks_exact(width).enumerate() {
            copy_row(&mut self.bytes[self.start + y * self.width..][..width], row);
        }
    }

    /// The padded plane, for [`Plane::padded`](crate::depthwise_i8::Plane::padded).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The width of a padded row, for [`Plane::width`](crate::depthwise_i8::Plane::width).
    pub fn width(&self) -> usize {
        self.width
    }
}

/// `out[j] = row[j·stride]` for every j of `out`, stride 1 or 2: eight bytes at a time while
/// `row` has sixteen readable bytes past the eight's first, then one at a time.
pub fn gather_row(row: &[u8], stride: usize, out: &mut [u8]) {
    assert!(matches!(stride, 1 | 2) && (out.len() - 1) * stride < row.len());
    let mut j = 0;
    while j + 8 <= out.len() && j * stride + 16 <= row.len() {
        // SAFETY: sixteen bytes from j·stride in `row`, eight from j in `out`.
        unsafe {
            let (from, into) = (row.as_ptr().add(j * stride), out.as_mut_ptr().add(j));
            if stride == 1 {
                into.copy_from_nonoverlapping(from, 8)
            } else {
                simd::copy_every_other_8(from, into)
            }
        }
        j += 8;
    }
    for (j, byte) in out.iter_mut().enumerate().skip(j) {
        *byte = row[j * stride];
    }
}

/// `into.copy_from_slice(from)` in a few copies of a fixed size, the last one ending where the
/// row ends (overlapping the one before): 16 bytes at a time from 16 bytes, two of 8 from 8,
/// two of 4 from 4. A call to `memcpy` costs `memory.copy`'s weight of 100 a row, most of the
/// cost of the short rows of small feature maps.
pub fn copy_row(into: &mut [u8], from: &[u8]) {
    let n = from.len();
    assert_eq!(into.len(), n);
    let (from, into) = (from.as_ptr(), into.as_mut_ptr());
    // SAFETY: every copy is of bytes 0..n of both.
    unsafe {
        if n >= 16 {
            let mut at = 0;
            while at + 16 < n {
                simd::copy_16(from.add(at), into.add(at));
                at += 16;
            }
            simd::copy_16(from.add(n - 16), into.add(n - 16));
        } else if n >= 8 {
            for at in [0, n - 8] {
                (into.add(at) as *mut u64)
                    .write_unaligned((from.add(at) as *const u64).read_unaligned());
            }
        } else if n >= 4 {
            for at in [0, n - 4] {
                (into.add(at) as *mut u32)
                    .write_unaligned((from.add(at) as *const u32).read_unaligned());
            }
        } else {
            for at in 0..n {
                into.add(at).write(from.add(at).read());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_row_takes_every_stride_th_byte_whole_eights_and_tail_alike() {
        let row: Vec<u8> = (0..80).map(|i| (i * 37 + 3) as u8).collect();
        for stride in [1, 2] {
            for (len, room) in [(1, 1), (7, 13), (8, 16), (8, 15), (13, 40), (27, 80)] {
                let mut out = vec![0; len];
                gather_row(&row[..room.max((len - 1) * stride + 1)], stride, &mut out);
                let want: Vec<u8> = (0..len).map(|j| row[j * stride]).collect();
                assert_eq!(out, want, "stride {stride}, {len} of {room}");
            }
        }
    }
}
