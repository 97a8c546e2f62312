// Products with GGUF-quantised weights: each chunk of weight rows is dequantised (to gguf-py's exact values)
// into a small buffer that stays in cache, then multiplied with float32 inputs. The bodies are in
// quant_body.h, compiled here for AVX2 + FMA and, chosen at run time, for AVX-512.
#include "cquant.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#pragma clang fp contract(off)
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16f __attribute__((ext_vector_type(16)));
typedef float v8f __attribute__((ext_vector_type(8)));
typedef float v4f __attribute__((ext_vector_type(4)));
typedef float v2f __attribute__((ext_vector_type(2)));
typedef int32_t v16i __attribute__((ext_vector_type(16)));
typedef uint32_t v16u __attribute__((ext_vector_type(16)));
typedef uint8_t v16b __attribute__((ext_vector_type(16)));
typedef int8_t v16c __attribute__((ext_vector_type(16)));
typedef _Float16 v16h __attribute__((ext_vector_type(16)));

long adq_block_values(int type) {
    switch (type) {
    case 0: case 1: return 1;
    case 2: case 3: case 6: case 7: case 8: return 32;
    case 12: case 13: case 14: return 256;
    default: return 0;
    }
}

long adq_row_bytes(int type, long k) {
    static const long bytes[15] = {4, 2, 18, 20, 0, 0, 22, 24, 34, 0, 0, 0, 144, 176, 210};
    long per = adq_block_values(type);
    if (per == 0 || k % per != 0) return 0;
    return k / per * bytes[type];
}

long adq_stored_row_bytes(int type, long k) {
    static const long bytes[15] = {4, 2, 20, 24, 0, 0, 24, 28, 36, 0, 0, 0, 144, 176, 210};
    long per = adq_block_values(type);
    if (per == 0 || k % per != 0) return 0;
    return k / per * bytes[type];
}

void adq_repack_row(int type, const uint8_t *src, uint8_t *dst, long k) {
    long gguf = adq_row_bytes(type, k) / (k / adq_block_values(type)), held = adq_stored_row_bytes(type, k) / (k / adq_block_values(type));
    int scales = type == 3 || type == 7 ? 2 : 1;
    if (type != 2 && type != 3 && type != 6 && type != 7 && type != 8) { memcpy(dst, src, (size_t)adq_row_bytes(type, k)); return; }
    for (long b = 0; b < k / 32; b++, src += gguf, dst += held) {
        for (int i = 0; i < scales; i++) {
            _Float16 h; memcpy(&h, src + 2 * i, 2);
            float f = (float)h;
            memcpy(dst + 4 * i, &f, 4);
        }
        memcpy(dst + 4 * scales, src + 2 * scales, (size_t)(gguf - 2 * scales));
    }
}

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define SUF _avx2
#define ROWS 1
#define MROWS 4
#define GEMV_ROWS 2
#define WIDE 0
#include "quant_body.h"
#undef SUF
#undef ROWS
#undef MROWS
#undef GEMV_ROWS
#undef WIDE
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)
#define SUF _avx512
#define ROWS 4
#define MROWS 3
#define GEMV_ROWS 8
#define WIDE 1
#include "quant_body.h"
#undef SUF
#undef ROWS
#undef MROWS
#undef GEMV_ROWS
#undef WIDE
#pragma clang attribute pop

static int avx512_answer = -1;

static int cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

int adq_uses_avx512(void) {
    if (avx512_answer < 0) {
        const char *off = getenv("AUTODIDACT_NO_AVX512");  // set and not empty: the AVX2 kernels
        avx512_answer = cpu_has_avx512() && (off == NULL || off[0] == 0);
    }
    return avx512_answer;
}

int adq_set_avx512(int on) {
    avx512_answer = on && cpu_has_avx512();
    return avx512_answer;
}

void adq_dequantize_row(int type, const uint8_t *row, float *y, long k) {
    if (adq_uses_avx512()) dequantize_avx512(type, row, y, k);
    else dequantize_avx2(type, row, y, k);
}

void adq_gemm(int type, const uint8_t *w, long n0, long n1, long k, const float *x, long M, float *out, long ldo,
              int accumulate) {
    if (M <= 0 || n1 <= n0) return;  // w is in the held layout
    if (adq_uses_avx512()) gemm_avx512(type, w, n0, n1, k, x, M, out, ldo, accumulate);
    else gemm_avx2(type, w, n0, n1, k, x, M, out, ldo, accumulate);
}
