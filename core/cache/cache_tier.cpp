#include "core/cache/cache_tier.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/common/error.h"

namespace skv {
namespace {

// fp16 round trip (KIVI stores its scale and zero point in fp16).
float to_half_precision(float x) {
  // c10::Half is not needed here: round through _Float16 where the compiler has it.
  return static_cast<float>(static_cast<_Float16>(x));
}

// One group: asymmetric uniform quantization with 2^bits levels between min and max.
void quantize_group(int bits, const float* x, int n, int stride, float* out) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[size_t(i) * stride]);
    hi = std::max(hi, x[size_t(i) * stride]);
  }
  const int levels = (1 << bits) - 1;
  const float zero = to_half_precision(lo);
  const float scale = to_half_precision((hi - lo) / float(levels));
  for (int i = 0; i < n; ++i) {
    const float v = x[size_t(i) * stride];
    if (scale == 0.f) {
      out[size_t(i) * stride] = zero;
      continue;
    }
    const float c = std::clamp(std::nearbyint((v - zero) / scale), 0.f, float(levels));
    out[size_t(i) * stride] = zero + c * scale;
  }
}

}  // namespace

CacheTier make_cache_tier(const codecs::TierFormat& format, int head_dim) {
  CacheTier t;
  t.name = format.name;
  t.layout = format.layout(head_dim);
  t.books = codecs::tier_codebooks(format, head_dim);
  t.stored_page_bytes = kernels::page_bytes(t.layout);
  t.accounted_page_bytes = t.stored_page_bytes;
  return t;
}

CacheTier make_kivi_tier(int bits, int head_dim, int page_tokens) {
  if (bits < 1 || bits > 8) throw Error("KIVI tier: bits must be in 1..8, got " + std::to_string(bits));
  CacheTier t;
  t.name = "kivi" + std::to_string(bits);
  t.kivi_bits = bits;
  t.layout.head_dim = head_dim;
  t.layout.key_kind = kernels::KeyKind::kFp16;
  t.layout.value_kind = kernels::ValueKind::kFp16;
  t.layout.page_tokens = page_tokens;
  if (const char* why = kernels::validate_layout(t.layout)) throw Error(std::string("KIVI tier: ") + why);
  t.stored_page_bytes = kernels::page_bytes(t.layout);
  const size_t P = size_t(page_tokens), d = size_t(head_dim);
  const size_t codes = kernels::align16((P * d * size_t(bits) + 7) / 8);
  const size_t key_params = kernels::align16(d * 2 * 2);                   // per channel scale + zero
  const size_t value_params = kernels::align16(P * ((d + 31) / 32) * 2 * 2);  // per token, per 32 ch
  t.accounted_page_bytes = 2 * codes + key_params + value_params;
  return t;
}

CacheTier load_cache_tier(const std::string& name, int head_dim) {
  if (name.rfind("kivi", 0) == 0 && name.size() > 4 &&
      std::all_of(name.begin() + 4, name.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return make_kivi_tier(std::stoi(name.substr(4)), head_dim);
  const auto file = codecs::default_tiers_dir() / (name + ".json");
  if (!std::filesystem::exists(file))
    throw Error("unknown tier '" + name + "': no " + file.string() + " (or use kivi2 / kivi4)");
  return make_cache_tier(codecs::load_tier_format(file), head_dim);
}

std::vector<CacheTier> load_cache_tiers(const std::string& spec, int head_dim) {
  std::vector<CacheTier> out;
  if (spec.find(',') == std::string::npos) {
    const auto set_file = codecs::default_tiers_dir() / (spec + ".json");
    if (std::filesystem::exists(set_file)) {
      // A tier-set file has a "tiers" array; a single tier file does not.
      try {
        const codecs::TierSet set = codecs::load_tier_set(set_file);
        for (const auto& f : set.tiers) out.push_back(make_cache_tier(f, head_dim));
        return out;
      } catch (const Error&) {
        // not a set: fall through and read it as one tier
      }
    }
  }
  size_t from = 0;
  while (from <= spec.size()) {
    const size_t comma = std::min(spec.find(',', from), spec.size());
    const std::string name = spec.substr(from, comma - from);
    if (name.empty()) throw Error("tier list '" + spec + "' has an empty entry");
    out.push_back(load_cache_tier(name, head_dim));
    from = comma + 1;
  }
  if (out.size() > size_t(kernels::kMaxTiers))
    throw Error("tier list '" + spec + "' has more than " + std::to_string(kernels::kMaxTiers) + " tiers");
  return out;
}

void kivi_quantize(int bits, int count, int d, const float* keys, const float* values, float* keys_out,
                   float* values_out) {
  if (count <= 0) return;
  for (int i = 0; i < d; ++i) quantize_group(bits, keys + i, count, d, keys_out + i);  // per channel
  for (int j = 0; j < count; ++j)
    for (int g = 0; g < d; g += 32)
      quantize_group(bits, values + size_t(j) * d + g, std::min(32, d - g), 1, values_out + size_t(j) * d + g);
}

}  // namespace skv
