#ifndef AUTODIDACT_CBLAS_SHIM_H
#define AUTODIDACT_CBLAS_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <cblas.h>

// How many CPUs this process may run on (mpirun's binding narrows it); 0 when unknown. Lives here because
// the thread count decided from it is also the one OpenBLAS must not exceed.
static inline int autodidact_affinity_cpus(void) {
#ifdef CPU_COUNT
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}

// A hint to start loading the cache line at p (for streaming weights while computing on earlier ones).
static inline void autodidact_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
static inline void autodidact_prefetch_l2(const void *p) { __builtin_prefetch(p, 0, 2); }

#include <immintrin.h>
#include <stdlib.h>

// Whether the CPU runs AVX-512F (and AUTODIDACT_NO_AVX512 is not set), asked once.
static inline int autodidact_use_avx512(void) {
    static int answer = -1;
    if (answer < 0) {
        __builtin_cpu_init();
        const char *off = getenv("AUTODIDACT_NO_AVX512");  // set and not empty: 8-wide tiles
        answer = __builtin_cpu_supports("avx512f") && (off == NULL || off[0] == 0);
    }
    return answer;
}

// PackedGemm's six-row tile on 16-wide registers: out[m][0..<16] (+)= sum_k x[m][k] * panel[k][0..<16] for
// m < 6, each element one fused multiply-add chain over k in order (the same bits as the 8-wide tile).
// `prefetch` (may be NULL) lists the next panel's lines to bring into L2, one per k below `lines`.
__attribute__((target("avx512f")))
static inline void autodidact_tile6_avx512(float *out, long ldo, const float *x, long K, const float *panel,
                                           int accumulate, const float *prefetch, long lines) {
    const float *x0 = x, *x1 = x + K, *x2 = x + 2 * K, *x3 = x + 3 * K, *x4 = x + 4 * K, *x5 = x + 5 * K;
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    for (long k = 0; k < K; k++) {
        if (k < lines) __builtin_prefetch(prefetch + 16 * k, 0, 2);
        __m512 w = _mm512_loadu_ps(panel + 16 * k);
        c0 = _mm512_fmadd_ps(_mm512_set1_ps(x0[k]), w, c0);
        c1 = _mm512_fmadd_ps(_mm512_set1_ps(x1[k]), w, c1);
        c2 = _mm512_fmadd_ps(_mm512_set1_ps(x2[k]), w, c2);
        c3 = _mm512_fmadd_ps(_mm512_set1_ps(x3[k]), w, c3);
        c4 = _mm512_fmadd_ps(_mm512_set1_ps(x4[k]), w, c4);
        c5 = _mm512_fmadd_ps(_mm512_set1_ps(x5[k]), w, c5);
    }
    __m512 c[6] = {c0, c1, c2, c3, c4, c5};
    for (int m = 0; m < 6; m++) {
        float *o = out + m * ldo;
        _mm512_storeu_ps(o, accumulate ? _mm512_add_ps(_mm512_loadu_ps(o), c[m]) : c[m]);
    }
}
#endif
