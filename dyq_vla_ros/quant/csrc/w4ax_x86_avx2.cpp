// AVX2 path, integer part: the rows layout (quantize_int4's storage, unchanged), per-token activation
// quantization for every x86 path and an int4 x uint8 kernel with group scales (the float kernel is in
// w4ax_x86_avx2_f32.cpp).
//
// Integer path: per (row, token, group) eight int32 lane sums (lane l covers bytes 4l..4l+3 of every
// 32-value run), each converted and multiplied by the group scale into its own float lane, the lanes
// summed at the end. The tilings below (one or two tokens with weights unpacked in registers; many
// tokens over a 16-row int8 panel in L1) all keep that per-lane order, so every tiling gives the same
// bits.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cmath>
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

// Eight-lane int32 vectors with values in [0, 255], four of them to 32 uint8 in order.
inline __m256i pack_u8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packus_epi32(a, b);
  const __m256i cd = _mm256_packus_epi32(c, d);
  const __m256i abcd = _mm256_packus_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// fp16 scales of `count` groups to float.
inline void scales_to_float(const uint16_t* src, int64_t count, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < count; ++i) dst[i] = _cvtsh_ss(src[i]);
}

}  // namespace

// scale = max(hi - lo, 1e-8) / (2^bits - 1), zero = round(-lo / scale), q = clamp(round(x / scale) + zero):
// quant/activations.py's rounding, bit for bit (division, not a reciprocal multiply).
void quantize(const float* x, int64_t k, int64_t padded, int64_t r0, int64_t r1, int bits, uint8_t* qp, float* sp,
              float* zp) {
  const float levels = static_cast<float>((1 << bits) - 1);
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * k;
    __m256 lov = _mm256_set1_ps(row[0]), hiv = lov;
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
      const __m256 v = _mm256_loadu_ps(row + i);
      lov = _mm256_min_ps(lov, v);
      hiv = _mm256_max_ps(hiv, v);
    }
    alignas(32) float lanes_lo[8], lanes_hi[8];
    _mm256_store_ps(lanes_lo, lov);
    _mm256_store_ps(lanes_hi, hiv);
    float lo = lanes_lo[0], hi = lanes_hi[0];
    for (int l = 1; l < 8; ++l) {
      lo = lanes_lo[l] < lo ? lanes_lo[l] : lo;
      hi = hi < lanes_hi[l] ? lanes_hi[l] : hi;
    }
    for (; i < k; ++i) {
      lo = row[i] < lo ? row[i] : lo;
      hi = hi < row[i] ? row[i] : hi;
    }
    const float range = hi - lo;
    const float s = (range < 1e-8f ? 1e-8f : range) / levels;
    const float z = std::nearbyint(-lo / s);
    uint8_t* out = qp + r * padded;
    const __m256 sv = _mm256_set1_ps(s), zv = _mm256_set1_ps(z), top = _mm256_set1_ps(levels);
    const __m256 bottom = _mm256_setzero_ps();
    auto level = [&](const float* src) {
      const __m256 v =
          _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(src), sv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, zv), bottom), top));
    };
    i = 0;
    for (; i + 32 <= k; i += 32) {
      const __m256i packed = pack_u8(level(row + i), level(row + i + 8), level(row + i + 16), level(row + i + 24));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), packed);
    }
    for (; i < k; ++i) {
      float v = std::nearbyint(row[i] / s) + z;
      v = v < 0.0f ? 0.0f : v;
      out[i] = static_cast<uint8_t>(levels < v ? levels : v);
    }
    std::memset(out + k, 0, static_cast<size_t>(padded - k));  // padding meets zero weights
    sp[r] = s;
    zp[r] = z;
  }
}

