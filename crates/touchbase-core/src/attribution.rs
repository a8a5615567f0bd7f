//! Attribution (METRICS.md, "Attribution: what each point contributes through journeys"; R15,
//! R16): over a period's journeys, what passes through each point (`journeys_through`,
//! `value_through`), what linear attribution gives it, and its removal effect in the
//! first-order Markov chain of the journeys (Anderl et al. 2016) with the value that effect
//! attributes.
//!
//! [`Attributor`] takes journeys one at a time (points by number, value) and gives every
//! point's [`Attribution`]. The chain is solved exactly (not by simulation): `C` from one LU
//! factorisation of `I − Q` over the transient states (the points and `start`), and each
//! `C−x` (every transition into `x` sent to `null`) from the same factorisation by the
//! Sherman–Morrison formula, since removing `x` changes one column of `Q`:
//! `C−x = C − w[start] · c[x] / (1 + w[x])` where `c = (I − Q)⁻¹ r`, `r` the one-step
//! conversion probabilities and `w = (I − Q)⁻¹ Q[·, x]`. The whole costs one factorisation
//! and one solve per point, whatever the number of journeys.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// One point's attribution figures over a period (METRICS.md). All null for a group of
/// points and for a point on no journey of the period; `removal_effect` null when no journey
/// converts, `attributed_value_markov` null when the removal effects sum to 0 or are null.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attribution {
    /// Journeys with at least one event at the point.
    pub journeys_through: Option<u64>,
    /// Those journeys' values summed.
    pub value_through: Option<f64>,
    /// What linear attribution gives it: `V / k` per event of each converting journey.
    pub attributed_value_linear: Option<f64>,
    /// `1 − C−x / C`: the share of conversions lost if the point were cut.
    pub removal_effect: Option<f64>,
    /// Its removal effect's share of all points' times the converting journeys' value.
    pub attributed_value_markov: Option<f64>,
}

/// The virtual states of the chain, beside the points' numbers.
const START: u32 = u32::MAX - 2;
const CONVERSION: u32 = u32::MAX - 1;
const NULL: u32 = u32::MAX;

#[derive(Debug, Default, Clone, Copy)]
struct Through {
    journeys: u64,
    value: f64,
    linear: f64,
}

/// Takes journeys and works out every point's [`Attribution`].
#[derive(Debug, Default, Clone)]
pub struct Attributor {
    through: Vec<Through>,
    /// (from, to) → count; `start`, `conversion` and `null` as above.
    transitions: FxHashMap<(u32, u32), u64>,
    /// Per point: the number of the last journey that passed it.
    seen: Vec<u64>,
    journeys: u64,
    converting: u64,
    converting_value: f64,
}

/// The chain's absorption, solved: `C` and each point's `C−x`.
#[derive(Debug, Clone, PartialEq)]
pub struct Absorption {
    /// The probability of conversion from `start`.
    pub conversion: f64,
    /// Per point number: `C−x`, `None` for a number on no journey.
    pub without: Vec<Option<f64>>,
}

impl Absorption {
    /// `1 − C−x / C` of point number `x` (never outside 0..1, as it cannot be but for
    /// rounding); `None` for a number on no journey.
    pub fn removal_effect(&self, x: u32) -> Option<f64> {
        let without = self.without.get(x as usize).copied().flatten()?;
        Some((1.0 - without / self.conversion).clamp(0.0, 1.0))
    }
}

impl Attributor {
    /// Takes one journey: its points in order, by number (small numbers the caller gives,
    /// each point one), and its value `V`. An empty journey is none.
    pub fn add(&mut self, points: &[u32], value: f64) {
        let (Some(&first), Some(&last)) = (points.first(), points.last()) else {
            return;
        };
        self.journeys += 1;
        let highest = points.iter().copied().max().unwrap_or(0) as usize;
        if highest >= self.through.len() {
            self.through.resize(highest + 1, Through::default());
            self.seen.resize(highest + 1, 0);
        }
        let converts = value > 0.0;
        let share = value / points.len() as f64;
        for &p in points {
            let p = p as usize;
            if self.seen[p] != self.journeys {
                self.seen[p] = self.journeys;
                self.through[p].journeys += 1;
                self.through[p].value += value;
            }
            if converts {
                self.through[p].linear += share;
            }
        }
        if converts {
            self.converting += 1;
            self.converting_value += value;
        }
        *self.transitions.entry((START, first)).or_default() += 1;
        for pair in points.windows(2) {
            *self.transitions.entry((pair[0], pair[1])).or_default() += 1;
        }
        let exit = if converts { CONVERSION } else { NULL };
        *self.transitions.entry((last, exit)).or_default() += 1;
    }

    /// Journeys taken.
    pub fn journeys(&self) -> u64 {
        self.journeys
    }

