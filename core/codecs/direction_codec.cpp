#include "core/codecs/direction_codec.h"

#include <cmath>
#include <numbers>
#include <regex>

#include "core/codecs/lloyd_max.h"
#include "core/common/error.h"

namespace skv::codecs {
namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

// Same rule as kernels/cpu/ada_codec_cpu.cpp nearest_level: first minimum of |u - level|.
uint32_t nearest(double u, const std::vector<float>& levels) {
  uint32_t best = 0;
  double best_d = std::fabs(u - double(levels[0]));
  for (uint32_t c = 1; c < levels.size(); ++c) {
    const double dd = std::fabs(u - double(levels[c]));
    if (dd < best_d) { best_d = dd; best = c; }
  }
  return best;
}

// Same rule as the kernels' PAIR angle code: floor(phi 2^a / 2 pi), phi in [0, 2 pi).
uint32_t angle_code(double x, double y, int a) {
  double phi = std::atan2(y, x);
  if (phi < 0) phi += kTwoPi;
  int c = int(std::floor(phi * double(1 << a) / kTwoPi));
  if (c >= (1 << a)) c = (1 << a) - 1;
  return uint32_t(c);
}
double angle_centre(uint32_t c, int a) { return kTwoPi * (c + 0.5) / double(1 << a); }

void check_dim(int d, const char* who) {
  if (d < 4 || (d & (d - 1)) != 0)
    throw Error(std::string(who) + ": head_dim must be a power of two >= 4, got " + std::to_string(d));
}
void check_bits(int b, int lo, int hi, const char* what) {
  if (b < lo || b > hi)
    throw Error(std::string(what) + " must be in " + std::to_string(lo) + ".." + std::to_string(hi) +
                ", got " + std::to_string(b));
}

}  // namespace

double DirectionCodec::bits_per_element() const {
  double bits = 0;
  for (int i = 0; i < code_count(); ++i) bits += code_bits(i);
  return bits / dim();
}

double DirectionCodec::score(std::span<const double> q, std::span<const uint32_t> codes) const {
  std::vector<double> u(dim());
  decode(codes, u);
  double s = 0;
  for (int i = 0; i < dim(); ++i) s += q[i] * u[i];
  return s;
}

// ---- coord-lloyd ---------------------------------------------------------------------------
CoordLloydCodec::CoordLloydCodec(int d, int bits, bool nested) : d_(d), bits_(bits), nested_(nested) {
  check_dim(d, "coord-lloyd");
  check_bits(bits, 1, 8, "coord-lloyd bits");
  levels_ = cached_codebook("coord", d, bits, nested).levels_f32();
}
std::string CoordLloydCodec::name() const {
  return "coord-lloyd(" + std::to_string(bits_) + (nested_ ? ")" : ",unnested)");
}
void CoordLloydCodec::encode(std::span<const double> u, std::span<uint32_t> codes) const {
  for (int i = 0; i < d_; ++i) codes[i] = nearest(u[i], levels_);
}
void CoordLloydCodec::decode(std::span<const uint32_t> codes, std::span<double> u_hat) const {
  for (int i = 0; i < d_; ++i) u_hat[i] = levels_[codes[i]];
}
double CoordLloydCodec::score(std::span<const double> q, std::span<const uint32_t> codes) const {
  // T[i][c] = q[i] * level[c]; the kernel builds the whole table once per query and tier.
  double s = 0;
  for (int i = 0; i < d_; ++i) s += q[i] * double(levels_[codes[i]]);
  return s;
}

// ---- pair-polar ----------------------------------------------------------------------------
PairPolarCodec::PairPolarCodec(int d, int angle_bits, int radius_bits, bool nested)
    : d_(d), a_(angle_bits), p_(radius_bits), nested_(nested) {
  check_dim(d, "pair-polar");
  check_bits(angle_bits, 1, 8, "pair-polar angle bits");
  check_bits(radius_bits, 0, 8 - angle_bits, "pair-polar radius bits");
  // p = 0: one plane radius; the fp16 scale r/|u^| renormalises, so its value is immaterial.
  radii_ = radius_bits == 0 ? std::vector<float>{1.0f} : cached_codebook("radius", d, radius_bits, nested).levels_f32();
}
std::string PairPolarCodec::name() const {
  return "pair-polar(" + std::to_string(a_) + "," + std::to_string(p_) + (nested_ ? ")" : ",unnested)");
}
void PairPolarCodec::encode(std::span<const double> u, std::span<uint32_t> codes) const {
  for (int i = 0; i < d_ / 2; ++i) {
    const uint32_t ca = angle_code(u[2 * i], u[2 * i + 1], a_);
    const uint32_t cr = nearest(std::hypot(u[2 * i], u[2 * i + 1]), radii_);
    codes[i] = (cr << a_) | ca;
  }
}
void PairPolarCodec::decode(std::span<const uint32_t> codes, std::span<double> u_hat) const {
  for (int i = 0; i < d_ / 2; ++i) {
    const double rho = radii_[codes[i] >> a_], th = angle_centre(codes[i] & ((1u << a_) - 1), a_);
    u_hat[2 * i] = rho * std::cos(th);
    u_hat[2 * i + 1] = rho * std::sin(th);
  }
}
double PairPolarCodec::score(std::span<const double> q, std::span<const uint32_t> codes) const {
  // T[i][c] = rho[c >> a] (q[2i] cos th_c + q[2i+1] sin th_c)
  double s = 0;
  for (int i = 0; i < d_ / 2; ++i) {
    const double th = angle_centre(codes[i] & ((1u << a_) - 1), a_);
    s += double(radii_[codes[i] >> a_]) * (q[2 * i] * std::cos(th) + q[2 * i + 1] * std::sin(th));
  }
  return s;
}

