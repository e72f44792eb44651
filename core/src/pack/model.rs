//! The statistical classifier's model: pack data, read once when the pack
//! compiles (in `configure`, before the snapshot), then only looked up.
//!
//! A model is a text file in the pack (`[model] file = "…"`):
//!
//! ```text
//! # comments
//! mailward-model 1        format version
//! tokenizer 1             checks::classifier::tokenize::TOKENIZER_VERSION it was trained with
//! norm l2                 feature values: 1/sqrt(distinct features in the message)
//! bias -1.25
//! 0.8123<TAB>free         weight, a tab, the feature (the rest of the line)
//! ```
//!
//! The score of a message is `bias + Σ weight(f) · x` over its distinct
//! features `f`, and its spam probability the logistic function of that
//! (a logistic-regression model over hashed features). Features are
//! looked up by a 64-bit FNV-1a hash in an open-addressing table, so a
//! check allocates nothing for the model and reads a few cache lines per
//! feature.

/// The model file format this crate reads.
pub const FORMAT_VERSION: u32 = 1;

/// How feature values are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// Every present feature has value 1.
    None,
    /// Every present feature has value 1/sqrt(n), n = distinct features
    /// of the message (the vector has unit length).
    L2,
}

/// A compiled classifier model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The tokenizer version it was trained with.
    pub tokenizer: u32,
    /// Feature scaling.
    pub norm: Norm,
    /// The intercept.
    pub bias: f64,
    /// Open-addressing table: (tag, weight) per slot, 8 bytes, so a
    /// lookup reads one cache line. The slot is chosen by the hash's low
    /// bits, the tag is its high 32 bits (never 0; 0 marks an empty slot).
    slots: Vec<(u32, f32)>,
    /// For each slot, the number of its feature's name (see `offsets`).
    names: Vec<u32>,
    /// Every feature name, one after another: one allocation, not one
    /// `String` per name (the default pack's 24 118 names, 297 KB of text,
    /// cost the sandboxed instance 0.8 MiB more memory that way).
    text: String,
    /// Where name number k starts in `text`; one more entry, the end.
    offsets: Vec<u32>,
    mask: usize,
}

/// The tag stored for a hash (its high half, 0 reserved for empty slots).
fn tag(hash: u64) -> u32 {
    ((hash >> 32) as u32).max(1)
}

/// FNV-1a, 64 bits: the feature hash (stable across platforms and runs).
pub fn feature_hash(feature: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in feature.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // 0 marks an empty slot in the table.
    h.max(1)
}

/// Where a model line is wrong: (1-based line, message).
pub type ModelError = (usize, String);

