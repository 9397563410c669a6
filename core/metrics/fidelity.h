#pragma once
// Fidelity of a compressed cache against the full cache on the same token stream (teacher
// forcing, SPHERICAL_KV.md section 3): the prefix runs exact (one shared prefill), then every
// compared step feeds the true next token to both caches and compares the next-token
// distributions: KL(full || compressed), top-1 agreement, perplexity of the true tokens; plus the
// per (layer, q head) attention-output relative error against exact attention on the same inputs,
// and the resident bytes.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/cache/backend_factory.h"
#include "core/decoder/llama_decoder.h"

namespace skv {

// Per-step comparison of two next-token logit rows, float64 (exposed for tests).
struct StepComparison {
  double kl = 0;         // KL(p_full || p_compressed), nats
  bool top1_agree = false;
  double nll_full = 0;   // -log p_full(target)
  double nll = 0;        // -log p_compressed(target)
};
StepComparison compare_logits(const at::Tensor& full_logits, const at::Tensor& logits, int64_t target);

struct FidelityOptions {
  int64_t prefix_tokens = 0;  // tokens before the first compared step (exact prefill: prefix - 1)
  int64_t steps = 0;          // compared steps; step i feeds token prefix-1+i, predicts prefix+i
  int64_t prefill_chunk = 256;
};

struct FidelityResult {
  std::string policy;
  std::string budget;
  int64_t steps = 0;
  double kl = 0;               // mean over steps
  double kl_max = 0;
  std::vector<double> kl_steps;  // per step (the mean hides single catastrophic steps)
  double top1 = 0;             // fraction of steps where the argmax agrees
  double ppl_full = 0, ppl = 0, ppl_delta = 0;
  double resident_bytes = 0;   // mean over steps
  double resident_max_fraction = 0;  // max over steps of resident / full fp16 bytes
  double budget_max_ratio = 0;       // max over steps of resident / budget (<= 1 when honoured)
  double full_bytes = 0;       // full fp16 cache bytes at the last step
  double read_bytes = 0;       // modeled bytes read per step (mean)
  at::Tensor attention_error;  // [L, Hq] relative error
  double attention_error_mean = 0;
  std::vector<double> tier_share;  // fraction of (layer, head, token) per tier id; then hot, drop
  std::vector<std::string> tier_names;
  std::vector<double> layer_fraction;  // resident bytes of each layer / its fp16 bytes, at the end
  int64_t correct_targets = 0;  // steps whose compressed argmax is the true token
  int64_t correct_targets_full = 0;
  double seconds = 0;
};

class FidelityRun {
 public:
  // ids: the whole stream; prefix + steps <= ids.size().
  FidelityRun(LlamaDecoder& decoder, std::vector<int32_t> ids, FidelityOptions options);
  // Prefill (once) and the full-cache reference steps.
  void prepare(const TieredCacheOptions& base);
  // One policy on the shared prefill; `progress(step)` is called after every step.
  FidelityResult evaluate(const BackendSpec& spec, const std::function<void(int64_t)>& progress = {});
  const std::vector<int32_t>& ids() const { return ids_; }
  double prefill_seconds() const { return prefill_s_; }
  double reference_seconds() const { return reference_s_; }

 private:
  LlamaDecoder& decoder_;
  std::vector<int32_t> ids_;
  FidelityOptions opt_;
  std::unique_ptr<TieredKvCache> prefill_;
  at::Tensor ref_logits_;  // [steps, vocab] float32
  double prefill_s_ = 0, reference_s_ = 0;
};

}  // namespace skv
