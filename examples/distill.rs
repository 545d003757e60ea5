//! Distills the static embedder (`src/cache/static_embed.rs`) from all-MiniLM-L6-v2.
//!
//! ```text
//! scripts/fetch-model.sh
//! python3 scripts/distill-corpus.py > target/distill-corpus.txt      # optional, widens coverage
//! cargo run --release --features embed-minilm --example distill -- \
//!     --corpus target/distill-corpus.txt
//! ```
//!
//! Steps:
//! 1. a corpus: prompts generated here from templates (questions, tasks, code, conversions —
//!    what reaches an LLM gateway) plus the lines of any `--corpus` files;
//! 2. the teacher (MiniLM) embeds every sentence; the last 5% are held out for evaluation;
//! 3. the teacher embeds every vocabulary piece alone (`[CLS] piece [SEP]`): the starting table,
//!    which is all that pieces unseen in the corpus will have;
//! 4. the table and a bias are fitted so that `normalize(bias + mean(rows of the pieces))`
//!    points where the teacher's sentence vector points (cosine loss, Adam, pulled towards the
//!    starting table so rare pieces stay sensible);
//! 5. PCA (uncentered, on the teacher's sentence vectors) reduces 384 dims to `--dim`;
//! 6. rows are quantized to i8 and written; the result is evaluated against the teacher on the
//!    held-out sentences and on hand-written prompt pairs (Pearson and Spearman correlation of
//!    the pairs' cosines), and timed.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use shardgate::cache::embedder::{cosine, Embedder};
use shardgate::cache::minilm::{self, MiniLm};
use shardgate::cache::static_embed::StaticEmbedder;
use shardgate::cache::wordpiece::WordPiece;

const D: usize = minilm::DIM;

struct Args {
    model_dir: PathBuf,
    out: PathBuf,
    corpus: Vec<PathBuf>,
    dim: usize,
    epochs: usize,
    max_sentences: usize,
    /// Where to keep the teacher's outputs between runs (they take most of the time).
    cache: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        model_dir: MiniLm::default_dir(),
        out: StaticEmbedder::default_path(),
        corpus: Vec::new(),
        dim: 256,
        epochs: 3,
        max_sentences: 200_000,
        cache: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--model-dir" => a.model_dir = value()?.into(),
            "--out" => a.out = value()?.into(),
            "--corpus" => a.corpus.push(value()?.into()),
            "--dim" => a.dim = value()?.parse().map_err(|e| format!("--dim: {e}"))?,
            "--cache" => a.cache = Some(value()?.into()),
            "--epochs" => a.epochs = value()?.parse().map_err(|e| format!("--epochs: {e}"))?,
            "--max-sentences" => {
                a.max_sentences = value()?
                    .parse()
                    .map_err(|e| format!("--max-sentences: {e}"))?
            }
            "-h" | "--help" => {
                println!(
                    "distill [--model-dir DIR] [--out FILE] [--corpus FILE]... [--dim N] \
                     [--epochs N] [--max-sentences N] [--cache FILE]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.dim == 0 || a.dim > D {
        return Err(format!("--dim must be in 1..={D}"));
    }
    Ok(a)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("distill: {e}");
        std::process::exit(1);
    }
}

