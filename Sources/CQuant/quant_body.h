// The kernels' bodies, compiled twice by quant.c: once for AVX2 + FMA and once for AVX-512 (SUF names the
// copy). Written on 16-lane vectors, so both copies do the same arithmetic lane for lane.

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SUF)

static inline __attribute__((always_inline)) v16f FN(ld)(const float *p) { v16f v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) v16b FN(ldb)(const uint8_t *p) { v16b v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void FN(st)(float *p, v16f v) { memcpy(p, &v, sizeof v); }
static inline __attribute__((always_inline)) float FN(h2f)(const uint8_t *p) { _Float16 h; memcpy(&h, p, 2); return (float)h; }
static inline __attribute__((always_inline)) v16f FN(fl)(v16i v) { return __builtin_convertvector(v, v16f); }
static inline __attribute__((always_inline)) v16i FN(wid)(v16b v) { return __builtin_convertvector(v, v16i); }
static inline __attribute__((always_inline)) uint32_t FN(u32)(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline __attribute__((always_inline)) float FN(f32)(const uint8_t *p) { float v; memcpy(&v, p, 4); return v; }

// The fifth bits of a Q5_0/Q5_1 block's values first..first+15 (bit j of qh for value j), shifted to bit 4.
static inline __attribute__((always_inline)) v16i FN(fifth)(uint32_t qh, uint32_t first) {
#if WIDE
    return (v16i)_mm512_maskz_set1_epi32((__mmask16)(qh >> first), 16);
#endif
    const v16u lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    v16u h = ((v16u)(qh) >> (lanes + first)) & 1u;
    return __builtin_convertvector(h << 4, v16i);
}

// A K-quant block's 6-bit scale and minimum of sub-block j.
static inline __attribute__((always_inline)) void FN(scale_min)(const uint8_t *q, int j, float *sc, float *m) {
    if (j < 4) { *sc = (float)(q[j] & 63); *m = (float)(q[j + 4] & 63); return; }
    *sc = (float)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
    *m = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
}

// Values 32b..32b+31 of a row of `type` into lo (the first 16) and hi. Each expression is the one gguf-py
// evaluates (the same float32 operations in the same order, no contraction), so the values are its values
// bit for bit. Always inlined with a constant type, so the switch folds away.
// (For the K-quants: sub-block s of super-block sb, so that a caller walking the eight sub-blocks of one
// super-block in an unrolled loop decodes its header once.)
static inline __attribute__((always_inline)) void FN(block32at)(const int type, const uint8_t *row, long b, long sb,
                                                                int s, v16f *lo, v16f *hi) {
    switch (type) {
    case 0: *lo = FN(ld)((const float *)row + 32 * b); *hi = FN(ld)((const float *)row + 32 * b + 16); return;
    case 1: {
        v16h h0, h1; memcpy(&h0, row + 64 * b, 32); memcpy(&h1, row + 64 * b + 32, 32);
        *lo = __builtin_convertvector(h0, v16f); *hi = __builtin_convertvector(h1, v16f);
        return;
    }
    case 2: {  // Q4_0: d, 16 bytes (value j low nibble, j + 16 high); (q - 8) * d
        const uint8_t *q = row + 20 * b;
        float d = FN(f32)(q); v16b v = FN(ldb)(q + 4);
        *lo = FN(fl)(FN(wid)(v & 0x0f) - 8) * d; *hi = FN(fl)(FN(wid)(v >> 4) - 8) * d;
        return;
    }
    case 3: {  // Q4_1: d, m, 16 bytes; q * d + m
        const uint8_t *q = row + 24 * b;
        float d = FN(f32)(q), m = FN(f32)(q + 4); v16b v = FN(ldb)(q + 8);
        *lo = FN(fl)(FN(wid)(v & 0x0f)) * d + m; *hi = FN(fl)(FN(wid)(v >> 4)) * d + m;
        return;
    }
    case 6: {  // Q5_0: d, 32 high bits, 16 bytes; (q - 16) * d
        const uint8_t *q = row + 24 * b;
        float d = FN(f32)(q); uint32_t qh = FN(u32)(q + 4);
#if WIDE
        // A table of the 32 values (i - 16) * d (the same products), read with each 5-bit value as index.
        __m512 dv = _mm512_set1_ps(d);
        __m512 t0 = _mm512_mul_ps(_mm512_setr_ps(-16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1), dv);
        __m512 t1 = _mm512_mul_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), dv);
        __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + 8)));
        __m512i i0 = _mm512_ternarylogic_epi32(b, _mm512_set1_epi32(0x0f), _mm512_maskz_set1_epi32((__mmask16)qh, 16), 0xEA);
        __m512i i1 = _mm512_or_si512(_mm512_srli_epi32(b, 4), _mm512_maskz_set1_epi32((__mmask16)(qh >> 16), 16));
        *lo = (v16f)_mm512_permutex2var_ps(t0, i0, t1);
        *hi = (v16f)_mm512_permutex2var_ps(t0, i1, t1);
