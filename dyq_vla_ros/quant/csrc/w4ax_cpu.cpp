// W4AX CPU kernels (x86-64 AVX2): per-token activation quantization, an int4 x uint8 GEMM with
// group scales (2/4/8-bit activations) and an int4 x float32 GEMM (16-bit activations). Both keep
// a few unpacked weight rows in L1 and pass every token over them in register blocks.
//
// Weight layout (see quant/weights.py): for each group of G values of a row, byte j holds value
// j in its low nibble and value j + G/2 in its high nibble, as (q + 8) with q in [-8, 7]. Splitting
// halves rather than interleaving neighbours lets one 32-byte load unpack into two contiguous
// 32-value runs without shuffles.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t kRowBlock = 4;

// The four horizontal sums of a, b, c, d as one vector.
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
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

}  // namespace

// Eight floats rounded to int32 lanes, from four vectors to 32 uint8 in order (values already in
// [0, 255], so the saturating packs only narrow).
inline __m256i pack_u8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packus_epi32(a, b);  // a0-3 b0-3 | a4-7 b4-7
  const __m256i cd = _mm256_packus_epi32(c, d);
  const __m256i abcd = _mm256_packus_epi16(ab, cd);  // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
  return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// x [M, K] float32 -> (q [M, padded] uint8, scale [M], zero [M]); the same rounding as
// quant/activations.py: scale = max(hi - lo, 1e-8) / (2^bits - 1), zero = round(-lo / scale).
std::vector<torch::Tensor> quantize_per_token(torch::Tensor x, int64_t bits, int64_t padded) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat32, "x must be a 2-D float32 tensor");
  x = x.contiguous();
  const int64_t m = x.size(0), k = x.size(1);
  TORCH_CHECK(padded >= k, "padded width smaller than the input");
  auto q = torch::empty({m, padded}, torch::kUInt8);
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
        lo = std::min(lo, lanes_lo[l]);
        hi = std::max(hi, lanes_hi[l]);
      }
      for (; i < k; ++i) {
        lo = std::min(lo, row[i]);
        hi = std::max(hi, row[i]);
      }
      const float s = std::max(hi - lo, 1e-8f) / levels;
      const float z = std::nearbyint(-lo / s);
      uint8_t* out = qp + r * padded;
      const __m256 sv = _mm256_set1_ps(s), zv = _mm256_set1_ps(z), top = _mm256_set1_ps(levels);
      const __m256 bottom = _mm256_setzero_ps();
      // division, not a reciprocal multiply: bit-identical rounding to the reference
      auto level = [&](const float* src) {
        __m256 v = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(src), sv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, zv), bottom), top));
      };
      i = 0;
      for (; i + 32 <= k; i += 32) {
        const __m256i packed = pack_u8(level(row + i), level(row + i + 8), level(row + i + 16), level(row + i + 24));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), packed);
      }
      for (; i < k; ++i) {
        const float v = std::nearbyint(row[i] / s) + z;
        out[i] = static_cast<uint8_t>(std::min(std::max(v, 0.0f), levels));
      }
      std::fill(out + k, out + padded, static_cast<uint8_t>(0));  // padding meets zero weights
      sp[r] = s;
      zp[r] = z;
    }
  });
  return {q, scale, zero};
}

// Rows of output computed per panel: their int4 weights are unpacked once into a scratch that
// stays in L1/L2 while every token passes over it.
constexpr int64_t kPanelRows = 16;

// Four output rows x two tokens over the whole input width, integer dot products per 64 values
// widened to int32 and scaled per group in float. GC: 64-value chunks per group (0: runtime).
template <int GC>
__attribute__((always_inline)) inline void micro_4x2(const uint8_t* x0, const uint8_t* x1, const int8_t* w, int64_t padded, const float* s,
                      int64_t groups, int64_t gc, __m256 (&acc)[4][2]) {
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t chunks = GC ? GC : gc;
  const int8_t* w1 = w + padded;
  const int8_t* w2 = w + 2 * padded;
  const int8_t* w3 = w + 3 * padded;
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int64_t g = 0; g < groups; ++g) {
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t j = (g * chunks + c) * 64;
      const __m256i xa0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0 + j));
      const __m256i xb0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0 + j + 32));
      const __m256i xa1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1 + j));
      const __m256i xb1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1 + j + 32));
      // each vpmaddubsw lane is at most 2 * 255 * 8 = 4080: two add in int16 without overflow
