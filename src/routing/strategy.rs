//! Strategies that order an alias's targets for one request. The first index is the primary
//! target; the others are tried in turn when it fails, before the alias's fallbacks.
//!
//! Every strategy keeps two rules:
//! - targets whose circuit rejects traffic (`Candidate::open`) go last, still present, so that
//!   when everything is open some attempt is still made and the caller gets a real error;
//! - targets of weight 0 are standbys: they come after every weighted target of the same
//!   openness (except under `Ordered`, where configuration order is the whole point).
//!
//! [`order`] writes into a caller-owned `Vec` and allocates nothing once it has capacity; the
//! work is quadratic in the number of targets, which is a handful.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::routing::prices::Price;

/// Latency bound of `CostAware` when the configuration names the strategy without one.
pub const DEFAULT_COST_MAX_LATENCY: Duration = Duration::from_secs(5);

/// `LatencyAware` sends about one primary choice in this many to the slower of its two
/// samples, so that a target that was slow once gets measured again instead of being shunned
/// for good by a stale average.
pub const EXPLORE_ONE_IN: u32 = 50;

/// How an alias chooses among its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Weighted random order (without replacement): the configured weights are traffic shares.
    #[default]
    Weighted,
    /// Power of two choices on the latency EWMA: of two random targets the faster goes first.
    /// A target without a latency yet counts as the faster, so new targets get tried.
    LatencyAware,
    /// Fewest requests in flight first; ties share traffic by weight.
    LeastBusy,
    /// Cheapest first among targets whose latency is within `max_latency` (or unknown), then the
    /// slower ones, also by price. Targets of equal price share traffic by weight.
    CostAware {
        /// Targets slower than this on average go after the others.
        max_latency: Duration,
    },
    /// Configuration order.
    Ordered,
}

impl Strategy {
    /// The configuration name (`"weighted"`, `"latency"`, `"least-busy"`, `"cost"`, `"ordered"`).
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Weighted => "weighted",
            Strategy::LatencyAware => "latency",
            Strategy::LeastBusy => "least-busy",
            Strategy::CostAware { .. } => "cost",
            Strategy::Ordered => "ordered",
        }
    }

    /// The strategy of an alias from its validated configuration: `name` as [`FromStr`]
    /// accepts it and, for `cost`, the alias's `max_latency`. An unknown name (which config
    /// validation has already refused) gives the default, `Weighted`.
    pub fn from_config(name: &str, max_latency: Duration) -> Strategy {
        match name.parse() {
            Ok(Strategy::CostAware { .. }) => Strategy::CostAware { max_latency },
            Ok(strategy) => strategy,
            Err(_) => Strategy::Weighted,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A strategy name that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStrategy(pub String);

impl fmt::Display for UnknownStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown routing strategy '{}' (expected weighted, latency, least-busy, cost or ordered)",
            self.0
        )
    }
}

impl std::error::Error for UnknownStrategy {}

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    /// Parses a configuration name. Case and `_`/`-` are not significant, and the long forms
    /// `latency-aware` and `cost-aware` are accepted too. `cost` gets
    /// [`DEFAULT_COST_MAX_LATENCY`]; the configuration sets its own bound separately.
    fn from_str(s: &str) -> Result<Strategy, UnknownStrategy> {
        let is = |name: &str| {
            s.len() == name.len()
                && s.bytes().zip(name.bytes()).all(|(a, b)| {
                    let a = if a == b'_' {
                        b'-'
                    } else {
                        a.to_ascii_lowercase()
                    };
                    a == b
                })
        };
        if is("weighted") {
            Ok(Strategy::Weighted)
        } else if is("latency") || is("latency-aware") {
            Ok(Strategy::LatencyAware)
        } else if is("least-busy") {
            Ok(Strategy::LeastBusy)
        } else if is("cost") || is("cost-aware") {
            Ok(Strategy::CostAware {
                max_latency: DEFAULT_COST_MAX_LATENCY,
            })
        } else if is("ordered") {
            Ok(Strategy::Ordered)
        } else {
            Err(UnknownStrategy(s.to_string()))
        }
    }
}

