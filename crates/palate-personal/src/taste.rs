//! One user's taste, end to end: features in, ranking, questions and explanations out. This is
//! what the CLI and the browser worker hold per user; [`crate::profile`] saves and restores it.

use std::collections::HashSet;

use nalgebra::{DMatrix, DVector};

use crate::active::{Question, information_gain, next_question};
use crate::features::{FeatureKind, FeatureSpec, ReplyEmbedding};
use crate::mixture::MixturePosterior;
use crate::posterior::{Answer, Preference};
use crate::{PersonalError, Result};

/// Feature differences smaller than this (in standard deviations) do not count as evidence in
/// explanations, and pairs closer than this are near-duplicates for questions.
pub const MEANINGFUL_DIFFERENCE: f64 = 0.5;

/// An answered question, kept for the profile and for explanations.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub a: DVector<f64>,
    pub b: DVector<f64>,
    pub answer: Answer,
}

/// A group of features that an explanation talks about.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    /// "reward", a principle's name, or "taste".
    pub group: String,
    /// Reward contributed relative to the average candidate.
    pub value: f64,
}

/// One reply in a ranking.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranked {
    /// Position of the reply in the input.
    pub index: usize,
    /// Posterior mean of the personal reward.
    pub reward: f64,
    /// Posterior standard deviation of the reward relative to the candidates' average.
    pub uncertainty: f64,
    /// What the ranking sorted by: `reward`, or `reward − λ·uncertainty` when conservative.
    pub score: f64,
    pub contributions: Vec<Contribution>,
    pub explanation: String,
}

/// A user's taste model: the feature spec, the posterior and the answer history.
#[derive(Clone, Debug)]
pub struct TasteModel {
    spec: FeatureSpec,
    posterior: MixturePosterior,
    history: Vec<Choice>,
}

