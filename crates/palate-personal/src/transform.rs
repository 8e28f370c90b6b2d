//! The log-sigmoid reward transform of Wang et al., "Transforming and Combining Rewards for Aligning
//! Large Language Models" (2024): for a Bradley–Terry reward `r`, `u = log σ(r − r_ref)` is the
//! log-probability that the reply beats a reference reply. It is monotone (ranking is kept), at most
//! 0, concave (it rewards fixing bad replies more than polishing good ones), and summing transformed
//! rewards of several properties gives the log-probability that the reply is good in *all* of them
//! (sum = logical AND), which is how Palate combines rewards.
//!
//! Palate centres on the prompt's own candidates: `r_ref` is their median reward.

use crate::{PersonalError, Result};

/// `log σ(x)`, stable for large |x|.
pub fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 { -(-x).exp().ln_1p() } else { x - x.exp().ln_1p() }
}

/// `σ(x)`, stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log σ(reward − reference)`.
pub fn transform(reward: f64, reference: f64) -> f64 {
    log_sigmoid(reward - reference)
}

/// Transforms the rewards of one prompt's candidates, centred on their median.
pub fn centred_transform(rewards: &[f64]) -> Result<Vec<f64>> {
    if rewards.is_empty() {
        return Err(PersonalError::TooFewCandidates { needed: 1, found: 0 });
    }
    if rewards.iter().any(|r| !r.is_finite()) {
        return Err(PersonalError::NonFinite { what: "rewards" });
    }
    let mut sorted = rewards.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]) };
    Ok(rewards.iter().map(|&r| transform(r, median)).collect())
}

/// Sum-as-AND: the combined transformed reward of several properties.
pub fn combine(transformed: &[f64]) -> f64 {
    transformed.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sigmoid_is_stable_and_exact() {
        for x in [-800.0, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0] {
            let direct = (1.0 / (1.0 + f64::exp(-x))).ln();
            let got = log_sigmoid(x);
            assert!(got.is_finite() && got <= 0.0, "{x}: {got}");
            if direct.is_finite() && direct != 0.0 {
                assert!((got - direct).abs() < 1e-12 * direct.abs().max(1.0), "{x}");
            }
        }
        assert!((log_sigmoid(-800.0) + 800.0).abs() < 1e-9, "log σ(x) → x for x → −∞");
        assert!((sigmoid(3.0) + sigmoid(-3.0) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn documented_properties_hold() {
        let xs: Vec<f64> = (-60..=60).map(|i| i as f64 * 0.25).collect();
        // Monotone, bounded above by 0, equal to log ½ at the reference.
        for w in xs.windows(2) {
            assert!(transform(w[1], 0.0) > transform(w[0], 0.0));
        }
        assert!(xs.iter().all(|&x| transform(x, 0.0) < 0.0));
        assert!((transform(1.7, 1.7) - 0.5f64.ln()).abs() < 1e-15);
        // Concave: equal steps gain less and less (emphasises poor replies).
        for w in xs.windows(3) {
            let (a, b, c) = (transform(w[0], 0.0), transform(w[1], 0.0), transform(w[2], 0.0));
            assert!(c - b < b - a);
        }
        // Sum = AND: exp(sum of transforms) = product of win probabilities.
        let (r1, r2) = (0.8, -1.3);
        let sum = combine(&[transform(r1, 0.0), transform(r2, 0.0)]);
        assert!((sum.exp() - sigmoid(r1) * sigmoid(r2)).abs() < 1e-15);
    }

    #[test]
    fn centring_ignores_a_shared_offset() {
        let rewards = [0.3, -2.0, 1.1, 4.0];
        let shifted: Vec<f64> = rewards.iter().map(|r| r + 100.0).collect();
        let a = centred_transform(&rewards).unwrap();
        let b = centred_transform(&shifted).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-12);
        }
        // The median of 4 is the mean of the middle two: 0.7.
        assert!((a[0] - transform(0.3, 0.7)).abs() < 1e-15);
        assert_eq!(centred_transform(&[]), Err(PersonalError::TooFewCandidates { needed: 1, found: 0 }));
        assert_eq!(centred_transform(&[1.0, f64::NAN]), Err(PersonalError::NonFinite { what: "rewards" }));
    }
}