// ---- tree-polar ----------------------------------------------------------------------------
TreePolarCodec::TreePolarCodec(int d, std::vector<int> bits_per_level) : d_(d) {
  check_dim(d, "tree-polar");
  if (bits_per_level.empty()) throw Error("tree-polar: give bits for at least level 1, e.g. tree-polar(4,3)");
  const int levels = int(std::log2(double(d)) + 0.5);
  for (int l = 0; l < levels; ++l) {
    const int b = bits_per_level[std::min<size_t>(l, bits_per_level.size() - 1)];
    check_bits(b, 1, 10, "tree-polar bits");
    bits_.push_back(b);
  }
  cos_.resize(levels);
  sin_.resize(levels);
  bounds_.resize(levels);
  for (int l = 0; l < levels; ++l) {
    std::vector<double> lv;
    if (l == 0) {
      for (int c = 0; c < (1 << bits_[0]); ++c) lv.push_back(angle_centre(uint32_t(c), bits_[0]));
    } else {
      const Codebook& cb = cached_codebook("angle", 1 << l, bits_[l], false);  // m = 2^(level-1)
      lv = cb.levels;
      bounds_[l] = cb.boundaries;
    }
    for (double t : lv) {
      cos_[l].push_back(std::cos(t));
      sin_[l].push_back(std::sin(t));
    }
  }
}
std::string TreePolarCodec::name() const {
  std::string s = "tree-polar(";
  for (size_t l = 0; l < bits_.size(); ++l) s += (l ? "," : "") + std::to_string(bits_[l]);
  return s + ")";
}
int TreePolarCodec::code_bits(int i) const {
  int n = d_ / 2, l = 0;
  while (i >= n) { i -= n; n /= 2; ++l; }
  return bits_[l];
}
void TreePolarCodec::encode(std::span<const double> u, std::span<uint32_t> codes) const {
  std::vector<double> norms(d_ / 2);
  int at = 0;
  for (int i = 0; i < d_ / 2; ++i) {
    codes[at++] = angle_code(u[2 * i], u[2 * i + 1], bits_[0]);
    norms[i] = std::hypot(u[2 * i], u[2 * i + 1]);
  }
  for (int l = 1, n = d_ / 4; n >= 1; ++l, n /= 2) {
    for (int i = 0; i < n; ++i) {
      const double psi = std::atan2(norms[2 * i + 1], norms[2 * i]);
      const auto& b = bounds_[l];
      codes[at++] = uint32_t(std::lower_bound(b.begin(), b.end(), psi) - b.begin());
      norms[i] = std::hypot(norms[2 * i], norms[2 * i + 1]);
    }
  }
}
void TreePolarCodec::decode(std::span<const uint32_t> codes, std::span<double> u_hat) const {
  // Top-down: node norms from the root (norm 1).
  const int L = levels();
  std::vector<int> start(L);  // index of each level's first code
  for (int l = 0, at = 0, n = d_ / 2; l < L; ++l, n /= 2) { start[l] = at; at += n; }
  std::vector<double> norms{1.0}, next;
  for (int l = L - 1; l >= 1; --l) {
    next.assign(norms.size() * 2, 0.0);
    for (size_t i = 0; i < norms.size(); ++i) {
      const uint32_t c = codes[start[l] + i];
      next[2 * i] = norms[i] * cos_[l][c];
      next[2 * i + 1] = norms[i] * sin_[l][c];
    }
    norms.swap(next);
  }
  for (int i = 0; i < d_ / 2; ++i) {
    const uint32_t c = codes[start[0] + i];
    u_hat[2 * i] = norms[i] * cos_[0][c];
    u_hat[2 * i + 1] = norms[i] * sin_[0][c];
  }
}
double TreePolarCodec::score(std::span<const double> q, std::span<const uint32_t> codes) const {
  std::vector<double> s(d_ / 2);
  int at = 0;
  for (int i = 0; i < d_ / 2; ++i, ++at)  // level-1 table T1[i][c]
    s[i] = q[2 * i] * cos_[0][codes[at]] + q[2 * i + 1] * sin_[0][codes[at]];
  for (int l = 1, n = d_ / 4; n >= 1; ++l, n /= 2)
    for (int i = 0; i < n; ++i, ++at) s[i] = cos_[l][codes[at]] * s[2 * i] + sin_[l][codes[at]] * s[2 * i + 1];
  return s[0];
}

