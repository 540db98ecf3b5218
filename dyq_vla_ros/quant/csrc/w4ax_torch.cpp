// The torch binding of the W4AX kernel core (w4ax_core.h): tensors to pointers, torch's thread pool as
// the core's parallel-for, one call per layer forward. Layers pick a path by index once, at load time.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <string>
#include <vector>

#include "w4ax_core.h"

namespace {

void torch_run(int64_t n, int64_t grain, const void* ctx, dyq::RangeBody body) {
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) { body(ctx, begin, end); });
}

const dyq::Parallel kTorchThreads = {torch_run};

int64_t path_count() {
  int64_t n = 0;
  for (const dyq::Path* const* p = dyq::compiled_paths(); *p; ++p) ++n;
  return n;
}

const dyq::Path& path_at(int64_t index) {
  TORCH_CHECK(index >= 0 && index < path_count(), "no kernel path ", index);
  return *dyq::compiled_paths()[index];
}

std::vector<std::string> paths() {
  std::vector<std::string> names;
  for (const dyq::Path* const* p = dyq::compiled_paths(); *p; ++p) names.emplace_back((*p)->name);
  return names;
}

// The index of a path this CPU runs; raises (with the reason) for any other name.
int64_t path_index(const std::string& name) {
  const dyq::Path* path = dyq::find_path(name.c_str());
  const char* reason = dyq::unsupported_reason(name.c_str());
  TORCH_CHECK(path != nullptr, "kernel path '", name, "' cannot run here: ", reason ? reason : "unknown");
  const dyq::Path* const* all = dyq::compiled_paths();
  int64_t i = 0;
  while (all[i] != path) ++i;
  return i;
}

c10::optional<std::string> unsupported_reason(const std::string& name) {
  const char* reason = dyq::unsupported_reason(name.c_str());
  return reason ? c10::optional<std::string>(reason) : c10::nullopt;
}

c10::optional<std::string> best_path() {
  const dyq::Path* p = dyq::best_path();
  return p ? c10::optional<std::string>(p->name) : c10::nullopt;
}

dyq::Weights weights(const torch::Tensor& packed, const torch::Tensor& scales, const c10::optional<torch::Tensor>& corr,
                     const torch::Tensor* bias, int64_t group, int64_t n, const dyq::Path& path) {
  TORCH_CHECK(packed.scalar_type() == torch::kUInt8 && packed.is_contiguous(), "packed weights: contiguous uint8");
  TORCH_CHECK(scales.scalar_type() == torch::kHalf && scales.is_contiguous() && scales.dim() == 2,
              "group scales: contiguous float16 [rows, groups]");
  TORCH_CHECK(group > 0 && group % 64 == 0, "group size must be a multiple of 64");
  const int64_t padded = scales.size(1) * group;
  TORCH_CHECK(packed.numel() == dyq::packed_bytes(path, n, padded) && scales.size(0) * padded / 2 == packed.numel(),
              "packed weights and scales do not match ", n, " rows of ", padded, " values in the ", path.name,
              " layout");
  const float* cp = nullptr;
  if (corr.has_value()) {
    TORCH_CHECK(corr->scalar_type() == torch::kFloat && corr->numel() >= n, "zero-point terms: float32 [n]");
    cp = corr->data_ptr<float>();
  }
  return {packed.data_ptr<uint8_t>(), reinterpret_cast<const uint16_t*>(scales.data_ptr<at::Half>()), cp,
          bias ? bias->data_ptr<float>() : nullptr, n, padded, group};
}

