// AVX2 path, float part (16-bit activations): int4 weights x float32 activations, rows layout.
//
// Every tiling keeps one order per (row, token): eight float lanes, lane l accumulating
// x[j + l] * (q[j + l] * scale) for j = 0, 8, 16, ... over the width, the lanes summed at the end
// (q * scale is exact in float32: a 4-bit integer times an fp16 value). One or two tokens dequantize
// the weights in registers; more pass in threes over four rows dequantized into an L1 scratch, blocked
// along K (so the scratch stays in L1 for any width) and along tokens (so their inputs stay in L2).
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstring>

#include "w4ax_core.h"
#include "w4ax_x86_avx2_common.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace dyq {
namespace avx2 {
namespace {

using avx2_common::hsum4;
using avx2_common::lesser;

// y = sums + bias for up to four consecutive outputs of one token.
inline void store_f32(const F32Problem& p, int64_t t, int64_t col0, int64_t cols, __m128 sums) {
  float* dst = p.out + t * p.w.n + col0;
  const float* bias = p.w.bias;
  if (cols == 4) {
    _mm_storeu_ps(dst, bias ? _mm_add_ps(sums, _mm_loadu_ps(bias + col0)) : sums);
    return;
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, sums);
  for (int64_t r = 0; r < cols; ++r) dst[r] = lanes[r] + (bias ? bias[col0 + r] : 0.0f);
}

// Eight int4 codes (q + 8) of one packed run, as int32 lanes: the low nibbles (values b..b+7) or
// the high ones (values G/2+b..).
inline __m256i codes8(const uint8_t* bytes) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes)));
}

// (code - 8) * scale, exactly: the product of the code and the scale minus 8 scales, rounded once.
inline __m256 dequant8(__m256i codes, __m256 scale, __m256 minus8scale) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(codes), scale, minus8scale);
}

// --- one or two tokens, weights dequantized in registers ---------------------------------------------

// `next`: a later tile's packed rows (contiguous), prefetched two cache lines a group, or nullptr.
template <int T>
inline void tile_registers(const uint8_t* const (&w)[4], const uint16_t* const (&s)[4], int64_t groups,
                           int64_t group, const float* const (&x)[T], const uint8_t* next, __m256 (&acc)[4][T]) {
  const __m256i mask = _mm256_set1_epi32(0x0F);
  const int64_t half = group / 2;
  for (int r = 0; r < 4; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    if (next) {
      _mm_prefetch(reinterpret_cast<const char*>(next + g * 2 * group), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(next + g * 2 * group + 64), _MM_HINT_T0);
    }
    __m256 sv[4], m8[4];
    for (int r = 0; r < 4; ++r) {
      sv[r] = _mm256_set1_ps(_cvtsh_ss(s[r][g]));
      m8[r] = _mm256_mul_ps(sv[r], _mm256_set1_ps(-8.0f));
    }
    for (int high = 0; high < 2; ++high) {
      for (int64_t b = 0; b < half; b += 8) {
        const int64_t v0 = g * group + high * half + b;
        __m256 xv[T];
        for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(x[t] + v0);
        for (int r = 0; r < 4; ++r) {
          const __m256i bytes = codes8(w[r] + g * half + b);
          const __m256i codes = high ? _mm256_srli_epi32(bytes, 4) : _mm256_and_si256(bytes, mask);
          const __m256 wf = dequant8(codes, sv[r], m8[r]);
          for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(xv[t], wf, acc[r][t]);
        }
      }
    }
  }
}

constexpr int64_t kPrefetchBytes = 4096;  // how far ahead the weights are prefetched