namespace {

// y = scale * (sums - zero * corr) + bias for up to four consecutive outputs of one token.
inline void store_u8(const U8Problem& p, int64_t t, int64_t col0, int64_t cols, __m128 sums) {
  float* dst = p.out + t * p.w.n + col0;
  if (cols == 4) {
    __m128 y = _mm_fnmadd_ps(_mm_set1_ps(p.xz[t]), _mm_loadu_ps(p.w.corr + col0), sums);
    y = _mm_mul_ps(_mm_set1_ps(p.xs[t]), y);
    if (p.w.bias) y = _mm_add_ps(y, _mm_loadu_ps(p.w.bias + col0));
    _mm_storeu_ps(dst, y);
    return;
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, sums);
  for (int64_t r = 0; r < cols; ++r) {
    const int64_t col = col0 + r;
    const float centred = lanes[r] - p.xz[t] * p.w.corr[col];
    dst[r] = p.xs[t] * centred + (p.w.bias ? p.w.bias[col] : 0.0f);
  }
}

// --- few tokens: four packed rows x T tokens, weights unpacked in registers ---------------------------

// Byte j of a group's packed run holds values j and G/2 + j: a 32-byte load gives two 32-value runs.
// GC: 32-byte runs per group (0: runtime).
// `next`: the next tile's packed rows (one contiguous run of 2 group lengths per group here), prefetched
// two cache lines a group so that cold weights stream from memory while this tile computes; or nullptr.
template <int T, int GC>
inline void tile_registers(const uint8_t* const (&w)[4], const float* s, int64_t groups, int64_t group,
                           const uint8_t* const (&x)[T], const uint8_t* next, __m256 (&acc)[4][T]) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
  const int64_t half = group / 2, runs = GC ? GC : half / 32;
  for (int r = 0; r < 4; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    if (next) {
      _mm_prefetch(reinterpret_cast<const char*>(next + g * 2 * group), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(next + g * 2 * group + 64), _MM_HINT_T0);
    }
    __m256i sums[4][T];
    for (int64_t c = 0; c < runs; ++c) {
      const int64_t v0 = g * group + c * 32;
      __m256i xl[T], xh[T];
      for (int t = 0; t < T; ++t) {
        xl[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[t] + v0));
        xh[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[t] + v0 + half));
      }
      for (int r = 0; r < 4; ++r) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r] + g * half + c * 32));
        const __m256i lo = _mm256_sub_epi8(_mm256_and_si256(v, low_mask), eight);
        const __m256i hi = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 4), low_mask), eight);
        for (int t = 0; t < T; ++t) {
          // each vpmaddubsw lane is at most 2 * 255 * 8 = 4080: two add in int16 without overflow
          const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(xl[t], lo), _mm256_maddubs_epi16(xh[t], hi));
          const __m256i quads = _mm256_madd_epi16(pairs, ones);
          sums[r][t] = c == 0 ? quads : _mm256_add_epi32(sums[r][t], quads);
        }
      }
    }
    for (int r = 0; r < 4; ++r) {
      const __m256 sv = _mm256_broadcast_ss(s + r * groups + g);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[r][t]), sv, acc[r][t]);
    }
  }
}

template <int T>
inline void tile_registers_any(const uint8_t* const (&w)[4], const float* s, int64_t groups, int64_t group,
                               const uint8_t* const (&x)[T], const uint8_t* next, __m256 (&acc)[4][T]) {
  if (group == 64)
    tile_registers<T, 1>(w, s, groups, group, x, next, acc);
  else if (group == 128)
    tile_registers<T, 2>(w, s, groups, group, x, next, acc);
  else
    tile_registers<T, 0>(w, s, groups, group, x, next, acc);
}

constexpr int64_t kPrefetchBytes = 4096;