impl TasteModel {
    /// A new user: the posterior is the spec's population prior.
    pub fn new(spec: FeatureSpec) -> Result<Self> {
        spec.validate()?;
        let posterior = prior_posterior(&spec)?;
        Ok(Self { spec, posterior, history: Vec::new() })
    }

    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }
    pub fn posterior(&self) -> &MixturePosterior {
        &self.posterior
    }
    pub fn history(&self) -> &[Choice] {
        &self.history
    }

    /// Features of one prompt's candidates (see [`FeatureSpec::candidate_features`]).
    pub fn features(&self, replies: &[ReplyEmbedding], base_rewards: Option<&[f64]>) -> Result<Vec<DVector<f64>>> {
        self.spec.candidate_features(replies, base_rewards)
    }

    /// Records an answer about replies with features `a` and `b`. On error nothing changes.
    pub fn answer(&mut self, a: &DVector<f64>, b: &DVector<f64>, answer: Answer) -> Result<()> {
        self.posterior.update(a, b, answer)?;
        self.history.push(Choice { a: a.clone(), b: b.clone(), answer });
        Ok(())
    }

    /// Forgets every answer: back to the population prior.
    pub fn forget(&mut self) {
        self.posterior.reset();
        self.history.clear();
    }

    pub fn prefer(&self, a: &DVector<f64>, b: &DVector<f64>) -> Result<Preference> {
        self.posterior.prefer(a, b)
    }

    /// The most informative pair to ask about among `candidates` (BALD), skipping `asked` pairs and
    /// near-duplicates.
    pub fn next_question(&self, candidates: &[DVector<f64>], asked: &HashSet<(usize, usize)>) -> Result<Question> {
        check_candidates(candidates, self.spec.dim(), 2)?;
        next_question(&self.posterior, candidates, asked, MEANINGFUL_DIFFERENCE * 0.1)
    }

    /// Expected information gain of asking about `a` vs `b`.
    pub fn information_gain(&self, a: &DVector<f64>, b: &DVector<f64>) -> Result<f64> {
        information_gain(&self.posterior, a, b)
    }

    /// Ranks one prompt's candidates, best first. `conservative = Some(λ)` sorts by
    /// `mean − λ·sd` (Eisenstein et al., "Helping or Herding?", 2023: pessimistic aggregation
    /// against reward hacking in best-of-N), otherwise by the mean.
    pub fn rerank(&self, candidates: &[DVector<f64>], conservative: Option<f64>) -> Result<Vec<Ranked>> {
        check_candidates(candidates, self.spec.dim(), 1)?;
        if let Some(l) = conservative
            && !(l.is_finite() && l >= 0.0)
        {
            return Err(PersonalError::InvalidSpec(format!("conservative λ must be a non-negative number, got {l}")));
        }
        let n = candidates.len() as f64;
        let centre = candidates.iter().fold(DVector::zeros(self.spec.dim()), |acc, c| acc + c) / n;
        let w = self.posterior.mean();
        let mut ranked: Vec<Ranked> = candidates
            .iter()
            .enumerate()
            .map(|(index, x)| {
                let (reward, _) = self.posterior.reward(x)?;
                // Uncertainty of the reward relative to the average candidate: a shared offset
                // cannot change the order.
                let (_, uncertainty) = self.posterior.reward(&(x - &centre))?;
                let score = reward - conservative.unwrap_or(0.0) * uncertainty;
                let contributions = self.contributions(w, &(x - &centre));
                Ok(Ranked { index, reward, uncertainty, score, contributions, explanation: String::new() })
            })
            .collect::<Result<_>>()?;
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        let count = ranked.len();
        for (pos, r) in ranked.iter_mut().enumerate() {
            r.explanation = self.explain(pos, count, &r.contributions);
        }
        Ok(ranked)
    }

    fn contributions(&self, w: &DVector<f64>, offset: &DVector<f64>) -> Vec<Contribution> {
        let mut out: Vec<Contribution> = Vec::new();
        let mut taste = 0.0;
        for i in 0..self.spec.dim() {
            let v = w[i] * offset[i];
            match self.spec.kind(i) {
                FeatureKind::BaseReward => out.push(Contribution { group: "reward".into(), value: v }),
                FeatureKind::Shared => out.push(Contribution { group: "shared".into(), value: v }),
                FeatureKind::Cue(_) => out.push(Contribution { group: self.spec.names()[i].clone(), value: v }),
                FeatureKind::Principle(p) => {
                    out.push(Contribution { group: self.spec.principles[p].principle.name.clone(), value: v })
                }
                FeatureKind::Basis(_) => taste += v,
            }
        }
        if !self.spec.basis.is_empty() {
            out.push(Contribution { group: "taste".into(), value: taste });
        }
        out
    }

    /// "Ranked first mostly because it is more concise than the other replies; you picked the
    /// more concise reply in 4 of 5 choices."
    fn explain(&self, position: usize, count: usize, contributions: &[Contribution]) -> String {
        let place = ordinal(position + 1);
        if count == 1 {
            return "The only reply.".into();
        }
        let best = contributions.iter().max_by(|a, b| {
            let (x, y) = if position == 0 { (a.value, b.value) } else { (a.value.abs(), b.value.abs()) };
            x.total_cmp(&y)
        });
        let Some(best) = best.filter(|c| c.value.abs() > 1e-9) else {
            return format!("Ranked {place}: it is much like the other replies in every respect Palate measures.");
        };
        let (reason, evidence) = self.reason(best);
        let lead = if position == 0 { format!("Ranked {place} mostly because") } else { format!("Ranked {place}:") };
        match evidence {
            Some(e) => format!("{lead} {reason}; {e}."),
            None => format!("{lead} {reason}."),
        }
    }

    /// The words for one contribution, and the evidence from the user's own answers.
    fn reason(&self, c: &Contribution) -> (String, Option<String>) {
        let up = c.value > 0.0;
        if let Some(words) = cue_words(&c.group) {
            return self.cue_reason(&c.group, words, up);
        }
        match c.group.as_str() {
            "reward" => {
                let r = if up { "the reward model rates it above the others" } else { "the reward model rates it below the others" };
                (r.into(), None)
            }
            "shared" => {
                let r = if up { "people generally prefer replies like it" } else { "people generally prefer other replies" };
                let source = self.spec.shared.as_ref().map(|s| format!("a reward learned from {}", s.trained_on));
                (r.into(), source)
            }
            "taste" => {
                let range = self.basis_range();
                let (agree, total) = self.evidence(|x| range.clone().map(|i| self.posterior.mean()[i] * x[i]).sum::<f64>(), true);
                let r = if up { "it matches the style you have been choosing" } else { "it is unlike the style you have been choosing" };
                let e = (total > 0).then(|| format!("that style won {agree} of your {total} choices"));
                (r.into(), e)
            }
            name => {
                let Some((i, p)) = self.principle(name) else { return (format!("of {name}"), None) };
                let w = self.posterior.mean()[i];
                let more = (w > 0.0) == up; // the reply has more of the principle than average
                let label = &p.principle.label;
                let r = format!("it is {} {label} than the other replies", if more { "more" } else { "less" });
                let prefers_more = w > 0.0;
                let (agree, total) = self.evidence(|x| x[i], prefers_more);
                let which = if prefers_more { "more" } else { "less" };
                let e = if total > 0 {
                    Some(format!("you picked the {which} {label} reply in {agree} of {total} choices"))
                } else {
                    let base = self.spec.prior.mean[i];
                    Some(if (base > 0.0) == prefers_more {
                        format!("most people prefer {which} {label} replies")
                    } else {
                        format!("your answers point to {which} {label} replies")
                    })
                };
                (r, e)
            }
        }
    }

    /// The words for a cue ([`cue_words`]) and the user's own evidence about it.
    fn cue_reason(&self, name: &str, (more_word, less_word): (&str, &str), up: bool) -> (String, Option<String>) {
        let Some(i) = self.spec.names().iter().position(|n| n == name) else { return (format!("of {name}"), None) };
        let w = self.posterior.mean()[i];
        let more = (w > 0.0) == up;
        let r = format!("it {} than the other replies", if more { more_word } else { less_word });
        let (agree, total) = self.evidence(|x| x[i], w > 0.0);
        let picked = if w > 0.0 { more_word } else { less_word };
        (r, (total > 0).then(|| format!("you picked the reply that {picked} in {agree} of {total} choices")))
    }

    fn principle(&self, name: &str) -> Option<(usize, &crate::features::PrincipleHead)> {
        let offset = self.spec.offset();
        self.spec.principles.iter().enumerate().find(|(_, p)| p.principle.name == name).map(|(k, p)| (offset + k, p))
    }

    fn basis_range(&self) -> std::ops::Range<usize> {
        let start = self.spec.offset() + self.spec.principles.len();
        start..start + self.spec.basis.len()
    }

    /// Among decisive answers whose replies differ meaningfully in `f`, how many chose the reply
    /// with the higher `f` (or the lower one when `higher` is false).
    fn evidence(&self, f: impl Fn(&DVector<f64>) -> f64, higher: bool) -> (usize, usize) {
        let (mut agree, mut total) = (0, 0);
        for c in &self.history {
            let (chosen, other) = match c.answer {
                Answer::A => (&c.a, &c.b),
                Answer::B => (&c.b, &c.a),
                Answer::Tie | Answer::Skip => continue,
            };
            let d = f(chosen) - f(other);
            if d.abs() < MEANINGFUL_DIFFERENCE {
                continue;
            }
            total += 1;
            if (d > 0.0) == higher {
                agree += 1;
            }
        }
        (agree, total)
    }

    /// Rebuilds a model from a spec, a posterior-independent history (profile import).
    pub(crate) fn replay(spec: FeatureSpec, history: Vec<Choice>) -> Result<Self> {
        let mut model = Self::new(spec)?;
        model.posterior.update_many(history.iter().map(|c| (&c.a, &c.b, c.answer)))?;
        model.history = history;
        Ok(model)
    }
}

