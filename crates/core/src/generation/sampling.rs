//! Choosing the next token from the logits, deterministically given the seed
//! (docs/generation.md, "Sampling").
//!
//! Greedy takes the largest logit, the lowest id among equals. Sampling scales the logits
//! by 1 / temperature (in f64), orders the tokens by scaled logit, descending, lower id
//! first among equals, keeps the first `top_k`, takes their softmax, keeps the shortest
//! prefix whose probabilities sum to at least `top_p` (at least one token), and picks the
//! token where the cumulative probability, renormalised, first exceeds `u`: the uniform
//! draw of step `t` (the t-th generated token, from 0) is the first 8 bytes of the ChaCha20
//! block (RFC 8439) with the 32-byte seed as key, block counter `t` and an all-zero nonce,
//! read as a little-endian u64, shifted right by 11 and scaled by 2^-53. A counter-based
//! draw needs no generator state, so a generation restarted after an upgrade draws the
//! same numbers.

use icinfer_api::{Error, SampleSettings, Sampling, generation::SEED_BYTES};

pub const MAX_TEMPERATURE: f32 = 100.0;

/// Checks sampling settings before a generation starts.
pub fn check(sampling: &Sampling) -> Result<(), Error> {
    let Sampling::Sample(s) = sampling else {
        return Ok(());
    };
    let invalid = |field: &str, reason: &str| Error::InvalidArgument {
        field: format!("sampling.{field}"),
        reason: reason.to_string(),
    };
    if !(s.temperature > 0.0 && s.temperature <= MAX_TEMPERATURE) {
        return Err(invalid(
            "temperature",
            "must be above 0 and at most 100 (greedy is its own setting)",
        ));
    }
    if s.top_k == Some(0) {
        return Err(invalid("top_k", "must be at least 1"));
    }
    if s.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
        return Err(invalid("top_p", "must be above 0 and at most 1"));
    }
    if s.seed.as_ref().is_some_and(|seed| seed.len() != SEED_BYTES) {
        return Err(invalid("seed", "must be 32 bytes"));
    }
    Ok(())
}

/// The next token. `step` is the index of the token being generated; a sampled setting
/// must carry its seed by now.
pub fn choose(sampling: &Sampling, logits: &[f32], step: u32) -> u32 {
    match sampling {
        Sampling::Greedy => argmax(logits),
        Sampling::Sample(s) => sample(s, logits, step),
    }
}

/// NaN never wins (all NaN: token 0).
fn argmax(logits: &[f32]) -> u32 {
    let mut best: Option<(usize, f32)> = None;
    for (id, &logit) in logits.iter().enumerate() {
        if !logit.is_nan() && best.is_none_or(|(_, b)| logit > b) {
            best = Some((id, logit));
        }
    }
    best.map_or(0, |(id, _)| id as u32)
}