void u8_registers(const U8Problem& p, int64_t n0, int64_t n1) {
  const int64_t padded = p.w.padded, group = p.w.group, groups = padded / group;
  float* s = static_cast<float*>(thread_scratch(1, static_cast<size_t>(4 * groups) * sizeof(float)));
  for (int64_t col0 = n0; col0 < n1; col0 += 4) {
    const int64_t cols = lesser(4, n1 - col0);
    const uint8_t* w[4];
    for (int64_t r = 0; r < 4; ++r) {  // missing rows repeat the first; their outputs are not stored
      const int64_t row = col0 + (r < cols ? r : 0);
      w[r] = p.w.packed + row * (padded / 2);
      scales_to_float(p.w.scales + row * groups, groups, s + r * groups);
    }
    // a later tile's rows (at least kPrefetchBytes on), fetched during the first token pass
    const int64_t ahead = 4 * ((kPrefetchBytes + 2 * padded - 1) / (2 * padded));
    const uint8_t* next = col0 + ahead + 4 <= n1 ? p.w.packed + (col0 + ahead) * (padded / 2) : nullptr;
    int64_t t = 0;
    for (; t + 2 <= p.m; t += 2) {
      const uint8_t* const x[2] = {p.q + t * padded, p.q + (t + 1) * padded};
      __m256 acc[4][2];
      tile_registers_any<2>(w, s, groups, group, x, t == 0 ? next : nullptr, acc);
      store_u8(p, t, col0, cols, hsum4(acc[0][0], acc[1][0], acc[2][0], acc[3][0]));
      store_u8(p, t + 1, col0, cols, hsum4(acc[0][1], acc[1][1], acc[2][1], acc[3][1]));
    }
    if (t < p.m) {
      const uint8_t* const x[1] = {p.q + t * padded};
      __m256 acc[4][1];
      tile_registers_any<1>(w, s, groups, group, x, t == 0 ? next : nullptr, acc);
      store_u8(p, t, col0, cols, hsum4(acc[0][0], acc[1][0], acc[2][0], acc[3][0]));
    }
  }
}

// --- many tokens: a 16-row panel unpacked to int8 in L1, 4 rows x 2 tokens per pass -----------------

constexpr int64_t kPanelRows = 16;

// Signed int8 values of one packed row, in natural order.
void unpack_row(const uint8_t* packed, int64_t padded, int64_t group, int8_t* out) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
  const int64_t half = group / 2;
  for (int64_t g = 0; g < padded; g += group) {
    for (int64_t j = 0; j < half; j += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed + g / 2 + j));
      const __m256i lo = _mm256_sub_epi8(_mm256_and_si256(v, low_mask), eight);
      const __m256i hi = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 4), low_mask), eight);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + g + j), lo);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + g + half + j), hi);
    }
  }
}

// Four unpacked rows x two tokens over the whole width. GC: 64-value chunks per group (0: runtime).
template <int GC>
__attribute__((always_inline)) inline void micro_4x2(const uint8_t* x0, const uint8_t* x1, const int8_t* w,
                                                     int64_t padded, const float* s, int64_t groups, int64_t gc,
                                                     __m256 (&acc)[4][2]) {
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t chunks = GC ? GC : gc;
  const int8_t* w1 = w + padded;
  const int8_t* w2 = w + 2 * padded;
  const int8_t* w3 = w + 3 * padded;
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int64_t g = 0; g < groups; ++g) {
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,
            a31 = a00;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t j = (g * chunks + c) * 64;
      const __m256i xa0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0 + j));
      const __m256i xb0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0 + j + 32));
      const __m256i xa1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1 + j));
      const __m256i xb1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1 + j + 32));
      auto row = [&](const int8_t* wr, __m256i& s0, __m256i& s1) {
        const __m256i wa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + j));
        const __m256i wb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + j + 32));
        s0 = _mm256_add_epi32(
            s0, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(xa0, wa), _mm256_maddubs_epi16(xb0, wb)), ones));
        s1 = _mm256_add_epi32(
            s1, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(xa1, wa), _mm256_maddubs_epi16(xb1, wb)), ones));
      };
      row(w, a00, a01);
      row(w1, a10, a11);
      row(w2, a20, a21);
      row(w3, a30, a31);
    }
    const __m256 s0 = _mm256_set1_ps(s[g]), s1 = _mm256_set1_ps(s[groups + g]);
    const __m256 s2 = _mm256_set1_ps(s[2 * groups + g]), s3 = _mm256_set1_ps(s[3 * groups + g]);
    c00 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a00), s0, c00);
    c01 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a01), s0, c01);
    c10 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a10), s1, c10);
    c11 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a11), s1, c11);
    c20 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a20), s2, c20);
    c21 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a21), s2, c21);
    c30 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a30), s3, c30);
    c31 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a31), s3, c31);
  }
  acc[0][0] = c00;
  acc[0][1] = c01;
  acc[1][0] = c10;
  acc[1][1] = c11;
  acc[2][0] = c20;
  acc[2][1] = c21;
  acc[3][0] = c30;
  acc[3][1] = c31;
}

