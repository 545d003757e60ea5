//! Per-shard state of every provider key: cooling down after a 429 (for its `retry-after`, or a
//! default) and disabled after a 401/403. [`KeyTable::pick`] chooses, weighted-random, among
//! the keys allowed for the model that are neither cooling, disabled nor already tried by the
//! request, without allocating.
//!
//! One shard writes its own table; shards learn about a bad key independently (one failed
//! attempt each), which keeps the request path free of shared state. The table is indexed by
//! the provider indices of one configuration generation: build a new one on reload (that is
//! also what re-enables a disabled key after the operator fixed it).
//!
//! A provider without keys (a local Ollama, vLLM) has one implicit key, index 0, so that a 429
//! from it cools the provider down like any key; [`key_of`] maps index 0 of such a provider to
//! an empty key (no auth line).

use std::time::Instant;

use bytes::Bytes;

use crate::providers::{Provider, ProviderKey};

/// State of one key on one shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyState {
    /// The key may not be used before this instant (set on 429).
    pub cooling_until: Option<Instant>,
    /// The key was refused by the provider (401/403) and is not used again on this shard.
    pub disabled: bool,
}

impl KeyState {
    /// Whether the key may be used at `now`.
    pub fn usable(&self, now: Instant) -> bool {
        !self.disabled && self.cooling_until.is_none_or(|t| t <= now)
    }
}

/// Cooldown and disabled flags of every key of every provider, for one shard.
#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    /// `slots[offsets[p]..offsets[p + 1]]` are provider `p`'s keys.
    offsets: Vec<usize>,
    slots: Vec<KeyState>,
}

/// The key of a provider configured without keys.
static NO_KEY: ProviderKey = ProviderKey {
    auth_line: Bytes::new(),
    secret: String::new(),
    weight: 1,
    models: Vec::new(),
};

/// The key that `index` (from [`KeyTable::pick`]) designates among a provider's `keys`:
/// `keys[index]`, or the empty key for index 0 of a provider without keys.
pub fn key_of(keys: &[ProviderKey], index: usize) -> Option<&ProviderKey> {
    if keys.is_empty() {
        return (index == 0).then_some(&NO_KEY);
    }
    keys.get(index)
}

impl KeyTable {
    /// A table for `providers` (indexed like them), every key usable.
    pub fn new(providers: &[Provider]) -> KeyTable {
        KeyTable::with_key_counts(providers.iter().map(|p| p.keys.len()))
    }

    /// A table for providers with these numbers of keys (0 = keyless: one implicit key).
    pub fn with_key_counts(counts: impl IntoIterator<Item = usize>) -> KeyTable {
        let mut offsets = vec![0];
        let mut total = 0usize;
        for n in counts {
            total = total.saturating_add(n.max(1));
            offsets.push(total);
        }
        KeyTable {
            offsets,
            slots: vec![KeyState::default(); total],
        }
    }

    /// The slot range of `provider`; `None` for an index this table does not know.
    fn range(&self, provider: usize) -> Option<(usize, usize)> {
        let start = *self.offsets.get(provider)?;
        let end = *self.offsets.get(provider.checked_add(1)?)?;
        Some((start, end))
    }

    fn slots_of(&self, provider: usize) -> &[KeyState] {
        self.range(provider)
            .and_then(|(a, b)| self.slots.get(a..b))
            .unwrap_or(&[])
    }

    fn slot_mut(&mut self, provider: usize, key: usize) -> Option<&mut KeyState> {
        let (start, end) = self.range(provider)?;
        if key >= end.saturating_sub(start) {
            return None;
        }
        self.slots.get_mut(start + key)
    }

    /// The state of one key; `None` for an index this table does not know.
    pub fn state(&self, provider: usize, key: usize) -> Option<KeyState> {
        self.slots_of(provider).get(key).copied()
    }

    /// Whether `key` of `provider` may be used at `now` (unknown keys are usable: a table built
    /// from an older configuration must not block keys it never saw).
    pub fn usable(&self, provider: usize, key: usize, now: Instant) -> bool {
        self.state(provider, key).is_none_or(|s| s.usable(now))
    }

