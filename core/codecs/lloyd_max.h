#pragma once
// Lloyd–Max scalar codebooks for the analytic laws of a uniform direction on S^(d-1).
//
// Laws (unnormalised densities; derivation in docs/CODECS.md):
//   coordinate  u_i            : (1 - t^2)^((d-3)/2)        on [-1, 1]    (scaled Beta((d-1)/2,(d-1)/2))
//   plane radius ||(u_2i,u_2i+1)||: rho (1 - rho^2)^((d-4)/2) on [0, 1]
//   sub-norm angle psi = atan2(||b||, ||a||) of two m-dim halves: sin^(m-1)(2 psi) on [0, pi/2]
// Levels are in the units of the unit-sphere direction (not scaled by sqrt(d)).
//
// Quadrature: adaptive Gauss–Kronrod 7/15 on every cell, started on 16 equal panels of the
// cell, refined until |K15 - G7| <= quadrature_tolerance * (mass of the whole law). Lloyd
// iterations stop when no level moves by more than `tolerance * (hi - lo)`.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace skv::codecs {

struct ScalarLaw {
  std::string name;  // unique per law and parameter, e.g. "sphere-coord(d=64)"; a cache key
  double lo = 0.0;
  double hi = 1.0;
  std::function<double(double)> density;  // unnormalised, >= 0 on [lo, hi]
};

ScalarLaw sphere_coordinate_law(int d);    // d >= 3
ScalarLaw sphere_plane_radius_law(int d);  // d >= 4
ScalarLaw subnorm_angle_law(int m);        // m >= 1 (m = 1: uniform on [0, pi/2])

// Integrals of f, x f, x^2 f over [a, b], divided by the law's total mass.
struct CellMoments {
  double m0 = 0, m1 = 0, m2 = 0;
};
struct QuadratureOptions {
  double tolerance = 1e-13;  // relative to the law's total mass
  int initial_panels = 16;
  int max_depth = 40;
};
CellMoments integrate_moments(const ScalarLaw& law, double a, double b,
                              const QuadratureOptions& q = {});

// A scalar quantiser, nearest-level encoding as the kernels do (kernels/cpu/ada_codec_cpu.cpp):
// boundaries are the midpoints of adjacent levels, cell c is (boundaries[c-1], boundaries[c]],
// a tie goes to the lower code. Nested codebooks keep that property (see nested_lloyd_max).
struct Codebook {
  int bits = 0;
  std::vector<double> levels;      // ascending, 2^bits entries
  std::vector<double> boundaries;  // ascending, 2^bits - 1 entries
  double mse = 0.0;                // E[(x - level)^2] under the law the codebook was built for
  bool nested = false;             // tree-structured: cells of bits-1 are unions of cell pairs
  std::vector<float> levels_f32() const { return {levels.begin(), levels.end()}; }
  int root_bits = 0;               // for nested codebooks: the unconstrained root

  uint32_t encode(double x) const;
};

struct LloydMaxOptions {
  double tolerance = 1e-12;  // max level move per iteration / (hi - lo)
  int max_iterations = 50000;
  QuadratureOptions quadrature;
};

// Unconstrained Lloyd–Max with 2^bits levels (bits 1..10).
Codebook lloyd_max(const ScalarLaw& law, int bits, const LloydMaxOptions& opt = {});

// Tree-structured refinement: the root_bits codebook is unconstrained Lloyd–Max; each finer
// codebook splits every cell of the one above in two, so code(bits) >> 1 == code(bits - 1)
// for every x under nearest-level encoding. That needs the two fine levels astride each coarse
// boundary to be symmetric about it; the levels are the constrained Lloyd optimum (centroid
// condition holds for the outer levels, and for each astride pair in the mass-weighted sense).
Codebook nested_lloyd_max(const ScalarLaw& law, int bits, int root_bits = 1,
                          const LloydMaxOptions& opt = {});

// E[(x - Q(x))^2] of any codebook (encoding by its cells) under `law`.
double codebook_mse(const ScalarLaw& law, const Codebook& cb, const QuadratureOptions& q = {});

// What nesting costs: MSE of the nested codebook vs the unconstrained one, per bit depth.
struct NestingCost {
  int bits = 0;
  double mse_unconstrained = 0;
  double mse_nested = 0;
  double ratio() const { return mse_unconstrained > 0 ? mse_nested / mse_unconstrained : 1.0; }
};
std::vector<NestingCost> nesting_cost(const ScalarLaw& law, int max_bits, int root_bits = 1);

// Process-wide cache (thread-safe) of the codebooks the codecs use; computed once per
// (law, bits, nesting). kind: "coord" (param = d), "radius" (param = d), "angle" (param = m).
const Codebook& cached_codebook(const std::string& kind, int param, int bits, bool nested);

}  // namespace skv::codecs
