//! A static embedder distilled from all-MiniLM-L6-v2: a table of one vector per word piece of
//! MiniLM's vocabulary; a text's embedding is the mean of its pieces' vectors plus a bias,
//! L2-normalized. No transformer runs, so it embeds a prompt in microseconds instead of
//! milliseconds, at the cost of ignoring word order and context.
//!
//! The table is built offline by the `distill` example (feature `embed-minilm`): the teacher
//! embeds every vocabulary piece and a generated corpus, the table is fitted so that the mean of
//! a sentence's pieces reproduces the teacher's sentence vector, then reduced to fewer
//! dimensions with PCA and stored as i8 with one f32 scale per row. This module only reads that
//! file and needs neither candle nor the `tokenizers` crate (see [`crate::cache::wordpiece`]).
//!
//! File layout (little-endian): magic `SGSTEMB1`; u32 dim; u32 vocab; u32 max_tokens;
//! u16 name length + UTF-8 name; per piece: u16 length + UTF-8 piece; f32 × dim bias;
//! f32 × vocab row scales; i8 × vocab × dim rows.

use std::path::{Path, PathBuf};

use crate::cache::embedder::Embedder;
use crate::cache::wordpiece::WordPiece;

const MAGIC: &[u8; 8] = b"SGSTEMB1";
/// Where the `distill` example writes the table, relative to the repository.
pub const DEFAULT_PATH: &str = "models/static-minilm/static-minilm-256.bin";
/// Environment variable that overrides [`DEFAULT_PATH`].
pub const PATH_ENV: &str = "SHARDGATE_STATIC_EMBED";

/// The distilled table, loaded in memory (~8 MB for 30,522 pieces × 256 dims).
pub struct StaticEmbedder {
    name: String,
    dim: usize,
    /// Word pieces per text that count, `[CLS]`/`[SEP]` included, as in the teacher (256).
    max_tokens: usize,
    tokenizer: WordPiece,
    bias: Vec<f32>,
    scales: Vec<f32>,
    rows: Vec<i8>,
}

