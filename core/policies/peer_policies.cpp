#include "core/policies/peer_policies.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/common/error.h"
#include "core/policies/rdr_policy.h"
#include "core/policies/utility_estimators.h"

namespace skv {
namespace {

int32_t require_tier(const PolicyContext& ctx, const std::string& policy, bool fp16) {
  if (fp16) {
    const int32_t t = ctx.fp16_tier();
    if (t < 0) throw Error("policy " + policy + " needs an fp16 tier in the cache's tier list");
    return t;
  }
  return 0;
}

// Every allocatable token in one tier, ignoring the budget (full / ada: no compression target).
class AllTierPolicy : public RetentionPolicy {
 public:
  AllTierPolicy(std::string name, std::string tier) : name_(std::move(name)), tier_(std::move(tier)) {}
  std::string name() const override { return name_; }
  std::string tier_spec() const override { return tier_; }
  Assignment assign(const PolicyContext& ctx) override {
    Assignment a;
    for (const auto& v : ctx.layers) a.push_back(at::zeros({v.keys.size(0), ctx.n_tokens}, at::kInt));
    return a;
  }

 private:
  std::string name_, tier_;
};

// Top-K by a score in fp16 pages (StreamingLLM, H2O, SnapKV, PyramidKV, TriAttention).
class TopKPolicy : public RetentionPolicy {
 public:
  TopKPolicy(std::string name, std::string score, double pyramid_beta = 0)
      : name_(std::move(name)), score_(std::move(score)), beta_(pyramid_beta) {}
  std::string name() const override { return name_; }
  std::string tier_spec() const override { return "fp16"; }
  Assignment assign(const PolicyContext& ctx) override {
    const int32_t tier = require_tier(ctx, name_, true);
    const int64_t L = ctx.n_layers();
    std::vector<double> w(size_t(L), 1.0);
    if (beta_ > 0 && L > 1) {
      // PyramidKV (Cai et al. 2024): an arithmetic sequence from the bottom layer to the top,
      // top = 2 / beta x the mean, bottom = 2 - top, mean 1.
      const double top = 2.0 / beta_, bottom = 2.0 - top;
      for (int64_t l = 0; l < L; ++l) w[size_t(l)] = bottom + (top - bottom) * double(l) / double(L - 1);
    }
    auto keep = fit_per_layer(ctx, tier, w);
    std::vector<at::Tensor> scores;
    for (int64_t l = 0; l < L; ++l) {
      if (score_ == "position") {  // StreamingLLM: the newest
        const auto& v = ctx.layers[size_t(l)];
        scores.push_back(at::arange(ctx.n_tokens, at::kFloat).unsqueeze(0).expand({v.keys.size(0), ctx.n_tokens}));
      } else {
        scores.push_back(estimate_utility(score_, ctx, l));
      }
    }
    return keep_top(ctx, scores, keep, tier);
  }

 private:
  std::string name_, score_;
  double beta_;
};

// KIVI-b on every token; the oldest non-sink tokens dropped if everything does not fit.
class KiviPolicy : public RetentionPolicy {
 public:
  explicit KiviPolicy(int bits) : bits_(bits) {}
  std::string name() const override { return "kivi" + std::to_string(bits_); }
  std::string tier_spec() const override { return "kivi" + std::to_string(bits_); }
  Assignment assign(const PolicyContext& ctx) override {
    auto keep = fit_per_layer(ctx, 0, std::vector<double>(size_t(ctx.n_layers()), 1.0));
    std::vector<at::Tensor> scores;
    for (const auto& v : ctx.layers)
      scores.push_back(at::arange(ctx.n_tokens, at::kFloat).unsqueeze(0).expand({v.keys.size(0), ctx.n_tokens}));
    return keep_top(ctx, scores, keep, 0);
  }

 private:
  int bits_;
};

// Quest (Tang et al. 2024): everything stays resident in fp16; each query reads the pages with
// the largest upper bound of q.k (per-page channel min / max) up to the read budget.
class QuestPolicy : public RetentionPolicy {
 public:
  QuestPolicy(std::string name, double fraction, std::string completion)
      : name_(std::move(name)), fraction_(fraction), completion_(std::move(completion)) {}
  std::string name() const override { return name_; }
  std::string tier_spec() const override { return "fp16"; }
  std::string completion() const override { return completion_; }
  int64_t query_page_budget_tokens(int64_t n) const override {
    return std::max<int64_t>(0, int64_t(std::floor(fraction_ * double(n))));
  }
  Assignment assign(const PolicyContext& ctx) override {
    Assignment a;
    for (const auto& v : ctx.layers) a.push_back(at::zeros({v.keys.size(0), ctx.n_tokens}, at::kInt));
    return a;
  }
  void set_fraction(double f) { fraction_ = f; }

