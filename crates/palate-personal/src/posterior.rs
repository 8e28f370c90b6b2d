//! One user's taste as a Bayesian Bradley–Terry model over reply features.
//!
//! A reply with features `x` has personal reward `wᵀx`; the user prefers A to B with probability
//! `σ(wᵀ(x_A − x_B))` (Bradley–Terry). The prior on `w` is Gaussian (a population mean and
//! covariance; the base reward model's weight starts at 1 in the caller's prior). After each answer
//! the posterior is Laplace-approximated: its mode by Newton's method on the log posterior, its
//! covariance the inverse negative Hessian there — the Bayesian logistic regression used for
//! preference elicitation in VPL-style few-shot personalisation (Poddar et al., 2024) and by
//! Houlsby et al. (2011) for BALD. Answers: A, B, a tie (half an observation each way, i.e. a soft
//! label ½) or skip (no information).
//!
//! The fit restarts Newton from the previous mode, so an update after one more answer takes a
//! couple of iterations: O(n·d² + d³) for n answers and d features.

use nalgebra::{Cholesky, DMatrix, DVector};

use crate::transform::{log_sigmoid, sigmoid};
use crate::{PersonalError, Result};

/// The user's answer to "which reply do you prefer?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    A,
    B,
    Tie,
    Skip,
}

impl Answer {
    /// The soft label "A is preferred", or None for no information.
    fn label(self) -> Option<f64> {
        match self {
            Answer::A => Some(1.0),
            Answer::B => Some(0.0),
            Answer::Tie => Some(0.5),
            Answer::Skip => None,
        }
    }
}

/// Predictive preference for a pair: `P(A ≻ B)` with the uncertainty behind it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preference {
    /// `P(A ≻ B)`, averaged over the posterior (probit approximation, MacKay 1992).
    pub probability: f64,
    /// Posterior mean of the reward difference `wᵀ(x_A − x_B)`.
    pub margin: f64,
    /// Posterior standard deviation of that difference.
    pub margin_sd: f64,
}

/// Gaussian (Laplace) posterior over a user's weights.
#[derive(Clone, Debug)]
pub struct Posterior {
    prior_mean: DVector<f64>,
    prior_precision: DMatrix<f64>,
    /// `log det` of the prior precision, for the evidence.
    prior_log_det: f64,
    observations: Vec<(DVector<f64>, f64)>,
    mean: DVector<f64>,
    covariance: DMatrix<f64>,
    /// Laplace approximation of `log p(answers)` under this prior (0 with no answers).
    log_evidence: f64,
}

impl Posterior {
    /// A posterior equal to the prior `N(mean, covariance)`; `covariance` must be symmetric
    /// positive definite.
    pub fn new(mean: DVector<f64>, covariance: DMatrix<f64>) -> Result<Self> {
        let d = mean.len();
        if covariance.shape() != (d, d) {
            return Err(PersonalError::InvalidPrior(format!(
                "covariance is {}×{}, mean has {d} entries",
                covariance.nrows(),
                covariance.ncols()
            )));
        }
        if mean.iter().chain(covariance.iter()).any(|x| !x.is_finite()) {
            return Err(PersonalError::NonFinite { what: "prior" });
        }
        let chol = Cholesky::new(covariance.clone())
            .ok_or_else(|| PersonalError::InvalidPrior("covariance is not positive definite".into()))?;
        let prior_log_det = -log_det(&chol);
        let precision = chol.inverse();
        Ok(Self {
            prior_mean: mean.clone(),
            prior_precision: precision,
            prior_log_det,
            observations: Vec::new(),
            mean,
            covariance,
            log_evidence: 0.0,
        })
    }

