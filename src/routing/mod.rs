//! Stage 6, route: the per-shard building blocks the request pipeline's retry/fallback loop
//! calls. Every decision here is a pure function of its arguments: time comes in as `Instant` /
//! `Duration` arguments and randomness from a `&mut fastrand::Rng`, so tests are deterministic
//! and nothing reads a clock or a global RNG on its own.
//!
//! - [`health`]: per target (provider + model) latency/error EWMAs, in-flight count and a circuit
//!   breaker, kept by one shard; a [`health::Snapshot`] lets shards share what they learned.
//! - [`keys`]: per-shard key state (cooldown after 429, disabled after 401/403) and the weighted
//!   key choice among the keys still usable.
//! - [`strategy`]: orders an alias's targets (weighted, latency-aware, least-busy, cost-aware,
//!   ordered); open circuits go last.
//! - [`prices`]: the price table shipped as data (`data/prices.toml`), also used by governance.
//! - [`retry`]: backoff, `retry-after` parsing and the classification of an attempt's outcome.
//! - [`rules`]: routing rules (`[[routes]]`): match on model, headers and request features.
//! - [`state`]: one shard's routing state as the request path uses it (keys, health, orders).
//!
//! State is single-writer: each shard owns its `HealthTable` and `KeyTable` (inside its `Rc`
//! shard state) and no lock or shared atomic is touched on the request path (SPEC §2).

pub mod health;
pub mod keys;
pub mod prices;
pub mod retry;
pub mod rules;
pub mod state;
pub mod strategy;
