#include "core/codecs/lloyd_max.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <tuple>

#include "core/common/error.h"

namespace skv::codecs {
namespace {

// Gauss–Kronrod 7/15 nodes and weights on [-1, 1] (QUADPACK qk15).
constexpr double kXgk[8] = {0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                            0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                            0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                            0.207784955007898467600689403773245, 0.0};
constexpr double kWgk[8] = {0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                            0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                            0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                            0.204432940075298892414161999234649, 0.209482141084727828012999174891714};
// 7-point Gauss weights at kXgk[1], [3], [5], [7].
constexpr double kWg[4] = {0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                           0.381830050505118944950369775488975, 0.417959183673469387755102040816327};

struct Raw {
  double m0 = 0, m1 = 0, m2 = 0;
};

// One GK15 panel; returns K15 moments and the |K15 - G7| error of m0 + m2 (m1 is bounded by them).
Raw gk15(const std::function<double(double)>& f, double a, double b, double* err) {
  const double c = 0.5 * (a + b), h = 0.5 * (b - a);
  Raw k, g;
  for (int i = 0; i < 8; ++i) {
    const int n = (i == 7) ? 1 : 2;
    for (int s = 0; s < n; ++s) {
      const double x = (s == 0) ? c - h * kXgk[i] : c + h * kXgk[i];
      const double fx = f(x);
      k.m0 += kWgk[i] * fx;
      k.m1 += kWgk[i] * fx * x;
      k.m2 += kWgk[i] * fx * x * x;
      if (i % 2 == 1) {
        const double w = kWg[i / 2];
        g.m0 += w * fx;
        g.m1 += w * fx * x;
        g.m2 += w * fx * x * x;
      }
    }
  }
  k.m0 *= h; k.m1 *= h; k.m2 *= h;
  g.m0 *= h; g.m1 *= h; g.m2 *= h;
  *err = std::abs(k.m0 - g.m0) + std::abs(k.m2 - g.m2);
  return k;
}

void adaptive(const std::function<double(double)>& f, double a, double b, double abs_tol, int depth,
              Raw& acc) {
  double err = 0;
  const Raw r = gk15(f, a, b, &err);
  // Round-off floor: K15 and G7 cannot agree better than a few ulps of the panel's own mass, so
  // an absolute tolerance halved at every split would otherwise recurse to max_depth.
  const double floor = 1e-14 * (std::abs(r.m0) + std::abs(r.m2));
  if (err <= abs_tol || err <= floor || depth <= 0 || b - a < 1e-15) {
    acc.m0 += r.m0; acc.m1 += r.m1; acc.m2 += r.m2;
    return;
  }
  const double m = 0.5 * (a + b);
  adaptive(f, a, m, 0.5 * abs_tol, depth - 1, acc);
  adaptive(f, m, b, 0.5 * abs_tol, depth - 1, acc);
}

Raw integrate_raw(const ScalarLaw& law, double a, double b, double abs_tol, const QuadratureOptions& q) {
  Raw acc;
  if (!(b > a)) return acc;
  const int n = std::max(1, q.initial_panels);
  for (int i = 0; i < n; ++i) {
    const double pa = a + (b - a) * i / n, pb = (i + 1 == n) ? b : a + (b - a) * (i + 1) / n;
    adaptive(law.density, pa, pb, abs_tol / n, q.max_depth, acc);
  }
  return acc;
}

double total_mass(const ScalarLaw& law, const QuadratureOptions& q) {
  // Absolute tolerance bootstrapped from a coarse estimate of the mass.
  const Raw coarse = integrate_raw(law, law.lo, law.hi, 1e-6, q);
  if (!(coarse.m0 > 0)) throw Error("lloyd-max: law " + law.name + " has zero mass on its support");
  return integrate_raw(law, law.lo, law.hi, q.tolerance * coarse.m0, q).m0;
}

struct Normalised {
  const ScalarLaw& law;
  double mass;
  QuadratureOptions q;
  CellMoments cell(double a, double b) const {
    const Raw r = integrate_raw(law, a, b, q.tolerance * mass, q);
    return {r.m0 / mass, r.m1 / mass, r.m2 / mass};
  }
};

// Lloyd–Max with `k` levels inside [a, b] (a cell of the law, or its whole support).
void lloyd_in_cell(const Normalised& nl, double a, double b, int k, const LloydMaxOptions& opt,
                   std::vector<double>& levels, std::vector<double>& bounds) {
  // Start from equal-probability cells (bisection on the cell's CDF).
  const double p_total = nl.cell(a, b).m0;
  bounds.assign(k - 1, 0.0);
  for (int j = 1; j < k; ++j) {
    const double target = p_total * j / k;
    double lo = (j == 1) ? a : bounds[j - 2], hi = b;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      (nl.cell(a, mid).m0 < target ? lo : hi) = mid;
    }
    bounds[j - 1] = 0.5 * (lo + hi);
  }
  levels.assign(k, 0.0);
  const double span = b - a;
  for (int it = 0; it < opt.max_iterations; ++it) {
    double moved = 0;
    for (int c = 0; c < k; ++c) {
      const double ca = (c == 0) ? a : bounds[c - 1], cb = (c == k - 1) ? b : bounds[c];
      const CellMoments m = nl.cell(ca, cb);
      const double lev = (m.m0 > 1e-300) ? m.m1 / m.m0 : 0.5 * (ca + cb);
      moved = std::max(moved, std::abs(lev - levels[c]));
      levels[c] = lev;
    }
    for (int j = 0; j + 1 < k; ++j) bounds[j] = 0.5 * (levels[j] + levels[j + 1]);
    if (it > 0 && moved <= opt.tolerance * span) return;
  }
}

double mse_of(const Normalised& nl, const ScalarLaw& law, const Codebook& cb) {
  const int k = static_cast<int>(cb.levels.size());
  double mse = 0;
  for (int c = 0; c < k; ++c) {
    const double ca = (c == 0) ? law.lo : cb.boundaries[c - 1];
    const double cbnd = (c == k - 1) ? law.hi : cb.boundaries[c];
    const CellMoments m = nl.cell(ca, cbnd);
    const double l = cb.levels[c];
    mse += m.m2 - 2 * l * m.m1 + l * l * m.m0;
  }
  return std::max(0.0, mse);
}

void check_bits(int bits) {
  if (bits < 1 || bits > 10) throw Error("lloyd-max: bits must be in 1..10, got " + std::to_string(bits));
}

}  // namespace

