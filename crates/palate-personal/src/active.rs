//! Which pair to ask about next: the one whose answer is expected to tell the most about the user's
//! weights — BALD, "Bayesian Active Learning by Disagreement" (Houlsby et al., 2011), the mutual
//! information between the answer and the weights:
//!
//! `I = H[ E_w σ(z) ] − E_w[ H(σ(z)) ]`, with `z = wᵀ(x_A − x_B)`.
//!
//! Under each Laplace component of the posterior `z` is Gaussian, so both expectations are sums
//! over the mixture's components ([`MixturePosterior`]) of one-dimensional integrals, computed by
//! Gauss–Hermite quadrature. A pair the model is sure about (`|μ|` large) or that no
//! draw of `w` can separate (`s` tiny: near-duplicate replies) scores near zero.

use std::collections::HashSet;
use std::sync::OnceLock;

use nalgebra::DVector;

use crate::mixture::MixturePosterior;
use crate::quadrature::GaussHermite;
use crate::transform::sigmoid;
use crate::{PersonalError, Result};

/// Binary entropy in nats.
fn entropy(p: f64) -> f64 {
    let h = |q: f64| if q > 0.0 { -q * q.ln() } else { 0.0 };
    h(p) + h(1.0 - p)
}

/// Expected information gain (nats) from asking about replies `a` and `b`.
pub fn information_gain(posterior: &MixturePosterior, a: &DVector<f64>, b: &DVector<f64>) -> Result<f64> {
    // The rule is an eigen-decomposition: build it once, not per pair.
    static RULE: OnceLock<GaussHermite> = OnceLock::new();
    let q = RULE.get_or_init(|| GaussHermite::new(32));
    let (mut mean_p, mut mean_h) = (0.0, 0.0);
    for (r, mu, var) in posterior.component_margins(a, b)? {
        if r < 1e-12 {
            continue;
        }
        mean_p += r * q.expect(mu, var, sigmoid);
        mean_h += r * q.expect(mu, var, |z| entropy(sigmoid(z)));
    }
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
    posterior: &MixturePosterior,
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
    use crate::posterior::{Answer, Posterior};
    use nalgebra::{Cholesky, DMatrix, DVector};
    use rand::{SeedableRng, rngs::StdRng};
    use rand_distr::{Distribution, StandardNormal};

    fn v(xs: &[f64]) -> DVector<f64> {
        DVector::from_column_slice(xs)
    }

    /// BALD by brute force: draw a component by its responsibility, then w from it; average.
    fn monte_carlo_gain(post: &MixturePosterior, a: &DVector<f64>, b: &DVector<f64>, draws: usize) -> f64 {
        use rand::Rng;
        let factors: Vec<_> = post.components().iter().map(|c| Cholesky::new(c.covariance().clone()).unwrap().l()).collect();
        let mut rng = StdRng::seed_from_u64(7);
        let d = a - b;
        let (mut sum_p, mut sum_h) = (0.0, 0.0);
        for _ in 0..draws {
            let mut u: f64 = rng.random();
            let k = post.responsibilities().iter().position(|r| {
                u -= r;
                u <= 0.0
            });
            let k = k.unwrap_or(factors.len() - 1);
            let e = DVector::from_fn(post.dim(), |_, _| StandardNormal.sample(&mut rng));
            let w = post.components()[k].mean() + &factors[k] * e;
            let p = sigmoid(w.dot(&d));
            sum_p += p;
            sum_h += entropy(p);
        }
        entropy(sum_p / draws as f64) - sum_h / draws as f64
    }

    #[test]
    fn information_gain_matches_monte_carlo() {
        let mut post = MixturePosterior::from(Posterior::isotropic(v(&[0.2, -0.1, 0.0]), 2.0).unwrap());
        post.update(&v(&[1.0, 0.0, 0.5]), &v(&[0.0, 1.0, 0.0]), Answer::A).unwrap();
        post.update(&v(&[0.0, 0.3, 1.0]), &v(&[0.5, 0.0, 0.0]), Answer::B).unwrap();
        // Two kinds of user that disagree on feature 0: the mixture's gain is more than either
        // component's, because the answer also tells which kind this is.
        let mut mix = MixturePosterior::new(vec![
            (0.5, v(&[2.0, 0.0, 0.0]), DMatrix::identity(3, 3) * 0.3),
            (0.5, v(&[-2.0, 0.5, 0.0]), DMatrix::identity(3, 3) * 0.3),
        ])
        .unwrap();
        mix.update(&v(&[0.0, 1.0, 0.0]), &v(&[0.0, 0.0, 1.0]), Answer::A).unwrap();
        for post in [&post, &mix] {
            for (a, b) in [
                (v(&[1.0, 0.0, 0.0]), v(&[0.0, 0.0, 0.0])),
                (v(&[2.0, -1.0, 0.5]), v(&[-1.0, 1.0, 0.0])),
                (v(&[0.1, 0.1, 0.1]), v(&[0.0, 0.1, 0.1])),
            ] {
                let exact = information_gain(post, &a, &b).unwrap();
                let mc = monte_carlo_gain(post, &a, &b, 400_000);
                assert!((exact - mc).abs() < 3e-3, "quadrature {exact} vs Monte Carlo {mc}");
            }
        }
        let split = information_gain(&mix, &v(&[1.0, 0.0, 0.0]), &v(&[0.0, 0.0, 0.0])).unwrap();
        assert!(split > 0.3, "a question that separates the kinds is worth a lot: {split}");
    }

    #[test]
    fn asks_the_uncertain_pair_not_the_settled_or_duplicate_one() {
        // Feature 0 is settled (many answers), feature 1 unknown.
        let mut post = MixturePosterior::from(Posterior::isotropic(v(&[0.0, 0.0]), 1.0).unwrap());
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