fn sample(settings: &SampleSettings, logits: &[f32], step: u32) -> u32 {
    let seed: &[u8; SEED_BYTES] = settings
        .seed
        .as_deref()
        .and_then(|s| s.as_slice().try_into().ok())
        .expect("a sampled generation has its seed before its first token");
    let inverse = 1.0 / f64::from(settings.temperature);
    // NaN logits never win: they sort last.
    let scaled = |id: u32| {
        let l = f64::from(logits[id as usize]);
        if l.is_nan() {
            f64::NEG_INFINITY
        } else {
            l * inverse
        }
    };
    let order = |a: &u32, b: &u32| scaled(*b).total_cmp(&scaled(*a)).then(a.cmp(b));
    let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
    match settings.top_k {
        Some(k) if (k as usize) < ids.len() => {
            ids.select_nth_unstable_by(k as usize - 1, order);
            ids.truncate(k as usize);
            ids.sort_unstable_by(order);
        }
        _ => ids.sort_unstable_by(order),
    }
    let top = scaled(ids[0]);
    let mut weights: Vec<f64> = ids.iter().map(|&id| (scaled(id) - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    if let Some(p) = settings.top_p {
        let mut sum = 0.0;
        let keep = weights
            .iter()
            .position(|w| {
                sum += w / total;
                sum >= f64::from(p)
            })
            .map_or(weights.len(), |at| at + 1);
        weights.truncate(keep);
    }
    let kept: f64 = weights.iter().sum();
    let u = uniform(seed, step) * kept;
    let mut cumulative = 0.0;
    for (at, w) in weights.iter().enumerate() {
        cumulative += w;
        if u < cumulative {
            return ids[at];
        }
    }
    ids[weights.len() - 1]
}

/// The draw of step `step` in [0, 1).
pub fn uniform(seed: &[u8; SEED_BYTES], step: u32) -> f64 {
    let block = chacha20_block(seed, step, &[0; 12]);
    let bits = u64::from_le_bytes(block[..8].try_into().expect("8 bytes"));
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The ChaCha20 block function of RFC 8439, section 2.3.
pub fn chacha20_block(key: &[u8; 32], counter: u32, nonce: &[u8; 12]) -> [u8; 64] {
    let word = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let mut state = [0u32; 16];
    state[..4].copy_from_slice(&[0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
    for i in 0..8 {
        state[4 + i] = word(&key[4 * i..4 * i + 4]);
    }
    state[12] = counter;
    for i in 0..3 {
        state[13 + i] = word(&nonce[4 * i..4 * i + 4]);
    }
    let mut x = state;
    let quarter = |x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize| {
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(16);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(12);
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(8);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(7);
    };
    for _ in 0..10 {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 1, 5, 9, 13);
        quarter(&mut x, 2, 6, 10, 14);
        quarter(&mut x, 3, 7, 11, 15);
        quarter(&mut x, 0, 5, 10, 15);
        quarter(&mut x, 1, 6, 11, 12);
        quarter(&mut x, 2, 7, 8, 13);
        quarter(&mut x, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for i in 0..16 {
        out[4 * i..4 * i + 4].copy_from_slice(&x[i].wrapping_add(state[i]).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_bytes::ByteBuf;

    #[test]
    fn chacha20_matches_rfc8439_section_2_3_2() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let nonce = [0, 0, 0, 9, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let block = chacha20_block(&key, 1, &nonce);
        assert_eq!(
            hex::encode(block),
            "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e\
             d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e"
        );
    }

    fn settings(temperature: f32, top_k: Option<u32>, top_p: Option<f32>) -> Sampling {
        Sampling::Sample(SampleSettings {
            temperature,
            top_k,
            top_p,
            seed: Some(ByteBuf::from(vec![7; 32])),
        })
    }

    #[test]
    fn greedy_takes_the_first_largest() {
        assert_eq!(choose(&Sampling::Greedy, &[1.0, 3.0, 3.0, -1.0], 0), 1);
        assert_eq!(choose(&Sampling::Greedy, &[f32::NAN, 0.5], 0), 1);
    }

    #[test]
    fn sampling_replays_and_follows_the_distribution() {
        let logits = [0.0f32, 1.0, 2.0, 3.0];
        let sampling = settings(1.0, None, None);
        let draws: Vec<u32> = (0..2000).map(|t| choose(&sampling, &logits, t)).collect();
        let again: Vec<u32> = (0..2000).map(|t| choose(&sampling, &logits, t)).collect();
        assert_eq!(draws, again);
        // softmax(0, 1, 2, 3) = 0.032, 0.087, 0.237, 0.644
        let share = |id| draws.iter().filter(|&&d| d == id).count() as f64 / 2000.0;
        assert!((share(3) - 0.644).abs() < 0.04, "{}", share(3));
        assert!((share(0) - 0.032).abs() < 0.02, "{}", share(0));
    }

    #[test]
    fn top_k_and_top_p_cut_the_tail() {
        let logits = [0.0f32, 1.0, 2.0, 3.0];
        for t in 0..500 {
            assert!(choose(&settings(1.0, Some(2), None), &logits, t) >= 2);
            // 0.644 + 0.237 >= 0.85: tokens 3 and 2 only
            assert!(choose(&settings(1.0, None, Some(0.85)), &logits, t) >= 2);
            assert_eq!(choose(&settings(1.0, Some(1), None), &logits, t), 3);
            assert_eq!(choose(&settings(1.0, None, Some(0.5)), &logits, t), 3);
        }
    }

    #[test]
    fn bad_settings_are_refused_by_field() {
        for (bad, field) in [
            (settings(0.0, None, None), "sampling.temperature"),
            (settings(f32::NAN, None, None), "sampling.temperature"),
            (settings(1.0, Some(0), None), "sampling.top_k"),
            (settings(1.0, None, Some(1.5)), "sampling.top_p"),
            (settings(1.0, None, Some(0.0)), "sampling.top_p"),
        ] {
            assert!(
                matches!(check(&bad), Err(Error::InvalidArgument { field: f, .. }) if f == field)
            );
        }
        let mut short_seed = settings(1.0, None, None);
        if let Sampling::Sample(s) = &mut short_seed {
            s.seed = Some(ByteBuf::from(vec![1; 31]));
        }
        assert!(check(&short_seed).is_err());
        assert!(check(&Sampling::Greedy).is_ok());
    }
}
