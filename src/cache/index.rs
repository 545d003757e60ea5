//! The in-process vector index of the semantic cache: one `usearch` HNSW graph (cosine metric)
//! per (namespace, model), mapping vectors to cache entry ids, with TTL and capacity eviction
//! and persistence to a directory.
//!
//! Who calls it: the embedding pool's workers (search after embedding a prompt, insert after a
//! response was stored), never a shard's event loop, so the locks here are never taken on the
//! request path (SPEC §2). Searches share a read lock; inserts, removals and eviction take the
//! write lock of their own index only.
//!
//! Keys: usearch keys are assigned here in increasing order, one per insert, so "oldest first"
//! is "smallest key first". Entry ids are the cache's own ids; re-inserting an entry id replaces
//! its vector.
//!
//! Removal: usearch marks a removed vector deleted, keeps its node as a waypoint and reuses the
//! slot for a later insert. Measured (the `churn` test): with the small graph that keeps lookups
//! under budget, heavy eviction churn costs recall (0.67 against 0.90 for a fresh graph on a hard
//! synthetic set), and usearch's `compact` does not bring it back; a rebuild from the live
//! vectors does. So removal is in place (cheap, immediate), and a maintenance thread calls
//! [`SemanticIndex::rebuild`] when [`SemanticIndex::needs_rebuild`] says that removals reach
//! half the live count; the rebuild inserts without holding the lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// How vectors are stored in the graph. Queries are always f32; usearch converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// 4 bytes per dimension: exact similarities.
    F32,
    /// 2 bytes per dimension: similarities within ~1e-3 of f32, half the memory.
    F16,
    /// 1 byte per dimension: a quarter of the memory and the fastest search; similarities
    /// within ~1e-2 of f32 (unit vectors are scaled by 127; the tests allow 0.02).
    #[default]
    I8,
}

impl Quantization {
    fn scalar(self) -> ScalarKind {
        match self {
            Quantization::F32 => ScalarKind::F32,
            Quantization::F16 => ScalarKind::F16,
            Quantization::I8 => ScalarKind::I8,
        }
    }
}

impl std::str::FromStr for Quantization {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Quantization::F32),
            "f16" => Ok(Quantization::F16),
            "i8" => Ok(Quantization::I8),
            other => Err(format!("unknown quantization {other:?} (f32, f16, i8)")),
        }
    }
}

/// Settings shared by every index of an [`IndexSet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexConfig {
    /// Vector length; must equal the embedder's.
    pub dim: usize,
    /// Storage type of the vectors.
    pub quantization: Quantization,
    /// Most entries per (namespace, model); inserting beyond evicts the oldest.
    pub capacity: usize,
    /// HNSW links per node (usearch's `connectivity`, "M").
    pub connectivity: usize,
    /// Candidate list size while inserting ("efConstruction").
    pub expansion_add: usize,
    /// Candidate list size while searching ("ef"): recall against speed.
    pub expansion_search: usize,
    /// Threads that may search or insert one index at the same time (the embedding pool's
    /// size): usearch keeps a scratch context per thread.
    pub threads: usize,
}

impl Default for IndexConfig {
    /// Measured on this project's 2-core machine with 100,000 vectors of 384 dims lying near a
    /// 32-dimensional subspace (as sentence embeddings do): i8, M = 12, ef = 16 searched in
    /// 125 µs p50 with recall@1 0.987; f16 with the same graph 174 µs (0.987); M = 16 and ef = 64
    /// (usearch's defaults) ~350 µs or more. The lookup budget is 200 µs p50 (SPEC §7), and a
    /// missed neighbour only costs a cache miss, so the graph is kept small.
    fn default() -> Self {
        Self {
            dim: 384,
            quantization: Quantization::I8,
            capacity: 100_000,
            connectivity: 12,
            expansion_add: 128,
            expansion_search: 16,
            threads: 4,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The cache entry id given at insert.
    pub entry: u64,
    /// Cosine similarity to the query (1 = same direction), as stored (see [`Quantization`]).
    pub similarity: f32,
    /// When the entry was inserted, in Unix milliseconds.
    pub inserted_ms: u64,
}

/// What the index remembers per vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    entry: u64,
    inserted_ms: u64,
    expires_ms: u64,
}

struct Inner {
    index: Index,
    /// usearch key → metadata; ascending keys are insertion order.
    meta: BTreeMap<u64, Meta>,
    /// Entry id → usearch key, for removal and replacement by entry.
    by_entry: HashMap<u64, u64>,
    /// (expiry, key), soonest first, for TTL sweeps.
    expiry: BTreeSet<(u64, u64)>,
    next_key: u64,
    /// Vectors removed from the graph since it was built: what [`SemanticIndex::needs_rebuild`]
    /// weighs against the live count.
    removed_since_build: usize,
}

/// The index of one (namespace, model).
pub struct SemanticIndex {
    namespace: String,
    model: String,
    config: IndexConfig,
    inner: RwLock<Inner>,
}

/// Maps usearch's C++ exceptions (and other displayable errors) to this module's `String` errors.
fn ue<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("usearch {context}: {e}")
}