#else
        v16b v = FN(ldb)(q + 8);
        *lo = FN(fl)((FN(wid)(v & 0x0f) | FN(fifth)(qh, 0)) - 16) * d;
        *hi = FN(fl)((FN(wid)(v >> 4) | FN(fifth)(qh, 16)) - 16) * d;
#endif
        return;
    }
    case 7: {  // Q5_1: d, m, 32 high bits, 16 bytes; q * d + m
        const uint8_t *q = row + 28 * b;
        float d = FN(f32)(q), m = FN(f32)(q + 4); uint32_t qh = FN(u32)(q + 8); v16b v = FN(ldb)(q + 12);
        *lo = FN(fl)(FN(wid)(v & 0x0f) | FN(fifth)(qh, 0)) * d + m;
        *hi = FN(fl)(FN(wid)(v >> 4) | FN(fifth)(qh, 16)) * d + m;
        return;
    }
    case 8: {  // Q8_0: d, 32 signed bytes; q * d
        const uint8_t *q = row + 36 * b;
        float d = FN(f32)(q); v16c a, c; memcpy(&a, q + 4, 16); memcpy(&c, q + 20, 16);
        *lo = __builtin_convertvector(a, v16f) * d; *hi = __builtin_convertvector(c, v16f) * d;
        return;
    }
    case 12:    // Q4_K: d, dmin, 12 bytes of scales, 128 bytes; sub-block s: (d * sc) * q - dmin * m
    case 13: {  // Q5_K: as Q4_K with 32 bytes of fifth bits (bit s of byte l) before the 128
        const int five = type == 13;
        const uint8_t *q = row + (five ? 176 : 144) * sb;
        float d = FN(h2f)(q), dmin = FN(h2f)(q + 2);
        const uint8_t *scales = q + 4, *qh = q + 16, *qs = q + (five ? 48 : 16);
        float sc, m; FN(scale_min)(scales, s, &sc, &m);
        float ds = d * sc, ms = dmin * m;
        int shift = 4 * (s % 2);
        v16i v0 = FN(wid)((FN(ldb)(qs + 32 * (s / 2)) >> shift) & 0x0f);
        v16i v1 = FN(wid)((FN(ldb)(qs + 32 * (s / 2) + 16) >> shift) & 0x0f);
        if (five) {
            v0 |= FN(wid)((FN(ldb)(qh) >> s) & 1) << 4;
            v1 |= FN(wid)((FN(ldb)(qh + 16) >> s) & 1) << 4;
        }
        *lo = ds * FN(fl)(v0) - ms; *hi = ds * FN(fl)(v1) - ms;
        return;
    }
    case 14: {  // Q6_K: 128 bytes of low 4 bits, 64 of high 2 bits, 16 signed scales, d; (d * sc) * (q - 32)
        const uint8_t *q = row + 210 * sb, *ql = q, *qh = q + 128;
        const int8_t *scales = (const int8_t *)(q + 192);
        float d = FN(h2f)(q + 208);
        int i = 32 * s, h = i / 128, r = i % 128;
        v16b l0 = FN(ldb)(ql + 64 * h + r % 64), l1 = FN(ldb)(ql + 64 * h + r % 64 + 16);
        v16b h0 = FN(ldb)(qh + 32 * h + r % 32), h1 = FN(ldb)(qh + 32 * h + r % 32 + 16);
        int ls = 4 * (r / 64), hs = 2 * (r / 32);
        v16i q0 = FN(wid)((l0 >> ls) & 0x0f) | FN(wid)((h0 >> hs) & 0x03) << 4;
        v16i q1 = FN(wid)((l1 >> ls) & 0x0f) | FN(wid)((h1 >> hs) & 0x03) << 4;
        float d0 = d * (float)scales[i / 16], d1 = d * (float)scales[i / 16 + 1];
        *lo = d0 * FN(fl)(q0 - 32); *hi = d1 * FN(fl)(q1 - 32);
        return;
    }
    }
}

