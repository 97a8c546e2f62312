#ifndef AUTODIDACT_CQUANT_H
#define AUTODIDACT_CQUANT_H
#include <stdint.h>

// Matrix products that read GGUF weight blocks directly (the frozen models' inference path).
//
// `type` is the ggml type code (0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 6 Q5_0, 7 Q5_1, 8 Q8_0, 12 Q4_K, 13 Q5_K,
// 14 Q6_K). A weight matrix is `rows` rows of `k` values, each row `adq_row_bytes(type, k)` bytes of
// consecutive blocks (GGUF's layout). Dequantised values are bit for bit those of gguf-py's `dequantize`.

#ifdef __cplusplus
extern "C" {
#endif

// Values per block of `type` (1 for F32/F16, 32, or 256); 0 for an unknown type.
long adq_block_values(int type);
// Bytes of one row of `k` values (k a multiple of the block size); 0 for an unknown type.
long adq_row_bytes(int type, long k);

// Blocks are held in memory as GGUF stores them, except that the 32-value types keep their f16 scale (and
// minimum) as float32, converted once at load: Q4_0 [d][16 B] (20 bytes), Q4_1 [d][m][16 B] (24), Q5_0
// [d][qh][16 B] (24), Q5_1 [d][m][qh][16 B] (28), Q8_0 [d][32 B] (36). The values are unchanged.
long adq_stored_row_bytes(int type, long k);
// Converts one row of GGUF blocks (`adq_row_bytes`) into the held layout (`adq_stored_row_bytes`).
void adq_repack_row(int type, const uint8_t *src, uint8_t *dst, long k);

// Dequantises one held row of `k` values into y.
void adq_dequantize_row(int type, const uint8_t *row, float *y, long k);

// With w in the held layout: out[m * ldo + n] (+)= sum_k x[m * k + j] * w[n][j] for m < M and n0 <= n < n1 (k a multiple of 32).
// Each output is computed the same way whatever M, n0, n1 or the CPU's vector width: 32 lanes of fused
// multiply-adds over k in order (lane j takes the values j, j + 32, ...), then a fixed summation tree.
void adq_gemm(int type, const uint8_t *w, long n0, long n1, long k, const float *x, long M, float *out, long ldo,
              int accumulate);

// Whether the AVX-512 kernels run (the CPU has AVX-512 F/BW/VL/DQ and AUTODIDACT_NO_AVX512 is unset or empty).
int adq_uses_avx512(void);
// Chooses the AVX-512 kernels (when the CPU has them) or the AVX2 ones from now on, for tests that compare
// the two; returns whether AVX-512 runs.
int adq_set_avx512(int on);

#ifdef __cplusplus
}
#endif
#endif
