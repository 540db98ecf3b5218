// The table of paths, chosen once from the CPU's features, and the entry points that split a call
// over threads. Baseline code: nothing here may need more than the architecture's base ISA.
#include <cstdlib>
#include <cstring>
#include <string>

#include "w4ax_core.h"

#if defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

namespace dyq {

#if defined(__x86_64__) || defined(_M_X64)
namespace avx2 {
void quantize(const float*, int64_t, int64_t, int64_t, int64_t, int, uint8_t*, float*, float*);
void u8_rows(const U8Problem&, int64_t, int64_t);
void f32_rows(const F32Problem&, int64_t, int64_t);
}  // namespace avx2
namespace avx512vnni {
void u8_rows(const U8Problem&, int64_t, int64_t);
void f32_rows(const F32Problem&, int64_t, int64_t);
}  // namespace avx512vnni
namespace avxvnni {
void u8_rows(const U8Problem&, int64_t, int64_t);
void f32_rows(const F32Problem&, int64_t, int64_t);
}  // namespace avxvnni
namespace avx2_cols {
void u8_rows(const U8Problem&, int64_t, int64_t);
void f32_rows(const F32Problem&, int64_t, int64_t);
}  // namespace avx2_cols
#endif
#if defined(__aarch64__)
namespace neon {
void quantize(const float*, int64_t, int64_t, int64_t, int64_t, int, uint8_t*, float*, float*);
void u8_rows(const U8Problem&, int64_t, int64_t);
void f32_rows(const F32Problem&, int64_t, int64_t);
}  // namespace neon
namespace neon_dotprod {
void u8_rows(const U8Problem&, int64_t, int64_t);
}  // namespace neon_dotprod
#endif

namespace {

struct Entry {
  Path path;
  const char* needs;  // the features it needs, for messages
  bool (*runs)();
};

#if defined(__x86_64__) || defined(_M_X64)
bool cpu_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
[[maybe_unused]] bool cpu_avx512vnni() {
  return cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}
[[maybe_unused]] bool cpu_avxvnni() { return cpu_avx2() && __builtin_cpu_supports("avxvnni"); }
#if defined(DYQ_SIMDE)
// a test build: SIMDe emulates the VNNI kernels' intrinsics on AVX2
bool emulated_vnni() { return cpu_avx2(); }
#define DYQ_VNNI_RUNS emulated_vnni
#define DYQ_AVXVNNI_RUNS emulated_vnni
#else
#define DYQ_VNNI_RUNS cpu_avx512vnni
#define DYQ_AVXVNNI_RUNS cpu_avxvnni
#endif

const Entry kEntries[] = {
    {{"avx512vnni", Layout::kCols, 16, 0, avx2::quantize, avx512vnni::u8_rows, avx512vnni::f32_rows},
     "avx512f, avx512bw, avx512vl, avx512vnni",
     DYQ_VNNI_RUNS},
    {{"avxvnni", Layout::kCols, 8, 0, avx2::quantize, avxvnni::u8_rows, avxvnni::f32_rows}, "avxvnni", DYQ_AVXVNNI_RUNS},
    {{"avx2_cols", Layout::kCols, 8, 0, avx2::quantize, avx2_cols::u8_rows, avx2_cols::f32_rows}, "avx2, fma, f16c",
     cpu_avx2},
    {{"avx2", Layout::kRows, 1, 0, avx2::quantize, avx2::u8_rows, avx2::f32_rows}, "avx2, fma, f16c", cpu_avx2},
};

std::string features() {
  // __builtin_cpu_supports takes a literal: one entry each
  const struct {
    const char* name;
    bool on;
  } seen[] = {
      {"avx2", __builtin_cpu_supports("avx2") != 0},
      {"fma", __builtin_cpu_supports("fma") != 0},
      {"f16c", __builtin_cpu_supports("f16c") != 0},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0},
      {"avx512bw", __builtin_cpu_supports("avx512bw") != 0},
      {"avx512vl", __builtin_cpu_supports("avx512vl") != 0},
      {"avx512vnni", __builtin_cpu_supports("avx512vnni") != 0},
      {"avxvnni", __builtin_cpu_supports("avxvnni") != 0},
  };
  std::string out;
  for (const auto& f : seen)
    if (f.on) out += std::string(out.empty() ? "" : " ") + f.name;
#if defined(DYQ_SIMDE)
  out += " (avx512vnni and avxvnni emulated by SIMDe)";
#endif
  return out;
}
#elif defined(__aarch64__)
bool cpu_neon() { return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0; }
bool cpu_dotprod() { return cpu_neon() && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }

const Entry kEntries[] = {
    {{"neon_dotprod", Layout::kCols, 4, 0x80, neon::quantize, neon_dotprod::u8_rows, neon::f32_rows},
     "asimd, asimddp (dotprod)",
     cpu_dotprod},
    {{"neon", Layout::kCols, 4, 0x80, neon::quantize, neon::u8_rows, neon::f32_rows}, "asimd", cpu_neon},
};

std::string features() {
  std::string out;
  if (cpu_neon()) out += "asimd";
  if (cpu_dotprod()) out += " asimddp";
  return out;
}
#else
const Entry kEntries[] = {{{"none", Layout::kRows, 1, 0, nullptr, nullptr, nullptr}, "", [] { return false; }}};
std::string features() { return ""; }
#endif

constexpr size_t kCount = sizeof(kEntries) / sizeof(kEntries[0]);

// Chosen once, at start-up.
struct Table {
  const Path* compiled[kCount + 1];
  bool runs[kCount];
  std::string features;
  const Path* best = nullptr;
  Table() {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();  // this may run before libgcc's own constructor has
#endif
    for (size_t i = 0; i < kCount; ++i) {
      compiled[i] = &kEntries[i].path;
      runs[i] = kEntries[i].runs();
      if (runs[i] && !best) best = compiled[i];
    }
    compiled[kCount] = nullptr;
    features = dyq::features();
  }
};

const Table& table() {
  static const Table t;
  return t;
}

[[maybe_unused]] const Table& kStartUp = table();  // detect at load time, not on the first call

void serial_run(int64_t n, int64_t, const void* ctx, RangeBody body) {
  if (n > 0) body(ctx, 0, n);
}

// Multiply-adds one thread should get before a call is split over more (a fork costs microseconds).
constexpr int64_t kMinWorkPerThread = int64_t{1} << 18;
// Activation values one thread should quantize before quantization is split.
constexpr int64_t kMinQuantizePerThread = int64_t{1} << 15;

struct QuantizeCtx {
  const Path* path;
  const float* x;
  int64_t k, padded;
  int bits;
  uint8_t* q;
  float *scale, *zero;
};

struct U8Ctx {
  const Path* path;
  const U8Problem* p;
};

struct F32Ctx {
  const Path* path;
  const F32Problem* p;
};

int64_t unit_grain(int64_t m, int64_t padded) {
  const int64_t work = m * kUnitRows * padded;
  return work >= kMinWorkPerThread ? 1 : kMinWorkPerThread / (work > 0 ? work : 1);
}

}  // namespace

