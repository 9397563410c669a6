// See attn_bench_suite.h. Synthetic pages (random codes, valid fp16 scales/means), CUDA-event
// medians over input sets rotated so that L2 (50 MB on H100) does not serve repeated runs.
#include "kernels/bench/attn_bench_suite.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/ada_attention.h"
#include "kernels/bench/attn_bench_levels.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/kernel_error.h"

namespace skv::kernels {
namespace {

__device__ __forceinline__ uint32_t hash32(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
  return uint32_t(x);
}
__device__ __forceinline__ uint16_t small_half(uint32_t r) {  // +-[0.5, 1): exponent 14, random mantissa
  return uint16_t((r & 0x83ffu) | 0x3800u);
}

// Fills `n` pages of one tier laid out back to back: random code bits, valid fp16 elsewhere.
__global__ void fill_pages(uint8_t* arena, size_t n_pages, TierLayout L, uint64_t seed) {
  const PageOffsets o = page_offsets(L);
  const size_t halves = o.total / 2;
  const size_t total = n_pages * halves;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const size_t at = (i % halves) * 2;
    const uint32_t r = hash32(seed * 0x9E3779B97F4A7C15ull + i);
    const bool codes = (keys_coded(L) && at < o.key_scales) ||
                       (L.value_kind == ValueKind::kCoord && at >= o.values && at < o.value_scales);
    reinterpret_cast<uint16_t*>(arena)[i] = codes ? uint16_t(r) : small_half(r);
  }
}

__global__ void fill_floats(float* x, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    x[i] = scale * (float(hash32(seed + i) & 0xffff) / 32768.f - 1.f);
}

// Reads n 16-byte words once (a streaming read: what any kernel that reads them needs at least).
__global__ void stream_read(const uint4* __restrict__ a, size_t n, uint32_t* sink) {
  uint32_t acc = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const uint4 v = a[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9E3779B9u) *sink = acc;  // keeps the loads; (almost) never taken
}
// Spins for ns nanoseconds (%globaltimer): the GPU is busy while the host enqueues the timed calls.
__global__ void spin_kernel(unsigned long long ns) {
  unsigned long long t0, t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  } while (t - t0 < ns);
}
__global__ void empty_decode_shaped() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}
__global__ void empty_dependent() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

template <class T> T* dalloc(size_t n) {
  void* p = nullptr;
  SKV_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(n * sizeof(T), 16)));
  return static_cast<T*>(p);
}

double median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : double(v[v.size() / 2]);
}

}  // namespace

double measure_copy_bandwidth_gbs() {
  const size_t bytes = size_t(1) << 30;
  auto* a = dalloc<uint8_t>(bytes);
  auto* b = dalloc<uint8_t>(bytes);
  SKV_CUDA_CHECK(cudaMemset(a, 1, bytes));
  cudaEvent_t e0, e1;
  SKV_CUDA_CHECK(cudaEventCreate(&e0));
  SKV_CUDA_CHECK(cudaEventCreate(&e1));
  std::vector<float> ms;
  for (int i = 0; i < 12; ++i) {
    SKV_CUDA_CHECK(cudaEventRecord(e0));
    SKV_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
    SKV_CUDA_CHECK(cudaEventRecord(e1));
    SKV_CUDA_CHECK(cudaEventSynchronize(e1));
    float t = 0;
    SKV_CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
    if (i >= 2) ms.push_back(t);
  }
  SKV_CUDA_CHECK(cudaFree(a));
  SKV_CUDA_CHECK(cudaFree(b));
  return 2.0 * double(bytes) / (median(ms) * 1e-3) / 1e9;
}

namespace {

// One paged cache (sets copies) of a single tier; times `fn` over rotating sets.
struct Bench {
  TierTable tt;
  int sets = 1;
  size_t pages_per_set = 0, pbytes = 0;
  uint8_t* arena = nullptr;
  std::vector<PageInfo*> pages;
  int32_t *indptr = nullptr, *indices = nullptr;
  int8_t* signs = nullptr;
  float *q = nullptr, *out = nullptr, *klev = nullptr, *vlev = nullptr;
  void* ws = nullptr;
  size_t ws_bytes = 0;
  AttnBenchCase c{};
  int pph = 0;
  std::vector<float> kl_host, vl_host;  // the levels, as uploaded

