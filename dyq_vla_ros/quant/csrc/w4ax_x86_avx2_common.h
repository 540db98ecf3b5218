// Helpers the AVX2 path's two files (integer and float kernels) share, compiled for avx2, fma, f16c.
#pragma once
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace dyq {
namespace avx2_common {

inline int64_t lesser(int64_t a, int64_t b) { return a < b ? a : b; }

// The four horizontal sums of a, b, c, d as one vector.
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

}  // namespace avx2_common
}  // namespace dyq

#pragma GCC pop_options

#endif
