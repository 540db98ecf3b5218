// AVX-512 VNNI path: the cols kernels (w4ax_cols.inc) on zmm vectors, 16 output rows per tile.
// Built with -DDYQ_SIMDE the same source runs on an AVX2 CPU, SIMDe emulating the AVX-512 intrinsics
// (the test driver); two conversions SIMDe lacks are then composed from 256-bit halves.
#if defined(__x86_64__) || defined(_M_X64)

#include <cstring>

#include "w4ax_core.h"

#if defined(DYQ_SIMDE)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>
#else
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")
#endif

namespace dyq {
namespace avx512vnni {
namespace {

struct V {
  static constexpr int64_t kRows = 16;
  static constexpr int64_t kTokens = 6;     // integer tile: 6 tokens x 2 int32 sums + 6 float sums
  static constexpr int kF32Tokens = 8;      // float tile: 8 accumulators
  using I = __m512i;
  using F = __m512;
  static I zero() { return _mm512_setzero_si512(); }
  static I load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static I bcast4(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static I low_nibbles(I v) { return _mm512_and_si512(_mm512_slli_epi16(v, 4), _mm512_set1_epi8(static_cast<char>(0xF0))); }
  static I high_nibbles(I v) { return _mm512_and_si512(v, _mm512_set1_epi8(static_cast<char>(0xF0))); }
  static constexpr float kZeroOffset = 0.0f;          // activation codes stored as they are
  static constexpr float kWeightScale = 1.0f / 16.0f;  // the weight bytes hold 16 q
  static void dot2(I& lo_sum, I& hi_sum, I xl, I lo, I xh, I hi) {
    lo_sum = dot(lo_sum, xl, lo);
    hi_sum = dot(hi_sum, xh, hi);
  }
  static void settle(I&, I&) {}
  static I group_sum(I lo_sum, I hi_sum) { return add(lo_sum, hi_sum); }
  static I dot(I acc, I u8, I s8) { return _mm512_dpbusd_epi32(acc, u8, s8); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  // the nibble of byte B (low or high) of every 32-bit lane, as q * 2^28 (a shift and a mask: the
  // arithmetic shift back would need an intrinsic SIMDe lacks; kNibbleScale takes the 2^28 out)
  static constexpr float kNibbleScale = 1.0f / 268435456.0f;
  template <int B, bool High>
  static I nibble(I v) {
    return _mm512_and_si512(_mm512_slli_epi32(v, (High ? 24 : 28) - 8 * B), _mm512_set1_epi32(static_cast<int>(0xF0000000u)));
  }
  static F fzero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F loadf(const float* p) { return _mm512_loadu_ps(p); }
  static void storef(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F addf(F a, F b) { return _mm512_add_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
#if defined(DYQ_SIMDE)
  static F cvt(I v) {
    const __m256 lo = _mm256_cvtepi32_ps(_mm512_castsi512_si256(v));
    const __m256 hi = _mm256_cvtepi32_ps(_mm512_extracti64x4_epi64(v, 1));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
  }
  static F scales(const uint16_t* p) {
    const __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256 hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
  }
#else
  static F cvt(I v) { return _mm512_cvtepi32_ps(v); }
  static F scales(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
#endif
};

}  // namespace

#include "w4ax_cols.inc"

}  // namespace avx512vnni
}  // namespace dyq

#if !defined(DYQ_SIMDE)
#pragma GCC pop_options
#endif

#endif  // x86-64