#define DYQ_ROW(W, A0, A1)                                                                                  \
  {                                                                                                         \
    const __m256i wa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W + j));                         \
    const __m256i wb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W + j + 32));                    \
    A0 = _mm256_add_epi32(A0, _mm256_madd_epi16(                                                            \
                                  _mm256_add_epi16(_mm256_maddubs_epi16(xa0, wa), _mm256_maddubs_epi16(xb0, wb)), \
                                  ones));                                                                   \
    A1 = _mm256_add_epi32(A1, _mm256_madd_epi16(                                                            \
                                  _mm256_add_epi16(_mm256_maddubs_epi16(xa1, wa), _mm256_maddubs_epi16(xb1, wb)), \
                                  ones));                                                                   \
  }
      DYQ_ROW(w, a00, a01)
      DYQ_ROW(w1, a10, a11)
      DYQ_ROW(w2, a20, a21)
      DYQ_ROW(w3, a30, a31)
#undef DYQ_ROW
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
  acc[0][0] = c00; acc[0][1] = c01; acc[1][0] = c10; acc[1][1] = c11;
  acc[2][0] = c20; acc[2][1] = c21; acc[3][0] = c30; acc[3][1] = c31;
}

// What every row block of one w4_u8_linear call shares.
struct U8LinearArgs {
  const uint8_t* q;  // [m, padded] activations
  const float* xs;   // [m] activation scales
  const float* xz;   // [m] activation zero points
  const float* corr; // [n] zero-point correction per output
  const float* bias; // [n] or nullptr
  float* out;        // [m, n]
  int64_t m, n, padded, groups, gc;
};

// Four unpacked weight rows (the last block of a layer may hold fewer real ones).
struct Block4 {
  const int8_t* w;  // [4, padded]
  const float* s;   // [4, groups]
  int64_t col0, cols;
};

// One row block against every token, two tokens at a time; the block's weights stay in L1.
template <int GC>
void block_all_tokens(const U8LinearArgs& a, const Block4& blk) {
  for (int64_t t = 0; t < a.m; t += 2) {
    const int64_t tokens = std::min<int64_t>(2, a.m - t);
    const uint8_t* x0 = a.q + t * a.padded;
    const uint8_t* x1 = tokens == 2 ? x0 + a.padded : x0;
    __m256 acc[4][2];
    micro_4x2<GC>(x0, x1, blk.w, a.padded, blk.s, a.groups, a.gc, acc);
    for (int64_t u = 0; u < tokens; ++u) {
      const int64_t tt = t + u;
      const __m128 sums = hsum4(acc[0][u], acc[1][u], acc[2][u], acc[3][u]);
      if (blk.cols == 4) {
        __m128 y = _mm_fnmadd_ps(_mm_set1_ps(a.xz[tt]), _mm_loadu_ps(a.corr + blk.col0), sums);
        y = _mm_mul_ps(_mm_set1_ps(a.xs[tt]), y);
        if (a.bias) y = _mm_add_ps(y, _mm_loadu_ps(a.bias + blk.col0));
        _mm_storeu_ps(a.out + tt * a.n + blk.col0, y);
      } else {
        alignas(16) float lanes[4];
        _mm_store_ps(lanes, sums);
        for (int64_t r = 0; r < blk.cols; ++r) {
          const int64_t col = blk.col0 + r;
          a.out[tt * a.n + col] = a.xs[tt] * (lanes[r] - a.xz[tt] * a.corr[col]) + (a.bias ? a.bias[col] : 0.0f);
        }
      }
    }
  }
}

