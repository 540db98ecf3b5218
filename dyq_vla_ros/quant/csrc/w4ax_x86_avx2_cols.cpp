// AVX2 on the cols layout ("avx2_cols"): the cols kernels (w4ax_cols.inc) on ymm vectors, 8 output rows
// per tile, vpmaddubsw in place of vpdpbusd. The products of 4 blocks are summed as int16 pairs
// (4 x 2 x 255 x 8 = 16320 at most) before one vpmaddwd widens them, so a 64-value group costs 16
// vpmaddubsw and 2 vpmaddwd per 8 rows, against 16 and 8 on the rows layout. One float conversion and
// FMA per group and 8 rows, so the float rounding differs from the avx2 path's (both are within the
// reference's tolerance); `auto` runs it on AVX2-only CPUs, the avx2 path keeps the earlier rounding.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstring>

#include "w4ax_core.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace dyq {
namespace avx2_cols {
namespace {

#include "w4ax_x86_ymm.inc"

struct V : Ymm {
  static constexpr int64_t kTokens = 3;
  static constexpr int kF32Tokens = 6;
  static constexpr float kZeroOffset = 0.0f;
  static constexpr float kWeightScale = 1.0f;  // the nibbles are sign-extended to q
  // two's complement nibble -> q in [-8, 7], through a 16-entry table
  static I signed_nibbles(I n) {
    const I table = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8,
                                     -7, -6, -5, -4, -3, -2, -1);
    return _mm256_shuffle_epi8(table, n);
  }
  static I low_nibbles(I v) { return signed_nibbles(_mm256_and_si256(v, _mm256_set1_epi8(0x0F))); }
  static I high_nibbles(I v) {
    return signed_nibbles(_mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F)));
  }
  // pairs: int16 sums of 2 products of each block, low and high runs together (|.| <= 4080 per block)
  static void dot2(I& pairs, I&, I xl, I lo, I xh, I hi) {
    pairs = _mm256_add_epi16(pairs, _mm256_add_epi16(_mm256_maddubs_epi16(xl, lo), _mm256_maddubs_epi16(xh, hi)));
  }
  static void settle(I& pairs, I& wide) {
    wide = _mm256_add_epi32(wide, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
    pairs = _mm256_setzero_si256();
  }
  static I group_sum(I pairs, I wide) { return _mm256_add_epi32(wide, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))); }
};

}  // namespace

#include "w4ax_cols.inc"

}  // namespace avx2_cols
}  // namespace dyq

#pragma GCC pop_options

#endif  // x86-64