/// A small deterministic generator (xorshift64*), so that runs are reproducible without `rand`.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let t0 = Instant::now();
    let teacher = MiniLm::load(&args.model_dir)?;
    let tok_text = std::fs::read_to_string(args.model_dir.join("tokenizer.json"))
        .map_err(|e| format!("tokenizer.json: {e}"))?;
    let wp = WordPiece::from_tokenizer_json(&tok_text)?;
    let vocab = wp.vocab_size();

    let taught = match args.cache.as_deref().map(Taught::read) {
        Some(Ok(t)) => {
            println!(
                "teacher outputs from {}",
                args.cache
                    .as_deref()
                    .map_or_else(String::new, |p| p.display().to_string())
            );
            t
        }
        _ => {
            let t = teach(&args, &teacher, &wp)?;
            if let Some(path) = &args.cache {
                t.write(path)?;
            }
            t
        }
    };
    let Taught {
        sentences,
        pieces,
        targets,
        start,
    } = taught;
    let mut rng = Rng(0x0DD5_EED5_1234_5678);
    let held = (sentences.len() / 20).max(1);
    let train_n = sentences.len() - held;

    // Baseline: the starting table as is (no fitting), for the report.
    let zero_bias = vec![0f32; D];
    let eval_idx: Vec<usize> = (train_n..sentences.len()).collect();
    let report = |label: &str, table: &[f32], bias: &[f32]| {
        let (p, s, mean_cos) = heldout_agreement(table, bias, &pieces, &targets, &eval_idx);
        println!("{label}: held-out pairs pearson {p:.3} spearman {s:.3}; cos(student, teacher) {mean_cos:.3}");
    };
    report("start table", &start, &zero_bias);

    // 4. Fit.
    let (table, bias) = fit(
        &start,
        &pieces[..train_n],
        &targets[..train_n * D],
        args.epochs,
        &mut rng,
        |e, tb, b| report(&format!("epoch {e}"), tb, b),
    );

    // 5. PCA on the teacher's (training) sentence vectors, uncentered: cosines depend on the
    // directions that carry most of the vectors' energy, including their common mean.
    let t = Instant::now();
    let basis = top_eigenvectors(&targets[..train_n * D], args.dim);
    let project = |v: &[f32]| -> Vec<f32> {
        basis
            .chunks_exact(D)
            .map(|e| e.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect()
    };
    let mut reduced = Vec::with_capacity(vocab * args.dim);
    for row in table.chunks_exact(D) {
        reduced.extend(project(row));
    }
    let reduced_bias = project(&bias);
    println!("pca to {} dims: {:.0?}", args.dim, t.elapsed());

    // 6. Quantize, write, evaluate through the real embedder.
    let name = format!("static-minilm-{}", args.dim);
    let student = StaticEmbedder::from_table(
        &name,
        wp.tokens().to_vec(),
        &reduced,
        reduced_bias,
        minilm::MAX_TOKENS,
    )?;
    student.save(&args.out)?;
    let reloaded = StaticEmbedder::load(&args.out)?;
    println!(
        "wrote {} ({} bytes)",
        args.out.display(),
        std::fs::metadata(&args.out).map_or(0, |m| m.len())
    );

    let held_texts: Vec<&str> = eval_idx.iter().map(|&i| sentences[i].as_str()).collect();
    evaluate(&teacher, &reloaded, &held_texts)?;
    println!("total {:.0?}", t0.elapsed());
    Ok(())
}

/// What the teacher computed: the corpus, its word pieces, its sentence vectors (n × D) and the
/// vector of every vocabulary piece alone (vocab × D).
struct Taught {
    sentences: Vec<String>,
    pieces: Vec<Vec<u32>>,
    targets: Vec<f32>,
    start: Vec<f32>,
}

impl Taught {
    fn write(&self, path: &std::path::Path) -> Result<(), String> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.sentences.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.start.len() as u64).to_le_bytes());
        for (s, p) in self.sentences.iter().zip(&self.pieces) {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            p.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        self.targets
            .iter()
            .chain(&self.start)
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn read(path: &std::path::Path) -> Result<Self, String> {
        let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut pos = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let s = b.get(pos..pos + n).ok_or("cache truncated")?;
            pos += n;
            Ok(s)
        };
        let u64_at = |s: &[u8]| s.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x));
        let n = u64_at(take(8)?) as usize;
        let start_len = u64_at(take(8)?) as usize;
        let (mut sentences, mut pieces) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let len = u64_at(take(4)?) as usize;
            sentences.push(String::from_utf8(take(len)?.to_vec()).map_err(|e| e.to_string())?);
            let k = u64_at(take(4)?) as usize;
            pieces.push(
                take(4 * k)?
                    .chunks_exact(4)
                    .map(|c| u64_at(c) as u32)
                    .collect(),
            );
        }
        let floats = |s: &[u8]| -> Vec<f32> {
            s.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let targets = floats(take(n * D * 4)?);
        let start = floats(take(start_len * 4)?);
        Ok(Self {
            sentences,
            pieces,
            targets,
            start,
        })
    }
}