/// What a strategy knows about one target, in configuration order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Candidate {
    /// Configured weight (0 = standby).
    pub weight: u32,
    /// Latency EWMA on this shard, if measured.
    pub latency: Option<Duration>,
    /// Attempts in flight on this shard.
    pub in_flight: u32,
    /// The circuit rejects traffic now (`TargetHealth::rejects`).
    pub open: bool,
    /// List price, if known.
    pub price: Option<Price>,
}

/// Writes into `out` the indices of `candidates` in the order to try them (first = primary).
/// `out` is cleared first; nothing is allocated when it has room for `candidates.len()`.
pub fn order(
    strategy: &Strategy,
    candidates: &[Candidate],
    rng: &mut fastrand::Rng,
    out: &mut Vec<usize>,
) {
    out.clear();
    let standby_last = !matches!(strategy, Strategy::Ordered);
    let tier = |c: &Candidate| usize::from(c.open) * 2 + usize::from(standby_last && c.weight == 0);
    // Tiers: 0 healthy, 1 healthy standby, 2 open, 3 open standby. Building them by filtering
    // keeps configuration order inside each tier, which `Ordered` and the tie rules rely on.
    let mut bounds = [0usize; 5];
    for (t, bound) in bounds.iter_mut().take(4).enumerate() {
        *bound = out.len();
        out.extend((0..candidates.len()).filter(|&i| tier(&candidates[i]) == t));
    }
    bounds[4] = out.len();
    for t in 0..4 {
        if let Some(segment) = out.get_mut(bounds[t]..bounds[t + 1]) {
            if segment.len() > 1 {
                order_segment(strategy, candidates, segment, rng);
            }
        }
    }
}

fn order_segment(
    strategy: &Strategy,
    candidates: &[Candidate],
    segment: &mut [usize],
    rng: &mut fastrand::Rng,
) {
    match strategy {
        Strategy::Ordered => {}
        Strategy::Weighted => weighted_shuffle(segment, candidates, rng),
        Strategy::LatencyAware => two_choices(segment, candidates, rng),
        Strategy::LeastBusy => least_busy(segment, candidates, rng),
        Strategy::CostAware { max_latency } => cheapest(segment, candidates, *max_latency, rng),
    }
}

/// The weight a candidate index carries (0 for an index out of range, which cannot happen).
fn weight(candidates: &[Candidate], i: usize) -> u64 {
    candidates.get(i).map_or(0, |c| u64::from(c.weight))
}

/// Weighted random order without replacement: each position is drawn among the remaining
/// candidates by weight. When only zero weights remain they keep their order.
fn weighted_shuffle(segment: &mut [usize], candidates: &[Candidate], rng: &mut fastrand::Rng) {
    for k in 0..segment.len().saturating_sub(1) {
        let rest = &segment[k..];
        let total: u64 = rest.iter().map(|&i| weight(candidates, i)).sum();
        if total == 0 {
            return;
        }
        let mut ticket = rng.u64(0..total);
        let mut chosen = k;
        for (offset, &i) in rest.iter().enumerate() {
            let w = weight(candidates, i);
            if ticket < w {
                chosen = k + offset;
                break;
            }
            ticket -= w;
        }
        // Rotating (not swapping) keeps the others in their order.
        segment[k..=chosen].rotate_right(1);
    }
}

/// Whether `a` looks faster than `b`: unknown latency is promising (new targets get tried),
/// then lower latency, then fewer in flight; a full tie favours `a` (drawn at random).
fn faster(a: &Candidate, b: &Candidate) -> bool {
    match (a.latency, b.latency) {
        (None, Some(_)) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) if x != y => x < y,
        _ => a.in_flight <= b.in_flight,
    }
}

/// Power of two choices, repeated for each position: draw two distinct remaining candidates
/// and put the faster one next.
fn two_choices(segment: &mut [usize], candidates: &[Candidate], rng: &mut fastrand::Rng) {
    let len = segment.len();
    for k in 0..len.saturating_sub(1) {
        let a = rng.usize(k..len);
        let mut b = rng.usize(k..len - 1);
        if b >= a {
            b += 1;
        }
        let (Some(ca), Some(cb)) = (candidates.get(segment[a]), candidates.get(segment[b])) else {
            return;
        };
        let (better, worse) = if faster(ca, cb) { (a, b) } else { (b, a) };
        // Exploration only for the primary choice: the rest is fallback order.
        let chosen = if k == 0 && rng.u32(0..EXPLORE_ONE_IN) == 0 {
            worse
        } else {
            better
        };
        segment[k..=chosen].rotate_right(1);
    }
}

