#pragma once
// Scalar baselines for codec-eval at matched bits (pure functions on a row-major [n, d] block).
// Asymmetric int-b with fp16 scale and zero per group: s = fp16((max - min) / (2^b - 1)),
// z = fp16(min), code = clamp(round((x - z) / s), 0, 2^b - 1), x^ = z + code * s (s == 0: x^ = z).
// bits_per_element is exact: codes + 32 bits (scale + zero) per group, over n * d elements.
#include <cstdint>
#include <vector>

namespace skv::codecs {

struct QuantizedBlock {
  std::vector<float> recon;  // [n, d]
  double bits_per_element = 0;
};

// KIVI-style keys: per channel, groups of `group_tokens` consecutive tokens (the last group
// may be shorter and still pays one scale + zero per channel).
QuantizedBlock kivi_per_channel(const float* x, int n, int d, int bits, int group_tokens = 128);

// Per token, groups of `group` consecutive channels (KIVI values: group 32).
QuantizedBlock per_token_int(const float* x, int n, int d, int bits, int group = 32);

// Randomized-Hadamard-rotated per-token int-b: y = Pi x, per_token_int(y), x^ = Pi^T y^.
QuantizedBlock rotated_per_token_int(const float* x, int n, int d, int bits, int group, const int8_t* signs);

}  // namespace skv::codecs
