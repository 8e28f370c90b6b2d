//! The shared reward: what every new user starts from, learned from real human preference pairs
//! (`palate train-reward`, HH-RLHF).
//!
//! A linear Bradley–Terry reward over a representation ψ of (prompt, reply) built from the
//! sentence encoder's outputs, `r(p, x) = wᵀψ(p, x)`, with `P(x ≻ y | p) = σ(r(p, x) − r(p, y))`
//! (Bradley & Terry 1952; the pairwise loss of Ouyang et al. 2022 on a frozen encoder). ψ is a
//! concatenation of [`Block`]s; which blocks are used is recorded in the taste file, so the
//! browser computes exactly what was trained. `w` is the L2-penalised maximum-likelihood estimate
//! ([`fit_bradley_terry`]), its penalty chosen on held-back prompts of the training data.
//!
//! The reward enters the personal model as one feature with prior weight 1 (see
//! [`crate::features::FeatureSpec::shared`]): before any answer the ranking is this reward; answers
//! then move the weights of the principle heads and the taste basis around it.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::features::{ReplyEmbedding, unit};
use crate::transform::{log_sigmoid, sigmoid};
use crate::{PersonalError, Result};

/// One part of the representation ψ(prompt, reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Block {
    /// The reply's unit sentence embedding (`dim` entries).
    Reply,
    /// The sum of its sentences' unit embeddings (`dim`).
    Sentences,
    /// The sum of its tokens' static input embeddings (`dim`): linear in length and in single words.
    Tokens,
    /// unit(prompt) ⊙ unit(reply), elementwise (`dim`): which directions of agreement with the
    /// prompt matter, a diagonal bilinear prompt–reply term.
    PromptProduct,
    /// cos(prompt, reply) (1).
    PromptCosine,
    /// ln(1 + characters) and ln(1 + sentences) (2).
    Length,
}

impl Block {
    pub fn width(self, dim: usize) -> usize {
        match self {
            Block::Reply | Block::Sentences | Block::Tokens | Block::PromptProduct => dim,
            Block::PromptCosine => 1,
            Block::Length => 2,
        }
    }

    pub fn needs_prompt(self) -> bool {
        matches!(self, Block::PromptProduct | Block::PromptCosine)
    }

    pub fn name(self) -> &'static str {
        match self {
            Block::Reply => "reply",
            Block::Sentences => "sentences",
            Block::Tokens => "tokens",
            Block::PromptProduct => "prompt-product",
            Block::PromptCosine => "prompt-cosine",
            Block::Length => "length",
        }
    }

    /// Names of the values of a one-number-per-value block, used as personal cues
    /// ([`crate::features::Cue`]); None for the embedding blocks.
    pub fn cue_names(self) -> Option<&'static [&'static str]> {
        match self {
            Block::Length => Some(&["length", "sentences"]),
            Block::PromptCosine => Some(&["on-topic"]),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.trim().to_string()))
            .map_err(|_| PersonalError::InvalidInput(format!("unknown block '{s}' (reply, sentences, tokens, prompt-product, prompt-cosine, length)")))
    }
}

/// ψ(prompt, reply) for `blocks`; `reply.prompt` must be set when a block reads the prompt.
pub fn representation(blocks: &[Block], dim: usize, reply: &ReplyEmbedding) -> Result<Vec<f64>> {
    let needs_tokens = blocks.contains(&Block::Tokens);
    // The base representation checks every embedding's width and finiteness.
    let base = reply.representation(dim, needs_tokens)?;
    let prompt = if blocks.iter().any(|b| b.needs_prompt()) {
        if reply.prompt.is_empty() {
            return Err(PersonalError::InvalidInput("the shared reward reads the prompt, and no prompt embedding was given".into()));
        }
        if reply.prompt.len() != dim {
            return Err(PersonalError::DimensionMismatch { expected: dim, found: reply.prompt.len() });
        }
        Some(unit(&reply.prompt, "prompt embedding")?)
    } else {
        None
    };
    let whole = &base[..dim];
    let mut out = Vec::with_capacity(blocks.iter().map(|b| b.width(dim)).sum());
    for block in blocks {
        let prompt = || prompt.as_deref().ok_or_else(|| PersonalError::InvalidInput("no prompt embedding".into()));
        match block {
            Block::Reply => out.extend_from_slice(whole),
            Block::Sentences => out.extend_from_slice(&base[dim..2 * dim]),
            Block::Tokens => out.extend_from_slice(&base[2 * dim..3 * dim]),
            Block::PromptProduct => out.extend(prompt()?.iter().zip(whole).map(|(p, x)| p * x)),
            Block::PromptCosine => out.push(prompt()?.iter().zip(whole).map(|(p, x)| p * x).sum()),
            Block::Length => {
                out.push((1.0 + reply.chars as f64).ln());
                out.push((1.0 + reply.sentences.len() as f64).ln());
            }
        }
    }
    Ok(out)
}

/// The learned reward, as stored in the taste file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedReward {
    /// Where it was learned, in plain words (shown in explanations).
    pub trained_on: String,
    pub blocks: Vec<Block>,
    /// `w`, one entry per entry of ψ; the reward is in Bradley–Terry logits.
    pub weights: Vec<f64>,
}

