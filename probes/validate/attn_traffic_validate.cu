// Measured DRAM bytes of the paged decode kernels (kernels/ada_attention.h) against the modeled
// bytes of core/probing/attention_traffic_model, on a real GPU, at contexts whose KV is several
// times the L2 (50 MB on H100): 32 query / 8 kv heads, d = 128, 64-token pages, batch 1..8.
//   * ADA tier: 3-bit COORD keys + page mean, 4-bit COORD values (7680 B a page);
//   * dense fp16 tier (32768 B a page) through dense_fp16_decode_attention.
// Each launch is one counted range (probe level counters, depth 1) after an L2 flush; the check is
// dram__bytes_read.sum / modeled read bytes in [0.9, 1.15]. Then a PM sampling series over
// busy / idle / busy decode bursts: sample count and spacing, peak read throughput, and the
// integral of the read series against the modeled bytes of the launches.
// Synthetic pages (random code bits, valid fp16 scales/means/keys): traffic does not depend on
// the values. Prints one JSON object (and writes it to argv[1] if given); exits 0 when it ran.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/probing/attention_traffic_model.h"
#include "kernels/ada_attention.h"
#include "probes/probe.h"
#include "probes/probe_worker.h"

using namespace skv;
using namespace skv::kernels;
using skv::probes::Level;

namespace {

#define CUDA_OK(x)                                                                  \
  do {                                                                              \
    cudaError_t e_ = (x);                                                           \
    if (e_ != cudaSuccess) {                                                        \
      std::printf("{\"error\":\"%s: %s\"}\n", #x, cudaGetErrorString(e_));          \
      std::exit(1);                                                                 \
    }                                                                               \
  } while (0)

__device__ unsigned mix(unsigned long long x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ull;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dull;
  x ^= x >> 33;
  return unsigned(x);
}

// Every 16-bit word of `pages` pages of layout L: random bits inside code arrays, a small valid
// fp16 (|x| in [2^-4, 2^-3)) everywhere else (fp16 keys/values, scales, page mean).
__global__ void fill_pages(unsigned short* arena, size_t pages, TierLayout L) {
  const PageOffsets o = page_offsets(L);
  const size_t per_page = o.total / 2, n = pages * per_page;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const size_t at = (i % per_page) * 2;
    const unsigned r = mix(i * 0x9E3779B97F4A7C15ull + 7);
    const bool code = (keys_coded(L) && at < o.key_scales) ||
                      (L.value_kind == ValueKind::kCoord && at >= o.values && at < o.value_scales);
    arena[i] = code ? (unsigned short)(r) : (unsigned short)((r & 0x83ffu) | 0x2c00u);
  }
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) o += c;
  }
  return o;
}

struct Config {
  bool dense;
  int batch;
  int context;
};

// One paged cache on the device plus the host mirror of its page table (for the model).
struct Cache {
  TierLayout layout;
  int batch = 0, hkv = 8, hq = 32, d = 128, context = 0, pages_per_head = 0;
  std::vector<PageInfo> pages;
  std::vector<int32_t> indptr, indices;
  std::vector<int8_t> signs;
  uint8_t* arena = nullptr;
  PageInfo* d_pages = nullptr;
  int32_t *d_indptr = nullptr, *d_indices = nullptr;
  int8_t* d_signs = nullptr;
  float *d_levels = nullptr, *d_vlevels = nullptr, *q = nullptr, *out = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;

  PagedKv host_view() const {
    PagedKv kv;
    kv.pages = pages.data();
    kv.indptr = indptr.data();
    kv.indices = indices.data();
    kv.signs = signs.data();
    kv.batch = batch;
    kv.num_kv_heads = hkv;
    kv.head_dim = d;
    kv.tiers.count = 1;
    kv.tiers.layouts[0] = layout;
    return kv;
  }
  PagedKv device_view() const {
    PagedKv kv = host_view();
    kv.arena = arena;
    kv.pages = d_pages;
    kv.indptr = d_indptr;
    kv.indices = d_indices;
    kv.signs = d_signs;
    kv.tiers.codebooks[0].key_levels = d_levels;
    kv.tiers.codebooks[0].value_levels = d_vlevels;
    return kv;
  }
  DecodeArgs args(cudaStream_t s) const {
    DecodeArgs a;
    a.q = q;
    a.out = out;
    a.num_q_heads = hq;
    a.max_pages_per_head = pages_per_head;
    a.workspace = workspace;
    a.workspace_bytes = workspace_bytes;
    a.stream = s;
    return a;
  }
  void release() {
    for (void* p : {(void*)arena, (void*)d_pages, (void*)d_indptr, (void*)d_indices, (void*)d_signs, (void*)d_levels,
                    (void*)d_vlevels, (void*)q, (void*)out, workspace})
      if (p) cudaFree(p);
  }
};