    /// The chain solved; `None` when no journey converts (`C = 0`).
    pub fn absorption(&self) -> Option<Absorption> {
        if self.converting == 0 {
            return None;
        }
        // The transient states: `start` first, then the points on some journey.
        let mut states: Vec<u32> = vec![START];
        let mut index: FxHashMap<u32, usize> = FxHashMap::default();
        index.insert(START, 0);
        for (p, t) in self.through.iter().enumerate() {
            if t.journeys > 0 {
                index.insert(p as u32, states.len());
                states.push(p as u32);
            }
        }
        let m = states.len();
        let mut out = vec![0u64; m];
        for (&(from, _), &count) in &self.transitions {
            out[index[&from]] += count;
        }
        // A = I − Q; r = P(· → conversion); q[x] = the column of Q into state x.
        let mut a = vec![0.0; m * m];
        for i in 0..m {
            a[i * m + i] = 1.0;
        }
        let mut r = vec![0.0; m];
        let mut q = vec![0.0; m * m];
        for (&(from, to), &count) in &self.transitions {
            let i = index[&from];
            let p = count as f64 / out[i] as f64;
            match to {
                CONVERSION => r[i] += p,
                NULL => {}
                to => {
                    let j = index[&to];
                    a[i * m + j] -= p;
                    q[j * m + i] += p;
                }
            }
        }
        let lu = Lu::factor(a, m);
        let c = lu.solve(r);
        let conversion = c[0];
        let mut without = vec![None; self.through.len()];
        for (j, &state) in states.iter().enumerate().skip(1) {
            let w = lu.solve(q[j * m..(j + 1) * m].to_vec());
            let lost = w[0] * c[j] / (1.0 + w[j]);
            without[state as usize] = Some(conversion - lost);
        }
        Some(Absorption {
            conversion,
            without,
        })
    }

    /// Every point's figures, by number (a number on no journey gets all nulls).
    pub fn finish(&self) -> Vec<Attribution> {
        let absorption = self.absorption();
        let effects: Vec<Option<f64>> = (0..self.through.len() as u32)
            .map(|p| absorption.as_ref()?.removal_effect(p))
            .collect();
        let total: f64 = effects.iter().flatten().sum();
        self.through
            .iter()
            .zip(&effects)
            .map(|(t, &removal_effect)| {
                if t.journeys == 0 {
                    return Attribution::default();
                }
                Attribution {
                    journeys_through: Some(t.journeys),
                    value_through: Some(t.value),
                    attributed_value_linear: Some(t.linear),
                    removal_effect,
                    attributed_value_markov: removal_effect
                        .filter(|_| total > 0.0)
                        .map(|e| e / total * self.converting_value),
                }
            })
            .collect()
    }
}

/// The attribution of each point over `journeys`, given as (point keys, value): the plain
/// definition, by key.
pub fn attribute<'a>(
    journeys: impl IntoIterator<Item = (&'a [String], f64)>,
) -> BTreeMap<String, Attribution> {
    let mut keys: Vec<&str> = Vec::new();
    let mut numbers: FxHashMap<&str, u32> = FxHashMap::default();
    let mut attributor = Attributor::default();
    let mut points = Vec::new();
    for (journey, value) in journeys {
        points.clear();
        for key in journey {
            let n = *numbers.entry(key).or_insert_with(|| {
                keys.push(key);
                keys.len() as u32 - 1
            });
            points.push(n);
        }
        attributor.add(&points, value);
    }
    attributor
        .finish()
        .into_iter()
        .enumerate()
        .map(|(n, a)| (keys[n].to_owned(), a))
        .collect()
}

/// An LU factorisation with partial pivoting of a dense `m × m` matrix, row-major.
struct Lu {
    m: usize,
    lu: Vec<f64>,
    pivots: Vec<usize>,
}

impl Lu {
    fn factor(mut lu: Vec<f64>, m: usize) -> Lu {
        let mut pivots = Vec::with_capacity(m);
        for k in 0..m {
            let p = (k..m)
                .max_by(|&x, &y| lu[x * m + k].abs().total_cmp(&lu[y * m + k].abs()))
                .unwrap_or(k);
            pivots.push(p);
            if p != k {
                for col in 0..m {
                    lu.swap(k * m + col, p * m + col);
                }
            }
            let pivot = lu[k * m + k];
            if pivot == 0.0 {
                continue;
            }
            for row in k + 1..m {
                let f = lu[row * m + k] / pivot;
                lu[row * m + k] = f;
                if f != 0.0 {
                    for col in k + 1..m {
                        lu[row * m + col] -= f * lu[k * m + col];
                    }
                }
            }
        }
        Lu { m, lu, pivots }
    }

