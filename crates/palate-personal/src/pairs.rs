//! Human preference pairs (`data/preferences/*.jsonl.gz`): one JSON object a line, read with
//! errors that name the file and line; the held-out split by conversation; pairwise accuracy with
//! a bootstrap interval.
//!
//! A line: `{"source", "user", "context", "prompt", "chosen", "rejected", "strength"?}`, where
//! `context` holds the earlier turns `[{"role", "content"}]` before `prompt` (the last user turn).

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One earlier turn of the conversation.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
pub struct Turn {
    pub role: String,
    pub content: String,
}

/// One human judgment: `chosen` was preferred to `rejected` as the reply to `prompt`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PreferencePair {
    pub source: String,
    /// The annotator, where the data names one.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub context: Vec<Turn>,
    pub prompt: String,
    pub chosen: String,
    pub rejected: String,
    /// 1 = slightly better, 2 = clearly better, absent = not graded.
    #[serde(default)]
    pub strength: Option<u8>,
}

/// A line that is not a preference pair.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    #[error("{file}:{line}: {detail}")]
    Line { file: String, line: usize, detail: String },
    #[error("{file}: no preference pairs in the file")]
    Empty { file: String },
}

impl PreferencePair {
    /// Parses one line; `file` and `line` (1-based) name it in the error.
    pub fn parse(json: &str, file: &str, line: usize) -> Result<Self, DataError> {
        let bad = |detail: String| DataError::Line { file: file.to_string(), line, detail };
        let pair: Self = serde_json::from_str(json).map_err(|e| bad(format!("not a preference pair: {e}")))?;
        for (name, text) in [("prompt", &pair.prompt), ("chosen", &pair.chosen), ("rejected", &pair.rejected)] {
            if text.trim().is_empty() {
                return Err(bad(format!("\"{name}\" is empty")));
            }
        }
        if pair.source.trim().is_empty() {
            return Err(bad("\"source\" is empty".into()));
        }
        if let Some(t) = pair.context.iter().find(|t| t.role != "user" && t.role != "assistant") {
            return Err(bad(format!("a context turn has role \"{}\" (expected \"user\" or \"assistant\")", t.role)));
        }
        Ok(pair)
    }

    /// The conversation's first user turn: what identifies a prompt for the held-out split, so
    /// that later turns of a held-out conversation are held out too.
    pub fn conversation_key(&self) -> &str {
        self.context.iter().find(|t| t.role == "user").map_or(&self.prompt, |t| &t.content)
    }
}

/// Every pair in a JSON-lines text (blank lines skipped). A malformed line is an error naming
/// `file` and its line number; a text with no pairs is an error.
pub fn parse_lines(text: &str, file: &str) -> Result<Vec<PreferencePair>, DataError> {
    let pairs = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| PreferencePair::parse(l, file, n + 1))
        .collect::<Result<Vec<_>, _>>()?;
    if pairs.is_empty() {
        return Err(DataError::Empty { file: file.to_string() });
    }
    Ok(pairs)
}

/// Fraction of conversations held out from training by default.
pub const HELD_OUT_FRACTION: f64 = 0.2;

/// Whether `pair` belongs to the held-out `fraction` of conversations: the first 8 bytes of the
/// sha256 of its [`PreferencePair::conversation_key`], as a number in [0, 1), fall in the top
/// `fraction`. Deterministic, independent of file order, and the same conversation is always on
/// the same side.
pub fn held_out(pair: &PreferencePair, fraction: f64) -> bool {
    in_fraction(pair.conversation_key(), fraction)
}

/// Whether `key` falls in the top `fraction` of keys by the first 8 bytes of its sha256, read as
/// a number in [0, 1): a deterministic split by key (salt the key for an independent split).
pub fn in_fraction(key: &str, fraction: f64) -> bool {
    let h = Sha256::digest(key.as_bytes());
    let mut x = [0u8; 8];
    x.copy_from_slice(&h[..8]);
    let u = u64::from_be_bytes(x) as f64 / (u64::MAX as f64 + 1.0);
    u >= 1.0 - fraction
}

