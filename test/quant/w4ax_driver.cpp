// Test driver for the W4AX kernel core without torch: built natively with SIMDe (the x86 VNNI paths on an
// AVX2 CPU) or cross-compiled for aarch64 and run under qemu-user (test_cross_paths.py).
//
//   w4ax_driver PATH IN OUT [IN OUT ...]   runs layers on kernel path PATH
//   w4ax_driver --paths       prints "name runnable tile_rows act_xor" per compiled path, then the features
//
// IN: int64 m, k, n, padded, group, bits, has_bias; float x[m*k]; uint8 packed[packed_bytes] (in PATH's
// layout); uint16 scales[rows*groups]; float corr[n]; float bias[n] if has_bias.
// OUT: float y[m*n]; for bits < 16 also uint8 codes[m*padded], float scale[m], float zero[m].
// Exit status 3: PATH cannot run on this CPU (the reason on stderr).
#include <cstdio>
#include <cstring>
#include <vector>

#include "w4ax_core.h"

namespace {

template <class T>
bool read(std::FILE* f, std::vector<T>& v, size_t count) {
  v.resize(count);
  return std::fread(v.data(), sizeof(T), count, f) == count;
}

template <class T>
void write(std::FILE* f, const std::vector<T>& v) {
  std::fwrite(v.data(), sizeof(T), v.size(), f);
}

int list_paths() {
  for (const dyq::Path* const* p = dyq::compiled_paths(); *p; ++p)
    std::printf("%s %d %lld %d\n", (*p)->name, dyq::find_path((*p)->name) != nullptr,
                static_cast<long long>((*p)->tile_rows), (*p)->act_xor);
  std::printf("features: %s\n", dyq::cpu_features());
  return 0;
}

// One layer from `in_name` to `out_name`; false on a malformed file.
bool run_layer(const dyq::Path& path, const char* in_name, const char* out_name) {
  std::FILE* in = std::fopen(in_name, "rb");
  if (!in) return false;
  std::vector<int64_t> head;
  if (!read(in, head, 7)) return false;
  const int64_t m = head[0], k = head[1], n = head[2], padded = head[3], group = head[4], bits = head[5];
  const int64_t rows = dyq::packed_bytes(path, n, padded) / (padded / 2), groups = padded / group;
  std::vector<float> x, corr, bias;
  std::vector<uint8_t> packed;
  std::vector<uint16_t> scales;
  bool ok = read(in, x, m * k) && read(in, packed, rows * padded / 2) && read(in, scales, rows * groups) &&
            read(in, corr, n);
  if (ok && head[6]) ok = read(in, bias, n);
  std::fclose(in);
  if (!ok) return false;
  const dyq::Weights w{packed.data(), scales.data(), corr.data(), head[6] ? bias.data() : nullptr, n, padded, group};
  std::vector<float> y(m * n);
  std::FILE* out = std::fopen(out_name, "wb");
  if (!out) return false;
  if (bits == 16) {
    dyq::linear_f32(path, x.data(), m, k, w, y.data(), dyq::kSerial);
    write(out, y);
  } else {
    dyq::linear_u8(path, x.data(), m, k, static_cast<int>(bits), w, y.data(), dyq::kSerial);
    std::vector<uint8_t> codes(m * padded);
    std::vector<float> scale(m), zero(m);
    dyq::quantize(path, x.data(), m, k, padded, static_cast<int>(bits), codes.data(), scale.data(), zero.data());
    write(out, y);
    write(out, codes);
    write(out, scale);
    write(out, zero);
  }
  std::fclose(out);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && !std::strcmp(argv[1], "--paths")) return list_paths();
  if (argc < 4 || argc % 2) {
    std::fprintf(stderr, "usage: %s PATH IN OUT [IN OUT ...] | --paths\n", argv[0]);
    return 2;
  }
  const dyq::Path* path = dyq::find_path(argv[1]);
  if (!path) {
    std::fprintf(stderr, "%s\n", dyq::unsupported_reason(argv[1]));
    return 3;
  }
  for (int i = 2; i < argc; i += 2)
    if (!run_layer(*path, argv[i], argv[i + 1])) {
      std::fprintf(stderr, "cannot run %s -> %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  return 0;
}
