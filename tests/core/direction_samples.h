// Test helpers for direction codecs: seeded random unit vectors, and a codec's mean direction
// error over them (float64, independent of the codec's own error estimates).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/codecs/direction_codec.h"

namespace skv::test_inputs {

inline std::vector<double> random_unit(std::mt19937_64& rng, int d) {
  std::normal_distribution<double> n;
  std::vector<double> u(d);
  double s = 0;
  for (auto& x : u) { x = n(rng); s += x * x; }
  for (auto& x : u) x /= std::sqrt(s);
  return u;
}

// E |u - u^/|u^||^2 over n random unit vectors: the error left after the fp16 scale renormalises.
inline double mean_direction_mse(const codecs::DirectionCodec& c, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> codes(c.code_count());
  std::vector<double> uh(c.dim());
  double total = 0;
  for (int t = 0; t < n; ++t) {
    const auto u = random_unit(rng, c.dim());
    c.encode(u, codes);
    c.decode(codes, uh);
    double nh = 0, dot = 0;
    for (int i = 0; i < c.dim(); ++i) { nh += uh[i] * uh[i]; dot += u[i] * uh[i]; }
    total += 2 - 2 * dot / std::sqrt(nh);
  }
  return total / n;
}

}  // namespace skv::test_inputs