// ---- block-vq ------------------------------------------------------------------------------
BlockVqCodec::BlockVqCodec(int d, int block_dim, int bits) : d_(d) {
  check_dim(d, "block-vq");
  book_ = &cached_block_vq(d, block_dim, bits);
}
std::string BlockVqCodec::name() const {
  return "block-vq(" + std::to_string(book_->block_dim) + "," + std::to_string(book_->bits) + ")";
}
void BlockVqCodec::encode(std::span<const double> u, std::span<uint32_t> codes) const {
  const int D = book_->block_dim;
  for (int b = 0; b < d_ / D; ++b) codes[b] = book_->encode(&u[size_t(b) * D]);
}
void BlockVqCodec::decode(std::span<const uint32_t> codes, std::span<double> u_hat) const {
  const int D = book_->block_dim;
  for (int b = 0; b < d_ / D; ++b) book_->codeword(codes[b], &u_hat[size_t(b) * D]);
}
double BlockVqCodec::score(std::span<const double> q, std::span<const uint32_t> codes) const {
  const int D = book_->block_dim;
  double w[8], s = 0;
  for (int b = 0; b < d_ / D; ++b) {
    book_->codeword(codes[b], w);
    double t = 0;  // T[b][c_b]
    for (int i = 0; i < D; ++i) t += q[size_t(b) * D + i] * w[i];
    s += t;
  }
  return s;
}
std::vector<float> BlockVqCodec::lut(std::span<const float> q) const {
  const int D = book_->block_dim, K = book_->size(), B = d_ / D;
  std::vector<float> t(size_t(B) * K);
  double w[8];
  for (int c = 0; c < K; ++c) {
    book_->codeword(uint32_t(c), w);
    for (int b = 0; b < B; ++b) {
      double s = 0;
      for (int i = 0; i < D; ++i) s += double(q[size_t(b) * D + i]) * w[i];
      t[size_t(b) * K + c] = float(s);
    }
  }
  return t;
}
float BlockVqCodec::score_lut(const std::vector<float>& lut, std::span<const uint32_t> codes) const {
  const int K = book_->size();
  float s = 0;
  for (int b = 0; b < code_count(); ++b) s += lut[size_t(b) * K + codes[b]];
  return s;
}

// ---- factory -------------------------------------------------------------------------------
std::unique_ptr<DirectionCodec> make_direction_codec(const std::string& spec, int d) {
  static const std::regex re(R"(^\s*([a-z-]+)\s*\(([0-9,\s]*)(,\s*unnested)?\)\s*$)");
  std::smatch m;
  if (!std::regex_match(spec, m, re))
    throw Error("codec spec '" + spec + "' must look like coord-lloyd(3), pair-polar(3,2), tree-polar(4,3) or block-vq(4,12)");
  std::vector<int> args;
  const std::string list = m[2].str();
  for (size_t p = 0; p < list.size();) {
    const size_t q = list.find(',', p);
    const std::string tok = list.substr(p, q == std::string::npos ? std::string::npos : q - p);
    if (tok.find_first_not_of(" ") != std::string::npos) args.push_back(std::stoi(tok));
    if (q == std::string::npos) break;
    p = q + 1;
  }
  const bool nested = !m[3].matched;
  const std::string kind = m[1].str();
  if (kind == "coord-lloyd" && args.size() == 1) return std::make_unique<CoordLloydCodec>(d, args[0], nested);
  if (kind == "pair-polar" && args.size() == 2) return std::make_unique<PairPolarCodec>(d, args[0], args[1], nested);
  if (kind == "tree-polar" && !args.empty() && nested) return std::make_unique<TreePolarCodec>(d, args);
  if (kind == "block-vq" && args.size() == 2 && nested) return std::make_unique<BlockVqCodec>(d, args[0], args[1]);
  throw Error("codec spec '" + spec +
              "': known codecs are coord-lloyd(b), pair-polar(a,p), tree-polar(b1,b2,...), block-vq(D,bits)");
}

}  // namespace skv::codecs
