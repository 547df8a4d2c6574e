//! The handful of f32x4 operations the kernel uses: Wasm SIMD on wasm32, plain arrays
//! elsewhere, so the kernel's logic is tested natively with the same source.

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
}

pub use imp::*;
