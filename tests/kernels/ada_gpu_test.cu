// CUDA kernels vs the CPU reference (llm.c / ggml test-backend-ops habit): fresh random inputs
// every run (the seed is printed on failure), d = 64 and 128, GQA 1/3/4/8, batch 1 and 8,
// uneven page counts, partial last pages, mixed tiers; outputs poisoned with NaN first.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "ada_test_cache.h"
#include "kernels/ada_attention.h"
#include "kernels/cpu/ada_reference.h"
#include "kernels/cpu/fp16.h"
#include "kernels/kernel_error.h"

namespace skv::kernels {
namespace {

#define CK(x) ASSERT_EQ((x), cudaSuccess) << #x

struct DevBuf {
  void* p = nullptr;
  size_t n = 0;
  DevBuf() = default;
  explicit DevBuf(size_t bytes) : n(bytes) { if (cudaMalloc(&p, bytes ? bytes : 16) != cudaSuccess) throw KernelError("cudaMalloc"); }
  template <class T> DevBuf(const std::vector<T>& v) : DevBuf(v.size() * sizeof(T)) {
    if (!v.empty() && cudaMemcpy(p, v.data(), n, cudaMemcpyHostToDevice) != cudaSuccess) throw KernelError("memcpy");
  }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr; }
  ~DevBuf() { if (p) cudaFree(p); }
  template <class T> T* as() const { return static_cast<T*>(p); }
};

// Device mirror of a TestCache.
struct DevCache {
  DevBuf arena, pages, indptr, indices, signs;
  std::vector<DevBuf> klev, vlev;
  PagedKv kv;
  explicit DevCache(const test::TestCache& c)
      : arena(c.arena), pages(c.pages), indptr(c.indptr), indices(c.indices), signs(c.signs) {
    kv = c.view();
    kv.arena = arena.as<uint8_t>(); kv.pages = pages.as<PageInfo>(); kv.indptr = indptr.as<int32_t>();
    kv.indices = indices.as<int32_t>(); kv.signs = signs.as<int8_t>();
    for (size_t t = 0; t < c.layouts.size(); ++t) {
      klev.emplace_back(c.key_levels[t]);
      vlev.emplace_back(c.value_levels[t]);
      kv.tiers.codebooks[t] = {c.key_levels[t].empty() ? nullptr : klev.back().as<float>(),
                               c.value_levels[t].empty() ? nullptr : vlev.back().as<float>(),
                               codebooks_symmetric(c.layouts[t], c.key_levels[t].empty() ? nullptr : c.key_levels[t].data(),
                                                   c.value_levels[t].empty() ? nullptr : c.value_levels[t].data())};
    }
  }
};

uint32_t fresh_seed() { return std::random_device{}(); }

// claim_symmetric: 0/1 overrides every tier's TierCodebooks::symmetric (-1: as codebooks_symmetric says).
std::vector<float> run_gpu(const test::TestCache& c, const std::vector<float>& q, int hq, bool dense,
                           int variant = kAdaKernelAuto, int claim_symmetric = -1) {
  DevCache dc(c);
  if (claim_symmetric >= 0)
    for (int t = 0; t < dc.kv.tiers.count; ++t) dc.kv.tiers.codebooks[t].symmetric = claim_symmetric != 0;
  DevBuf dq(q), dout(q.size() * sizeof(float));
  std::vector<float> nan(q.size(), NAN);
  if (cudaMemcpy(dout.p, nan.data(), dout.n, cudaMemcpyHostToDevice) != cudaSuccess) throw KernelError("memcpy");
  const size_t ws = ada_decode_workspace_bytes(dc.kv, hq, c.max_pages);
  DevBuf dws(ws);
  if (cudaMemset(dws.p, 0xFF, ws) != cudaSuccess) throw KernelError("memset");  // NaN-poisoned workspace
  DecodeArgs a;
  a.q = dq.as<float>(); a.out = dout.as<float>(); a.num_q_heads = hq; a.max_pages_per_head = c.max_pages;
  a.workspace = dws.p; a.workspace_bytes = ws; a.variant = variant;
  if (dense) dense_fp16_decode_attention(dc.kv, a);
  else ada_decode_attention(dc.kv, a);
  if (cudaDeviceSynchronize() != cudaSuccess) throw KernelError("kernel failed");
  std::vector<float> out(q.size());
  if (cudaMemcpy(out.data(), dout.p, dout.n, cudaMemcpyDeviceToHost) != cudaSuccess) throw KernelError("memcpy");
  return out;
}

double rel_err(const std::vector<float>& gpu, const std::vector<float>& cpu, int* nans) {
  double num = 0, den = 0;
  *nans = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (!std::isfinite(gpu[i])) ++*nans;
    num = std::max(num, std::fabs(double(gpu[i]) - double(cpu[i])));
    den = std::max(den, std::fabs(double(cpu[i])));
  }
  return num / std::max(den, 1e-30);
}

class AdaGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  }
};

std::vector<int> uneven_tokens(int n_heads, int base, std::mt19937& rng) {
  std::vector<int> t(static_cast<size_t>(n_heads));
  for (auto& x : t) x = 1 + int(rng() % uint32_t(base));
  return t;
}

// variant: which ADA kernel (auto = warp-per-page where its shared memory fits, else split).
// sym_keys: the 3-bit COORD tiers' key levels are made exactly symmetric about 0 (l(7-c) = -l(c),
// as the codecs' Lloyd-Max codebooks are; the k-means test levels are not): the v6 kernel's
// 4-plane fast path. The codes stay as encoded; the reference decodes them with the same levels.
// fp16_values: the COORD value levels are rounded to fp16 first (the v7 kernel multiplies fp16
// levels on the tensor cores; with fp16-exact levels it must match to float rounding: tol).
void check_decode(int d, int group, int batch, int hkv, const std::vector<TierLayout>& tiers, int base_tokens,
                  bool dense, int variant = kAdaKernelAuto, bool sym_keys = false, bool fp16_values = false,
                  double tol = 1e-3, bool sym_values = false) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " d " + std::to_string(d) + " group " + std::to_string(group) +
               " batch " + std::to_string(batch) + " tiers " + std::to_string(tiers.size()) + " variant " +
               std::to_string(variant));
  std::mt19937 rng(seed);
  const auto toks = uneven_tokens(batch * hkv, base_tokens, rng);
  const int nt = int(tiers.size());
  auto c = test::make_cache(batch, hkv, d, tiers, toks,
                            [nt](int b, int h, int p) { return (b * 3 + h + p / 2) % nt; }, seed);
  if (sym_keys)
    for (size_t t = 0; t < tiers.size(); ++t)
      if (tiers[t].key_kind == KeyKind::kCoord && tiers[t].key_bits == 3) {
        auto& L = c.key_levels[t];
        for (int k = 0; k < 4; ++k) {
          const float m = 0.5f * (L[size_t(7 - k)] - L[size_t(k)]);
          L[size_t(k)] = -m;
          L[size_t(7 - k)] = m;
        }
      }
  if (sym_values)  // l(15 - c) = -l(c), as the codecs' Lloyd-Max levels (v7's symmetric lookup)
    for (auto& lv : c.value_levels)
      for (size_t k = 0; k < lv.size() / 2; ++k) {
        const float m = 0.5f * (lv[lv.size() - 1 - k] - lv[k]);
        lv[k] = -m;
        lv[lv.size() - 1 - k] = m;
      }
  if (fp16_values)
    for (auto& lv : c.value_levels)
      for (float& x : lv) x = cpu::round_to_half(x);
  const int hq = hkv * group;
  const auto q = test::random_queries(batch, hq, d, seed + 1, 0.6f);
  std::vector<float> ref(q.size());
  if (dense) cpu::dense_fp16_decode_attention(c.view(), q.data(), ref.data(), hq, 0.f);
  else cpu::ada_decode_attention(c.view(), q.data(), ref.data(), hq, 0.f);
  const auto out = run_gpu(c, q, hq, dense, variant);
  int nans = 0;
  const double e = rel_err(out, ref, &nans);
  EXPECT_EQ(nans, 0);
  EXPECT_LT(e, tol);
}

