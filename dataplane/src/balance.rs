//! Balancing algorithms over a slice of candidates: smooth weighted round robin, least
//! connections by power of two choices, and Maglev consistent hashing.
//!
//! Candidates are addressed by their index in a caller-owned slice; each algorithm takes an
//! `allowed` predicate so that a retry can skip backends already tried.

use crate::hash::hash_bytes;

/// A source of random numbers, injected so that tests are deterministic.
pub trait Rng {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;
}

/// SplitMix64: tiny, fast and good enough to pick between two backends.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl Rng for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        crate::hash::mix64(self.0)
    }
}

/// A uniform number in `0..n` (`n > 0`), by Lemire's multiply-shift (bias < n / 2^64).
pub fn below<R: Rng + ?Sized>(rng: &mut R, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Smooth weighted round robin (the nginx algorithm): over `total` weight picks, candidate `i`
/// is picked `weight_i` times, interleaved as evenly as possible.
#[derive(Debug, Clone, Default)]
pub struct SmoothWrr {
    current: Vec<i64>,
}

impl SmoothWrr {
    /// Picks among `weights` (one per candidate) those for which `allowed` holds.
    pub fn pick(&mut self, weights: &[u32], allowed: impl Fn(usize) -> bool) -> Option<usize> {
        if self.current.len() != weights.len() {
            self.current = vec![0; weights.len()];
        }
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        for (i, w) in weights.iter().enumerate() {
            if *w == 0 || !allowed(i) {
                continue;
            }
            let w = i64::from(*w);
            self.current[i] += w;
            total += w;
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        self.current[b] -= total;
        Some(b)
    }
}

/// Least connections by the power of two choices: draws two distinct allowed candidates at
/// random and takes the one with fewer active connections per unit of weight.
/// `load(i)` returns `(active_connections, weight)`.
pub fn p2c<R: Rng + ?Sized>(
    rng: &mut R,
    n: usize,
    load: impl Fn(usize) -> (u64, u32),
    allowed: impl Fn(usize) -> bool,
) -> Option<usize> {
    // The usual case, O(1): two distinct candidates drawn, both allowed (a retry's exclusions
    // are a handful of backends). Otherwise draw among the allowed ones, O(n).
    if n >= 2 {
        let a = below(rng, n);
        let mut b = below(rng, n - 1);
        if b >= a {
            b += 1;
        }
        if allowed(a) && allowed(b) {
            return Some(less_loaded(a, b, &load));
        }
    }
    let count = (0..n).filter(|i| allowed(*i)).count();
    let nth_allowed = |k: usize| (0..n).filter(|i| allowed(*i)).nth(k);
    match count {
        0 => None,
        1 => nth_allowed(0),
        _ => {
            let a = below(rng, count);
            let mut b = below(rng, count - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = if count == n {
                (a, b)
            } else {
                (nth_allowed(a)?, nth_allowed(b)?)
            };
            Some(less_loaded(a, b, &load))
        }
    }
}

/// Of candidates `a` and `b`, the one with fewer active connections per unit of weight
/// (`a` on a tie); compared without division.
fn less_loaded(a: usize, b: usize, load: &impl Fn(usize) -> (u64, u32)) -> usize {
    let (la, wa) = load(a);
    let (lb, wb) = load(b);
    let (ca, cb) = (
        u128::from(la) * u128::from(wb.max(1)),
        u128::from(lb) * u128::from(wa.max(1)),
    );
    if cb < ca { b } else { a }
}

/// Plain round robin over candidates of equal weight, O(1) per pick: a cursor that survives
/// changes of the candidate list (a new version of a service goes on from where the previous
/// one was, instead of every core starting again at the first candidate).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    /// The next of `n` candidates for which `allowed` holds (trying each at most once).
    pub fn pick(&mut self, n: usize, allowed: impl Fn(usize) -> bool) -> Option<usize> {
        if n == 0 {
            return None;
        }
        let start = self.next % n;
        for k in 0..n {
            let c = if start + k >= n {
                start + k - n
            } else {
                start + k
            };
            if allowed(c) {
                self.next = c + 1;
                return Some(c);
            }
        }
        None
    }
}

/// Largest Maglev table (5,000,011 is Envoy's documented bound too); 20 MB per service, built
/// in well under a second. Beyond 50,000 backends the 1 % imbalance bound no longer holds.
pub const MAGLEV_MAX_TABLE_SIZE: usize = 5_000_011;
/// Slots per backend: the Maglev paper's M > 100·N keeps imbalance at or below 1 %.
pub const MAGLEV_SLOTS_PER_BACKEND: usize = 100;

const SEED_OFFSET: u64 = 0x6d61_676c_6576_0001;
const SEED_SKIP: u64 = 0x6d61_676c_6576_0002;

/// The smallest prime ≥ `n` (trial division; `n` is at most a few million).
#[must_use]
pub fn next_prime(n: usize) -> usize {
    let is_prime = |p: usize| {
        if p < 2 {
            return false;
        }
        if p.is_multiple_of(2) {
            return p == 2;
        }
        let mut d = 3;
        while d * d <= p {
            if p.is_multiple_of(d) {
                return false;
            }
            d += 2;
        }
        true
    };
    let mut p = n.max(2);
    while !is_prime(p) {
        p += 1;
    }
    p
}

/// Table sizes: primes just below powers of two. A service's size only changes when its
/// backend count crosses a doubling boundary, so adding or removing a backend normally keeps
/// the size — and with it the permutations that make Maglev's disruption minimal.
pub const MAGLEV_TABLE_SIZES: [usize; 13] = [
    1_021, 2_039, 4_093, 8_191, 16_381, 32_749, 65_521, 131_071, 262_139, 524_287, 1_048_573,
    2_097_143, 4_194_301,
];

/// The table size for `backends` backends: the smallest of [`MAGLEV_TABLE_SIZES`] that is
/// ≥ 100 × backends (so imbalance ≤ 1 %), else [`MAGLEV_MAX_TABLE_SIZE`].
#[must_use]
pub fn maglev_table_size(backends: usize) -> usize {
    let want = backends.saturating_mul(MAGLEV_SLOTS_PER_BACKEND);
    MAGLEV_TABLE_SIZES
        .iter()
        .copied()
        .find(|m| *m >= want)
        .unwrap_or(MAGLEV_MAX_TABLE_SIZE)
}

/// A Maglev lookup table (Eisenbud et al., NSDI 2016, §3.4): every slot names a candidate;
/// a key's hash modulo the table size selects the slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maglev {
    table: Box<[u32]>,
}

impl Maglev {
    /// Builds the table for candidates named by `names` (stable bytes, e.g. the backend address)
    /// with `weights`; the size is [`maglev_table_size`]. Returns `None` with no candidate of
    /// positive weight.
    #[must_use]
    pub fn build(names: &[&[u8]], weights: &[u32]) -> Option<Maglev> {
        Self::build_with_size(names, weights, maglev_table_size(names.len()))
    }

    /// Builds with an explicit table size `m`, which must be prime (the permutation's skip
    /// must be coprime with `m`); a non-prime `m` is rounded up to the next prime.
    #[must_use]
    pub fn build_with_size(names: &[&[u8]], weights: &[u32], m: usize) -> Option<Maglev> {
        let m = next_prime(m.max(2));
        let live: Vec<usize> = (0..names.len())
            .filter(|i| weights.get(*i).copied().unwrap_or(0) > 0)
            .collect();
        if live.is_empty() {
            return None;
        }
        let max_w = live.iter().map(|i| weights[*i]).max().unwrap_or(1).max(1);
        let uniform = live.iter().all(|i| weights[*i] == max_w);
        let m32 = m as u32;
        // Per candidate: current permutation position and skip (both below m, so u32), slots
        // placed. Kept in one array of small records: the round-robin over candidates walks it
        // in order.
        struct Perm {
            pos: u32,
            skip: u32,
            placed: u32,
            weight: u32,
            cand: u32,
        }
        let mut perms: Vec<Perm> = live
            .iter()
            .map(|i| Perm {
                pos: (hash_bytes(SEED_OFFSET, names[*i]) % m as u64) as u32,
                skip: (hash_bytes(SEED_SKIP, names[*i]) % (m as u64 - 1) + 1) as u32,
                placed: 0,
                weight: weights[*i],
                cand: *i as u32,
            })
            .collect();
        // Which slots are taken: one bit each (128 KiB for a million slots, cache resident),
        // so the probes — ~m·ln m of them, the build's cost — do not touch the table itself,
        // which is written once per slot.
        let mut taken = vec![0u64; m.div_ceil(64)];
        let mut table = vec![0u32; m].into_boxed_slice();
        let mut filled = 0usize;
        let mut round: u64 = 0;
        'fill: while filled < m {
            round += 1;
            for p in &mut perms {
                // Weighted Maglev: a candidate takes a turn in this round only while its slots
                // are behind its share (weight / max weight) of the rounds so far.
                if !uniform && u64::from(p.placed) * u64::from(max_w) >= round * u64::from(p.weight)
                {
                    continue;
                }
                // c and skip are below m: one conditional subtraction is the modulo, without
                // a division per probe (the build's inner loop).
                let mut c = p.pos;
                loop {
                    let (w, b) = ((c / 64) as usize, c % 64);
                    if taken[w] & (1 << b) == 0 {
                        taken[w] |= 1 << b;
                        break;
                    }
                    let n = c + p.skip;
                    c = if n >= m32 { n - m32 } else { n };
                }
                table[c as usize] = p.cand;
                let n = c + p.skip;
                p.pos = if n >= m32 { n - m32 } else { n };
                p.placed += 1;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
        Some(Maglev { table })
    }

    /// The candidate for a key hash.
    #[must_use]
    pub fn lookup(&self, key_hash: u64) -> u32 {
        self.table[(key_hash % self.table.len() as u64) as usize]
    }

    /// The first candidate for which `allowed` holds, walking forward from the key's slot
    /// (at most `limit` slots); used when the primary choice was already tried.
    pub fn lookup_allowed(
        &self,
        key_hash: u64,
        limit: usize,
        allowed: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let m = self.table.len();
        let start = (key_hash % m as u64) as usize;
        (0..limit.min(m))
            .map(|k| self.table[(start + k) % m] as usize)
            .find(|c| allowed(*c))
    }

    /// The table size (a prime).
    #[must_use]
    pub fn size(&self) -> usize {
        self.table.len()
    }

    /// The raw slots (candidate index per slot).
    #[must_use]
    pub fn slots(&self) -> &[u32] {
        &self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("10.0.{}.{}:8080", i / 250, i % 250))
            .collect()
    }

    #[test]
    fn smooth_wrr_follows_weights_and_interleaves() {
        let mut wrr = SmoothWrr::default();
        let weights = [5, 1, 1];
        let picks: Vec<usize> = (0..7)
            .map(|_| wrr.pick(&weights, |_| true).unwrap())
            .collect();
        // nginx's documented sequence for {5,1,1}: a a b a c a a.
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0]);
        let mut counts = [0; 3];
        for _ in 0..7000 {
            counts[wrr.pick(&weights, |_| true).unwrap()] += 1;
        }
        assert_eq!(counts, [5000, 1000, 1000]);
    }

    #[test]
    fn smooth_wrr_equal_weights_is_plain_rotation_and_skips_disallowed() {
        let mut wrr = SmoothWrr::default();
        let w = [1, 1, 1, 1];
        let picks: Vec<usize> = (0..8).map(|_| wrr.pick(&w, |_| true).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 3, 0, 1, 2, 3]);
        for _ in 0..10 {
            assert_ne!(wrr.pick(&w, |i| i != 2), Some(2));
        }
        assert_eq!(wrr.pick(&w, |_| false), None);
        assert_eq!(wrr.pick(&[0, 0], |_| true), None);
    }

    #[test]
    fn round_robin_rotates_skips_disallowed_and_survives_a_shorter_list() {
        let mut rr = RoundRobin::default();
        let picks: Vec<usize> = (0..8).map(|_| rr.pick(4, |_| true).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 3, 0, 1, 2, 3]);
        assert_eq!(rr.pick(4, |i| i != 0), Some(1));
        assert_eq!(rr.pick(4, |i| i == 1), Some(1));
        assert_eq!(rr.pick(4, |_| false), None);
        // The list shrinks under the cursor: it goes on within the new length.
        rr.pick(4, |_| true);
        assert_eq!(rr.pick(3, |_| true), Some(0));
        assert_eq!(rr.pick(0, |_| true), None);
    }

    #[test]
    fn p2c_prefers_less_loaded_and_respects_allowed() {
        let mut rng = SplitMix64(7);
        let active = [100u64, 0, 100, 100];
        let mut counts = [0; 4];
        for _ in 0..4000 {
            counts[p2c(&mut rng, 4, |i| (active[i], 1), |_| true).unwrap()] += 1;
        }
        // Backend 1 wins whenever it is drawn: with probability 1/2 per pick.
        assert!(counts[1] > 1800 && counts[1] < 2200, "{counts:?}");
        for _ in 0..100 {
            let p = p2c(&mut rng, 4, |i| (active[i], 1), |i| i != 1).unwrap();
            assert_ne!(p, 1);
        }
        assert_eq!(p2c(&mut rng, 4, |_| (0, 1), |i| i == 3), Some(3));
        assert_eq!(p2c(&mut rng, 4, |_| (0, 1), |_| false), None);
    }

    #[test]
    fn p2c_spreads_evenly_when_loads_track_picks() {
        let mut rng = SplitMix64(1);
        let mut active = [0u64; 10];
        for _ in 0..10_000 {
            let i = p2c(&mut rng, 10, |i| (active[i], 1), |_| true).unwrap();
            active[i] += 1;
        }
        let (min, max) = (active.iter().min().unwrap(), active.iter().max().unwrap());
        // Two choices keep the gap tiny (log log n); random choice would give ~±100.
        assert!(max - min <= 3, "{active:?}");
    }

    #[test]
    fn table_size_is_prime_and_large_enough() {
        assert_eq!(next_prime(10_000), 10_007);
        assert_eq!(maglev_table_size(3), 1_021);
        assert_eq!(maglev_table_size(100), 16_381);
        assert_eq!(maglev_table_size(99), 16_381);
        for m in MAGLEV_TABLE_SIZES {
            assert_eq!(next_prime(m), m);
        }
        assert!(maglev_table_size(1_000) >= 100_000);
        assert_eq!(maglev_table_size(usize::MAX), MAGLEV_MAX_TABLE_SIZE);
    }

    #[test]
    fn maglev_imbalance_is_at_most_one_percent() {
        for n in [3usize, 10, 100, 500] {
            let names = names(n);
            let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
            let mg = Maglev::build(&refs, &vec![1; n]).unwrap();
            let mut counts = vec![0usize; n];
            for s in mg.slots() {
                counts[*s as usize] += 1;
            }
            let mean = mg.size() as f64 / n as f64;
            let worst = counts
                .iter()
                .map(|c| (*c as f64 - mean).abs() / mean)
                .fold(0.0, f64::max);
            assert!(worst <= 0.01, "n={n} imbalance {worst}");
        }
    }

    #[test]
    fn maglev_weights_shape_the_share() {
        let names = names(3);
        let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
        let mg = Maglev::build_with_size(&refs, &[2, 1, 1], 10_007).unwrap();
        let mut counts = [0usize; 3];
        for s in mg.slots() {
            counts[*s as usize] += 1;
        }
        let share0 = counts[0] as f64 / 10_007.0;
        assert!((share0 - 0.5).abs() < 0.01, "{counts:?}");
        let mg = Maglev::build(&refs, &[0, 1, 0]).unwrap();
        assert!(mg.slots().iter().all(|s| *s == 1));
        assert!(Maglev::build(&refs, &[0, 0, 0]).is_none());
    }

    #[test]
    fn maglev_removing_a_backend_moves_few_other_keys() {
        let n = 100;
        let all = names(n);
        let refs: Vec<&[u8]> = all.iter().map(|s| s.as_bytes()).collect();
        let before = Maglev::build(&refs, &vec![1; n]).unwrap();
        let removed = 42usize;
        let rest: Vec<&[u8]> = refs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != removed)
            .map(|(_, r)| *r)
            .collect();
        let after = Maglev::build(&rest, &vec![1; n - 1]).unwrap();
        assert_eq!(
            before.size(),
            after.size(),
            "removing one backend keeps the table size"
        );
        // Map after's candidate indices back to the original numbering.
        let orig = |c: u32| if (c as usize) < removed { c } else { c + 1 };
        let m = before.size().min(after.size());
        let mut moved_other = 0usize;
        let mut owned_by_removed = 0usize;
        for k in 0..m {
            let b = before.slots()[k];
            let a = orig(after.slots()[k]);
            if b as usize == removed {
                owned_by_removed += 1;
                assert_ne!(a as usize, removed);
            } else if a != b {
                moved_other += 1;
            }
        }
        assert!(owned_by_removed > 0);
        // Minimal disruption would move only the removed backend's 1 %; Maglev trades a little
        // more for its balance (the paper reports a few percent). Bound it at 3 % of the slots.
        let frac = moved_other as f64 / m as f64;
        assert!(frac <= 0.03, "moved {moved_other} of {m} ({frac})");
    }

    #[test]
    fn maglev_lookup_allowed_skips_tried() {
        let names = names(4);
        let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
        let mg = Maglev::build(&refs, &[1; 4]).unwrap();
        let first = mg.lookup(12345) as usize;
        let second = mg.lookup_allowed(12345, 64, |c| c != first).unwrap();
        assert_ne!(first, second);
        assert_eq!(mg.lookup_allowed(12345, 64, |_| false), None);
    }
}