Cache make_cache(const Config& c) {
  Cache k;
  k.batch = c.batch;
  k.context = c.context;
  TierLayout& L = k.layout;
  L.head_dim = 128;
  L.page_tokens = 64;
  if (c.dense) {
    L.key_kind = KeyKind::kFp16;
    L.value_kind = ValueKind::kFp16;
  } else {
    L.key_kind = KeyKind::kCoord;
    L.key_bits = 3;
    L.value_kind = ValueKind::kCoord;
    L.value_bits = 4;
    L.page_mean = true;
  }
  const size_t pb = page_bytes(L);
  k.pages_per_head = (c.context + L.page_tokens - 1) / L.page_tokens;
  const size_t lists = size_t(k.batch) * k.hkv, n_pages = lists * k.pages_per_head;
  k.indptr.push_back(0);
  for (size_t l = 0; l < lists; ++l) {
    for (int p = 0; p < k.pages_per_head; ++p) {
      const int32_t id = int32_t(k.pages.size());
      const int last = c.context - p * L.page_tokens;
      k.pages.push_back({uint64_t(id) * pb, 0, uint32_t(std::min(last, L.page_tokens))});
      k.indices.push_back(id);
    }
    k.indptr.push_back(int32_t(k.indices.size()));
  }
  k.signs.resize(size_t(k.hkv) * k.d);
  for (size_t i = 0; i < k.signs.size(); ++i) k.signs[i] = ((i * 2654435761u) >> 7) & 1 ? 1 : -1;
  CUDA_OK(cudaMalloc(&k.arena, n_pages * pb));
  fill_pages<<<1024, 256>>>(reinterpret_cast<unsigned short*>(k.arena), n_pages, L);
  CUDA_OK(cudaGetLastError());
  auto up = [](auto** dst, const auto& v) {
    CUDA_OK(cudaMalloc(reinterpret_cast<void**>(dst), v.size() * sizeof(v[0])));
    CUDA_OK(cudaMemcpy(*dst, v.data(), v.size() * sizeof(v[0]), cudaMemcpyHostToDevice));
  };
  up(&k.d_pages, k.pages);
  up(&k.d_indptr, k.indptr);
  up(&k.d_indices, k.indices);
  up(&k.d_signs, k.signs);
  std::vector<float> lv(8), vv(16);
  for (int i = 0; i < 8; ++i) lv[i] = -0.35f + 0.1f * i;
  for (int i = 0; i < 16; ++i) vv[i] = -0.3f + 0.04f * i;
  up(&k.d_levels, lv);
  up(&k.d_vlevels, vv);
  std::vector<float> qh(size_t(k.batch) * k.hq * k.d);
  for (size_t i = 0; i < qh.size(); ++i) qh[i] = float((i * 7919) % 200) / 100.f - 1.f;
  up(&k.q, qh);
  CUDA_OK(cudaMalloc(&k.out, qh.size() * sizeof(float)));
  k.workspace_bytes = ada_decode_workspace_bytes(k.device_view(), k.hq, k.pages_per_head);
  CUDA_OK(cudaMalloc(&k.workspace, std::max<size_t>(k.workspace_bytes, 16)));
  CUDA_OK(cudaDeviceSynchronize());
  return k;
}

void launch(const Cache& k, bool dense, cudaStream_t s) {
  if (dense) dense_fp16_decode_attention(k.device_view(), k.args(s));
  else ada_decode_attention(k.device_view(), k.args(s));
}

probing::AttentionTraffic model(const Cache& k, bool dense) {
  probing::PagedTrafficOptions opt;
  opt.coded_kernel = !dense;
  return probing::model_paged_attention_traffic(k.host_view(), k.hq, opt);
}