    /// Picks one of a provider's `keys` (`&provider.keys`; the provider's index is
    /// `provider_index`) for `model`: weighted-random among the keys that allow the model, are
    /// usable at `now` and are not in `tried` (the key indices this request already used).
    /// `None` when no key qualifies. No allocation; `allows` is evaluated once per key for up
    /// to 64 keys. A provider without keys yields its implicit key 0 (see [`key_of`]).
    pub fn pick(
        &self,
        keys: &[ProviderKey],
        provider_index: usize,
        model: &str,
        now: Instant,
        tried: &[usize],
        rng: &mut fastrand::Rng,
    ) -> Option<usize> {
        if keys.is_empty() {
            let ok = self.usable(provider_index, 0, now) && !tried.contains(&0);
            return ok.then_some(0);
        }
        let states = self.slots_of(provider_index);
        let eligible = |i: usize, key: &ProviderKey| {
            key.weight > 0
                && states.get(i).is_none_or(|s| s.usable(now))
                && !tried.contains(&i)
                && key.allows(model)
        };
        // First pass: total weight, remembering eligibility of the first 64 keys in a bit mask
        // so the second pass need not compare model names again.
        let mut mask = 0u64;
        let mut total = 0u64;
        for (i, key) in keys.iter().enumerate() {
            if eligible(i, key) {
                total += u64::from(key.weight);
                if i < 64 {
                    mask |= 1 << i;
                }
            }
        }
        if total == 0 {
            return None;
        }
        let mut ticket = rng.u64(0..total);
        for (i, key) in keys.iter().enumerate() {
            let ok = if i < 64 {
                mask & (1 << i) != 0
            } else {
                eligible(i, key)
            };
            if !ok {
                continue;
            }
            let w = u64::from(key.weight);
            if ticket < w {
                return Some(i);
            }
            ticket -= w;
        }
        None
    }

    /// Makes a key unusable until `until` (a 429's `retry-after`, or a default). A later end
    /// already set is kept: answers to concurrent requests may arrive in any order.
    pub fn cool_down(&mut self, provider: usize, key: usize, until: Instant) {
        if let Some(slot) = self.slot_mut(provider, key) {
            slot.cooling_until = Some(slot.cooling_until.map_or(until, |t| t.max(until)));
        }
    }

    /// Disables a key on this shard (401/403). Returns true the first time, so that the
    /// caller logs the event once per shard rather than once per request.
    pub fn disable(&mut self, provider: usize, key: usize) -> bool {
        match self.slot_mut(provider, key) {
            Some(slot) if !slot.disabled => {
                slot.disabled = true;
                true
            }
            _ => false,
        }
    }

    /// Whether none of a provider's `keys` can serve `model` at `now` (every allowed key
    /// cooling or disabled, or none allowed): the request moves on to the next target.
    pub fn all_unavailable(
        &self,
        keys: &[ProviderKey],
        provider_index: usize,
        model: &str,
        now: Instant,
    ) -> bool {
        if keys.is_empty() {
            return !self.usable(provider_index, 0, now);
        }
        let states = self.slots_of(provider_index);
        !keys.iter().enumerate().any(|(i, k)| {
            k.weight > 0 && states.get(i).is_none_or(|s| s.usable(now)) && k.allows(model)
        })
    }