/// Steps 1 to 3: the corpus and the teacher's outputs on it and on the vocabulary.
fn teach(args: &Args, teacher: &MiniLm, wp: &WordPiece) -> Result<Taught, String> {
    let vocab = wp.vocab_size();
    // 1. Corpus.
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let mut sentences = generated_prompts(&mut rng);
    let generated = sentences.len();
    for path in &args.corpus {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        sentences.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    let mut seen = HashSet::new();
    sentences.retain(|s| seen.insert(s.to_lowercase()));
    rng.shuffle(&mut sentences);
    sentences.truncate(args.max_sentences);
    println!(
        "corpus: {} sentences ({generated} generated, the rest from {} file(s))",
        sentences.len(),
        args.corpus.len()
    );

    // 2. Teacher sentence vectors, batched by similar length to limit padding.
    let mut order: Vec<usize> = (0..sentences.len()).collect();
    order.sort_by_key(|&i| sentences[i].len());
    let mut targets = vec![0f32; sentences.len() * D];
    let mut pieces: Vec<Vec<u32>> = vec![Vec::new(); sentences.len()];
    let t = Instant::now();
    for (b, chunk) in order.chunks(32).enumerate() {
        let texts: Vec<&str> = chunk.iter().map(|&i| sentences[i].as_str()).collect();
        let states = teacher.token_states(&texts)?;
        for (&i, st) in chunk.iter().zip(&states) {
            targets[i * D..(i + 1) * D].copy_from_slice(&MiniLm::pool(st));
            // The pieces between [CLS] and [SEP]: what the static embedder will average.
            pieces[i] = st.ids[1..st.ids.len().saturating_sub(1)].to_vec();
        }
        if b % 200 == 0 {
            println!(
                "  teacher: {}/{} sentences, {:.0?}",
                b * 32,
                sentences.len(),
                t.elapsed()
            );
        }
    }
    // Check that our tokenizer agrees with the teacher's on this corpus (it feeds the table).
    let disagree = sentences
        .iter()
        .zip(&pieces)
        .filter(|(s, p)| {
            let mut ours = Vec::new();
            wp.pieces(s, &mut ours);
            ours.truncate(minilm::MAX_TOKENS - 2);
            &ours != *p
        })
        .count();
    println!(
        "teacher pass {:.0?}; tokenizer disagreements: {disagree}",
        t.elapsed()
    );

    // 3. Every vocabulary piece alone.
    let t = Instant::now();
    let mut start = vec![0f32; vocab * D];
    let all: Vec<u32> = (0..vocab as u32).collect();
    let (cls, sep) = (101u32, 102u32);
    for chunk in all.chunks(512) {
        let rows: Vec<Vec<u32>> = chunk.iter().map(|&id| vec![cls, id, sep]).collect();
        let states = teacher.token_states_of_ids(rows)?;
        for (&id, st) in chunk.iter().zip(&states) {
            let id = id as usize;
            start[id * D..(id + 1) * D].copy_from_slice(&MiniLm::pool(st));
        }
    }
    println!("vocabulary pass: {vocab} pieces, {:.0?}", t.elapsed());

    Ok(Taught {
        sentences,
        pieces,
        targets,
        start,
    })
}

/// Fits `table` (vocab × D) and a bias by Adam on the cosine loss between
/// `bias + mean(table[pieces])` and the teacher's vector, with an L2 pull towards `start`.
fn fit(
    start: &[f32],
    pieces: &[Vec<u32>],
    targets: &[f32],
    epochs: usize,
    rng: &mut Rng,
    mut after_epoch: impl FnMut(usize, &[f32], &[f32]),
) -> (Vec<f32>, Vec<f32>) {
    let mut table = start.to_vec();
    let mut bias = vec![0f32; D];
    let (mut m, mut v) = (vec![0f32; table.len()], vec![0f32; table.len()]);
    let (mut mb, mut vb) = (vec![0f32; D], vec![0f32; D]);
    let (lr, b1, b2, eps, pull) = (3e-3f32, 0.9f32, 0.999f32, 1e-8f32, 1e-4f32);
    let batch = 128;
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    let mut step = 0i32;
    let mut grad = vec![0f32; table.len()];
    let mut touched: Vec<u32> = Vec::new();
    let mut mark = vec![false; start.len() / D];
    for epoch in 1..=epochs {
        rng.shuffle(&mut order);
        let t = Instant::now();
        for chunk in order.chunks(batch) {
            let mut gb = vec![0f32; D];
            for &s in chunk {
                let ids = &pieces[s];
                if ids.is_empty() {
                    continue;
                }
                let y = &targets[s * D..(s + 1) * D];
                let inv_n = 1.0 / ids.len() as f32;
                let mut p = bias.clone();
                for &id in ids {
                    let row = &table[id as usize * D..(id as usize + 1) * D];
                    for (a, r) in p.iter_mut().zip(row) {
                        *a += r * inv_n;
                    }
                }
                // d(1 - cos(p, y))/dp = -(y/|p| - (p·y) p/|p|^3), y being unit length.
                let norm = p.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                let dot: f32 = p.iter().zip(y).map(|(a, b)| a * b).sum();
                let g: Vec<f32> = p
                    .iter()
                    .zip(y)
                    .map(|(pi, yi)| -(yi / norm - dot * pi / (norm * norm * norm)))
                    .collect();
                for (a, gi) in gb.iter_mut().zip(&g) {
                    *a += gi;
                }
                for &id in ids {
                    let i = id as usize;
                    if !mark[i] {
                        mark[i] = true;
                        touched.push(id);
                    }
                    for (a, gi) in grad[i * D..(i + 1) * D].iter_mut().zip(&g) {
                        *a += gi * inv_n;
                    }
                }
            }
            step += 1;
            let c1 = 1.0 - b1.powi(step);
            let c2 = 1.0 - b2.powi(step);
            let scale = 1.0 / chunk.len() as f32;
            // Lazy Adam: only the rows used in this batch move (and get their moments updated).
            for &id in &touched {
                let i = id as usize;
                mark[i] = false;
                for j in i * D..(i + 1) * D {
                    let gj = grad[j] * scale + pull * (table[j] - start[j]);
                    m[j] = b1 * m[j] + (1.0 - b1) * gj;
                    v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
                    table[j] -= lr * (m[j] / c1) / ((v[j] / c2).sqrt() + eps);
                    grad[j] = 0.0;
                }
            }
            touched.clear();
            for j in 0..D {
                let gj = gb[j] * scale;
                mb[j] = b1 * mb[j] + (1.0 - b1) * gj;
                vb[j] = b2 * vb[j] + (1.0 - b2) * gj * gj;
                bias[j] -= lr * (mb[j] / c1) / ((vb[j] / c2).sqrt() + eps);
            }
        }
        println!("  epoch {epoch}: {:.0?}", t.elapsed());
        after_epoch(epoch, &table, &bias);
    }
    (table, bias)
}

fn student_vec(table: &[f32], bias: &[f32], ids: &[u32]) -> Vec<f32> {
    let mut p = bias.to_vec();
    let inv = 1.0 / ids.len().max(1) as f32;
    for &id in ids {
        for (a, r) in p
            .iter_mut()
            .zip(&table[id as usize * D..(id as usize + 1) * D])
        {
            *a += r * inv;
        }
    }
    let n = p.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    p.iter_mut().for_each(|x| *x /= n);
    p
}

/// On held-out sentences: correlation of pair cosines (each sentence with the next one, and
/// with its teacher-nearest neighbour, so that both low and high similarities are present),
/// and the mean cosine between student and teacher vectors of the same sentence (same space
/// before PCA only).
fn heldout_agreement(
    table: &[f32],
    bias: &[f32],
    pieces: &[Vec<u32>],
    targets: &[f32],
    idx: &[usize],
) -> (f64, f64, f64) {
    let stud: Vec<Vec<f32>> = idx
        .iter()
        .map(|&i| student_vec(table, bias, &pieces[i]))
        .collect();
    let teach: Vec<&[f32]> = idx.iter().map(|&i| &targets[i * D..(i + 1) * D]).collect();
    let (t_cos, s_cos) = pair_cosines(&teach, &stud);
    let self_cos = stud
        .iter()
        .zip(&teach)
        .map(|(s, t)| cosine(s, t) as f64)
        .sum::<f64>()
        / idx.len().max(1) as f64;
    (pearson(&t_cos, &s_cos), spearman(&t_cos, &s_cos), self_cos)
}

fn pair_cosines(teach: &[&[f32]], stud: &[Vec<f32>]) -> (Vec<f64>, Vec<f64>) {
    let n = teach.len();
    let (mut tc, mut sc) = (Vec::new(), Vec::new());
    // Nearest neighbours over at most 2,000 sentences keep this quadratic step quick.
    let m = n.min(2000);
    for i in 0..m {
        let j = (i + 1) % m;
        tc.push(cosine(teach[i], teach[j]) as f64);
        sc.push(cosine(&stud[i], &stud[j]) as f64);
        let nn = (0..m)
            .filter(|&k| k != i)
            .max_by(|&a, &b| cosine(teach[i], teach[a]).total_cmp(&cosine(teach[i], teach[b])));
        if let Some(k) = nn {
            tc.push(cosine(teach[i], teach[k]) as f64);
            sc.push(cosine(&stud[i], &stud[k]) as f64);
        }
    }
    (tc, sc)
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().max(1) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va.sqrt() * vb.sqrt()).max(1e-12)
}