  Bench(const AttnBenchCase& cfg, const TierLayout& L, size_t rotate_bytes) : c(cfg) {
    tt.count = 1;
    tt.layouts[0] = L;
    pph = cfg.ctx / L.page_tokens;
    pages_per_set = size_t(cfg.batch) * cfg.hkv * pph;
    pbytes = page_bytes(L);
    const double set_bytes = double(pages_per_set) * double(pbytes);
    sets = int(std::clamp(std::ceil(double(rotate_bytes) / set_bytes), 1.0, 64.0));
    arena = dalloc<uint8_t>(pages_per_set * pbytes * sets);
    fill_pages<<<1024, 256>>>(arena, pages_per_set * sets, L, 1234);
    SKV_CUDA_CHECK_LAUNCH("fill_pages");
    std::vector<int32_t> ip(size_t(cfg.batch) * cfg.hkv + 1), idx(pages_per_set);
    for (size_t i = 0; i < ip.size(); ++i) ip[i] = int32_t(i * size_t(pph));
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = int32_t(i);
    indptr = dalloc<int32_t>(ip.size());
    indices = dalloc<int32_t>(idx.size());
    SKV_CUDA_CHECK(cudaMemcpy(indptr, ip.data(), ip.size() * 4, cudaMemcpyHostToDevice));
    SKV_CUDA_CHECK(cudaMemcpy(indices, idx.data(), idx.size() * 4, cudaMemcpyHostToDevice));
    for (int s = 0; s < sets; ++s) {
      std::vector<PageInfo> pi(pages_per_set);
      for (size_t i = 0; i < pi.size(); ++i)
        pi[i] = {uint64_t((size_t(s) * pages_per_set + i) * pbytes), 0u, uint32_t(L.page_tokens)};
      pages.push_back(dalloc<PageInfo>(pi.size()));
      SKV_CUDA_CHECK(cudaMemcpy(pages.back(), pi.data(), pi.size() * sizeof(PageInfo), cudaMemcpyHostToDevice));
    }
    std::vector<int8_t> sg(size_t(cfg.hkv) * cfg.d);
    for (size_t i = 0; i < sg.size(); ++i) sg[i] = (i * 2654435761u >> 7) & 1 ? 1 : -1;
    signs = dalloc<int8_t>(sg.size());
    SKV_CUDA_CHECK(cudaMemcpy(signs, sg.data(), sg.size(), cudaMemcpyHostToDevice));
    const size_t qn = size_t(cfg.batch) * cfg.hq * cfg.d;
    q = dalloc<float>(qn * sets);
    out = dalloc<float>(qn);
    fill_floats<<<256, 256>>>(q, qn * sets, 77, 0.5f);
    SKV_CUDA_CHECK_LAUNCH("fill_floats");
    klev = dalloc<float>(256);
    vlev = dalloc<float>(256);
    {  // the target tier's levels as the codecs build them (kernels/bench/attn_bench_levels.h: the
       // key codebook is symmetric about 0, so v6/v7 score it with 4 bit planes, not 7)
      namespace lv = bench_levels;
      std::vector<float>& kl = kl_host;
      kl.assign(256, 0.f);
      for (int c = 0; c < 4; ++c) { kl[size_t(4 + c)] = lv::kKeyHalf[c]; kl[size_t(3 - c)] = -lv::kKeyHalf[c]; }
      SKV_CUDA_CHECK(cudaMemcpy(klev, kl.data(), kl.size() * sizeof(float), cudaMemcpyHostToDevice));
      std::vector<float>& vl = vl_host;
      vl.assign(256, 0.f);
      for (int c = 0; c < 8; ++c) { vl[size_t(8 + c)] = lv::kValueHalf[c]; vl[size_t(7 - c)] = -lv::kValueHalf[c]; }
      SKV_CUDA_CHECK(cudaMemcpy(vlev, vl.data(), vl.size() * sizeof(float), cudaMemcpyHostToDevice));
    }
    tt.codebooks[0] = {klev, vlev, codebooks_symmetric(L, kl_host.data(), vl_host.data())};
    ws_bytes = ada_decode_workspace_bytes(kv(0), cfg.hq, pph);
    ws = dalloc<uint8_t>(ws_bytes);
    SKV_CUDA_CHECK(cudaDeviceSynchronize());
  }
  ~Bench() {
    cudaFree(arena); for (auto* p : pages) cudaFree(p);
    cudaFree(indptr); cudaFree(indices); cudaFree(signs); cudaFree(q); cudaFree(out); cudaFree(klev); cudaFree(vlev); cudaFree(ws);
  }
  PagedKv kv(int s) const {
    PagedKv k;
    k.arena = arena; k.pages = pages[size_t(s)]; k.indptr = indptr; k.indices = indices; k.signs = signs;
    k.batch = c.batch; k.num_kv_heads = c.hkv; k.head_dim = c.d; k.tiers = tt;
    return k;
  }
  DecodeArgs args(int s) const {
    DecodeArgs a;
    a.q = q + size_t(s) * c.batch * c.hq * c.d; a.out = out; a.num_q_heads = c.hq; a.max_pages_per_head = pph;
    a.workspace = ws; a.workspace_bytes = ws_bytes;
    return a;
  }
  // Modeled bytes one call must read: pages + metadata + queries, plus the output it writes.
  double modeled_bytes() const {
    return double(pages_per_set) * double(pbytes + kPageMetaBytes) + 2.0 * c.batch * c.hq * c.d * 4.0;
  }
  // Per-call GPU time: every call gets its own event pair, calls are enqueued back to back behind
  // a spinning kernel and read after one synchronize, so host launch overhead is not counted
  // (triton do_bench style). Input sets rotate so L2 does not serve them.
  template <class F> double time_us(F&& fn, int runs) { return time_gpu_calls_us(fn, runs, sets); }
};

TierLayout ada_tier(int d) {
  TierLayout L;
  L.head_dim = d; L.key_kind = KeyKind::kCoord; L.key_bits = 3; L.value_kind = ValueKind::kCoord; L.value_bits = 4;
  L.page_mean = true; L.page_tokens = 64;
  return L;
}
TierLayout fp16_tier(int d) {
  TierLayout L;
  L.head_dim = d; L.key_kind = KeyKind::kFp16; L.value_kind = ValueKind::kFp16; L.page_tokens = 64;
  return L;
}

// Encode cost: (1) one new token for every (sequence, kv head) in one launch (the decode-step
// case: appends into an open page whose mean exists); (2) sealing whole pages, per token.
void encode_cost(Bench& b, double* one_token_us, double* per_token_ns) {
  const AttnBenchCase& c = b.c;
  const int rows_n = c.batch * c.hkv * 64;
  float* rows = dalloc<float>(size_t(rows_n) * c.d);
  fill_floats<<<256, 256>>>(rows, size_t(rows_n) * c.d, 9, 1.f);
  std::vector<EncodeJob> one(size_t(c.batch) * c.hkv), full(size_t(c.batch) * c.hkv);
  for (int i = 0; i < c.batch * c.hkv; ++i) {
    const uint64_t off = uint64_t(size_t(i) * b.pph) * b.pbytes;
    one[size_t(i)] = {off, i, 1, 17, i % c.hkv, 0, 0};
    full[size_t(i)] = {off, i * 64, 64, 0, i % c.hkv, 0, 1};
  }
  EncodeJob* d_one = dalloc<EncodeJob>(one.size());
  EncodeJob* d_full = dalloc<EncodeJob>(full.size());
  SKV_CUDA_CHECK(cudaMemcpy(d_one, one.data(), one.size() * sizeof(EncodeJob), cudaMemcpyHostToDevice));
  SKV_CUDA_CHECK(cudaMemcpy(d_full, full.data(), full.size() * sizeof(EncodeJob), cudaMemcpyHostToDevice));
  *one_token_us = b.time_us([&](int) { ada_encode(b.tt, b.signs, c.d, rows, rows, d_one, int(one.size()), b.arena, nullptr); }, 50);
  const double full_us = b.time_us([&](int) { ada_encode(b.tt, b.signs, c.d, rows, rows, d_full, int(full.size()), b.arena, nullptr); }, 20);
  *per_token_ns = full_us * 1e3 / double(rows_n);
  cudaFree(rows); cudaFree(d_one); cudaFree(d_full);
}

}  // namespace

