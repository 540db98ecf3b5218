// AVX-VNNI path: the cols kernels (w4ax_cols.inc) on ymm vectors, 8 output rows per tile, with the
// VEX-encoded vpdpbusd of Alder Lake / Sapphire Rapids / Zen 5. Built with -DDYQ_SIMDE the same source
// runs on an AVX2 CPU, SIMDe's AVX-512 VL dpbusd (same semantics) standing in for the VEX one.
#if defined(__x86_64__) || defined(_M_X64)

#include <cstring>

#include "w4ax_core.h"

#if defined(DYQ_SIMDE)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define DYQ_DPBUSD256 _mm256_dpbusd_epi32
#else
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avxvnni,avx2,fma,f16c")
#define DYQ_DPBUSD256 _mm256_dpbusd_avx_epi32
#endif

namespace dyq {
namespace avxvnni {
namespace {

#include "w4ax_x86_ymm.inc"

struct V : Ymm {
  static constexpr int64_t kTokens = 3;  // integer tile: 3 tokens x 2 int32 sums + 3 float sums
  static constexpr int kF32Tokens = 6;
  static I low_nibbles(I v) { return _mm256_and_si256(_mm256_slli_epi16(v, 4), _mm256_set1_epi8(static_cast<char>(0xF0))); }
  static I high_nibbles(I v) { return _mm256_and_si256(v, _mm256_set1_epi8(static_cast<char>(0xF0))); }
  static constexpr float kZeroOffset = 0.0f;          // activation codes stored as they are
  static constexpr float kWeightScale = 1.0f / 16.0f;  // the weight bytes hold 16 q
  static void dot2(I& lo_sum, I& hi_sum, I xl, I lo, I xh, I hi) {
    lo_sum = dot(lo_sum, xl, lo);
    hi_sum = dot(hi_sum, xh, hi);
  }
  static void settle(I&, I&) {}
  static I group_sum(I lo_sum, I hi_sum) { return add(lo_sum, hi_sum); }
  static I dot(I acc, I u8, I s8) { return DYQ_DPBUSD256(acc, u8, s8); }
};

}  // namespace

#include "w4ax_cols.inc"

}  // namespace avxvnni
}  // namespace dyq

#if !defined(DYQ_SIMDE)
#pragma GCC pop_options
#endif

#endif  // x86-64
