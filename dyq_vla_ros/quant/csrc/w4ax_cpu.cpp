// W4AX CPU kernels (x86-64 AVX2): per-token activation quantization, int4 x uint8 GEMM with
// group scales, and a fused int4 dequantization for the 16-bit activation mode.
//
// Weight layout (see quant/weights.py): for each group of G values of a row, byte j holds value
// j in its low nibble and value j + G/2 in its high nibble, as (q + 8) with q in [-8, 7]. Splitting
// halves rather than interleaving neighbours lets one 32-byte load unpack into two contiguous
// 32-value runs without shuffles.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <cmath>
#include <vector>

namespace {

constexpr int kRowBlock = 4;

inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  return _mm_cvtss_f32(lo);
}

// Signed int8 values of one packed row, in natural order.
void unpack_row(const uint8_t* packed, int64_t padded, int64_t group, int8_t* out) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  const __m256i eight = _mm256_set1_epi8(8);
  const int64_t half = group / 2;
  for (int64_t g = 0; g < padded; g += group) {
    for (int64_t j = 0; j < half; j += 32) {
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed + g / 2 + j));
      __m256i lo = _mm256_sub_epi8(_mm256_and_si256(v, low_mask), eight);
      __m256i hi = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 4), low_mask), eight);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + g + j), lo);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + g + half + j), hi);
    }
  }
}

// <x, w> over 64 values as 8 int32 lanes. Each vpmaddubsw lane is at most 2 * 255 * 8 = 4080 in
// magnitude, so two of them add in int16 without overflow before one widening vpmaddwd.
inline __m256i dot64(const uint8_t* x, const int8_t* w) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i a = _mm256_maddubs_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)),
                                   _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
  __m256i b = _mm256_maddubs_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32)),
                                   _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32)));
  return _mm256_madd_epi16(_mm256_add_epi16(a, b), ones);
}

}  // namespace

// x [M, K] float32 -> (q [M, padded] uint8, scale [M], zero [M]); the same rounding as
// quant/activations.py: scale = max(hi - lo, 1e-8) / (2^bits - 1), zero = round(-lo / scale).
std::vector<torch::Tensor> quantize_per_token(torch::Tensor x, int64_t bits, int64_t padded) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat32, "x must be a 2-D float32 tensor");
  x = x.contiguous();
  const int64_t m = x.size(0), k = x.size(1);
  TORCH_CHECK(padded >= k, "padded width smaller than the input");
  auto q = torch::zeros({m, padded}, torch::kUInt8);
  auto scale = torch::empty({m}, torch::kFloat32);
  auto zero = torch::empty({m}, torch::kFloat32);
  const float levels = static_cast<float>((1 << bits) - 1);
  const float* xp = x.data_ptr<float>();
  uint8_t* qp = q.data_ptr<uint8_t>();
  float* sp = scale.data_ptr<float>();
  float* zp = zero.data_ptr<float>();
  at::parallel_for(0, m, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = xp + r * k;
      float lo = row[0], hi = row[0];
      for (int64_t i = 1; i < k; ++i) {
        lo = std::min(lo, row[i]);
        hi = std::max(hi, row[i]);
      }
      const float s = std::max(hi - lo, 1e-8f) / levels;
      const float z = std::nearbyint(-lo / s);
      uint8_t* out = qp + r * padded;
      int64_t i = 0;
      const __m256 sv = _mm256_set1_ps(s), zv = _mm256_set1_ps(z), top = _mm256_set1_ps(levels);
      const __m256 bottom = _mm256_setzero_ps();
      alignas(32) int32_t lanes[8];
      for (; i + 8 <= k; i += 8) {
        __m256 v = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(row + i), sv),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, zv), bottom), top);
        _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_cvtps_epi32(v));
        for (int l = 0; l < 8; ++l) out[i + l] = static_cast<uint8_t>(lanes[l]);
      }
      for (; i < k; ++i) {
        float v = std::nearbyint(row[i] / s) + z;
        out[i] = static_cast<uint8_t>(std::min(std::max(v, 0.0f), levels));
      }
      sp[r] = s;
      zp[r] = z;
    }
  });
  return {q, scale, zero};
}

