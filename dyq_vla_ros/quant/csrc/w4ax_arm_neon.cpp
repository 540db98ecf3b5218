// aarch64 paths: NEON dotprod (sdot: Cortex-A76/A78 (Jetson Orin), Cortex-A76 (Raspberry Pi 5), Neoverse)
// and plain NEON (every ARMv8-A), both on the cols layout in 4-row tiles (w4ax_cols.inc), plus the
// per-token activation quantizer, which stores codes as signed bytes (q - 128) for the signed
// multiplies. The dotprod kernels sit in their own target region; nothing outside it needs dotprod.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "w4ax_core.h"

namespace dyq {
namespace neon {

// quant/activations.py's rounding bit for bit (division, round half to even), stored as code ^ 0x80.
void quantize(const float* x, int64_t k, int64_t padded, int64_t r0, int64_t r1, int bits, uint8_t* qp, float* sp,
              float* zp) {
  const float levels = static_cast<float>((1 << bits) - 1);
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * k;
    float32x4_t lov = vdupq_n_f32(row[0]), hiv = lov;
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) {
      const float32x4_t v = vld1q_f32(row + i);
      lov = vminq_f32(lov, v);
      hiv = vmaxq_f32(hiv, v);
    }
    float lo = vminvq_f32(lov), hi = vmaxvq_f32(hiv);
    for (; i < k; ++i) {
      lo = row[i] < lo ? row[i] : lo;
      hi = hi < row[i] ? row[i] : hi;
    }
    const float range = hi - lo;
    const float s = (range < 1e-8f ? 1e-8f : range) / levels;
    const float z = std::nearbyint(-lo / s);
    uint8_t* out = qp + r * padded;
    const float32x4_t sv = vdupq_n_f32(s), zv = vdupq_n_f32(z), top = vdupq_n_f32(levels), bottom = vdupq_n_f32(0.0f);
    auto level = [&](const float* src) {
      const float32x4_t v = vaddq_f32(vrndnq_f32(vdivq_f32(vld1q_f32(src), sv)), zv);
      return vcvtq_u32_f32(vminq_f32(vmaxq_f32(v, bottom), top));  // integral already: exact
    };
    const uint8x8_t flip = vdup_n_u8(0x80);
    i = 0;
    for (; i + 8 <= k; i += 8) {
      const uint16x8_t h = vcombine_u16(vmovn_u32(level(row + i)), vmovn_u32(level(row + i + 4)));
      vst1_u8(out + i, veor_u8(vmovn_u16(h), flip));
    }
    for (; i < k; ++i) {
      float v = std::nearbyint(row[i] / s) + z;
      v = v < 0.0f ? 0.0f : v;
      out[i] = static_cast<uint8_t>(static_cast<uint8_t>(levels < v ? levels : v) ^ 0x80);
    }
    std::memset(out + k, 0x80, static_cast<size_t>(padded - k));  // code 0 against zero weights
    sp[r] = s;
    zp[r] = z;
  }
}

namespace {

// Members both aarch64 vector types share: 4 rows of int32 / float32.
struct Neon4 {
  static constexpr int64_t kRows = 4;
  static constexpr int64_t kTokens = 4;
  static constexpr int kF32Tokens = 8;
  static constexpr float kZeroOffset = 128.0f;  // codes stored as q - 128
  using I = int32x4_t;
  using F = float32x4_t;
  static I zero() { return vdupq_n_s32(0); }
  static I load(const uint8_t* p) { return vreinterpretq_s32_u8(vld1q_u8(p)); }
  static I bcast4(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return vreinterpretq_s32_u32(vdupq_n_u32(v));
  }
  static I add(I a, I b) { return vaddq_s32(a, b); }
  static void settle(I&, I&) {}
  static I group_sum(I lo_sum, I hi_sum) { return vaddq_s32(lo_sum, hi_sum); }
  static constexpr float kNibbleScale = 1.0f;  // nibble() gives q itself
  template <int B, bool High>
  static I nibble(I v) {
    return vshrq_n_s32(vshlq_n_s32(v, (High ? 24 : 28) - 8 * B), 28);
  }
  static F fzero() { return vdupq_n_f32(0.0f); }
  static F set1(float v) { return vdupq_n_f32(v); }
  static F loadf(const float* p) { return vld1q_f32(p); }
  static void storef(float* p, F v) { vst1q_f32(p, v); }
  static F mul(F a, F b) { return vmulq_f32(a, b); }
  static F addf(F a, F b) { return vaddq_f32(a, b); }
  static F fma(F a, F b, F c) { return vfmaq_f32(c, a, b); }
  static F fnmadd(F a, F b, F c) { return vfmsq_f32(c, a, b); }
  static F cvt(I v) { return vcvtq_f32_s32(v); }
  static F scales(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
};

// Plain NEON: nibbles sign-extended to q, products widened to int16 (two per lane fit: |q x| <= 1024)
// and pairwise-accumulated to one int32 per row.
struct V : Neon4 {
  static constexpr float kWeightScale = 1.0f;
  static I low_nibbles(I v) { return vreinterpretq_s32_s8(vshrq_n_s8(vshlq_n_s8(vreinterpretq_s8_s32(v), 4), 4)); }
  static I high_nibbles(I v) { return vreinterpretq_s32_s8(vshrq_n_s8(vreinterpretq_s8_s32(v), 4)); }
  static void dot2(I& lo_sum, I&, I xl, I lo, I xh, I hi) {
    const int8x16_t a = vreinterpretq_s8_s32(xl), w = vreinterpretq_s8_s32(lo);
    const int8x16_t b = vreinterpretq_s8_s32(xh), u = vreinterpretq_s8_s32(hi);
    int16x8_t rows01 = vmull_s8(vget_low_s8(w), vget_low_s8(a));
    rows01 = vmlal_s8(rows01, vget_low_s8(u), vget_low_s8(b));
    int16x8_t rows23 = vmull_high_s8(w, a);
    rows23 = vmlal_high_s8(rows23, u, b);
    lo_sum = vaddq_s32(lo_sum, vpaddq_s32(vpaddlq_s16(rows01), vpaddlq_s16(rows23)));
  }
};

}  // namespace

#include "w4ax_cols.inc"

}  // namespace neon
}  // namespace dyq

#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")

namespace dyq {
namespace neon_dotprod {
namespace {

// sdot: nibbles masked in place as 16 q, four products per lane and instruction.
struct V : neon::Neon4 {
  static constexpr float kWeightScale = 1.0f / 16.0f;
  static I low_nibbles(I v) { return vreinterpretq_s32_u8(vshlq_n_u8(vreinterpretq_u8_s32(v), 4)); }
  static I high_nibbles(I v) { return vreinterpretq_s32_u8(vandq_u8(vreinterpretq_u8_s32(v), vdupq_n_u8(0xF0))); }
  static void dot2(I& lo_sum, I& hi_sum, I xl, I lo, I xh, I hi) {
    lo_sum = vdotq_s32(lo_sum, vreinterpretq_s8_s32(lo), vreinterpretq_s8_s32(xl));
    hi_sum = vdotq_s32(hi_sum, vreinterpretq_s8_s32(hi), vreinterpretq_s8_s32(xh));
  }
};

}  // namespace

#include "w4ax_cols.inc"

}  // namespace neon_dotprod
}  // namespace dyq

#pragma GCC pop_options

#endif  // aarch64