impl SharedReward {
    pub fn width(&self, dim: usize) -> usize {
        self.blocks.iter().map(|b| b.width(dim)).sum()
    }

    pub fn needs_prompt(&self) -> bool {
        self.blocks.iter().any(|b| b.needs_prompt())
    }

    pub fn needs_tokens(&self) -> bool {
        self.blocks.contains(&Block::Tokens)
    }

    /// `wᵀψ(prompt, reply)`.
    pub fn reward(&self, dim: usize, reply: &ReplyEmbedding) -> Result<f64> {
        let psi = representation(&self.blocks, dim, reply)?;
        Ok(psi.iter().zip(&self.weights).map(|(a, b)| a * b).sum())
    }

    pub fn validate(&self, dim: usize) -> Result<()> {
        if self.blocks.is_empty() {
            return Err(PersonalError::InvalidSpec("the shared reward has no blocks".into()));
        }
        if self.weights.len() != self.width(dim) {
            return Err(PersonalError::InvalidSpec(format!(
                "the shared reward has {} weights, its blocks need {}",
                self.weights.len(),
                self.width(dim)
            )));
        }
        if self.weights.iter().any(|w| !w.is_finite()) {
            return Err(PersonalError::NonFinite { what: "shared reward" });
        }
        Ok(())
    }
}

/// The L2-penalised Bradley–Terry fit on pair differences: maximises
/// `Σᵢ log σ(wᵀdᵢ) − ½λ‖S w‖²` over `w`, where `dᵢ = ψ(chosen) − ψ(rejected)` are the rows of
/// `diffs` and `S` scales each column by its root mean square, so one `λ` means the same for
/// every block. Newton's method (the problem is strictly concave), from `start` when given.
pub fn fit_bradley_terry(diffs: &DMatrix<f64>, l2: f64, start: Option<&DVector<f64>>) -> Result<DVector<f64>> {
    let (n, d) = diffs.shape();
    if n == 0 || d == 0 {
        return Err(PersonalError::InvalidInput("no pairs to fit".into()));
    }
    if !(l2.is_finite() && l2 > 0.0) {
        return Err(PersonalError::InvalidInput(format!("the L2 penalty must be positive, got {l2}")));
    }
    if diffs.iter().any(|x| !x.is_finite()) {
        return Err(PersonalError::NonFinite { what: "pair differences" });
    }
    let scale2 = column_scales2(diffs);
    let mut w = start.cloned().unwrap_or_else(|| DVector::zeros(d));
    let objective = |w: &DVector<f64>| -> f64 {
        let m = diffs * w;
        m.iter().map(|&z| log_sigmoid(z)).sum::<f64>() - 0.5 * l2 * w.iter().zip(&scale2).map(|(w, s)| w * w * s).sum::<f64>()
    };
    let mut value = objective(&w);
    for _ in 0..50 {
        let m = diffs * &w;
        // Gradient Σ (1 − σ(m)) d − λ S² w; negative Hessian Σ σ(m)(1 − σ(m)) d dᵀ + λ S².
        let residual = m.map(|z| sigmoid(-z));
        let curvature = m.map(|z| sigmoid(z) * sigmoid(-z));
        let mut grad = diffs.tr_mul(&residual);
        for j in 0..d {
            grad[j] -= l2 * scale2[j] * w[j];
        }
        let weighted = DMatrix::from_fn(n, d, |i, j| diffs[(i, j)] * curvature[i]);
        let mut h = diffs.tr_mul(&weighted);
        for j in 0..d {
            h[(j, j)] += l2 * scale2[j];
        }
        let step = h.cholesky().ok_or_else(|| PersonalError::InvalidInput("the fit's Hessian is not positive definite".into()))?.solve(&grad);
        // Damped: halve the step until the objective does not fall.
        let mut t = 1.0;
        let mut next = &w + &step * t;
        let mut next_value = objective(&next);
        while next_value < value - 1e-12 && t > 1e-4 {
            t *= 0.5;
            next = &w + &step * t;
            next_value = objective(&next);
        }
        let gain = next_value - value;
        w = next;
        value = next_value;
        if gain.abs() < 1e-9 * (1.0 + value.abs()) {
            break;
        }
    }
    Ok(w)
}

/// Squared root-mean-square of each column, floored at [`SCALE_FLOOR`] times the median column's
/// (1 when all are zero). Without the floor a nearly constant column (all-MiniLM-L6-v2's unit
/// embeddings have one) costs almost nothing to weigh, the fit gives it a weight in the millions,
/// and rounding differences between platforms (1e-6 in an embedding) would move rewards by whole
/// logits.
fn column_scales2(diffs: &DMatrix<f64>) -> Vec<f64> {
    let n = diffs.nrows() as f64;
    let ms: Vec<f64> = diffs.column_iter().map(|c| c.iter().map(|x| x * x).sum::<f64>() / n).collect();
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let floor = if median > 1e-24 { SCALE_FLOOR * median } else { 1.0 };
    ms.into_iter().map(|m| m.max(floor)).collect()
}