ScalarLaw sphere_coordinate_law(int d) {
  if (d < 3) throw Error("sphere coordinate law needs d >= 3, got d=" + std::to_string(d));
  const double e = 0.5 * (d - 3);
  return {"sphere-coord(d=" + std::to_string(d) + ")", -1.0, 1.0,
          [e](double t) { const double v = 1.0 - t * t; return v <= 0 ? 0.0 : (e == 0 ? 1.0 : std::pow(v, e)); }};
}

ScalarLaw sphere_plane_radius_law(int d) {
  if (d < 4) throw Error("sphere plane-radius law needs d >= 4, got d=" + std::to_string(d));
  const double e = 0.5 * (d - 4);
  return {"sphere-plane-radius(d=" + std::to_string(d) + ")", 0.0, 1.0, [e](double r) {
            const double v = 1.0 - r * r;
            return (v <= 0 || r <= 0) ? 0.0 : r * (e == 0 ? 1.0 : std::pow(v, e));
          }};
}

ScalarLaw subnorm_angle_law(int m) {
  if (m < 1) throw Error("sub-norm angle law needs m >= 1, got m=" + std::to_string(m));
  const double e = m - 1;
  return {"subnorm-angle(m=" + std::to_string(m) + ")", 0.0, std::numbers::pi / 2, [e](double psi) {
            const double s = std::sin(2 * psi);
            return s <= 0 ? (e == 0 ? 1.0 : 0.0) : (e == 0 ? 1.0 : std::pow(s, e));
          }};
}

CellMoments integrate_moments(const ScalarLaw& law, double a, double b, const QuadratureOptions& q) {
  const Normalised nl{law, total_mass(law, q), q};
  return nl.cell(a, b);
}

uint32_t Codebook::encode(double x) const {
  return static_cast<uint32_t>(std::lower_bound(boundaries.begin(), boundaries.end(), x) - boundaries.begin());
}

Codebook lloyd_max(const ScalarLaw& law, int bits, const LloydMaxOptions& opt) {
  check_bits(bits);
  const Normalised nl{law, total_mass(law, opt.quadrature), opt.quadrature};
  Codebook cb;
  cb.bits = bits;
  lloyd_in_cell(nl, law.lo, law.hi, 1 << bits, opt, cb.levels, cb.boundaries);
  cb.mse = mse_of(nl, law, cb);
  return cb;
}