// y[m, n] = scale[m] * (sum_g s[n, g] * <q[m, g], w[n, g]> - zero[m] * corr[n]) + bias[n]
torch::Tensor w4_u8_linear(torch::Tensor q, torch::Tensor scale, torch::Tensor zero, torch::Tensor packed,
                           torch::Tensor scales, torch::Tensor corr, c10::optional<torch::Tensor> bias,
                           int64_t group) {
  TORCH_CHECK(q.scalar_type() == torch::kUInt8 && packed.scalar_type() == torch::kUInt8, "uint8 inputs expected");
  TORCH_CHECK(scales.scalar_type() == torch::kHalf, "float16 group scales expected");
  TORCH_CHECK(group % 64 == 0, "group size must be a multiple of 64");
  const int64_t m = q.size(0), padded = q.size(1), n = packed.size(0), groups = scales.size(1);
  TORCH_CHECK(packed.size(1) * 2 == padded && groups * group == padded, "shapes of q, packed and scales disagree");
  auto sc = scales.contiguous();
  auto out = torch::empty({m, n}, torch::kFloat32);
  const uint8_t* qp = q.data_ptr<uint8_t>();
  const float* xs = scale.data_ptr<float>();
  const float* xz = zero.data_ptr<float>();
  const uint8_t* wp = packed.data_ptr<uint8_t>();
  const uint16_t* sp = reinterpret_cast<const uint16_t*>(sc.data_ptr<at::Half>());
  const float* cp = corr.data_ptr<float>();
  const float* bp = bias.has_value() ? bias->data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  const int64_t gc = group / 64;
  const int64_t panels = (n + kPanelRows - 1) / kPanelRows;
  const U8LinearArgs args{qp, xs, xz, cp, bp, op, m, n, padded, groups, gc};
  at::parallel_for(0, panels, 1, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> w(static_cast<size_t>(kPanelRows * padded));
    std::vector<float> s(static_cast<size_t>(kPanelRows * groups));
    for (int64_t p = begin; p < end; ++p) {
      const int64_t n0 = p * kPanelRows;
      const int64_t rows = std::min<int64_t>(kPanelRows, n - n0);
      const int64_t blocks = (rows + 3) / 4;
      for (int64_t r = 0; r < rows; ++r) {
        unpack_row(wp + (n0 + r) * (padded / 2), padded, group, w.data() + r * padded);
        for (int64_t g = 0; g < groups; ++g) s[r * groups + g] = _cvtsh_ss(sp[(n0 + r) * groups + g]);
      }
      for (int64_t r = rows; r < blocks * 4; ++r) {  // the last block's missing rows compute zeros
        std::fill(w.begin() + r * padded, w.begin() + (r + 1) * padded, 0);
        std::fill(s.begin() + r * groups, s.begin() + (r + 1) * groups, 0.0f);
      }
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t cols = std::min<int64_t>(4, rows - b * 4);
        const Block4 block{w.data() + b * 4 * padded, s.data() + b * 4 * groups, n0 + b * 4, cols};
        switch (gc) {
          case 1: block_all_tokens<1>(args, block); break;
          case 2: block_all_tokens<2>(args, block); break;
          default: block_all_tokens<0>(args, block); break;
        }
      }
    }
  });
  return out;
}

// y [M, N] back to x's leading dims and dtype.
static torch::Tensor like_input(const torch::Tensor& y, const torch::Tensor& x, int64_t n) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = n;
  return y.reshape(shape).to(x.scalar_type());
}

// The whole quantized-activation forward of one layer in a single call (one crossing from Python):
// x [..., K] of any float dtype -> y [..., N] of x's dtype.
torch::Tensor w4_u8_forward(torch::Tensor x, int64_t bits, torch::Tensor packed, torch::Tensor scales,
                            torch::Tensor corr, c10::optional<torch::Tensor> bias, int64_t group) {
  const int64_t k = x.size(-1), n = packed.size(0);
  auto x2 = x.reshape({-1, k}).to(torch::kFloat32);
  auto quantized = quantize_per_token(x2, bits, packed.size(1) * 2);
  return like_input(w4_u8_linear(quantized[0], quantized[1], quantized[2], packed, scales, corr, bias, group), x, n);
}

// Four float weight rows against three tokens over the whole width: twelve accumulators, three
// inputs and one weight vector fill the sixteen AVX2 registers.
__attribute__((always_inline)) inline void micro_f32_4x3(const float* x0, const float* x1, const float* x2,
                                                         const float* w, int64_t padded, __m256 (&acc)[4][3]) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
  __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
  const float* w1 = w + padded;
  const float* w2 = w + 2 * padded;
  const float* w3 = w + 3 * padded;
  for (int64_t j = 0; j < padded; j += 8) {
    const __m256 a = _mm256_loadu_ps(x0 + j), b = _mm256_loadu_ps(x1 + j), c = _mm256_loadu_ps(x2 + j);
#define DYQ_F32_ROW(W, C0, C1, C2)                   \
  {                                                  \
    const __m256 v = _mm256_loadu_ps(W + j);         \
    C0 = _mm256_fmadd_ps(a, v, C0);                  \
    C1 = _mm256_fmadd_ps(b, v, C1);                  \
    C2 = _mm256_fmadd_ps(c, v, C2);                  \
  }
    DYQ_F32_ROW(w, c00, c01, c02)
    DYQ_F32_ROW(w1, c10, c11, c12)
    DYQ_F32_ROW(w2, c20, c21, c22)
    DYQ_F32_ROW(w3, c30, c31, c32)
#undef DYQ_F32_ROW
  }
  acc[0][0] = c00; acc[0][1] = c01; acc[0][2] = c02; acc[1][0] = c10; acc[1][1] = c11; acc[1][2] = c12;
  acc[2][0] = c20; acc[2][1] = c21; acc[2][2] = c22; acc[3][0] = c30; acc[3][1] = c31; acc[3][2] = c32;
}

