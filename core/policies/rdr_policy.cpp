#include "core/policies/rdr_policy.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/codecs/rotation_signs.h"
#include "core/common/error.h"
#include "core/policies/lagrangian_allocator.h"
#include "core/policies/utility_estimators.h"
#include "kernels/cpu/ada_reference.h"

namespace skv {

std::pair<double, double> measure_tier_distortion(const CacheTier& tier, const int8_t* signs, const at::Tensor& keys,
                                                  const at::Tensor& values) {
  const int64_t n = keys.size(0), d = keys.size(1), P = tier.layout.page_tokens;
  auto k = keys.to(at::kFloat).contiguous(), v = values.to(at::kFloat).contiguous();
  std::vector<uint8_t> page(tier.stored_page_bytes + 16);
  std::vector<float> kd(size_t(P * d)), vd(size_t(P * d)), kq(size_t(P * d)), vq(size_t(P * d));
  double ek = 0, ev = 0, nk = 0, nv = 0;
  const auto books = tier.books.view();
  for (int64_t s = 0; s < n; s += P) {
    const int cnt = int(std::min(P, n - s));
    const float* kp = k.data_ptr<float>() + s * d;
    const float* vp = v.data_ptr<float>() + s * d;
    if (tier.kivi_bits > 0) {
      kivi_quantize(tier.kivi_bits, cnt, int(d), kp, vp, kq.data(), vq.data());
      kp = kq.data();
      vp = vq.data();
    }
    kernels::cpu::encode_page(tier.layout, books, signs, kp, vp, cnt, 0, true, page.data());
    kernels::cpu::decode_keys(tier.layout, books, signs, page.data(), cnt, kd.data());
    kernels::cpu::decode_values(tier.layout, books, signs, page.data(), cnt, vd.data());
    for (int64_t i = 0; i < cnt * d; ++i) {
      const double k0 = k.data_ptr<float>()[s * d + i], v0 = v.data_ptr<float>()[s * d + i];
      ek += (k0 - kd[size_t(i)]) * (k0 - kd[size_t(i)]);
      ev += (v0 - vd[size_t(i)]) * (v0 - vd[size_t(i)]);
      nk += k0 * k0;
      nv += v0 * v0;
    }
  }
  return {nk > 0 ? ek / nk : 0.0, nv > 0 ? ev / nv : 0.0};
}

std::vector<double> load_budget_profile(const std::string& name_or_path, int64_t n_layers) {
  std::filesystem::path p = name_or_path;
  if (!std::filesystem::exists(p)) {
#ifdef SKV_ASSETS_DIR
    p = std::filesystem::path(SKV_ASSETS_DIR) / "profiles" / (name_or_path + ".json");
#endif
  }
  std::ifstream in(p);
  if (!in) throw Error("budget profile '" + name_or_path + "': no such file (looked in assets/profiles)");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw Error("budget profile " + p.string() + ": invalid JSON (" + e.what() + ")");
  }
  if (!j.contains("layer_shares") || !j["layer_shares"].is_array())
    throw Error("budget profile " + p.string() + ": needs a 'layer_shares' array (one number per layer)");
  std::vector<double> s = j["layer_shares"].get<std::vector<double>>();
  if (int64_t(s.size()) != n_layers)
    throw Error("budget profile " + p.string() + " has " + std::to_string(s.size()) + " layer shares, the model has " +
                std::to_string(n_layers) + " layers");
  double total = 0;
  for (double x : s) {
    if (!(x >= 0)) throw Error("budget profile " + p.string() + ": layer shares must be >= 0");
    total += x;
  }
  if (total <= 0) throw Error("budget profile " + p.string() + ": layer shares sum to 0");
  for (double& x : s) x /= total;
  return s;
}

