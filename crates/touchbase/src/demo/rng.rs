//! The demo's deterministic choices.

/// Days in microseconds.
const DAY: i64 = 86_400_000_000;
const SEED: u64 = 0x0000_5eed_0000_0019;

/// A small generator of the demo's choices (SplitMix64), seeded by what it is about (an order's
/// id, an invitation's), so the same year gives the same story.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(id: &str) -> Rng {
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Rng(hash ^ SEED)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// An exponential wait of `mean` days, in microseconds.
    pub(crate) fn wait(&mut self, mean: f64) -> i64 {
        (-(1.0 - self.unit()).ln() * mean * DAY as f64) as i64
    }
}