// y[m, n] = scale[m] * (sum_g s[n, g] * <q[m, g], w[n, g]> - zero[m] * corr[n]) + bias[n]
torch::Tensor w4_u8_linear(torch::Tensor q, torch::Tensor scale, torch::Tensor zero, torch::Tensor packed,
                           torch::Tensor scales, torch::Tensor corr, c10::optional<torch::Tensor> bias,
                           int64_t group) {
  TORCH_CHECK(q.scalar_type() == torch::kUInt8 && packed.scalar_type() == torch::kUInt8, "uint8 inputs expected");
  TORCH_CHECK(group % 64 == 0, "group size must be a multiple of 64");
  const int64_t m = q.size(0), padded = q.size(1), n = packed.size(0), groups = scales.size(1);
  TORCH_CHECK(packed.size(1) * 2 == padded && groups * group == padded, "shapes of q, packed and scales disagree");
  auto sc = scales.to(torch::kFloat32).contiguous();
  auto out = torch::empty({m, n}, torch::kFloat32);
  const uint8_t* qp = q.data_ptr<uint8_t>();
  const float* xs = scale.data_ptr<float>();
  const float* xz = zero.data_ptr<float>();
  const uint8_t* wp = packed.data_ptr<uint8_t>();
  const float* sp = sc.data_ptr<float>();
  const float* cp = corr.data_ptr<float>();
  const float* bp = bias.has_value() ? bias->data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> w(static_cast<size_t>(kRowBlock * padded));
    for (int64_t b = begin; b < end; ++b) {
      const int64_t n0 = b * kRowBlock;
      const int64_t rows = std::min<int64_t>(kRowBlock, n - n0);
      for (int64_t r = 0; r < rows; ++r) unpack_row(wp + (n0 + r) * (padded / 2), padded, group, w.data() + r * padded);
      for (int64_t r = rows; r < kRowBlock; ++r) std::fill(w.begin() + r * padded, w.begin() + (r + 1) * padded, 0);
      const float* s0 = sp + n0 * groups;
      for (int64_t t = 0; t < m; ++t) {
        const uint8_t* xr = qp + t * padded;
        __m256 f0 = _mm256_setzero_ps(), f1 = f0, f2 = f0, f3 = f0;
        for (int64_t g = 0; g < groups; ++g) {
          __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
          for (int64_t j = g * group; j < (g + 1) * group; j += 64) {
            a0 = _mm256_add_epi32(a0, dot64(xr + j, w.data() + j));
            a1 = _mm256_add_epi32(a1, dot64(xr + j, w.data() + padded + j));
            a2 = _mm256_add_epi32(a2, dot64(xr + j, w.data() + 2 * padded + j));
            a3 = _mm256_add_epi32(a3, dot64(xr + j, w.data() + 3 * padded + j));
          }
          f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a0), _mm256_set1_ps(s0[g]), f0);
          if (rows > 1) f1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a1), _mm256_set1_ps(s0[groups + g]), f1);
          if (rows > 2) f2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a2), _mm256_set1_ps(s0[2 * groups + g]), f2);
          if (rows > 3) f3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a3), _mm256_set1_ps(s0[3 * groups + g]), f3);
        }
        const float sums[kRowBlock] = {hsum(f0), hsum(f1), hsum(f2), hsum(f3)};
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t col = n0 + r;
          op[t * n + col] = xs[t] * (sums[r] - xz[t] * cp[col]) + (bp ? bp[col] : 0.0f);
        }
      }
    }
  });
  return out;
}