/// The smallest penalty scale of a column relative to the median column's (squared RMS).
pub const SCALE_FLOOR: f64 = 0.01;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn reply(dim: usize, seed: u64) -> ReplyEmbedding {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut v = || (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<_>>();
        ReplyEmbedding { whole: v(), sentences: vec![v(), v()], tokens: v(), prompt: v(), chars: 120 }
    }

    #[test]
    fn representation_lays_the_blocks_out_in_order() {
        let r = reply(4, 1);
        let all = [Block::Reply, Block::Sentences, Block::Tokens, Block::PromptProduct, Block::PromptCosine, Block::Length];
        let psi = representation(&all, 4, &r).unwrap();
        assert_eq!(psi.len(), 4 * 4 + 1 + 2);
        let w = unit(&r.whole, "w").unwrap();
        let p = unit(&r.prompt, "p").unwrap();
        assert_eq!(&psi[..4], &w[..]);
        let s: Vec<f64> = (0..4)
            .map(|j| r.sentences.iter().map(|s| unit(s, "s").unwrap()[j]).sum())
            .collect();
        for j in 0..4 {
            assert!((psi[4 + j] - s[j]).abs() < 1e-12);
            assert_eq!(psi[8 + j], f64::from(r.tokens[j]));
            assert!((psi[12 + j] - p[j] * w[j]).abs() < 1e-12);
        }
        let cos: f64 = p.iter().zip(&w).map(|(a, b)| a * b).sum();
        assert!((psi[16] - cos).abs() < 1e-12);
        assert_eq!(&psi[17..], &[121f64.ln(), 3f64.ln()]);
        // A block that reads the prompt refuses a reply without one.
        let no_prompt = ReplyEmbedding { prompt: Vec::new(), ..r.clone() };
        assert!(matches!(representation(&[Block::PromptCosine], 4, &no_prompt), Err(PersonalError::InvalidInput(_))));
        assert!(representation(&[Block::Reply], 4, &no_prompt).is_ok());
        assert!(matches!(
            representation(&[Block::PromptProduct], 4, &ReplyEmbedding { prompt: vec![1.0; 3], ..r }),
            Err(PersonalError::DimensionMismatch { expected: 4, found: 3 })
        ));
    }

    #[test]
    fn blocks_parse_by_name() {
        for b in [Block::Reply, Block::Sentences, Block::Tokens, Block::PromptProduct, Block::PromptCosine, Block::Length] {
            assert_eq!(Block::parse(b.name()).unwrap(), b);
        }
        assert!(Block::parse("nonsense").is_err());
    }

    #[test]
    fn the_fit_recovers_a_known_direction_and_is_stationary() {
        let (n, d) = (3000, 5);
        let truth = DVector::from_vec(vec![1.5, -1.0, 0.0, 0.5, 0.0]);
        let mut rng = StdRng::seed_from_u64(7);
        let mut rows = Vec::with_capacity(n * d);
        for _ in 0..n {
            let x: Vec<f64> = (0..d).map(|j| rng.random_range(-1.0..1.0) * (1.0 + j as f64)).collect();
            let m: f64 = x.iter().zip(truth.iter()).map(|(a, b)| a * b).sum();
            // Sample the label; a rejected-first pair is stored with its sign flipped.
            let sign = if rng.random::<f64>() < sigmoid(m) { 1.0 } else { -1.0 };
            rows.extend(x.iter().map(|v| v * sign));
        }
        let diffs = DMatrix::from_row_slice(n, d, &rows);
        let l2 = 1e-3;
        let w = fit_bradley_terry(&diffs, l2, None).unwrap();
        for j in 0..d {
            assert!((w[j] - truth[j]).abs() < 0.2, "w = {w}, truth = {truth}");
        }
        // Stationary: the penalised gradient vanishes.
        let scale2 = column_scales2(&diffs);
        let residual = (&diffs * &w).map(|z| sigmoid(-z));
        let grad = diffs.tr_mul(&residual);
        for j in 0..d {
            assert!((grad[j] - l2 * scale2[j] * w[j]).abs() < 1e-5 * n as f64, "gradient {j}");
        }
        // A stronger penalty shrinks the weights.
        let shrunk = fit_bradley_terry(&diffs, 1e3, Some(&w)).unwrap();
        assert!(shrunk.norm() < 0.5 * w.norm());
        assert!(fit_bradley_terry(&DMatrix::zeros(0, 3), 1.0, None).is_err());
        // A nearly constant column that happens to separate the pairs gets no outsized weight.
        let mut noisy = diffs.clone();
        for i in 0..n {
            noisy[(i, 4)] = if i % 2 == 0 { 1e-9 } else { -1e-9 } * (1.0 + (diffs.row(i) * &truth)[0].signum());
        }
        let w = fit_bradley_terry(&noisy, 1.0, None).unwrap();
        assert!(w[4].abs() * 1e-9 < 1e-3, "weight {} on a column of size 1e-9", w[4]);
        assert!(fit_bradley_terry(&diffs, 0.0, None).is_err());
    }
}