/// At most `per_source` pairs of each source, chosen by the sha256 of the pair's texts (a
/// deterministic sample spread over the file, for evaluations too slow to run on every pair), in
/// their original order.
pub fn sample_per_source(pairs: Vec<PreferencePair>, per_source: usize) -> Vec<PreferencePair> {
    let rank = |p: &PreferencePair| -> [u8; 8] {
        let mut h = Sha256::new();
        for part in [&p.prompt, &p.chosen, &p.rejected] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let mut x = [0u8; 8];
        x.copy_from_slice(&h.finalize()[..8]);
        x
    };
    let mut by_source: std::collections::BTreeMap<&str, Vec<(usize, [u8; 8])>> = Default::default();
    for (i, p) in pairs.iter().enumerate() {
        by_source.entry(&p.source).or_default().push((i, rank(p)));
    }
    let mut keep = vec![false; pairs.len()];
    for ranked in by_source.values_mut() {
        ranked.sort_by_key(|&(i, r)| (r, i));
        for &(i, _) in ranked.iter().take(per_source) {
            keep[i] = true;
        }
    }
    pairs.into_iter().zip(keep).filter_map(|(p, k)| k.then_some(p)).collect()
}

/// Accuracy and its 95% percentile-bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Accuracy {
    pub pairs: usize,
    pub accuracy: f64,
    pub ci95: [f64; 2],
}