    fn solve(&self, mut b: Vec<f64>) -> Vec<f64> {
        let m = self.m;
        for (k, &p) in self.pivots.iter().enumerate() {
            b.swap(k, p);
        }
        for row in 0..m {
            let lower = &self.lu[row * m..row * m + row];
            let s = b[row] - lower.iter().zip(&b[..row]).map(|(l, x)| l * x).sum::<f64>();
            b[row] = s;
        }
        for row in (0..m).rev() {
            let upper = &self.lu[row * m + row + 1..(row + 1) * m];
            let s = b[row]
                - upper
                    .iter()
                    .zip(&b[row + 1..])
                    .map(|(u, x)| u * x)
                    .sum::<f64>();
            let d = self.lu[row * m + row];
            b[row] = if d == 0.0 { 0.0 } else { s / d };
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journeys(list: &[(&[&str], f64)]) -> Vec<(Vec<String>, f64)> {
        list.iter()
            .map(|(points, v)| (points.iter().map(|p| (*p).to_owned()).collect(), *v))
            .collect()
    }

    fn of(list: &[(Vec<String>, f64)]) -> BTreeMap<String, Attribution> {
        attribute(list.iter().map(|(p, v)| (p.as_slice(), *v)))
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() <= 1e-12 * b.abs().max(1.0))
    }

    #[test]
    fn the_textbook_chain_gives_its_removal_effects() {
        // Anderl et al.'s shape: c1 → c2 converts, c1 → c3 does not, c2 → c3 converts.
        // Transitions: start→c1 2, start→c2 1; c1→c2 1, c1→c3 1; c2→conv 1, c2→c3 1;
        // c3→null 1, c3→conv 1. P: c1: ½ c2, ½ c3; c2: ½ conv, ½ c3; c3: ½ conv, ½ null.
        // C = ⅔·(½·¾ + ½·½) + ⅓·¾ = ⅔·⅝ + ¼ = 2/3.
        // Without c1: ⅓·¾ = ¼ → effect 1 − ¼/⅔ = 5/8. Without c2: ⅔·(½·½) = ⅙ → 3/4;
        // without c3: ⅔·(½·½) + ⅓·½ = ⅓ → ½.
        let list = journeys(&[
            (&["c1", "c2"], 10.0),
            (&["c1", "c3"], 0.0),
            (&["c2", "c3"], 6.0),
        ]);
        let a = of(&list);
        assert!(close(a["c1"].removal_effect, 5.0 / 8.0), "{:?}", a["c1"]);
        assert!(close(a["c2"].removal_effect, 3.0 / 4.0), "{:?}", a["c2"]);
        assert!(close(a["c3"].removal_effect, 1.0 / 2.0), "{:?}", a["c3"]);
        let sum = 5.0 / 8.0 + 3.0 / 4.0 + 1.0 / 2.0;
        assert!(close(a["c2"].attributed_value_markov, 0.75 / sum * 16.0));
        assert_eq!(a["c3"].journeys_through, Some(2));
        assert_eq!(a["c3"].value_through, Some(6.0));
        assert_eq!(a["c1"].attributed_value_linear, Some(5.0));
        assert_eq!(a["c2"].attributed_value_linear, Some(8.0));
        assert_eq!(a["c3"].attributed_value_linear, Some(3.0));
    }

    #[test]
    fn no_converting_journey_leaves_the_chain_null() {
        let list = journeys(&[(&["a", "b"], 0.0), (&["b"], -2.0)]);
        let a = of(&list);
        assert_eq!(a["b"].journeys_through, Some(2));
        assert_eq!(a["b"].value_through, Some(-2.0));
        assert_eq!(a["b"].attributed_value_linear, Some(0.0));
        assert_eq!(a["b"].removal_effect, None);
        assert_eq!(a["b"].attributed_value_markov, None);
    }

    #[test]
    fn loops_and_repeats_are_transitions_like_any() {
        // a → a → b converts 4: linear gives a 2 × 4/3. Transitions: start→a, a→a, a→b,
        // b→conv; start→b, b→null. c_b = ½, c_a = ½ c_a + ½ c_b = ½, C = ½. Without a
        // (start→a and a→a to null): C = ½ · ½ = ¼, effect ½. Without b: C = 0, effect 1
        // (b is on every journey).
        let list = journeys(&[(&["a", "a", "b"], 4.0), (&["b"], 0.0)]);
        let a = of(&list);
        assert!(close(a["a"].attributed_value_linear, 8.0 / 3.0));
        assert!(close(a["a"].removal_effect, 0.5));
        assert!(close(a["b"].removal_effect, 1.0));
        assert!(close(a["a"].attributed_value_markov, 0.5 / 1.5 * 4.0));
        assert_eq!(a["a"].journeys_through, Some(1));
    }
}
