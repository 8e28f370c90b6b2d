//! Offline evaluation of few-shot personalisation (`palate eval-personal`): for each user, answer
//! k of their training pairs, then measure accuracy on their test pairs, for k = 0..=max_k.
//!
//! Strategies: **active** (Palate picks the next pair among the user's remaining training pairs by
//! BALD, then sees its label), **random** (a random order, averaged over seeds) and **none** (no
//! personal update: the population prior alone).

use std::str::FromStr;

use nalgebra::DVector;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

use crate::features::FeatureSpec;
use crate::posterior::Answer;
use crate::taste::TasteModel;
use crate::{PersonalError, Result};

/// How the next training pair is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Active,
    Random,
    None,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Active => "active",
            Strategy::Random => "random",
            Strategy::None => "none",
        }
    }
}

impl FromStr for Strategy {
    type Err = PersonalError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "active" => Ok(Strategy::Active),
            "random" => Ok(Strategy::Random),
            "none" => Ok(Strategy::None),
            other => Err(PersonalError::InvalidSpec(format!("unknown strategy '{other}' (expected active, random or none)"))),
        }
    }
}

/// One user's pairs as `(chosen, rejected)` indices into the feature list.
#[derive(Clone, Debug, Default)]
pub struct EvalUser {
    pub name: String,
    pub train: Vec<(usize, usize)>,
    pub test: Vec<(usize, usize)>,
}

/// Fraction of `test` pairs where `P(chosen ≻ rejected) > ½` (exactly ½ counts half).
pub fn accuracy(model: &TasteModel, features: &[DVector<f64>], test: &[(usize, usize)]) -> Result<f64> {
    if test.is_empty() {
        return Ok(f64::NAN);
    }
    let mut correct = 0.0;
    for &(c, r) in test {
        let p = model.prefer(&features[c], &features[r])?.probability;
        correct += if p > 0.5 { 1.0 } else if p == 0.5 { 0.5 } else { 0.0 };
    }
    Ok(correct / test.len() as f64)
}

/// Accuracy after k = 0..=max_k answers for one user and one order of questions.
fn curve(
    spec: &FeatureSpec,
    features: &[DVector<f64>],
    user: &EvalUser,
    strategy: Strategy,
    max_k: usize,
    rng: &mut StdRng,
) -> Result<Vec<f64>> {
    let mut model = TasteModel::new(spec.clone())?;
    let mut remaining = user.train.clone();
    if strategy == Strategy::Random {
        remaining.shuffle(rng);
        remaining.reverse(); // pop() from the end takes them in shuffled order
    }
    let mut out = vec![accuracy(&model, features, &user.test)?];
    for _ in 0..max_k {
        let next = match strategy {
            Strategy::None => None,
            Strategy::Random => remaining.pop(),
            Strategy::Active => {
                let mut best: Option<(usize, f64)> = None;
                for (i, &(c, r)) in remaining.iter().enumerate() {
                    let gain = model.information_gain(&features[c], &features[r])?;
                    if best.is_none_or(|(_, g)| gain > g) {
                        best = Some((i, gain));
                    }
                }
                best.map(|(i, _)| remaining.swap_remove(i))
            }
        };
        if let Some((c, r)) = next {
            model.answer(&features[c], &features[r], Answer::A)?;
        }
        out.push(accuracy(&model, features, &user.test)?);
    }
    Ok(out)
}

/// Mean test accuracy over users (and over `seeds` orders for random) at k = 0..=max_k.
pub fn evaluate(
    spec: &FeatureSpec,
    features: &[DVector<f64>],
    users: &[EvalUser],
    strategy: Strategy,
    max_k: usize,
    seeds: u64,
    progress: impl FnMut(usize),
) -> Result<Vec<f64>> {
    let per_user = evaluate_users(spec, features, users, strategy, max_k, seeds, progress)?;
    let mut sum = vec![0.0; max_k + 1];
    for curve in &per_user {
        for (s, a) in sum.iter_mut().zip(curve) {
            *s += a;
        }
    }
    Ok(sum.into_iter().map(|s| s / per_user.len() as f64).collect())
}

/// Each user's test accuracy at k = 0..=max_k (averaged over `seeds` orders for random), for the
/// users with test pairs, in order.
pub fn evaluate_users(
    spec: &FeatureSpec,
    features: &[DVector<f64>],
    users: &[EvalUser],
    strategy: Strategy,
    max_k: usize,
    seeds: u64,
    mut progress: impl FnMut(usize),
) -> Result<Vec<Vec<f64>>> {
    if let Some(bad) = users.iter().flat_map(|u| u.train.iter().chain(&u.test)).find(|&&(c, r)| c >= features.len() || r >= features.len()) {
        return Err(PersonalError::InvalidSpec(format!("pair {bad:?} refers to a reply with no features")));
    }
    let users: Vec<&EvalUser> = users.iter().filter(|u| !u.test.is_empty()).collect();
    if users.is_empty() {
        return Err(PersonalError::InvalidSpec("no user has test pairs".into()));
    }
    let runs = if strategy == Strategy::Random { seeds.max(1) } else { 1 };
    let mut out = Vec::with_capacity(users.len());
    for (u, user) in users.iter().enumerate() {
        let mut sum = vec![0.0; max_k + 1];
        for seed in 0..runs {
            let mut rng = StdRng::seed_from_u64(seed * 1_000_003 + u as u64);
            for (s, a) in sum.iter_mut().zip(curve(spec, features, user, strategy, max_k, &mut rng)?) {
                *s += a;
            }
        }
        out.push(sum.into_iter().map(|s| s / runs as f64).collect());
        progress(u + 1);
    }
    Ok(out)
}

/// The smallest k whose accuracy reaches `target`, if any.
pub fn answers_to_reach(curve: &[f64], target: f64) -> Option<usize> {
    curve.iter().position(|&a| a >= target)
}
