//! Gauss–Hermite quadrature for expectations over a one-dimensional Gaussian, with nodes computed
//! by the Golub–Welsch algorithm (eigen-decomposition of the Jacobi matrix of the Hermite
//! polynomials), not copied from a table.

use nalgebra::{DMatrix, SymmetricEigen};

/// Nodes and weights for `E[f(z)]`, `z ~ N(0, 1)` (probabilists' Hermite, weights sum to 1).
#[derive(Clone, Debug)]
pub struct GaussHermite {
    pub nodes: Vec<f64>,
    pub weights: Vec<f64>,
}

impl GaussHermite {
    /// An `n`-point rule, exact for polynomials of degree < 2n.
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        // Jacobi matrix of the monic probabilists' Hermite polynomials: off-diagonal sqrt(k).
        let jacobi = DMatrix::from_fn(n, n, |i, j| if i + 1 == j || j + 1 == i { (i.max(j) as f64).sqrt() } else { 0.0 });
        let eigen = SymmetricEigen::new(jacobi);
        let mut pairs: Vec<(f64, f64)> = (0..n)
            .map(|k| (eigen.eigenvalues[k], eigen.eigenvectors[(0, k)].powi(2)))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self { nodes: pairs.iter().map(|p| p.0).collect(), weights: pairs.iter().map(|p| p.1).collect() }
    }

    /// `E[f(z)]` for `z ~ N(mean, var)`.
    pub fn expect(&self, mean: f64, var: f64, f: impl Fn(f64) -> f64) -> f64 {
        let sd = var.max(0.0).sqrt();
        self.nodes.iter().zip(&self.weights).map(|(&x, &w)| w * f(mean + sd * x)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::GaussHermite;

    #[test]
    fn moments_of_the_normal_are_exact() {
        let q = GaussHermite::new(20);
        assert!((q.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // E[z^2] = 1, E[z^4] = 3, E[z^6] = 15 for z ~ N(0,1); E[x] = m, Var = v for N(m, v).
        assert!((q.expect(0.0, 1.0, |z| z.powi(2)) - 1.0).abs() < 1e-10);
        assert!((q.expect(0.0, 1.0, |z| z.powi(4)) - 3.0).abs() < 1e-9);
        assert!((q.expect(0.0, 1.0, |z| z.powi(6)) - 15.0).abs() < 1e-8);
        assert!((q.expect(2.0, 9.0, |x| x) - 2.0).abs() < 1e-10);
        assert!((q.expect(2.0, 9.0, |x| (x - 2.0).powi(2)) - 9.0).abs() < 1e-9);
    }
}