// Both kernels on every shape: the split kernel (v4) and auto on a two-tier table (auto is v5 where
// its shared memory holds both LUTs: d = 64), and v5 forced on each tier alone.
TEST_F(AdaGpu, AdaDecodeMatchesCpuAcrossShapesAndCodedTiers) {
  for (int d : {64, 128})
    for (int group : {1, 3, 4, 8})
      for (int batch : {1, 8}) {
        const int hkv = group == 8 ? 1 : 2;
        const TierLayout coord = test::coord_tier(d, 3, 4), pair = test::pair_tier(d, 3, 2, 4);
        check_decode(d, group, batch, hkv, {coord, pair}, 700, false, kAdaKernelSplit);
        check_decode(d, group, batch, hkv, {coord, pair}, 700, false, kAdaKernelAuto);
        check_decode(d, group, batch, hkv, {coord}, 700, false, kAdaKernelWarpPerPage);
        check_decode(d, group, batch, hkv, {pair}, 700, false, kAdaKernelWarpPerPage);
      }
}

// The v6 kernel (3-bit COORD keys on the tensor cores) on every shape, with the k-means levels
// (7 planes) and symmetric levels (4 planes), alone and next to a PAIR tier (scored from its LUT).
TEST_F(AdaGpu, TensorCoreKernelMatchesCpuAcrossShapes) {
  for (int d : {64, 128})
    for (int group : {1, 3, 4, 8})
      for (int batch : {1, 8}) {
        const int hkv = group == 8 ? 1 : 2;
        const TierLayout coord = test::coord_tier(d, 3, 4), pair = test::pair_tier(d, 3, 2, 4);
        check_decode(d, group, batch, hkv, {coord}, 700, false, kAdaKernelTensorCore);
        check_decode(d, group, batch, hkv, {coord}, 700, false, kAdaKernelTensorCore, true);
        check_decode(d, group, batch, hkv, {coord, pair}, 700, false, kAdaKernelTensorCore, true);
      }
}

// v6 on mixed tables with fp16 sink/hot pages, 2- and 4-bit COORD tiers (LUT-scored) and partial
// pages; small enough for compute-sanitizer memcheck (scripts/gpu_check.sh).
TEST_F(AdaGpu, TensorCoreKernelOnMixedTiers) {
  for (int group : {1, 4, 8}) {
    check_decode(64, group, 2, 2, {test::coord_tier(64, 3, 4), test::fp16_tier(64), test::coord_tier(64, 2, 2, false)},
                 300, false, kAdaKernelTensorCore);
    check_decode(128, group, 2, 2, {test::coord_tier(128, 3, 4), test::fp16_tier(128), test::coord_tier(128, 4, 4, true, 32)},
                 300, false, kAdaKernelTensorCore, true);
  }
}

// The v7 kernel (keys as v6, values on the fp16 tensor cores) on every shape: k-means key levels
// (7 planes) and symmetric ones (4 planes); two tiers, with and without a page mean; the k-means
// value levels (rounded to fp16 inside the kernel: within 1e-3) and fp16-exact ones (then the
// kernel's own arithmetic must hold to 2e-5: the weights' hi/lo split and the exact key sums).
TEST_F(AdaGpu, MmaValuesKernelMatchesCpuAcrossShapes) {
  for (int d : {64, 128})
    for (int group : {1, 3, 4, 8})
      for (int batch : {1, 8}) {
        const int hkv = group == 8 ? 1 : 2;
        const TierLayout coord = test::coord_tier(d, 3, 4), no_mean = test::coord_tier(d, 3, 4, false);
        check_decode(d, group, batch, hkv, {coord}, 700, false, kAdaKernelMmaValues);
        check_decode(d, group, batch, hkv, {coord}, 700, false, kAdaKernelMmaValues, true);
        check_decode(d, group, batch, hkv, {coord, no_mean}, 700, false, kAdaKernelMmaValues, true, true, 2e-5);
        check_decode(d, group, batch, hkv, {coord}, 700, false, kAdaKernelMmaValues, false, true, 2e-5);
        check_decode(d, group, batch, hkv, {coord, no_mean}, 700, false, kAdaKernelMmaValues, true, true, 2e-5, true);
        check_decode(d, group, batch, hkv, {coord}, 700, false, kAdaKernelMmaValues, false, false, 1e-3, true);
      }
  check_decode(128, 4, 1, 1, {test::coord_tier(128, 3, 4)}, 64 * 600, false, kAdaKernelMmaValues, true, true, 2e-5);
  check_decode(128, 4, 1, 1, {test::coord_tier(128, 3, 4)}, 64 * 600, false, kAdaKernelMmaValues, true, true, 2e-5, true);
}