    /// When the first of a provider's `keys` allowed for `model` becomes usable: `now` if one
    /// is usable already, the earliest end of a cooldown otherwise, `None` if every allowed key
    /// is disabled (or none is allowed). Gives the `retry-after` of a 429 the gateway itself
    /// returns when every key is cooling.
    pub fn next_available(
        &self,
        keys: &[ProviderKey],
        provider_index: usize,
        model: &str,
        now: Instant,
    ) -> Option<Instant> {
        let states = self.slots_of(provider_index);
        let earliest = |state: Option<&KeyState>| -> Option<Instant> {
            match state {
                None => Some(now),
                Some(s) if s.disabled => None,
                Some(s) => Some(s.cooling_until.map_or(now, |t| t.max(now))),
            }
        };
        if keys.is_empty() {
            return earliest(states.first());
        }
        keys.iter()
            .enumerate()
            .filter(|(_, k)| k.weight > 0 && k.allows(model))
            .filter_map(|(i, _)| earliest(states.get(i)))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(weight: u32, models: &[&str]) -> ProviderKey {
        ProviderKey {
            auth_line: Bytes::new(),
            secret: String::new(),
            weight,
            models: models.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn counts(
        table: &KeyTable,
        keys: &[ProviderKey],
        model: &str,
        now: Instant,
        tried: &[usize],
    ) -> Vec<u32> {
        let mut rng = fastrand::Rng::with_seed(42);
        let mut counts = vec![0u32; keys.len()];
        for _ in 0..20_000 {
            if let Some(i) = table.pick(keys, 0, model, now, tried, &mut rng) {
                counts[i] += 1;
            }
        }
        counts
    }

    #[test]
    fn weighted_among_allowed_keys() {
        let keys = vec![key(3, &[]), key(1, &[]), key(100, &["only-this"])];
        let table = KeyTable::with_key_counts([keys.len()]);
        let now = Instant::now();
        let c = counts(&table, &keys, "gpt-x", now, &[]);
        assert_eq!(c[2], 0, "a key restricted to other models is never picked");
        let share = f64::from(c[0]) / 20_000.0;
        assert!((share - 0.75).abs() < 0.02, "share of key 0 was {share}");
        let c = counts(&table, &keys, "only-this", now, &[]);
        assert!(c[2] > 19_000);
    }

    #[test]
    fn cooling_disabled_and_tried_keys_are_skipped() {
        let keys = vec![key(1, &[]), key(1, &[]), key(1, &[])];
        let mut table = KeyTable::with_key_counts([keys.len()]);
        let now = Instant::now();
        table.cool_down(0, 0, now + Duration::from_secs(1));
        assert!(table.disable(0, 1));
        assert!(!table.disable(0, 1), "second disable reports nothing new");
        assert_eq!(counts(&table, &keys, "m", now, &[]), vec![0, 0, 20_000]);
        assert_eq!(counts(&table, &keys, "m", now, &[2]), vec![0, 0, 0]);
        // The cooldown ends exactly at its instant.
        let later = now + Duration::from_secs(1);
        assert_eq!(counts(&table, &keys, "m", later, &[2]), vec![20_000, 0, 0]);
    }

    #[test]
    fn cooldown_keeps_the_later_end() {
        let mut table = KeyTable::with_key_counts([1]);
        let now = Instant::now();
        table.cool_down(0, 0, now + Duration::from_secs(5));
        table.cool_down(0, 0, now + Duration::from_secs(1));
        assert_eq!(
            table.state(0, 0).and_then(|s| s.cooling_until),
            Some(now + Duration::from_secs(5))
        );
    }

    #[test]
    fn providers_are_independent_and_bad_indices_are_harmless() {
        let mut table = KeyTable::with_key_counts([2, 0, 3]);
        let now = Instant::now();
        table.disable(2, 0);
        table.cool_down(9, 9, now);
        assert!(!table.disable(0, 7));
        assert!(table.usable(0, 0, now));
        assert!(table.usable(1, 0, now), "keyless provider has one slot");
        assert!(!table.usable(2, 0, now));
        assert!(table.usable(2, 1, now));
        assert_eq!(table.state(1, 1), None);
        let keys = vec![key(1, &[])];
        let mut rng = fastrand::Rng::with_seed(1);
        // A provider index the table does not know: keys are usable.
        assert_eq!(table.pick(&keys, 99, "m", now, &[], &mut rng), Some(0));
    }

    #[test]
    fn more_than_64_keys() {
        let mut keys: Vec<ProviderKey> = (0..70).map(|_| key(1, &["other"])).collect();
        keys[68] = key(1, &[]);
        let table = KeyTable::with_key_counts([keys.len()]);
        let c = counts(&table, &keys, "m", Instant::now(), &[]);
        assert_eq!(c[68], 20_000);
    }

    #[test]
    fn availability_and_next_available() {
        let keys = vec![key(1, &[]), key(1, &[]), key(1, &["special"])];
        let mut table = KeyTable::with_key_counts([keys.len()]);
        let now = Instant::now();
        assert!(!table.all_unavailable(&keys, 0, "m", now));
        assert_eq!(table.next_available(&keys, 0, "m", now), Some(now));
        table.cool_down(0, 0, now + Duration::from_secs(3));
        table.cool_down(0, 1, now + Duration::from_secs(2));
        assert!(table.all_unavailable(&keys, 0, "m", now));
        assert!(!table.all_unavailable(&keys, 0, "special", now));
        assert_eq!(
            table.next_available(&keys, 0, "m", now),
            Some(now + Duration::from_secs(2))
        );
        table.disable(0, 1);
        assert_eq!(
            table.next_available(&keys, 0, "m", now),
            Some(now + Duration::from_secs(3))
        );
        table.disable(0, 0);
        assert_eq!(table.next_available(&keys, 0, "m", now), None);
        assert!(table.all_unavailable(&keys, 0, "m", now + Duration::from_secs(9)));
        let mut rng = fastrand::Rng::with_seed(3);
        assert_eq!(table.pick(&keys, 0, "m", now, &[], &mut rng), None);
        assert_eq!(table.pick(&keys, 0, "special", now, &[], &mut rng), Some(2));
    }

    #[test]
    fn keyless_provider_has_one_implicit_key() {
        let mut table = KeyTable::with_key_counts([0]);
        let now = Instant::now();
        let mut rng = fastrand::Rng::with_seed(3);
        assert_eq!(table.pick(&[], 0, "any", now, &[], &mut rng), Some(0));
        assert!(key_of(&[], 0).is_some_and(|k| k.auth_line.is_empty()));
        assert!(key_of(&[], 1).is_none());
        assert_eq!(table.pick(&[], 0, "any", now, &[0], &mut rng), None);
        table.cool_down(0, 0, now + Duration::from_secs(1));
        assert!(table.all_unavailable(&[], 0, "any", now));
        assert_eq!(
            table.next_available(&[], 0, "any", now),
            Some(now + Duration::from_secs(1))
        );
        let keys = vec![key(1, &[])];
        assert!(key_of(&keys, 0).is_some_and(|k| k.weight == 1));
        assert!(key_of(&keys, 1).is_none());
    }
}
