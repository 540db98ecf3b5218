// W4AX CPU kernel core: plain C++17, no torch headers, so that the same sources build into the torch
// extension, a native test driver (x86 paths the CPU lacks run under SIMDe) and an aarch64 test driver
// (run under qemu-user).
//
// A path is one micro-architecture's kernels and the weight layout they read. The table of paths is
// built once, at start-up, from the CPU's features; the entry points below take the path a layer chose
// at load time and never branch on the CPU themselves.
//
// Weights (quant/weights.py): symmetric int4, groups of G values (G a multiple of 64), fp16 group
// scales. The resident layout is quantize_int4's: per group of a row, byte j holds value j in its low
// nibble and value j + G/2 in its high nibble, as q + 8. A path with the "cols" layout reads the same
// bytes regrouped into tiles of R rows (quant/layouts.py), still 4 bits a value.
// Activations: per-token asymmetric min-max uint8 (2/4/8 bits), rounded exactly as
// quant/activations.py, or float32 (the 16-bit mode).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dyq {

// Weight layout a path's kernels read.
enum class Layout : int {
  kRows = 0,  // quantize_int4's row-major storage, unchanged
  kCols = 1,  // tiles of tile_rows rows (the last padded with zero rows); per tile and group, G/8
              // blocks of [row][4 bytes]: block j holds bytes 4j..4j+3 of each row's group, i.e. values
              // 4j+b (low nibble) and G/2+4j+b (high nibble), the nibbles in two's complement (q & 15);
              // scales [tile][group][row]
};

// One layer's weights as its path stores them.
struct Weights {
  const uint8_t* packed;
  const uint16_t* scales;  // fp16 bits
  const float* corr;       // [n] sum over groups of scale x (sum of the group's int4 values); u8 path only
  const float* bias;       // [n] or nullptr
  int64_t n, padded, group;
};

// The work of one u8 linear call, shared by every range of output rows.
struct U8Problem {
  const uint8_t* q;  // [m, padded] quantized activations (stored as q ^ path.act_xor)
  const float* xs;   // [m] activation scales
  const float* xz;   // [m] activation zero points
  Weights w;
  float* out;  // [m, n]
  int64_t m;
};

// The work of one float linear call.
struct F32Problem {
  const float* x;  // [m, padded], zeros beyond the input width
  Weights w;
  float* out;  // [m, n]
  int64_t m;
};

// One micro-architecture's kernels.
struct Path {
  const char* name;
  Layout layout;
  int64_t tile_rows;  // rows per weight tile of its layout (1 for kRows)
  uint8_t act_xor;    // quantized activations are stored xor-ed with this (0x80: signed dot products)
  // rows [r0, r1) of x [.., k] to padded-wide activation codes, scales and zero points
  void (*quantize)(const float* x, int64_t k, int64_t padded, int64_t r0, int64_t r1, int bits, uint8_t* q,
                   float* scale, float* zero);
  // output rows [n0, n1) of a u8 or float problem; n0 is a multiple of kUnitRows
  void (*u8_rows)(const U8Problem& p, int64_t n0, int64_t n1);
  void (*f32_rows)(const F32Problem& p, int64_t n0, int64_t n1);
};

// Output rows one parallel work item covers (a multiple of every path's tile_rows).
constexpr int64_t kUnitRows = 16;

// Runs body(ctx, begin, end) over sub-ranges of [0, n) of at least `grain` items (a thread pool's
// parallel-for, or inline).
using RangeBody = void (*)(const void* ctx, int64_t begin, int64_t end);
struct Parallel {
  void (*run)(int64_t n, int64_t grain, const void* ctx, RangeBody body);
};
extern const Parallel kSerial;

// Paths compiled into this build, best first, then nullptr.
const Path* const* compiled_paths();
// The path of this name if this CPU can run it (or, in a SIMDe build, emulate it), else nullptr.
const Path* find_path(const char* name);
// The fastest path this CPU runs (nullptr: none).
const Path* best_path();
// Why find_path(name) fails here, or nullptr when it succeeds.
const char* unsupported_reason(const char* name);
// The CPU's SIMD features the dispatch looked at, space-separated.
const char* cpu_features();

// Bytes of a weight stored in this layout (the cols layout pads rows to whole tiles).
int64_t packed_bytes(const Path& path, int64_t n, int64_t padded);

// y[m, n] = quantized-activation linear of x[m, k]: activations quantized per token to `bits`, then
// the integer kernel and its float epilogue.
void linear_u8(const Path& path, const float* x, int64_t m, int64_t k, int bits, const Weights& w, float* out,
               const Parallel& par);
// y[m, n] = x[m, k] @ deq(W)^T + bias in float32.
void linear_f32(const Path& path, const float* x, int64_t m, int64_t k, const Weights& w, float* out,
                const Parallel& par);
// Rows of x quantized as path's kernels read them (the integer part of linear_u8, for tests).
void quantize(const Path& path, const float* x, int64_t m, int64_t k, int64_t padded, int bits, uint8_t* q,
              float* scale, float* zero);

// A per-thread scratch of at least `bytes`, 64-byte aligned, valid until the thread asks for the same
// slot again. Kernels use slots 0 and 1; the entry points 2 to 4 (their buffers are read by every
// thread of a call).
void* thread_scratch(int slot, size_t bytes);

}  // namespace dyq
