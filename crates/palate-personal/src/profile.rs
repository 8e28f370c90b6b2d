//! The saved form of a user's taste: a versioned JSON document the user can export, import and
//! forget. It never leaves the device unless the user moves the file.
//!
//! ```json
//! {
//!   "schema": "palate-profile",        // always this string
//!   "version": 1,                      // PROFILE_VERSION; other versions are refused
//!   "model": "…",                      // fingerprint of the embedding model (FeatureSpec::model)
//!   "features": "…",                   // FeatureSpec::fingerprint(): what each feature means
//!   "prior": "…",                      // FeatureSpec::prior_fingerprint(): the population prior
//!   "feature_names": ["concise", …],   // for people reading the file
//!   "posterior": { "mean": [...], "sd": [...] },  // for people; recomputed on import
//!   "history": [ { "a": [...], "b": [...], "answer": "a" | "b" | "tie" | "skip" } ]
//! }
//! ```
//!
//! The answer history is the source of truth: import replays it from the spec's prior, so a
//! profile cannot smuggle in a posterior its answers do not support, and a stored mean that
//! disagrees with the replay marks the file as corrupt. A taste file may be updated with a new
//! population prior over the same features (more training users); a profile made under another
//! prior is then replayed under the new one, its answers kept, without the mean check.

use nalgebra::DVector;
use serde::{Deserialize, Serialize};

use crate::features::FeatureSpec;
use crate::posterior::Answer;
use crate::taste::{Choice, TasteModel};
use crate::{PersonalError, Result};

pub const PROFILE_SCHEMA: &str = "palate-profile";
pub const PROFILE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct ProfileJson {
    schema: String,
    version: u32,
    model: String,
    features: String,
    /// Absent in older profiles: then the stored mean is not checked.
    #[serde(default)]
    prior: String,
    #[serde(default)]
    feature_names: Vec<String>,
    posterior: PosteriorJson,
    history: Vec<ChoiceJson>,
}

#[derive(Serialize, Deserialize)]
struct PosteriorJson {
    mean: Vec<f64>,
    sd: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct ChoiceJson {
    a: Vec<f64>,
    b: Vec<f64>,
    answer: String,
}

fn answer_name(a: Answer) -> &'static str {
    match a {
        Answer::A => "a",
        Answer::B => "b",
        Answer::Tie => "tie",
        Answer::Skip => "skip",
    }
}

/// Parses "a", "b", "tie" or "skip" (any case).
pub fn parse_answer(s: &str) -> Result<Answer> {
    match s.to_ascii_lowercase().as_str() {
        "a" => Ok(Answer::A),
        "b" => Ok(Answer::B),
        "tie" => Ok(Answer::Tie),
        "skip" => Ok(Answer::Skip),
        other => Err(PersonalError::Profile(format!("unknown answer '{other}' (expected a, b, tie or skip)"))),
    }
}

impl TasteModel {
    /// The profile as pretty JSON.
    pub fn export_profile(&self) -> String {
        let post = self.posterior();
        let doc = ProfileJson {
            schema: PROFILE_SCHEMA.into(),
            version: PROFILE_VERSION,
            model: self.spec().model.clone(),
            features: self.spec().fingerprint(),
            prior: self.spec().prior_fingerprint(),
            feature_names: self.spec().names(),
            posterior: PosteriorJson {
                mean: post.mean().iter().copied().collect(),
                sd: (0..post.dim()).map(|i| post.covariance()[(i, i)].max(0.0).sqrt()).collect(),
            },
            history: self
                .history()
                .iter()
                .map(|c| ChoiceJson {
                    a: c.a.iter().copied().collect(),
                    b: c.b.iter().copied().collect(),
                    answer: answer_name(c.answer).into(),
                })
                .collect(),
        };
        // Plain numbers and strings: serialisation cannot fail.
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// A new model from an exported profile, for this `spec`. A profile for another model or
    /// feature spec, or a damaged one, is refused with the reason; `self` (if any) is untouched
    /// because this builds a fresh model.
    pub fn import_profile(spec: FeatureSpec, json: &str) -> Result<Self> {
        let refuse = |m: String| Err(PersonalError::Profile(m));
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| PersonalError::Profile(format!("not JSON: {e}")))?;
        if value.get("schema").and_then(|s| s.as_str()) != Some(PROFILE_SCHEMA) {
            return refuse("this is not a Palate profile (no \"schema\": \"palate-profile\")".into());
        }
        let doc: ProfileJson =
            serde_json::from_value(value).map_err(|e| PersonalError::Profile(format!("damaged profile: {e}")))?;
        if doc.version != PROFILE_VERSION {
            return refuse(format!("profile version {} is not supported (this Palate reads version {PROFILE_VERSION})", doc.version));
        }
        if doc.model != spec.model {
            return refuse(format!(
                "this profile was made with another model ({}), not the one loaded ({}); it was left untouched",
                short(&doc.model),
                short(&spec.model)
            ));
        }
        if doc.features != spec.fingerprint() {
            return refuse(format!(
                "this profile was made with other features ({}), not the loaded ones ({}): different principles or taste basis; it was left untouched",
                short(&doc.features),
                short(&spec.fingerprint())
            ));
        }
        let d = spec.dim();
        let mut history = Vec::with_capacity(doc.history.len());
        for (i, c) in doc.history.iter().enumerate() {
            if c.a.len() != d || c.b.len() != d {
                return refuse(format!("answer {} has features of the wrong length", i + 1));
            }
            if c.a.iter().chain(&c.b).any(|x| !x.is_finite()) {
                return refuse(format!("answer {} contains NaN or infinity", i + 1));
            }
            history.push(Choice {
                a: DVector::from_column_slice(&c.a),
                b: DVector::from_column_slice(&c.b),
                answer: parse_answer(&c.answer)?,
            });
        }
        let spec_prior = spec.prior_fingerprint();
        let model = TasteModel::replay(spec, history)?;
        let mean = model.posterior().mean();
        let same_prior = doc.prior == spec_prior;
        let consistent = !same_prior
            || doc.posterior.mean.len() == d
            && doc.posterior.mean.iter().zip(mean.iter()).all(|(a, b)| (a - b).abs() <= 1e-6 * (1.0 + b.abs()));
        if !consistent {
            return refuse("damaged profile: its stored weights do not follow from its answers".into());
        }
        Ok(model)
    }
}

fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}