static inline __attribute__((always_inline)) void FN(block32)(const int type, const uint8_t *row, long b, v16f *lo,
                                                              v16f *hi) {
    FN(block32at)(type, row, b, b / 8, (int)(b % 8), lo, hi);
}

#define TYPE_SWITCH(CALL)                                                                                        \
    switch (type) {                                                                                             \
    case 0: CALL(0); break; case 1: CALL(1); break; case 2: CALL(2); break; case 3: CALL(3); break;            \
    case 6: CALL(6); break; case 7: CALL(7); break; case 8: CALL(8); break; case 12: CALL(12); break;          \
    case 13: CALL(13); break; case 14: CALL(14); break;                                                         \
    }

static inline __attribute__((always_inline)) void FN(dequantize_t)(const int type, const uint8_t *row, float *y, long k) {
    for (long b = 0; b < k / 32; b++) {
        v16f lo, hi; FN(block32)(type, row, b, &lo, &hi);
        FN(st)(y + 32 * b, lo); FN(st)(y + 32 * b + 16, hi);
    }
}

static void FN(dequantize)(int type, const uint8_t *row, float *y, long k) {
#define DQ(T) FN(dequantize_t)(T, row, y, k)
    TYPE_SWITCH(DQ)
#undef DQ
}

// The 16 lanes of an accumulator summed as ((0..7 + 8..15) halves, and so on).
static inline __attribute__((always_inline)) float FN(lanesum)(v16f s) {
    v8f s8 = s.lo + s.hi;
    v4f s4 = s8.lo + s8.hi;
    v2f s2 = s4.lo + s4.hi;
    return s2.x + s2.y;
}

// One input row against weight rows n0..<n1, dequantised in registers block by block (no buffer): the same
// operations per output as the buffered path below (same values, same fused multiply-adds, same sums).
static inline __attribute__((always_inline)) void FN(gemv_t)(const int type, const uint8_t *w, long rowBytes, long n0,
                                                             long n1, long K, const float *x, float *out, int accumulate) {
    long n = n0;
    for (; n + GEMV_ROWS <= n1; n += GEMV_ROWS) {
        v16f a[GEMV_ROWS];
        for (int r = 0; r < GEMV_ROWS; r++) a[r] = (v16f)(0.0f);
        // The next group's rows (contiguous) are fetched into cache while this group is computed.
        const uint8_t *next = w + (n + GEMV_ROWS) * rowBytes;
        long lines = (GEMV_ROWS * rowBytes + 63) / 64, nb = K / 32;
        // Blocks in groups of a super-block's eight for the K-quants (its header decoded once), else one.
        const int group = type >= 12 ? 8 : 1;
        for (long b0 = 0; b0 < nb; b0 += group) {
#pragma clang loop unroll(full)
            for (int s = 0; s < group; s++) {
                long b = b0 + s;
                for (long l = b * lines / nb; l < (b + 1) * lines / nb; l++) __builtin_prefetch(next + 64 * l, 0, 3);
                v16f x0 = FN(ld)(x + 32 * b), x1 = FN(ld)(x + 32 * b + 16);
                for (int r = 0; r < GEMV_ROWS; r++) {
                    v16f lo, hi; FN(block32at)(type, w + (n + r) * rowBytes, b, b0 / 8, s, &lo, &hi);
                    a[r] = __builtin_elementwise_fma(lo, x0, a[r]);
                    a[r] = __builtin_elementwise_fma(hi, x1, a[r]);
                }
            }
        }
        for (int r = 0; r < GEMV_ROWS; r++) { float v = FN(lanesum)(a[r]); out[n + r] = accumulate ? out[n + r] + v : v; }
    }
    for (; n < n1; n++) {
        v16f a = (v16f)(0.0f);
        for (long b = 0; b < K / 32; b++) {
            v16f lo, hi; FN(block32)(type, w + n * rowBytes, b, &lo, &hi);
            a = __builtin_elementwise_fma(lo, FN(ld)(x + 32 * b), a);
            a = __builtin_elementwise_fma(hi, FN(ld)(x + 32 * b + 16), a);
        }
        float v = FN(lanesum)(a); out[n] = accumulate ? out[n] + v : v;
    }
}