/// Fewest in flight first; among the least busy, a weighted random draw (weight 0 counts as 1
/// here, for the standby tier) so that an idle gateway still spreads traffic by weight.
fn least_busy(segment: &mut [usize], candidates: &[Candidate], rng: &mut fastrand::Rng) {
    let busy = |i: usize| candidates.get(i).map_or(u32::MAX, |c| c.in_flight);
    let share = |i: usize| weight(candidates, i).max(1);
    for k in 0..segment.len().saturating_sub(1) {
        let rest = &segment[k..];
        let Some(min) = rest.iter().map(|&i| busy(i)).min() else {
            return;
        };
        let total: u64 = rest
            .iter()
            .filter(|&&i| busy(i) == min)
            .map(|&i| share(i))
            .sum();
        let mut ticket = rng.u64(0..total.max(1));
        let mut chosen = k;
        for (offset, &i) in rest.iter().enumerate() {
            if busy(i) != min {
                continue;
            }
            let w = share(i);
            if ticket < w {
                chosen = k + offset;
                break;
            }
            ticket -= w;
        }
        segment[k..=chosen].rotate_right(1);
    }
}

/// Sort key of `CostAware`: (over the latency bound, blended price; unknown price last).
fn cost_key(c: &Candidate, max_latency: Duration) -> (bool, f64) {
    let slow = c.latency.is_some_and(|l| l > max_latency);
    let price = c.price.map_or(f64::INFINITY, |p| p.blended());
    (slow, price)
}

fn cost_cmp(a: (bool, f64), b: (bool, f64)) -> std::cmp::Ordering {
    a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
}