void f32_registers(const F32Problem& p, int64_t n0, int64_t n1) {
  const int64_t padded = p.w.padded, group = p.w.group, groups = padded / group;
  for (int64_t col0 = n0; col0 < n1; col0 += 4) {
    const int64_t cols = lesser(4, n1 - col0);
    const uint8_t* w[4];
    const uint16_t* s[4];
    for (int64_t r = 0; r < 4; ++r) {  // missing rows repeat the first; their outputs are not stored
      const int64_t row = col0 + (r < cols ? r : 0);
      w[r] = p.w.packed + row * (padded / 2);
      s[r] = p.w.scales + row * groups;
    }
    const int64_t ahead = 4 * ((kPrefetchBytes + 2 * padded - 1) / (2 * padded));
    const uint8_t* next = col0 + ahead + 4 <= n1 ? p.w.packed + (col0 + ahead) * (padded / 2) : nullptr;
    int64_t t = 0;
    for (; t + 2 <= p.m; t += 2) {
      const float* const x[2] = {p.x + t * padded, p.x + (t + 1) * padded};
      __m256 acc[4][2];
      tile_registers<2>(w, s, groups, group, x, t == 0 ? next : nullptr, acc);
      store_f32(p, t, col0, cols, hsum4(acc[0][0], acc[1][0], acc[2][0], acc[3][0]));
      store_f32(p, t + 1, col0, cols, hsum4(acc[0][1], acc[1][1], acc[2][1], acc[3][1]));
    }
    if (t < p.m) {
      const float* const x[1] = {p.x + t * padded};
      __m256 acc[4][1];
      tile_registers<1>(w, s, groups, group, x, t == 0 ? next : nullptr, acc);
      store_f32(p, t, col0, cols, hsum4(acc[0][0], acc[1][0], acc[2][0], acc[3][0]));
    }
  }
}

// --- three tokens at a time over a dequantized scratch ---------------------------------------------

constexpr int64_t kKBlock = 512;     // values per scratch row: 4 rows x 512 x 4 B = 8 KB
constexpr int64_t kTokenBlock = 48;  // tokens per pass over a panel: 48 x 512 x 4 B of inputs
constexpr int64_t kF32Tokens = 3;

// Groups [g0, g1) of one packed row, dequantized to float in natural order.
void dequant_groups(const uint8_t* packed, const uint16_t* scales, int64_t g0, int64_t g1, int64_t group,
                    float* dst) {
  const __m256i mask = _mm256_set1_epi32(0x0F);
  const int64_t half = group / 2;
  for (int64_t g = g0; g < g1; ++g) {
    const __m256 sv = _mm256_set1_ps(_cvtsh_ss(scales[g]));
    const __m256 m8 = _mm256_mul_ps(sv, _mm256_set1_ps(-8.0f));
    float* out = dst + (g - g0) * group;
    for (int64_t b = 0; b < half; b += 8) {
      const __m256i bytes = codes8(packed + g * half + b);
      _mm256_storeu_ps(out + b, dequant8(_mm256_and_si256(bytes, mask), sv, m8));
      _mm256_storeu_ps(out + half + b, dequant8(_mm256_srli_epi32(bytes, 4), sv, m8));
    }
  }
}

// Four scratch rows (stride ldw) x three tokens over `len` values, continuing the accumulators.
__attribute__((always_inline)) inline void micro_4x3(const float* x0, const float* x1, const float* x2,
                                                     const float* w, int64_t ldw, int64_t len,
                                                     __m256 (&acc)[4][3]) {
  __m256 c00 = acc[0][0], c01 = acc[0][1], c02 = acc[0][2], c10 = acc[1][0], c11 = acc[1][1], c12 = acc[1][2];
  __m256 c20 = acc[2][0], c21 = acc[2][1], c22 = acc[2][2], c30 = acc[3][0], c31 = acc[3][1], c32 = acc[3][2];
  const float* w1 = w + ldw;
  const float* w2 = w + 2 * ldw;
  const float* w3 = w + 3 * ldw;
  for (int64_t j = 0; j < len; j += 8) {
    const __m256 a = _mm256_loadu_ps(x0 + j), b = _mm256_loadu_ps(x1 + j), c = _mm256_loadu_ps(x2 + j);
    auto row = [&](const float* wr, __m256& r0, __m256& r1, __m256& r2) {
      const __m256 v = _mm256_loadu_ps(wr + j);
      r0 = _mm256_fmadd_ps(a, v, r0);
      r1 = _mm256_fmadd_ps(b, v, r1);
      r2 = _mm256_fmadd_ps(c, v, r2);
    };
    row(w, c00, c01, c02);
    row(w1, c10, c11, c12);
    row(w2, c20, c21, c22);
    row(w3, c30, c31, c32);
  }
  acc[0][0] = c00;
  acc[0][1] = c01;
  acc[0][2] = c02;
  acc[1][0] = c10;
  acc[1][1] = c11;
  acc[1][2] = c12;
  acc[2][0] = c20;
  acc[2][1] = c21;
  acc[2][2] = c22;
  acc[3][0] = c30;
  acc[3][1] = c31;
  acc[3][2] = c32;
}

