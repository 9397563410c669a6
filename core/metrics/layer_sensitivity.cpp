#include "core/metrics/layer_sensitivity.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/common/error.h"
#include "core/decoder/dense_kv_cache.h"

namespace skv {
namespace {

// Exact attention over a frozen prefix (the calibration prefill) plus the new tokens, without
// storing anything: every perturbed run starts from the same prefix. Optionally perturbs one
// layer's output by eps |o| times the given unit directions.
class FrozenPrefixBackend : public AttentionBackend {
 public:
  std::vector<at::Tensor> k, v;  // per layer [1, Hkv, P, d]
  int64_t target = -1;
  double eps = 0;
  at::Tensor directions;         // noise: [1, Hq, T, d] float32, on the decoder's device
  at::Tensor keep;               // drop: [P] int64 kept prefix positions (defined = drop mode)
  double error2 = 0, output2 = 0;

  void reset(const ModelConfig&, int64_t, int64_t, const at::Device&) override {}
  at::Tensor attend(const AttentionCall& call) override {
    auto& kl = k.at(size_t(call.layer));
    auto& vl = v.at(size_t(call.layer));
    auto o = exact_attention(call.q, at::cat({kl, call.k}, 2), at::cat({vl, call.v}, 2), call.start_pos);
    if (call.layer != target) return o;
    if (keep.defined()) {
      auto kk = at::cat({kl.index_select(2, keep), call.k}, 2), vv = at::cat({vl.index_select(2, keep), call.v}, 2);
      auto od = exact_attention(call.q, kk, vv, keep.size(0));
      const double T = double(o.size(2));
      error2 = (od.to(at::kDouble) - o.to(at::kDouble)).pow(2).sum().item<double>() / T;
      output2 = o.to(at::kDouble).pow(2).sum().item<double>() / T;
      return od;
    }
    auto norm = o.to(at::kDouble).pow(2).sum(-1, true).sqrt();  // [1, Hq, T, 1]
    auto delta = (eps * norm * directions.to(at::kDouble)).to(o.scalar_type());
    const double T = double(o.size(2));
    error2 = delta.to(at::kDouble).pow(2).sum().item<double>() / T;
    output2 = o.to(at::kDouble).pow(2).sum().item<double>() / T;
    return o + delta;
  }
  int64_t cached_tokens() const override { return k.empty() ? 0 : k[0].size(2); }
  std::string name() const override { return "frozen-prefix"; }
};

double mean_kl(const at::Tensor& ref_logits, const at::Tensor& logits) {
  auto lp = at::log_softmax(ref_logits.to(at::kDouble).cpu(), -1);
  auto lq = at::log_softmax(logits.to(at::kDouble).cpu(), -1);
  return (lp.exp() * (lp - lq)).sum(-1).mean().item<double>();
}

}  // namespace

at::Tensor sensitivity_directions(uint64_t seed, int64_t layer, int draw, int64_t n_heads, int64_t T, int64_t d) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + uint64_t(layer) * 1009ULL + uint64_t(draw));
  auto x = at::randn({n_heads, T, d}, gen, at::TensorOptions().dtype(at::kDouble));
  return x / x.pow(2).sum(-1, true).sqrt();
}

at::Tensor sensitivity_keep_mask(uint64_t seed, int64_t layer, int draw, int64_t P, double drop_fraction) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + uint64_t(layer) * 1009ULL + uint64_t(draw) + 7777ULL);
  auto keep = at::rand({P}, gen, at::TensorOptions().dtype(at::kDouble)).ge(drop_fraction);
  auto pos = at::arange(P, at::kLong);
  return keep.logical_or(pos.lt(4)).logical_or(pos.ge(P - 32));
}

LayerSensitivity measure_layer_sensitivity(LlamaDecoder& decoder, const std::vector<int32_t>& ids,
                                           const SensitivityOptions& o) {
  const auto& c = decoder.config();
  const int64_t n = int64_t(ids.size()), T = o.scored_tokens, P = n - T;
  if (T < 1 || P < 1)
    throw Error("sensitivity calibration needs more tokens than --scored (" + std::to_string(n) + " tokens, " +
                std::to_string(T) + " scored)");
  if (!(o.epsilon > 0) || o.draws < 1) throw Error("sensitivity calibration: --epsilon must be > 0 and --draws >= 1");
  if (o.perturbation != "drop" && o.perturbation != "noise")
    throw Error("sensitivity calibration: perturbation '" + o.perturbation + "' is unknown (drop, noise)");
  if (o.perturbation == "drop" && !(o.drop_fraction > 0 && o.drop_fraction < 1))
    throw Error("sensitivity calibration: --drop-fraction must be in (0, 1)");
  auto all = at::from_blob(const_cast<int32_t*>(ids.data()), {1, n}, at::kInt).to(at::kLong);
  const at::Device dev = decoder.device();
  FrozenPrefixBackend fb;
  {
    DenseKvCache dense;
    dense.reset(c, 1, P, dev);
    decoder.forward(all.narrow(1, 0, P), 0, dense, true);
    for (int64_t l = 0; l < c.n_layers; ++l) {
      fb.k.push_back(dense.keys(l).clone());
      fb.v.push_back(dense.values(l).clone());
    }
  }
  auto scored = all.narrow(1, P, T);
  auto ref = decoder.forward(scored, P, fb);  // [1, T, vocab]
  LayerSensitivity r;
  r.texts = 1;
  r.tokens = n;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    double kl = 0, e2 = 0, o2 = 0;
    for (int draw = 0; draw < o.draws; ++draw) {
      fb.target = l;
      fb.eps = o.epsilon;
      if (o.perturbation == "drop")
        fb.keep = sensitivity_keep_mask(o.seed, l, draw, P, o.drop_fraction).nonzero().reshape({-1}).to(dev);
      else
        fb.directions = sensitivity_directions(o.seed, l, draw, c.n_heads, T, c.head_dim).unsqueeze(0).to(at::kFloat).to(dev);
      auto logits = decoder.forward(scored, P, fb);
      kl += mean_kl(ref, logits);
      e2 += fb.error2;
      o2 += fb.output2;
    }
    r.kl.push_back(kl / o.draws);
    r.error2.push_back(e2 / o.draws);
    r.output2.push_back(o2 / o.draws);
    r.weight.push_back(e2 > 0 ? kl / e2 : 0.0);
  }
  return r;
}

LayerSensitivity combine_layer_sensitivity(const std::vector<LayerSensitivity>& parts) {
  if (parts.empty()) throw Error("no sensitivity measurements to combine");
  const size_t L = parts[0].weight.size();
  LayerSensitivity r;
  r.kl.assign(L, 0);
  r.error2.assign(L, 0);
  r.output2.assign(L, 0);
  r.weight.assign(L, 0);
  r.tokens = parts[0].tokens;
  for (const auto& p : parts) {
    if (p.weight.size() != L) throw Error("sensitivity measurements of different layer counts");
    r.texts += p.texts;
    for (size_t l = 0; l < L; ++l) {
      r.kl[l] += p.kl[l] / double(parts.size());
      r.error2[l] += p.error2[l] / double(parts.size());
      r.output2[l] += p.output2[l] / double(parts.size());
    }
  }
  for (size_t l = 0; l < L; ++l) r.weight[l] = r.error2[l] > 0 ? r.kl[l] / r.error2[l] : 0.0;
  return r;
}

}  // namespace skv
