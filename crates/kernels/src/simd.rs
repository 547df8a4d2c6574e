//! The handful of f32x4 operations the kernels use, and the integer ones of the int8 kernel:
//! Wasm SIMD on wasm32, plain arrays elsewhere, so the kernels' logic is tested natively with
//! the same source.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use std::arch::wasm32::*;

    pub type F32x4 = v128;

    #[inline(always)]
    pub fn splat(x: f32) -> F32x4 {
        f32x4_splat(x)
    }
    /// `v128.load32_splat`: one load that broadcasts (weight 1), where a lane shuffle of an
    /// already loaded vector weighs 3.
    #[inline(always)]
    pub unsafe fn load_splat(p: *const f32) -> F32x4 {
        unsafe { v128_load32_splat(p as *const u32) }
    }
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> F32x4 {
        unsafe { v128_load(p as *const v128) }
    }
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, v: F32x4) {
        unsafe { v128_store(p as *mut v128, v) }
    }
    #[inline(always)]
    pub fn lane(v: F32x4, i: usize) -> f32 {
        match i {
            0 => f32x4_extract_lane::<0>(v),
            1 => f32x4_extract_lane::<1>(v),
            2 => f32x4_extract_lane::<2>(v),
            _ => f32x4_extract_lane::<3>(v),
        }
    }
    #[inline(always)]
    pub fn from_lanes(l: [f32; 4]) -> F32x4 {
        f32x4(l[0], l[1], l[2], l[3])
    }
    #[inline(always)]
    pub fn add(a: F32x4, b: F32x4) -> F32x4 {
        f32x4_add(a, b)
    }
    #[inline(always)]
    pub fn sub(a: F32x4, b: F32x4) -> F32x4 {
        f32x4_sub(a, b)
    }
    #[inline(always)]
    pub fn mul(a: F32x4, b: F32x4) -> F32x4 {
        f32x4_mul(a, b)
    }
    #[inline(always)]
    pub fn min(a: F32x4, b: F32x4) -> F32x4 {
        f32x4_min(a, b)
    }
    #[inline(always)]
    pub fn max(a: F32x4, b: F32x4) -> F32x4 {
        f32x4_max(a, b)
    }
    /// Lanes above zero keep their value, the others are multiplied by `alpha`.
    #[inline(always)]
    pub fn leaky_relu(v: F32x4, alpha: F32x4) -> F32x4 {
        v128_bitselect(v, f32x4_mul(alpha, v), f32x4_gt(v, f32x4_splat(0.0)))
    }
    /// NaN lanes (the ones unequal to themselves) replaced by `replacement`'s.
    #[inline(always)]
    pub fn replace_nan(v: F32x4, replacement: F32x4) -> F32x4 {
        v128_bitselect(replacement, v, f32x4_ne(v, v))
    }

    /// `b < a ? b : a` (`f32x4.pmin`, weight 1, where `f32x4.min` weighs 4).
    #[inline(always)]
    pub fn pmin(a: F32x4, b: F32x4) -> F32x4 {
        f32x4_pmin(a, b)
    }
    /// `a < b ? b : a` (`f32x4.pmax`).
    #[inline(always)]
    pub fn pmax(a: F32x4, b: F32x4) -> F32x4 {
        f32x4_pmax(a, b)
    }
    /// Sixteen bytes at `p` (i8 if `signed`, else u8) minus `zero_point`, as four f32x4.
    #[inline(always)]
    pub unsafe fn load_x16_centred(p: *const u8, signed: bool, zero_point: I32x4) -> [F32x4; 4] {
        let x = unsafe { v128_load(p as *const v128) };
        let (low, high) = if signed {
            (i16x8_extend_low_i8x16(x), i16x8_extend_high_i8x16(x))
        } else {
            (u16x8_extend_low_u8x16(x), u16x8_extend_high_u8x16(x))
        };
        [
            i32x4_extend_low_i16x8(low),
            i32x4_extend_high_i16x8(low),
            i32x4_extend_low_i16x8(high),
            i32x4_extend_high_i16x8(high),
        ]
        .map(|q| f32x4_convert_i32x4(i32x4_sub(q, zero_point)))
    }
    /// Sixteen f32, each `round_ties_even(x · scale)` saturated to i32 (NaN to 0), plus
    /// `zero_point` (wrapping), saturated to u8, to sixteen bytes at `out`.
    #[inline(always)]
    pub unsafe fn store_quantised_u8x16(
        x: [F32x4; 4],
        scale: F32x4,
        zero_point: I32x4,
        out: *mut u8,
    ) {
        let q = x.map(|x| {
            i32x4_add(
                i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(x, scale))),
                zero_point,
            )
        });
        let low = i16x8_narrow_i32x4(q[0], q[1]);
        let high = i16x8_narrow_i32x4(q[2], q[3]);
        unsafe { v128_store(out as *mut v128, u8x16_narrow_i16x8(low, high)) }
    }
    /// Sixteen values, each `round_ties_even(x / scale)` (or `x · scale`) saturated to i32
    /// (NaN to 0, as Rust's `as i32`), plus `zero_point` (wrapping), saturated to u8 by the two
    /// narrowings.
    #[inline(always)]
    pub unsafe fn quantise_u8x16(
        p: *const f32,
        divide: bool,
        scale: F32x4,
        zero_point: I32x4,
        out: *mut u8,
    ) {
        let q = |offset: usize| {
            let x = unsafe { v128_load(p.add(offset) as *const v128) };
            let scaled = if divide {
                f32x4_div(x, scale)
            } else {
                f32x4_mul(x, scale)
            };
            i32x4_add(i32x4_trunc_sat_f32x4(f32x4_nearest(scaled)), zero_point)
        };
        let low = i16x8_narrow_i32x4(q(0), q(4));
        let high = i16x8_narrow_i32x4(q(8), q(12));
        unsafe { v128_store(out as *mut v128, u8x16_narrow_i16x8(low, high)) }
    }
    /// Sixteen bytes (i8 if `signed`, else u8) as `(x − zero_point) as f32 · scale`.
    #[inline(always)]
    pub unsafe fn dequantise_x16(
        p: *const u8,
        signed: bool,
        zero_point: I32x4,
        scale: F32x4,
        out: *mut f32,
    ) {
        let x = unsafe { v128_load(p as *const v128) };
        let (low, high) = if signed {
            (i16x8_extend_low_i8x16(x), i16x8_extend_high_i8x16(x))
        } else {
            (u16x8_extend_low_u8x16(x), u16x8_extend_high_u8x16(x))
        };
        // i16 lanes holding u8 or i8 values: the signed widening is exact either way.
        let quarters = [
            i32x4_extend_low_i16x8(low),
            i32x4_extend_high_i16x8(low),
            i32x4_extend_low_i16x8(high),
            i32x4_extend_high_i16x8(high),
        ];
        for (q, quarter) in quarters.into_iter().enumerate() {
            let y = f32x4_mul(f32x4_convert_i32x4(i32x4_sub(quarter, zero_point)), scale);
            unsafe { v128_store(out.add(4 * q) as *mut v128, y) };
        }
    }

    pub type I16x8 = v128;
    pub type I32x4 = v128;

    /// What the depthwise kernel keeps in locals: two byte shuffles as `i8x16.swizzle`
    /// indices, opaque to LLVM, which otherwise emits them as `i8x16.shuffle` (weight 3, where
    /// a swizzle weighs 1) and narrows the 16-byte load that feeds the first into three
    /// instructions; and the bounds of the output type, in i16.
    #[derive(Clone, Copy)]
    pub struct DepthwiseLanes {
        /// [0, 1, 1, 2, … 7, 8]: the neighbour pairs of eight bytes.
        neighbours: v128,
        /// [0, 2, 4, … 14]: the low byte of each i16.
        low_bytes: v128,
        lower: v128,
        upper: v128,
    }
    pub fn depthwise_lanes(signed_output: bool) -> DepthwiseLanes {
        let (lower, upper) = if signed_output { (-128, 127) } else { (0, 255) };
        let (neighbours, low_bytes) = std::hint::black_box((
            i8x16(0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8),
            i8x16(0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14),
        ));
        DepthwiseLanes {
            neighbours,
            low_bytes,
            lower: i16x8_splat(lower),
            upper: i16x8_splat(upper),
        }
    }
    /// For eight outputs j of a row, two taps' inputs interleaved and widened to i16, outputs
    /// 0–3 then 4–7: [x(a + j·STRIDE), x(b + j·STRIDE)] for taps read from `a` and `b`, i8 if
    /// SIGNED, else u8. Adjacent taps (b = a + 1) come from one load; 16 bytes are read from
    /// each of `a` and `b`.
    #[inline(always)]
    pub unsafe fn tap_pairs<const STRIDE: usize, const ADJACENT: bool, const SIGNED: bool>(
        a: *const u8,
        b: *const u8,
        lanes: &DepthwiseLanes,
    ) -> (I16x8, I16x8) {
        let bytes = unsafe {
            let load = |p: *const u8| v128_load(p as *const v128);
            match (STRIDE, ADJACENT) {
                (1, true) => i8x16_swizzle(load(a), lanes.neighbours),
                (1, false) => {
                    i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(
                        load(a),
                        load(b),
                    )
                }
                // With stride 2, output j's two adjacent taps are bytes 2j and 2j + 1.
                (_, true) => load(a),
                (_, false) => {
                    i8x16_shuffle::<0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30>(
                        load(a),
                        load(b),
                    )
                }
            }
        };
        if SIGNED {
            (
                i16x8_extend_low_i8x16(bytes),
                i16x8_extend_high_i8x16(bytes),
            )
        } else {
            (
                u16x8_extend_low_u8x16(bytes),
                u16x8_extend_high_u8x16(bytes),
            )
        }
    }
    /// Eight i32 saturated to the output type, as eight bytes at `out`.
    #[inline(always)]
    pub unsafe fn store_clamped_x8(a: I32x4, b: I32x4, lanes: &DepthwiseLanes, out: *mut u8) {
        let clamped = i16x8_min(
            i16x8_max(i16x8_narrow_i32x4(a, b), lanes.lower),
            lanes.upper,
        );
        let bytes = i8x16_swizzle(clamped, lanes.low_bytes);
        unsafe { v128_store64_lane::<0>(bytes, out as *mut u64) };
    }
    /// Sixteen bytes from `from` to `into`: one vector load and store. The store is volatile
    /// so that LLVM cannot turn a loop of these into `memory.copy` (weight 100 plus a byte).
    #[inline(always)]
    pub unsafe fn copy_16(from: *const u8, into: *mut u8) {
        unsafe { std::ptr::write_volatile(into as *mut v128, v128_load(from as *const v128)) }
    }
    /// Eight bytes from each of four rows, interleaved column by column into 32 bytes at
    /// `out`: `out[4·m + r] = rows[r][m]` (tract-linalg's `PackedI8K4` for eight columns).
    #[inline(always)]
    pub unsafe fn interleave_4x8(rows: [*const u8; 4], out: *mut u8) {
        unsafe {
            let pair = |a: *const u8, b: *const u8| {
                v128_load64_lane::<1>(v128_load64_zero(a as *const u64), b as *const u64)
            };
            let (r01, r23) = (pair(rows[0], rows[1]), pair(rows[2], rows[3]));
            let low =
                i8x16_shuffle::<0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27>(r01, r23);
            let high = i8x16_shuffle::<4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31>(
                r01, r23,
            );
            v128_store(out as *mut v128, low);
            v128_store(out.add(16) as *mut v128, high);
        }
    }
    /// Every other byte of the sixteen at `from`, as eight bytes at `into`.
    #[inline(always)]
    pub unsafe fn copy_every_other_8(from: *const u8, into: *mut u8) {
        unsafe {
            let v = v128_load(from as *const v128);
            let even = i8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14>(v, v);
            v128_store64_lane::<0>(even, into as *mut u64);
        }
    }
    /// [first, second, first, second, …].
    #[inline(always)]
    pub fn i16_pairs(first: i16, second: i16) -> I16x8 {
        i32x4_splat(i32::from(first as u16) | i32::from(second as u16) << 16)
    }
    /// The lanes' magnitudes or-ed together, for one [`below_2_22`] of many vectors: the or
    /// is under 2²² exactly when every magnitude is (|i32::MIN| stays negative, so it fails).
    #[inline(always)]
    pub fn or_magnitudes<const N: usize>(vectors: [I32x4; N]) -> I32x4 {
        vectors
            .into_iter()
            .fold(i32x4_splat(0), |acc, v| v128_or(acc, i32x4_abs(v)))
    }
    /// Whether every lane lies strictly between −2²² and 2²².
    #[inline(always)]
    pub fn below_2_22(v: I32x4) -> bool {
        // Unsigned, so that |i32::MIN|, which stays i32::MIN, counts as 2³¹.
        i32x4_all_true(u32x4_lt(i32x4_abs(v), i32x4_splat(1 << 22)))
    }
    #[inline(always)]
    pub unsafe fn load_i32(p: *const i32) -> I32x4 {
        unsafe { v128_load(p as *const v128) }
    }
    #[inline(always)]
    pub unsafe fn store_i32(p: *mut i32, v: I32x4) {
        unsafe { v128_store(p as *mut v128, v) }
    }
    /// Four i8 at `p`, sign-extended to i32.
    #[inline(always)]
    pub unsafe fn load_i8x4_as_i32(p: *const u8) -> I32x4 {
        let v = unsafe { v128_load32_zero(p as *const u32) };
        i32x4_extend_low_i16x8(i16x8_extend_low_i8x16(v))
    }
    /// Four rows of four columns, as the low byte of each lane (`as i8`, wrapping), to memory
    /// where a column's four rows are contiguous: column `l` at `p + l·col_stride`.
    #[inline(always)]
    pub unsafe fn store_columns_low_bytes(rows: [I32x4; 4], p: *mut u8, col_stride: isize) {
        let [a, b, c, d] = rows;
        // [a0 b0 a1 b1 a2 b2 a3 b3] and [c0 d0 …], then [a0 b0 c0 d0 a1 b1 c1 d1 …].
        let ab = i8x16_shuffle::<0, 16, 4, 20, 8, 24, 12, 28, 0, 16, 4, 20, 8, 24, 12, 28>(a, b);
        let cd = i8x16_shuffle::<0, 16, 4, 20, 8, 24, 12, 28, 0, 16, 4, 20, 8, 24, 12, 28>(c, d);
        let columns =
            i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(ab, cd);
        unsafe {
            v128_store32_lane::<0>(columns, p as *mut u32);
            v128_store32_lane::<1>(columns, p.offset(col_stride) as *mut u32);
            v128_store32_lane::<2>(columns, p.offset(2 * col_stride) as *mut u32);
            v128_store32_lane::<3>(columns, p.offset(3 * col_stride) as *mut u32);
        }
    }
    /// The low byte of each lane (`as i8`, wrapping) to four bytes at `p`.
    #[inline(always)]
    pub unsafe fn store_low_bytes(p: *mut u8, v: I32x4) {
        let bytes = i8x16_shuffle::<0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12>(v, v);
        unsafe { v128_store32_lane::<0>(bytes, p as *mut u32) }
    }
    #[inline(always)]
    pub fn sub_i32(a: I32x4, b: I32x4) -> I32x4 {
        i32x4_sub(a, b)
    }
    #[inline(always)]
    pub fn mul_i32(a: I32x4, b: I32x4) -> I32x4 {
        i32x4_mul(a, b)
    }
    #[inline(always)]
    pub fn min_i32(a: I32x4, b: I32x4) -> I32x4 {
        i32x4_min(a, b)
    }
    #[inline(always)]
    pub fn max_i32(a: I32x4, b: I32x4) -> I32x4 {
        i32x4_max(a, b)
    }
    #[inline(always)]
    pub fn shl_i32(v: I32x4, shift: u32) -> I32x4 {
        i32x4_shl(v, shift)
    }
    /// Lanes above zero keep their value, the others are multiplied by `alpha`.
    #[inline(always)]
    pub fn leaky_relu_i32(v: I32x4, alpha: I32x4) -> I32x4 {
        v128_bitselect(v, i32x4_mul(alpha, v), i32x4_gt(v, i32x4_splat(0)))
    }
    /// `round_ties_even(x · factor)` per lane, computed in f64 (exact when |x| < 2²² and the
    /// factor has at most 31 significant bits). Adding 1.5·2⁵² rounds to an integer, ties to
    /// even, and leaves it in the low 32 bits of the f64: no conversion back to i32, which
    /// LLVM would split into four `i32.trunc_sat_f64_s` of weight 20. Made once per tile or
    /// plane: lanes 2 and 3 come down to 0 and 1 with an `i8x16.swizzle` (weight 1) whose
    /// index LLVM cannot see, where it emits a shuffle of weight 3.
    #[derive(Clone, Copy)]
    pub struct ScaledRounded {
        factor: v128,
        high_lanes: v128,
    }
    impl ScaledRounded {
        pub fn new(factor: f64) -> ScaledRounded {
            ScaledRounded {
                factor: f64x2_splat(factor),
                high_lanes: std::hint::black_box(i8x16(
                    8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15,
                )),
            }
        }
        #[inline(always)]
        pub fn apply(&self, x: I32x4) -> I32x4 {
            const MAGIC: f64 = 6_755_399_441_055_744.0;
            let magic = f64x2_splat(MAGIC);
            let scaled = |v| f64x2_add(f64x2_mul(f64x2_convert_low_i32x4(v), self.factor), magic);
            let (low, high) = (scaled(x), scaled(i8x16_swizzle(x, self.high_lanes)));
            i32x4_shuffle::<0, 2, 4, 6>(low, high)
        }
    }

    #[inline(always)]
    pub fn i32_splat(x: i32) -> I32x4 {
        i32x4_splat(x)
    }

    #[inline(always)]
    pub fn i32_zero() -> I32x4 {
        i32x4_splat(0)
    }
    /// The four i8 at `p` widened to i16, twice: [p0 p1 p2 p3 p0 p1 p2 p3] (a load and a
    /// widening, weight 1 each).
    #[inline(always)]
    pub unsafe fn load_i8x4_twice(p: *const i8) -> I16x8 {
        unsafe { i16x8_extend_low_i8x16(v128_load32_splat(p as *const u32)) }
    }
    /// The sixteen i8 at `p` widened to i16: the first eight, and the last eight.
    #[inline(always)]
    pub unsafe fn load_i8x16_widened(p: *const i8) -> (I16x8, I16x8) {
        let v = unsafe { v128_load(p as *const v128) };
        (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v))
    }
    /// [a0·b0 + a1·b1, a2·b2 + a3·b3, …]: `i32x4.dot_i16x8_s`.
    #[inline(always)]
    pub fn dot(a: I16x8, b: I16x8) -> I32x4 {
        i32x4_dot_i16x8(a, b)
    }
    #[inline(always)]
    pub fn add_i32(a: I32x4, b: I32x4) -> I32x4 {
        i32x4_add(a, b)
    }
    /// [a0 + a1, a2 + a3, b0 + b1, b2 + b3].
    #[inline(always)]
    pub fn pair_sums(a: I32x4, b: I32x4) -> I32x4 {
        i32x4_add(
            i32x4_shuffle::<0, 2, 4, 6>(a, b),
            i32x4_shuffle::<1, 3, 5, 7>(a, b),
        )
    }
    #[inline(always)]
    pub fn i32_from_lanes(l: [i32; 4]) -> I32x4 {
        i32x4(l[0], l[1], l[2], l[3])
    }
    #[inline(always)]
    pub fn i32_lanes(v: I32x4) -> [i32; 4] {
        [
            i32x4_extract_lane::<0>(v),
            i32x4_extract_lane::<1>(v),
            i32x4_extract_lane::<2>(v),
            i32x4_extract_lane::<3>(v),
        ]
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    pub type F32x4 = [f32; 4];

    fn map2(a: F32x4, b: F32x4, f: impl Fn(f32, f32) -> f32) -> F32x4 {
        [f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2]), f(a[3], b[3])]
    }
    pub fn splat(x: f32) -> F32x4 {
        [x; 4]
    }
    pub unsafe fn load_splat(p: *const f32) -> F32x4 {
        [unsafe { p.read_unaligned() }; 4]
    }
    pub unsafe fn load(p: *const f32) -> F32x4 {
        unsafe { (p as *const F32x4).read_unaligned() }
    }
    pub unsafe fn store(p: *mut f32, v: F32x4) {
        unsafe { (p as *mut F32x4).write_unaligned(v) }
    }
    pub fn lane(v: F32x4, i: usize) -> f32 {
        v[i]
    }
    pub fn from_lanes(l: [f32; 4]) -> F32x4 {
        l
    }
    pub fn add(a: F32x4, b: F32x4) -> F32x4 {
        map2(a, b, |x, y| x + y)
    }
    pub fn sub(a: F32x4, b: F32x4) -> F32x4 {
        map2(a, b, |x, y| x - y)
    }
    pub fn mul(a: F32x4, b: F32x4) -> F32x4 {
        map2(a, b, |x, y| x * y)
    }
    pub fn min(a: F32x4, b: F32x4) -> F32x4 {
        map2(a, b, f32::min)
    }
    pub fn max(a: F32x4, b: F32x4) -> F32x4 {
        map2(a, b, f32::max)
    }
    pub fn leaky_relu(v: F32x4, alpha: F32x4) -> F32x4 {
        map2(v, alpha, |x, a| if x > 0.0 { x } else { a * x })
    }
    pub fn replace_nan(v: F32x4, replacement: F32x4) -> F32x4 {
        map2(v, replacement, |x, r| if x.is_nan() { r } else { x })
    }

    pub fn pmin(a: F32x4, b: F32x4) -> F32x4 {
        map2(a, b, |a, b| if b < a { b } else { a })
    }
    pub fn pmax(a: F32x4, b: F32x4) -> F32x4 {
        map2(a, b, |a, b| if a < b { b } else { a })
    }
    pub unsafe fn load_x16_centred(p: *const u8, signed: bool, zero_point: I32x4) -> [F32x4; 4] {
        std::array::from_fn(|v| {
            std::array::from_fn(|l| {
                let byte = unsafe { p.add(4 * v + l).read() };
                let x = if signed {
                    i32::from(byte as i8)
                } else {
                    i32::from(byte)
                };
                (x - zero_point[0]) as f32
            })
        })
    }
    pub unsafe fn store_quantised_u8x16(
        x: [F32x4; 4],
        scale: F32x4,
        zero_point: I32x4,
        out: *mut u8,
    ) {
        for (l, &x) in x.as_flattened().iter().enumerate() {
            let q = ((x * scale[0]).round_ties_even() as i32).wrapping_add(zero_point[0]);
            unsafe { out.add(l).write(q.clamp(0, 255) as u8) };
        }
    }
    pub unsafe fn quantise_u8x16(
        p: *const f32,
        divide: bool,
        scale: F32x4,
        zero_point: I32x4,
        out: *mut u8,
    ) {
        for l in 0..16 {
            let x = unsafe { p.add(l).read_unaligned() };
            let scaled = if divide { x / scale[0] } else { x * scale[0] };
            let q = (scaled.round_ties_even() as i32).wrapping_add(zero_point[0]);
            unsafe { out.add(l).write(q.clamp(0, 255) as u8) };
        }
    }
    pub unsafe fn dequantise_x16(
        p: *const u8,
        signed: bool,
        zero_point: I32x4,
        scale: F32x4,
        out: *mut f32,
    ) {
        for l in 0..16 {
            let byte = unsafe { p.add(l).read() };
            let x = if signed {
                i32::from(byte as i8)
            } else {
                i32::from(byte)
            };
            unsafe { out.add(l).write((x - zero_point[0]) as f32 * scale[0]) };
        }
    }

    pub type I16x8 = [i16; 8];
    pub type I32x4 = [i32; 4];

    fn widen(byte: u8, signed: bool) -> i16 {
        if signed {
            i16::from(byte as i8)
        } else {
            i16::from(byte)
        }
    }
    #[derive(Clone, Copy)]
    pub struct DepthwiseLanes {
        lower: i32,
        upper: i32,
    }
    pub fn depthwise_lanes(signed_output: bool) -> DepthwiseLanes {
        let (lower, upper) = if signed_output { (-128, 127) } else { (0, 255) };
        DepthwiseLanes { lower, upper }
    }
    pub unsafe fn tap_pairs<const STRIDE: usize, const ADJACENT: bool, const SIGNED: bool>(
        a: *const u8,
        b: *const u8,
        _lanes: &DepthwiseLanes,
    ) -> (I16x8, I16x8) {
        let b = if ADJACENT { a.wrapping_add(1) } else { b };
        let lane = |l: usize| {
            let (j, tap) = (l / 2, if l.is_multiple_of(2) { a } else { b });
            widen(unsafe { tap.add(j * STRIDE).read() }, SIGNED)
        };
        (
            std::array::from_fn(lane),
            std::array::from_fn(|l| lane(8 + l)),
        )
    }
    pub unsafe fn copy_16(from: *const u8, into: *mut u8) {
        unsafe { into.copy_from_nonoverlapping(from, 16) }
    }
    pub unsafe fn interleave_4x8(rows: [*const u8; 4], out: *mut u8) {
        for i in 0..32 {
            unsafe { out.add(i).write(rows[i % 4].add(i / 4).read()) };
        }
    }
    pub unsafe fn copy_every_other_8(from: *const u8, into: *mut u8) {
        for j in 0..8 {
            unsafe { into.add(j).write(from.add(2 * j).read()) };
        }
    }
    pub fn i16_pairs(first: i16, second: i16) -> I16x8 {
        std::array::from_fn(|l| if l.is_multiple_of(2) { first } else { second })
    }
    pub fn or_magnitudes<const N: usize>(vectors: [I32x4; N]) -> I32x4 {
        vectors.into_iter().fold([0; 4], |acc, v| {
            std::array::from_fn(|l| acc[l] | v[l].wrapping_abs())
        })
    }
    pub fn below_2_22(v: I32x4) -> bool {
        v.iter().all(|x| x.unsigned_abs() < 1 << 22)
    }
    pub unsafe fn load_i32(p: *const i32) -> I32x4 {
        unsafe { (p as *const I32x4).read_unaligned() }
    }
    pub unsafe fn store_i32(p: *mut i32, v: I32x4) {
        unsafe { (p as *mut I32x4).write_unaligned(v) }
    }
    pub unsafe fn load_i8x4_as_i32(p: *const u8) -> I32x4 {
        std::array::from_fn(|l| i32::from(unsafe { p.add(l).read() } as i8))
    }
    pub unsafe fn store_columns_low_bytes(rows: [I32x4; 4], p: *mut u8, col_stride: isize) {
        for (r, row) in rows.iter().enumerate() {
            for (l, x) in row.iter().enumerate() {
                unsafe {
                    p.offset(l as isize * col_stride + r as isize)
                        .write(*x as u8)
                };
            }
        }
    }
    pub unsafe fn store_low_bytes(p: *mut u8, v: I32x4) {
        for (l, x) in v.iter().enumerate() {
            unsafe { p.add(l).write(*x as u8) };
        }
    }
    fn map2_i32(a: I32x4, b: I32x4, f: impl Fn(i32, i32) -> i32) -> I32x4 {
        std::array::from_fn(|l| f(a[l], b[l]))
    }
    pub fn sub_i32(a: I32x4, b: I32x4) -> I32x4 {
        map2_i32(a, b, i32::wrapping_sub)
    }
    pub fn mul_i32(a: I32x4, b: I32x4) -> I32x4 {
        map2_i32(a, b, i32::wrapping_mul)
    }
    pub fn min_i32(a: I32x4, b: I32x4) -> I32x4 {
        map2_i32(a, b, i32::min)
    }
    pub fn max_i32(a: I32x4, b: I32x4) -> I32x4 {
        map2_i32(a, b, i32::max)
    }
    pub fn shl_i32(v: I32x4, shift: u32) -> I32x4 {
        v.map(|x| x.wrapping_shl(shift))
    }
    pub fn leaky_relu_i32(v: I32x4, alpha: I32x4) -> I32x4 {
        map2_i32(v, alpha, |x, a| if x > 0 { x } else { a.wrapping_mul(x) })
    }
    #[derive(Clone, Copy)]
    pub struct ScaledRounded {
        factor: f64,
    }
    impl ScaledRounded {
        pub fn new(factor: f64) -> ScaledRounded {
            ScaledRounded { factor }
        }
        pub fn apply(&self, x: I32x4) -> I32x4 {
            x.map(|x| (f64::from(x) * self.factor).round_ties_even() as i32)
        }
    }
    pub unsafe fn store_clamped_x8(a: I32x4, b: I32x4, lanes: &DepthwiseLanes, out: *mut u8) {
        for (l, x) in a.iter().chain(&b).enumerate() {
            unsafe { out.add(l).write((*x).clamp(lanes.lower, lanes.upper) as u8) };
        }
    }

    pub fn i32_splat(x: i32) -> I32x4 {
        [x; 4]
    }

    pub fn i32_zero() -> I32x4 {
        [0; 4]
    }
    pub unsafe fn load_i8x4_twice(p: *const i8) -> I16x8 {
        let x = unsafe { (p as *const [i8; 4]).read_unaligned() }.map(i16::from);
        [x[0], x[1], x[2], x[3], x[0], x[1], x[2], x[3]]
    }
    pub unsafe fn load_i8x16_widened(p: *const i8) -> (I16x8, I16x8) {
        let x = unsafe { (p as *const [i8; 16]).read_unaligned() }.map(i16::from);
        (
            std::array::from_fn(|l| x[l]),
            std::array::from_fn(|l| x[8 + l]),
        )
    }
    pub fn dot(a: I16x8, b: I16x8) -> I32x4 {
        let product = |l: usize| i32::from(a[l]) * i32::from(b[l]);
        std::array::from_fn(|l| product(2 * l).wrapping_add(product(2 * l + 1)))
    }
    pub fn add_i32(a: I32x4, b: I32x4) -> I32x4 {
        std::array::from_fn(|l| a[l].wrapping_add(b[l]))
    }
    pub fn pair_sums(a: I32x4, b: I32x4) -> I32x4 {
        [
            a[0].wrapping_add(a[1]),
            a[2].wrapping_add(a[3]),
            b[0].wrapping_add(b[1]),
            b[2].wrapping_add(b[3]),
        ]
    }
    pub fn i32_from_lanes(l: [i32; 4]) -> I32x4 {
        l
    }
    pub fn i32_lanes(v: I32x4) -> [i32; 4] {
        v
    }
}

pub use imp::*;
