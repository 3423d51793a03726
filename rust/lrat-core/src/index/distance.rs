//! Distances as usearch defines them, for the brute-force paths that run outside usearch (search
//! restricted to a small set of keys): `cos` = 1 - cosine similarity, `ip` = 1 - dot product,
//! `l2` = squared Euclidean distance.

use super::Metric;

pub fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::Ip => 1.0 - dot(a, b),
        Metric::L2 => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
        Metric::Cos => {
            let (ab, aa, bb) = a.iter().zip(b).fold((0.0f32, 0.0f32, 0.0f32), |(ab, aa, bb), (x, y)| {
                (ab + x * y, aa + x * x, bb + y * y)
            });
            if aa == 0.0 && bb == 0.0 {
                0.0
            } else if aa == 0.0 || bb == 0.0 {
                1.0
            } else {
                1.0 - ab / (aa.sqrt() * bb.sqrt())
            }
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_usearch_definitions() {
        let a = [1.0, 0.0];
        let b = [0.0, 2.0];
        assert_eq!(distance(Metric::L2, &a, &b), 5.0);
        assert_eq!(distance(Metric::Ip, &a, &b), 1.0);
        assert!((distance(Metric::Cos, &a, &[3.0, 0.0])).abs() < 1e-6);
        assert!((distance(Metric::Cos, &a, &b) - 1.0).abs() < 1e-6);
    }
}
