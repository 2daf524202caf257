//! The per-user interest model: cold start from interest phrases, then a
//! regularised logistic model plus a nearest-neighbour term learned from
//! feedback, with explanations.
//!
//! # The model
//!
//! For an item with unit embedding `x`:
//!
//! ```text
//! prior(x) = (max_i cos(x, like_i) - N)               N = NEUTRAL_SIM = 0.2
//!          - max(0, max_j cos(x, dislike_j) - N)     (each term only if
//!                                                     there are such phrases)
//! logit(x) = alpha * prior(x)                    interest phrases
//!          + w . x                               logistic part, learned
//!          + w_src[hash(source)]                 source prior
//!          + w_saga * followed                   saga boost
//!          + w_age * ln(1 + age_days)            recency
//!          + b
//!          + knn_weight * (top-k mean cos to liked examples
//!                          - top-k mean cos to disliked examples)
//! score    = sigmoid(logit)                      in 0..1
//! ```
//!
//! Cold start (no feedback): `w = 0`, `alpha = 10`, `w_saga = 1`, the rest 0, so
//! the ranking is the phrase similarity and a followed saga is lifted a little.
//!
//! Training minimises the weighted logistic loss (like = 1, dislike = 0, an
//! opened link = 1 with a lower weight because a click is weak evidence) plus
//! L2 penalties that pull every parameter back to its cold-start value. With
//! a handful of labels the penalty keeps the phrase prior in charge; with
//! hundreds the data takes over. Why this shape: with 5–20 labels a free
//! 384-dimensional classifier overfits, while the phrase prior alone cannot
//! learn what the user means by "sports" — an offset-plus-penalty model moves
//! smoothly from one to the other and is convex (one answer, found in
//! milliseconds by L-BFGS).
//!
//! Why the neighbour term: a user's interests are rarely one linear direction
//! ("formula 1" and "rust" are two clusters). The k-nearest-neighbour vote
//! over the kept labelled items captures such clusters without training, and
//! on the development data it adds about +0.01 AUC at 100 labels over the
//! logistic part alone. It is also what the "similar to ... which you liked"
//! explanation shows.
//!
//! # Explanations
//!
//! The logit above is a sum, and [`InterestModel::breakdown`] returns its
//! terms: the like phrase `alpha * (cos - NEUTRAL_SIM)`, the dislike phrase
//! `-alpha * max(0, cos - NEUTRAL_SIM)`, feedback (`w . x` plus the neighbour term,
//! cited by the nearest labelled item on the side it pushes, never the item
//! itself), the source prior (only for a source the reader rated), the
//! followed saga and the age. The score and every reason come from that one
//! breakdown: each reason is a term converted to score points by the same
//! factor (the secant of the sigmoid from the bias to the logit), so the
//! points keep the terms' signs and order and add up to the score's distance
//! from an item with no signal. `tests/reasons.rs` checks this for every item
//! of a real-model test set.
//!
//! # What the development data said no to
//!
//! On the AG News dev file (pool-validation mode of
//! `examples/eval_interests.rs`, 4 labels x 5 seeds, mean AUC at 20 / 100
//! labels; defaults 0.914 / 0.955): per-dimension standardisation before
//! the L2 penalty 0.898 / 0.945; class-balanced weights 0.914 / 0.955; the
//! neighbour weight learned jointly from leave-one-out votes 0.912 / 0.953;
//! L2 and neighbour weight chosen per training by 5-fold inner CV
//! 0.913 / 0.955; phrase templates ("an article about ...") +0.010 at 0
//! labels but +0.002 / +0.000 after. The learner sits on a plateau of the
//! MiniLM features; none of these was kept.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::embed::{Embedder, cosine, dot};
use crate::error::{Result, ScoreError};
use crate::optim::lbfgs;

/// Version of the serialised [`InterestModel`] layout. Bumped when a stored
/// model can no longer be read as-is; [`InterestModel::from_json`] refuses
/// other versions instead of misreading them.
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// Number of hash buckets for the source feature. Sources are hashed (not
/// enumerated) so that a new source needs no schema change; collisions only
/// share a small learned prior.
pub const SOURCE_BUCKETS: usize = 64;

/// The user's interest descriptions, as written in the pipeline YAML
/// (`interests: { like: [...], dislike: [...] }`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interests {
    /// Phrases describing what the user wants ("rust programming").
    #[serde(default)]
    pub like: Vec<String>,
    /// Phrases describing what the user does not want ("celebrity gossip").
    #[serde(default)]
    pub dislike: Vec<String>,
}

/// One piece of feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feedback {
    /// Thumbs up.
    Like,
    /// Thumbs down.
    Dislike,
    /// The user opened the link: a weak positive.
    Click,
}

impl Feedback {
    fn target(self) -> f64 {
        match self {
            Feedback::Like | Feedback::Click => 1.0,
            Feedback::Dislike => 0.0,
        }
    }
}