impl StaticEmbedder {
    /// The table's path: `$SHARDGATE_STATIC_EMBED` when set, else [`DEFAULT_PATH`].
    pub fn default_path() -> PathBuf {
        std::env::var_os(PATH_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
    }

    /// Reads a table written by [`StaticEmbedder::to_bytes`].
    pub fn load(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Builds the embedder from a float table: `rows` is `vocab × dim` in piece-id order (the
    /// pieces in `tokens`), `bias` has `dim` values. Rows are quantized to i8 with a per-row
    /// scale (the relative error per value is under 0.4%).
    pub fn from_table(
        name: &str,
        tokens: Vec<String>,
        rows: &[f32],
        bias: Vec<f32>,
        max_tokens: usize,
    ) -> Result<Self, String> {
        let dim = bias.len();
        if dim == 0 || rows.len() != tokens.len() * dim {
            return Err(format!(
                "table of {} values for {} pieces × {dim} dims",
                rows.len(),
                tokens.len()
            ));
        }
        let mut scales = Vec::with_capacity(tokens.len());
        let mut q = Vec::with_capacity(rows.len());
        for row in rows.chunks_exact(dim) {
            let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            scales.push(scale);
            // Values are within ±127 by construction of the scale; `as` saturates anyway.
            q.extend(row.iter().map(|x| (x / scale).round() as i8));
        }
        let tokenizer = WordPiece::from_tokens(tokens)?;
        Ok(Self {
            name: name.to_string(),
            dim,
            max_tokens: max_tokens.max(2),
            tokenizer,
            bias,
            scales,
            rows: q,
        })
    }

    /// Parses the file format described in the module documentation.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(8)? != MAGIC {
            return Err("not a static embedder table (bad magic)".into());
        }
        let dim = r.u32()? as usize;
        let vocab = r.u32()? as usize;
        let max_tokens = r.u32()? as usize;
        if dim == 0 || vocab == 0 || dim > 65_536 || vocab > 10_000_000 {
            return Err(format!("implausible table size {vocab} × {dim}"));
        }
        let name = r.string()?;
        let mut tokens = Vec::with_capacity(vocab);
        for _ in 0..vocab {
            tokens.push(r.string()?);
        }
        let bias = r.f32s(dim)?;
        let scales = r.f32s(vocab)?;
        let rows: Vec<i8> = r
            .take(vocab * dim)?
            .iter()
            .map(|&b| i8::from_le_bytes([b]))
            .collect();
        if r.pos != bytes.len() {
            return Err("trailing bytes after the table".into());
        }
        if bias.iter().chain(&scales).any(|x| !x.is_finite()) {
            return Err("non-finite value in the table".into());
        }
        Ok(Self {
            name,
            dim,
            max_tokens: max_tokens.max(2),
            tokenizer: WordPiece::from_tokens(tokens)?,
            bias,
            scales,
            rows,
        })
    }

    /// Serializes the table (see the module documentation for the layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rows.len() + self.scales.len() * 4 + 400_000);
        out.extend_from_slice(MAGIC);
        for n in [self.dim, self.tokenizer.vocab_size(), self.max_tokens] {
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        put_string(&mut out, &self.name);
        for t in self.tokenizer.tokens() {
            put_string(&mut out, t);
        }
        for x in self.bias.iter().chain(&self.scales) {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend(self.rows.iter().map(|&v| v.to_le_bytes()[0]));
        out
    }

    /// Writes the table to `path`, creating its directory.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, self.to_bytes()).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The word-piece ids that count for `text`: at most `max_tokens - 2`, as the teacher sees
    /// them between `[CLS]` and `[SEP]`.
    pub fn piece_ids(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 4);
        self.tokenizer.pieces(text, &mut ids);
        ids.truncate(self.max_tokens - 2);
        ids
    }

    /// The unnormalized embedding: bias + mean of the pieces' rows.
    fn raw(&self, ids: &[u32], out: &mut [f32]) {
        out.fill(0.0);
        for &id in ids {
            let id = id as usize;
            // Ids come from this table's own tokenizer, so they are in range; a bad id would be
            // a bug, and is skipped rather than panicking in a worker.
            let (Some(row), Some(&scale)) = (
                self.rows.get(id * self.dim..(id + 1) * self.dim),
                self.scales.get(id),
            ) else {
                continue;
            };
            for (o, &q) in out.iter_mut().zip(row) {
                *o += scale * f32::from(q);
            }
        }
        let inv = 1.0 / ids.len().max(1) as f32;
        for (o, b) in out.iter_mut().zip(&self.bias) {
            *o = *o * inv + b;
        }
    }
}

impl Embedder for StaticEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, String> {
        let ids = self.piece_ids(text);
        if ids.is_empty() {
            // Only the bias would remain: the same vector for every empty or blank prompt,
            // which must never match a cached answer.
            return Err("no word pieces in the text".into());
        }
        let mut v = vec![0f32; self.dim];
        self.raw(&ids, &mut v);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm <= 1e-12 {
            return Err("zero embedding".into());
        }
        v.iter_mut().for_each(|x| *x /= norm);
        Ok(v)
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    // Names and word pieces are short; a longer one is cut at a char boundary to fit u16.
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

/// A bounds-checked cursor over the file's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("table file truncated")?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String, String> {
        let b = self.take(2)?;
        let n = u16::from_le_bytes([b[0], b[1]]) as usize;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| "table holds a non-UTF-8 string".to_string())
    }

    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        let b = self.take(n.checked_mul(4).ok_or("table too large")?)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::embedder::cosine;

    /// A 4-dim toy table: "cat"/"kitten" close, "car" elsewhere.
    fn toy() -> StaticEmbedder {
        let tokens: Vec<String> = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "cat", "kitten", "car", "the",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        #[rustfmt::skip]
        let rows = [
            0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.1,
            0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0,
            1.0, 0.1, 0.0, 0.0,
            0.9, 0.2, 0.0, 0.0,
            0.0, 0.0, 1.0, 0.0,
            0.1, 0.1, 0.1, 0.1,
        ];
        StaticEmbedder::from_table("toy-4", tokens, &rows, vec![0.0, 0.0, 0.0, 0.01], 256)
            .expect("toy table")
    }

    #[test]
    fn embeds_mean_of_pieces_normalized() {
        let e = toy();
        assert_eq!((e.name(), e.dim()), ("toy-4", 4));
        let cat = e.embed("The cat").expect("embed");
        let kitten = e.embed("the KITTEN").expect("embed");
        let car = e.embed("the car").expect("embed");
        assert!((cosine(&cat, &cat) - 1.0).abs() < 1e-5);
        assert!(cosine(&cat, &kitten) > 0.95);
        assert!(cosine(&cat, &car) < 0.5);
        assert!(e.embed("").is_err());
        assert!(e.embed("  \t ").is_err());
        // Unknown words map to [UNK] and still give a vector.
        assert_eq!(e.embed("zebra").map(|v| v.len()), Ok(4));
    }

    #[test]
    fn file_round_trip_and_corruption() {
        let e = toy();
        let bytes = e.to_bytes();
        let back = StaticEmbedder::from_bytes(&bytes).expect("parse");
        assert_eq!(back.name(), "toy-4");
        assert_eq!(back.embed("the cat"), e.embed("the cat"));
        for cut in [0, 7, 8, 20, bytes.len() - 1] {
            assert!(
                StaticEmbedder::from_bytes(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(StaticEmbedder::from_bytes(&bad).is_err());
        let mut longer = bytes;
        longer.push(0);
        assert!(StaticEmbedder::from_bytes(&longer).is_err());
    }

    #[test]
    fn long_text_is_cut_like_the_teacher() {
        let e = toy();
        let ids = e.piece_ids(&"cat ".repeat(1000));
        assert_eq!(ids.len(), 254);
    }
}

/// Checks of the distilled table itself, when `scripts/build-static-embedder.sh` has written
/// it (it is generated, not committed, so its absence only skips these checks).
#[cfg(test)]
mod distilled {
    use super::*;
    use crate::cache::embedder::cosine;

    #[test]
    fn paraphrases_score_above_unrelated_pairs() {
        let path = StaticEmbedder::default_path();
        let Ok(e) = StaticEmbedder::load(&path) else {
            eprintln!("skipped: no distilled table at {}", path.display());
            return;
        };
        assert_eq!(e.dim(), 256);
        let v = |t: &str| e.embed(t).expect("embed");
        let cases = [
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
        for (a, para, other) in cases {
            let (sp, so) = (cosine(&v(a), &v(para)), cosine(&v(a), &v(other)));
            assert!(sp > so + 0.3, "{a}: {sp} vs {so}");
        }
    }
}