static void FN(gemv)(int type, const uint8_t *w, long n0, long n1, long K, const float *x, float *out, int accumulate) {
    long rowBytes = adq_stored_row_bytes(type, K);
#define GV(T) FN(gemv_t)(T, w, rowBytes, n0, n1, K, x, out, accumulate)
    TYPE_SWITCH(GV)
#undef GV
}

// nr weight rows (dequantised, K apart in wb) against mr input rows: one 16-lane accumulator per pair,
// two fused multiply-adds per 32 values of k, then lanes summed as ((0..7 + 8..15) halves, and so on).
static inline __attribute__((always_inline)) void FN(micro)(const float *wb, long K, const float *x, long ldx,
                                                            float *out, long ldo, int accumulate, const int nr,
                                                            const int mr) {
    v16f a[4][4];
    for (int n = 0; n < nr; n++)
        for (int m = 0; m < mr; m++) a[n][m] = (v16f)(0.0f);
    for (long j = 0; j < K; j += 32) {
        for (int n = 0; n < nr; n++) {
            v16f w0 = FN(ld)(wb + n * K + j), w1 = FN(ld)(wb + n * K + j + 16);
            for (int m = 0; m < mr; m++) {
                a[n][m] = __builtin_elementwise_fma(w0, FN(ld)(x + m * ldx + j), a[n][m]);
                a[n][m] = __builtin_elementwise_fma(w1, FN(ld)(x + m * ldx + j + 16), a[n][m]);
            }
        }
    }
    for (int n = 0; n < nr; n++)
        for (int m = 0; m < mr; m++) {
            float v = FN(lanesum)(a[n][m]);
            float *o = out + m * ldo + n;
            *o = accumulate ? *o + v : v;
        }
}

static float *FN(scratch)(long count) {
    static __thread float *buffer = 0;
    static __thread long capacity = 0;
    if (count > capacity) {
        free(buffer);
        capacity = count;
        buffer = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64));
    }
    return buffer;
}

#define MICRO(NR, MR) FN(micro)(wb + i * K, K, xm, K, out + m * ldo + c0 + i, ldo, accumulate, NR, MR)

static void FN(gemm)(int type, const uint8_t *w, long n0, long n1, long K, const float *x, long M, float *out,
                     long ldo, int accumulate) {
    long rowBytes = adq_stored_row_bytes(type, K);
    if (M == 1) { FN(gemv)(type, w, n0, n1, K, x, out, accumulate); return; }
    // Rows of weights dequantised together (kept in L2) and input rows taken together (reused from L2 over
    // the chunk); a weight chunk is dequantised once per block of input rows.
    long chunk = (M <= 8 ? 8192 : 65536) / K; chunk = chunk < 4 ? 4 : chunk > 64 ? 64 : chunk / 4 * 4;
    long mBlock = 1048576 / (K * 4) / MROWS * MROWS; if (mBlock < MROWS) mBlock = MROWS;
    float *wb0 = FN(scratch)(chunk * K);
    for (long mb = 0; mb < M; mb += mBlock) {
        long mEnd = mb + mBlock < M ? mb + mBlock : M;
        for (long c0 = n0; c0 < n1; c0 += chunk) {
            long nc = c0 + chunk < n1 ? chunk : n1 - c0;
            for (long i = 0; i < nc; i++) FN(dequantize)(type, w + (c0 + i) * rowBytes, wb0 + i * K, K);
            const float *wb = wb0;
            long m = mb;
            for (; m < mEnd; m += MROWS) {
                const float *xm = x + m * K;
                long mr = mEnd - m < MROWS ? mEnd - m : MROWS;
                for (long i = 0; i < nc; i += ROWS) {
                    long nr = nc - i < ROWS ? nc - i : ROWS;
                    if (nr == ROWS && mr == MROWS) { MICRO(ROWS, MROWS); continue; }
                    for (long r = 0; r < nr; r++) {
                        const float *wr = wb + (i + r) * K;
                        float *o = out + m * ldo + c0 + i + r;
                        switch (mr) {
                        case 1: FN(micro)(wr, K, xm, K, o, ldo, accumulate, 1, 1); break;
                        case 2: FN(micro)(wr, K, xm, K, o, ldo, accumulate, 1, 2); break;
                        case 3: FN(micro)(wr, K, xm, K, o, ldo, accumulate, 1, 3); break;
                        default: FN(micro)(wr, K, xm, K, o, ldo, accumulate, 1, 4); break;
                        }
                    }
                }
            }
        }
    }
}
#undef MICRO