std::string statuses_json(const probes::ProbeSnapshot& snap) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < snap.statuses.size(); ++i) o << (i ? "," : "") << "\"" << esc(snap.statuses[i].message.str()) << "\"";
  o << "]";
  return o.str();
}

}  // namespace

int main(int argc, char** argv) {
  CUDA_OK(cudaSetDevice(0));
  CUDA_OK(cudaFree(nullptr));
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreate(&stream));
  // L2 flush: write a buffer 4x the L2 outside the counted ranges.
  const size_t flush_bytes = std::max<size_t>(size_t(prop.l2CacheSize) * 4, 64u << 20);
  void* flush = nullptr;
  CUDA_OK(cudaMalloc(&flush, flush_bytes));

  std::vector<Config> configs;
  for (bool dense : {false, true})
    for (int ctx : {65536 - 17, 131072})
      for (int b : {1, 4, 8}) configs.push_back({dense, b, ctx});
  const int reps = 2;

  std::ostringstream json;
  json << "{\"device\":\"" << esc(prop.name) << "\",\"l2_bytes\":" << prop.l2CacheSize
       << ",\"shape\":{\"num_q_heads\":32,\"num_kv_heads\":8,\"head_dim\":128,\"page_tokens\":64}"
       << ",\"sector_bytes\":" << probing::kDramSectorBytes << ",\"runs\":[";
  double worst_lo = 1e9, worst_hi = 0;
  int n_ratios = 0;
  bool all_counted = true;
  std::vector<std::string> statuses;
  for (size_t ci = 0; ci < configs.size(); ++ci) {
    const Config& c = configs[ci];
    Cache k = make_cache(c);
    const probing::AttentionTraffic m = model(k, c.dense);
    launch(k, c.dense, stream);  // warm-up (smem attribute, module load)
    CUDA_OK(cudaStreamSynchronize(stream));

    probes::ProbeOptions opt;
    opt.counter_range_depth = 1;
    probes::Probe probe(opt);
    probes::ProbeWorker worker(probe);
    const Level got = probe.start(Level::counters);
    for (int r = 0; r < reps; ++r) {
      CUDA_OK(cudaMemsetAsync(flush, r + 1, flush_bytes, stream));
      CUDA_OK(cudaStreamSynchronize(stream));
      probe.begin_step(r);
      probing::record_attention_traffic(probe, r, 0, c.dense ? "dense_fp16_decode" : "ada_decode", m);
      launch(k, c.dense, stream);
      CUDA_OK(cudaStreamSynchronize(stream));
      probe.end_step();
    }
    probe.stop();
    worker.poll();
    auto snap = worker.snapshot();
    if (ci == 0) statuses.push_back(statuses_json(*snap));
    json << (ci ? "," : "") << "{\"kernel\":\"" << (c.dense ? "dense_fp16" : "ada_coord3_v4") << "\",\"batch\":" << c.batch
         << ",\"context\":" << c.context << ",\"level\":\"" << probes::level_name(got) << "\",\"kv_bytes_over_l2\":"
         << double(m.page_read_bytes()) / double(prop.l2CacheSize) << ",\"modeled\":" << m.to_json() << ",\"measured\":[";
    int n = 0;
    for (const auto& cr : snap->counters) {
      const double ratio = double(cr.dram_bytes_read.value) / double(m.read_bytes());
      worst_lo = std::min(worst_lo, ratio);
      worst_hi = std::max(worst_hi, ratio);
      ++n_ratios;
      const double gbs = cr.gpu_time_ns > 0 ? double(cr.dram_bytes_read.value) / cr.gpu_time_ns : 0.0;
      json << (n++ ? "," : "") << "{\"range\":\"" << esc(cr.range.str()) << "\",\"dram_bytes_read\":" << cr.dram_bytes_read.value
           << ",\"dram_bytes_write\":" << cr.dram_bytes_write.value << ",\"gpu_time_ns\":" << cr.gpu_time_ns
           << ",\"read_over_modeled\":" << ratio << ",\"read_GBps\":" << gbs << "}";
    }
    if (n != reps) all_counted = false;
    json << "],\"modeled_records\":" << snap->modeled.size() << "}";
    k.release();
  }
  const bool ratio_ok = all_counted && n_ratios > 0 && worst_lo >= 0.9 && worst_hi <= 1.15;
  json << "],\"first_run_statuses\":" << (statuses.empty() ? "[]" : statuses[0]) << ",\"read_over_modeled_min\":" << worst_lo
       << ",\"read_over_modeled_max\":" << worst_hi;

  // --- PM sampling: burst of dense decodes, idle gap, burst of ADA decodes -----------------
  {
    Cache dense = make_cache({true, 8, 131072});
    Cache ada = make_cache({false, 8, 131072});
    const auto md = model(dense, true), ma = model(ada, false);
    launch(dense, true, stream);
    launch(ada, false, stream);
    CUDA_OK(cudaStreamSynchronize(stream));
    probes::ProbeOptions opt;
    opt.pm_sampling = true;
    opt.pm.interval_ns = 100000;
    probes::Probe probe(opt);
    probes::ProbeWorker worker(probe);
    const Level got = probe.start(Level::timeline);
    worker.start(std::chrono::milliseconds(20));
    const int burst = 40;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < burst; ++i) launch(dense, true, stream);
    CUDA_OK(cudaStreamSynchronize(stream));
    auto t1 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto t2 = std::chrono::steady_clock::now();
    for (int i = 0; i < burst; ++i) launch(ada, false, stream);
    CUDA_OK(cudaStreamSynchronize(stream));
    auto t3 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    probe.stop();
    worker.stop();
    worker.poll();
    auto snap = worker.snapshot();
    const auto& s = snap->samples;
    std::vector<double> gaps;
    double peak = 0, integral = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      peak = std::max(peak, s[i].dram_read_bytes_per_s);
      if (i) {
        const double dt = double(s[i].t_ns - s[i - 1].t_ns) * 1e-9;
        gaps.push_back(dt);
        integral += s[i - 1].dram_read_bytes_per_s * dt;
      }
    }
    std::sort(gaps.begin(), gaps.end());
    const double median_gap = gaps.empty() ? 0 : gaps[gaps.size() / 2];
    const double modeled_total = double(burst) * double(md.read_bytes() + ma.read_bytes());
    // Kernel spans from the timeline: busy fraction of samples should follow them.
    json << ",\"pm_sampling\":{\"level\":\"" << probes::level_name(got) << "\",\"statuses\":" << statuses_json(*snap)
         << ",\"samples\":" << s.size() << ",\"median_interval_us\":" << median_gap * 1e6
         << ",\"peak_read_GBps\":" << peak / 1e9 << ",\"integral_read_bytes\":" << integral
         << ",\"modeled_read_bytes\":" << modeled_total << ",\"integral_over_modeled\":"
         << (modeled_total > 0 ? integral / modeled_total : 0) << ",\"host_ms\":{\"dense_burst\":"
         << std::chrono::duration<double, std::milli>(t1 - t0).count() << ",\"idle\":"
         << std::chrono::duration<double, std::milli>(t2 - t1).count() << ",\"ada_burst\":"
         << std::chrono::duration<double, std::milli>(t3 - t2).count() << "},\"kernels\":" << snap->kernels.size()
         << ",\"series_GBps\":[";
    // Downsample to <= 400 points for the JSON.
    const size_t stride = std::max<size_t>(1, s.size() / 400);
    for (size_t i = 0, n = 0; i < s.size(); i += stride, ++n)
      json << (n ? "," : "") << "[" << double(s[i].t_ns - s[0].t_ns) * 1e-6 << "," << s[i].dram_read_bytes_per_s / 1e9 << ","
           << s[i].dram_write_bytes_per_s / 1e9 << "]";
    json << "]}";
    json << ",\"checks\":{\"read_over_modeled_within_0.9_1.15\":" << (ratio_ok ? "true" : "false")
         << ",\"pm_sampling_series\":" << (s.size() > 20 ? "true" : "false") << "}}";
    dense.release();
    ada.release();
  }
  std::printf("%s\n", json.str().c_str());
  if (argc > 1) std::ofstream(argv[1]) << json.str() << "\n";
  return 0;
}