// y [..., n] = x [..., K] through one W4AX layer: activations quantized per token to `bits` and the
// integer kernel (2/4/8), or the float kernel (16); in x's dtype.
torch::Tensor forward(const torch::Tensor& x, int64_t bits, const torch::Tensor& packed, const torch::Tensor& scales,
                      const c10::optional<torch::Tensor>& corr, const c10::optional<torch::Tensor>& bias,
                      int64_t group, int64_t n, int64_t path_id) {
  const dyq::Path& path = path_at(path_id);
  TORCH_CHECK(bits == 2 || bits == 4 || bits == 8 || bits == 16, "activation bits must be 2, 4, 8 or 16");
  TORCH_CHECK(x.dim() >= 1 && x.device().is_cpu(), "x must be a CPU tensor");
  TORCH_CHECK(bits == 16 || corr.has_value(), "the integer path needs the zero-point terms");
  const int64_t k = x.size(-1);
  const bool f32 = x.scalar_type() == torch::kFloat;
  const torch::Tensor xf = f32 && x.is_contiguous() ? x : x.to(torch::kFloat).contiguous();
  torch::Tensor bias32;
  if (bias.has_value()) bias32 = bias->scalar_type() == torch::kFloat ? *bias : bias->to(torch::kFloat);
  const dyq::Weights w = weights(packed, scales, corr, bias.has_value() ? &bias32 : nullptr, group, n, path);
  TORCH_CHECK(k <= w.padded, "x has ", k, " features, the layer ", w.padded, " at most");
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes.back() = n;
  torch::Tensor out = torch::empty(sizes, xf.options());
  const int64_t m = k ? xf.numel() / k : 0;
  if (m > 0) {
    if (bits == 16)
      dyq::linear_f32(path, xf.data_ptr<float>(), m, k, w, out.data_ptr<float>(), kTorchThreads);
    else
      dyq::linear_u8(path, xf.data_ptr<float>(), m, k, static_cast<int>(bits), w, out.data_ptr<float>(),
                     kTorchThreads);
  }
  return f32 ? out : out.to(x.scalar_type());
}

// x [m, K] float32 -> (codes [m, padded] uint8 as the path stores them, scale [m], zero [m]).
std::vector<torch::Tensor> quantize_per_token(const torch::Tensor& x, int64_t bits, int64_t padded, int64_t path_id) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat, "x must be a 2-D float32 tensor");
  TORCH_CHECK(bits == 2 || bits == 4 || bits == 8, "activation bits must be 2, 4 or 8");
  const torch::Tensor xc = x.contiguous();
  const int64_t m = xc.size(0), k = xc.size(1);
  TORCH_CHECK(padded >= k, "padded width smaller than the input");
  auto q = torch::empty({m, padded}, torch::kUInt8);
  auto scale = torch::empty({m}, torch::kFloat);
  auto zero = torch::empty({m}, torch::kFloat);
  if (m > 0)
    dyq::quantize(path_at(path_id), xc.data_ptr<float>(), m, k, padded, static_cast<int>(bits), q.data_ptr<uint8_t>(),
                  scale.data_ptr<float>(), zero.data_ptr<float>());
  return {q, scale, zero};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  mod.doc() = "W4AX CPU kernels, one path per micro-architecture (see csrc/w4ax_core.h)";
  mod.def("paths", &paths, "kernel paths compiled into this build, best first");
  mod.def("path_index", &path_index, "index of a path this CPU runs (raises with the reason otherwise)");
  mod.def("unsupported_reason", &unsupported_reason, "why a path cannot run here, or None");
  mod.def("best_path", &best_path, "the fastest path this CPU runs, or None");
  mod.def("cpu_features", [] { return std::string(dyq::cpu_features()); }, "SIMD features the dispatch saw");
  mod.def("tile_rows", [](int64_t path) { return path_at(path).tile_rows; }, "rows per weight tile of a path's layout");
  mod.def("layout", [](int64_t path) { return std::string(path_at(path).layout == dyq::Layout::kCols ? "cols" : "rows"); },
          "the weight layout a path reads");
  mod.def("act_xor", [](int64_t path) { return static_cast<int64_t>(path_at(path).act_xor); },
          "what a path's activation codes are xor-ed with");
  mod.def("forward", &forward, "one W4AX layer: x [..., K] -> y [..., n] in x's dtype");
  mod.def("quantize_per_token", &quantize_per_token, "per-token activation codes as a path stores them");
}