// One four-row block of a panel against every token, two at a time.
template <int GC>
void block_all_tokens(const U8Problem& p, const int8_t* w, const float* s, int64_t col0, int64_t cols) {
  const int64_t padded = p.w.padded, groups = padded / p.w.group, gc = p.w.group / 64;
  for (int64_t t = 0; t < p.m; t += 2) {
    const int64_t tokens = lesser(2, p.m - t);
    const uint8_t* x0 = p.q + t * padded;
    const uint8_t* x1 = tokens == 2 ? x0 + padded : x0;
    __m256 acc[4][2];
    micro_4x2<GC>(x0, x1, w, padded, s, groups, gc, acc);
    for (int64_t u = 0; u < tokens; ++u)
      store_u8(p, t + u, col0, cols, hsum4(acc[0][u], acc[1][u], acc[2][u], acc[3][u]));
  }
}

void u8_panels(const U8Problem& p, int64_t n0, int64_t n1) {
  const int64_t padded = p.w.padded, group = p.w.group, groups = padded / group;
  int8_t* w = static_cast<int8_t*>(thread_scratch(0, static_cast<size_t>(kPanelRows * padded)));
  float* s = static_cast<float*>(thread_scratch(1, static_cast<size_t>(kPanelRows * groups) * sizeof(float)));
  for (int64_t p0 = n0; p0 < n1; p0 += kPanelRows) {
    const int64_t rows = lesser(kPanelRows, n1 - p0), blocks = (rows + 3) / 4;
    for (int64_t r = 0; r < rows; ++r) {
      unpack_row(p.w.packed + (p0 + r) * (padded / 2), padded, group, w + r * padded);
      scales_to_float(p.w.scales + (p0 + r) * groups, groups, s + r * groups);
    }
    for (int64_t r = rows; r < blocks * 4; ++r) {  // the last block's missing rows compute zeros
      std::memset(w + r * padded, 0, static_cast<size_t>(padded));
      std::memset(s + r * groups, 0, static_cast<size_t>(groups) * sizeof(float));
    }
    for (int64_t b = 0; b < blocks; ++b) {
      const int8_t* wb = w + b * 4 * padded;
      const float* sb = s + b * 4 * groups;
      const int64_t col0 = p0 + b * 4, cols = lesser(4, rows - b * 4);
      switch (group / 64) {
        case 1:
          block_all_tokens<1>(p, wb, sb, col0, cols);
          break;
        case 2:
          block_all_tokens<2>(p, wb, sb, col0, cols);
          break;
        default:
          block_all_tokens<0>(p, wb, sb, col0, cols);
          break;
      }
    }
  }
}

}  // namespace

// Up to this many tokens the weights are unpacked in registers; beyond, into an L1 panel.
constexpr int64_t kRegisterTokens = 11;

void u8_rows(const U8Problem& p, int64_t n0, int64_t n1) {
  if (p.m <= kRegisterTokens)
    u8_registers(p, n0, n1);
  else
    u8_panels(p, n0, n1);
}

}  // namespace avx2
}  // namespace dyq

#pragma GCC pop_options

#endif  // x86-64