Codebook nested_lloyd_max(const ScalarLaw& law, int bits, int root_bits, const LloydMaxOptions& opt) {
  check_bits(bits);
  check_bits(root_bits);
  if (root_bits > bits) throw Error("lloyd-max: nested root_bits must be <= bits");
  const Normalised nl{law, total_mass(law, opt.quadrature), opt.quadrature};
  Codebook cb;
  cb.bits = root_bits;
  lloyd_in_cell(nl, law.lo, law.hi, 1 << root_bits, opt, cb.levels, cb.boundaries);
  const double span = law.hi - law.lo;
  for (int b = root_bits + 1; b <= bits; ++b) {
    // Constrained refinement. The kernels encode by nearest level, so for dropping the low bit
    // to give the coarse code the fine nearest-level cells must refine the coarse ones: the two
    // fine levels astride every coarse boundary t_j sit at t_j -+ delta_j. Generalised Lloyd:
    // (1) nearest-level partition, (2) levels optimal under the constraints given the partition
    // (outer levels: centroids; each pair: delta_j = mass-weighted mean distance of the two
    // cells' centroids from t_j). Both steps lower the MSE.
    const int k = static_cast<int>(cb.levels.size());
    const std::vector<double> t = cb.boundaries;
    std::vector<double> lv(2 * k), bd;
    for (int c = 0; c < k; ++c) {  // start: 2-level Lloyd–Max inside each coarse cell
      const double ca = (c == 0) ? law.lo : t[c - 1], cbnd = (c == k - 1) ? law.hi : t[c];
      std::vector<double> two, mid;
      lloyd_in_cell(nl, ca, cbnd, 2, opt, two, mid);
      lv[2 * c] = two[0];
      lv[2 * c + 1] = two[1];
    }
    for (int it = 0; it < opt.max_iterations; ++it) {
      for (int j = 0; j + 1 < k; ++j) {  // enforce the constraint (also on the start)
        const double dl = std::max(1e-300, 0.5 * ((t[j] - lv[2 * j + 1]) + (lv[2 * j + 2] - t[j])));
        lv[2 * j + 1] = t[j] - dl;
        lv[2 * j + 2] = t[j] + dl;
      }
      bd.assign(2 * k - 1, 0.0);
      for (int i = 0; i + 1 < 2 * k; ++i) bd[i] = 0.5 * (lv[i] + lv[i + 1]);
      for (int j = 0; j + 1 < k; ++j) bd[2 * j + 1] = t[j];  // exact, not re-rounded
      std::vector<CellMoments> m(2 * k);
      for (int i = 0; i < 2 * k; ++i)
        m[i] = nl.cell(i == 0 ? law.lo : bd[i - 1], i == 2 * k - 1 ? law.hi : bd[i]);
      std::vector<double> nv = lv;
      auto centroid = [&](int i) { return m[i].m0 > 1e-300 ? m[i].m1 / m[i].m0 : lv[i]; };
      nv[0] = centroid(0);
      nv[2 * k - 1] = centroid(2 * k - 1);
      for (int j = 0; j + 1 < k; ++j) {
        const CellMoments& a = m[2 * j + 1];
        const CellMoments& c = m[2 * j + 2];
        const double w = a.m0 + c.m0;
        double dl = w > 1e-300 ? ((c.m1 - t[j] * c.m0) + (t[j] * a.m0 - a.m1)) / w : t[j] - lv[2 * j + 1];
        // keep the order inside both coarse cells
        const double room = std::min(t[j] - nv[2 * j], nv[2 * j + 3] - t[j]);
        dl = std::clamp(dl, 1e-15 * span, std::max(1e-15 * span, room > 0 ? room : dl));
        nv[2 * j + 1] = t[j] - dl;
        nv[2 * j + 2] = t[j] + dl;
      }
      double moved = 0;
      for (int i = 0; i < 2 * k; ++i) moved = std::max(moved, std::abs(nv[i] - lv[i]));
      lv = nv;
      if (moved <= opt.tolerance * span) break;
    }
    cb.bits = b;
    cb.levels = lv;
    cb.boundaries.assign(2 * k - 1, 0.0);
    for (int i = 0; i + 1 < 2 * k; ++i) cb.boundaries[i] = 0.5 * (lv[i] + lv[i + 1]);
  }
  cb.nested = true;
  cb.root_bits = root_bits;
  cb.mse = mse_of(nl, law, cb);
  return cb;
}

double codebook_mse(const ScalarLaw& law, const Codebook& cb, const QuadratureOptions& q) {
  const Normalised nl{law, total_mass(law, q), q};
  return mse_of(nl, law, cb);
}

std::vector<NestingCost> nesting_cost(const ScalarLaw& law, int max_bits, int root_bits) {
  std::vector<NestingCost> out;
  for (int b = root_bits; b <= max_bits; ++b) {
    out.push_back({b, lloyd_max(law, b).mse, nested_lloyd_max(law, b, root_bits).mse});
  }
  return out;
}

const Codebook& cached_codebook(const std::string& kind, int param, int bits, bool nested) {
  static std::mutex mu;
  static std::map<std::tuple<std::string, int, int, bool>, std::unique_ptr<Codebook>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_tuple(kind, param, bits, nested);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  ScalarLaw law;
  if (kind == "coord") law = sphere_coordinate_law(param);
  else if (kind == "radius") law = sphere_plane_radius_law(param);
  else if (kind == "angle") law = subnorm_angle_law(param);
  else throw Error("codebook kind must be coord, radius or angle, got '" + kind + "'");
  auto cb = std::make_unique<Codebook>(nested ? nested_lloyd_max(law, bits, 1) : lloyd_max(law, bits));
  return *cache.emplace(key, std::move(cb)).first->second;
}

}  // namespace skv::codecs
