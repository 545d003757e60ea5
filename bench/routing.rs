//! Criterion benchmarks for the routing decisions made on every request (`src/routing/`):
//! ordering an alias's 4 targets under each strategy, choosing among 8 keys, recording an
//! outcome in a target's health, and finding a target's health by name. All of them must stay
//! in nanoseconds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use shardgate::providers::ProviderKey;
use shardgate::routing::health::{Admission, HealthConfig, HealthTable, TargetHealth};
use shardgate::routing::keys::KeyTable;
use shardgate::routing::prices::{Price, PriceTable};
use shardgate::routing::strategy::{order, Candidate, Strategy, DEFAULT_COST_MAX_LATENCY};

/// Four targets as a busy alias might see them: measured latencies, some load, prices.
fn candidates() -> [Candidate; 4] {
    let price = |input, output| {
        Some(Price {
            input,
            output,
            cached_input: None,
        })
    };
    [
        Candidate {
            weight: 3,
            latency: Some(Duration::from_millis(420)),
            in_flight: 7,
            open: false,
            price: price(2.50, 10.00),
        },
        Candidate {
            weight: 1,
            latency: Some(Duration::from_millis(380)),
            in_flight: 3,
            open: false,
            price: price(3.00, 15.00),
        },
        Candidate {
            weight: 2,
            latency: Some(Duration::from_millis(900)),
            in_flight: 3,
            open: false,
            price: price(0.15, 0.60),
        },
        Candidate {
            weight: 1,
            latency: None,
            in_flight: 0,
            open: false,
            price: price(1.25, 10.00),
        },
    ]
}

fn bench_order(c: &mut Criterion) {
    let cands = candidates();
    let mut g = c.benchmark_group("routing/order_4_targets");
    for strategy in [
        Strategy::Weighted,
        Strategy::LatencyAware,
        Strategy::LeastBusy,
        Strategy::CostAware {
            max_latency: DEFAULT_COST_MAX_LATENCY,
        },
        Strategy::Ordered,
    ] {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut out = Vec::with_capacity(cands.len());
        g.bench_function(strategy.name(), |b| {
            b.iter(|| {
                order(&strategy, black_box(&cands), &mut rng, &mut out);
                black_box(out[0])
            })
        });
    }
    g.finish();
}

fn bench_keys(c: &mut Criterion) {
    // Eight keys, two restricted to another model, one cooling and one disabled: a realistic
    // pool in the middle of a rate-limit episode.
    let keys: Vec<ProviderKey> = (0..8)
        .map(|i| ProviderKey {
            auth_line: Bytes::new(),
            secret: String::new(),
            weight: 1 + i % 3,
            models: if i % 4 == 3 {
                vec!["gpt-4o-mini".to_string()]
            } else {
                Vec::new()
            },
        })
        .collect();
    let mut table = KeyTable::with_key_counts([keys.len()]);
    let now = Instant::now();
    table.cool_down(0, 1, now + Duration::from_secs(30));
    table.disable(0, 5);
    let tried = [2usize];
    let mut rng = fastrand::Rng::with_seed(2);
    let mut g = c.benchmark_group("routing/keys");
    g.bench_function("pick_among_8", |b| {
        b.iter(|| {
            table.pick(
                black_box(&keys),
                0,
                black_box("gpt-4o"),
                now,
                &tried,
                &mut rng,
            )
        })
    });
    g.bench_function("all_unavailable_8", |b| {
        b.iter(|| table.all_unavailable(black_box(&keys), 0, black_box("gpt-4o"), now))
    });
    g.finish();
}

fn bench_health(c: &mut Criterion) {
    let cfg = HealthConfig::default();
    let now = Instant::now();
    let mut g = c.benchmark_group("routing/health");
    let mut h = TargetHealth::new();
    let mut i = 0u64;
    g.bench_function("finished", |b| {
        b.iter(|| {
            i += 1;
            // Mostly successes, an occasional failure, never enough to open the circuit.
            let ok = !i.is_multiple_of(16);
            h.finished(now, Duration::from_micros(300_000 + i % 1000), ok, &cfg);
            black_box(h.latency_ewma())
        })
    });
    let mut h = TargetHealth::new();
    g.bench_function("admit_finished", |b| {
        b.iter(|| {
            let a = h.admit(now, &cfg);
            if a != Admission::Rejected {
                h.finished(now, Duration::from_millis(300), true, &cfg);
            }
            black_box(a)
        })
    });
    let mut table = HealthTable::new(4, 1, &cfg);
    for p in 0..4 {
        for m in [
            "gpt-4o",
            "gpt-4o-mini",
            "claude-sonnet-4-5",
            "gemini-2.5-pro",
        ] {
            let _ = table.id(p, m);
        }
    }
    g.bench_function("table_id_hit", |b| {
        b.iter(|| table.id(black_box(2), black_box("claude-sonnet-4-5")))
    });
    g.finish();
}

fn bench_prices(c: &mut Criterion) {
    let table = PriceTable::builtin();
    let mut g = c.benchmark_group("routing/prices");
    g.bench_function("lookup_dated_name", |b| {
        b.iter(|| {
            table.lookup(
                shardgate::config::ProviderKind::OpenAi,
                black_box("gpt-4o-mini-2024-07-18"),
            )
        })
    });
    g.finish();
}

criterion_group!(routing, bench_order, bench_keys, bench_health, bench_prices);
criterion_main!(routing);