double time_gpu_calls_us(const std::function<void(int set)>& call, int runs, int sets) {
  if (runs < 1 || sets < 1) throw KernelError("time_gpu_calls_us: runs and sets must be >= 1");
  for (int i = 0; i < 3; ++i) call(i % sets);
  std::vector<cudaEvent_t> e(size_t(2 * runs));
  for (auto& x : e) SKV_CUDA_CHECK(cudaEventCreate(&x));
  SKV_CUDA_CHECK(cudaDeviceSynchronize());
  // A head start: the GPU spins while the host enqueues every run (up to ~100 us of host work per
  // call: torch's SDPA dispatch), so no median includes a gap where the GPU waited for the host
  // (short calls, the launch floor's empty kernels did before).
  spin_kernel<<<1, 1>>>(std::min<unsigned long long>(20'000'000ull, 100'000ull * unsigned(runs) + 1'000'000ull));
  for (int i = 0; i < runs; ++i) {
    SKV_CUDA_CHECK(cudaEventRecord(e[size_t(2 * i)]));
    call(i % sets);
    SKV_CUDA_CHECK(cudaEventRecord(e[size_t(2 * i + 1)]));
  }
  SKV_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> ms;
  for (int i = 0; i < runs; ++i) {
    float t = 0;
    SKV_CUDA_CHECK(cudaEventElapsedTime(&t, e[size_t(2 * i)], e[size_t(2 * i + 1)]));
    ms.push_back(t);
  }
  for (auto& x : e) cudaEventDestroy(x);
  return median(ms) * 1e3;
}

LaunchFloor measure_launch_floor() {
  const int smem = 170 * 1024;
  SKV_CUDA_CHECK(cudaFuncSetAttribute(empty_decode_shaped, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const dim3 grid(16, 8);
  LaunchFloor f;
  f.one_kernel_us = time_gpu_calls_us([&](int) { empty_decode_shaped<<<grid, 512, smem>>>(); }, 100, 1);
  f.with_dependent_us = time_gpu_calls_us([&](int) {
    empty_decode_shaped<<<grid, 512, smem>>>();
    cudaLaunchConfig_t lc{};
    lc.gridDim = dim3(8);
    lc.blockDim = dim3(128);
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    lc.attrs = attr;
    lc.numAttrs = 1;
    SKV_CUDA_CHECK(cudaLaunchKernelEx(&lc, empty_dependent));
  }, 100, 1);
  SKV_CUDA_CHECK_LAUNCH("launch floor");
  return f;
}

std::vector<AttnBenchCase> attn_bench_grid(bool quick) {
  std::vector<AttnBenchCase> cfgs;
  const std::vector<int> ctxs = quick ? std::vector<int>{4096, 65536} : std::vector<int>{4096, 16384, 65536, 131072};
  for (int ctx : ctxs)
    for (int batch : {1, 8}) {
      cfgs.push_back({ctx, 32, 8, 128, batch});
      cfgs.push_back({ctx, 32, 32, 128, batch});
      cfgs.push_back({ctx, 9, 3, 64, batch});
    }
  return cfgs;
}

GpuInfo gpu_info() {
  if (!cuda_device_available()) throw KernelError("no CUDA device");
  cudaDeviceProp prop{};
  SKV_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  return {prop.name, prop.multiProcessorCount};
}

std::string attn_bench_tier_name() { return "coord-lloyd K3 + V4, page mean, P=64"; }

AttnBenchResult run_attn_bench_case(const AttnBenchCase& c, int runs) {
  if (c.ctx <= 0 || c.hq <= 0 || c.hkv <= 0 || c.batch <= 0 || c.hq % c.hkv != 0 || (c.d != 64 && c.d != 128) ||
      c.ctx % 64 != 0)
    throw KernelError("bench case ctx=" + std::to_string(c.ctx) + " hq=" + std::to_string(c.hq) + " hkv=" +
                      std::to_string(c.hkv) + " d=" + std::to_string(c.d) + " batch=" + std::to_string(c.batch) +
                      ": needs ctx a multiple of 64, hq a multiple of hkv, d 64 or 128");
  if (runs < 1) throw KernelError("runs must be >= 1");
  const size_t rotate = size_t(256) << 20;  // > 5x L2
  AttnBenchResult r;
  r.c = c;
  {
    Bench b(c, ada_tier(c.d), rotate);
    r.sets_ada = b.sets;
    r.ada_bytes = b.modeled_bytes();
    r.ada_us = b.time_us([&](int s) { ada_decode_attention(b.kv(s), b.args(s)); }, runs);
    r.ada_split_us = b.time_us([&](int s) {  // the v4 kernel, for the record of what v5 changed
      DecodeArgs a = b.args(s);
      a.variant = kAdaKernelSplit;
      ada_decode_attention(b.kv(s), a);
    }, runs);
    r.ada_v5_us = b.time_us([&](int s) {  // v5: what auto ran before v7
      DecodeArgs a = b.args(s);
      a.variant = kAdaKernelWarpPerPage;
      ada_decode_attention(b.kv(s), a);
    }, runs);
    r.ada_v6_us = b.time_us([&](int s) {  // v6: the key scoring on the tensor cores
      DecodeArgs a = b.args(s);
      a.variant = kAdaKernelTensorCore;
      ada_decode_attention(b.kv(s), a);
    }, runs);
    encode_cost(b, &r.encode_one_token_us, &r.encode_page_ns_per_token);
    {  // the same page bytes (every set), read by a plain streaming kernel
      uint32_t* sink = dalloc<uint32_t>(1);
      const size_t words = b.pages_per_set * b.pbytes / 16;
      const int sms = gpu_info().sms;
      r.read_us = b.time_us([&](int s) {
        stream_read<<<4 * sms, 512>>>(reinterpret_cast<const uint4*>(b.arena + size_t(s) * b.pages_per_set * b.pbytes),
                                      words, sink);
      }, runs);
      SKV_CUDA_CHECK_LAUNCH("stream_read");
      cudaFree(sink);
    }
  }
  {
    Bench b(c, fp16_tier(c.d), rotate);
    r.sets_dense = b.sets;
    r.dense_bytes = b.modeled_bytes();
    r.dense_us = b.time_us([&](int s) { dense_fp16_decode_attention(b.kv(s), b.args(s)); }, runs);
  }
  return r;
}

}  // namespace skv::kernels
