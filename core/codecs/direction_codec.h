#pragma once
// Direction codecs: a unit vector u in S^(d-1) (already rotated, SPHERICAL_KV.md 1 step 3) to
// integer codes and back. Codebooks come from lloyd_max.h; levels are float, as the kernels get
// them, and encoding is nearest-level like kernels/cpu/ada_codec_cpu.cpp, so coord-lloyd and
// pair-polar give exactly the codes the kernels store (tests/core/codec_direction_test.cpp).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/codecs/block_vq.h"

namespace skv::codecs {

class DirectionCodec {
 public:
  virtual ~DirectionCodec() = default;
  virtual std::string name() const = 0;     // e.g. "coord-lloyd(3)"
  virtual int dim() const = 0;              // d
  virtual int code_count() const = 0;       // codes per vector
  virtual int code_bits(int i) const = 0;   // bits of code i
  double bits_per_element() const;          // direction-code bits / d (no scale, no mean)
  // codes.size() == code_count(), u.size() == u_hat.size() == dim().
  virtual void encode(std::span<const double> u, std::span<uint32_t> codes) const = 0;
  virtual void decode(std::span<const uint32_t> codes, std::span<double> u_hat) const = 0;
  // q . u^ without forming u^ (per-codec LUT scoring, SPHERICAL_KV.md 1 "Scoring"). The
  // default decodes; the codecs below override it with their table form.
  virtual double score(std::span<const double> q, std::span<const uint32_t> codes) const;
};

// Each coordinate on `bits` bits, Lloyd–Max levels of the sphere-coordinate law.
class CoordLloydCodec final : public DirectionCodec {
 public:
  CoordLloydCodec(int d, int bits, bool nested = true);
  std::string name() const override;
  int dim() const override { return d_; }
  int code_count() const override { return d_; }
  int code_bits(int) const override { return bits_; }
  void encode(std::span<const double> u, std::span<uint32_t> codes) const override;
  void decode(std::span<const uint32_t> codes, std::span<double> u_hat) const override;
  double score(std::span<const double> q, std::span<const uint32_t> codes) const override;
  const std::vector<float>& levels() const { return levels_; }
  int bits() const { return bits_; }
  bool nested() const { return nested_; }

 private:
  int d_, bits_;
  bool nested_;
  std::vector<float> levels_;
};

// Per plane (u[2i], u[2i+1]): angle on a bits (uniform centres 2 pi (c + 0.5) / 2^a), plane
// radius on p bits (Lloyd–Max, plane-radius law); code = radius << a | angle (ada_layout.h).
class PairPolarCodec final : public DirectionCodec {
 public:
  PairPolarCodec(int d, int angle_bits, int radius_bits, bool nested = true);
  std::string name() const override;
  int dim() const override { return d_; }
  int code_count() const override { return d_ / 2; }
  int code_bits(int) const override { return a_ + p_; }
  void encode(std::span<const double> u, std::span<uint32_t> codes) const override;
  void decode(std::span<const uint32_t> codes, std::span<double> u_hat) const override;
  double score(std::span<const double> q, std::span<const uint32_t> codes) const override;
  const std::vector<float>& radius_levels() const { return radii_; }

 private:
  int d_, a_, p_;
  bool nested_;
  std::vector<float> radii_;
};

// PolarQuant-style recursion (tree-polar). Level 1: the angle of each coordinate pair,
// uniform on [0, 2 pi) -> uniform cells. Level l >= 2: node angle psi = atan2(|right|, |left|)
// of two children of dimension m = 2^(l-1) each, in [0, pi/2], law sin^(m-1)(2 psi) (exact,
// derived in docs/CODECS.md) -> Lloyd–Max levels. log2(d) levels, d - 1 angles in all.
// bits_per_level[l-1] gives level l's bits; a shorter list repeats its last entry.
// CPU only (not a kernel layout). Codes: the d/2 level-1 angles, then d/4 level-2 angles, ...
class TreePolarCodec final : public DirectionCodec {
 public:
  TreePolarCodec(int d, std::vector<int> bits_per_level);
  std::string name() const override;
  int dim() const override { return d_; }
  int code_count() const override { return d_ - 1; }
  int code_bits(int i) const override;
  void encode(std::span<const double> u, std::span<uint32_t> codes) const override;
  void decode(std::span<const uint32_t> codes, std::span<double> u_hat) const override;
  // q . u^ as a tree of table look-ups: level-1 table T1[i][c] = q[2i] cos th_c + q[2i+1] sin th_c,
  // then up the tree s(node) = cos(psi_c) s(left) + sin(psi_c) s(right) with per-level cos/sin
  // tables; d/2 look-ups + (d/2 - 1) multiply-adds, never the dense direction.
  double score(std::span<const double> q, std::span<const uint32_t> codes) const override;
  int levels() const { return static_cast<int>(bits_.size()); }

 private:
  int d_;
  std::vector<int> bits_;                       // per level
  std::vector<std::vector<double>> cos_, sin_;  // per level: cos/sin of each level's angle levels
  std::vector<std::vector<double>> bounds_;     // per level >= 2: Lloyd–Max boundaries
};

// Block vector quantiser (block_vq.h): d/D blocks of D coordinates, each one code of `bits`
// bits from a 2^bits-entry sign-symmetric k-means codebook of the block law. CPU only (no
// kernel layout). Scoring by table: T[b][c] = q[bD..bD+D) . codeword_c, then sum_b T[b][c_b].
class BlockVqCodec final : public DirectionCodec {
 public:
  BlockVqCodec(int d, int block_dim, int bits);
  std::string name() const override;
  int dim() const override { return d_; }
  int code_count() const override { return d_ / book_->block_dim; }
  int code_bits(int) const override { return book_->bits; }
  void encode(std::span<const double> u, std::span<uint32_t> codes) const override;
  void decode(std::span<const uint32_t> codes, std::span<double> u_hat) const override;
  // sum_b T[b][c_b] with the table entries of these codes only (same arithmetic as the table).
  double score(std::span<const double> q, std::span<const uint32_t> codes) const override;
  // The whole table for one (rotated) query, fp32 as a kernel would hold it: [d/D][2^bits].
  std::vector<float> lut(std::span<const float> q) const;
  // sum_b lut[b][c_b], fp32 accumulation.
  float score_lut(const std::vector<float>& lut, std::span<const uint32_t> codes) const;
  const BlockVqCodebook& codebook() const { return *book_; }

 private:
  int d_;
  const BlockVqCodebook* book_;
};

// "coord-lloyd(3)", "coord-lloyd(3,unnested)", "pair-polar(3,2)", "tree-polar(4,3,2)",
// "block-vq(4,12)" (block dim, bits per block).
std::unique_ptr<DirectionCodec> make_direction_codec(const std::string& spec, int d);

}  // namespace skv::codecs