void f32_blocked(const F32Problem& p, int64_t n0, int64_t n1) {
  const int64_t padded = p.w.padded, group = p.w.group, groups = padded / group;
  const int64_t kb = kKBlock >= group ? kKBlock / group * group : group;
  float* w = static_cast<float*>(thread_scratch(0, static_cast<size_t>(4 * kb) * sizeof(float)));
  auto* carry = static_cast<__m256*>(thread_scratch(1, sizeof(__m256) * 12 * (kTokenBlock / kF32Tokens)));
  for (int64_t t0 = 0; t0 < p.m; t0 += kTokenBlock) {
    const int64_t t1 = lesser(p.m, t0 + kTokenBlock);
    for (int64_t col0 = n0; col0 < n1; col0 += 4) {
      const int64_t cols = lesser(4, n1 - col0);
      for (int64_t k0 = 0; k0 < padded; k0 += kb) {
        const int64_t len = lesser(kb, padded - k0), g0 = k0 / group;
        for (int64_t r = 0; r < 4; ++r) {
          float* dst = w + r * kb;
          if (r < cols) {
            const int64_t row = col0 + r;
            dequant_groups(p.w.packed + row * (padded / 2), p.w.scales + row * groups, g0, g0 + len / group, group,
                           dst);
          } else {
            std::memset(dst, 0, static_cast<size_t>(len) * sizeof(float));
          }
        }
        for (int64_t t = t0; t < t1; t += kF32Tokens) {
          const int64_t tokens = lesser(kF32Tokens, t1 - t);
          const float* x0 = p.x + t * padded + k0;
          const float* x1 = tokens > 1 ? x0 + padded : x0;  // missing tokens repeat the first; not stored
          const float* x2 = tokens > 2 ? x0 + 2 * padded : x0;
          __m256 acc[4][3];
          __m256* saved = carry + 12 * ((t - t0) / kF32Tokens);
          for (int r = 0; r < 4; ++r)
            for (int u = 0; u < 3; ++u) acc[r][u] = k0 == 0 ? _mm256_setzero_ps() : saved[r * 3 + u];
          micro_4x3(x0, x1, x2, w, kb, len, acc);
          if (k0 + len < padded) {
            for (int r = 0; r < 4; ++r)
              for (int u = 0; u < 3; ++u) saved[r * 3 + u] = acc[r][u];
            continue;
          }
          for (int64_t u = 0; u < tokens; ++u)
            store_f32(p, t + u, col0, cols, hsum4(acc[0][u], acc[1][u], acc[2][u], acc[3][u]));
        }
      }
    }
  }
}

}  // namespace

void f32_rows(const F32Problem& p, int64_t n0, int64_t n1) {
  if (p.m <= 2)
    f32_registers(p, n0, n1);
  else
    f32_blocked(p, n0, n1);
}

}  // namespace avx2
}  // namespace dyq

#pragma GCC pop_options

#endif  // x86-64