impl Model {
    /// Reads a model file.
    pub fn parse(text: &str) -> Result<Model, ModelError> {
        let mut format = None;
        let mut tokenizer = None;
        let mut norm = None;
        let mut bias = None;
        let mut entries: Vec<(u64, f32, &str)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((w, feature)) = line.split_once('\t') {
                let w: f32 = w.trim().parse().map_err(|_| (n, format!("bad weight {w:?}")))?;
                if !w.is_finite() {
                    return Err((n, "weight is not finite".into()));
                }
                if feature.is_empty() {
                    return Err((n, "empty feature".into()));
                }
                entries.push((feature_hash(feature), w, feature));
                continue;
            }
            let (key, value) = line.split_once(' ').ok_or_else(|| {
                (
                    n,
                    format!("expected `key value` or `weight<TAB>feature`, got {line:?}"),
                )
            })?;
            let value = value.trim();
            match key {
                "mailward-model" => {
                    let v: u32 = value.parse().map_err(|_| (n, format!("bad version {value:?}")))?;
                    if v != FORMAT_VERSION {
                        return Err((n, format!("model format {v}, this build reads {FORMAT_VERSION}")));
                    }
                    format = Some(v);
                }
                "tokenizer" => {
                    tokenizer = Some(
                        value
                            .parse()
                            .map_err(|_| (n, format!("bad tokenizer {value:?}")))?,
                    )
                }
                "norm" => {
                    norm = Some(match value {
                        "l2" => Norm::L2,
                        "none" => Norm::None,
                        other => return Err((n, format!("unknown norm {other:?} (l2, none)"))),
                    })
                }
                "bias" => {
                    let b: f64 = value.parse().map_err(|_| (n, format!("bad bias {value:?}")))?;
                    if !b.is_finite() {
                        return Err((n, "bias is not finite".into()));
                    }
                    bias = Some(b);
                }
                other => return Err((n, format!("unknown model key {other:?}"))),
            }
        }
        if format.is_none() {
            return Err((1, "the first statement must be `mailward-model 1`".into()));
        }
        let tokenizer = tokenizer.ok_or((0, "no `tokenizer` line".to_string()))?;
        let norm = norm.ok_or((0, "no `norm` line".to_string()))?;
        let bias = bias.ok_or((0, "no `bias` line".to_string()))?;
        // Load factor at most 3/4.
        let n_slots = (entries.len() * 4 / 3 + 1).next_power_of_two().max(16);
        let mut slots = vec![(0u32, 0f32); n_slots];
        let mut names = vec![0u32; n_slots];
        let mask = n_slots - 1;
        let mut names_text = String::with_capacity(entries.iter().map(|e| e.2.len()).sum());
        let mut offsets = Vec::with_capacity(entries.len() + 1);
        offsets.push(0u32);
        for (h, w, f) in entries {
            let t = tag(h);
            let mut i = (h as usize) & mask;
            while slots[i].0 != 0 {
                if slots[i].0 == t {
                    return Err((
                        0,
                        format!("feature {f:?} is listed twice (or collides with another)"),
                    ));
                }
                i = (i + 1) & mask;
            }
            slots[i] = (t, w);
            names[i] = (offsets.len() - 1) as u32;
            names_text.push_str(f);
            let end = u32::try_from(names_text.len())
                .map_err(|_| (0, "the model's feature names exceed 4 GiB".to_string()))?;
            offsets.push(end);
        }
        Ok(Model {
            tokenizer,
            norm,
            bias,
            slots,
            names,
            text: names_text,
            offsets,
            mask,
        })
    }

    /// Number of features with a weight.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True when the model has no features.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of feature number `k`.
    fn name(&self, k: u32) -> &str {
        let k = k as usize;
        &self.text[self.offsets[k] as usize..self.offsets[k + 1] as usize]
    }

    fn slot(&self, hash: u64) -> Option<usize> {
        let t = tag(hash);
        let mut i = (hash as usize) & self.mask;
        loop {
            match self.slots[i].0 {
                0 => return None,
                k if k == t => return Some(i),
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// The weight of the feature with hash `hash`.
    pub fn weight(&self, hash: u64) -> Option<f32> {
        self.slot(hash).map(|i| self.slots[i].1)
    }

    /// Scores a message from its distinct feature hashes (sorted, no
    /// duplicates). Returns the spam probability and the features that
    /// pushed hardest towards it, strongest first (at most `top`).
    pub fn score(&self, distinct: &[u64], top: usize) -> Score<'_> {
        let x = match self.norm {
            Norm::None => 1.0,
            Norm::L2 => 1.0 / (distinct.len().max(1) as f64).sqrt(),
        };
        let mut z = self.bias;
        let mut known = 0;
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(top + 1);
        for &h in distinct {
            if let Some(i) = self.slot(h) {
                let w = self.slots[i].1;
                known += 1;
                z += f64::from(w) * x;
                if top > 0 && w > 0.0 && (best.len() < top || w > best[best.len() - 1].0) {
                    let at = best.iter().position(|b| w > b.0).unwrap_or(best.len());
                    best.insert(at, (w, i));
                    best.truncate(top);
                }
            }
        }
        Score {
            known,
            logit: z,
            probability: 1.0 / (1.0 + (-z).exp()),
            top: best.into_iter().map(|(_, i)| self.name(self.names[i])).collect(),
        }
    }
}

/// A message's classifier score.
#[derive(Debug, Clone, PartialEq)]
pub struct Score<'m> {
    /// How many of the message's features the model knows.
    pub known: usize,
    /// `bias + Σ w·x`.
    pub logit: f64,
    /// Spam probability (logistic of the logit).
    pub probability: f64,
    /// The strongest spam features present.
    pub top: Vec<&'m str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "# test\nmailward-model 1\ntokenizer 1\nnorm none\nbias -1.5\n2.0\tfree\n-1.0\tmeeting\n0.5\tb:click here\n";

    #[test]
    fn parses_and_scores() {
        let m = Model::parse(M).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.weight(feature_hash("free")), Some(2.0));
        assert_eq!(m.weight(feature_hash("b:click here")), Some(0.5));
        assert_eq!(m.weight(feature_hash("absent")), None);
        let mut hs = vec![
            feature_hash("free"),
            feature_hash("b:click here"),
            feature_hash("other"),
        ];
        hs.sort_unstable();
        let s = m.score(&hs, 2);
        assert!((s.logit - 1.0).abs() < 1e-9);
        assert!((s.probability - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12);
        assert_eq!(s.top, ["free", "b:click here"]);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(Model::parse("mailward-model 2\n").unwrap_err().0, 1);
        let e = Model::parse("mailward-model 1\ntokenizer 1\nnorm l2\nbias 0\nx\tfree\n").unwrap_err();
        assert_eq!(e.0, 5);
        let e =
            Model::parse("mailward-model 1\ntokenizer 1\nnorm l2\nbias 0\n1\tfree\n2\tfree\n").unwrap_err();
        assert!(e.1.contains("twice"), "{e:?}");
        assert!(Model::parse("tokenizer 1\n").is_err());
        assert!(
            Model::parse("mailward-model 1\ntokenizer 1\nbias 0\n")
                .unwrap_err()
                .1
                .contains("norm")
        );
    }

    #[test]
    fn loading_is_deterministic() {
        let a = Model::parse(M).unwrap();
        let b = Model::parse(M).unwrap();
        assert_eq!(a, b);
    }
}
