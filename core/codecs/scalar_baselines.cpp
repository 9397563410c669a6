#include "core/codecs/scalar_baselines.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/common/error.h"
#include "kernels/cpu/ada_reference.h"
#include "kernels/cpu/fp16.h"

namespace skv::codecs {
namespace {

using kernels::cpu::round_to_half;

void check(int n, int d, int bits, int group, const char* who) {
  if (n < 0 || d <= 0) throw Error(std::string(who) + ": block shape must be n >= 0, d > 0");
  if (bits < 1 || bits > 8) throw Error(std::string(who) + ": bits must be in 1..8, got " + std::to_string(bits));
  if (group < 1) throw Error(std::string(who) + ": group must be >= 1");
}

// Quantises the elements x[idx(0..count)] of one group in place into out.
template <class Index>
void quantize_group(const float* x, float* out, int count, int bits, Index idx) {
  float lo = x[idx(0)], hi = x[idx(0)];
  for (int i = 1; i < count; ++i) { lo = std::min(lo, x[idx(i)]); hi = std::max(hi, x[idx(i)]); }
  const float qmax = float((1 << bits) - 1);
  const float s = round_to_half((hi - lo) / qmax), z = round_to_half(lo);
  for (int i = 0; i < count; ++i) {
    float c = 0;
    if (s > 0) c = std::clamp(std::nearbyint((x[idx(i)] - z) / s), 0.0f, qmax);
    out[idx(i)] = z + c * s;
  }
}

}  // namespace

QuantizedBlock kivi_per_channel(const float* x, int n, int d, int bits, int group_tokens) {
  check(n, d, bits, group_tokens, "kivi_per_channel");
  QuantizedBlock q;
  q.recon.assign(size_t(n) * d, 0.f);
  long groups = 0;
  for (int t0 = 0; t0 < n; t0 += group_tokens) {
    const int cnt = std::min(group_tokens, n - t0);
    for (int c = 0; c < d; ++c, ++groups)
      quantize_group(x, q.recon.data(), cnt, bits, [&](int i) { return size_t(t0 + i) * d + c; });
  }
  q.bits_per_element = n ? (double(n) * d * bits + 32.0 * groups) / (double(n) * d) : 0;
  return q;
}

QuantizedBlock per_token_int(const float* x, int n, int d, int bits, int group) {
  check(n, d, bits, group, "per_token_int");
  QuantizedBlock q;
  q.recon.assign(size_t(n) * d, 0.f);
  long groups = 0;
  for (int t = 0; t < n; ++t)
    for (int c0 = 0; c0 < d; c0 += group, ++groups)
      quantize_group(x, q.recon.data(), std::min(group, d - c0), bits, [&](int i) { return size_t(t) * d + c0 + i; });
  q.bits_per_element = n ? (double(n) * d * bits + 32.0 * groups) / (double(n) * d) : 0;
  return q;
}

QuantizedBlock rotated_per_token_int(const float* x, int n, int d, int bits, int group, const int8_t* signs) {
  std::vector<float> y(size_t(n) * d);
  std::vector<double> tmp(d), back(d);
  for (int t = 0; t < n; ++t) {
    kernels::cpu::rotate(signs, x + size_t(t) * d, tmp.data(), d);
    for (int i = 0; i < d; ++i) y[size_t(t) * d + i] = float(tmp[i]);
  }
  QuantizedBlock q = per_token_int(y.data(), n, d, bits, group);
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < d; ++i) tmp[i] = q.recon[size_t(t) * d + i];
    kernels::cpu::rotate_transpose(signs, tmp.data(), back.data(), d);
    for (int i = 0; i < d; ++i) q.recon[size_t(t) * d + i] = float(back[i]);
  }
  return q;
}

}  // namespace skv::codecs
