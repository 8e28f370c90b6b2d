//! Which pair to ask about next: the one whose answer is expected to tell the most about the user's
//! weights — BALD, "Bayesian Active Learning by Disagreement" (Houlsby et al., 2011), the mutual
//! information between the answer and the weights:
//!
//! `I = H[ E_w σ(z) ] − E_w[ H(σ(z)) ]`, with `z = wᵀ(x_A − x_B)`.
//!
//! Under the Laplace posterior `z` is Gaussian, so both expectations are one-dimensional and are
//! computed by Gauss–Hermite quadrature. A pair the model is sure about (`|μ|` large) or that no
//! draw of `w` can separate (`s` tiny: near-duplicate replies) scores near zero.

use std::collections::HashSet;
use std::sync::OnceLock;

use nalgebra::DVector;

use crate::posterior::Posterior;
use crate::quadrature::GaussHermite;
use crate::transform::sigmoid;
use crate::{PersonalError, Result};

/// Binary entropy in nats.
fn entropy(p: f64) -> f64 {
    let h = |q: f64| if q > 0.0 { -q * q.ln() } else { 0.0 };
    h(p) + h(1.0 - p)
}

/// Expected information gain (nats) from asking about replies `a` and `b`.
pub fn information_gain(posterior: &Posterior, a: &DVector<f64>, b: &DVector<f64>) -> Result<f64> {
    let (mu, var) = posterior.margin(a, b)?;
    // The rule is an eigen-decomposition: build it once, not per pair.
    static RULE: OnceLock<GaussHermite> = OnceLock::new();
    let q = RULE.get_or_init(|| GaussHermite::new(32));
    let mean_p = q.expect(mu, var, sigmoid);
    let mean_h = q.expect(mu, var, |z| entropy(sigmoid(z)));
    Ok((entropy(mean_p) - mean_h).max(0.0))
}

/// A question: indices of two candidates and its expected information gain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Question {
    pub a: usize,
    pub b: usize,
    pub gain: f64,
}

/// The most informative pair among `candidates`, skipping pairs in `asked` (either order) and
/// near-duplicates (feature distance below `min_distance`).
pub fn next_question(
    posterior: &Posterior,
    candidates: &[DVector<f64>],
    asked: &HashSet<(usize, usize)>,
    min_distance: f64,
) -> Result<Question> {
    if candidates.len() < 2 {
        return Err(PersonalError::TooFewCandidates { needed: 2, found: candidates.len() });
    }
    let mut best: Option<Question> = None;
    for a in 0..candidates.len() {
        for b in a + 1..candidates.len() {
            if asked.contains(&(a, b)) || asked.contains(&(b, a)) {
                continue;
            }
            if (&candidates[a] - &candidates[b]).norm() < min_distance {
                continue;
            }
            let gain = information_gain(posterior, &candidates[a], &candidates[b])?;
            if best.is_none_or(|q| gain > q.gain) {
                best = Some(Question { a, b, gain });
            }
        }
    }
    best.ok_or(PersonalError::NoQuestionLeft)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posterior::Answer;
    use nalgebra::{Cholesky, DVector};
    use rand::{SeedableRng, rngs::StdRng};
    use rand_distr::{Distribution, StandardNormal};

    fn v(xs: &[f64]) -> DVector<f64> {
        DVector::from_column_slice(xs)
    }

    /// BALD by brute force: draw w from the posterior, average.
    fn monte_carlo_gain(post: &Posterior, a: &DVector<f64>, b: &DVector<f64>, draws: usize) -> f64 {
        let chol = Cholesky::new(post.covariance().clone()).unwrap();
        let l = chol.l();
        let mut rng = StdRng::seed_from_u64(7);
        let d = a - b;
        let (mut sum_p, mut sum_h) = (0.0, 0.0);
        for _ in 0..draws {
            let e = DVector::from_fn(post.dim(), |_, _| StandardNormal.sample(&mut rng));
            let w = post.mean() + &l * e;
            let p = sigmoid(w.dot(&d));
            sum_p += p;
            sum_h += entropy(p);
        }
        entropy(sum_p / draws as f64) - sum_h / draws as f64
    }

    #[test]
    fn information_gain_matches_monte_carlo() {
        let mut post = Posterior::isotropic(v(&[0.2, -0.1, 0.0]), 2.0).unwrap();
        post.update(&v(&[1.0, 0.0, 0.5]), &v(&[0.0, 1.0, 0.0]), Answer::A).unwrap();
        post.update(&v(&[0.0, 0.3, 1.0]), &v(&[0.5, 0.0, 0.0]), Answer::B).unwrap();
        for (a, b) in [
            (v(&[1.0, 0.0, 0.0]), v(&[0.0, 0.0, 0.0])),
            (v(&[2.0, -1.0, 0.5]), v(&[-1.0, 1.0, 0.0])),
            (v(&[0.1, 0.1, 0.1]), v(&[0.0, 0.1, 0.1])),
        ] {
            let exact = information_gain(&post, &a, &b).unwrap();
            let mc = monte_carlo_gain(&post, &a, &b, 400_000);
            assert!((exact - mc).abs() < 3e-3, "quadrature {exact} vs Monte Carlo {mc}");
        }
    }

    #[test]
    fn asks_the_uncertain_pair_not_the_settled_or_duplicate_one() {
        // Feature 0 is settled (many answers), feature 1 unknown.
        let mut post = Posterior::isotropic(v(&[0.0, 0.0]), 1.0).unwrap();
        for _ in 0..30 {
            post.update(&v(&[1.0, 0.0]), &v(&[0.0, 0.0]), Answer::A).unwrap();
        }
        let candidates = [v(&[1.0, 0.0]), v(&[0.0, 0.0]), v(&[0.0, 1.0]), v(&[0.0, 1.0 + 1e-9])];
        let q = next_question(&post, &candidates, &HashSet::new(), 1e-6).unwrap();
        assert!(q.b >= 2 && q.a != q.b, "{q:?}");
        assert!(q.gain > information_gain(&post, &candidates[0], &candidates[1]).unwrap());
        // Already-asked pairs are skipped; with none left the error says so.
        let asked: HashSet<_> = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)].into_iter().collect();
        assert_eq!(next_question(&post, &candidates, &asked, 1e-6), Err(PersonalError::NoQuestionLeft));
        assert_eq!(
            next_question(&post, &candidates[..1], &HashSet::new(), 0.0),
            Err(PersonalError::TooFewCandidates { needed: 2, found: 1 })
        );
    }
}