/// Milliseconds since the Unix epoch, the clock of TTLs and insertion times.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn new_usearch(config: &IndexConfig) -> Result<Index, String> {
    let options = IndexOptions {
        dimensions: config.dim,
        metric: MetricKind::Cos,
        quantization: config.quantization.scalar(),
        connectivity: config.connectivity,
        expansion_add: config.expansion_add,
        expansion_search: config.expansion_search,
        multi: false,
    };
    Index::new(&options).map_err(|e| format!("usearch new: {e}"))
}

impl SemanticIndex {
    /// An empty index for `namespace` and `model`.
    pub fn new(namespace: &str, model: &str, config: &IndexConfig) -> Result<Self, String> {
        if config.dim == 0 || config.capacity == 0 {
            return Err("index dim and capacity must be positive".into());
        }
        let index = new_usearch(config)?;
        Ok(Self {
            namespace: namespace.to_string(),
            model: model.to_string(),
            config: config.clone(),
            inner: RwLock::new(Inner {
                index,
                meta: BTreeMap::new(),
                by_entry: HashMap::new(),
                expiry: BTreeSet::new(),
                next_key: 0,
                removed_since_build: 0,
            }),
        })
    }

    /// The namespace this index belongs to.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The (resolved) model this index belongs to.
    pub fn model(&self) -> &str {
        &self.model
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave usearch half-updated in a way that
        // matters more than losing the cache, so a poisoned lock is used as is.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Live entries (expired ones count until swept).
    pub fn len(&self) -> usize {
        self.read().meta.len()
    }

    /// True when the index holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `vector` for `entry`, expiring `ttl` after `now_ms`. Replaces an earlier vector of
    /// the same entry. Sweeps expired entries first, then evicts the oldest while over capacity.
    pub fn insert(
        &self,
        entry: u64,
        vector: &[f32],
        ttl: Duration,
        now_ms: u64,
    ) -> Result<(), String> {
        if vector.len() != self.config.dim {
            return Err(format!(
                "vector has {} dimensions, index {}",
                vector.len(),
                self.config.dim
            ));
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err("vector has a NaN or infinite component".into());
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let expires_ms = now_ms.saturating_add(ttl_ms);
        let mut inner = self.write();
        let inner = &mut *inner;
        sweep_expired(inner, now_ms)?;
        if let Some(old) = inner.by_entry.get(&entry).copied() {
            remove_key(inner, old)?;
        }
        while inner.meta.len() >= self.config.capacity {
            let Some((&oldest, _)) = inner.meta.first_key_value() else {
                break;
            };
            remove_key(inner, oldest)?;
        }
        // usearch refuses inserts beyond its reserved capacity; grow by doubling (bounded by
        // the configured capacity plus slack) so that reservations stay rare.
        let size = inner.index.size();
        if size >= inner.index.capacity() {
            let want = (size.max(64) * 2)
                .min(self.config.capacity + 64)
                .max(size + 1);
            inner
                .index
                .reserve_capacity_and_threads(want, self.config.threads.max(1))
                .map_err(ue("reserve"))?;
        }
        let key = inner.next_key;
        inner.index.add(key, vector).map_err(ue("add"))?;
        inner.next_key += 1;
        inner.meta.insert(
            key,
            Meta {
                entry,
                inserted_ms: now_ms,
                expires_ms,
            },
        );
        inner.by_entry.insert(entry, key);
        inner.expiry.insert((expires_ms, key));
        Ok(())
    }

    /// The `k` nearest live entries to `query` with their similarity, most similar first.
    /// Entries past their TTL at `now_ms` are skipped even before a sweep removes them.
    pub fn search(&self, query: &[f32], k: usize, now_ms: u64) -> Result<Vec<Hit>, String> {
        if query.len() != self.config.dim {
            return Err(format!(
                "query has {} dimensions, index {}",
                query.len(),
                self.config.dim
            ));
        }
        let inner = self.read();
        if inner.meta.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        // Ask for a few more than k so that expired-but-unswept entries do not crowd out live
        // ones; sweeps on insert keep that set small.
        let matches = inner.index.search(query, k + 4).map_err(ue("search"))?;
        let mut hits = Vec::with_capacity(k);
        for (key, distance) in matches.keys.iter().zip(&matches.distances) {
            let Some(meta) = inner.meta.get(key) else {
                continue;
            };
            if meta.expires_ms <= now_ms {
                continue;
            }
            hits.push(Hit {
                entry: meta.entry,
                similarity: 1.0 - distance,
                inserted_ms: meta.inserted_ms,
            });
            if hits.len() == k {
                break;
            }
        }
        Ok(hits)
    }

    /// Removes `entry`'s vector; returns whether it was present.
    pub fn remove(&self, entry: u64) -> Result<bool, String> {
        let mut inner = self.write();
        let inner = &mut *inner;
        match inner.by_entry.get(&entry).copied() {
            Some(key) => remove_key(inner, key).map(|()| true),
            None => Ok(false),
        }
    }

    /// Removes every entry whose TTL has passed at `now_ms`; returns how many. Inserts do this
    /// too, so calling it is only needed for an index that receives no inserts.
    pub fn sweep(&self, now_ms: u64) -> Result<usize, String> {
        let mut inner = self.write();
        sweep_expired(&mut inner, now_ms)
    }

    /// Rebuilds usearch's storage without the deleted slots (returns their memory). It does
    /// not restore search quality after churn (measured in the `churn` test); see
    /// [`SemanticIndex::rebuild`].
    pub fn compact(&self) -> Result<(), String> {
        self.write().index.compact().map_err(ue("compact"))
    }

    /// True when so many vectors were removed since the graph was built (at least half as
    /// many as are live, and 64) that a [`SemanticIndex::rebuild`] is worth its cost: with the
    /// default small graph, usearch's in-place removal and slot reuse lose recall under heavy
    /// eviction churn (0.67 against 0.90 for a fresh graph in the `churn` test).
    pub fn needs_rebuild(&self) -> bool {
        let inner = self.read();
        inner.removed_since_build >= 64 && inner.removed_since_build * 2 >= inner.meta.len()
    }

    /// Builds a fresh graph from the live vectors and swaps it in; returns the number of
    /// vectors in it. For a maintenance thread: the slow part (inserting every vector) runs
    /// without the lock, so searches and inserts go on meanwhile; only the final catch-up
    /// (changes made during the build) and the swap hold the write lock.
    pub fn rebuild(&self) -> Result<usize, String> {
        // 1. Snapshot the live vectors under the read lock (copies, fast).
        let (snapshot, snapshot_next) = {
            let inner = self.read();
            let mut out = Vec::with_capacity(inner.meta.len());
            for &key in inner.meta.keys() {
                out.push((key, export(&inner.index, key, self.config.dim)?));
            }
            (out, inner.next_key)
        };
        // 2. Build the new graph without any lock.
        let fresh = new_usearch(&self.config)?;
        fresh
            .reserve_capacity_and_threads(
                (snapshot.len() + 64).min(self.config.capacity + 64),
                self.config.threads.max(1),
            )
            .map_err(ue("reserve"))?;
        for (key, v) in &snapshot {
            fresh.add(*key, v).map_err(ue("add"))?;
        }
        // 3. Catch up and swap under the write lock.
        let mut inner = self.write();
        let inner = &mut *inner;
        for (key, _) in &snapshot {
            if !inner.meta.contains_key(key) {
                fresh.remove(*key).map_err(ue("remove"))?;
            }
        }
        let added: Vec<u64> = inner.meta.range(snapshot_next..).map(|(&k, _)| k).collect();
        for key in added {
            if fresh.size() >= fresh.capacity() {
                fresh
                    .reserve_capacity_and_threads(fresh.size() * 2 + 64, self.config.threads.max(1))
                    .map_err(ue("reserve"))?;
            }
            fresh
                .add(key, &export(&inner.index, key, self.config.dim)?)
                .map_err(ue("add"))?;
        }
        inner.index = fresh;
        inner.removed_since_build = 0;
        Ok(inner.meta.len())
    }

    /// Bytes of memory usearch reports for this index.
    pub fn memory_usage(&self) -> usize {
        self.read().index.memory_usage()
    }
}

/// The stored vector of `key`, as f32 (dequantized).
fn export(index: &Index, key: u64, dim: usize) -> Result<Vec<f32>, String> {
    let mut v = vec![0f32; dim];
    match index.get(key, &mut v).map_err(ue("get"))? {
        0 => Err(format!("key {key} missing from the graph")),
        _ => Ok(v),
    }
}

fn remove_key(inner: &mut Inner, key: u64) -> Result<(), String> {
    if let Some(meta) = inner.meta.remove(&key) {
        inner.expiry.remove(&(meta.expires_ms, key));
        if inner.by_entry.get(&meta.entry) == Some(&key) {
            inner.by_entry.remove(&meta.entry);
        }
    }
    inner.index.remove(key).map_err(ue("remove"))?;
    inner.removed_since_build += 1;
    Ok(())
}

fn sweep_expired(inner: &mut Inner, now_ms: u64) -> Result<usize, String> {
    let mut n = 0;
    while let Some(&(expires, key)) = inner.expiry.first() {
        if expires > now_ms {
            break;
        }
        remove_key(inner, key)?;
        n += 1;
    }
    Ok(n)
}

/// All indexes of one embedder: one per (namespace, model), created on first insert.
pub struct IndexSet {
    embedder: String,
    config: IndexConfig,
    /// namespace → model → index; nested so that a lookup by `&str` needs no allocation.
    indexes: RwLock<HashMap<String, HashMap<String, Arc<SemanticIndex>>>>,
}

/// Version of the persisted layout, bumped on incompatible changes.
const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";

#[derive(Serialize, Deserialize)]
struct Manifest {
    version: u32,
    embedder: String,
    dim: usize,
    config: IndexConfig,
    /// Distinguishes the files of successive saves, so that a crash mid-save leaves the
    /// previous manifest pointing at complete files.
    generation: u64,
    indexes: Vec<IndexFile>,
}

#[derive(Serialize, Deserialize)]
struct IndexFile {
    namespace: String,
    model: String,
    file: String,
    next_key: u64,
    /// `[key, entry, inserted_ms, expires_ms]` per vector, in key order.
    entries: Vec<[u64; 4]>,
}

impl IndexSet {
    /// An empty set for vectors of `embedder` (its name, stored when saving).
    pub fn new(embedder: &str, config: IndexConfig) -> Self {
        Self {
            embedder: embedder.to_string(),
            config,
            indexes: RwLock::new(HashMap::new()),
        }
    }

    /// The embedder name the vectors come from.
    pub fn embedder(&self) -> &str {
        &self.embedder
    }

    /// The settings of every index in the set.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// The index of (`namespace`, `model`), if one exists.
    pub fn get(&self, namespace: &str, model: &str) -> Option<Arc<SemanticIndex>> {
        let map = self.indexes.read().unwrap_or_else(|p| p.into_inner());
        map.get(namespace)
            .and_then(|m| m.get(model))
            .map(Arc::clone)
    }

    /// The index of (`namespace`, `model`), created empty if missing.
    pub fn get_or_create(
        &self,
        namespace: &str,
        model: &str,
    ) -> Result<Arc<SemanticIndex>, String> {
        if let Some(ix) = self.get(namespace, model) {
            return Ok(ix);
        }
        let mut map = self.indexes.write().unwrap_or_else(|p| p.into_inner());
        let models = map.entry(namespace.to_string()).or_default();
        if let Some(ix) = models.get(model) {
            return Ok(Arc::clone(ix));
        }
        let ix = Arc::new(SemanticIndex::new(namespace, model, &self.config)?);
        models.insert(model.to_string(), Arc::clone(&ix));
        Ok(ix)
    }

    /// Inserts into the index of (`namespace`, `model`); see [`SemanticIndex::insert`].
    pub fn insert(
        &self,
        namespace: &str,
        model: &str,
        entry: u64,
        vector: &[f32],
        ttl: Duration,
        now_ms: u64,
    ) -> Result<(), String> {
        self.get_or_create(namespace, model)?
            .insert(entry, vector, ttl, now_ms)
    }

    /// Searches the index of (`namespace`, `model`) only: another namespace's entries are never
    /// candidates. No index yet means no hits.
    pub fn search(
        &self,
        namespace: &str,
        model: &str,
        query: &[f32],
        k: usize,
        now_ms: u64,
    ) -> Result<Vec<Hit>, String> {
        match self.get(namespace, model) {
            Some(ix) => ix.search(query, k, now_ms),
            None => Ok(Vec::new()),
        }
    }

    /// Sweeps expired entries from every index; returns how many were removed.
    pub fn sweep(&self, now_ms: u64) -> Result<usize, String> {
        self.all().iter().map(|ix| ix.sweep(now_ms)).sum()
    }

    /// Rebuilds every index whose graph has seen heavy removal (see
    /// [`SemanticIndex::needs_rebuild`]); returns how many were rebuilt. Meant for a
    /// maintenance thread, e.g. once a minute, together with [`IndexSet::sweep`].
    pub fn rebuild_where_needed(&self) -> Result<usize, String> {
        let mut n = 0;
        for ix in self.all() {
            if ix.needs_rebuild() {
                ix.rebuild()?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every index, cloned out of the map so that long operations do not hold its lock.
    fn all(&self) -> Vec<Arc<SemanticIndex>> {
        self.indexes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    /// Total live entries across indexes.
    pub fn len(&self) -> usize {
        self.all().iter().map(|ix| ix.len()).sum()
    }

    /// True when no index holds an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes every index to `dir` (created if missing): one usearch file per index and
    /// `manifest.json` with the ids, namespaces, models, times and the embedder's name and
    /// dimension. Files are written under new names first and the manifest is replaced last,
    /// so a crash mid-save leaves the previous save loadable.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let generation = read_manifest(dir).map_or(0, |m| m.generation + 1);
        let all = self.all();
        let mut files = Vec::with_capacity(all.len());
        for (i, ix) in all.iter().enumerate() {
            let file = format!("g{generation}-{i}.usearch");
            let path = dir.join(&file);
            let path_str = path
                .to_str()
                .ok_or_else(|| format!("{}: path is not UTF-8", path.display()))?;
            // The read lock keeps inserts out while the graph and its ids are captured together.
            let inner = ix.read();
            inner.index.save(path_str).map_err(ue("save"))?;
            files.push(IndexFile {
                namespace: ix.namespace.clone(),
                model: ix.model.clone(),
                file,
                next_key: inner.next_key,
                entries: inner
                    .meta
                    .iter()
                    .map(|(&k, m)| [k, m.entry, m.inserted_ms, m.expires_ms])
                    .collect(),
            });
        }
        let manifest = Manifest {
            version: FORMAT_VERSION,
            embedder: self.embedder.clone(),
            dim: self.config.dim,
            config: self.config.clone(),
            generation,
            indexes: files,
        };
        let text = serde_json::to_vec(&manifest).map_err(|e| format!("manifest: {e}"))?;
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(MANIFEST)).map_err(|e| format!("manifest rename: {e}"))?;
        remove_other_generations(dir, generation);
        Ok(())
    }

    /// Loads what [`IndexSet::save`] wrote, for vectors of `embedder` with `config`.
    /// Refuses a directory saved with another embedder or dimension (its vectors would be
    /// meaningless next to the new ones). Entries already expired at `now_ms` are dropped.
    /// A directory without a manifest gives an empty set (first start).
    pub fn load(
        dir: &Path,
        embedder: &str,
        config: IndexConfig,
        now_ms: u64,
    ) -> Result<Self, String> {
        let set = Self::new(embedder, config);
        if !dir.join(MANIFEST).exists() {
            return Ok(set);
        }
        let manifest = read_manifest(dir)?;
        if manifest.version != FORMAT_VERSION {
            return Err(format!(
                "{}: format version {} (expected {FORMAT_VERSION})",
                dir.display(),
                manifest.version
            ));
        }
        if manifest.embedder != embedder || manifest.dim != set.config.dim {
            return Err(format!(
                "{}: saved with embedder {} ({} dims), configured {embedder} ({} dims)",
                dir.display(),
                manifest.embedder,
                manifest.dim,
                set.config.dim
            ));
        }
        let mut map: HashMap<String, HashMap<String, Arc<SemanticIndex>>> = HashMap::new();
        for f in manifest.indexes {
            let ix = SemanticIndex::new(&f.namespace, &f.model, &set.config)?;
            {
                let mut inner = ix.write();
                let inner = &mut *inner;
                let path = dir.join(&f.file);
                let path_str = path
                    .to_str()
                    .ok_or_else(|| format!("{}: path is not UTF-8", path.display()))?;
                // The saved quantization wins for the stored vectors; a changed setting applies
                // to indexes created from now on.
                let meta = Index::metadata(path_str).map_err(ue("read header"))?;
                if usize::try_from(meta.dimensions).ok() != Some(set.config.dim) {
                    return Err(format!("{}: dimension mismatch", path.display()));
                }
                inner.index = Index::restore(path_str).map_err(ue("load"))?;
                inner
                    .index
                    .change_expansion_search(set.config.expansion_search);
                let reserve = inner.index.capacity().max(f.entries.len());
                inner
                    .index
                    .reserve_capacity_and_threads(reserve, set.config.threads.max(1))
                    .map_err(ue("reserve"))?;
                inner.next_key = f.next_key;
                for [key, entry, inserted_ms, expires_ms] in f.entries {
                    if !inner.index.contains(key) {
                        return Err(format!(
                            "{}: key {key} missing from the graph",
                            path.display()
                        ));
                    }
                    inner.meta.insert(
                        key,
                        Meta {
                            entry,
                            inserted_ms,
                            expires_ms,
                        },
                    );
                    inner.by_entry.insert(entry, key);
                    inner.expiry.insert((expires_ms, key));
                }
                sweep_expired(inner, now_ms)?;
            }
            map.entry(f.namespace)
                .or_default()
                .insert(f.model, Arc::new(ix));
        }
        *set.indexes.write().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(set)
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Deletes index files of other generations (best effort: a leftover file is only disk space).
fn remove_other_generations(dir: &Path, keep: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let keep_prefix = format!("g{keep}-");
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".usearch") && name.starts_with('g') && !name.starts_with(&keep_prefix) {
            let p: PathBuf = e.path();
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    /// Deterministic pseudo-random unit vectors (xorshift), so tests need no `rand`.
    fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32 - 0.5
        };
        (0..n)
            .map(|_| {
                let mut v: Vec<f32> = (0..dim).map(|_| next()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect()
    }

    fn config(dim: usize, capacity: usize, q: Quantization) -> IndexConfig {
        IndexConfig {
            dim,
            quantization: q,
            capacity,
            ..IndexConfig::default()
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shardgate-index-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn insert_search_remove_each_quantization() {
        for q in [Quantization::F32, Quantization::F16, Quantization::I8] {
            let ix = SemanticIndex::new("ns", "m", &config(32, 1000, q)).expect("index");
            let vs = unit_vectors(200, 32, 7);
            for (i, v) in vs.iter().enumerate() {
                ix.insert(1000 + i as u64, v, DAY, 1).expect("insert");
            }
            assert_eq!(ix.len(), 200);
            let hits = ix.search(&vs[42], 3, 2).expect("search");
            assert_eq!(hits[0].entry, 1042, "{q:?}");
            let tol = if q == Quantization::I8 { 0.02 } else { 1e-3 };
            assert!(
                (hits[0].similarity - 1.0).abs() < tol,
                "{q:?} {}",
                hits[0].similarity
            );
            assert!(hits[1].similarity <= hits[0].similarity);
            assert_eq!(hits[0].inserted_ms, 1);
            assert!(ix.remove(1042).expect("remove"));
            assert!(!ix.remove(1042).expect("remove again"));
            let hits = ix.search(&vs[42], 3, 2).expect("search");
            assert!(hits.iter().all(|h| h.entry != 1042));
            assert_eq!(ix.len(), 199);
        }
    }

    #[test]
    fn bad_vectors_are_refused() {
        let ix = SemanticIndex::new("ns", "m", &config(4, 10, Quantization::F16)).expect("index");
        assert!(ix.insert(1, &[1.0, 0.0], DAY, 0).is_err());
        assert!(ix.insert(1, &[f32::NAN, 0.0, 0.0, 0.0], DAY, 0).is_err());
        assert!(ix.search(&[1.0], 1, 0).is_err());
        assert_eq!(ix.search(&[1.0, 0.0, 0.0, 0.0], 1, 0), Ok(vec![]));
        assert!(SemanticIndex::new("ns", "m", &config(0, 10, Quantization::F16)).is_err());
    }

    #[test]
    fn reinserting_an_entry_replaces_its_vector() {
        let ix = SemanticIndex::new("ns", "m", &config(16, 10, Quantization::F32)).expect("index");
        let vs = unit_vectors(2, 16, 3);
        ix.insert(5, &vs[0], DAY, 0).expect("insert");
        ix.insert(5, &vs[1], DAY, 0).expect("insert");
        assert_eq!(ix.len(), 1);
        let hits = ix.search(&vs[1], 2, 0).expect("search");
        assert_eq!(hits.len(), 1);
        assert!((hits[0].similarity - 1.0).abs() < 1e-4);
    }

    #[test]
    fn ttl_expiry() {
        let ix = SemanticIndex::new("ns", "m", &config(16, 100, Quantization::F16)).expect("index");
        let vs = unit_vectors(3, 16, 11);
        ix.insert(1, &vs[0], Duration::from_secs(10), 1_000)
            .expect("insert");
        ix.insert(2, &vs[1], Duration::from_secs(100), 1_000)
            .expect("insert");
        // Live before the TTL, invisible after it even before any sweep.
        assert_eq!(ix.search(&vs[0], 1, 10_999).expect("search")[0].entry, 1);
        assert!(ix
            .search(&vs[0], 2, 11_000)
            .expect("search")
            .iter()
            .all(|h| h.entry != 1));
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.sweep(11_000), Ok(1));
        assert_eq!(ix.len(), 1);
        // An insert sweeps too.
        ix.insert(3, &vs[2], DAY, 200_000).expect("insert");
        assert_eq!(ix.len(), 1);
    }

    #[test]
    fn capacity_evicts_oldest_first() {
        let ix = SemanticIndex::new("ns", "m", &config(16, 50, Quantization::F16)).expect("index");
        let vs = unit_vectors(120, 16, 5);
        for (i, v) in vs.iter().enumerate() {
            ix.insert(i as u64, v, DAY, i as u64).expect("insert");
        }
        assert_eq!(ix.len(), 50);
        // Entries 0..70 were evicted, 70..120 remain.
        for (i, v) in vs.iter().enumerate() {
            let top = ix.search(v, 1, 1_000).expect("search")[0];
            if i >= 70 {
                assert_eq!(top.entry, i as u64);
            } else {
                assert!(top.entry >= 70, "evicted entry {i} still found");
            }
        }
    }

    #[test]
    fn namespaces_and_models_are_separate() {
        let set = IndexSet::new("toy", config(16, 100, Quantization::F16));
        let vs = unit_vectors(2, 16, 9);
        set.insert("team-a", "gpt-4o", 1, &vs[0], DAY, 0)
            .expect("insert");
        set.insert("team-b", "gpt-4o", 2, &vs[1], DAY, 0)
            .expect("insert");
        set.insert("team-a", "claude", 3, &vs[1], DAY, 0)
            .expect("insert");
        let a = set
            .search("team-a", "gpt-4o", &vs[1], 5, 0)
            .expect("search");
        assert_eq!(a.iter().map(|h| h.entry).collect::<Vec<_>>(), vec![1]);
        let b = set
            .search("team-b", "gpt-4o", &vs[0], 5, 0)
            .expect("search");
        assert_eq!(b.iter().map(|h| h.entry).collect::<Vec<_>>(), vec![2]);
        assert!(set
            .search("team-c", "gpt-4o", &vs[0], 5, 0)
            .expect("search")
            .is_empty());
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn persistence_round_trip() {
        let dir = tmpdir("roundtrip");
        let cfg = config(24, 1000, Quantization::F16);
        let set = IndexSet::new("toy-24", cfg.clone());
        let vs = unit_vectors(300, 24, 13);
        for (i, v) in vs.iter().enumerate() {
            let ns = if i % 2 == 0 { "even" } else { "odd" };
            // Entries 0..10 expire at 5_000, the rest live for a day.
            let ttl = if i < 10 { Duration::from_secs(4) } else { DAY };
            set.insert(ns, "m", i as u64, v, ttl, 1_000)
                .expect("insert");
        }
        set.save(&dir).expect("save");
        // A second save replaces the first and cleans its files.
        set.save(&dir).expect("save again");
        let files: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".usearch"))
            .collect();
        assert_eq!(files.len(), 2);

        let loaded = IndexSet::load(&dir, "toy-24", cfg.clone(), 2_000).expect("load");
        assert_eq!(loaded.len(), 300);
        for (i, v) in vs.iter().enumerate() {
            let ns = if i % 2 == 0 { "even" } else { "odd" };
            let top = loaded.search(ns, "m", v, 1, 2_000).expect("search")[0];
            assert_eq!(top.entry, i as u64);
            assert_eq!(top.inserted_ms, 1_000);
        }
        // Inserting after a load continues with fresh keys and keeps old entries.
        let extra = unit_vectors(1, 24, 99);
        loaded
            .insert("even", "m", 9_999, &extra[0], DAY, 3_000)
            .expect("insert");
        assert_eq!(
            loaded.search("even", "m", &extra[0], 1, 3_000).expect("s")[0].entry,
            9_999
        );
        assert_eq!(
            loaded.search("even", "m", &vs[20], 1, 3_000).expect("s")[0].entry,
            20
        );

        // Loading after the short TTL drops those entries.
        let later = IndexSet::load(&dir, "toy-24", cfg.clone(), 6_000).expect("load");
        assert_eq!(later.len(), 290);

        // Another embedder or dimension is refused.
        assert!(IndexSet::load(&dir, "other", cfg.clone(), 0).is_err());
        assert!(IndexSet::load(&dir, "toy-24", config(32, 1000, Quantization::F16), 0).is_err());
        // No manifest: an empty set.
        let empty = IndexSet::load(&tmpdir("empty"), "toy-24", cfg, 0).expect("load");
        assert!(empty.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Recall@1 of approximate search against brute force, over `queries` near stored vectors.
    fn recall(ix: &SemanticIndex, live: &HashMap<u64, Vec<f32>>, queries: &[Vec<f32>]) -> f64 {
        let mut good = 0;
        for q in queries {
            let best = live
                .iter()
                .map(|(e, v)| (*e, crate::cache::embedder::cosine(q, v)))
                .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
            let got = ix.search(q, 1, 0).expect("search");
            if got.first().map(|h| h.entry) == Some(best.0) {
                good += 1;
            }
        }
        good as f64 / queries.len() as f64
    }

    /// Heavy eviction churn (3x the capacity inserted) degrades the small default graph when
    /// usearch removes in place and reuses slots; `compact` does not help; `rebuild` restores
    /// the recall of a fresh graph. The numbers are printed for the record.
    #[test]
    fn churn_then_rebuild_restores_recall() {
        let dim = 64;
        let cap = 3_000;
        let cfg = config(dim, cap, Quantization::F16);
        let vs = unit_vectors(3 * cap, dim, 21);
        let churned = SemanticIndex::new("ns", "m", &cfg).expect("index");
        for (i, v) in vs.iter().enumerate() {
            churned.insert(i as u64, v, DAY, 0).expect("insert");
        }
        let fresh = SemanticIndex::new("ns", "m", &cfg).expect("index");
        let mut live = HashMap::new();
        for (i, v) in vs.iter().enumerate().skip(2 * cap) {
            fresh.insert(i as u64, v, DAY, 0).expect("insert");
            live.insert(i as u64, v.clone());
        }
        assert_eq!(churned.len(), cap);
        // Queries: live vectors under heavy noise (cosine to their origin ~0.55, the best of
        // 3,000 random others ~0.45), so that finding the exact nearest takes a working graph.
        let noise = unit_vectors(300, dim, 77);
        let queries: Vec<Vec<f32>> = noise
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let base = &vs[2 * cap + (i * 7) % cap];
                let mut q: Vec<f32> = base.iter().zip(n).map(|(b, n)| b + 1.5 * n).collect();
                let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
                q.iter_mut().for_each(|x| *x /= norm);
                q
            })
            .collect();
        let r_churned = recall(&churned, &live, &queries);
        let r_fresh = recall(&fresh, &live, &queries);
        churned.compact().expect("compact");
        let r_compacted = recall(&churned, &live, &queries);
        assert!(churned.needs_rebuild());
        assert_eq!(churned.rebuild(), Ok(cap));
        assert!(!churned.needs_rebuild());
        let r_rebuilt = recall(&churned, &live, &queries);
        eprintln!(
            "recall@1 churned {r_churned:.3} compacted {r_compacted:.3} rebuilt {r_rebuilt:.3} \
             fresh {r_fresh:.3}"
        );
        assert!(r_rebuilt >= r_fresh - 0.03, "{r_rebuilt} vs {r_fresh}");
        // The rebuilt graph keeps serving: ids, eviction and inserts work as before.
        let extra = unit_vectors(1, dim, 5);
        churned.insert(1, &extra[0], DAY, 0).expect("insert");
        assert_eq!(churned.search(&extra[0], 1, 0).expect("search")[0].entry, 1);
        assert_eq!(churned.len(), cap);
    }
}