/// Mean of `outcomes` (1 = right, 0 = wrong, ½ = tie) with a 95% bootstrap interval from
/// `resamples` resamples of the pairs (seeded: the same input gives the same interval).
pub fn accuracy_with_interval(outcomes: &[f64], resamples: usize, seed: u64) -> Accuracy {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let n = outcomes.len();
    if n == 0 {
        return Accuracy { pairs: 0, accuracy: f64::NAN, ci95: [f64::NAN, f64::NAN] };
    }
    let mean = outcomes.iter().sum::<f64>() / n as f64;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| (0..n).map(|_| outcomes[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
    Accuracy { pairs: n, accuracy: mean, ci95: [at(0.025), at(0.975)] }
}

/// 1 when `chosen` scored above `rejected`, ½ on a tie, 0 otherwise.
pub fn outcome(chosen: f64, rejected: f64) -> f64 {
    if chosen > rejected {
        1.0
    } else if chosen == rejected {
        0.5
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"source": "s", "user": null, "context": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}], "prompt": "p", "chosen": "a", "rejected": "b", "strength": null}"#;

    #[test]
    fn a_line_parses_and_its_conversation_key_is_the_first_user_turn() {
        let p = PreferencePair::parse(LINE, "f", 1).unwrap();
        assert_eq!(p.conversation_key(), "first");
        assert_eq!(p.context.len(), 2);
        let no_context = PreferencePair::parse(r#"{"source": "s", "prompt": "p", "chosen": "a", "rejected": "b"}"#, "f", 1).unwrap();
        assert_eq!(no_context.conversation_key(), "p");
    }

    #[test]
    fn a_sample_per_source_caps_each_source_and_keeps_order() {
        let line = |source: &str, i: usize| {
            PreferencePair::parse(&format!(r#"{{"source": "{source}", "prompt": "p{i}", "chosen": "a", "rejected": "b"}}"#), "f", 1).unwrap()
        };
        let pairs: Vec<_> = (0..30).map(|i| line(if i % 3 == 0 { "x" } else { "y" }, i)).collect();
        let sample = sample_per_source(pairs.clone(), 4);
        assert_eq!(sample.iter().filter(|p| p.source == "x").count(), 4);
        assert_eq!(sample.iter().filter(|p| p.source == "y").count(), 4);
        let at: Vec<usize> = sample.iter().map(|s| pairs.iter().position(|p| p == s).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "original order: {at:?}");
        assert_ne!(at.iter().filter(|&&i| i % 3 != 0).copied().collect::<Vec<_>>(), vec![1, 2, 4, 5], "a spread, not the first four");
        assert_eq!(sample_per_source(pairs.clone(), 4), sample, "deterministic");
        assert_eq!(sample_per_source(pairs.clone(), 100).len(), 30);
    }

    #[test]
    fn malformed_lines_name_the_file_and_line() {
        let text = format!("{LINE}\n\n{{\"source\": \"s\", \"prompt\": \"p\", \"chosen\": \"a\"}}\n");
        match parse_lines(&text, "data.jsonl") {
            Err(DataError::Line { file, line, detail }) => {
                assert_eq!((file.as_str(), line), ("data.jsonl", 3));
                assert!(detail.contains("rejected"), "{detail}");
            }
            other => panic!("expected a line error, got {other:?}"),
        }
        let empty_reply = LINE.replace(r#""chosen": "a""#, r#""chosen": " ""#);
        assert!(matches!(parse_lines(&empty_reply, "f"), Err(DataError::Line { line: 1, ref detail, .. }) if detail.contains("chosen")));
        let role = LINE.replace(r#""role": "assistant""#, r#""role": "system""#);
        assert!(matches!(parse_lines(&role, "f"), Err(DataError::Line { ref detail, .. }) if detail.contains("system")));
        assert_eq!(parse_lines("\n  \n", "f"), Err(DataError::Empty { file: "f".into() }));
        assert!(matches!(parse_lines("not json", "f"), Err(DataError::Line { line: 1, .. })));
    }

    #[test]
    fn the_held_out_split_follows_the_conversation_and_its_fraction() {
        let pair = |key: &str, prompt: &str| PreferencePair {
            source: "s".into(),
            user: None,
            context: vec![Turn { role: "user".into(), content: key.into() }],
            prompt: prompt.into(),
            chosen: "a".into(),
            rejected: "b".into(),
            strength: None,
        };
        let n = 4000;
        let held = (0..n).filter(|i| held_out(&pair(&format!("conversation {i}"), "p"), 0.2)).count();
        assert!((held as f64 / n as f64 - 0.2).abs() < 0.03, "{held} of {n}");
        // Later turns of one conversation fall on the same side.
        for i in 0..50 {
            let key = format!("conversation {i}");
            assert_eq!(held_out(&pair(&key, "later turn"), 0.2), held_out(&pair(&key, "another"), 0.2));
        }
        assert!(!held_out(&pair("x", "p"), 0.0));
        assert!(held_out(&pair("x", "p"), 1.0));
    }

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_narrows_with_more_pairs() {
        let small: Vec<f64> = (0..40).map(|i| f64::from(u8::from(i % 3 != 0))).collect();
        let large: Vec<f64> = (0..4000).map(|i| f64::from(u8::from(i % 3 != 0))).collect();
        let a = accuracy_with_interval(&small, 1000, 1);
        let b = accuracy_with_interval(&large, 1000, 1);
        assert!((a.accuracy - 26.0 / 40.0).abs() < 1e-12);
        assert!(a.ci95[0] < a.accuracy && a.accuracy < a.ci95[1]);
        assert!(b.ci95[1] - b.ci95[0] < 0.3 * (a.ci95[1] - a.ci95[0]));
        // Binomial standard error at n = 4000, p = 2/3: 0.00745; the 95% half-width ≈ 0.0146.
        assert!(((b.ci95[1] - b.ci95[0]) / 2.0 - 0.0146).abs() < 0.003, "{:?}", b.ci95);
        assert_eq!(accuracy_with_interval(&small, 1000, 1), a, "seeded");
        assert_eq!((outcome(1.0, 0.0), outcome(0.0, 0.0), outcome(0.0, 1.0)), (1.0, 0.5, 0.0));
    }
}
