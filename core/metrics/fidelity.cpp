#include "core/metrics/fidelity.h"

#include <chrono>
#include <cmath>

#include <c10/core/InferenceMode.h>

#include "core/common/error.h"

namespace skv {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

at::Tensor one_token(int32_t id) { return at::full({1, 1}, int64_t(id), at::kLong); }

}  // namespace

StepComparison compare_logits(const at::Tensor& full_logits, const at::Tensor& logits, int64_t target) {
  auto lp = at::log_softmax(full_logits.reshape({-1}).to(at::kCPU, at::kDouble), 0);
  auto lq = at::log_softmax(logits.reshape({-1}).to(at::kCPU, at::kDouble), 0);
  StepComparison s;
  s.kl = (lp.exp() * (lp - lq)).sum().item<double>();
  s.top1_agree = lp.argmax().item<int64_t>() == lq.argmax().item<int64_t>();
  s.nll_full = -lp[target].item<double>();
  s.nll = -lq[target].item<double>();
  return s;
}

FidelityRun::FidelityRun(LlamaDecoder& decoder, std::vector<int32_t> ids, FidelityOptions options)
    : decoder_(decoder), ids_(std::move(ids)), opt_(options) {
  if (opt_.prefix_tokens < 2) throw Error("fidelity: the prefix needs at least 2 tokens");
  if (opt_.steps < 1) throw Error("fidelity: at least one compared step is needed");
  if (opt_.prefix_tokens + opt_.steps > int64_t(ids_.size()))
    throw Error("fidelity: prefix " + std::to_string(opt_.prefix_tokens) + " + steps " + std::to_string(opt_.steps) +
                " exceed the " + std::to_string(ids_.size()) + " tokens of the text");
  if (opt_.prefix_tokens + opt_.steps > decoder_.config().context_length)
    throw Error("fidelity: " + std::to_string(opt_.prefix_tokens + opt_.steps) + " tokens exceed the model's context of " +
                std::to_string(decoder_.config().context_length));
}

void FidelityRun::prepare(const TieredCacheOptions& base) {
  c10::InferenceMode guard;
  const auto& c = decoder_.config();
  const int64_t total = opt_.prefix_tokens + opt_.steps;
  TieredCacheOptions o = base;
  o.track_errors = true;  // the shadow copy every evaluated cache inherits
  o.budget = {};
  prefill_ = std::make_unique<TieredKvCache>(o, make_policy("full"));
  prefill_->reset(c, 1, total, decoder_.device());
  auto t0 = std::chrono::steady_clock::now();
  const int64_t n = opt_.prefix_tokens - 1;
  for (int64_t done = 0; done < n;) {
    const int64_t m = std::min(opt_.prefill_chunk, n - done);
    auto ids = at::from_blob(ids_.data() + done, {1, m}, at::kInt).to(at::kLong);
    decoder_.forward(ids, done, *prefill_, /*last_only=*/true);
    done += m;
  }
  prefill_s_ = seconds_since(t0);
  // Reference: the full cache (fp16, exact softmax) on the same stream.
  TieredCacheOptions r = base;
  r.budget = {};
  r.lut_scoring = false;
  r.track_errors = false;
  TieredKvCache ref(r, make_policy("full"));
  ref.reset(c, 1, total, decoder_.device());
  ref.adopt_prefill(*prefill_);
  t0 = std::chrono::steady_clock::now();
  ref_logits_ = at::empty({opt_.steps, c.vocab_size}, at::kFloat);
  for (int64_t i = 0; i < opt_.steps; ++i) {
    const int64_t pos = n + i;
    auto logits = decoder_.forward(one_token(ids_[size_t(pos)]), pos, ref, true);
    ref_logits_[i].copy_(logits.reshape({-1}).to(at::kCPU, at::kFloat));
  }
  reference_s_ = seconds_since(t0);
}

FidelityResult FidelityRun::evaluate(const BackendSpec& spec, const std::function<void(int64_t)>& progress) {
  if (!prefill_) throw Error("fidelity: prepare() first");
  c10::InferenceMode guard;
  const auto& c = decoder_.config();
  BackendSpec s = spec;
  s.cache.track_errors = true;
  auto cache = make_tiered_cache(s);
  cache->reset(c, 1, opt_.prefix_tokens + opt_.steps, decoder_.device());
  cache->adopt_prefill(*prefill_);
  FidelityResult r;
  r.policy = spec.kv == "ada" ? "ada:" + spec.tier : spec.policy;
  r.budget = spec.kv == "ada" ? "-" : spec.budget;
  r.steps = opt_.steps;
  const int64_t n = opt_.prefix_tokens - 1;
  double kl = 0, nll_f = 0, nll = 0, bytes = 0, read = 0;
  int64_t agree = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < opt_.steps; ++i) {
    const int64_t pos = n + i;
    auto logits = decoder_.forward(one_token(ids_[size_t(pos)]), pos, *cache, true);
    const int64_t target = ids_[size_t(pos) + 1];
    const StepComparison sc = compare_logits(ref_logits_[i], logits, target);
    kl += sc.kl;
    r.kl_max = std::max(r.kl_max, sc.kl);
    r.kl_steps.push_back(sc.kl);
    agree += sc.top1_agree;
    nll_f += sc.nll_full;
    nll += sc.nll;
    r.correct_targets += logits.reshape({-1}).argmax().item<int64_t>() == target;
    r.correct_targets_full += ref_logits_[i].argmax().item<int64_t>() == target;
    const ResidentBytes rb = cache->resident_bytes();
    bytes += rb.total;
    read += cache->last_step_read_bytes();
    r.full_bytes = cache->full_fp16_bytes();
    r.resident_max_fraction = std::max(r.resident_max_fraction, rb.total / r.full_bytes);
    const double b = cache->budget_bytes();
    if (std::isfinite(b)) r.budget_max_ratio = std::max(r.budget_max_ratio, rb.total / b);
    if (progress) progress(i);
  }
  r.seconds = seconds_since(t0);
  const double T = double(opt_.steps);
  r.kl = kl / T;
  r.top1 = double(agree) / T;
  r.ppl_full = std::exp(nll_f / T);
  r.ppl = std::exp(nll / T);
  r.ppl_delta = r.ppl - r.ppl_full;
  r.resident_bytes = bytes / T;
  r.read_bytes = read / T;
  r.attention_error = cache->attention_error();
  r.attention_error_mean = r.attention_error.mean().item<double>();
  // Tier shares over every (layer, head, position) at the end.
  const auto& tiers = cache->tiers();
  std::vector<double> count(tiers.size() + 2, 0.0);
  double all = 0;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    auto m = cache->tier_map(l);
    for (size_t t = 0; t < tiers.size(); ++t) count[t] += m.eq(int32_t(t)).sum().item<double>();
    count[tiers.size()] += m.eq(kHotTier).sum().item<double>();
    count[tiers.size() + 1] += m.eq(kDropTier).sum().item<double>();
    all += double(m.numel());
  }
  for (auto& x : count) x /= std::max(1.0, all);
  r.tier_share = count;
  for (const auto& t : tiers) r.tier_names.push_back(t.name);
  {
    const ResidentBytes rb = cache->resident_bytes();
    const double layer_full = r.full_bytes / double(c.n_layers);
    for (const auto& heads : rb.by_head_tier) {
      double b = 0;
      for (const auto& row : heads)
        for (double x : row) b += x;
      r.layer_fraction.push_back(layer_full > 0 ? b / layer_full : 0.0);
    }
  }
  r.tier_names.push_back("hot");
  r.tier_names.push_back("drop");
  return r;
}

}  // namespace skv
