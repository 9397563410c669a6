// DecodeProbe: the record stream a decode produces through the generator/decoder hooks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include "core/cache/backend_factory.h"
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


// The RDR/ADA cache: every token held is read once per kv head, either from a sealed page or from
// the fp16 hot window (sinks + newest + the query's own token). An ADA cache drops nothing, so
// page tokens + hot tokens must equal layers x kv heads x context at every decode step, whatever
// the re-tiering schedule; and the hot window costs 2 * 2 * d bytes a token (d = 64: whole sectors).
// The tiered-cache tests' shape (d = 64, the coded tiers' head size) and cache window: a short
// hot window, 2 sinks and re-tiering every 4 steps, so pages seal within a few steps.
ModelConfig tiered_config(int64_t context) {
  ModelConfig c = tiny_config();
  c.head_dim = 64;
  c.hidden = 256;
  c.ffn_hidden = 256;
  c.context_length = context;
  return c;
}

BackendSpec short_window_spec() {
  BackendSpec spec;
  spec.cache.hot_window = 8;
  spec.cache.sink_tokens = 2;
  spec.cache.retier_every = 4;
  return spec;
}

// Step `s` of a probed forward: the prompt (s = 0) or one decode token at position `pos`.
void probed_prefill(DecodeProbe& dp, LlamaDecoder& dec, AttentionBackend& cache, int64_t prompt, int64_t vocab) {
  dp.begin_forward(0, 0, prompt);
  dec.forward(at::arange(prompt, at::kLong).remainder(vocab).view({1, prompt}), 0, cache, true);
  dp.end_forward(0);
}
void probed_step(DecodeProbe& dp, LlamaDecoder& dec, AttentionBackend& cache, int64_t s, int64_t pos) {
  dp.begin_forward(s, pos, 1);
  dec.forward(at::full({1, 1}, 5, at::kLong), pos, cache, true);
  dp.end_forward(s);
}

TEST(DecodeProbe, TieredCacheModelReadsEveryHeldTokenOnceFromPagesOrTheHotWindow) {
  const ModelConfig c = tiered_config(256);
  RandomWeightSource w(c, 3);
  LlamaDecoder dec(w, at::Device(at::kCPU));
  BackendSpec spec = short_window_spec();
  spec.kv = "ada";
  spec.tier = "k3v4";
  auto cache = make_tiered_cache(spec);
  cache->reset(c, 1, 128, dec.device());
  probes::Probe probe;
  probe.start(probes::Level::cpu);
  DecodeProbe dp(probe);
  dp.set_traffic_model(tiered_cache_traffic(*cache), "ada");
  dp.attach(dec);
  const int64_t prompt = 90;
  probed_prefill(dp, dec, *cache, prompt, c.vocab_size);
  std::vector<uint64_t> hot_per_step;
  for (int64_t s = 1; s <= 6; ++s) {
    const int64_t pos = prompt + s - 1;
    probed_step(dp, dec, *cache, s, pos);
    const auto& t = dp.last_step();
    ASSERT_EQ(t.layers, c.n_layers) << "step " << s;
    EXPECT_EQ(t.traffic.tokens + t.traffic.hot_tokens, uint64_t(c.n_layers * c.n_kv_heads * (pos + 1))) << "step " << s;
    EXPECT_GT(t.traffic.pages, 0u);
    EXPECT_EQ(t.traffic.hot_window, t.traffic.hot_tokens * 2u * 2u * 64u);
    ASSERT_EQ(t.layer_read_bytes.size(), size_t(c.n_layers));
    EXPECT_EQ(t.layer_read_bytes[0] + t.layer_read_bytes[1], t.modeled_read_bytes);
    hot_per_step.push_back(t.traffic.hot_tokens);
  }
  DecodeProbe::detach(dec);
  probe.stop();
  // Between re-tierings (every 4 steps) the hot window grows by one token a step.
  EXPECT_EQ(hot_per_step[1], hot_per_step[0] + uint64_t(c.n_layers * c.n_kv_heads));
  const Drained d = drain(probe);
  ASSERT_EQ(d.modeled.size(), 6u * 2u * 2u);
  EXPECT_EQ(d.modeled[0].kernel.view(), "ada:read");
}