constexpr int64_t kF32Tokens = 3;

// y = x @ deq(W)^T + b: each block of four rows is dequantized into an L1-sized float scratch
// and every token passes over it, three at a time, so the weight is read once, at 4 bits.
torch::Tensor w4_f32_linear(torch::Tensor x, torch::Tensor packed, torch::Tensor scales,
                            c10::optional<torch::Tensor> bias, int64_t group) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat32, "x must be a 2-D float32 tensor");
  TORCH_CHECK(scales.scalar_type() == torch::kHalf, "float16 group scales expected");
  TORCH_CHECK(group % 64 == 0, "group size must be a multiple of 64");
  x = x.contiguous();
  const int64_t m = x.size(0), k = x.size(1), n = packed.size(0), padded = packed.size(1) * 2;
  const int64_t groups = scales.size(1);
  TORCH_CHECK(groups * group == padded && padded >= k, "shapes of x, packed and scales disagree");
  auto sc = scales.contiguous();
  auto xpad = k == padded ? x : torch::constant_pad_nd(x, {0, padded - k});
  auto out = torch::empty({m, n}, torch::kFloat32);
  const float* xp = xpad.data_ptr<float>();
  const uint8_t* wp = packed.data_ptr<uint8_t>();
  const uint16_t* sp = reinterpret_cast<const uint16_t*>(sc.data_ptr<at::Half>());
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
          const __m256 s = _mm256_set1_ps(_cvtsh_ss(sp[(n0 + r) * groups + g]));
          for (int64_t j = g * group; j < (g + 1) * group; j += 8) {
            const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(wi.data() + j));
            _mm256_storeu_ps(dst + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)), s));
          }
        }
      }
      for (int64_t r = rows; r < kRowBlock; ++r) std::fill(w.begin() + r * padded, w.begin() + (r + 1) * padded, 0.0f);
      for (int64_t t = 0; t < m; t += kF32Tokens) {
        const int64_t tokens = std::min<int64_t>(kF32Tokens, m - t);
        const float* x0 = xp + t * padded;
        const float* x1 = tokens > 1 ? x0 + padded : x0;  // missing tokens repeat the first; not stored
        const float* x2 = tokens > 2 ? x0 + 2 * padded : x0;
        __m256 acc[4][kF32Tokens];
        micro_f32_4x3(x0, x1, x2, w.data(), padded, acc);
        for (int64_t u = 0; u < tokens; ++u) {
          const __m128 sums = hsum4(acc[0][u], acc[1][u], acc[2][u], acc[3][u]);
          float* dst = op + (t + u) * n + n0;
          if (rows == 4) {
            _mm_storeu_ps(dst, bp ? _mm_add_ps(sums, _mm_loadu_ps(bp + n0)) : sums);
          } else {
            alignas(16) float lanes[4];
            _mm_store_ps(lanes, sums);
            for (int64_t r = 0; r < rows; ++r) dst[r] = lanes[r] + (bp ? bp[n0 + r] : 0.0f);
          }
        }
      }
    }
  });
  return out;
}

// The 16-bit-activation forward of one layer in a single call: x [..., K] -> y [..., N], x's dtype.
torch::Tensor w4_f32_forward(torch::Tensor x, torch::Tensor packed, torch::Tensor scales,
                             c10::optional<torch::Tensor> bias, int64_t group) {
  const int64_t k = x.size(-1), n = packed.size(0);
  return like_input(w4_f32_linear(x.reshape({-1, k}).to(torch::kFloat32), packed, scales, bias, group), x, n);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  mod.doc() = "W4AX CPU kernels (AVX2)";
  mod.def("quantize_per_token", &quantize_per_token, "per-token asymmetric activation quantization");
  mod.def("w4_u8_linear", &w4_u8_linear, "int4-weight x uint8-activation linear with group scales");
  mod.def("w4_u8_forward", &w4_u8_forward, "quantize activations per token and run w4_u8_linear, any leading dims");
  mod.def("w4_f32_linear", &w4_f32_linear, "int4-weight x float32-activation linear");
  mod.def("w4_f32_forward", &w4_f32_forward, "w4_f32_linear on any leading dims, in x's dtype");
}