fn ranks(a: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..a.len()).collect();
    idx.sort_by(|&i, &j| a[i].total_cmp(&a[j]));
    let mut r = vec![0.0; a.len()];
    for (rank, &i) in idx.iter().enumerate() {
        r[i] = rank as f64;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// The `k` leading eigenvectors (rows of D values) of the second-moment matrix of `rows`,
/// by cyclic Jacobi rotations (384 × 384 converges in a few sweeps).
fn top_eigenvectors(rows: &[f32], k: usize) -> Vec<f32> {
    let n = D;
    let mut a = vec![0f64; n * n];
    let count = (rows.len() / n).max(1) as f64;
    for r in rows.chunks_exact(n) {
        for i in 0..n {
            let ri = r[i] as f64;
            for j in i..n {
                a[i * n + j] += ri * r[j] as f64;
            }
        }
    }
    for i in 0..n {
        for j in i..n {
            a[i * n + j] /= count;
            a[j * n + i] = a[i * n + j];
        }
    }
    let mut vecs = vec![0f64; n * n];
    for i in 0..n {
        vecs[i * n + i] = 1.0;
    }
    for _sweep in 0..30 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-18 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-30 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for kk in 0..n {
                    let akp = a[kk * n + p];
                    let akq = a[kk * n + q];
                    a[kk * n + p] = c * akp - s * akq;
                    a[kk * n + q] = s * akp + c * akq;
                }
                for kk in 0..n {
                    let apk = a[p * n + kk];
                    let aqk = a[q * n + kk];
                    a[p * n + kk] = c * apk - s * aqk;
                    a[q * n + kk] = s * apk + c * aqk;
                }
                for kk in 0..n {
                    let vkp = vecs[kk * n + p];
                    let vkq = vecs[kk * n + q];
                    vecs[kk * n + p] = c * vkp - s * vkq;
                    vecs[kk * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]));
    let total: f64 = (0..n).map(|i| a[i * n + i]).sum();
    let kept: f64 = order.iter().take(k).map(|&i| a[i * n + i]).sum();
    println!(
        "pca keeps {:.2}% of the energy",
        100.0 * kept / total.max(1e-12)
    );
    let mut out = Vec::with_capacity(k * n);
    for &col in order.iter().take(k) {
        out.extend((0..n).map(|r| vecs[r * n + col] as f32));
    }
    out
}

