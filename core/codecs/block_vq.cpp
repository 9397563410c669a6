#include "core/codecs/block_vq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <tuple>

#include "core/codecs/rotation_signs.h"
#include "core/common/error.h"

namespace skv::codecs {
namespace {

// Index of the nearest of k codewords (k x D, row-major) to y; ties go to the lower index.
template <int D>
int nearest_d(const double* book, int k, const double* y, double* best_dist) {
  int best = 0;
  double bd = std::numeric_limits<double>::infinity();
  for (int c = 0; c < k; ++c) {
    const double* w = book + size_t(c) * D;
    double s = 0;
    for (int i = 0; i < D; ++i) s += (y[i] - w[i]) * (y[i] - w[i]);
    if (s < bd) { bd = s; best = c; }
  }
  if (best_dist) *best_dist = bd;
  return best;
}
int nearest(const double* book, int k, int D, const double* y, double* best_dist = nullptr) {
  switch (D) {
    case 2: return nearest_d<2>(book, k, y, best_dist);
    case 4: return nearest_d<4>(book, k, y, best_dist);
    default: return nearest_d<8>(book, k, y, best_dist);
  }
}

// n folded blocks |y| of the block law: whole uniform directions of S^(d-1), cut into d/D blocks.
std::vector<double> folded_blocks(int d, int D, int n, uint64_t seed) {
  GaussianStream g(seed);
  std::vector<double> out(size_t(n) * D), u(d);
  for (int at = 0; at < n;) {
    double s = 0;
    for (auto& x : u) { x = g.next(); s += x * x; }
    const double inv = 1.0 / std::sqrt(s);
    for (int b = 0; b < d / D && at < n; ++b, ++at)
      for (int i = 0; i < D; ++i) out[size_t(at) * D + i] = std::fabs(u[b * D + i] * inv);
  }
  return out;
}

double mean_error(const std::vector<double>& book, int D, const std::vector<double>& x) {
  const int k = int(book.size()) / D, n = int(x.size()) / D;
  double total = 0;
  for (int j = 0; j < n; ++j) {
    double e;
    nearest(book.data(), k, D, &x[size_t(j) * D], &e);
    total += e;
  }
  return total / n;
}

}  // namespace

double GaussianStream::next() {
  if (has_spare_) { has_spare_ = false; return spare_; }
  // Two uniforms in (0, 1] from the top 53 bits; Box–Muller.
  const double u1 = (double(splitmix64_next(state_) >> 11) + 1.0) * 0x1.0p-53;
  const double u2 = double(splitmix64_next(state_) >> 11) * 0x1.0p-53;
  const double r = std::sqrt(-2.0 * std::log(u1)), t = 2.0 * std::numbers::pi * u2;
  spare_ = r * std::sin(t);
  has_spare_ = true;
  return r * std::cos(t);
}

void BlockVqCodebook::codeword(uint32_t c, double* out) const {
  const int D = block_dim;
  const double* w = &orthant[size_t(c >> D) * D];
  for (int i = 0; i < D; ++i) out[i] = (c >> i) & 1u ? -w[i] : w[i];
}

uint32_t BlockVqCodebook::encode(const double* y) const {
  const int D = block_dim;
  double a[8];
  uint32_t signs = 0;
  for (int i = 0; i < D; ++i) {
    a[i] = std::fabs(y[i]);
    if (y[i] < 0) signs |= 1u << i;
  }
  return (uint32_t(nearest(orthant.data(), orthant_count(), D, a)) << D) | signs;
}

BlockVqCodebook train_block_vq(int d, int D, int bits, const BlockVqTrainOptions& o) {
  if (D != 2 && D != 4 && D != 8) throw Error("block-vq: block dim must be 2, 4 or 8, got " + std::to_string(D));
  if (d < 2 * D || (d & (d - 1)) != 0)
    throw Error("block-vq: head_dim must be a power of two >= 2 x block dim, got " + std::to_string(d));
  if (bits < D || bits > D + 10)
    throw Error("block-vq(" + std::to_string(D) + "," + std::to_string(bits) + "): bits per block must be in " +
                std::to_string(D) + ".." + std::to_string(D + 10) + " (2^D sign patterns x 1..1024 orthant codewords)");
  BlockVqCodebook cb;
  cb.head_dim = d;
  cb.block_dim = D;
  cb.bits = bits;
  const int k = 1 << (bits - D);
  const int n = std::max(20000, o.samples_per_codeword * k);
  const std::vector<double> x = folded_blocks(d, D, n, o.seed);
  const std::vector<double> holdout = folded_blocks(d, D, std::max(20000, n / 4), splitmix64_mix(o.seed ^ 0x401D0ull));
  // Start: the first k samples (a random draw from the law, deterministic in the seed).
  cb.orthant.assign(x.begin(), x.begin() + size_t(k) * D);
  std::vector<double> sum(size_t(k) * D), err(n);
  std::vector<int> count(k), assign(n);
  double prev = std::numeric_limits<double>::infinity(), mse = 0;
  int it = 0;
  for (; it < o.max_iterations; ++it) {
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    mse = 0;
    // Half the distance from each codeword to its nearest other codeword: a sample at most that
    // far from its current codeword keeps it (Elkan 2003, lemma 1) -- same result, no search.
    std::vector<double> half(k, std::numeric_limits<double>::infinity());
    for (int a = 0; a < k; ++a)
      for (int b = a + 1; b < k; ++b) {
        double s2 = 0;
        for (int i = 0; i < D; ++i) {
          const double e = cb.orthant[size_t(a) * D + i] - cb.orthant[size_t(b) * D + i];
          s2 += e * e;
        }
        half[a] = std::min(half[a], s2 / 4);  // squared: (d/2)^2
        half[b] = std::min(half[b], s2 / 4);
      }
    for (int j = 0; j < n; ++j) {
      const double* y = &x[size_t(j) * D];
      int c = -1;
      if (it > 0) {
        const double* w = &cb.orthant[size_t(assign[j]) * D];
        double s2 = 0;
        for (int i = 0; i < D; ++i) s2 += (y[i] - w[i]) * (y[i] - w[i]);
        if (s2 < half[assign[j]]) { c = assign[j]; err[j] = s2; }  // strict: ties still searched
      }
      if (c < 0) c = nearest(cb.orthant.data(), k, D, y, &err[j]);
      assign[j] = c;
      mse += err[j];
      ++count[c];
      for (int i = 0; i < D; ++i) sum[size_t(c) * D + i] += y[i];
    }
    mse /= n;
    for (int c = 0; c < k; ++c) {
      if (count[c] > 0) {
        for (int i = 0; i < D; ++i) cb.orthant[size_t(c) * D + i] = sum[size_t(c) * D + i] / count[c];
      } else {  // empty cell: move it onto the worst-coded sample (and stop that sample counting)
        const int w = int(std::max_element(err.begin(), err.end()) - err.begin());
        for (int i = 0; i < D; ++i) cb.orthant[size_t(c) * D + i] = x[size_t(w) * D + i];
        err[w] = 0;
      }
    }
    if (prev - mse <= o.tolerance * mse) break;
    prev = mse;
  }
  cb.iterations = it + 1;
  cb.samples = n;
  cb.train_mse = mean_error(cb.orthant, D, x);
  cb.holdout_mse = mean_error(cb.orthant, D, holdout);
  return cb;
}

const BlockVqCodebook& cached_block_vq(int d, int D, int bits) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, int>, std::unique_ptr<BlockVqCodebook>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[{d, D, bits}];
  if (!slot) slot = std::make_unique<BlockVqCodebook>(train_block_vq(d, D, bits));
  return *slot;
}

}  // namespace skv::codecs