// y = x @ deq(W)^T + b for few tokens: rows are dequantized into an L1-sized scratch block and
// reused across the tokens, so the weight is read once, at 4 bits.
torch::Tensor w4_f32_linear(torch::Tensor x, torch::Tensor packed, torch::Tensor scales,
                            c10::optional<torch::Tensor> bias, int64_t group) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat32, "x must be a 2-D float32 tensor");
  TORCH_CHECK(group % 64 == 0, "group size must be a multiple of 64");
  x = x.contiguous();
  const int64_t m = x.size(0), k = x.size(1), n = packed.size(0), padded = packed.size(1) * 2;
  const int64_t groups = scales.size(1);
  TORCH_CHECK(groups * group == padded && padded >= k, "shapes of x, packed and scales disagree");
  auto sc = scales.to(torch::kFloat32).contiguous();
  auto xpad = k == padded ? x : torch::constant_pad_nd(x, {0, padded - k});
  auto out = torch::empty({m, n}, torch::kFloat32);
  const float* xp = xpad.data_ptr<float>();
  const uint8_t* wp = packed.data_ptr<uint8_t>();
  const float* sp = sc.data_ptr<float>();
  const float* bp = bias.has_value() ? bias->data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> wi(static_cast<size_t>(padded));
    std::vector<float> w(static_cast<size_t>(kRowBlock * padded), 0.0f);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t n0 = b * kRowBlock;
      const int64_t rows = std::min<int64_t>(kRowBlock, n - n0);
      for (int64_t r = 0; r < rows; ++r) {
        unpack_row(wp + (n0 + r) * (padded / 2), padded, group, wi.data());
        float* dst = w.data() + r * padded;
        for (int64_t g = 0; g < groups; ++g) {
          const float s = sp[(n0 + r) * groups + g];
          for (int64_t j = g * group; j < (g + 1) * group; ++j) dst[j] = static_cast<float>(wi[j]) * s;
        }
      }
      for (int64_t r = rows; r < kRowBlock; ++r) std::fill(w.begin() + r * padded, w.begin() + (r + 1) * padded, 0.0f);
      for (int64_t t = 0; t < m; ++t) {
        const float* xr = xp + t * padded;
        __m256 f0 = _mm256_setzero_ps(), f1 = f0, f2 = f0, f3 = f0;
        for (int64_t j = 0; j < padded; j += 8) {
          __m256 xv = _mm256_loadu_ps(xr + j);
          f0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w.data() + j), f0);
          f1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w.data() + padded + j), f1);
          f2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w.data() + 2 * padded + j), f2);
          f3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w.data() + 3 * padded + j), f3);
        }
        const float sums[kRowBlock] = {hsum(f0), hsum(f1), hsum(f2), hsum(f3)};
        for (int64_t r = 0; r < rows; ++r) op[t * n + n0 + r] = sums[r] + (bp ? bp[n0 + r] : 0.0f);
      }
    }
  });
  return out;
}

// Float weight [N, K] from the packed values and group scales (a scratch copy for one call).
torch::Tensor dequantize(torch::Tensor packed, torch::Tensor scales, int64_t group, int64_t in_features) {
  const int64_t n = packed.size(0), padded = packed.size(1) * 2, groups = scales.size(1);
  TORCH_CHECK(groups * group == padded, "shapes of packed and scales disagree");
  auto sc = scales.to(torch::kFloat32).contiguous();
  auto out = torch::empty({n, in_features}, torch::kFloat32);
  const uint8_t* wp = packed.data_ptr<uint8_t>();
  const float* sp = sc.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t half = group / 2;
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(padded));
    for (int64_t r = begin; r < end; ++r) {
      const uint8_t* src = wp + r * (padded / 2);
      for (int64_t g = 0; g < groups; ++g) {
        const float s = sp[r * groups + g];
        const uint8_t* b = src + g * half;
        float* dst = row.data() + g * group;
        for (int64_t j = 0; j < half; ++j) {
          dst[j] = static_cast<float>(static_cast<int>(b[j] & 0x0F) - 8) * s;
          dst[j + half] = static_cast<float>(static_cast<int>(b[j] >> 4) - 8) * s;
        }
      }
      std::copy(row.begin(), row.begin() + in_features, op + r * in_features);
    }
  });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  mod.doc() = "W4AX CPU kernels (AVX2)";
  mod.def("quantize_per_token", &quantize_per_token, "per-token asymmetric activation quantization");
  mod.def("w4_u8_linear", &w4_u8_linear, "int4-weight x uint8-activation linear with group scales");
  mod.def("w4_f32_linear", &w4_f32_linear, "int4-weight x float32-activation linear for few tokens");
  mod.def("dequantize", &dequantize, "int4 weight to float32");
}