/// Hand-written prompt pairs: paraphrases, near-misses (one detail changed) and unrelated.
const PAIRS: &[(&str, &str, &str)] = &[
    (
        "para",
        "How do I reset my password?",
        "What are the steps to change my password?",
    ),
    (
        "para",
        "What is the capital of France?",
        "Which city is the capital of France?",
    ),
    (
        "para",
        "Tell me a joke about cats",
        "Say something funny about cats",
    ),
    (
        "para",
        "How long should I boil an egg?",
        "For how many minutes do you boil an egg?",
    ),
    (
        "para",
        "Write a Python function that reverses a string",
        "Python code to reverse a string",
    ),
    (
        "para",
        "What are the symptoms of the flu?",
        "How can I tell if I have influenza?",
    ),
    (
        "para",
        "Summarize the plot of Hamlet",
        "Give me a short summary of Hamlet's story",
    ),
    (
        "para",
        "How do I center a div in CSS?",
        "CSS: how to center a div element",
    ),
    (
        "para",
        "What's the weather like in Paris in April?",
        "How is the weather in Paris during April?",
    ),
    ("para", "Explain how vaccines work", "How do vaccines work?"),
    (
        "para",
        "Translate 'good morning' to Spanish",
        "How do you say good morning in Spanish?",
    ),
    (
        "para",
        "What is the difference between TCP and UDP?",
        "TCP vs UDP: what are the differences?",
    ),
    (
        "near",
        "What is the capital of Australia?",
        "What is the capital of Austria?",
    ),
    ("near", "Convert 5 miles to km", "Convert 5 km to miles"),
    (
        "near",
        "Can I get a refund within 30 days?",
        "Can I get a refund after 30 days?",
    ),
    (
        "near",
        "How do I install Python 3.12 on Ubuntu?",
        "How do I install Python 2.7 on Ubuntu?",
    ),
    (
        "near",
        "Is it safe to eat raw chicken?",
        "Is it safe to eat raw salmon?",
    ),
    (
        "near",
        "Write a poem about the sea",
        "Write a poem about the desert",
    ),
    (
        "near",
        "Translate 'thank you' into French",
        "Translate 'thank you' into German",
    ),
    ("near", "What happened in 1914?", "What happened in 1945?"),
    (
        "near",
        "How do I sort a list in Python?",
        "How do I sort a list in Java?",
    ),
    (
        "near",
        "Why is the sky blue?",
        "Why is the sky not blue at night?",
    ),
    (
        "unrel",
        "How do I reset my password?",
        "What is the boiling point of water?",
    ),
    (
        "unrel",
        "Tell me a joke about cats",
        "Explain how a diesel engine works",
    ),
    (
        "unrel",
        "What is the capital of France?",
        "How many legs does a spider have?",
    ),
    (
        "unrel",
        "Write a Python function that reverses a string",
        "Best hiking trails in Colorado",
    ),
    (
        "unrel",
        "Summarize the plot of Hamlet",
        "How do I fix a leaking faucet?",
    ),
    (
        "unrel",
        "What are the symptoms of the flu?",
        "Recommend a good science fiction novel",
    ),
    (
        "unrel",
        "Explain quantum entanglement simply",
        "What should I cook for dinner tonight?",
    ),
    (
        "unrel",
        "How do I center a div in CSS?",
        "What's the population of Japan?",
    ),
];