/// A labelled item for training. The embedding must come from the same
/// embedder (same [`Embedder::model_id`]) as the model's phrases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledExample {
    /// The store's item id (shown in explanations).
    pub item_id: String,
    /// The item's title (shown in explanations).
    pub title: String,
    /// The item's embedding (unit length).
    #[serde(with = "b64_f32")]
    pub embedding: Vec<f32>,
    /// What the user said.
    pub feedback: Feedback,
    /// Source name (feed or agent), for the source prior.
    #[serde(default)]
    pub source: Option<String>,
    /// Whether the item belonged to a saga the user follows.
    #[serde(default)]
    pub saga_followed: bool,
    /// Age of the item in days when the feedback was given.
    #[serde(default)]
    pub age_days: Option<f32>,
}

/// What the model looks at when scoring one item.
#[derive(Debug, Clone, Copy)]
pub struct ItemFeatures<'a> {
    /// The item's embedding (unit length, from the model's embedder).
    pub embedding: &'a [f32],
    /// Source name (feed or agent).
    pub source: Option<&'a str>,
    /// The item belongs to a saga the user follows.
    pub saga_followed: bool,
    /// Age of the item in days.
    pub age_days: Option<f32>,
}

impl<'a> ItemFeatures<'a> {
    /// Features with only an embedding.
    pub fn new(embedding: &'a [f32]) -> Self {
        ItemFeatures {
            embedding,
            source: None,
            saga_followed: false,
            age_days: None,
        }
    }
}

/// Training hyper-parameters. `Default` is what `agg` uses; they were chosen
/// on the pool half of the development data only (see `examples/eval_interests.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    /// L2 strength on the embedding weights `w` (towards 0).
    pub l2_embedding: f64,
    /// L2 strength on the source / saga / recency weights (towards cold start).
    pub l2_features: f64,
    /// L2 strength pulling the phrase weight `alpha` towards its cold-start value.
    pub l2_alpha: f64,
    /// Sample weight of a click relative to a like or dislike.
    pub click_weight: f64,
    /// L-BFGS iteration cap.
    pub max_iter: usize,
    /// How many labelled examples the model keeps (the most recent ones) for
    /// the neighbour term and for "similar to ..." explanations.
    pub keep_examples: usize,
    /// Neighbours per class in the neighbour term.
    pub knn_k: usize,
    /// Weight of the neighbour term on the logit (0 turns it off).
    pub knn_weight: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            l2_embedding: 0.1,
            l2_features: 1.0,
            l2_alpha: 0.1,
            click_weight: 0.3,
            max_iter: 300,
            keep_examples: 2000,
            knn_k: 5,
            knn_weight: 10.0,
        }
    }
}

/// Where each parameter sits in the vector training optimises:
/// `[w_embedding (d) | w_source (SOURCE_BUCKETS) | w_saga | w_age | alpha | bias]`.
#[derive(Clone, Copy)]
struct Layout {
    d: usize,
    p: usize,
    saga: usize,
    age: usize,
    alpha: usize,
    bias: usize,
}

impl Layout {
    fn new(d: usize) -> Layout {
        let p = d + SOURCE_BUCKETS + 4;
        Layout {
            d,
            p,
            saga: d + SOURCE_BUCKETS,
            age: d + SOURCE_BUCKETS + 1,
            alpha: p - 2,
            bias: p - 1,
        }
    }
}

/// One labelled example as training reads it.
struct Row {
    x: Vec<f64>,
    bucket: Option<usize>,
    followed: f64,
    age: f64,
    prior: f64,
    y: f64,
    weight: f64,
}

/// The weighted logistic loss of `rows` at `th`, with penalties pulling each
/// part towards its cold-start value; `grad` receives its gradient.
fn objective(rows: &[Row], lay: Layout, opts: &TrainOptions, th: &[f64], grad: &mut [f64]) -> f64 {
    let d = lay.d;
    grad.iter_mut().for_each(|g| *g = 0.0);
    let mut loss = 0.0;
    for r in rows {
        let mut z = th[lay.alpha] * r.prior
            + th[lay.bias]
            + th[lay.saga] * r.followed
            + th[lay.age] * r.age;
        if let Some(bk) = r.bucket {
            z += th[d + bk];
        }
        z += dot64(&r.x, &th[..d]);
        // Stable log(1 + e^z) - y z.
        let lse = if z > 0.0 {
            z + (-z).exp().ln_1p()
        } else {
            z.exp().ln_1p()
        };
        loss += r.weight * (lse - r.y * z);
        let resid = r.weight * (sigmoid(z) - r.y);
        for (g, xv) in grad[..d].iter_mut().zip(&r.x) {
            *g += resid * xv;
        }
        if let Some(bk) = r.bucket {
            grad[d + bk] += resid;
        }
        grad[lay.saga] += resid * r.followed;
        grad[lay.age] += resid * r.age;
        grad[lay.alpha] += resid * r.prior;
        grad[lay.bias] += resid;
    }
    // Penalties towards the cold-start values.
    for i in 0..d {
        loss += 0.5 * opts.l2_embedding * th[i] * th[i];
        grad[i] += opts.l2_embedding * th[i];
    }
    for i in d..d + SOURCE_BUCKETS {
        loss += 0.5 * opts.l2_features * th[i] * th[i];
        grad[i] += opts.l2_features * th[i];
    }
    let ds = th[lay.saga] - SAGA0;
    loss += 0.5 * opts.l2_features * (ds * ds + th[lay.age] * th[lay.age]);
    grad[lay.saga] += opts.l2_features * ds;
    grad[lay.age] += opts.l2_features * th[lay.age];
    let da = th[lay.alpha] - ALPHA0;
    loss += 0.5 * opts.l2_alpha * da * da;
    grad[lay.alpha] += opts.l2_alpha * da;
    // A whisper of penalty on the bias keeps the problem strictly convex
    // when all labels agree.
    loss += 0.5 * 1e-3 * th[lay.bias] * th[lay.bias];
    grad[lay.bias] += 1e-3 * th[lay.bias];
    loss
}

