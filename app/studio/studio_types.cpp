#include "app/studio/studio_types.h"

#include <algorithm>

namespace skv::studio {

const std::vector<PolicyInfo>& policy_catalog() {
  static const std::vector<PolicyInfo> catalog = {
      {PolicyKind::dense, "dense", "Full cache (dense)", "Every token kept at full precision: the reference every policy is measured against."},
      {PolicyKind::rdr, "rdr", "RDR (rate-distortion retention)", "Per (layer, head, token) tier out of {drop, T1..Tm, fp16} under a byte budget; one Lagrange multiplier shared by all heads (SPHERICAL_KV.md section 2)."},
      {PolicyKind::streaming_llm, "streaming_llm", "StreamingLLM", "Attention sinks plus a recent window; everything else dropped."},
      {PolicyKind::h2o, "h2o", "H2O", "Heavy hitters by accumulated attention plus a recent window."},
      {PolicyKind::snapkv, "snapkv", "SnapKV", "Keeps tokens that an observation window of recent queries attends to."},
      {PolicyKind::pyramidkv, "pyramidkv", "PyramidKV", "SnapKV-style selection with budgets that shrink with depth."},
      {PolicyKind::triattention, "triattention", "TriAttention", "Pre-RoPE trigonometric distance/norm scoring of keys."},
      {PolicyKind::kivi, "kivi", "KIVI (2/4-bit)", "Scalar quantization: keys per channel, values per token (2 or 4 bits; emulated pages, KIVI bytes charged)."},
      {PolicyKind::quest, "quest", "Quest (page Top-K)", "Every page kept; each query reads only its top-K pages (the budget is the fraction read), optionally with feature-map completion."},
      {PolicyKind::rdkv, "rdkv", "RDKV bit allocation", "Rate-distortion bit allocation per token without dropping."},
  };
  return catalog;
}

const PolicyInfo& policy_info(PolicyKind kind) {
  for (const auto& p : policy_catalog())
    if (p.kind == kind) return p;
  return policy_catalog().front();
}

std::string core_policy_name(const PolicySettings& p) {
  switch (p.kind) {
    case PolicyKind::dense: return "full";
    case PolicyKind::rdr: return p.completion ? "rdr-c" : "rdr";
    case PolicyKind::streaming_llm: return "streaming";
    case PolicyKind::h2o: return "h2o";
    case PolicyKind::snapkv: return "snapkv";
    case PolicyKind::pyramidkv: return "pyramidkv";
    case PolicyKind::triattention: return "tri";
    case PolicyKind::kivi: return p.kivi_bits <= 2 ? "kivi2" : "kivi4";
    case PolicyKind::quest: return p.completion ? "quest-c" : "quest";
    case PolicyKind::rdkv: return "rdkv";
  }
  return "full";
}

int64_t auto_prompt_tokens(bool gpu, int64_t context_length, int64_t max_new_tokens) {
  if (!gpu) return 512;
  return std::max<int64_t>(context_length - std::max<int64_t>(max_new_tokens, 0), context_length / 2);
}

const char* phase_label(RunPhase p) {
  switch (p) {
    case RunPhase::idle: return "idle";
    case RunPhase::loading: return "loading model";
    case RunPhase::prefill: return "prefill";
    case RunPhase::decoding: return "decoding";
    case RunPhase::paused: return "paused";
    case RunPhase::finished: return "finished";
    case RunPhase::stopped: return "stopped";
    case RunPhase::failed: return "failed";
  }
  return "?";
}

}  // namespace skv::studio