    /// Isotropic prior `N(mean, variance·I)`.
    pub fn isotropic(mean: DVector<f64>, variance: f64) -> Result<Self> {
        let d = mean.len();
        Self::new(mean, DMatrix::identity(d, d) * variance)
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }
    pub fn mean(&self) -> &DVector<f64> {
        &self.mean
    }
    pub fn covariance(&self) -> &DMatrix<f64> {
        &self.covariance
    }
    /// Informative answers so far (skips are not kept).
    pub fn answers(&self) -> usize {
        self.observations.len()
    }
    /// Laplace approximation of the marginal likelihood of the answers so far under this prior,
    /// `log ∫ p(answers | w) N(w; prior) dw ≈ log p(answers | ŵ) + log N(ŵ; prior) + (d/2) log 2π
    /// + ½ log det Σ̂` (MacKay 1992; Bishop, PRML §4.4.1). 0 before any answer. A mixture prior
    /// weighs its components by it ([`crate::mixture`]).
    pub fn log_evidence(&self) -> f64 {
        self.log_evidence
    }

    pub(crate) fn check(&self, x: &DVector<f64>, what: &'static str) -> Result<()> {
        if x.len() != self.dim() {
            return Err(PersonalError::DimensionMismatch { expected: self.dim(), found: x.len() });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(PersonalError::NonFinite { what });
        }
        Ok(())
    }

    /// Records the user's answer about replies with features `a` and `b` and refits. On error
    /// nothing changes.
    pub fn update(&mut self, a: &DVector<f64>, b: &DVector<f64>, answer: Answer) -> Result<()> {
        self.check(a, "features of reply A")?;
        self.check(b, "features of reply B")?;
        let Some(label) = answer.label() else { return Ok(()) };
        self.observations.push((a - b, label));
        self.refit();
        Ok(())
    }

    /// Records many answers at once and refits once (for training and replaying a profile).
    /// Each item is `(a, b, answer)`; on error nothing changes.
    pub fn update_many<'a>(&mut self, items: impl IntoIterator<Item = (&'a DVector<f64>, &'a DVector<f64>, Answer)>) -> Result<()> {
        let mut new = Vec::new();
        for (a, b, answer) in items {
            self.check(a, "features of reply A")?;
            self.check(b, "features of reply B")?;
            if let Some(label) = answer.label() {
                new.push((a - b, label));
            }
        }
        if !new.is_empty() {
            self.observations.extend(new);
            self.refit();
        }
        Ok(())
    }

    /// Back to the prior, forgetting every answer.
    pub fn reset(&mut self) {
        self.observations.clear();
        self.mean = self.prior_mean.clone();
        self.log_evidence = 0.0;
        if let Some(chol) = Cholesky::new(self.prior_precision.clone()) {
            self.covariance = chol.inverse();
        }
    }

    /// Log posterior (unnormalised) at `w`, its gradient and Hessian.
    fn log_posterior(&self, w: &DVector<f64>) -> (f64, DVector<f64>, DMatrix<f64>) {
        let delta = w - &self.prior_mean;
        let p0 = &self.prior_precision * &delta;
        let mut value = -0.5 * delta.dot(&p0);
        let mut grad = -p0;
        let mut hess = -self.prior_precision.clone();
        for (d, y) in &self.observations {
            let z = w.dot(d);
            let s = sigmoid(z);
            value += y * log_sigmoid(z) + (1.0 - y) * log_sigmoid(-z);
            grad.axpy(y - s, d, 1.0);
            hess.ger(-s * (1.0 - s), d, d, 1.0);
        }
        (value, grad, hess)
    }

    /// Newton's method with step halving from the current mode; the log posterior is strictly
    /// concave (Gaussian prior + logistic likelihood), so this converges to the unique mode.
    fn refit(&mut self) {
        let mut w = self.mean.clone();
        let (mut value, mut grad, mut hess) = self.log_posterior(&w);
        for _ in 0..100 {
            let Some(chol) = Cholesky::new(-hess.clone()) else { break };
            let step = chol.solve(&grad);
            let mut t = 1.0;
            let mut improved = false;
            while t > 1e-10 {
                let candidate = &w + &step * t;
                let (v, g, h) = self.log_posterior(&candidate);
                if v >= value - 1e-12 {
                    w = candidate;
                    (value, grad, hess) = (v, g, h);
                    improved = true;
                    break;
                }
                t *= 0.5;
            }
            if !improved || step.norm() * t < 1e-10 {
                break;
            }
        }
        // `hess` is the Hessian at `w` (updated with every accepted step).
        // −H is the prior precision plus a PSD sum, hence positive definite.
        if let Some(chol) = Cholesky::new(-hess) {
            // log N(ŵ; prior) + (d/2) log 2π = −½ δᵀP₀δ + ½ log det P₀, and `value` already
            // holds −½ δᵀP₀δ plus the log-likelihood; ½ log det Σ̂ = −½ log det(−H).
            self.log_evidence = value + 0.5 * self.prior_log_det - 0.5 * log_det(&chol);
            self.covariance = chol.inverse();
            self.mean = w;
        }
    }

    /// Posterior mean and variance of the reward difference `wᵀ(a − b)`.
    pub fn margin(&self, a: &DVector<f64>, b: &DVector<f64>) -> Result<(f64, f64)> {
        self.check(a, "features of reply A")?;
        self.check(b, "features of reply B")?;
        let d = a - b;
        Ok((self.mean.dot(&d), d.dot(&(&self.covariance * &d)).max(0.0)))
    }

    /// `P(A ≻ B)` averaged over the posterior, by the probit approximation
    /// `σ(μ / sqrt(1 + π s²/8))`.
    pub fn prefer(&self, a: &DVector<f64>, b: &DVector<f64>) -> Result<Preference> {
        let (mu, var) = self.margin(a, b)?;
        let probability = sigmoid(mu / (1.0 + std::f64::consts::PI * var / 8.0).sqrt());
        Ok(Preference { probability, margin: mu, margin_sd: var.sqrt() })
    }

    /// Personal reward of a reply: posterior mean and standard deviation of `wᵀx`. For best-of-N,
    /// rank by `mean − λ·sd` (conservative, as in Eisenstein et al., "Helping or Herding?").
    pub fn reward(&self, x: &DVector<f64>) -> Result<(f64, f64)> {
        self.check(x, "features")?;
        Ok((self.mean.dot(x), x.dot(&(&self.covariance * x)).max(0.0).sqrt()))
    }
}