/// Cold-start values (see the module docs).
const ALPHA0: f64 = 10.0;
const SAGA0: f64 = 1.0;

/// An interest phrase and its embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phrase {
    /// The phrase as the user wrote it.
    pub text: String,
    /// Its embedding.
    #[serde(with = "b64_f32")]
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Params {
    alpha: f64,
    bias: f64,
    #[serde(with = "b64_f32")]
    w_embedding: Vec<f32>,
    w_source: Vec<f64>,
    w_saga: f64,
    w_age: f64,
    #[serde(default)]
    knn_k: usize,
    #[serde(default)]
    knn_weight: f64,
}

/// Counts of the labels a model was trained on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCounts {
    /// Likes.
    pub like: usize,
    /// Dislikes.
    pub dislike: usize,
    /// Clicks.
    pub click: usize,
}

/// A user's interest model. Serialisable (`to_json` / `from_json`); each
/// [`train`](InterestModel::train) returns a new model with `revision + 1`, so
/// the store can keep every revision and each score can say which produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterestModel {
    format: u32,
    /// 0 for a cold-start model, +1 per training.
    pub revision: u64,
    /// The [`Embedder::model_id`] whose vectors this model expects.
    pub embedder_model_id: String,
    dim: usize,
    likes: Vec<Phrase>,
    dislikes: Vec<Phrase>,
    centre: f64,
    params: Params,
    /// Labels used in the last training.
    pub labels: LabelCounts,
    sources: HashMap<usize, String>,
    /// Sources the reader gave feedback on (normalised name -> likes and
    /// clicks, dislikes). Only these get a source prior: another source that
    /// shares a hash bucket must not inherit a prior it did nothing to earn.
    #[serde(default)]
    source_feedback: std::collections::BTreeMap<String, (u32, u32)>,
    examples: Vec<LabelledExample>,
}

/// A score with its reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Probability-like interest score in 0..1.
    pub score: f32,
    /// The model revision that produced it.
    pub model_revision: u64,
    /// The top reasons, most important first, in plain words via [`Reason::describe`].
    pub reasons: Vec<Reason>,
}

impl Scored {
    /// The reasons as one line of plain text ("close to your interest ...; ...").
    pub fn explain(&self) -> String {
        self.reasons
            .iter()
            .map(Reason::describe)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One reason behind a score: one additive part of the model's logit (see
/// [`InterestModel::breakdown`]), with its effect in score points.
///
/// `points` is the part's share of the score on the 0–100 scale shown to the
/// reader, signed: + raised the score, − lowered it. The shares of all parts
/// add up to the item's score minus the score of an item with no signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Nothing moved the score far from where an item with no signal sits.
    NoStrongSignal,
    /// Similarity to one of the user's interest phrases.
    InterestPhrase {
        /// The phrase.
        phrase: String,
        /// Cosine similarity, -1..1.
        similarity: f32,
        /// A `like` phrase (true) or a `dislike` phrase (false).
        liked: bool,
        /// Effect in score points.
        points: f32,
    },
    /// What feedback taught the model about items like this one, cited by
    /// the nearest item (never the item itself) with feedback on the side
    /// the effect goes.
    SimilarItem {
        /// The labelled item's id.
        item_id: String,
        /// Its title.
        title: String,
        /// Cosine similarity, -1..1.
        similarity: f32,
        /// The feedback it got.
        feedback: Feedback,
        /// Effect in score points.
        points: f32,
    },
    /// What feedback taught, with no labelled item close enough to cite.
    Learned {
        /// Effect in score points.
        points: f32,
    },
    /// What the reader's feedback on this source taught.
    SourcePrior {
        /// Source name.
        source: String,
        /// Items of this source the reader liked or opened.
        liked: u32,
        /// Items of this source the reader disliked.
        disliked: u32,
        /// Effect in score points.
        points: f32,
    },
    /// The item is in a saga the user follows.
    SagaFollowed {
        /// Effect in score points.
        points: f32,
    },
    /// The item's age.
    Recency {
        /// Age in days.
        age_days: f32,
        /// Effect in score points.
        points: f32,
    },
}

/// The additive parts of an item's logit; the score is `sigmoid(logit())`.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakdown {
    /// Where every item starts: the learned bias (0 at cold start, a score
    /// of 50).
    pub bias: f64,
    /// Each part with its value on the logit (reasons' `points` are 0 here;
    /// [`InterestModel::score`] fills them).
    pub parts: Vec<(Reason, f64)>,
}

