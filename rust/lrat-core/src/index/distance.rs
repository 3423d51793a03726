//! Distances as usearch defines them (`cos` = 1 - cosine similarity, `ip` = 1 - dot product, `l2` =
//! squared Euclidean distance) over f32 vectors, with AVX2+FMA kernels chosen at run time.
//!
//! usearch's own f32 kernels (NumKong) accumulate in f64 with a single dependency chain, which on
//! AVX2 machines makes f32 search about half as fast as f16; these accumulate in f32 over independent
//! chains, as faiss and hnswlib do. They serve both the engine (installed as its metric for f32
//! indexes) and the brute-force paths that run outside it. Where the CPU has AVX-512, dot products
//! and squared distances use it (as hnswlib and faiss do): 384 values take 24 fused multiply-adds
//! instead of 48.

use super::Metric;

/// A distance over two vectors of the index's dimension.
pub type Kernel = fn(&[f32], &[f32]) -> f32;

/// A distance over two vectors of IEEE half floats (their raw bits).
pub type HalfKernel = fn(&[u16], &[u16]) -> f32;

/// The fastest kernel for `metric` that this CPU supports.
pub fn kernel(metric: Metric) -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            match metric {
                // SAFETY: AVX-512F was detected above.
                Metric::Ip => return |a, b| 1.0 - unsafe { avx512::dot(a, b) },
                Metric::L2 => return |a, b| unsafe { avx512::l2sq(a, b) },
                Metric::Cos => {}
            }
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return match metric {
                Metric::Cos => |a, b| {
                    // SAFETY: AVX2 and FMA were detected above.
                    let (ab, aa, bb) = unsafe { avx2::cos_parts(a, b) };
                    cos_from_parts(ab, aa, bb)
                },
                Metric::Ip => |a, b| 1.0 - unsafe { avx2::dot(a, b) },
                Metric::L2 => |a, b| unsafe { avx2::l2sq(a, b) },
            };
        }
    }
    match metric {
        Metric::Cos => |a, b| {
            let (ab, aa, bb) = portable::cos_parts(a, b);
            cos_from_parts(ab, aa, bb)
        },
        Metric::Ip => |a, b| 1.0 - portable::dot(a, b),
        Metric::L2 => portable::l2sq,
    }
}

/// The cosine distance of two unit vectors, `1 - a·b` (not below 0, as the full formula).
pub fn unit_cos_kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was detected above.
            return |a, b| (1.0 - unsafe { avx512::dot(a, b) }).max(0.0);
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were detected above.
            return |a, b| (1.0 - unsafe { avx2::dot(a, b) }).max(0.0);
        }
    }
    |a, b| (1.0 - portable::dot(a, b)).max(0.0)
}

/// The cosine distance of two unit vectors stored as IEEE half floats (their raw bits), when this
/// CPU converts halves in hardware (F16C); otherwise usearch's own kernel stays.
pub fn unit_cos_f16_kernel() -> Option<HalfKernel> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
        {
            // SAFETY: AVX2, FMA and F16C were detected above.
            return Some(|a, b| (1.0 - unsafe { avx2::dot_f16(a, b) }).max(0.0));
        }
    }
    None
}

/// The dot product, with the fastest kernel this CPU supports.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was detected above.
            return unsafe { avx512::dot(a, b) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were detected above.
            return unsafe { avx2::dot(a, b) };
        }
    }
    portable::dot(a, b)
}

pub fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    kernel(metric)(a, b)
}

fn cos_from_parts(ab: f32, aa: f32, bb: f32) -> f32 {
    if aa == 0.0 && bb == 0.0 {
        0.0
    } else if aa == 0.0 || bb == 0.0 {
        1.0
    } else {
        (1.0 - ab / (aa.sqrt() * bb.sqrt())).max(0.0)
    }
}

/// Eight lanes per chunk, four independent accumulators, so that the compiler can vectorise without
/// reassociating floating-point sums.
mod portable {
    const LANES: usize = 8;