/// `log det A` from the Cholesky factor of `A`.
fn log_det(chol: &Cholesky<f64, nalgebra::Dyn>) -> f64 {
    2.0 * chol.l_dirty().diagonal().iter().map(|x| x.ln()).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[f64]) -> DVector<f64> {
        DVector::from_column_slice(xs)
    }

    /// Unnormalised log posterior of a 1-D or 2-D model, written out independently.
    fn log_post(w: &[f64], prior_var: f64, data: &[(Vec<f64>, f64)]) -> f64 {
        let prior: f64 = w.iter().map(|x| -0.5 * x * x / prior_var).sum();
        prior
            + data
                .iter()
                .map(|(d, y)| {
                    let z: f64 = d.iter().zip(w).map(|(a, b)| a * b).sum();
                    y * (1.0 / (1.0 + (-z).exp())).ln() + (1.0 - y) * (1.0 / (1.0 + z.exp())).ln()
                })
                .sum::<f64>()
    }

    #[test]
    fn laplace_matches_numerical_integration_in_1d() {
        let data = vec![(vec![1.0], 1.0), (vec![0.5], 1.0), (vec![2.0], 0.0), (vec![1.5], 1.0), (vec![-1.0], 0.5)];
        let mut post = Posterior::isotropic(v(&[0.0]), 4.0).unwrap();
        for (d, y) in &data {
            let answer = match *y { 1.0 => Answer::A, 0.0 => Answer::B, _ => Answer::Tie };
            post.update(&v(d), &v(&[0.0]), answer).unwrap();
        }
        // Grid over w: mode, and the true posterior's mean and variance.
        let h = 1e-4;
        let grid: Vec<f64> = (-100_000..=100_000).map(|i| i as f64 * h).collect();
        let lp: Vec<f64> = grid.iter().map(|&w| log_post(&[w], 4.0, &data)).collect();
        let max = lp.iter().cloned().fold(f64::MIN, f64::max);
        let mode = grid[lp.iter().position(|&x| x == max).unwrap()];
        let dens: Vec<f64> = lp.iter().map(|x| (x - max).exp()).collect();
        let z: f64 = dens.iter().sum();
        let mean: f64 = grid.iter().zip(&dens).map(|(w, p)| w * p).sum::<f64>() / z;
        let var: f64 = grid.iter().zip(&dens).map(|(w, p)| (w - mean).powi(2) * p).sum::<f64>() / z;
        // Curvature at the mode by finite differences.
        let f = |w: f64| log_post(&[w], 4.0, &data);
        let m = post.mean()[0];
        let curvature = (f(m + 1e-4) - 2.0 * f(m) + f(m - 1e-4)) / 1e-8;

        assert!((m - mode).abs() < 2e-4, "Laplace mode {m} vs grid mode {mode}");
        assert!((post.covariance()[(0, 0)] + 1.0 / curvature).abs() < 1e-4, "variance = −1/curvature");
        let sd = var.sqrt();
        assert!((m - mean).abs() < 0.15 * sd, "mode {m} vs true mean {mean} (sd {sd})");
        let ratio = post.covariance()[(0, 0)] / var;
        assert!((0.75..1.33).contains(&ratio), "Laplace var / true var = {ratio}");
    }

    #[test]
    fn log_evidence_matches_numerical_integration_in_1d() {
        let data = vec![(vec![1.0], 1.0), (vec![0.5], 1.0), (vec![2.0], 0.0), (vec![1.5], 1.0), (vec![-1.0], 0.5)];
        for (prior_mean, prior_var) in [(-2.0, 1.0), (1.5, 0.5), (0.0, 4.0)] {
            let mut post = Posterior::isotropic(v(&[prior_mean]), prior_var).unwrap();
            assert_eq!(post.log_evidence(), 0.0);
            for (d, y) in &data {
                let answer = match *y { 1.0 => Answer::A, 0.0 => Answer::B, _ => Answer::Tie };
                post.update(&v(d), &v(&[0.0]), answer).unwrap();
            }
            // log ∫ N(w; m, s²) Π p(y|w) dw on a fine grid.
            let h = 1e-4;
            let z: f64 = (-200_000..=200_000)
                .map(|i| {
                    let w = prior_mean + i as f64 * h;
                    let lik = log_post(&[w], f64::INFINITY, &data);
                    let prior = -0.5 * (w - prior_mean).powi(2) / prior_var - 0.5 * (2.0 * std::f64::consts::PI * prior_var).ln();
                    (lik + prior).exp() * h
                })
                .sum();
            let truth = z.ln();
            // Laplace is an approximation: off by 0.004–0.06 nats here on five answers. A wrong
            // constant in the formula would be off by at least ½ ln 2π ≈ 0.92.
            assert!((post.log_evidence() - truth).abs() < 0.08, "Laplace {} vs {truth}", post.log_evidence());
        }
    }

    #[test]
    fn laplace_matches_numerical_integration_in_2d() {
        let data = vec![
            (vec![1.0, 0.2], 1.0),
            (vec![-0.3, 1.0], 0.0),
            (vec![0.8, 0.8], 1.0),
            (vec![0.5, -1.0], 1.0),
            (vec![1.2, 0.1], 0.5),
            (vec![0.1, 0.9], 0.0),
        ];
        let mut post = Posterior::isotropic(v(&[0.0, 0.0]), 2.0).unwrap();
        for (d, y) in &data {
            let answer = match *y { 1.0 => Answer::A, 0.0 => Answer::B, _ => Answer::Tie };
            post.update(&v(d), &v(&[0.0, 0.0]), answer).unwrap();
        }
        let (n, lo, hi) = (601, -6.0, 6.0);
        let h = (hi - lo) / (n - 1) as f64;
        let mut pts = Vec::with_capacity(n * n);
        for i in 0..n {
            for j in 0..n {
                let w = [lo + i as f64 * h, lo + j as f64 * h];
                pts.push((w, log_post(&w, 2.0, &data)));
            }
        }
        let max = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let (mut z, mut m0, mut m1) = (0.0, 0.0, 0.0);
        for (w, lp) in &pts {
            let p = (lp - max).exp();
            z += p;
            m0 += p * w[0];
            m1 += p * w[1];
        }
        let (m0, m1) = (m0 / z, m1 / z);
        let (mut c00, mut c11) = (0.0, 0.0);
        for (w, lp) in &pts {
            let p = (lp - max).exp();
            c00 += p * (w[0] - m0).powi(2);
            c11 += p * (w[1] - m1).powi(2);
        }
        let (c00, c11) = (c00 / z, c11 / z);
        let mean = post.mean();
        assert!((mean[0] - m0).abs() < 0.2 * c00.sqrt(), "{} vs {m0}", mean[0]);
        assert!((mean[1] - m1).abs() < 0.2 * c11.sqrt(), "{} vs {m1}", mean[1]);
        for (laplace, truth) in [(post.covariance()[(0, 0)], c00), (post.covariance()[(1, 1)], c11)] {
            assert!((0.7..1.4).contains(&(laplace / truth)), "{laplace} vs {truth}");
        }
        // The mode is where the gradient vanishes.
        let f = |w: [f64; 2]| log_post(&w, 2.0, &data);
        let e = 1e-6;
        let g0 = (f([mean[0] + e, mean[1]]) - f([mean[0] - e, mean[1]])) / (2.0 * e);
        let g1 = (f([mean[0], mean[1] + e]) - f([mean[0], mean[1] - e])) / (2.0 * e);
        assert!(g0.abs() < 1e-5 && g1.abs() < 1e-5, "gradient at the mode: {g0}, {g1}");
    }

    #[test]
    fn answers_move_the_preference_and_order_does_not_matter() {
        let a = v(&[1.0, 0.0]);
        let b = v(&[0.0, 1.0]);
        let mut post = Posterior::isotropic(v(&[0.0, 0.0]), 1.0).unwrap();
        assert!((post.prefer(&a, &b).unwrap().probability - 0.5).abs() < 1e-12);
        let before = post.prefer(&a, &b).unwrap();
        post.update(&a, &b, Answer::A).unwrap();
        post.update(&v(&[0.9, 0.2]), &v(&[0.1, 0.8]), Answer::A).unwrap();
        post.update(&a, &b, Answer::Skip).unwrap();
        let after = post.prefer(&a, &b).unwrap();
        assert!(after.probability > before.probability + 0.15, "{after:?}");
        assert!(after.margin_sd < before.margin_sd, "answers reduce uncertainty");
        assert_eq!(post.answers(), 2);

        let mut other = Posterior::isotropic(v(&[0.0, 0.0]), 1.0).unwrap();
        other.update(&v(&[0.9, 0.2]), &v(&[0.1, 0.8]), Answer::A).unwrap();
        other.update(&a, &b, Answer::A).unwrap();
        assert!((other.mean() - post.mean()).norm() < 1e-8);
    }

    #[test]
    fn bad_input_is_refused_and_changes_nothing() {
        let mut post = Posterior::isotropic(v(&[0.0, 0.0]), 1.0).unwrap();
        let err = post.update(&v(&[1.0]), &v(&[0.0, 0.0]), Answer::A).unwrap_err();
        assert_eq!(err, PersonalError::DimensionMismatch { expected: 2, found: 1 });
        let err = post.update(&v(&[f64::NAN, 0.0]), &v(&[0.0, 0.0]), Answer::A).unwrap_err();
        assert!(matches!(err, PersonalError::NonFinite { .. }));
        assert_eq!(post.answers(), 0);
        assert!(Posterior::new(v(&[0.0, 0.0]), DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0])).is_err());
    }
}