const Parallel kSerial = {serial_run};

const Path* const* compiled_paths() { return table().compiled; }

const Path* find_path(const char* name) {
  const Table& t = table();
  for (size_t i = 0; i < kCount; ++i)
    if (t.runs[i] && !std::strcmp(kEntries[i].path.name, name)) return t.compiled[i];
  return nullptr;
}

const Path* best_path() { return table().best; }

const char* unsupported_reason(const char* name) {
  static thread_local std::string reason;
  const Table& t = table();
  for (size_t i = 0; i < kCount; ++i) {
    if (std::strcmp(kEntries[i].path.name, name)) continue;
    if (t.runs[i]) return nullptr;
    reason = std::string("this CPU lacks ") + kEntries[i].needs + " (it has: " +
             (t.features.empty() ? "none of them" : t.features) + ")";
    return reason.c_str();
  }
  reason = std::string("no '") + name + "' kernels in this build (built for: ";
  for (size_t i = 0; i < kCount; ++i) reason += std::string(i ? ", " : "") + kEntries[i].path.name;
  reason += ")";
  return reason.c_str();
}

const char* cpu_features() { return table().features.c_str(); }

int64_t packed_bytes(const Path& path, int64_t n, int64_t padded) {
  const int64_t rows = (n + path.tile_rows - 1) / path.tile_rows * path.tile_rows;
  return rows * (padded / 2);
}

