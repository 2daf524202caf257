//! The compact copy of a vector that search reads back to re-rank the
//! index's guesses: one signed byte a dimension and a scale, 388 bytes
//! for 384 dimensions instead of 1,536.
//!
//! Why a copy: the guesses are ~500 vectors scattered over the store.
//! Read as stored (1.5 KB each, behind an index keyed by item and model)
//! each costs two random page reads, and on a machine whose page cache
//! does not hold the store those reads were most of a search's time. The
//! copy is one read each, eight to a page. Why bytes, not halves: the
//! error of a byte a dimension is ~0.001 in cosine (tested below), far
//! under the gaps between neighbours that matter to a reader, and the
//! copy is half the size.
//!
//! Layout: the scale as a little-endian `f32` (`max |xᵢ| / 127`), then
//! `round(xᵢ / scale)` as `i8`s.

/// Bytes before the values: the scale.
const HEAD: usize = 4;

/// The compact copy of `v` (see the module documentation).
pub fn compact(v: &[f32]) -> Vec<u8> {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 && max.is_finite() {
        max / 127.0
    } else {
        0.0
    };
    let mut out = Vec::with_capacity(HEAD + v.len());
    out.extend_from_slice(&scale.to_le_bytes());
    out.extend(v.iter().map(|x| {
        let q = if scale > 0.0 {
            (x / scale).round()
        } else {
            0.0
        };
        // In range by construction; a NaN casts to 0.
        q.clamp(-127.0, 127.0) as i8 as u8
    }));
    out
}

/// The vector a compact copy stands for; `None` for bytes too short to be
/// one (a damaged row).
pub fn expand(bytes: &[u8]) -> Option<Vec<f32>> {
    let (head, values) = bytes.split_at_checked(HEAD)?;
    let scale = f32::from_le_bytes(head.try_into().ok()?);
    Some(values.iter().map(|b| f32::from(*b as i8) * scale).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, d: usize) -> Vec<f32> {
        // A small LCG: the test needs spread values, not good randomness.
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let v: Vec<f32> = (0..d)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (na * nb)
    }

    #[test]
    fn layout_is_scale_then_a_byte_a_dimension() {
        let c = compact(&[0.5, -1.0, 0.0, 0.25]);
        assert_eq!(c.len(), 4 + 4);
        assert_eq!(f32::from_le_bytes(c[..4].try_into().unwrap()), 1.0 / 127.0);
        assert_eq!(c[4..], [64u8, (-127i8) as u8, 0, 32]);
        assert_eq!(expand(&c).unwrap().len(), 4);
    }

    #[test]
    fn every_coordinate_comes_back_within_half_a_step() {
        for seed in 0..50 {
            let v = unit(seed, 384);
            let c = compact(&v);
            let step = f32::from_le_bytes(c[..4].try_into().unwrap());
            for (x, y) in v.iter().zip(expand(&c).unwrap()) {
                assert!((x - y).abs() <= step / 2.0 + 1e-7, "{x} came back as {y}");
            }
        }
    }

    #[test]
    fn cosines_move_by_about_a_thousandth() {
        let mut worst = 0f32;
        for seed in 0..200 {
            let (q, x) = (unit(seed, 384), unit(seed + 1000, 384));
            // A neighbour, not only a stranger: x pulled towards q.
            let near: Vec<f32> = q.iter().zip(&x).map(|(a, b)| a + 0.5 * b).collect();
            for v in [x, near] {
                worst = worst.max((cos(&q, &v) - cos(&q, &expand(&compact(&v)).unwrap())).abs());
            }
        }
        assert!(worst < 0.003, "worst cosine error {worst}");
        assert!(
            worst > 0.0,
            "the copy is not exact, so a zero error means no copy was made"
        );
    }

    #[test]
    fn zero_empty_and_damaged() {
        assert_eq!(expand(&compact(&[0.0, 0.0])).unwrap(), [0.0, 0.0]);
        assert_eq!(expand(&compact(&[])).unwrap(), Vec::<f32>::new());
        assert_eq!(expand(&[1, 2, 3]), None);
        assert_eq!(expand(&compact(&[f32::NAN, 1.0])).unwrap()[0], 0.0);
    }
}