    pub fn cos_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        let (mut ab, mut aa, mut bb) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let (ta, tb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..LANES {
                ab[i] += x[i] * y[i];
                aa[i] += x[i] * x[i];
                bb[i] += y[i] * y[i];
            }
        }
        let (mut ab, mut aa, mut bb) = (ab.iter().sum::<f32>(), aa.iter().sum::<f32>(), bb.iter().sum::<f32>());
        for (x, y) in ta.iter().zip(tb) {
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        (ab, aa, bb)
    }

    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let (ta, tb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..LANES {
                acc[i] += x[i] * y[i];
            }
        }
        acc.iter().sum::<f32>() + ta.iter().zip(tb).map(|(x, y)| x * y).sum::<f32>()
    }

    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let (ta, tb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..LANES {
                let d = x[i] - y[i];
                acc[i] += d * d;
            }
        }
        acc.iter().sum::<f32>() + ta.iter().zip(tb).map(|(x, y)| (x - y) * (x - y)).sum::<f32>()
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let folded = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let folded = _mm_add_ps(folded, _mm_movehl_ps(folded, folded));
        let folded = _mm_add_ss(folded, _mm_shuffle_ps(folded, folded, 1));
        _mm_cvtss_f32(folded)
    }

    /// (a·b, a·a, b·b), two chains per sum, sixteen values a step.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn cos_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut ab0, mut aa0, mut bb0) = (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
        let (mut ab1, mut aa1, mut bb1) = (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= n {
            let (x0, y0) = (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            let (x1, y1) = (_mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8)));
            ab0 = _mm256_fmadd_ps(x0, y0, ab0);
            aa0 = _mm256_fmadd_ps(x0, x0, aa0);
            bb0 = _mm256_fmadd_ps(y0, y0, bb0);
            ab1 = _mm256_fmadd_ps(x1, y1, ab1);
            aa1 = _mm256_fmadd_ps(x1, x1, aa1);
            bb1 = _mm256_fmadd_ps(y1, y1, bb1);
            i += 16;
        }
        if i + 8 <= n {
            let (x0, y0) = (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            ab0 = _mm256_fmadd_ps(x0, y0, ab0);
            aa0 = _mm256_fmadd_ps(x0, x0, aa0);
            bb0 = _mm256_fmadd_ps(y0, y0, bb0);
            i += 8;
        }
        let mut ab = hsum(_mm256_add_ps(ab0, ab1));
        let mut aa = hsum(_mm256_add_ps(aa0, aa1));
        let mut bb = hsum(_mm256_add_ps(bb0, bb1));
        while i < n {
            let (x, y) = (*pa.add(i), *pb.add(i));
            ab += x * y;
            aa += x * x;
            bb += y * y;
            i += 1;
        }
        (ab, aa, bb)
    }

    /// Four chains, thirty-two values a step.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                let (x, y) = (_mm256_loadu_ps(pa.add(i + 8 * j)), _mm256_loadu_ps(pb.add(i + 8 * j)));
                *slot = _mm256_fmadd_ps(x, y, *slot);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc[0]);
            i += 8;
        }
        let mut sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
        while i < n {
            sum += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        sum
    }

    /// The dot product of half-float vectors (raw bits), accumulated in f32 over four chains.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_f16(a: &[u16], b: &[u16]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let load = |p: *const u16| _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i));
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                *slot = _mm256_fmadd_ps(load(pa.add(i + 8 * j)), load(pb.add(i + 8 * j)), *slot);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(load(pa.add(i)), load(pb.add(i)), acc[0]);
            i += 8;
        }
        let mut sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
        while i < n {
            let (x, y) =
                (_mm_cvtph_ps(_mm_set1_epi16(*pa.add(i) as i16)), _mm_cvtph_ps(_mm_set1_epi16(*pb.add(i) as i16)));
            sum += _mm_cvtss_f32(_mm_mul_ss(x, y));
            i += 1;
        }
        sum
    }

    /// Four chains, thirty-two values a step.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i + 8 * j)), _mm256_loadu_ps(pb.add(i + 8 * j)));
                *slot = _mm256_fmadd_ps(d, d, *slot);
            }
            i += 32;
        }
        while i + 8 <= n {
            let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
            i += 8;
        }
        let mut sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
        while i < n {
            let d = *pa.add(i) - *pb.add(i);
            sum += d * d;
            i += 1;
        }
        sum
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// The lanes of a 16-wide register that hold values `i..n` (all sixteen when 16 or more remain).
    #[inline(always)]
    fn tail_mask(remaining: usize) -> __mmask16 {
        if remaining >= 16 {
            !0
        } else {
            ((1u32 << remaining) - 1) as __mmask16
        }
    }

    /// Four chains, sixty-four values a step; the tail is read with a masked load.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                let (x, y) = (_mm512_loadu_ps(pa.add(i + 16 * j)), _mm512_loadu_ps(pb.add(i + 16 * j)));
                *slot = _mm512_fmadd_ps(x, y, *slot);
            }
            i += 64;
        }
        while i < n {
            let mask = tail_mask(n - i);
            let (x, y) = (_mm512_maskz_loadu_ps(mask, pa.add(i)), _mm512_maskz_loadu_ps(mask, pb.add(i)));
            acc[0] = _mm512_fmadd_ps(x, y, acc[0]);
            i += 16;
        }
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])))
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                let d = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i + 16 * j)), _mm512_loadu_ps(pb.add(i + 16 * j)));
                *slot = _mm512_fmadd_ps(d, d, *slot);
            }
            i += 64;
        }
        while i < n {
            let mask = tail_mask(n - i);
            let d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, pa.add(i)), _mm512_maskz_loadu_ps(mask, pb.add(i)));
            acc[0] = _mm512_fmadd_ps(d, d, acc[0]);
            i += 16;
        }
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
        let (mut ab, mut aa, mut bb, mut l2) = (0f64, 0f64, 0f64, 0f64);
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (x as f64, y as f64);
            ab += x * y;
            aa += x * x;
            bb += y * y;
            l2 += (x - y) * (x - y);
        }
        match metric {
            Metric::Cos => (1.0 - ab / (aa.sqrt() * bb.sqrt())).max(0.0),
            Metric::Ip => 1.0 - ab,
            Metric::L2 => l2,
        }
    }

    #[test]
    fn matches_the_usearch_definitions() {
        let a = [1.0, 0.0];
        let b = [0.0, 2.0];
        assert_eq!(distance(Metric::L2, &a, &b), 5.0);
        assert_eq!(distance(Metric::Ip, &a, &b), 1.0);
        assert!((distance(Metric::Cos, &a, &[3.0, 0.0])).abs() < 1e-6);
        assert!((distance(Metric::Cos, &a, &b) - 1.0).abs() < 1e-6);
        assert_eq!(distance(Metric::Cos, &[0.0; 3], &[0.0; 3]), 0.0);
        assert_eq!(distance(Metric::Cos, &[0.0; 3], &[1.0, 0.0, 0.0]), 1.0);
    }

    #[test]
    fn fast_and_portable_kernels_agree_with_f64_at_every_length() {
        // Lengths cover every tail: below one register, between the unrolled steps, and 384.
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        for n in [1usize, 7, 8, 15, 16, 17, 31, 32, 33, 47, 100, 384, 385] {
            let a: Vec<f32> = (0..n).map(|_| next()).collect();
            let b: Vec<f32> = (0..n).map(|_| next()).collect();
            for metric in [Metric::Cos, Metric::Ip, Metric::L2] {
                let want = reference(metric, &a, &b);
                let portable = match metric {
                    Metric::Cos => {
                        let (ab, aa, bb) = portable::cos_parts(&a, &b);
                        cos_from_parts(ab, aa, bb)
                    }
                    Metric::Ip => 1.0 - portable::dot(&a, &b),
                    Metric::L2 => portable::l2sq(&a, &b),
                };
                let mut kernels = vec![("dispatched", distance(metric, &a, &b)), ("portable", portable)];
                #[cfg(target_arch = "x86_64")]
                if std::is_x86_feature_detected!("avx512f") && metric != Metric::Cos {
                    // SAFETY: AVX-512F was detected.
                    let got = unsafe {
                        if metric == Metric::Ip {
                            1.0 - avx512::dot(&a, &b)
                        } else {
                            avx512::l2sq(&a, &b)
                        }
                    };
                    kernels.push(("avx512", got));
                }
                #[cfg(target_arch = "x86_64")]
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: AVX2 and FMA were detected.
                    let got = unsafe {
                        match metric {
                            Metric::Cos => {
                                let (ab, aa, bb) = avx2::cos_parts(&a, &b);
                                cos_from_parts(ab, aa, bb)
                            }
                            Metric::Ip => 1.0 - avx2::dot(&a, &b),
                            Metric::L2 => avx2::l2sq(&a, &b),
                        }
                    };
                    kernels.push(("avx2", got));
                }
                for (name, got) in kernels {
                    assert!(
                        (got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                        "{name} {metric:?} at n={n}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
