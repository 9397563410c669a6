#include "core/policies/utility_estimators.h"

#include <cmath>
#include <limits>

#include "core/common/error.h"

namespace skv {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Normalize each head's row to mass 1 over the still-cached tokens.
at::Tensor normalized(at::Tensor u, const at::Tensor& alive) {
  u = u.to(at::kFloat).clamp_min(0).masked_fill(alive.logical_not(), 0.0);
  auto s = u.sum(1, true);
  // A head with no mass (no queries yet): uniform over its cached tokens.
  auto uniform = alive.to(at::kFloat) / alive.sum(1, true).clamp_min(1).to(at::kFloat);
  return at::where(s > 0, u / s.clamp_min(1e-30), uniform);
}

// Softmax of the window's queries against every cached key: [Hq, W, N] (causal, dropped masked).
at::Tensor window_probs(const PolicyContext& ctx, int64_t layer, const at::Tensor& keys) {
  const LayerView& v = ctx.layers.at(layer);
  const int64_t Hq = v.obs_queries.size(0), Hkv = keys.size(0), g = Hq / Hkv, N = keys.size(1);
  const int64_t d = keys.size(2);
  auto kq = keys.repeat_interleave(g, 0);  // [Hq, N, d]
  auto s = at::matmul(v.obs_queries, kq.transpose(1, 2)) / std::sqrt(double(d));  // [Hq, W, N]
  auto pos = at::arange(N, at::kLong);
  auto future = pos.unsqueeze(0) > v.obs_pos.unsqueeze(1);                     // [W, N]
  auto dropped = v.current.eq(kDropTier).repeat_interleave(g, 0).unsqueeze(1);   // [Hq, 1, N]
  s = s.masked_fill(future.unsqueeze(0), -kInf).masked_fill(dropped, -kInf);
  return at::softmax(s, -1).nan_to_num(0.0);
}

at::Tensor group_sum(const at::Tensor& x, int64_t Hkv) {  // [Hq, N] -> [Hkv, N]
  return x.reshape({Hkv, x.size(0) / Hkv, x.size(1)}).sum(1);
}

at::Tensor observation(const PolicyContext& ctx, int64_t layer, bool pooled) {
  const LayerView& v = ctx.layers.at(layer);
  const int64_t Hkv = v.keys.size(0);
  if (v.obs_queries.size(1) == 0) return at::ones({Hkv, v.keys.size(1)}, at::kFloat);
  auto u = group_sum(window_probs(ctx, layer, v.keys).sum(1), Hkv);  // [Hkv, N]
  if (pooled) u = at::max_pool1d(u.unsqueeze(0), {7}, {1}, {3}).squeeze(0);
  return u;
}

at::Tensor tri_score(const PolicyContext& ctx, int64_t layer) {
  const LayerView& v = ctx.layers.at(layer);
  const ModelConfig& c = *ctx.config;
  const int64_t Hkv = v.keys.size(0), N = v.keys.size(1), d = v.keys.size(2), W = v.obs_queries.size(1);
  const int64_t Hq = v.obs_queries.size(0), g = Hq / Hkv, F = d / 2;
  if (W == 0) return at::ones({Hkv, N}, at::kFloat);
  auto pos = at::arange(N, at::kLong);
  auto k0 = unrope(v.keys, pos, c).to(at::kDouble);             // [Hkv, N, d] pre-RoPE
  auto q0 = unrope(v.obs_queries, v.obs_pos, c).to(at::kDouble);  // [Hq, W, d]
  // Complex pairs per frequency f in the decoder's layout.
  auto pairs = [&](const at::Tensor& x) {
    if (c.rope_style == RopeStyle::Interleaved) {
      auto xp = x.reshape({x.size(0), x.size(1), F, 2});
      return std::make_pair(xp.select(-1, 0), xp.select(-1, 1));
    }
    return std::make_pair(x.narrow(-1, 0, F), x.narrow(-1, F, F));
  };
  auto [qa, qb] = pairs(q0);
  auto [ka, kb] = pairs(k0);
  auto qca = qa.mean(1), qcb = qb.mean(1);                        // centre [Hq, F]
  auto q_center_mag = (qca.pow(2) + qcb.pow(2)).sqrt();
  auto q_mean_mag = (qa.pow(2) + qb.pow(2)).sqrt().mean(1);       // E|q_f| [Hq, F]
  auto q_phase = at::atan2(qcb, qca);
  auto k_mag = (ka.pow(2) + kb.pow(2)).sqrt();                    // [Hkv, N, F]
  auto k_phase = at::atan2(kb, ka);
  auto i = at::arange(F, at::TensorOptions().dtype(at::kDouble));
  auto omega = at::pow(c.rope_theta, -2.0 * i / double(d));      // [F]
  auto km = k_mag.repeat_interleave(g, 0), kp = k_phase.repeat_interleave(g, 0);  // [Hq, N, F]
  auto amp = q_center_mag.unsqueeze(1) * km;                      // [Hq, N, F]
  auto phase0 = q_phase.unsqueeze(1) - kp;
  auto norm_term = ((q_mean_mag - q_center_mag).unsqueeze(1) * km).sum(-1);  // [Hq, N]
  auto dead = v.current.eq(kDropTier).repeat_interleave(g, 0);
  at::Tensor mass = at::zeros({Hq, N}, at::kDouble);
  int n_off = 0;
  for (int e = 0; e <= 12; ++e, ++n_off) {
    const double p = double(N) + double(1 << e);
    auto dist = (p - pos.to(at::kDouble)).unsqueeze(1) * omega.unsqueeze(0);  // [N, F]
    auto s = (amp * at::cos(dist.unsqueeze(0) + phase0)).sum(-1) + norm_term;  // [Hq, N]
    s = (s / std::sqrt(double(d))).masked_fill(dead, -kInf);
    mass += at::softmax(s, -1).nan_to_num(0.0);
  }
  return group_sum(mass / double(n_off), Hkv).to(at::kFloat);
}

at::Tensor single(const std::string& name, const PolicyContext& ctx, int64_t layer) {
  const LayerView& v = ctx.layers.at(layer);
  const int64_t Hkv = v.keys.size(0), N = v.keys.size(1);
  if (name == "snapkv") return observation(ctx, layer, true);
  if (name == "obs") return observation(ctx, layer, false);
  if (name == "h2o") return v.accumulated.clone();
  if (name == "tri") return tri_score(ctx, layer);
  if (name == "recency") {
    auto r = 1.0 / (double(N) - at::arange(N, at::kFloat));
    return r.unsqueeze(0).expand({Hkv, N}).clone();
  }
  if (name == "uniform") return at::ones({Hkv, N}, at::kFloat);  // a floor for blends (normalized later)
  if (name == "sink") return at::arange(N, at::kLong).lt(4).to(at::kFloat).unsqueeze(0).expand({Hkv, N}).clone();
  std::string known;
  for (const auto& n : utility_estimator_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown utility estimator '" + name + "' (known: " + known + "; blend as a*0.7+b*0.3)");
}

}  // namespace

const std::vector<std::string>& utility_estimator_names() {
  static const std::vector<std::string> names = {"snapkv", "obs", "h2o", "tri", "recency", "sink", "uniform"};
  return names;
}

at::Tensor unrope(const at::Tensor& x, const at::Tensor& pos, const ModelConfig& c) {
  const int64_t d = x.size(-1), F = d / 2;
  auto i = at::arange(F, at::TensorOptions().dtype(at::kDouble));
  auto inv_freq = at::pow(c.rope_theta, -2.0 * i / double(d)).to(at::kFloat);
  auto ang = at::outer(pos.to(at::kFloat), inv_freq);  // [N, F]
  auto cs = ang.cos(), sn = ang.sin();
  if (c.rope_style == RopeStyle::Interleaved) {
    auto xp = x.reshape({x.size(0), x.size(1), F, 2});
    auto x1 = xp.select(-1, 0), x2 = xp.select(-1, 1);
    return at::stack({x1 * cs + x2 * sn, -x1 * sn + x2 * cs}, -1).reshape(x.sizes());
  }
  auto x1 = x.narrow(-1, 0, F), x2 = x.narrow(-1, F, F);
  return at::cat({x1 * cs + x2 * sn, -x1 * sn + x2 * cs}, -1);
}

at::Tensor estimate_utility(const std::string& spec, const PolicyContext& ctx, int64_t layer) {
  const LayerView& v = ctx.layers.at(layer);
  auto alive = v.current.ne(kDropTier);
  if (spec.find('+') == std::string::npos && spec.find('*') == std::string::npos)
    return normalized(single(spec, ctx, layer), alive);
  at::Tensor total;
  size_t from = 0;
  while (from <= spec.size()) {
    const size_t plus = std::min(spec.find('+', from), spec.size());
    const std::string part = spec.substr(from, plus - from);
    const size_t star = part.find('*');
    const std::string name = part.substr(0, star);
    double w = 1.0;
    if (star != std::string::npos) {
      try {
        w = std::stod(part.substr(star + 1));
      } catch (...) {
        throw Error("utility blend '" + spec + "': weight of '" + name + "' is not a number");
      }
    }
    auto u = normalized(single(name, ctx, layer), alive) * w;
    total = total.defined() ? total + u : u;
    from = plus + 1;
  }
  return normalized(total, alive);
}

}  // namespace skv