// Quest page Top-K reads only the pages it selects for the query (plus every page's key bounds):
// the model must count those, not every held page. Reference: the page lists of paged_view()
// and the policy's own per-query token budget, counted here.
TEST(DecodeProbe, QuestModelCountsOnlyTheSelectedPagesAndTheirBounds) {
  const ModelConfig c = tiered_config(512);
  RandomWeightSource w(c, 4);
  LlamaDecoder dec(w, at::Device(at::kCPU));
  BackendSpec spec = short_window_spec();
  spec.kv = "rdr";
  spec.policy = "quest";
  spec.budget = "0.25";  // Quest: the share of the cache each query reads
  auto cache = make_tiered_cache(spec);
  cache->reset(c, 1, 512, dec.device());
  probes::Probe probe;
  probe.start(probes::Level::cpu);
  DecodeProbe dp(probe);
  dp.set_traffic_model(tiered_cache_traffic(*cache), "quest");
  dp.attach(dec);
  const int64_t prompt = 300;
  probed_prefill(dp, dec, *cache, prompt, c.vocab_size);
  for (int64_t s = 1; s <= 3; ++s) {
    const int64_t pos = prompt + s - 1;
    probed_step(dp, dec, *cache, s, pos);
    const auto& t = dp.last_step();
    uint64_t want_pages = 0, want_selection = 0, all_pages = 0;
    // floor(0.25 * ~300) = 75 tokens: two 64-token pages per (layer, kv head) and query.
    const int64_t keep = (cache->policy().query_page_budget_tokens(pos + 1) + 63) / 64;
    ASSERT_EQ(keep, 2);
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const kernels::PagedKv all = cache->paged_view(l), read = cache->read_view(l);
      for (int64_t h = 0; h < c.n_kv_heads; ++h) {
        const int64_t np = all.indptr[h + 1] - all.indptr[h];
        ASSERT_GT(np, keep) << "the test needs pages to skip";
        want_pages += uint64_t(std::min(np, keep));
        want_selection += uint64_t(np) * 4u * uint64_t(c.head_dim);  // min/max bounds, float32
        all_pages += uint64_t(np);
        // The pages read are held pages of the same head.
        for (int32_t i = read.indptr[h]; i < read.indptr[h + 1]; ++i) {
          bool held = false;
          for (int32_t j = all.indptr[h]; j < all.indptr[h + 1]; ++j) held |= all.indices[j] == read.indices[i];
          EXPECT_TRUE(held) << "layer " << l << " head " << h;
        }
      }
    }
    EXPECT_EQ(t.traffic.pages, want_pages) << "step " << s;
    EXPECT_LT(t.traffic.pages, all_pages);
    EXPECT_EQ(t.traffic.selection, want_selection) << "step " << s;
  }
  DecodeProbe::detach(dec);
  probe.stop();
}

TEST(DecodeProbe, ModelWhenOffFillsTheTotalsWithoutRecords) {
  RandomWeightSource w(tiny_config(), 1);
  LlamaDecoder dec(w, at::Device(at::kCPU));
  DenseKvCache cache;
  probes::Probe probe;  // off
  DecodeProbe dp(probe);
  dp.set_traffic_model(dense_cache_traffic(4), "dense");
  dp.set_model_when_off(true);
  run(dec, cache, dp);
  EXPECT_EQ(dp.last_step().layers, 2);
  EXPECT_EQ(dp.last_step().modeled_read_bytes, 2u * (2u * (2u * 7u * 16u * 4u) + 4u * 16u * 4u));
  std::vector<probes::Record> out;
  EXPECT_EQ(probe.drain(out), 0u);
}

}  // namespace
}  // namespace skv::probing