namespace {

std::filesystem::path resolve_profile_path(const std::string& name_or_path) {
  std::filesystem::path p = name_or_path;
  if (std::filesystem::exists(p)) return p;
#ifdef SKV_ASSETS_DIR
  p = std::filesystem::path(SKV_ASSETS_DIR) / "profiles" / (name_or_path + ".json");
#endif
  return p;
}

}  // namespace

std::vector<double> load_layer_sensitivity(const std::string& name_or_path, int64_t n_layers) {
  const auto p = resolve_profile_path(name_or_path);
  std::ifstream in(p);
  if (!in) throw Error("sensitivity profile '" + name_or_path + "': no such file (looked in assets/profiles)");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw Error("sensitivity profile " + p.string() + ": invalid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("layer_sensitivity") || !j["layer_sensitivity"].is_array())
    throw Error("profile " + p.string() + " has no 'layer_sensitivity' array (run skv calibrate-sensitivity)");
  std::vector<double> w;
  try {
    w = j["layer_sensitivity"].get<std::vector<double>>();
  } catch (const std::exception& e) {
    throw Error("profile " + p.string() + ": 'layer_sensitivity' must be numbers (" + e.what() + ")");
  }
  if (int64_t(w.size()) != n_layers)
    throw Error("profile " + p.string() + " has " + std::to_string(w.size()) + " layer sensitivities, the model has " +
                std::to_string(n_layers) + " layers");
  double total = 0;
  for (double x : w) {
    if (!(x > 0) || !std::isfinite(x)) throw Error("profile " + p.string() + ": layer sensitivities must be finite and > 0");
    total += x;
  }
  for (double& x : w) x *= double(n_layers) / total;
  return w;
}

namespace {

// Every key of a profile's model_shape must equal the model's (a key the model does not have fails).
bool shape_matches(const nlohmann::json& shape, const ModelConfig& c) {
  if (!shape.is_object()) return false;
  const nlohmann::json mine = profile_model_shape(c);
  for (const auto& [key, value] : shape.items())
    if (!mine.contains(key) || mine[key] != value) return false;
  return true;
}

// Whether a profile was made for this model: its "model" is the model's name (the file name), or
// its model_identity ends in the model's checkpoint fingerprint (the same file under another
// name); and its model_shape, where it has one, is the model's.
bool profile_is_for(const nlohmann::json& j, const ModelConfig& c) {
  const std::string identity = j.value("model_identity", "");
  const bool same_checkpoint = !c.checkpoint.empty() && identity.size() > c.checkpoint.size() &&
                               identity.compare(identity.size() - c.checkpoint.size() - 1, std::string::npos,
                                                "#" + c.checkpoint) == 0;
  if (j.value("model", "") != c.name && !same_checkpoint) return false;
  return !j.contains("model_shape") || shape_matches(j["model_shape"], c);
}

// The first shipped profile (assets/profiles/*.json, in name order) made for this model whose
// array `key` has one entry per layer; "" when none.
std::string find_shipped_profile(const ModelConfig& c, const char* key) {
#ifdef SKV_ASSETS_DIR
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(std::filesystem::path(SKV_ASSETS_DIR) / "profiles", ec), end;
       !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".json") files.push_back(it->path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !profile_is_for(j, c)) continue;
    if (j.contains(key) && j[key].is_array() && int64_t(j[key].size()) == c.n_layers) return f.string();
  }
#else
  (void)c;
  (void)key;
#endif
  return "";
}

}  // namespace

std::string find_sensitivity_profile(const ModelConfig& config) { return find_shipped_profile(config, "layer_sensitivity"); }

nlohmann::json profile_model_shape(const ModelConfig& c) {
  return {{"architecture", c.architecture}, {"n_layers", c.n_layers}, {"n_heads", c.n_heads},
          {"n_kv_heads", c.n_kv_heads},     {"head_dim", c.head_dim}, {"hidden", c.hidden},
          {"vocab_size", c.vocab_size}};
}

std::string find_model_profile(const ModelConfig& config) { return find_shipped_profile(config, "layer_shares"); }

