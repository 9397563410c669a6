#pragma once
// Wires a probes::Probe into the decoder: one probe step per forward (generator's StepHook), one
// range per layer's attention ("step 12/attn L3", LlamaDecoder's AttentionHook), and the modeled
// bytes of each layer's attention (ModeledBytesRecord, Provenance modeled) from a TrafficModel.
// `skv record --probe off|cpu|timeline|counters` and the GUI make a Probe + ProbeWorker, attach
// one DecodeProbe, and read one record stream: CPU timings of steps and attention ranges
// (cpu), kernels tagged with step/layer (timeline), DRAM bytes per step or per attention range
// (counters; ProbeOptions::counter_range_depth 1 or 2), and the modeled bytes beside them.
//
// Decode thread only. Costs nothing when not attached (the decoder and generator test a null
// pointer) and one relaxed atomic load per call when attached to a probe that is off.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/cache/tiered_kv_cache.h"
#include "core/decoder/generator.h"
#include "core/decoder/llama_decoder.h"
#include "core/probing/attention_traffic_model.h"
#include "probes/probe.h"

namespace skv::probing {

// Modeled traffic of one layer's attention call; nullopt = nothing to record (e.g. prefill).
using TrafficModel = std::function<std::optional<AttentionTraffic>(const AttentionCall&, const AttentionBackend&)>;

// Dense cache of start_pos + T tokens per sequence, read whole by one decode query
// (model_dense_attention_traffic with the call's shapes); prefill calls (T > 1) give nullopt.
// kv_bytes_per_element: 4 for DenseKvCache's default float32 storage, 2 for fp16.
TrafficModel dense_cache_traffic(int kv_bytes_per_element, int query_bytes_per_element = 4);

// Paged cache: `view(layer)` returns the layer's page table with host pointers (TieredKvCache::
// paged_view), or nullopt when the layer has no sealed pages yet. Decode calls only.
TrafficModel paged_cache_traffic(std::function<std::optional<kernels::PagedKv>(int64_t layer)> view,
                                 PagedTrafficOptions options = {});

// The RDR / ADA cache: each layer's sealed pages (paged_view) read by the ADA kernel, plus the fp16
// hot window (sinks + newest tokens, the call's own token included) that the attention reads
// beside them (PagedTrafficOptions::hot_tokens). Decode calls only. The hot count is read from the
// layer's tier map, so it is what the cache holds, not what its options say.
TrafficModel tiered_cache_traffic(const TieredKvCache& cache, PagedTrafficOptions options = {});

class DecodeProbe final : public StepHook, public AttentionHook {
 public:
  explicit DecodeProbe(probes::Probe& probe) : probe_(probe) {}

  // `label` names the modeled kernel in the records ("<label>:read" / "<label>:write").
  void set_traffic_model(TrafficModel model, std::string label);
  void attach(LlamaDecoder& decoder) { decoder.set_attention_hook(this); }
  static void detach(LlamaDecoder& decoder) { decoder.set_attention_hook(nullptr); }
  StepHook* step_hook() { return this; }  // for GenerationCallbacks::step_hook
  // Compute the traffic model (last_step()) even while the probe is off, so a series of modeled
  // bytes has the same source at every probe level; records are pushed only when it is on.
  void set_model_when_off(bool on) { model_when_off_ = on; }
  // The step number of the next attention ranges, for callers that open the step range
  // themselves (probes::measure_overhead wraps each step in begin_step/end_step).
  void set_step(int64_t step) { step_ = step; }

  void begin_forward(int64_t step, int64_t position, int64_t tokens) override;
  void end_forward(int64_t step) override;
  void before_attention(const AttentionCall& call) override;
  void after_attention(const AttentionCall& call, const AttentionBackend& backend) override;

  // Sums of the last finished step (for a status line; decode thread only).
  struct StepTotals {
    int64_t step = probes::kNoStep;
    uint64_t modeled_read_bytes = 0, modeled_written_bytes = 0;
    int64_t layers = 0;
    std::vector<uint64_t> layer_read_bytes;  // index = layer; 0 for layers without a model
    AttentionTraffic traffic;                // sum over the step's layers (breakdown)
  };
  const StepTotals& last_step() const { return last_; }

 private:
  probes::Probe& probe_;
  TrafficModel model_;
  std::string label_ = "attention";
  int64_t step_ = probes::kNoStep;
  bool step_open_ = false;  // a range was pushed (the probe may be started or stopped meanwhile)
  bool attn_open_ = false;
  bool model_when_off_ = false;
  StepTotals current_, last_;
};

}  // namespace skv::probing
