#pragma once
// Randomized Hadamard signs: Pi = H_d / sqrt(d) * diag(signs) (kernels/ada_layout.h), one sign
// vector per (layer, kv head), reproducible from a seed.
//
// PRNG: splitmix64 (Steele, Lea, Flood 2014; the reference constants of java.util.SplittableRandom).
// The stream of (seed, layer, head) starts at state
//   splitmix64_mix(seed ^ splitmix64_mix((uint64_t(layer) << 32) | uint32_t(head)))
// and sign i is -1 when bit 63 of the i-th output is set, else +1.
#include <cstdint>
#include <vector>

namespace skv::codecs {

inline constexpr uint64_t kDefaultRotationSeed = 0x5C0DEC5EEDull;

// The splitmix64 finaliser (a bijection on 64 bits).
constexpr uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One step: advances state by the golden-ratio increment and returns the mixed value.
constexpr uint64_t splitmix64_next(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  return splitmix64_mix(state);
}

// d signs (+1 / -1) of (layer, kv head).
std::vector<int8_t> hadamard_signs(uint64_t seed, int layer, int kv_head, int d);

// [num_kv_heads][d] signs of one layer, the layout kernels::PagedKv::signs expects.
std::vector<int8_t> layer_hadamard_signs(uint64_t seed, int layer, int num_kv_heads, int d);

}  // namespace skv::codecs