 private:
  std::string name_;
  double fraction_;
  std::string completion_;
};

}  // namespace

std::vector<int64_t> fit_per_layer(const PolicyContext& ctx, int32_t tier, const std::vector<double>& w) {
  const int64_t L = ctx.n_layers();
  const CacheTier& t = ctx.tiers->at(size_t(tier));
  const int64_t P = t.layout.page_tokens;
  std::vector<int64_t> avail(static_cast<size_t>(L));
  int64_t max_avail = 0;
  for (int64_t l = 0; l < L; ++l) {
    avail[size_t(l)] = allocatable_mask(ctx, l).sum(1).max().item<int64_t>();
    max_avail = std::max(max_avail, avail[size_t(l)]);
  }
  auto counts = [&](double k) {
    std::vector<int64_t> c(static_cast<size_t>(L));
    for (int64_t l = 0; l < L; ++l) {
      // Whole pages only (a partial page costs a whole one), unless the layer keeps everything.
      const int64_t want = int64_t(std::floor(k * w[size_t(l)] / double(P))) * P;
      c[size_t(l)] = std::min(avail[size_t(l)], want);
    }
    return c;
  };
  auto bytes = [&](const std::vector<int64_t>& c) {
    double b = 0;
    for (int64_t l = 0; l < L; ++l) {
      const int64_t Hkv = ctx.layers[size_t(l)].keys.size(0);
      b += double(Hkv) * std::ceil(double(c[size_t(l)]) / double(P)) * t.page_cost();
    }
    return b;
  };
  double lo = 0, hi = double(max_avail + P) * 4.0;
  if (bytes(counts(hi)) <= ctx.page_budget_bytes) return counts(hi);
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (bytes(counts(mid)) <= ctx.page_budget_bytes ? lo : hi) = mid;
  }
  return counts(lo);
}

Assignment keep_top(const PolicyContext& ctx, const std::vector<at::Tensor>& scores, const std::vector<int64_t>& keep,
                    int32_t tier) {
  Assignment a;
  for (int64_t l = 0; l < ctx.n_layers(); ++l) {
    auto mask = allocatable_mask(ctx, l);
    const int64_t Hkv = mask.size(0), N = mask.size(1);
    auto out = at::full({Hkv, N}, kDropTier, at::kInt);
    const int64_t k = keep[size_t(l)];
    if (k > 0) {
      auto s = scores[size_t(l)].to(at::kDouble).masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
      auto idx = std::get<1>(s.topk(std::min(k, N), 1));  // [Hkv, k]
      auto chosen = at::zeros({Hkv, N}, at::kBool).scatter_(1, idx, true).logical_and(mask);
      out.masked_fill_(chosen, tier);
    }
    a.push_back(out);
  }
  return a;
}

const std::vector<std::string>& policy_names() {
  static const std::vector<std::string> names = {"full", "ada", "streaming", "h2o", "snapkv", "pyramidkv", "tri",
                                                 "kivi2", "kivi4", "quest", "quest-c", "rdkv", "rdr", "rdr-c"};
  return names;
}

RdrOptions rdr_options(const std::string& name, const PolicyOptions& o) {
  if (name != "rdr" && name != "rdr-c" && name != "rdkv") throw Error("'" + name + "' is not an RD policy (rdr, rdr-c, rdkv)");
  const bool rdkv = name == "rdkv";
  RdrOptions r;
  r.tiers = o.tiers;
  // RDR's defaults (rdr_defaults.h, measured in docs/RDR_RESULTS.md round 3); RDKV keeps the
  // peer's own: un-pooled window attention, power 1, no profile, unweighted.
  r.utility = !o.utility.empty() ? o.utility : rdkv ? kRdkvDefaultUtility : kRdrDefaultUtility;
  r.utility_power = o.utility_power ? *o.utility_power : rdkv ? kRdkvDefaultUtilityPower : kRdrDefaultUtilityPower;
  r.profile = !o.profile.empty() ? o.profile : rdkv ? kRdrNoProfile : kRdrDefaultProfile;
  r.layer_cap = o.layer_cap;
  r.sensitivity = !o.sensitivity.empty() ? o.sensitivity : rdkv ? "off" : kRdrDefaultSensitivity;
  if (name == "rdr-c") r.completion = "prf";
  if (rdkv) r.drop_only_if_needed = true;
  return r;
}

std::shared_ptr<RetentionPolicy> make_policy(const std::string& name, const PolicyOptions& o) {
  if (name == "full") return std::make_shared<AllTierPolicy>("full", "fp16");
  if (name == "ada") return std::make_shared<AllTierPolicy>("ada(" + o.tier + ")", o.tier);
  if (name == "streaming") return std::make_shared<TopKPolicy>("streaming", "position");
  if (name == "h2o") return std::make_shared<TopKPolicy>("h2o", "h2o");
  if (name == "snapkv") return std::make_shared<TopKPolicy>("snapkv", "snapkv");
  if (name == "pyramidkv") return std::make_shared<TopKPolicy>("pyramidkv", "snapkv", o.pyramid_beta);
  if (name == "tri") return std::make_shared<TopKPolicy>("tri", "tri");
  if (name.rfind("kivi", 0) == 0 && name.size() > 4 && std::isdigit(static_cast<unsigned char>(name[4])))
    return std::make_shared<KiviPolicy>(std::stoi(name.substr(4)));
  if (name == "quest" || name == "quest-c")
    return std::make_shared<QuestPolicy>(name, o.read_fraction, name == "quest-c" ? "prf" : "");
  if (name == "rdr" || name == "rdr-c" || name == "rdkv") return std::make_shared<RdrPolicy>(name, rdr_options(name, o));
  std::string known;
  for (const auto& n : policy_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown policy '" + name + "' (known: " + known + ")");
}

}  // namespace skv
