//! Stage 5, cache (in progress, issue 7): the pieces of the semantic cache that are built and
//! measured on their own before the cache joins the request path: the embedder interface, the
//! verifier that decides whether a cached answer is valid for a new prompt, and the quality
//! harness that measures both on the project's labelled prompt pairs
//! (`tests/fixtures/cache/pairs.tsv`; draft documentation in docs/cache-quality.md). The embedders,
//! the embedding pool and the vector index (`minilm.rs`, `static_embed.rs`, `pool.rs`,
//! `index.rs`) are still being finished and are not compiled yet.

pub mod embedder;
pub mod quality;
pub mod verifier;
