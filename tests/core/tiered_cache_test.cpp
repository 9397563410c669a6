// TieredKvCache against exact attention: fp16-only equals the dense cache, a coded tier equals
// exact attention over the explicitly decoded keys, pages are tier-homogeneous and valid, and a
// budgeted policy never exceeds its bytes.
#include <algorithm>

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "core/attention_stream.h"
#include "core/cache/backend_factory.h"
#include "core/cache/tiered_kv_cache.h"
#include "core/common/error.h"
#include "core/decoder/dense_kv_cache.h"
#include "kernels/ada_attention.h"
#include "kernels/cpu/ada_reference.h"

namespace skv {
namespace {

using test_inputs::call_at;
using test_inputs::make_stream;
using test_inputs::Stream;

// Runs prefill (chunks of 64) then `steps` single-token decode steps through every layer; calls
// check(layer, pos, output) on the decode steps.
template <class Check>
void drive(AttentionBackend& b, const ModelConfig& c, const std::vector<Stream>& layers, int64_t prefill, int64_t steps,
           Check check) {
  for (int64_t p = 0; p < prefill; p += 64)
    for (int64_t l = 0; l < c.n_layers; ++l) b.attend(call_at(layers[size_t(l)], l, p, std::min<int64_t>(64, prefill - p)));
  for (int64_t i = 0; i < steps; ++i)
    for (int64_t l = 0; l < c.n_layers; ++l) {
      auto out = b.attend(call_at(layers[size_t(l)], l, prefill + i, 1));
      check(l, prefill + i, out);
    }
}

// The ADA cache on the target tier (k3v4) with a small hot window.
BackendSpec k3v4_spec(int64_t hot_window, int64_t retier_every) {
  BackendSpec spec;
  spec.kv = "ada";
  spec.tier = "k3v4";
  spec.cache.hot_window = hot_window;
  spec.cache.retier_every = retier_every;
  return spec;
}

TEST(TieredKvCache, Fp16OnlyTierEqualsDenseCacheAttention) {
  const auto c = test_inputs::small_attention_config();
  std::vector<Stream> layers = {make_stream(c, 400, 1), make_stream(c, 400, 2)};
  BackendSpec spec;
  spec.kv = "ada";
  spec.tier = "fp16";
  spec.cache.retier_every = 16;
  auto tiered = make_tiered_cache(spec);
  DenseKvCache dense(at::kHalf);
  tiered->reset(c, 1, 400, at::kCPU);
  dense.reset(c, 1, 400, at::kCPU);
  std::vector<at::Tensor> want;
  drive(dense, c, layers, 300, 40, [&](int64_t, int64_t, const at::Tensor& o) { want.push_back(o); });
  size_t i = 0;
  drive(*tiered, c, layers, 300, 40, [&](int64_t, int64_t, const at::Tensor& o) {
    EXPECT_LT((o - want[i]).abs().max().item<double>(), 2e-5) << "step " << i;
    ++i;
  });
  EXPECT_TRUE(tiered->compressed());
  EXPECT_GE(tiered->retier_count(), 3);
}

TEST(TieredKvCache, CodedTierEqualsExactAttentionOverDecodedKeys) {
  const auto c = test_inputs::small_attention_config();
  std::vector<Stream> layers = {make_stream(c, 300, 3), make_stream(c, 300, 4)};
  auto cache = make_tiered_cache(k3v4_spec(16, 1000));
  cache->reset(c, 1, 300, at::kCPU);
  drive(*cache, c, layers, 200, 20, [&](int64_t l, int64_t pos, const at::Tensor& o) {
    // Assemble what the cache holds: decoded sealed keys/values + fp16 hot tokens (new ones too).
    const int64_t S = pos + 1;
    auto K = layers[size_t(l)].k[0].narrow(1, 0, S).to(at::kHalf).to(at::kFloat).clone();
    auto V = layers[size_t(l)].v[0].narrow(1, 0, S).to(at::kHalf).to(at::kFloat).clone();
    for (int64_t h = 0; h < c.n_kv_heads; ++h) {
      auto p = cache->sealed_positions(l, h);
      if (p.numel() == 0) continue;
      K[h].index_copy_(0, p, cache->sealed_keys(l, h));
      V[h].index_copy_(0, p, cache->sealed_values(l, h));
    }
    auto q = layers[size_t(l)].q.narrow(2, pos, 1);
    auto want = exact_attention(q, K.unsqueeze(0), V.unsqueeze(0), pos);
    EXPECT_LT((o - want).abs().max().item<double>(), 1e-4) << "layer " << l << " pos " << pos;
  });
  ASSERT_TRUE(cache->compressed());
  // Sealed pages alone: the kernels' CPU reference over the page table equals exact attention
  // over the decoded keys (so the page table itself is right).
  for (int64_t l = 0; l < c.n_layers; ++l) {
    auto kv = cache->paged_view(l);
    auto q = at::randn({1, c.n_heads, c.head_dim});
    auto out = at::empty_like(q);
    kernels::cpu::ada_decode_attention(kv, q.data_ptr<float>(), out.data_ptr<float>(), int(c.n_heads), 0.f);
    for (int64_t h = 0; h < c.n_kv_heads; ++h) {
      auto K = cache->sealed_keys(l, h), V = cache->sealed_values(l, h);
      auto qh = q[0].narrow(0, h * 2, 2);  // the group of kv head h
      auto want = at::matmul(at::softmax(at::matmul(qh, K.t()) / 8.0, -1), V);
      EXPECT_LT((out[0].narrow(0, h * 2, 2) - want).abs().max().item<double>(), 1e-4);
    }
  }
}

// staged_view (the sealed pages plus the hot window as fp16 pages of one more tier, what the CUDA
// kernels read on a decode step) fed to the kernels' float64 CPU reference reproduces the cache's
// own decode attention: the table holds exactly what the cache attends to.
TEST(TieredKvCache, StagedViewReproducesTheCachesDecodeAttention) {
  const auto c = test_inputs::small_attention_config();
  std::vector<Stream> layers = {make_stream(c, 300, 11), make_stream(c, 300, 12)};
  auto cache = make_tiered_cache(k3v4_spec(16, 8));  // re-tiered during the steps too
  cache->reset(c, 1, 300, at::kCPU);
  int checked = 0;
  drive(*cache, c, layers, 150, 40, [&](int64_t l, int64_t pos, const at::Tensor& o) {
    const kernels::PagedKv kv = cache->staged_view(l);
    EXPECT_NO_THROW(kernels::cpu::validate_paged_kv(kv, int(c.n_heads), 0));
    auto q = layers[size_t(l)].q.narrow(2, pos, 1).reshape({1, c.n_heads, c.head_dim}).contiguous();
    auto ref = at::empty_like(q);
    kernels::cpu::ada_decode_attention(kv, q.data_ptr<float>(), ref.data_ptr<float>(), int(c.n_heads), 0.f);
    EXPECT_LT((o.reshape({1, c.n_heads, c.head_dim}) - ref).abs().max().item<double>(), 2e-5)
        << "layer " << l << " pos " << pos;
    ++checked;
  });
  EXPECT_TRUE(cache->compressed());
  EXPECT_EQ(checked, 80);
}

// The same k3v4 cache twice, reset: on the CPU reference path, and on a CUDA device with
// `attention` (the CUDA path tests; they skip without a device).
struct CachePair {
  std::unique_ptr<TieredKvCache> cpu, gpu;
};
CachePair cpu_and_gpu_caches(const ModelConfig& c, const std::string& attention) {
  BackendSpec spec = k3v4_spec(16, 8);
  spec.cache.attention = "reference";
  CachePair p{make_tiered_cache(spec), nullptr};
  spec.cache.attention = attention;
  p.gpu = make_tiered_cache(spec);
  p.cpu->reset(c, 1, 300, at::kCPU);
  p.gpu->reset(c, 1, 300, at::Device(at::kCUDA, 0));
  return p;
}

// The CUDA path (TieredCacheOptions::attention auto/cuda: decode steps on the ADA CUDA kernels over
// the device-resident staged table, whole uploads after re-tierings, the new rows written on the
// device between them) against the CPU reference path, step by step, through re-tierings. Needs a
// CUDA device (skipped otherwise).
TEST(TieredKvCache, CudaKernelsMatchTheCpuPath) {
  if (!at::hasCUDA() || !kernels::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  const auto c = test_inputs::small_attention_config();
  std::vector<Stream> layers = {make_stream(c, 300, 13), make_stream(c, 300, 14)};
  auto [cpu_cache, gpu_cache] = cpu_and_gpu_caches(c, "cuda");
  std::vector<at::Tensor> want;
  drive(*cpu_cache, c, layers, 150, 40, [&](int64_t, int64_t, const at::Tensor& o) { want.push_back(o); });
  size_t i = 0;
  drive(*gpu_cache, c, layers, 150, 40, [&](int64_t, int64_t, const at::Tensor& o) {
    const double scale = want[i].abs().max().item<double>();
    EXPECT_LT((o.to(at::kCPU) - want[i]).abs().max().item<double>(), 1e-3 * scale) << "step " << i;
    ++i;
  });
  EXPECT_EQ(i, want.size());
  EXPECT_EQ(gpu_cache->attention_path(), "cuda kernels");
  EXPECT_EQ(cpu_cache->attention_path(), "cpu reference");
  EXPECT_EQ(gpu_cache->cuda_calls(), 40 * c.n_layers);
  EXPECT_EQ(gpu_cache->cuda_arena_uploads(), gpu_cache->retier_count() * c.n_layers);  // rows in between
  EXPECT_DOUBLE_EQ(gpu_cache->last_step_read_bytes(), cpu_cache->last_step_read_bytes());
  // The rows the CUDA path kept only on the device (pulled back for every re-tiering and here)
  // are the CPU path's rows bit for bit: the staged tables' hot pages are the same bytes. The
  // sealed pages were encoded on the GPU (kernels::ada_encode: float where the CPU code rounds in
  // double, so a code at a cell boundary may differ, rarely): almost every byte is the same.
  EXPECT_GT(gpu_cache->cuda_encoded_pages(), 0);
  EXPECT_EQ(cpu_cache->cuda_encoded_pages(), 0);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const kernels::PagedKv a = cpu_cache->staged_view(l);
    const int32_t np = a.indptr[a.num_kv_heads];
    ASSERT_GT(np, 0);
    std::vector<kernels::PageInfo> want_pages(a.pages, a.pages + np);
    std::vector<int32_t> want_indices(a.indices, a.indices + np);
    const kernels::PageInfo& last = a.pages[a.indices[np - 1]];  // the last head's last hot page ends the arena
    std::vector<uint8_t> want(a.arena, a.arena + last.byte_offset + kernels::page_offsets(a.tiers.layouts[last.tier]).total);
    const int hot_tier = a.tiers.count - 1;
    const kernels::PagedKv b = gpu_cache->staged_view(l);
    ASSERT_EQ(b.indptr[b.num_kv_heads], np);
    size_t differ = 0, sealed_bytes = 0;
    for (int32_t i = 0; i < np; ++i) {
      const kernels::PageInfo& pa = want_pages[size_t(want_indices[size_t(i)])];
      const kernels::PageInfo& pb = b.pages[b.indices[i]];
      ASSERT_EQ(pb.tokens, pa.tokens);
      ASSERT_EQ(pb.tier, pa.tier);
      ASSERT_EQ(pb.byte_offset, pa.byte_offset);
      const size_t n = kernels::page_offsets(a.tiers.layouts[pa.tier]).total;
      const uint8_t* x = want.data() + pa.byte_offset;
      const uint8_t* y = b.arena + pb.byte_offset;
      if (int(pa.tier) == hot_tier) {
        EXPECT_TRUE(std::equal(x, x + n, y)) << "layer " << l << ": hot page " << i;
      } else {
        sealed_bytes += n;
        for (size_t k = 0; k < n; ++k) differ += x[k] != y[k];
      }
    }
    EXPECT_GT(sealed_bytes, 0u);
    EXPECT_LT(double(differ), 0.005 * double(sealed_bytes)) << "layer " << l << ": " << differ << " of " << sealed_bytes;
  }
}

TEST(TieredKvCache, CudaPrefillMatchesTheCpuPath) {
  if (!at::hasCUDA() || !kernels::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  const auto c = test_inputs::small_attention_config();
  std::vector<Stream> layers = {make_stream(c, 300, 15), make_stream(c, 300, 16)};
  auto [cpu_cache, gpu_cache] = cpu_and_gpu_caches(c, "auto");
  for (int64_t p = 0; p < 200; p += 64)
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const auto call = call_at(layers[size_t(l)], l, p, std::min<int64_t>(64, 200 - p));
      auto want = cpu_cache->attend(call);
      auto got = gpu_cache->attend(call).to(at::kCPU);
      EXPECT_LT((got - want).abs().max().item<double>(), 1e-4 * want.abs().max().item<double>()) << "pos " << p << " layer " << l;
    }
  EXPECT_EQ(gpu_cache->cuda_prefill_calls(), 4 * c.n_layers);  // 4 chunks, all on the GPU
  EXPECT_EQ(cpu_cache->cuda_prefill_calls(), 0);
}

TEST(TieredKvCache, AttentionCudaFailsClearlyWhereTheKernelsCannotRun) {
  const auto c = test_inputs::small_attention_config();
  auto reset_error = [&](const std::string& attention) -> std::string {
    BackendSpec spec = k3v4_spec(16, 8);
    spec.cache.attention = attention;
    auto cache = make_tiered_cache(spec);
    try {
      cache->reset(c, 1, 64, at::kCPU);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(reset_error("cuda").find("--attention cuda needs --device cuda"), std::string::npos);
  EXPECT_NE(reset_error("fast").find("attention 'fast' is unknown"), std::string::npos);
  EXPECT_EQ(reset_error("auto"), "");  // auto on the CPU: the reference code, no error
  // A policy other than ada asking for the CUDA kernels (on a CUDA device) is refused by name.
  if (at::hasCUDA() && kernels::cuda_device_available()) {
    BackendSpec spec;
    spec.kv = "rdr";
    spec.policy = "snapkv";
    spec.cache.attention = "cuda";
    auto cache = make_tiered_cache(spec);
    std::string what;
    try {
      cache->reset(c, 1, 64, at::Device(at::kCUDA, 0));
    } catch (const Error& e) {
      what = e.what();
    }
    EXPECT_NE(what.find("runs policy ada (--kv ada) only"), std::string::npos) << what;
  }
  EXPECT_EQ(reset_error("reference"), "");
}

TEST(TieredKvCache, PagesAreTierHomogeneousAndTheTableIsValid) {
  const auto c = test_inputs::small_attention_config();
  std::vector<Stream> layers = {make_stream(c, 600, 5), make_stream(c, 600, 6)};
  BackendSpec spec;
  spec.kv = "rdr";
  spec.policy = "rdr";
  spec.budget = "0.3";
  spec.cache.retier_every = 32;
  auto cache = make_tiered_cache(spec);
  cache->reset(c, 1, 600, at::kCPU);
  drive(*cache, c, layers, 500, 70, [](int64_t, int64_t, const at::Tensor&) {});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    auto kv = cache->paged_view(l);
    EXPECT_NO_THROW(kernels::cpu::validate_paged_kv(kv, int(c.n_heads), 0));
    auto map = cache->tier_map(l);
    for (int64_t h = 0; h < c.n_kv_heads; ++h) {
      auto pos = cache->sealed_positions(l, h);
      for (int32_t p = kv.indptr[h]; p < kv.indptr[h + 1]; ++p) {
        const auto& pg = kv.pages[kv.indices[p]];
        EXPECT_LE(int(pg.tokens), kv.tiers.layouts[pg.tier].page_tokens);
      }
      // Every sealed position's tier in the map is the tier of the page that holds it.
      int64_t row = 0;
      for (int32_t p = kv.indptr[h]; p < kv.indptr[h + 1]; ++p) {
        const auto& pg = kv.pages[kv.indices[p]];
        for (uint32_t j = 0; j < pg.tokens; ++j, ++row)
          EXPECT_EQ(map[h][pos[row].item<int64_t>()].item<int32_t>(), int32_t(pg.tier));
      }
    }
  }
}

TEST(TieredKvCache, BudgetIsNeverExceeded) {
  const auto c = test_inputs::small_attention_config();
  std::vector<Stream> layers = {make_stream(c, 700, 7), make_stream(c, 700, 8)};
  for (const std::string policy : {"rdr", "snapkv", "streaming", "kivi2", "h2o"}) {
    for (const std::string budget : {"0.15", "0.3"}) {
      BackendSpec spec;
      spec.kv = "rdr";
      spec.policy = policy;
      spec.budget = budget;
      spec.cache.retier_every = 24;
      spec.cache.lut_scoring = false;
      auto cache = make_tiered_cache(spec);
      cache->reset(c, 1, 700, at::kCPU);
      drive(*cache, c, layers, 512, 60, [&](int64_t l, int64_t, const at::Tensor&) {
        if (l + 1 == c.n_layers) {
          EXPECT_LE(cache->resident_bytes().total, cache->budget_bytes()) << policy << " at " << budget;
        }
      });
    }
  }
}

TEST(TieredKvCache, BudgetBelowTheHotWindowIsAnActionableError) {
  const auto c = test_inputs::small_attention_config();
  std::vector<Stream> layers = {make_stream(c, 300, 9), make_stream(c, 300, 10)};
  BackendSpec spec;
  spec.kv = "rdr";
  spec.budget = "0.01";
  auto cache = make_tiered_cache(spec);
  cache->reset(c, 1, 300, at::kCPU);
  try {
    drive(*cache, c, layers, 256, 1, [](int64_t, int64_t, const at::Tensor&) {});
    FAIL() << "expected skv::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hot window"), std::string::npos) << e.what();
  }
}

TEST(CacheBudget, ParsesFractionsPercentagesAndBytes) {
  EXPECT_DOUBLE_EQ(CacheBudget::parse("0.25").fraction, 0.25);
  EXPECT_DOUBLE_EQ(CacheBudget::parse("12.5%").fraction, 0.125);
  EXPECT_DOUBLE_EQ(CacheBudget::parse("2MiB").bytes, 2.0 * 1048576);
  EXPECT_DOUBLE_EQ(CacheBudget::parse("4096").bytes, 4096);
  EXPECT_TRUE(CacheBudget::parse("full").unlimited());
  EXPECT_THROW(CacheBudget::parse("lots"), Error);
}

}  // namespace
}  // namespace skv
