#pragma once
// codec-eval: every tier format, CPU-only codec and scalar baseline on real per-(layer, kv head)
// keys / values / queries, at exact stored bits, with the SPHERICAL_KV.md 1 structure options.
// Metrics (over the last `eval_queries` query positions, causal, every query head of the group):
//   key_rel_mse    sum |k - k^|^2 / sum |k|^2 over all stored tokens (sinks fp16, the rest coded)
//   value_rel_mse  likewise for values
//   logit_rel_err  sqrt(sum (s - s^)^2 / sum s^2), s = q.k / sqrt(d) over the causal logits
//   out_rel_err    sqrt(sum |o - o^|^2 / sum |o|^2), o the attention output
//   kl             mean over (query, head) of KL(p || p^) of the attention distributions
// Sums are pooled over all samples. The hot window is per query: for the query at position t
// keys t-W+1..t are fp16 (what the decode step sees), older ones coded.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/codecs/lloyd_max.h"
#include "core/codecs/rotation_signs.h"
#include "core/codecs/tier_format.h"

namespace skv::codecs {

struct HeadSample {
  int layer = 0, kv_head = 0;
  int tokens = 0, head_dim = 0, group = 1;  // T, d, query heads per kv head
  std::vector<float> keys;     // [T, d] post-RoPE
  std::vector<float> values;   // [T, d]
  std::vector<float> queries;  // [T, group, d] post-RoPE
};

struct StructureOptions {
  int sink_tokens = 4;     // first tokens kept fp16
  bool page_mean = true;   // subtract the fp16 page mean before rotating (sphere codecs)
  int window = 0;          // newest tokens kept fp16 (32 in the design's "window on")
  bool rotation = true;    // randomized Hadamard before the sphere code
  // Per-channel scale before rotating (sphere-coded keys): after the page mean, each channel is
  // divided by its fp16 RMS over the page (stored: d fp16 per page, +16/P key bits).
  bool channel_scale = false;
  std::string label() const;
};

struct CodecEvalOptions {
  // empty: assets/tiers/default_set.json + pp42v4 + pp32v4 + vq4k3v4 + vq8k2v2
  std::vector<TierFormat> tiers;
  // CPU-only key codecs (values coord-lloyd(value_bits)), spec as make_direction_codec.
  std::vector<std::string> extra_key_codecs = {"coord-lloyd(3,unnested)", "coord-lloyd(4,unnested)",
                                               "tree-polar(4,2)", "tree-polar(5,3)", "block-vq(4,8)"};
  int extra_value_bits = 4;
  std::vector<int> baseline_bits = {2, 3, 4};  // KIVI and rotated per-token int-b
  int kivi_key_group = 128, kivi_value_group = 32;
  int eval_queries = 256;
  int page_tokens = 64;  // for the CPU-only codecs (tiers carry their own)
  uint64_t seed = kDefaultRotationSeed;
  // Sphere-codec structures; baselines run once per distinct (sink_tokens, window).
  // Empty: the factorial {mean off/on} x {rotation off/on} x {window 0/32}, sinks 4, plus
  // per-channel scale with mean and rotation at window 0 and 32, plus raw keys (no sinks, no
  // mean, rotation, window 0).
  std::vector<StructureOptions> structures;
  // Structures for the CPU-only codecs (extra_key_codecs). Empty: rotation on, {mean off/on} x
  // {window 0/32}, sinks 4 (the factorial is for the tiers).
  std::vector<StructureOptions> codec_structures;
  // true: score with the plain float64 per-query loop (slow; the reference the fast blocked
  // scorer is tested against).
  bool reference_scoring = false;
};

struct CodecEvalRow {
  std::string method;   // "k3v4", "tree-polar(4,2)+v:coord-lloyd(4)", "kivi-int3", ...
  std::string family;   // "tier", "codec", "kivi", "rotated-int"
  StructureOptions structure;
  bool structure_applies = true;  // false for baselines: page_mean / rotation not used
  double key_bits = 0, value_bits = 0, meta_bits = 0;
  double bits = 0;  // (key + value + meta) / 2, per stored element
  double key_rel_mse = 0, value_rel_mse = 0, logit_rel_err = 0, out_rel_err = 0, kl = 0;
};

struct CodecEvalTable {
  int head_dim = 0, samples = 0, eval_queries = 0;
  std::vector<CodecEvalRow> rows;
  // The same rows (same order, same rates) pooled over one layer's samples only.
  std::vector<std::pair<int, std::vector<CodecEvalRow>>> per_layer;
  // MSE of nested vs unconstrained Lloyd–Max on the analytic laws at this head_dim.
  std::vector<NestingCost> coord_nesting, radius_nesting;
  const CodecEvalRow* find(const std::string& method, const StructureOptions& s) const;
};

// All samples must share head_dim (64 or 128 for the tiers).
CodecEvalTable run_codec_eval(const std::vector<HeadSample>& samples, const CodecEvalOptions& options = {});

nlohmann::json to_json(const CodecEvalTable& table);

// Synthetic keys/values/queries with what SPHERICAL_KV.md 1 measured on real keys: a strong
// shared mean (about 60% of key energy), slowly drifting page means, a few outlier channels at
// ~8x the median RMS, and a low-norm sink token 0 that queries attend to. Deterministic in seed.
HeadSample synthetic_head_sample(int tokens, int head_dim, int group, uint64_t seed);

}  // namespace skv::codecs
