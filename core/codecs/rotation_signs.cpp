#include "core/codecs/rotation_signs.h"

#include "core/common/error.h"

namespace skv::codecs {

std::vector<int8_t> hadamard_signs(uint64_t seed, int layer, int kv_head, int d) {
  if (d <= 0 || (d & (d - 1)) != 0) throw Error("Hadamard signs: head_dim must be a power of two, got " + std::to_string(d));
  if (layer < 0 || kv_head < 0) throw Error("Hadamard signs: layer and kv head must be >= 0");
  uint64_t state = splitmix64_mix(seed ^ splitmix64_mix((uint64_t(layer) << 32) | uint32_t(kv_head)));
  std::vector<int8_t> s(d);
  for (int i = 0; i < d; ++i) s[i] = (splitmix64_next(state) >> 63) ? int8_t(-1) : int8_t(1);
  return s;
}

std::vector<int8_t> layer_hadamard_signs(uint64_t seed, int layer, int num_kv_heads, int d) {
  std::vector<int8_t> all;
  all.reserve(size_t(num_kv_heads) * d);
  for (int h = 0; h < num_kv_heads; ++h) {
    const auto s = hadamard_signs(seed, layer, h, d);
    all.insert(all.end(), s.begin(), s.end());
  }
  return all;
}

}  // namespace skv::codecs
