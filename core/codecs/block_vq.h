#pragma once
// Block vector quantiser for directions (the "higher-dimensional spherical code" of
// SPHERICAL_KV.md 1 step 3, cf. FibQuant): the rotated unit direction u in S^(d-1) is cut into
// d/D blocks of D = 4 or 8 consecutive coordinates and each block is coded by one codeword of a
// 2^bits-entry codebook in R^D. The fp16 scale r/|u^| renormalises as for the other codecs.
//
// Codebook: k-means (Lloyd) on samples of the exact block law -- the first D coordinates of a
// uniform direction on S^(d-1), density ∝ (1 - |y|^2)^((d-D-2)/2) on the unit D-ball -- drawn
// from a fixed-seed splitmix64 + Box–Muller Gaussian stream, so every build gets the same table.
// The law is symmetric under sign flips of each coordinate; the codebook is made so too: it is
// the product of the 2^D sign patterns with K0 = 2^(bits - D) codewords of the positive orthant,
// trained on |y| (sign-symmetric k-means restricted to one orthant; a nearest codeword of y is
// the nearest orthant codeword of |y| with y's signs, because flipping a codeword coordinate to
// the sign of y_i never increases (y_i - c_i)^2). That keeps training and encoding cheap
// (K0 <= 1024 distance evaluations per block) while the codebook keeps 2^bits entries.
// Code of a block: (orthant index << D) | sign mask (bit i set = coordinate i negative).
//
// Not nested: a k-means codebook has no coarser tier inside it, so block-vq pages are not
// demotable by dropping bits (tier_demotion refuses them).
#include <cstdint>
#include <vector>

namespace skv::codecs {

struct BlockVqCodebook {
  int head_dim = 0, block_dim = 0, bits = 0;  // d, D, bits per block (D..D+10)
  std::vector<double> orthant;                // K0 x D positive-orthant codewords
  double train_mse = 0;     // E|y - Q(y)|^2 per block on the training samples
  double holdout_mse = 0;   // the same on an independent sample (the number to trust)
  int samples = 0, iterations = 0;
  int orthant_count() const { return int(orthant.size()) / block_dim; }
  int size() const { return orthant_count() << block_dim; }
  // Codeword c into out[0..D).
  void codeword(uint32_t c, double* out) const;
  uint32_t encode(const double* y) const;  // nearest codeword (ties: lowest orthant index)
};

struct BlockVqTrainOptions {
  int samples_per_codeword = 256;  // orthant samples per orthant codeword (at least 20000 in all)
  int max_iterations = 200;
  double tolerance = 1e-5;  // stop when the relative MSE decrease of one iteration is below this
  uint64_t seed = 0xB10C5EEDull;
};

// Checks: d a power of two >= 2D, D in {2, 4, 8}, bits in D..D+10.
BlockVqCodebook train_block_vq(int head_dim, int block_dim, int bits, const BlockVqTrainOptions& o = {});

// Process-wide cache (thread-safe), default options.
const BlockVqCodebook& cached_block_vq(int head_dim, int block_dim, int bits);

// Deterministic N(0,1) stream (splitmix64 + Box–Muller), independent of the C++ library.
class GaussianStream {
 public:
  explicit GaussianStream(uint64_t seed) : state_(seed) {}
  double next();

 private:
  uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace skv::codecs
