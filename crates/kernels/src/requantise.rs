//! tract's integer rescalings of i32 sums (`Scaler` multiplications, rounding right shifts),
//! four lanes at a time: in f64 where that is exact, else with tract's own integer code. The
//! int8 matrix kernels and the quantised depthwise convolution requantise through it.

use crate::simd::{self, I32x4};
use tract_linalg::mmm::RoundingPolicy;
use tract_linalg::{ScaleShiftAndRound, Scaler};

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

    /// The factor of the f64 path, exact for values strictly between −2²² and 2²².
    pub fn exact_factor(&self) -> Option<f64> {
        self.factor
    }

    /// Four values rescaled.
    #[inline(always)]
    pub fn apply(&self, v: I32x4) -> I32x4 {
        match (self.rescale, self.factor) {
            (Rescale::Unscaled, _) => v,
            (_, Some(factor)) if simd::below_2_22(v) => simd::ScaledRounded::new(factor).apply(v),
            (Rescale::Scale(scaler), _) => {
                simd::i32_from_lanes(simd::i32_lanes(v).map(|x| x.q_scale(scaler)))
            }
            (Rescale::ShiftRight(shift, policy), _) => {
                simd::i32_from_lanes(simd::i32_lanes(v).map(|x| x.q_shr(shift, policy)))
            }
        }
    }
}