/// Within the latency bound first, cheapest first; equal keys share traffic by weight.
fn cheapest(
    segment: &mut [usize],
    candidates: &[Candidate],
    max_latency: Duration,
    rng: &mut fastrand::Rng,
) {
    let key = |i: usize| {
        candidates
            .get(i)
            .map_or((true, f64::INFINITY), |c| cost_key(c, max_latency))
    };
    // Stable insertion sort: no allocation (unlike `sort_by`), and short segments.
    for k in 1..segment.len() {
        let mut j = k;
        while j > 0 && cost_cmp(key(segment[j - 1]), key(segment[j])).is_gt() {
            segment.swap(j - 1, j);
            j -= 1;
        }
    }
    // Same-priced targets (one model behind several deployments, say) share by weight instead
    // of all traffic going to the first.
    let mut start = 0;
    while start < segment.len() {
        let first = key(segment[start]);
        let mut end = start + 1;
        while end < segment.len() && cost_cmp(key(segment[end]), first).is_eq() {
            end += 1;
        }
        if end - start > 1 {
            weighted_shuffle(&mut segment[start..end], candidates, rng);
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    fn weighted(w: u32) -> Candidate {
        Candidate {
            weight: w,
            ..Candidate::default()
        }
    }

    fn price(input: f64, output: f64) -> Option<Price> {
        Some(Price {
            input,
            output,
            cached_input: None,
        })
    }

    /// How often each index comes first over `n` orders.
    fn firsts(strategy: &Strategy, cands: &[Candidate], n: u32) -> Vec<u32> {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut out = Vec::new();
        let mut counts = vec![0u32; cands.len()];
        for _ in 0..n {
            order(strategy, cands, &mut rng, &mut out);
            assert_eq!(out.len(), cands.len());
            let mut seen = out.clone();
            seen.sort_unstable();
            assert!(
                seen.iter().copied().eq(0..cands.len()),
                "not a permutation: {out:?}"
            );
            counts[out[0]] += 1;
        }
        counts
    }

    #[test]
    fn names_round_trip() {
        for s in [
            Strategy::Weighted,
            Strategy::LatencyAware,
            Strategy::LeastBusy,
            Strategy::CostAware {
                max_latency: DEFAULT_COST_MAX_LATENCY,
            },
            Strategy::Ordered,
        ] {
            assert_eq!(s.name().parse::<Strategy>(), Ok(s));
            assert_eq!(s.to_string(), s.name());
        }
        assert_eq!("Least_Busy".parse(), Ok(Strategy::LeastBusy));
        assert_eq!("latency-aware".parse(), Ok(Strategy::LatencyAware));
        assert!(matches!(
            "cost-aware".parse(),
            Ok(Strategy::CostAware { .. })
        ));
        let err = "fastest".parse::<Strategy>();
        assert_eq!(err, Err(UnknownStrategy("fastest".into())));
        assert!(err.is_err_and(|e| e.to_string().contains("least-busy")));
        assert_eq!(Strategy::default(), Strategy::Weighted);
        let bound = Duration::from_millis(800);
        assert_eq!(
            Strategy::from_config("cost", bound),
            Strategy::CostAware { max_latency: bound }
        );
        assert_eq!(
            Strategy::from_config("least-busy", bound),
            Strategy::LeastBusy
        );
        assert_eq!(Strategy::from_config("bogus", bound), Strategy::Weighted);
    }

    #[test]
    fn weighted_split_within_tolerance_over_10000() {
        let cands = [weighted(3), weighted(1)];
        let c = firsts(&Strategy::Weighted, &cands, 10_000);
        let share = f64::from(c[0]) / 10_000.0;
        assert!((share - 0.75).abs() < 0.02, "share was {share}");
    }

    #[test]
    fn weighted_second_place_follows_the_remaining_weights() {
        let cands = [weighted(6), weighted(3), weighted(1)];
        let mut rng = fastrand::Rng::with_seed(5);
        let mut out = Vec::new();
        let mut second_when_first_is_0 = [0u32; 3];
        for _ in 0..20_000 {
            order(&Strategy::Weighted, &cands, &mut rng, &mut out);
            if out[0] == 0 {
                second_when_first_is_0[out[1]] += 1;
            }
        }
        let n = f64::from(second_when_first_is_0[1] + second_when_first_is_0[2]);
        let share = f64::from(second_when_first_is_0[1]) / n;
        assert!((share - 0.75).abs() < 0.03, "share was {share}");
    }

    #[test]
    fn open_targets_and_standbys_go_last_but_stay() {
        let cands = [
            Candidate {
                open: true,
                ..weighted(100)
            },
            weighted(0),
            weighted(1),
            Candidate {
                open: true,
                ..weighted(0)
            },
        ];
        let mut rng = fastrand::Rng::with_seed(1);
        let mut out = Vec::with_capacity(8);
        for s in [
            Strategy::Weighted,
            Strategy::LatencyAware,
            Strategy::LeastBusy,
            Strategy::CostAware {
                max_latency: DEFAULT_COST_MAX_LATENCY,
            },
        ] {
            order(&s, &cands, &mut rng, &mut out);
            assert_eq!(out, vec![2, 1, 0, 3], "{s}");
        }
        order(&Strategy::Ordered, &cands, &mut rng, &mut out);
        assert_eq!(
            out,
            vec![1, 2, 0, 3],
            "ordered ignores weights, not openness"
        );
        // Everything open: still every target, primary by strategy.
        let all_open = [Candidate {
            open: true,
            ..weighted(1)
        }; 3];
        order(&Strategy::Ordered, &all_open, &mut rng, &mut out);
        assert_eq!(out, vec![0, 1, 2]);
        order(&Strategy::Weighted, &[], &mut rng, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn latency_aware_prefers_the_faster_target() {
        let cands = [
            Candidate {
                latency: ms(300),
                ..weighted(1)
            },
            Candidate {
                latency: ms(100),
                ..weighted(1)
            },
        ];
        let c = firsts(&Strategy::LatencyAware, &cands, 10_000);
        // Everything but the exploration share.
        assert!(c[1] > 9_700, "{c:?}");
        assert!(c[0] > 0, "the slower target is still measured now and then");
    }

    #[test]
    fn latency_aware_tries_unknown_targets_and_never_leads_with_the_slowest() {
        let cands = [
            Candidate {
                latency: ms(100),
                ..weighted(1)
            },
            weighted(1), // never measured
            Candidate {
                latency: ms(900),
                ..weighted(1)
            },
            Candidate {
                latency: ms(200),
                ..weighted(1)
            },
        ];
        let c = firsts(&Strategy::LatencyAware, &cands, 10_000);
        // The unknown one wins every pair it is drawn in (half of all pairs of 4).
        assert!(c[1] > 4_500, "{c:?}");
        // The slowest wins no pair; only exploration can lead with it.
        assert!(c[2] < 150, "{c:?}");
    }

    #[test]
    fn least_busy_first_and_ties_share_by_weight() {
        let cands = [
            Candidate {
                in_flight: 3,
                ..weighted(10)
            },
            Candidate {
                in_flight: 1,
                ..weighted(1)
            },
            Candidate {
                in_flight: 1,
                ..weighted(3)
            },
        ];
        let c = firsts(&Strategy::LeastBusy, &cands, 10_000);
        assert_eq!(c[0], 0);
        let share = f64::from(c[2]) / 10_000.0;
        assert!((share - 0.75).abs() < 0.02, "share was {share}");
        let mut rng = fastrand::Rng::with_seed(2);
        let mut out = Vec::new();
        order(&Strategy::LeastBusy, &cands, &mut rng, &mut out);
        assert_eq!(out[2], 0, "the busiest comes last");
    }

    #[test]
    fn cost_aware_cheapest_within_the_latency_bound() {
        let bound = Strategy::CostAware {
            max_latency: Duration::from_secs(1),
        };
        let cands = [
            Candidate {
                price: price(2.5, 10.0),
                latency: ms(200),
                ..weighted(1)
            },
            Candidate {
                price: price(0.15, 0.6), // cheapest but too slow
                latency: ms(3_000),
                ..weighted(1)
            },
            Candidate {
                price: price(1.0, 5.0),
                latency: None, // unknown latency is within the bound
                ..weighted(1)
            },
            Candidate {
                price: None, // unknown price: last of its group
                latency: ms(100),
                ..weighted(1)
            },
            Candidate {
                price: price(0.05, 0.4), // cheapest overall, slow too
                latency: ms(5_000),
                ..weighted(1)
            },
        ];
        let mut rng = fastrand::Rng::with_seed(9);
        let mut out = Vec::new();
        order(&bound, &cands, &mut rng, &mut out);
        assert_eq!(out, vec![2, 0, 3, 4, 1]);
    }

    #[test]
    fn cost_aware_equal_prices_share_by_weight() {
        let same = Candidate {
            price: price(1.0, 2.0),
            ..weighted(1)
        };
        let cands = [
            Candidate {
                price: price(5.0, 5.0),
                ..weighted(100)
            },
            same,
            Candidate { weight: 3, ..same },
        ];
        let s = Strategy::CostAware {
            max_latency: Duration::from_secs(1),
        };
        let c = firsts(&s, &cands, 10_000);
        assert_eq!(c[0], 0);
        let share = f64::from(c[2]) / 10_000.0;
        assert!((share - 0.75).abs() < 0.02, "share was {share}");
    }

    #[test]
    fn ordered_keeps_configuration_order() {
        let cands = [weighted(1), weighted(50), weighted(2)];
        let mut rng = fastrand::Rng::with_seed(1);
        let mut out = Vec::new();
        order(&Strategy::Ordered, &cands, &mut rng, &mut out);
        assert_eq!(out, vec![0, 1, 2]);
    }

    #[test]
    fn seeded_orders_are_reproducible() {
        let cands = [weighted(1), weighted(2), weighted(3), weighted(4)];
        let run = || {
            let mut rng = fastrand::Rng::with_seed(77);
            let mut out = Vec::new();
            let mut all = Vec::new();
            for _ in 0..50 {
                order(&Strategy::Weighted, &cands, &mut rng, &mut out);
                all.extend_from_slice(&out);
            }
            all
        };
        assert_eq!(run(), run());
    }
}