fn evaluate(teacher: &MiniLm, student: &StaticEmbedder, held: &[&str]) -> Result<(), String> {
    // Held-out sentences through the real embed paths of both models.
    let m = held.len().min(1500);
    let mut tv = Vec::with_capacity(m);
    let mut sv = Vec::with_capacity(m);
    for t in &held[..m] {
        match (teacher.embed(t), student.embed(t)) {
            (Ok(a), Ok(b)) => {
                tv.push(a);
                sv.push(b);
            }
            _ => continue,
        }
    }
    let teach: Vec<&[f32]> = tv.iter().map(Vec::as_slice).collect();
    let (tc, sc) = pair_cosines(&teach, &sv);
    println!(
        "final, held-out ({} sentences, {} pairs): pearson {:.3} spearman {:.3}",
        tv.len(),
        tc.len(),
        pearson(&tc, &sc),
        spearman(&tc, &sc)
    );
    let (mut tc, mut sc) = (Vec::new(), Vec::new());
    for kind in ["para", "near", "unrel"] {
        let (mut st, mut ss, mut n) = (0.0, 0.0, 0);
        for (k, a, b) in PAIRS.iter().filter(|p| p.0 == kind) {
            let _ = k;
            let t = cosine(&teacher.embed(a)?, &teacher.embed(b)?) as f64;
            let s = cosine(&student.embed(a)?, &student.embed(b)?) as f64;
            tc.push(t);
            sc.push(s);
            st += t;
            ss += s;
            n += 1;
        }
        println!(
            "  {kind:5}: mean cosine teacher {:.3} student {:.3} ({n} pairs)",
            st / n as f64,
            ss / n as f64
        );
    }
    println!(
        "final, hand-written pairs: pearson {:.3} spearman {:.3}",
        pearson(&tc, &sc),
        spearman(&tc, &sc)
    );

    // Speed on a ~20-word prompt.
    let prompt = "Could you explain in simple terms how a refund request works if I bought the item online twenty days ago?";
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(student.embed(std::hint::black_box(prompt))?);
    }
    let s_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let n = 50;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(teacher.embed(std::hint::black_box(prompt))?);
    }
    let t_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!(
        "embed a {}-word prompt: static {s_us:.1} µs, MiniLM {t_us:.0} µs (mean)",
        prompt.split_whitespace().count()
    );
    Ok(())
}

