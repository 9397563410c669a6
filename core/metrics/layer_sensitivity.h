#pragma once
// Per-layer sensitivity of the next-token distribution to attention-output error, for RDR's
// sensitivity-weighted distortion (docs/RDR_RESULTS.md, "Sensitivity-weighted D").
//
// RDR's distortions D are squared errors of one layer's attention output, in that layer's own
// units. One Lagrange multiplier compares them across layers only if each is scaled by what a
// unit of it costs in next-token KL. This measures that cost by perturbation: on a calibration
// text the first (n - T) tokens are prefilled exactly, then the last T tokens run (teacher
// forced, causal) with layer l's attention output o_{t,h} (every scored position t, query head
// h) replaced by o + eps |o_{t,h}| xi_{t,h} (xi a seeded random unit vector), and
//
//   w_l = sum_r mean_t KL(p_t || p~_t) / sum_r mean_t sum_h |delta_{t,h}|^2
//
// over draws r: nats of KL per unit of squared absolute output error (second order, as KL is
// quadratic in a small perturbation). That is the "noise" perturbation. The default, "drop",
// uses the error RDR actually causes instead of an isotropic one: layer l's scored queries
// attend over the prefix with a seeded random `drop_fraction` of its tokens removed (the first 4
// and the newest 32 prefix tokens always kept, as the cache keeps sinks and a hot window), so
// delta = o(dropped) - o lies in the span of that layer's values, where real errors lie. Only layer l is perturbed in a run; the layers above read
// the perturbed residual stream, as they do when the cache of layer l is compressed.
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/decoder/llama_decoder.h"

namespace skv {

struct SensitivityOptions {
  int64_t scored_tokens = 64;  // T: perturbed and scored positions at the end of each text
  double epsilon = 0.1;        // relative size of the perturbation of each head output
  int draws = 4;               // random directions per layer
  uint64_t seed = 1;
  std::string perturbation = "drop";  // drop | noise
  double drop_fraction = 0.5;         // drop: share of the droppable prefix tokens removed
};

struct LayerSensitivity {
  std::vector<double> weight;        // [L] w_l: KL nats per unit squared output error (sum over heads)
  std::vector<double> kl;            // [L] mean KL of a perturbed run
  std::vector<double> error2;        // [L] mean over positions of sum_h |delta|^2
  std::vector<double> output2;       // [L] mean over positions of sum_h |o|^2 (unperturbed)
  int64_t texts = 0, tokens = 0;     // calibration texts and tokens per text
};

// Unit directions of draw `draw` for layer `layer`: float64 [Hq, T, d], each row of norm 1.
// Deterministic in (seed, layer, draw); exposed so a test can rebuild the same perturbation.
at::Tensor sensitivity_directions(uint64_t seed, int64_t layer, int draw, int64_t n_heads, int64_t T, int64_t d);

// Prefix positions kept by the drop perturbation of (layer, draw): bool [P]. Exposed for tests.
at::Tensor sensitivity_keep_mask(uint64_t seed, int64_t layer, int draw, int64_t P, double drop_fraction);

// Runs the perturbation measurement on one token stream (>= scored_tokens + 1 tokens).
LayerSensitivity measure_layer_sensitivity(LlamaDecoder& decoder, const std::vector<int32_t>& ids,
                                           const SensitivityOptions& options);
// Averages several texts' measurements: weights = sum KL / sum error2 over all texts and draws.
LayerSensitivity combine_layer_sensitivity(const std::vector<LayerSensitivity>& parts);

}  // namespace skv