std::string resolve_rdr_profile(const std::string& profile, const ModelConfig& config) {
  if (profile.empty() || profile == kRdrNoProfile) return "";
  if (profile == "auto") return find_model_profile(config);
  load_budget_profile(profile, config.n_layers);  // throws for a bad file or another model's layer count
  return resolve_profile_path(profile).string();
}

void RdrPolicy::measure_distortion(const PolicyContext& ctx) {
  const auto& tiers = *ctx.tiers;
  const int64_t L = ctx.n_layers(), d = ctx.config->head_dim;
  dk_.assign(size_t(L), {});
  dv_.assign(size_t(L), {});
  for (int64_t l = 0; l < L; ++l) {
    const LayerView& v = ctx.layers[size_t(l)];
    const int64_t Hkv = v.keys.size(0), N = v.keys.size(1);
    dk_[size_t(l)].assign(size_t(Hkv), std::vector<double>(tiers.size(), 0.0));
    dv_[size_t(l)].assign(size_t(Hkv), std::vector<double>(tiers.size(), 0.0));
    // Calibration: the allocatable prefill tokens (not the sinks, whose norms are atypical),
    // a contiguous run so the page means are those of real pages.
    const int64_t start = std::min<int64_t>(4, N), n = std::min<int64_t>(opt_.calibration_tokens, N - start);
    if (n <= 0) continue;
    for (int64_t h = 0; h < Hkv; ++h) {
      const auto signs = codecs::hadamard_signs(codecs::kDefaultRotationSeed, int(l), int(h), int(d));
      auto k = v.keys[h].narrow(0, start, n), val = v.values[h].narrow(0, start, n);
      for (size_t t = 0; t < tiers.size(); ++t) {
        auto [ek, ev] = measure_tier_distortion(tiers[t], signs.data(), k, val);
        dk_[size_t(l)][size_t(h)][t] = ek;
        dv_[size_t(l)][size_t(h)][t] = ev;
      }
    }
  }
}