void* thread_scratch(int slot, size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[5];
  Buffer& b = buffers[slot];
  if (b.size < bytes) {
    std::free(b.data);
    const size_t size = (bytes + bytes / 2 + 63) / 64 * 64;
    b.data = std::aligned_alloc(64, size);
    b.size = b.data ? size : 0;
    if (!b.data) std::abort();
  }
  return b.data;
}

void quantize(const Path& path, const float* x, int64_t m, int64_t k, int64_t padded, int bits, uint8_t* q,
              float* scale, float* zero) {
  path.quantize(x, k, padded, 0, m, bits, q, scale, zero);
}

void linear_u8(const Path& path, const float* x, int64_t m, int64_t k, int bits, const Weights& w, float* out,
               const Parallel& par) {
  const int64_t padded = w.padded;
  auto* q = static_cast<uint8_t*>(thread_scratch(2, static_cast<size_t>(m * padded)));
  auto* xs = static_cast<float*>(thread_scratch(3, static_cast<size_t>(2 * m) * sizeof(float)));
  float* xz = xs + m;
  const QuantizeCtx qc{&path, x, k, padded, bits, q, xs, xz};
  if (m * k < 2 * kMinQuantizePerThread) {
    path.quantize(x, k, padded, 0, m, bits, q, xs, xz);
  } else {
    const int64_t grain = kMinQuantizePerThread / k + 1;
    par.run(m, grain, &qc, [](const void* c, int64_t b, int64_t e) {
      const auto* a = static_cast<const QuantizeCtx*>(c);
      a->path->quantize(a->x, a->k, a->padded, b, e, a->bits, a->q, a->scale, a->zero);
    });
  }
  const U8Problem p{q, xs, xz, w, out, m};
  const U8Ctx ctx{&path, &p};
  const int64_t units = (w.n + kUnitRows - 1) / kUnitRows;
  par.run(units, unit_grain(m, padded), &ctx, [](const void* c, int64_t b, int64_t e) {
    const auto* a = static_cast<const U8Ctx*>(c);
    const int64_t n1 = e * kUnitRows < a->p->w.n ? e * kUnitRows : a->p->w.n;
    a->path->u8_rows(*a->p, b * kUnitRows, n1);
  });
}

void linear_f32(const Path& path, const float* x, int64_t m, int64_t k, const Weights& w, float* out,
                const Parallel& par) {
  const int64_t padded = w.padded;
  if (k != padded) {  // the kernels read whole groups: copy the rows out with zeros beyond k
    auto* xp = static_cast<float*>(thread_scratch(4, static_cast<size_t>(m * padded) * sizeof(float)));
    for (int64_t r = 0; r < m; ++r) {
      std::memcpy(xp + r * padded, x + r * k, static_cast<size_t>(k) * sizeof(float));
      std::memset(xp + r * padded + k, 0, static_cast<size_t>(padded - k) * sizeof(float));
    }
    x = xp;
  }
  const F32Problem p{x, w, out, m};
  const F32Ctx ctx{&path, &p};
  const int64_t units = (w.n + kUnitRows - 1) / kUnitRows;
  par.run(units, unit_grain(m, padded), &ctx, [](const void* c, int64_t b, int64_t e) {
    const auto* a = static_cast<const F32Ctx*>(c);
    const int64_t n1 = e * kUnitRows < a->p->w.n ? e * kUnitRows : a->p->w.n;
    a->path->f32_rows(*a->p, b * kUnitRows, n1);
  });
}

}  // namespace dyq