impl Breakdown {
    /// `bias + Σ parts`.
    pub fn logit(&self) -> f64 {
        self.bias + self.parts.iter().map(|p| p.1).sum::<f64>()
    }
}

/// The cosine an interest phrase has to unrelated news: MiniLM puts unrelated
/// headlines around 0.1–0.2 from a short phrase, so a phrase this close moves
/// nothing, closer raises the score, farther lowers it.
pub const NEUTRAL_SIM: f64 = 0.2;

/// Parts that together move the logit less than this leave the item with
/// "no strong signal" (at cold start: a score between 40 and 60).
pub const NEUTRAL_LOGIT: f64 = 0.405;

/// A labelled item is cited as "like X" only from this similarity on; below
/// it the two share little and the effect is described without an example.
const CITE_SIMILARITY: f32 = 0.3;

/// Similarity from which a labelled item is the scored item itself (or a
/// verbatim copy): unit embeddings of the same text agree to about 1e-6.
const SAME_ITEM_SIM: f32 = 0.9995;

/// Reasons kept per score.
const MAX_REASONS: usize = 4;

impl Reason {
    /// Effect in score points (0 for [`Reason::NoStrongSignal`]).
    pub fn points(&self) -> f32 {
        match self {
            Reason::NoStrongSignal => 0.0,
            Reason::InterestPhrase { points, .. }
            | Reason::SimilarItem { points, .. }
            | Reason::Learned { points }
            | Reason::SourcePrior { points, .. }
            | Reason::SagaFollowed { points }
            | Reason::Recency { points, .. } => *points,
        }
    }

    fn set_points(&mut self, v: f32) {
        match self {
            Reason::NoStrongSignal => {}
            Reason::InterestPhrase { points, .. }
            | Reason::SimilarItem { points, .. }
            | Reason::Learned { points }
            | Reason::SourcePrior { points, .. }
            | Reason::SagaFollowed { points }
            | Reason::Recency { points, .. } => *points = v,
        }
    }

    /// The reason in plain words, its effect in score points at the end, e.g.
    /// `close to your interest "formula 1" (similarity 0.61): +23`.
    pub fn describe(&self) -> String {
        let pts = format!("{:+.0}", self.points());
        match self {
            Reason::NoStrongSignal => "nothing moves it far either way".to_string(),
            Reason::InterestPhrase {
                phrase,
                similarity,
                liked,
                points,
            } => {
                let what = match (liked, *points >= 0.0) {
                    (true, true) => format!("close to your interest \"{phrase}\""),
                    (true, false) => format!("unrelated to your interest \"{phrase}\""),
                    (false, _) => format!("close to \"{phrase}\", which you don't want"),
                };
                format!("{what} (similarity {similarity:.2}): {pts}")
            }
            Reason::SimilarItem {
                title,
                similarity,
                feedback,
                ..
            } => {
                let what = match feedback {
                    Feedback::Like => "you liked",
                    Feedback::Dislike => "you disliked",
                    Feedback::Click => "you opened",
                };
                format!("like \"{title}\", which {what} (similarity {similarity:.2}): {pts}")
            }
            Reason::Learned { points } if *points >= 0.0 => {
                format!("resembles what you liked: {pts}")
            }
            Reason::Learned { .. } => format!("resembles what you disliked: {pts}"),
            Reason::SourcePrior {
                source,
                liked,
                disliked,
                ..
            } => format!("from {source}, where you liked {liked} and disliked {disliked}: {pts}"),
            Reason::SagaFollowed { .. } => format!("part of a story you follow: {pts}"),
            Reason::Recency { age_days, .. } => format!("{} old: {pts}", age_in_words(*age_days)),
        }
    }
}