/// The spec's population prior (one Gaussian or a mixture) as a posterior with no answers.
fn prior_posterior(spec: &FeatureSpec) -> Result<MixturePosterior> {
    let d = spec.dim();
    MixturePosterior::new(
        spec.prior
            .mixture()
            .into_iter()
            .map(|(w, mean, cov)| (w, DVector::from_column_slice(mean), DMatrix::from_fn(d, d, |i, j| cov[i][j])))
            .collect(),
    )
}

fn check_candidates(candidates: &[DVector<f64>], dim: usize, needed: usize) -> Result<()> {
    if candidates.len() < needed {
        return Err(PersonalError::TooFewCandidates { needed, found: candidates.len() });
    }
    for c in candidates {
        if c.len() != dim {
            return Err(PersonalError::DimensionMismatch { expected: dim, found: c.len() });
        }
        if c.iter().any(|v| !v.is_finite()) {
            return Err(PersonalError::NonFinite { what: "candidate features" });
        }
    }
    Ok(())
}

/// How a cue reads in an explanation: (more of it, less of it).
fn cue_words(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "length" => Some(("is longer", "is shorter")),
        "sentences" => Some(("has more sentences", "has fewer sentences")),
        "on-topic" => Some(("stays closer to the question", "strays further from the question")),
        _ => None,
    }
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "first".into(),
        2 => "second".into(),
        3 => "third".into(),
        _ => {
            let suffix = match (n % 10, n % 100) {
                (_, 11..=13) => "th",
                (1, _) => "st",
                (2, _) => "nd",
                (3, _) => "rd",
                _ => "th",
            };
            format!("{n}{suffix}")
        }
    }
}