// v7's symmetric build (every tier marked symmetric): with levels that are symmetric it matches the
// float64 reference within 2e-5, as the general build does on the same levels; a tier marked
// symmetric whose levels are not (k-means levels) makes every output NaN, never a wrong number.
TEST_F(AdaGpu, MmaValuesKernelSymmetricBuildIsUsedOnlyWhereItHolds) {
  for (int d : {64, 128}) {
    auto c = test::make_cache(1, 2, d, {test::coord_tier(d, 3, 4)}, {64 * 40 + 17, 64 * 33},
                              [](int, int, int) { return 0; }, fresh_seed());
    for (float& x : c.value_levels[0]) x = cpu::round_to_half(x);  // fp16-exact: the 2e-5 check below
    const auto q = test::random_queries(1, 8, d, 3, 0.6f);
    std::vector<float> ref(q.size());
    cpu::ada_decode_attention(c.view(), q.data(), ref.data(), 8, 0.f);
    ASSERT_FALSE(codebooks_symmetric(c.layouts[0], c.key_levels[0].data(), c.value_levels[0].data()));  // k-means
    int nans = 0;
    EXPECT_LT(rel_err(run_gpu(c, q, 8, false, kAdaKernelMmaValues), ref, &nans), 2e-5) << "general build, d " << d;
    EXPECT_EQ(nans, 0);
    const auto lied = run_gpu(c, q, 8, false, kAdaKernelMmaValues, 1);
    for (float x : lied) ASSERT_TRUE(std::isnan(x)) << "d " << d;
    // made symmetric (as the codecs' levels are): the symmetric build runs and is right
    for (auto* L : {&c.key_levels[0], &c.value_levels[0]})
      for (size_t k = 0; k < L->size() / 2; ++k) {
        const float m = 0.5f * ((*L)[L->size() - 1 - k] - (*L)[k]);
        (*L)[k] = -m;
        (*L)[L->size() - 1 - k] = m;
      }
    for (float& x : c.value_levels[0]) x = cpu::round_to_half(x);
    // (the codes stay: the reference and the kernels read them with the same new levels)
    ASSERT_TRUE(codebooks_symmetric(c.layouts[0], c.key_levels[0].data(), c.value_levels[0].data()));
    cpu::ada_decode_attention(c.view(), q.data(), ref.data(), 8, 0.f);
    EXPECT_LT(rel_err(run_gpu(c, q, 8, false, kAdaKernelMmaValues), ref, &nans), 2e-5) << "d " << d;
    EXPECT_EQ(nans, 0);
    EXPECT_LT(rel_err(run_gpu(c, q, 8, false, kAdaKernelMmaValues, 0), ref, &nans), 2e-5) << "general build, d " << d;
  }
}

// Small enough for compute-sanitizer memcheck (scripts/gpu_check.sh): partial pages, both d.
TEST_F(AdaGpu, MmaValuesKernelOnPartialPages) {
  for (int d : {64, 128}) check_decode(d, 4, 2, 2, {test::coord_tier(d, 3, 4)}, 300, false, kAdaKernelMmaValues, true);
}

TEST_F(AdaGpu, MmaValuesKernelForcedOnOtherTiersIsAnError) {
  for (const TierLayout& other : {test::fp16_tier(128), test::coord_tier(128, 3, 2), test::coord_tier(128, 3, 4, true, 32),
                                  test::pair_tier(128, 3, 2, 4)}) {
    const auto c = test::make_cache(1, 1, 128, {test::coord_tier(128, 3, 4), other}, {300},
                                    [](int, int, int p) { return p % 2; }, 5);
    const auto q = test::random_queries(1, 4, 128, 3);
    EXPECT_THROW(run_gpu(c, q, 4, false, kAdaKernelMmaValues), KernelError);
  }
}