/// An age as a reader says it: "5 hours", "3 days", "2 weeks", "4 months",
/// "9 years" (whole units, rounded down; "1 day", not "1 days").
pub fn age_in_words(days: f32) -> String {
    let d = f64::from(days.max(0.0));
    let (n, unit) = if d < 1.0 {
        ((d * 24.0).floor(), "hour")
    } else if d < 14.0 {
        (d.floor(), "day")
    } else if d < 61.0 {
        ((d / 7.0).floor(), "week")
    } else if d < 730.0 {
        ((d / 30.44).floor(), "month")
    } else {
        ((d / 365.25).floor(), "year")
    };
    let n = n as u64;
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl InterestModel {
    /// A cold-start model from interest phrases, embedded with `embedder`.
    /// With no phrases at all every item scores 0.5 until feedback arrives.
    pub fn cold_start(embedder: &dyn Embedder, interests: &Interests) -> Result<Self> {
        let embed = |texts: &[String]| -> Result<Vec<Phrase>> {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vecs = embedder.embed(&refs)?;
            Ok(texts
                .iter()
                .cloned()
                .zip(vecs)
                .map(|(text, embedding)| Phrase { text, embedding })
                .collect())
        };
        let likes = embed(&interests.like)?;
        let dislikes = embed(&interests.dislike)?;
        InterestModel::from_phrases(
            embedder.model_id().to_string(),
            embedder.dim(),
            likes,
            dislikes,
        )
    }

    /// A cold-start model from already embedded phrases (e.g. cached in the store).
    pub fn from_phrases(
        embedder_model_id: String,
        dim: usize,
        likes: Vec<Phrase>,
        dislikes: Vec<Phrase>,
    ) -> Result<Self> {
        for p in likes.iter().chain(&dislikes) {
            if p.embedding.len() != dim {
                return Err(ScoreError::Invalid(format!(
                    "phrase \"{}\" has {} dims, expected {dim}",
                    p.text,
                    p.embedding.len()
                )));
            }
        }
        // Kept in the serialised layout; the prior now centres each phrase
        // term on NEUTRAL_SIM itself (see `prior`).
        let centre = match (likes.is_empty(), dislikes.is_empty()) {
            (false, true) => 0.2,
            (true, false) => -0.2,
            _ => 0.0,
        };
        Ok(InterestModel {
            format: MODEL_FORMAT_VERSION,
            revision: 0,
            embedder_model_id,
            dim,
            likes,
            dislikes,
            centre,
            params: Params {
                alpha: ALPHA0,
                bias: 0.0,
                w_embedding: vec![0.0; dim],
                w_source: vec![0.0; SOURCE_BUCKETS],
                w_saga: SAGA0,
                w_age: 0.0,
                knn_k: 0,
                knn_weight: 0.0,
            },
            labels: LabelCounts::default(),
            sources: HashMap::new(),
            source_feedback: Default::default(),
            examples: Vec::new(),
        })
    }

    /// The interest phrases as text, e.g. to rebuild the model with
    /// [`cold_start`](InterestModel::cold_start) after the embedder changed
    /// (when `embedder_model_id` differs from [`Embedder::model_id`]; then
    /// re-embed the labelled items too and [`train`](InterestModel::train)).
    pub fn interests(&self) -> Interests {
        Interests {
            like: self.likes.iter().map(|p| p.text.clone()).collect(),
            dislike: self.dislikes.iter().map(|p| p.text.clone()).collect(),
        }
    }

    /// Embedding width this model expects.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The interest phrases (likes, dislikes).
    pub fn phrases(&self) -> (&[Phrase], &[Phrase]) {
        (&self.likes, &self.dislikes)
    }

    /// Trains a new revision on `examples` (all the feedback so far, oldest
    /// first; each call trains from the cold-start prior, so the result does
    /// not depend on how often training ran). Takes milliseconds for
    /// thousands of labels in a release build.
    pub fn train(&self, examples: &[LabelledExample], opts: &TrainOptions) -> Result<Self> {
        for e in examples {
            if e.embedding.len() != self.dim {
                return Err(ScoreError::Invalid(format!(
                    "example {} has {} dims, expected {}",
                    e.item_id,
                    e.embedding.len(),
                    self.dim
                )));
            }
        }
        let lay = Layout::new(self.dim);
        let rows: Vec<Row> = examples
            .iter()
            .map(|e| Row {
                x: e.embedding.iter().map(|&v| f64::from(v)).collect(),
                bucket: e.source.as_deref().map(source_bucket),
                followed: if e.saga_followed { 1.0 } else { 0.0 },
                age: age_feature(e.age_days),
                prior: self.prior(&e.embedding).0,
                y: e.feedback.target(),
                weight: if e.feedback == Feedback::Click {
                    opts.click_weight
                } else {
                    1.0
                },
            })
            .collect();

        let mut theta0 = vec![0.0; lay.p];
        theta0[lay.saga] = SAGA0;
        theta0[lay.alpha] = ALPHA0;
        let theta = if rows.is_empty() {
            theta0
        } else {
            lbfgs(
                theta0,
                opts.max_iter,
                1e-6,
                |th: &[f64], grad: &mut [f64]| objective(&rows, lay, opts, th, grad),
            )
        };

        let d = self.dim;
        let mut next = self.clone();
        next.revision = self.revision + 1;
        next.params = Params {
            alpha: theta[lay.alpha],
            bias: theta[lay.bias],
            w_embedding: theta[..d].iter().map(|&v| v as f32).collect(),
            w_source: theta[d..d + SOURCE_BUCKETS].to_vec(),
            w_saga: theta[lay.saga],
            w_age: theta[lay.age],
            knn_k: opts.knn_k,
            knn_weight: opts.knn_weight,
        };
        next.remember(examples, opts);
        Ok(next)
    }

    /// Keeps what a trained model says about its examples: label counts,
    /// the sources the reader's own feedback touched (a source prior is only
    /// ever explained by these), and the latest examples for the neighbour
    /// term and "similar to …" explanations.
    fn remember(&mut self, examples: &[LabelledExample], opts: &TrainOptions) {
        let mut counts = LabelCounts::default();
        self.sources.clear();
        self.source_feedback.clear();
        for e in examples {
            match e.feedback {
                Feedback::Like => counts.like += 1,
                Feedback::Dislike => counts.dislike += 1,
                Feedback::Click => counts.click += 1,
            }
            if let Some(s) = &e.source {
                self.sources.insert(source_bucket(s), s.clone());
                let c = self.source_feedback.entry(source_key(s)).or_default();
                if e.feedback == Feedback::Dislike {
                    c.1 += 1;
                } else {
                    c.0 += 1;
                }
            }
        }
        self.labels = counts;
        let keep = opts.keep_examples.min(examples.len());
        self.examples = examples[examples.len() - keep..].to_vec();
        for e in &mut self.examples {
            crate::embed::l2_normalize(&mut e.embedding);
        }
    }

    /// The phrase prior and the best like / dislike phrase. The prior is the
    /// sum of a like part `cos(x, best like) - NEUTRAL_SIM` and a dislike part
    /// `-max(0, cos(x, best dislike) - NEUTRAL_SIM)`, each present when there
    /// are such phrases: an item as close to a liked phrase as unrelated news
    /// is moves nothing, closer raises it, farther lowers it; a disliked
    /// phrase only ever lowers it. A two-sided dislike term raised nearly
    /// every item for being "far from celebrity gossip", which is no reason
    /// to read anything (the AUC protocol has no dislike phrases, so its
    /// figures are unchanged by this).
    fn prior(&self, x: &[f32]) -> (f64, BestPhrase, BestPhrase) {
        let best = |ps: &[Phrase]| -> Option<(usize, f32)> {
            ps.iter()
                .enumerate()
                .map(|(i, p)| (i, cosine(x, &p.embedding)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        };
        let bl = best(&self.likes);
        let bd = best(&self.dislikes);
        let v = bl.map_or(0.0, |b| f64::from(b.1) - NEUTRAL_SIM)
            - bd.map_or(0.0, |b| (f64::from(b.1) - NEUTRAL_SIM).max(0.0));
        (v, bl, bd)
    }

    /// Similarities to the kept labelled examples: the neighbour term (mean of
    /// the `knn_k` highest similarities to positives minus the same for
    /// negatives, times `knn_weight`; 0 unless both classes are present) and
    /// the nearest positive / negative example.
    fn neighbours(&self, x: &[f32]) -> Neighbours {
        let mut pos: Vec<(f32, usize)> = Vec::new();
        let mut neg: Vec<(f32, usize)> = Vec::new();
        // Kept examples are unit length (normalised in `train`), so one
        // normalisation of the query turns every cosine into a dot product.
        let mut q = x.to_vec();
        crate::embed::l2_normalize(&mut q);
        for (i, e) in self.examples.iter().enumerate() {
            let sim = dot(&q, &e.embedding);
            // The item itself (or a verbatim copy): its own label is no
            // evidence about it, and "similar to itself" explains nothing.
            if sim >= SAME_ITEM_SIM {
                continue;
            }
            if e.feedback == Feedback::Dislike {
                neg.push((sim, i));
            } else {
                pos.push((sim, i));
            }
        }
        let k = self.params.knn_k;
        let top_mean = |v: &mut Vec<(f32, usize)>| -> f64 {
            let k = k.min(v.len());
            if k == 0 {
                return 0.0;
            }
            if k < v.len() {
                v.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
            }
            v[..k].iter().map(|p| f64::from(p.0)).sum::<f64>() / k as f64
        };
        let nearest_pos = pos.iter().copied().max_by(|a, b| a.0.total_cmp(&b.0));
        let nearest_neg = neg.iter().copied().max_by(|a, b| a.0.total_cmp(&b.0));
        let term = if k > 0 && self.params.knn_weight != 0.0 && !pos.is_empty() && !neg.is_empty() {
            self.params.knn_weight * (top_mean(&mut pos) - top_mean(&mut neg))
        } else {
            0.0
        };
        Neighbours {
            term,
            nearest_pos,
            nearest_neg,
        }
    }

    /// The item's logit as the sum of its parts: `bias + Σ parts`. Scores,
    /// explanations and the property tests all read this one decomposition,
    /// so a reason can never disagree with the score it explains.
    pub fn breakdown(&self, f: &ItemFeatures<'_>) -> Result<Breakdown> {
        if f.embedding.len() != self.dim {
            return Err(ScoreError::Invalid(format!(
                "embedding has {} dims, the interest model expects {} (model {})",
                f.embedding.len(),
                self.dim,
                self.embedder_model_id
            )));
        }
        Ok(self.parts(f))
    }

    fn parts(&self, f: &ItemFeatures<'_>) -> Breakdown {
        let pr = &self.params;
        let mut parts: Vec<(Reason, f64)> = Vec::with_capacity(6);
        let (_, bl, bd) = self.prior(f.embedding);
        if let Some((i, sim)) = bl {
            parts.push((
                Reason::InterestPhrase {
                    phrase: self.likes[i].text.clone(),
                    similarity: sim,
                    liked: true,
                    points: 0.0,
                },
                pr.alpha * (f64::from(sim) - NEUTRAL_SIM),
            ));
        }
        if let Some((i, sim)) = bd {
            parts.push((
                Reason::InterestPhrase {
                    phrase: self.dislikes[i].text.clone(),
                    similarity: sim,
                    liked: false,
                    points: 0.0,
                },
                -pr.alpha * (f64::from(sim) - NEUTRAL_SIM).max(0.0),
            ));
        }
        // What feedback taught: the learned direction plus the neighbour
        // vote, one part, cited by the nearest labelled item on its side.
        let nb = self.neighbours(f.embedding);
        let learned = f64::from(dot(f.embedding, &pr.w_embedding)) + nb.term;
        if !self.examples.is_empty() || learned != 0.0 {
            let near = if learned >= 0.0 {
                nb.nearest_pos
            } else {
                nb.nearest_neg
            };
            let reason = match near {
                Some((sim, i)) if sim >= CITE_SIMILARITY => {
                    let e = &self.examples[i];
                    Reason::SimilarItem {
                        item_id: e.item_id.clone(),
                        title: e.title.clone(),
                        similarity: sim,
                        feedback: e.feedback,
                        points: 0.0,
                    }
                }
                _ => Reason::Learned { points: 0.0 },
            };
            parts.push((reason, learned));
        }
        if let Some(s) = f.source
            && let Some(&(liked, disliked)) = self.source_feedback.get(&source_key(s))
        {
            parts.push((
                Reason::SourcePrior {
                    source: s.to_string(),
                    liked,
                    disliked,
                    points: 0.0,
                },
                pr.w_source[source_bucket(s)],
            ));
        }
        if f.saga_followed {
            parts.push((Reason::SagaFollowed { points: 0.0 }, pr.w_saga));
        }
        if let Some(age) = f.age_days.filter(|a| a.is_finite()) {
            let v = pr.w_age * age_feature(Some(age));
            if v != 0.0 {
                parts.push((
                    Reason::Recency {
                        age_days: age,
                        points: 0.0,
                    },
                    v,
                ));
            }
        }
        Breakdown {
            bias: pr.bias,
            parts,
        }
    }

    /// The score alone (no explanation), for bulk ranking and evaluation.
    pub fn score_value(&self, f: &ItemFeatures<'_>) -> f32 {
        sigmoid(self.parts(f).logit()) as f32
    }

    /// Scores one item and explains it. Returns an error only if the embedding
    /// has the wrong width (an item embedded by another model).
    ///
    /// Each reason is one part of [`breakdown`](InterestModel::breakdown) in
    /// score points (0–100): the parts share the distance from the score an
    /// item with no signal gets (`sigmoid(bias)`) to the item's score in
    /// proportion to their logits, so the points add up to that distance
    /// exactly, keep their signs, and rank as the logits do. Largest first;
    /// parts under half a point are left out. When all the parts together
    /// move the logit less than [`NEUTRAL_LOGIT`], the first reason says there
    /// is no strong signal, and the parts follow.
    pub fn score(&self, f: &ItemFeatures<'_>) -> Result<Scored> {
        let b = self.breakdown(f)?;
        let z = b.logit();
        let score = sigmoid(z);
        let base = sigmoid(b.bias);
        let moved = z - b.bias;
        let slope = if moved.abs() < 1e-9 {
            base * (1.0 - base)
        } else {
            (score - base) / moved
        };
        let mut reasons: Vec<Reason> = b
            .parts
            .into_iter()
            .map(|(mut r, v)| {
                r.set_points((100.0 * slope * v) as f32);
                r
            })
            .filter(|r| r.points().abs() >= 0.5)
            .collect();
        reasons.sort_by(|a, b| b.points().abs().total_cmp(&a.points().abs()));
        reasons.truncate(MAX_REASONS);
        if moved.abs() < NEUTRAL_LOGIT {
            reasons.insert(0, Reason::NoStrongSignal);
        }
        Ok(Scored {
            score: score as f32,
            model_revision: self.revision,
            reasons,
        })
    }

    /// Serialises the model (JSON; embeddings as base64 little-endian f32).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an interest model always serialises")
    }

    /// Reads a model written by [`to_json`](InterestModel::to_json); refuses
    /// other format versions.
    pub fn from_json(s: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct Probe {
            format: u32,
        }
        let probe: Probe =
            serde_json::from_str(s).map_err(|e| ScoreError::Format(e.to_string()))?;
        if probe.format != MODEL_FORMAT_VERSION {
            return Err(ScoreError::Format(format!(
                "stored model has format {}, this agg reads format {MODEL_FORMAT_VERSION}; retrain it",
                probe.format
            )));
        }
        let m: InterestModel =
            serde_json::from_str(s).map_err(|e| ScoreError::Format(e.to_string()))?;
        if m.params.w_embedding.len() != m.dim
            || m.params.w_source.len() != SOURCE_BUCKETS
            || m.examples.iter().any(|e| e.embedding.len() != m.dim)
            || m.likes
                .iter()
                .chain(&m.dislikes)
                .any(|p| p.embedding.len() != m.dim)
        {
            return Err(ScoreError::Format("inconsistent dimensions".into()));
        }
        Ok(m)
    }
}

/// Index and similarity of the closest phrase, if any.
type BestPhrase = Option<(usize, f32)>;

struct Neighbours {
    term: f64,
    nearest_pos: Option<(f32, usize)>,
    nearest_neg: Option<(f32, usize)>,
}

/// f64 dot product with four partial sums (vectorisable; see [`dot`]).
fn dot64(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + age) squashes weeks into a few units; unknown or negative ages count as 0.
fn age_feature(age_days: Option<f32>) -> f64 {
    age_days
        .filter(|a| a.is_finite() && *a > 0.0)
        .map_or(0.0, |a| f64::from(a).ln_1p())
}

/// A source's name as feedback counts it: trimmed, lower case.
fn source_key(source: &str) -> String {
    source.trim().to_lowercase()
}

/// FNV-1a of the lower-cased source name, into [`SOURCE_BUCKETS`] buckets.
fn source_bucket(source: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in source.trim().to_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % SOURCE_BUCKETS as u64) as usize
}

/// Serde helper: `Vec<f32>` as base64 of little-endian bytes (a quarter of
/// the size of JSON numbers, and exact).
mod b64_f32 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::with_capacity(v.len() * 4);
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = STANDARD.decode(s).map_err(serde::de::Error::custom)?;
        if bytes.len() % 4 != 0 {
            return Err(serde::de::Error::custom(
                "f32 vector length not a multiple of 4",
            ));
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_say_which_way_and_how_much() {
        let r = |similarity, liked, points| {
            Reason::InterestPhrase {
                phrase: "formula 1".into(),
                similarity,
                liked,
                points,
            }
            .describe()
        };
        assert_eq!(
            r(0.53, true, 23.4),
            "close to your interest \"formula 1\" (similarity 0.53): +23"
        );
        assert_eq!(
            r(0.09, true, -8.0),
            "unrelated to your interest \"formula 1\" (similarity 0.09): -8"
        );
        assert!(r(0.40, false, -20.0).starts_with("close to \"formula 1\", which you don't want"));
        assert_eq!(age_in_words(0.4), "9 hours");
        assert_eq!(age_in_words(1.2), "1 day");
        assert_eq!(age_in_words(20.0), "2 weeks");
        assert_eq!(age_in_words(100.0), "3 months");
        assert_eq!(age_in_words(3312.0), "9 years");
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        crate::embed::l2_normalize(&mut v);
        v
    }

    fn toy() -> InterestModel {
        InterestModel::from_phrases(
            "toy".into(),
            3,
            vec![Phrase {
                text: "alpha".into(),
                embedding: unit(&[1.0, 0.0, 0.0]),
            }],
            vec![Phrase {
                text: "beta".into(),
                embedding: unit(&[0.0, 1.0, 0.0]),
            }],
        )
        .unwrap()
    }

    fn ex(id: &str, v: &[f32], fb: Feedback, source: Option<&str>) -> LabelledExample {
        LabelledExample {
            item_id: id.into(),
            title: format!("title {id}"),
            embedding: unit(v),
            feedback: fb,
            source: source.map(str::to_string),
            saga_followed: false,
            age_days: None,
        }
    }

    #[test]
    fn cold_start_follows_phrases() {
        let m = toy();
        let a = unit(&[1.0, 0.1, 0.0]);
        let b = unit(&[0.1, 1.0, 0.0]);
        assert!(m.score_value(&ItemFeatures::new(&a)) > 0.9);
        assert!(m.score_value(&ItemFeatures::new(&b)) < 0.1);
    }

    #[test]
    fn training_learns_a_new_direction_and_sources() {
        let m = toy();
        // The user likes items along z, which the phrases know nothing about.
        let mut exs = Vec::new();
        for i in 0..20 {
            let t = i as f32 * 0.01;
            exs.push(ex(
                &format!("p{i}"),
                &[t, t, 1.0],
                Feedback::Like,
                Some("good.example"),
            ));
            exs.push(ex(
                &format!("n{i}"),
                &[1.0, 0.2, t],
                Feedback::Dislike,
                Some("bad.example"),
            ));
        }
        let z = unit(&[0.2, 0.2, 1.0]);
        let before = m.score_value(&ItemFeatures::new(&z));
        let m2 = m.train(&exs, &TrainOptions::default()).unwrap();
        assert_eq!(m2.revision, 1);
        let after = m2.score_value(&ItemFeatures::new(&z));
        assert!(after > before + 0.2, "before {before} after {after}");
        let s = m2
            .score(&ItemFeatures {
                embedding: &z,
                source: Some("good.example"),
                saga_followed: true,
                age_days: Some(2.0),
            })
            .unwrap();
        assert!(
            s.reasons.iter().any(|r| matches!(
                r,
                Reason::SimilarItem {
                    feedback: Feedback::Like,
                    ..
                }
            )),
            "{s:?}"
        );
        assert!(
            s.reasons
                .iter()
                .any(|r| matches!(r, Reason::SagaFollowed { .. }))
        );
        assert!(!s.explain().is_empty());
        // Round trip.
        let back = InterestModel::from_json(&m2.to_json()).unwrap();
        assert_eq!(back, m2);
    }

    #[test]
    fn refuses_other_format_and_wrong_dims() {
        let m = toy();
        let json = m.to_json().replace("\"format\":1", "\"format\":99");
        assert!(InterestModel::from_json(&json).is_err());
        assert!(m.score(&ItemFeatures::new(&[1.0, 0.0])).is_err());
    }
}
