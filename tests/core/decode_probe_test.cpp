// DecodeProbe: the record stream a decode produces through the generator/decoder hooks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>
#include <variant>
#include <vector>

#include "core/decoder/dense_kv_cache.h"
#include "core/decoder/llama_decoder.h"
#include "core/model/random_weight_source.h"
#include "core/probing/decode_probe.h"
#include "probes/probe.h"

namespace skv::probing {
namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.name = "tiny";
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.hidden = 64;
  c.ffn_hidden = 96;
  c.vocab_size = 50;
  c.context_length = 64;
  return c;
}

struct Drained {
  std::vector<probes::CpuTimingRecord> cpu;
  std::vector<probes::ModeledBytesRecord> modeled;
};

Drained drain(probes::Probe& probe) {
  std::vector<probes::Record> out;
  probe.drain(out);
  Drained d;
  for (const auto& r : out) {
    if (const auto* c = std::get_if<probes::CpuTimingRecord>(&r)) d.cpu.push_back(*c);
    if (const auto* m = std::get_if<probes::ModeledBytesRecord>(&r)) d.modeled.push_back(*m);
  }
  return d;
}

// Runs a 5-token prefill (step 0) and two decode steps through the decoder, the way generate()
// calls the hooks.
void run(LlamaDecoder& dec, DenseKvCache& cache, DecodeProbe& dp) {
  cache.reset(dec.config(), 1, 16, dec.device());
  dp.attach(dec);
  auto ids = at::arange(5, at::kLong).view({1, 5});
  dp.begin_forward(0, 0, 5);
  dec.forward(ids, 0, cache, true);
  dp.end_forward(0);
  for (int64_t s = 1; s <= 2; ++s) {
    dp.begin_forward(s, 4 + s, 1);
    dec.forward(at::full({1, 1}, 7, at::kLong), 4 + s, cache, true);
    dp.end_forward(s);
  }
  DecodeProbe::detach(dec);
}

TEST(DecodeProbe, CpuLevelGivesStepAndAttentionRangesAndModeledBytesPerLayer) {
  RandomWeightSource w(tiny_config(), 1);
  LlamaDecoder dec(w, at::Device(at::kCPU));
  DenseKvCache cache;
  probes::Probe probe;
  probe.start(probes::Level::cpu);
  DecodeProbe dp(probe);
  dp.set_traffic_model(dense_cache_traffic(4), "dense");
  run(dec, cache, dp);
  probe.stop();
  const Drained d = drain(probe);

  std::vector<std::string> names;
  for (const auto& c : d.cpu) names.push_back(c.what.str());
  // Inner ranges finish first: attention layers, then their step.
  const std::vector<std::string> want = {"prefill 0+5/attn L0", "prefill 0+5/attn L1", "prefill 0+5",
                                         "step 1/attn L0",      "step 1/attn L1",      "step 1",
                                         "step 2/attn L0",      "step 2/attn L1",      "step 2"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(d.cpu[3].step, 1);
  EXPECT_EQ(d.cpu[8].step, 2);

  // Prefill has no model; each decode step has one read + one write record per layer.
  ASSERT_EQ(d.modeled.size(), 2u * 2u * 2u);
  const auto& r = d.modeled[0];
  EXPECT_EQ(r.kernel.view(), "dense:read");
  EXPECT_EQ(r.step, 1);
  EXPECT_EQ(r.layer, 0);
  // Step 1 sees 6 tokens: K + V float32 of 2 kv heads x 16 dims, + float32 q of 4 heads.
  EXPECT_EQ(r.modeled_bytes.value, 2u * (2u * 6u * 16u * 4u) + 4u * 16u * 4u);
  EXPECT_EQ(d.modeled[4].step, 2);
  EXPECT_EQ(d.modeled[4].modeled_bytes.value, 2u * (2u * 7u * 16u * 4u) + 4u * 16u * 4u);
  EXPECT_EQ(dp.last_step().step, 2);
  EXPECT_EQ(dp.last_step().layers, 2);
  EXPECT_EQ(dp.last_step().modeled_read_bytes, 2u * d.modeled[4].modeled_bytes.value);
}

TEST(DecodeProbe, OffProbeRecordsNothingAndTheDecoderOutputIsUnchanged) {
  RandomWeightSource w(tiny_config(), 2);
  LlamaDecoder dec(w, at::Device(at::kCPU));
  DenseKvCache a, b;
  a.reset(dec.config(), 1, 16, dec.device());
  auto ids = at::arange(6, at::kLong).view({1, 6});
  auto plain = dec.forward(ids, 0, a, true);

  probes::Probe probe;  // never started
  DecodeProbe dp(probe);
  dp.set_traffic_model(dense_cache_traffic(4), "dense");
  b.reset(dec.config(), 1, 16, dec.device());
  dp.attach(dec);
  dp.begin_forward(0, 0, 6);
  auto probed = dec.forward(ids, 0, b, true);
  dp.end_forward(0);
  DecodeProbe::detach(dec);
  EXPECT_TRUE(at::equal(plain, probed));
  std::vector<probes::Record> out;
  EXPECT_EQ(probe.drain(out), 0u);
}

}  // namespace
}  // namespace skv::probing
