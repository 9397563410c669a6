// RDR's sensitivity weighting: the calibration against a float64 re-implementation of the model
// and the perturbation on a tiny shape-only model; the weighted allocation against a float64
// recomputation of every token's weighted Lagrangian choice; the profile fields' validation.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/cache/cache_tier.h"
#include "core/common/error.h"
#include "core/decoder/llama_decoder.h"
#include "core/metrics/layer_sensitivity.h"
#include "core/model/random_weight_source.h"
#include "core/policies/rdr_policy.h"
#include "core/policies/utility_estimators.h"
#include "core/sessions/budget_profile.h"

namespace skv {
namespace {

namespace fs = std::filesystem;

ModelConfig tiny_config() {
  ModelConfig c;
  c.name = "tiny-sensitivity";
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.hidden = 32;
  c.ffn_hidden = 48;
  c.vocab_size = 64;
  c.context_length = 256;
  c.rope_theta = 10000;
  c.rope_style = RopeStyle::Interleaved;
  return c;
}

// The model in float64 with plain tensor algebra on the source's weights (nothing shared with the
// decoder): all n tokens at once, causal; at `layer`, rows >= P are perturbed (noise: + eps |o|
// dir; drop: prefix keys outside `keep` masked out). Returns {mean KL over rows >= P, mean over
// those rows of sum_h |delta|^2} against the unperturbed run.
struct Ref {
  const WeightSource& w;
  ModelConfig c;
  at::Tensor W(const std::string& name) {
    HostTensor t = w.load(name);
    return at::from_blob(t.data.data(), t.shape, at::kFloat).to(at::kDouble).clone();
  }
  at::Tensor rms(const at::Tensor& x, const at::Tensor& g) {
    return x / (x.pow(2).mean(-1, true) + c.rms_eps).sqrt() * g;
  }
  at::Tensor rope(const at::Tensor& x) {  // [n, H, d], pairs (2i, 2i+1)
    const int64_t n = x.size(0), d = x.size(2);
    auto out = x.clone();
    for (int64_t p = 0; p < n; ++p)
      for (int64_t i = 0; i < d / 2; ++i) {
        const double a = double(p) * std::pow(c.rope_theta, -2.0 * double(i) / double(d));
        auto x1 = x.select(0, p).select(1, 2 * i), x2 = x.select(0, p).select(1, 2 * i + 1);
        out.select(0, p).select(1, 2 * i).copy_(x1 * std::cos(a) - x2 * std::sin(a));
        out.select(0, p).select(1, 2 * i + 1).copy_(x1 * std::sin(a) + x2 * std::cos(a));
      }
    return out;
  }
  // perturb: 0 none, 1 noise, 2 drop
  at::Tensor logits(const std::vector<int32_t>& ids, int64_t P, int64_t layer, int perturb, double eps,
                    const at::Tensor& dir, const at::Tensor& keep, double* err2) {
    const int64_t n = int64_t(ids.size()), d = c.head_dim, Hq = c.n_heads, g = c.n_heads / c.n_kv_heads;
    auto emb = W("token_embd.weight");
    auto idx = at::from_blob(const_cast<int32_t*>(ids.data()), {n}, at::kInt).to(at::kLong);
    auto x = emb.index_select(0, idx);
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      auto h = rms(x, W(b + "attn_norm.weight"));
      auto q = rope(at::matmul(h, W(b + "attn_q.weight").t()).view({n, Hq, d}));
      auto k = rope(at::matmul(h, W(b + "attn_k.weight").t()).view({n, c.n_kv_heads, d}));
      auto v = at::matmul(h, W(b + "attn_v.weight").t()).view({n, c.n_kv_heads, d});
      auto o = at::zeros({n, Hq, d}, at::kDouble), od = at::zeros({n, Hq, d}, at::kDouble);
      for (int64_t hq = 0; hq < Hq; ++hq) {
        auto kh = k.select(1, hq / g), vh = v.select(1, hq / g);
        auto s = at::matmul(q.select(1, hq), kh.t()) / std::sqrt(double(d));  // [n, n]
        auto causal = at::ones({n, n}, at::kBool).triu(1);
        o.select(1, hq).copy_(at::matmul(at::softmax(s.masked_fill(causal, -INFINITY), -1), vh));
        if (perturb == 2) {
          auto dropped = at::zeros({n, n}, at::kBool);
          dropped.narrow(0, P, n - P).narrow(1, 0, P).copy_(keep.logical_not().unsqueeze(0).expand({n - P, P}));
          od.select(1, hq).copy_(at::matmul(at::softmax(s.masked_fill(causal.logical_or(dropped), -INFINITY), -1), vh));
        }
      }
      if (l == layer && perturb != 0) {
        auto delta = at::zeros_like(o);
        if (perturb == 1)
          delta.narrow(0, P, n - P).copy_(eps * o.narrow(0, P, n - P).pow(2).sum(-1, true).sqrt() * dir.permute({1, 0, 2}));
        else
          delta.narrow(0, P, n - P).copy_(od.narrow(0, P, n - P) - o.narrow(0, P, n - P));
        *err2 = delta.pow(2).sum().item<double>() / double(n - P);
        o = o + delta;
      }
      x = x + at::matmul(o.reshape({n, Hq * d}), W(b + "attn_output.weight").t());
      h = rms(x, W(b + "ffn_norm.weight"));
      auto gate = at::matmul(h, W(b + "ffn_gate.weight").t());
      x = x + at::matmul(gate * at::sigmoid(gate) * at::matmul(h, W(b + "ffn_up.weight").t()),
                         W(b + "ffn_down.weight").t());
    }
    return at::matmul(rms(x, W("output_norm.weight")), emb.t()).narrow(0, P, n - P);
  }
};

double mean_kl64(const at::Tensor& a, const at::Tensor& b) {
  auto lp = at::log_softmax(a, -1), lq = at::log_softmax(b, -1);
  return (lp.exp() * (lp - lq)).sum(-1).mean().item<double>();
}

void check_against_reference(const std::string& perturbation) {
  const ModelConfig c = tiny_config();
  RandomWeightSource src(c, 11, 0.3f);
  LlamaDecoder dec(src, at::Device(at::kCPU));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto t = at::randint(0, c.vocab_size, {80}, gen, at::kInt);
  std::vector<int32_t> ids(t.data_ptr<int32_t>(), t.data_ptr<int32_t>() + 80);
  SensitivityOptions o;
  o.scored_tokens = 16;
  o.epsilon = 0.2;
  o.draws = 2;
  o.seed = 3;
  o.perturbation = perturbation;
  o.drop_fraction = 0.6;
  auto got = measure_layer_sensitivity(dec, ids, o);
  ASSERT_EQ(got.weight.size(), size_t(3));
  const int64_t P = 80 - 16;
  Ref ref{src, c};
  double unused = 0;
  auto base = ref.logits(ids, P, -1, 0, 0, {}, {}, &unused);
  std::vector<double> weights;
  for (int64_t l = 0; l < 3; ++l) {
    double kl = 0, e2 = 0;
    for (int r = 0; r < 2; ++r) {
      double err2 = 0;
      auto dir = sensitivity_directions(3, l, r, c.n_heads, 16, c.head_dim);
      auto keep = sensitivity_keep_mask(3, l, r, P, 0.6);
      auto lg = ref.logits(ids, P, l, perturbation == "noise" ? 1 : 2, 0.2, dir, keep, &err2);
      kl += mean_kl64(base, lg);
      e2 += err2;
    }
    EXPECT_NEAR(got.kl[size_t(l)], kl / 2, 2e-3 * kl / 2) << perturbation << " layer " << l;
    EXPECT_NEAR(got.error2[size_t(l)], e2 / 2, 1e-4 * e2 / 2) << perturbation << " layer " << l;
    EXPECT_NEAR(got.weight[size_t(l)], kl / e2, 2e-3 * kl / e2) << perturbation << " layer " << l;
    EXPECT_GT(kl, 0);
    weights.push_back(kl / e2);
  }
  // The layers differ (else the test could not tell a layer mix-up).
  EXPECT_GT(std::abs(weights[0] / weights[2] - 1), 0.05);
}

TEST(LayerSensitivity, NoisePerturbationMatchesAFloat64Reference) { check_against_reference("noise"); }
TEST(LayerSensitivity, DropPerturbationMatchesAFloat64Reference) { check_against_reference("drop"); }

TEST(LayerSensitivity, DirectionsAreUnitAndKeepMaskKeepsSinksAndWindow) {
  auto d = sensitivity_directions(1, 2, 0, 3, 5, 8);
  EXPECT_TRUE(at::allclose(d.pow(2).sum(-1), at::ones({3, 5}, at::kDouble)));
  auto k = sensitivity_keep_mask(1, 2, 0, 200, 0.5);
  EXPECT_TRUE(k.narrow(0, 0, 4).all().item<bool>());
  EXPECT_TRUE(k.narrow(0, 168, 32).all().item<bool>());
  const double kept = k.narrow(0, 4, 164).to(at::kDouble).mean().item<double>();
  EXPECT_GT(kept, 0.35);
  EXPECT_LT(kept, 0.65);
}

TEST(LayerSensitivity, CombineWeighsByTotalKlOverTotalError) {
  LayerSensitivity a, b;
  a.weight = {1, 2};
  a.kl = {1, 4};
  a.error2 = {1, 2};
  a.output2 = {1, 1};
  a.texts = 1;
  b = a;
  b.kl = {3, 0};
  b.error2 = {1, 2};
  auto c = combine_layer_sensitivity({a, b});
  EXPECT_DOUBLE_EQ(c.weight[0], 4.0 / 2.0);
  EXPECT_DOUBLE_EQ(c.weight[1], 4.0 / 4.0);
  EXPECT_EQ(c.texts, 2);
}

// --- the weighted allocation ---

struct Fixture {
  ModelConfig config;
  std::vector<CacheTier> tiers;
  PolicyContext ctx;
};

Fixture make(int64_t N, int64_t L, uint64_t seed) {
  Fixture f;
  auto& c = f.config;
  c.n_layers = L;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 64;
  f.tiers = load_cache_tiers("fp16,k4v4,k2v2", 64);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto pos = at::arange(N, at::kLong);
  f.ctx.config = &f.config;
  f.ctx.tiers = &f.tiers;
  f.ctx.n_tokens = N;
  f.ctx.forced = pos.lt(4).logical_or(pos.ge(N - 32));
  f.ctx.full_fp16_bytes = double(N * L * 256);
  f.ctx.page_budget_bytes = 0.2 * f.ctx.full_fp16_bytes;
  for (int64_t l = 0; l < L; ++l) {
    LayerView v;
    v.keys = at::randn({1, N, 64}, gen) * (1.0 + 0.5 * double(l));
    v.values = at::randn({1, N, 64}, gen) * (1.0 + double(l));
    v.current = at::full({1, N}, kHotTier, at::kInt);
    v.obs_queries = at::randn({2, 8, 64}, gen) * 0.1;
    v.obs_pos = at::arange(N - 8, N, at::kLong);
    v.accumulated = at::rand({1, N}, gen) * 0.01;
    v.seen_by = (N - pos).to(at::kFloat);
    f.ctx.layers.push_back(v);
  }
  return f;
}

double layer_bytes(const Fixture& f, const Assignment& a, int64_t l) {
  double b = 0;
  auto m = f.ctx.forced.logical_not();
  for (size_t t = 0; t < f.tiers.size(); ++t)
    b += double(a[size_t(l)][0].masked_select(m).eq(int32_t(t)).sum().item<int64_t>()) * f.tiers[t].bytes_per_token();
  return b;
}

// At the design's utility power 1 and at RDR's default 0.5 (rdr_defaults.h): D scales u_j^gamma,
// while the mean value o stays weighted by u_j itself.
TEST(RdrSensitivity, EveryTokenTakesItsWeightedLagrangianArgmin) {
  for (const double gamma : {1.0, kRdrDefaultUtilityPower}) {
    SCOPED_TRACE(gamma);
    auto f = make(420, 3, 9);
    RdrOptions o;
    o.tiers = "fp16,k4v4,k2v2";
    o.utility = "snapkv";
    o.utility_power = gamma;
    o.layer_weights = {4.0, 1.0, 0.25};
    RdrPolicy p("rdr", o);
    auto a = p.assign(f.ctx);
    ASSERT_LE(assignment_page_bytes(f.ctx, a), f.ctx.page_budget_bytes);
    const double lambda = p.last_lambda(), d = 64;
    ASSERT_GT(lambda, 0);
    int64_t checked = 0, mismatches = 0;
    for (int64_t l = 0; l < 3; ++l) {
      // Float64 loops over the design's formula (rdr_policy.h), times the layer's weight.
      auto u = estimate_utility("snapkv", f.ctx, l).to(at::kDouble).contiguous();
      auto K = f.ctx.layers[size_t(l)].keys.to(at::kDouble).contiguous();
      auto V = f.ctx.layers[size_t(l)].values.to(at::kDouble).contiguous();
      auto Q = f.ctx.layers[size_t(l)].obs_queries.to(at::kDouble).contiguous();
      const int64_t N = f.ctx.n_tokens;
      const double* up = u.data_ptr<double>();
      const double* kp = K.data_ptr<double>();
      const double* vp = V.data_ptr<double>();
      std::vector<double> obar(64, 0.0);
      double us = 0;
      for (int64_t j = 0; j < N; ++j) {
        us += up[j];
        for (int i = 0; i < 64; ++i) obar[size_t(i)] += up[j] * vp[j * 64 + i];
      }
      for (double& x : obar) x /= us;
      double q2 = 0;
      for (int64_t i = 0; i < Q.numel(); ++i) q2 += Q.data_ptr<double>()[i] * Q.data_ptr<double>()[i];
      q2 /= double(Q.size(0) * Q.size(1));
      for (int64_t j = 0; j < N; ++j) {
        if (f.ctx.forced[j].item<bool>()) continue;
        double dev2 = 0, k2 = 0, v2 = 0;
        for (int i = 0; i < 64; ++i) {
          dev2 += (vp[j * 64 + i] - obar[size_t(i)]) * (vp[j * 64 + i] - obar[size_t(i)]);
          k2 += kp[j * 64 + i] * kp[j * 64 + i];
          v2 += vp[j * 64 + i] * vp[j * 64 + i];
        }
        const double w = o.layer_weights[size_t(l)], ug = std::pow(up[j], gamma);
        double best = w * ug * dev2;  // drop, rate 0
        int32_t arg = kDropTier;
        for (size_t t = 0; t < f.tiers.size(); ++t) {
          const double D = w * ug * (p.key_distortion()[size_t(l)][0][t] * k2 * q2 / (d * d) * dev2 +
                                        p.value_distortion()[size_t(l)][0][t] * v2);
          const double cost = D + lambda * f.tiers[t].bytes_per_token();
          if (cost < best) {
            best = cost;
            arg = int32_t(t);
          }
        }
        ++checked;
        if (a[size_t(l)][0][j].item<int32_t>() != arg) ++mismatches;
      }
    }
    EXPECT_EQ(checked, 3 * (420 - 36));
    EXPECT_LE(mismatches, 1) << "of " << checked;  // a float tie at most
  }
}

TEST(RdrSensitivity, WeightsMoveBytesTowardTheSensitiveLayerAndConstantWeightsChangeNothing) {
  auto f = make(420, 3, 9);
  RdrOptions off;
  off.tiers = "fp16,k4v4,k2v2";
  off.sensitivity = "off";
  off.utility_power = 1.0;  // the power the byte shifts below were pinned at (RDR's default is 0.5)
  auto a0 = RdrPolicy("rdr", off).assign(f.ctx);
  RdrOptions flat = off;
  flat.layer_weights = {3.0, 3.0, 3.0};
  auto a1 = RdrPolicy("rdr", flat).assign(f.ctx);
  for (int64_t l = 0; l < 3; ++l) EXPECT_TRUE(a0[size_t(l)].equal(a1[size_t(l)])) << "layer " << l;
  RdrOptions w = off;
  w.layer_weights = {8.0, 1.0, 0.125};
  auto a2 = RdrPolicy("rdr", w).assign(f.ctx);
  EXPECT_GT(layer_bytes(f, a2, 0), layer_bytes(f, a0, 0));
  EXPECT_LT(layer_bytes(f, a2, 2), layer_bytes(f, a0, 2));
}

TEST(RdrSensitivity, ProfileWeightsAreValidatedAndNormalized) {
  const fs::path dir = fs::path(SKV_TEST_TMP) / "rdr_sensitivity";
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  auto good = write("good.json", R"({"model": "m", "layer_sensitivity": [1, 3]})");
  auto w = load_layer_sensitivity(good, 2);
  EXPECT_DOUBLE_EQ(w[0], 0.5);
  EXPECT_DOUBLE_EQ(w[1], 1.5);
  EXPECT_THROW(load_layer_sensitivity(good, 3), Error);
  EXPECT_THROW(load_layer_sensitivity(write("neg.json", R"({"layer_sensitivity": [1, 0]})"), 2), Error);
  EXPECT_THROW(load_layer_sensitivity(write("none.json", R"({"layer_shares": [1, 1]})"), 2), Error);
  EXPECT_THROW(load_layer_sensitivity((dir / "missing.json").string(), 2), Error);
  // A policy pointed at a profile without weights fails with the reason, not silently.
  auto f = make(300, 2, 1);
  RdrOptions o;
  o.tiers = "fp16,k4v4,k2v2";
  o.sensitivity = (dir / "none.json").string();
  RdrPolicy p("rdr", o);
  EXPECT_THROW(p.assign(f.ctx), Error);
  // auto: a model without a profile runs unweighted.
  RdrOptions au;
  au.tiers = "fp16,k4v4,k2v2";
  RdrPolicy q("rdr", au);
  q.assign(f.ctx);
  EXPECT_TRUE(q.layer_weights().empty());
  ModelConfig other = *f.ctx.config;
  other.name = "no-such-model";
  EXPECT_EQ(find_sensitivity_profile(other), "");
}

TEST(RdrSensitivity, BudgetProfileRoundTripsTheWeights) {
  BudgetProfile p;
  p.model = "m";
  p.layer_budgets = {0.5, 0.25};
  p.layer_sensitivity = {0.1, 0.02};
  p.sensitivity = {{"texts", {"a.txt"}}};
  auto back = budget_profile_from_json(budget_profile_to_json(p), "t");
  EXPECT_EQ(back.layer_sensitivity, p.layer_sensitivity);
  EXPECT_EQ(back.sensitivity["texts"][0], "a.txt");
  auto j = budget_profile_to_json(p);
  j["layer_sensitivity"] = {0.1};
  EXPECT_THROW(budget_profile_from_json(j, "t"), Error);
  j["layer_sensitivity"] = {0.1, -1.0};
  EXPECT_THROW(budget_profile_from_json(j, "t"), Error);
  p.layer_sensitivity.clear();
  EXPECT_FALSE(budget_profile_to_json(p).contains("layer_sensitivity"));
}

}  // namespace
}  // namespace skv