/// Prompts of the kinds a gateway sees, from templates and fillers written for this purpose.
fn generated_prompts(rng: &mut Rng) -> Vec<String> {
    const COUNTRIES: &[&str] = &[
        "France",
        "Germany",
        "Japan",
        "Brazil",
        "Canada",
        "Australia",
        "Austria",
        "India",
        "Mexico",
        "Italy",
        "Spain",
        "Egypt",
        "Kenya",
        "Norway",
        "Sweden",
        "Chile",
        "Peru",
        "Vietnam",
        "Thailand",
        "Poland",
        "Greece",
        "Turkey",
        "Nigeria",
        "Argentina",
        "Ireland",
        "Portugal",
        "Indonesia",
        "South Korea",
        "New Zealand",
        "Morocco",
    ];
    const CITIES: &[&str] = &[
        "Paris",
        "Berlin",
        "Tokyo",
        "London",
        "New York",
        "Sydney",
        "Toronto",
        "Rome",
        "Madrid",
        "Cairo",
        "Nairobi",
        "Oslo",
        "Lima",
        "Bangkok",
        "Seoul",
        "Dublin",
        "Lisbon",
        "Istanbul",
        "Mumbai",
        "Chicago",
        "Vienna",
        "Prague",
        "Amsterdam",
        "Buenos Aires",
        "Singapore",
    ];
    const LANGS: &[&str] = &[
        "Spanish",
        "French",
        "German",
        "Italian",
        "Japanese",
        "Chinese",
        "Portuguese",
        "Russian",
        "Arabic",
        "Korean",
        "Dutch",
        "Hindi",
        "Turkish",
        "Polish",
        "Greek",
        "Swedish",
    ];
    const PHRASES: &[&str] = &[
        "good morning",
        "thank you",
        "where is the train station",
        "I am hungry",
        "how much does this cost",
        "nice to meet you",
        "I love you",
        "see you tomorrow",
        "excuse me",
        "happy birthday",
        "the meeting is cancelled",
        "please send the invoice",
    ];
    const PL: &[&str] = &[
        "Python",
        "Rust",
        "JavaScript",
        "TypeScript",
        "Go",
        "Java",
        "C++",
        "C#",
        "Ruby",
        "PHP",
        "Kotlin",
        "Swift",
        "SQL",
        "Bash",
        "Haskell",
        "Scala",
    ];
    const CODE_TASKS: &[&str] = &[
        "reverse a string",
        "sort a list of numbers",
        "read a file line by line",
        "parse JSON",
        "make an HTTP request",
        "remove duplicates from a list",
        "check if a number is prime",
        "merge two dictionaries",
        "find the largest element in an array",
        "convert a string to an integer",
        "write a unit test",
        "handle errors",
        "create a class",
        "iterate over a map",
        "connect to a database",
        "split a string by commas",
        "compute a factorial recursively",
        "format a date",
        "generate a random number",
        "run tasks concurrently",
        "implement a binary search",
        "count word frequencies in a text",
        "validate an email address",
        "flatten a nested list",
    ];
    const TOPICS: &[&str] = &[
        "photosynthesis",
        "black holes",
        "the French Revolution",
        "inflation",
        "machine learning",
        "climate change",
        "the stock market",
        "vaccines",
        "quantum computing",
        "the immune system",
        "blockchain",
        "plate tectonics",
        "the Roman Empire",
        "supply and demand",
        "neural networks",
        "the water cycle",
        "compound interest",
        "DNA replication",
        "the theory of relativity",
        "the Cold War",
        "renewable energy",
        "the human heart",
        "volcanoes",
        "the printing press",
        "electric cars",
        "sleep",
        "meditation",
        "the Industrial Revolution",
        "antibiotics",
        "gravity",
    ];
    const AUDIENCES: &[&str] = &[
        "a five-year-old",
        "a beginner",
        "a high school student",
        "an expert",
        "my grandmother",
        "a software engineer",
        "a busy manager",
    ];
    const FOODS: &[&str] = &[
        "pasta",
        "rice",
        "an egg",
        "chicken breast",
        "salmon",
        "potatoes",
        "broccoli",
        "a steak",
        "quinoa",
        "lentils",
        "tofu",
        "pancakes",
        "bread",
        "a cake",
        "soup",
    ];
    const UNITS: &[(&str, &str)] = &[
        ("miles", "kilometers"),
        ("kilograms", "pounds"),
        ("Celsius", "Fahrenheit"),
        ("liters", "gallons"),
        ("inches", "centimeters"),
        ("feet", "meters"),
        ("ounces", "grams"),
        ("hours", "minutes"),
        ("dollars", "euros"),
        ("megabytes", "gigabytes"),
    ];
    const THEMES: &[&str] = &[
        "the sea",
        "autumn",
        "friendship",
        "a lost cat",
        "the city at night",
        "coffee",
        "the mountains",
        "first love",
        "rain",
        "a robot",
        "the desert",
        "winter",
        "time",
        "the moon",
        "a small village",
    ];
    const FORMS: &[&str] = &[
        "a poem",
        "a haiku",
        "a short story",
        "a limerick",
        "a song",
        "a tweet",
        "a product description",
        "a blog post intro",
        "a motivational quote",
    ];
    const SUPPORT: &[&str] = &[
        "reset my password",
        "cancel my subscription",
        "change my email address",
        "get a refund",
        "update my billing information",
        "delete my account",
        "track my order",
        "contact customer support",
        "upgrade my plan",
        "enable two-factor authentication",
        "download my invoice",
        "change the delivery address",
    ];
    const HEALTH: &[&str] = &[
        "the flu",
        "a migraine",
        "diabetes",
        "high blood pressure",
        "a cold",
        "anxiety",
        "back pain",
        "insomnia",
        "allergies",
        "a sprained ankle",
    ];
    const ASK: &[&str] = &[
        "What is",
        "Explain",
        "Tell me about",
        "Can you explain",
        "Give me an overview of",
        "Describe",
        "I want to understand",
        "Help me understand",
        "What do you know about",
        "Summarize",
    ];
    const HOW: &[&str] = &[
        "How do I",
        "How can I",
        "What's the best way to",
        "Show me how to",
        "What is the easiest way to",
        "Can you tell me how to",
        "Steps to",
        "I need to",
        "Help me",
    ];
    const TONES: &[&str] = &[
        "formal",
        "casual",
        "friendly",
        "professional",
        "funny",
        "polite",
        "short",
    ];
    const DOCS: &[&str] = &[
        "an email to my boss asking for a day off",
        "a cover letter for a data analyst job",
        "a complaint to my landlord about the heating",
        "a thank-you note to a colleague",
        "a LinkedIn summary",
        "an apology to a customer for a late delivery",
        "a meeting agenda",
        "a resignation letter",
        "a birthday message for my sister",
        "a reminder about an unpaid invoice",
    ];

    let mut out = Vec::new();
    let mut add = |s: String| out.push(s);
    for _ in 0..1500 {
        let c = rng.pick(COUNTRIES);
        let city = rng.pick(CITIES);
        match rng.below(10) {
            0 => add(format!("What is the capital of {c}?")),
            1 => add(format!("Which city is the capital of {c}?")),
            2 => add(format!("What is the population of {city}?")),
            3 => add(format!("What are the best things to do in {city}?")),
            4 => add(format!("Plan a {}-day trip to {city}", 2 + rng.below(8))),
            5 => add(format!(
                "What is the weather like in {city} in {}?",
                rng.pick(&[
                    "January", "April", "July", "October", "December", "spring", "summer", "winter"
                ])
            )),
            6 => add(format!("What language do people speak in {c}?")),
            7 => add(format!("What currency is used in {c}?")),
            8 => add(format!("Tell me about the history of {c}")),
            _ => add(format!("How far is {city} from {}?", rng.pick(CITIES))),
        }
    }
    for _ in 0..2500 {
        let l = rng.pick(PL);
        let t = rng.pick(CODE_TASKS);
        match rng.below(8) {
            0 => add(format!("{} {t} in {l}?", rng.pick(HOW))),
            1 => add(format!("Write a {l} function to {t}")),
            2 => add(format!("{l} code to {t}")),
            3 => add(format!("In {l}, how would you {t}?")),
            4 => add(format!("Show an example in {l} that shows how to {t}")),
            5 => add(format!("What is the idiomatic way to {t} in {l}?")),
            6 => add(format!("Why does my {l} code fail when I try to {t}?")),
            _ => add(format!(
                "Convert this {l} snippet to {}: a function that {}s",
                rng.pick(PL),
                t.split(' ').next().unwrap_or("run")
            )),
        }
    }
    for _ in 0..2500 {
        let topic = rng.pick(TOPICS);
        match rng.below(6) {
            0 => add(format!("{} {topic}", rng.pick(ASK))),
            1 => add(format!("Explain {topic} to {}", rng.pick(AUDIENCES))),
            2 => add(format!("What are the pros and cons of {topic}?")),
            3 => add(format!("Give me three facts about {topic}")),
            4 => add(format!("Why is {topic} important?")),
            _ => add(format!("Write a short essay about {topic}")),
        }
    }
    for _ in 0..1500 {
        let (a, b) = UNITS[rng.below(UNITS.len())];
        let n = [1, 2, 3, 5, 10, 12, 20, 25, 50, 100, 250, 1000][rng.below(12)];
        let (x, y) = if rng.below(2) == 0 { (a, b) } else { (b, a) };
        match rng.below(4) {
            0 => add(format!("Convert {n} {x} to {y}")),
            1 => add(format!("How many {y} is {n} {x}?")),
            2 => add(format!("What is {n} {x} in {y}?")),
            _ => add(format!("{n} {x} to {y}")),
        }
    }
    for _ in 0..1500 {
        let lang = rng.pick(LANGS);
        let p = rng.pick(PHRASES);
        match rng.below(4) {
            0 => add(format!("Translate '{p}' into {lang}")),
            1 => add(format!("How do you say {p} in {lang}?")),
            2 => add(format!("What is the {lang} for \"{p}\"?")),
            _ => add(format!("Translate to {lang}: {p}")),
        }
    }
    for _ in 0..1500 {
        match rng.below(6) {
            0 => add(format!(
                "Write {} about {}",
                rng.pick(FORMS),
                rng.pick(THEMES)
            )),
            1 => add(format!(
                "Compose {} in a {} tone about {}",
                rng.pick(FORMS),
                rng.pick(TONES),
                rng.pick(THEMES)
            )),
            2 => add(format!("Write {}", rng.pick(DOCS))),
            3 => add(format!(
                "Draft {} in a {} tone",
                rng.pick(DOCS),
                rng.pick(TONES)
            )),
            4 => add(format!("Help me write {}", rng.pick(DOCS))),
            _ => add(format!(
                "Make this sentence more {}: {}",
                rng.pick(TONES),
                rng.pick(PHRASES)
            )),
        }
    }
    for _ in 0..1500 {
        let f = rng.pick(FOODS);
        let s = rng.pick(SUPPORT);
        let h = rng.pick(HEALTH);
        match rng.below(9) {
            0 => add(format!("How long should I cook {f}?")),
            1 => add(format!("Give me a healthy recipe with {f}")),
            2 => add(format!(
                "Is it safe to eat {f} that was left out overnight?"
            )),
            3 => add(format!("{} {s}?", rng.pick(HOW))),
            4 => add(format!("I can't {s}, what should I do?")),
            5 => add(format!(
                "Can I {s} within {} days?",
                [7, 14, 30, 60, 90][rng.below(5)]
            )),
            6 => add(format!("What are the symptoms of {h}?")),
            7 => add(format!("How do I treat {h} at home?")),
            _ => add(format!("When should I see a doctor for {h}?")),
        }
    }
    out
}