TEST_F(AdaGpu, WarpPerPageKernelForcedWhereItsSharedMemoryDoesNotFitIsAnError) {
  const std::vector<TierLayout> tiers = {test::coord_tier(128, 3, 4), test::pair_tier(128, 3, 2, 4),
                                         test::coord_tier(128, 4, 5, true, 96)};
  const auto c = test::make_cache(1, 1, 128, tiers, {300}, [](int, int, int p) { return p % 3; }, 5);
  const auto q = test::random_queries(1, 4, 128, 3);
  EXPECT_THROW(run_gpu(c, q, 4, false, kAdaKernelWarpPerPage), KernelError);
  EXPECT_NO_THROW(run_gpu(c, q, 4, false, kAdaKernelAuto));  // falls back to the split kernel
}

// A 5-tier table with fp16, coded, 32- and 96-token pages (the split kernel, and auto: its LUTs do
// not fit the warp-per-page kernel), and the warp-per-page kernel on the mixed tables it holds.
TEST_F(AdaGpu, AdaDecodeMatchesCpuWithMixedTiersIncludingFp16Pages) {
  for (int d : {64, 128})
    for (int group : {1, 4, 8})
      for (int variant : {kAdaKernelAuto, kAdaKernelSplit})
        check_decode(d, group, 2, 2,
                     {test::coord_tier(d, 3, 4), test::fp16_tier(d), test::coord_tier(d, 2, 2, false),
                      test::pair_tier(d, 2, 2, 3, true, 32), test::coord_tier(d, 4, 5, true, 96)},
                     900, false, variant);
  for (int group : {1, 4, 8})
    check_decode(64, group, 2, 2, {test::coord_tier(64, 3, 4), test::fp16_tier(64), test::coord_tier(64, 2, 2, false)},
                 900, false, kAdaKernelWarpPerPage);
  for (int group : {1, 4})  // fp16 sink/hot pages among coded pages, as the decoder's cache has them
    check_decode(128, group, 2, 2, {test::coord_tier(128, 3, 4), test::fp16_tier(128)}, 900, false,
                 kAdaKernelWarpPerPage);
}

TEST_F(AdaGpu, AdaDecodeMatchesCpuWithManyPagesPerSplit) {
  for (int variant : {kAdaKernelWarpPerPage, kAdaKernelSplit, kAdaKernelTensorCore}) {
    check_decode(128, 4, 1, 1, {test::coord_tier(128, 3, 4)}, 64 * 600, false, variant);
    check_decode(64, 3, 1, 1, {test::coord_tier(64, 3, 4), test::fp16_tier(64)}, 64 * 400, false, variant);
  }
}

TEST_F(AdaGpu, DenseFp16DecodeMatchesCpu) {
  for (int d : {64, 128})
    for (int group : {1, 3, 4, 8})
      for (int batch : {1, 8}) check_decode(d, group, batch, group == 8 ? 1 : 2, {test::fp16_tier(d)}, 700, true);
}

TEST_F(AdaGpu, DenseFp16DecodeRejectsCodedTiers) {
  const auto c = test::make_cache(1, 1, 64, {test::coord_tier(64, 3, 4)}, {10}, [](int, int, int) { return 0; }, 1);
  const auto q = test::random_queries(1, 1, 64, 1);
  EXPECT_THROW(run_gpu(c, q, 1, true), KernelError);
}

TEST_F(AdaGpu, AdaDecodeHeadWithNoPagesGivesZeros) {
  const auto c = test::make_cache(1, 2, 128, {test::coord_tier(128, 3, 4)}, {0, 100}, [](int, int, int) { return 0; }, 4);
  const auto q = test::random_queries(1, 2, 128, 2);
  const auto out = run_gpu(c, q, 2, false);
  for (int i = 0; i < 128; ++i) EXPECT_EQ(out[size_t(i)], 0.f);
  for (int i = 128; i < 256; ++i) EXPECT_TRUE(std::isfinite(out[size_t(i)]));
}

