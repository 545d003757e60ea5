//! What the semantic cache needs of an embedding model: text in, a unit-length vector out.
//! Implementations (all-MiniLM-L6-v2 on candle, a static distilled table, a provider's endpoint)
//! run on the embedding pool's threads, never on a shard.

/// Turns text into a vector for nearest-neighbour search.
pub trait Embedder: Send + Sync {
    /// A short stable name (`minilm-l6-v2`, `static-minilm-256`), stored with persisted indexes
    /// so that vectors of different models are never compared.
    fn name(&self) -> &str;
    /// Length of the vectors.
    fn dim(&self) -> usize;
    /// The L2-normalized embedding of `text` (cosine similarity is then a dot product).
    fn embed(&self, text: &str) -> Result<Vec<f32>, String>;
}

/// Cosine similarity of two L2-normalized vectors of the same length.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
