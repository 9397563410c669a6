#pragma once
// Utility u_j of each cached token for each (layer, kv head): an estimate of the attention mass
// future queries will give it (SPHERICAL_KV.md section 2). Estimators are selectable by name:
//   snapkv     observation-window attention: the last W queries (SnapKV, Li et al. 2024, W = 32),
//              softmax over the cached keys, summed over the window and the GQA group, then
//              max-pooled along positions with a kernel of 7 (SnapKV's clustering step)
//   obs        the same without pooling
//   h2o        accumulated attention of every query so far (H2O, Zhang et al. 2023)
//   tri        TriAttention-style pre-RoPE score: undo RoPE, take the mean pre-RoPE query of the
//              window as the centre, score each key by the trigonometric series
//              sum_f |q_f||k_f| cos(w_f (p - j) + phi_q - phi_k) averaged over future distances
//              p - j (p = N + 2^i, i = 0..12), plus the off-centre query energy times |k_f|
//   recency    1 / (N - j): a prior on the newest tokens
//   sink       1 on the first 4 tokens: the attention-sink prior
//   uniform    1 / (tokens cached): a floor, for blends ("snapkv*0.9+uniform*0.1")
// Blends: "snapkv*0.8+recency*0.2" (each part normalized to mass 1 per head before weighting).
// Every result is [Hkv, N] float32, >= 0, zero on dropped tokens, and sums to 1 per head.
#include <string>

#include <ATen/ATen.h>

#include "core/policies/retention_policy.h"

namespace skv {

at::Tensor estimate_utility(const std::string& spec, const PolicyContext& ctx, int64_t layer);

// Undo RoPE: x [H, N, d] at positions pos [N] (the decoder's rope_theta and pair layout).
at::Tensor unrope(const at::Tensor& x, const at::Tensor& pos, const ModelConfig& config);

// The estimator names estimate_utility accepts (without blends).
const std::vector<std::string>& utility_estimator_names();

}  // namespace skv