// GPU encode vs CPU encode of the same rows into the same page layout.
void check_encode(const TierLayout& L, int count, bool compute_mean) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " kind " + std::to_string(int(L.key_kind)) + " d " +
               std::to_string(L.head_dim));
  const int d = L.head_dim;
  auto c = test::make_cache(1, 2, d, {L}, {count, 5}, [](int, int, int) { return 0; }, seed);
  // Page of head 0 as the CPU wrote it; re-encode its rows on the GPU into a fresh arena.
  const PageInfo pg = c.pages[size_t(c.indices[0])];
  const size_t pb = page_bytes(L);
  std::vector<uint8_t> cpu_page(c.arena.begin() + long(pg.byte_offset), c.arena.begin() + long(pg.byte_offset + pb));
  std::vector<uint8_t> init(pb, 0);
  if (!compute_mean) std::memcpy(init.data() + page_offsets(L).mean, cpu_page.data() + page_offsets(L).mean, has_page_mean(L) ? size_t(d) * 2 : 0);
  DevCache dc(c);
  DevBuf arena(init), keys(c.k[0]), vals(c.v[0]);
  // Two jobs when appending: the first half of the rows, then the rest (slots continue).
  std::vector<EncodeJob> jobs;
  if (compute_mean) {
    jobs.push_back({0, 0, count, 0, 0, 0, 1});
  } else {
    jobs.push_back({0, 0, count / 2, 0, 0, 0, 0});
    jobs.push_back({0, count / 2, count - count / 2, count / 2, 0, 0, 0});
  }
  DevBuf djobs(jobs);
  ada_encode(dc.kv.tiers, dc.kv.signs, d, keys.as<float>(), vals.as<float>(), djobs.as<EncodeJob>(), int(jobs.size()),
             arena.as<uint8_t>(), nullptr);
  CK(cudaDeviceSynchronize());
  std::vector<uint8_t> gpu_page(pb);
  CK(cudaMemcpy(gpu_page.data(), arena.p, pb, cudaMemcpyDeviceToHost));
  const PageOffsets o = page_offsets(L);
  // Mean: fp16 of the same average (float vs double sum: at most one ulp apart).
  if (has_page_mean(L))
    for (int i = 0; i < d; ++i) {
      const float a = cpu::half_to_float(reinterpret_cast<const uint16_t*>(cpu_page.data() + o.mean)[i]);
      const float b = cpu::half_to_float(reinterpret_cast<const uint16_t*>(gpu_page.data() + o.mean)[i]);
      EXPECT_LE(std::fabs(a - b), std::fabs(a) * 1e-3f + 1e-6f);
    }
  // Codes: float vs double rounding may flip a code at a cell boundary, rarely.
  int diff = 0, total = 0;
  auto cmp_codes = [&](size_t at, int wpt, int groups, int cb) {
    for (int t = 0; t < count; ++t)
      for (int g = 0; g < groups; ++g, ++total)
        diff += cpu::read_code(reinterpret_cast<const uint32_t*>(cpu_page.data() + at) + size_t(t) * wpt, g, cb) !=
                cpu::read_code(reinterpret_cast<const uint32_t*>(gpu_page.data() + at) + size_t(t) * wpt, g, cb);
  };
  if (keys_coded(L)) cmp_codes(o.key_codes, key_words_per_token(L), key_groups(L), key_code_bits(L));
  if (L.value_kind == ValueKind::kCoord) cmp_codes(o.values, value_words_per_token(L), d, L.value_bits);
  EXPECT_LE(diff, std::max(2, total / 500)) << diff << " of " << total << " codes differ";
  auto cmp_scales = [&](size_t at) {
    for (int t = 0; t < count; ++t) {
      const float a = cpu::half_to_float(reinterpret_cast<const uint16_t*>(cpu_page.data() + at)[t]);
      const float b = cpu::half_to_float(reinterpret_cast<const uint16_t*>(gpu_page.data() + at)[t]);
      EXPECT_LE(std::fabs(a - b), 0.02f * std::fabs(a) + 1e-6f) << "token " << t;
    }
  };
  if (keys_coded(L)) cmp_scales(o.key_scales);
  if (L.value_kind == ValueKind::kCoord) cmp_scales(o.value_scales);
  if (!keys_coded(L))
    EXPECT_EQ(0, std::memcmp(cpu_page.data(), gpu_page.data(), size_t(count) * d * 2));
}

TEST_F(AdaGpu, EncodeMatchesCpuEncode) {
  for (int d : {64, 128}) {
    check_encode(test::coord_tier(d, 3, 4), 64, true);
    check_encode(test::coord_tier(d, 3, 4), 37, false);
    check_encode(test::pair_tier(d, 3, 2, 4), 50, true);
    check_encode(test::coord_tier(d, 2, 3, false), 64, true);
    check_encode(test::fp16_tier(d), 20, true);
  }
}

}  // namespace
}  // namespace skv::kernels