Assignment RdrPolicy::assign(const PolicyContext& ctx) {
  if (dk_.empty()) measure_distortion(ctx);
  if (!shares_resolved_) {
    shares_resolved_ = true;
    if (!opt_.layer_shares.empty()) {
      profile_source_ = "given";
    } else if (opt_.profile == "auto") {
      // The model's own profile, unless per-layer caps were asked for instead.
      if (opt_.layer_cap <= 0) profile_source_ = find_model_profile(*ctx.config);
    } else if (!opt_.profile.empty() && opt_.profile != kRdrNoProfile) {
      if (opt_.layer_cap > 0)
        throw Error("rdr: a budget profile (" + opt_.profile + ") and a layer cap exclude each other; pass profile none");
      profile_source_ = opt_.profile;
    }
    if (opt_.layer_shares.empty() && !profile_source_.empty())
      opt_.layer_shares = load_budget_profile(profile_source_, ctx.n_layers());
    if (!opt_.layer_shares.empty() && int64_t(opt_.layer_shares.size()) != ctx.n_layers())
      throw Error("rdr: " + std::to_string(opt_.layer_shares.size()) + " layer shares for " + std::to_string(ctx.n_layers()) +
                  " layers");
  }
  if (!weights_resolved_) {
    weights_resolved_ = true;
    if (!opt_.layer_weights.empty()) {
      if (int64_t(opt_.layer_weights.size()) != ctx.n_layers())
        throw Error("rdr: " + std::to_string(opt_.layer_weights.size()) + " layer weights for " +
                    std::to_string(ctx.n_layers()) + " layers");
      weights_source_ = "given";
    } else if (opt_.sensitivity == "auto") {
      const std::string f = find_sensitivity_profile(*ctx.config);
      if (!f.empty()) {
        opt_.layer_weights = load_layer_sensitivity(f, ctx.n_layers());
        weights_source_ = f;
      }
    } else if (!opt_.sensitivity.empty() && opt_.sensitivity != "off") {
      opt_.layer_weights = load_layer_sensitivity(opt_.sensitivity, ctx.n_layers());
      weights_source_ = opt_.sensitivity;
    }
  }
  const auto& tiers = *ctx.tiers;
  const int64_t L = ctx.n_layers(), K = int64_t(tiers.size()) + 1;  // option 0 = drop
  const double d = double(ctx.config->head_dim);
  auto rate = at::zeros({K}, at::kDouble);
  for (int64_t t = 0; t < K - 1; ++t) rate[t + 1] = tiers[size_t(t)].bytes_per_token();
  // Items: every allocatable (layer, head, token), flattened layer-major.
  std::vector<at::Tensor> D, A, idx;
  std::vector<int64_t> item_group;  // (layer * Hkv + head) per item, for the page packing
  at::Tensor group_all;
  std::vector<at::Tensor> groups;
  for (int64_t l = 0; l < L; ++l) {
    const LayerView& v = ctx.layers[size_t(l)];
    const int64_t Hkv = v.keys.size(0), N = v.keys.size(1);
    auto mask = allocatable_mask(ctx, l);  // [Hkv, N]
    auto u = estimate_utility(opt_.utility, ctx, l).to(at::kDouble);
    auto up = opt_.utility_power == 1.0 ? u : u.pow(opt_.utility_power);
    auto vals = v.values.to(at::kDouble), keys = v.keys.to(at::kDouble);
    auto o = (u.unsqueeze(-1) * vals).sum(1, true) / u.sum(1, true).unsqueeze(-1).clamp_min(1e-30);  // [Hkv,1,d]
    auto dev2 = (vals - o).pow(2).sum(-1);            // |v - o|^2 [Hkv, N]
    auto k2 = keys.pow(2).sum(-1), v2 = vals.pow(2).sum(-1);
    const int64_t Hq = v.obs_queries.size(0), g = Hq / Hkv;
    auto q2 = v.obs_queries.size(1) > 0
                  ? v.obs_queries.to(at::kDouble).pow(2).sum(-1).reshape({Hkv, g * v.obs_queries.size(1)}).mean(1)
                  : at::full({Hkv}, d, at::kDouble);
    auto Dl = at::empty({Hkv, N, K}, at::kDouble);
    if (!opt_.layer_weights.empty()) up = up * opt_.layer_weights[size_t(l)];  // KL units (sensitivity)
    Dl.select(2, 0).copy_(up * dev2);
    for (int64_t t = 0; t < K - 1; ++t) {
      auto dk = at::empty({Hkv, 1}, at::kDouble), dv = at::empty({Hkv, 1}, at::kDouble);
      for (int64_t h = 0; h < Hkv; ++h) {
        dk[h][0] = dk_[size_t(l)][size_t(h)][size_t(t)];
        dv[h][0] = dv_[size_t(l)][size_t(h)][size_t(t)];
      }
      Dl.select(2, t + 1).copy_(up * (dk * k2 * (q2.unsqueeze(1) / (d * d)) * dev2 + dv * v2));
    }
    // Allowed options: drop (if allowed) and tiers of no higher rate than the current one.
    auto cur = v.current;  // [Hkv, N]
    auto cur_rate = at::full({Hkv, N}, std::numeric_limits<double>::infinity(), at::kDouble);
    for (int64_t t = 0; t < K - 1; ++t) cur_rate.masked_fill_(cur.eq(int32_t(t)), rate[t + 1].item<double>());
    auto Al = rate.view({1, 1, K}).le(cur_rate.unsqueeze(-1) * (1 + 1e-12));
    if (!opt_.allow_drop) Al.select(2, 0).fill_(false);
    auto flat = mask.reshape({-1}).nonzero().reshape({-1});
    D.push_back(Dl.reshape({Hkv * N, K}).index_select(0, flat));
    A.push_back(Al.reshape({Hkv * N, K}).index_select(0, flat));
    idx.push_back(flat);
    groups.push_back(flat.div(N, "floor") + l * Hkv);
  }
  const int64_t Hkv = ctx.config->n_kv_heads;
  auto group = at::cat(groups);
  // Exact page bytes of a choice: per (layer, head, tier) ceil(n / P) pages.
  auto page_cost = at::zeros({K}, at::kDouble), page_tok = at::ones({K}, at::kDouble);
  for (int64_t t = 0; t < K - 1; ++t) {
    page_cost[t + 1] = tiers[size_t(t)].page_cost();
    page_tok[t + 1] = double(tiers[size_t(t)].layout.page_tokens);
  }
  auto exact = [&](const at::Tensor& choice, const at::Tensor& grp, int64_t n_groups) {
    auto key = grp * K + choice;
    auto counts = at::bincount(key, {}, n_groups * K).to(at::kDouble).view({n_groups, K});
    return ((counts / page_tok).ceil() * page_cost).sum().item<double>();
  };
  auto solve = [&](at::Tensor Dm, at::Tensor Am, at::Tensor grp, int64_t n_groups, double budget) {
    AllocationProblem p{Dm, rate, Am, budget, [&, grp, n_groups](const at::Tensor& c) { return exact(c, grp, n_groups); }};
    if (opt_.drop_only_if_needed && opt_.allow_drop) {
      AllocationProblem q = p;
      q.allowed = Am.clone();
      q.allowed.select(1, 0).fill_(false);
      q.allowed.select(1, 0).masked_fill_(q.allowed.sum(1).eq(0), true);
      try {
        return lagrangian_allocate(q);
      } catch (const Error&) {
        // the tiers alone do not fit: drops allowed
      }
    }
    return lagrangian_allocate(p);
  };
  Assignment out;
  for (int64_t l = 0; l < L; ++l)
    out.push_back(at::full({Hkv, ctx.n_tokens}, kDropTier, at::kInt));
  auto write = [&](int64_t l, const at::Tensor& choice) {
    auto flat_out = out[size_t(l)].view({-1});
    flat_out.index_put_({idx[size_t(l)]}, (choice - 1).to(at::kInt));
  };
  if (opt_.layer_shares.empty() && opt_.layer_cap <= 0) {
    auto r = solve(at::cat(D), at::cat(A), group, L * Hkv, ctx.page_budget_bytes);
    lambda_ = r.lambda;
    int64_t offset = 0;
    for (int64_t l = 0; l < L; ++l) {
      const int64_t n = idx[size_t(l)].size(0);
      write(l, r.choice.narrow(0, offset, n));
      offset += n;
    }
    return out;
  }
  // Per-layer budgets: a saved profile's shares, or caps (PyramidKV-style) around the global lambda.
  std::vector<double> budgets(static_cast<size_t>(L));
  if (!opt_.layer_shares.empty()) {
    for (int64_t l = 0; l < L; ++l) budgets[size_t(l)] = ctx.page_budget_bytes * opt_.layer_shares[size_t(l)];
  } else {
    // Global solve, then clip layers over the cap and give the rest the remaining bytes evenly.
    auto r = solve(at::cat(D), at::cat(A), group, L * Hkv, ctx.page_budget_bytes);
    const double cap = opt_.layer_cap * ctx.full_fp16_bytes / double(L);
    int64_t offset = 0;
    for (int64_t l = 0; l < L; ++l) {
      const int64_t n = idx[size_t(l)].size(0);
      budgets[size_t(l)] = std::min(cap, exact(r.choice.narrow(0, offset, n), groups[size_t(l)] - l * Hkv, Hkv));
      offset += n;
    }
  }
  for (int64_t l = 0; l < L; ++l) {
    auto r = solve(D[size_t(l)], A[size_t(l)], groups[size_t(l)] - l * Hkv, Hkv, budgets[size_t(l)]);
    write(l, r.choice);
  }
  return out;
}

}  // namespace skv
