// Checks the probe against numbers known in advance, on a real GPU:
//   * a copy kernel that reads N bytes and writes N bytes (default 2 GiB each):
//     the counters level must report dram__bytes_read/write within a few % of N;
//   * the timeline's kernel duration must match CUDA events around the same launch within 5%;
//   * the overhead of each level on a realistic step (the copy) and on a tiny step (one small
//     kernel + sync), as OverheadReport JSON.
// Prints one JSON object on stdout (and to the path given as argv[1], if any). Exits 0 when it
// ran, whatever the numbers; `checks` in the JSON says what passed.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "probes/probe.h"
#include "probes/probe_overhead.h"
#include "probes/probe_worker.h"

using namespace skv::probes;

namespace {

#define CUDA_OK(x)                                                                      \
  do {                                                                                  \
    cudaError_t e_ = (x);                                                               \
    if (e_ != cudaSuccess) {                                                            \
      std::printf("{\"error\":\"%s: %s\"}\n", #x, cudaGetErrorString(e_));              \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)

__global__ void copy_kernel(const float4* __restrict__ src, float4* __restrict__ dst, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    dst[i] = src[i];
  }
}

__global__ void tiny_kernel(float* x) { x[threadIdx.x] += 1.0f; }

// Keeps the GPU busy so the event before the copy fires only when the copy can start: without it
// an idle GPU timestamps the event, then waits for the (CUPTI-instrumented) launch, and the
// events measure launch latency as well as the kernel.
__global__ void spin_kernel(long long cycles) {
  const long long t0 = clock64();
  while (clock64() - t0 < cycles) {
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

struct Copy {
  float4* src = nullptr;
  float4* dst = nullptr;
  size_t n = 0;
  int grid = 0;
  void launch(cudaStream_t s) const { copy_kernel<<<grid, 512, 0, s>>>(src, dst, n); }
};

std::string statuses_json(const ProbeSnapshot& snap) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < snap.statuses.size(); ++i) {
    o << (i ? "," : "") << "\"" << esc(snap.statuses[i].message.str()) << "\"";
  }
  o << "]";
  return o.str();
}

}  // namespace

int main(int argc, char** argv) {
  const double gib = std::getenv("SKV_VALIDATE_GIB") ? std::atof(std::getenv("SKV_VALIDATE_GIB")) : 2.0;
  const size_t bytes = static_cast<size_t>(gib * (1ull << 30));
  cudaDeviceProp prop{};
  CUDA_OK(cudaSetDevice(0));
  CUDA_OK(cudaFree(nullptr));  // create the primary context so the probe profiles it
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  Copy copy;
  copy.n = bytes / sizeof(float4);
  copy.grid = prop.multiProcessorCount * 8;
  CUDA_OK(cudaMalloc(&copy.src, bytes));
  CUDA_OK(cudaMalloc(&copy.dst, bytes));
  CUDA_OK(cudaMemset(copy.src, 1, bytes));
  CUDA_OK(cudaMemset(copy.dst, 0, bytes));
  float* tiny = nullptr;
  CUDA_OK(cudaMalloc(&tiny, 1024 * sizeof(float)));
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreate(&stream));
  cudaEvent_t e0, e1;
  CUDA_OK(cudaEventCreate(&e0));
  CUDA_OK(cudaEventCreate(&e1));
  for (int i = 0; i < 3; ++i) copy.launch(stream);  // warm-up
  CUDA_OK(cudaStreamSynchronize(stream));

  std::ostringstream json;
  json << "{\"device\":\"" << esc(prop.name) << "\",\"bytes_read_expected\":" << bytes
       << ",\"bytes_written_expected\":" << bytes;
  bool timeline_ok = false, counters_ok = false, tagged_ok = false;

  // --- timeline: kernel duration vs CUDA events ------------------------------------------------
  int clock_khz = 0;
  CUDA_OK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  const long long spin_cycles = static_cast<long long>(clock_khz) * 2;  // ~2 ms
  {
    // Reference: the same event pair without any probe.
    std::vector<float> ref;
    for (int i = 0; i < 5; ++i) {
      spin_kernel<<<1, 1, 0, stream>>>(spin_cycles);
      CUDA_OK(cudaEventRecord(e0, stream));
      copy.launch(stream);
      CUDA_OK(cudaEventRecord(e1, stream));
      CUDA_OK(cudaEventSynchronize(e1));
      float ms = 0;
      CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
      ref.push_back(ms);
    }
    json << ",\"event_ms_without_probe\":[";
    for (size_t i = 0; i < ref.size(); ++i) json << (i ? "," : "") << ref[i];
    json << "]";
  }
  {
    Probe probe;
    ProbeWorker worker(probe);
    const Level got = probe.start(Level::timeline);
    std::vector<float> event_ms;
    for (int step = 0; step < 5; ++step) {
      probe.begin_step(step);
      probe.push_range("copy", kNoStep, 7);
      spin_kernel<<<1, 1, 0, stream>>>(spin_cycles);
      CUDA_OK(cudaEventRecord(e0, stream));
      copy.launch(stream);
      CUDA_OK(cudaEventRecord(e1, stream));
      probe.pop_range();
      CUDA_OK(cudaEventSynchronize(e1));
      probe.end_step();
      float ms = 0;
      CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
      event_ms.push_back(ms);
    }
    probe.stop();
    worker.poll();
    auto snap = worker.snapshot();
    json << ",\"timeline\":{\"level\":\"" << level_name(got) << "\",\"statuses\":" << statuses_json(*snap)
         << ",\"kernels\":[";
    int k = 0;
    double worst = 0;
    bool correlated = true;
    for (const auto& kr : snap->kernels) {
      if (kr.name.view().find("copy_kernel") == std::string_view::npos) continue;
      const double kernel_ms = kr.duration_ns() / 1e6;
      const double ev = k < static_cast<int>(event_ms.size()) ? event_ms[static_cast<size_t>(k)] : 0.0;
      const double rel = ev > 0 ? std::fabs(kernel_ms - ev) / ev : 1.0;
      worst = std::max(worst, rel);
      if (kr.step != k || kr.layer != 7) correlated = false;
      json << (k ? "," : "") << "{\"name\":\"" << esc(kr.name.str()) << "\",\"step\":" << kr.step
           << ",\"layer\":" << kr.layer << ",\"grid\":" << kr.grid.x << ",\"block\":" << kr.block.x
           << ",\"cupti_ms\":" << kernel_ms << ",\"event_ms\":" << ev << ",\"rel_diff\":" << rel << "}";
      ++k;
    }
    timeline_ok = got == Level::timeline && k == 5 && worst < 0.05;
    tagged_ok = k == 5 && correlated;
    json << "],\"spin_kernels\":" << (snap->kernels.size() - static_cast<size_t>(k)) << ",\"copy_kernels\":" << k << ",\"worst_rel_diff\":" << worst << ",\"step_layer_correlated\":"
         << (correlated ? "true" : "false") << ",\"dropped\":" << snap->dropped << "}";
  }

  // --- counters: DRAM bytes per range, at step depth and at kernel depth ------------------------
  json << ",\"counters\":[";
  for (int depth = 1; depth <= 2; ++depth) {
    ProbeOptions opt;
    opt.counter_range_depth = depth;
    Probe probe(opt);
    ProbeWorker worker(probe);
    const Level got = probe.start(Level::counters);
    for (int step = 0; step < 3; ++step) {
      probe.begin_step(step);
      probe.push_range("copy", kNoStep, 7);
      probe.record_modeled_bytes(step, 7, "copy_kernel", 2 * bytes);
      copy.launch(stream);
      probe.pop_range();
      CUDA_OK(cudaStreamSynchronize(stream));
      probe.end_step();
    }
    probe.stop();
    worker.poll();
    auto snap = worker.snapshot();
    json << (depth > 1 ? "," : "") << "{\"range_depth\":" << depth << ",\"level\":\"" << level_name(got)
         << "\",\"statuses\":" << statuses_json(*snap) << ",\"ranges\":[";
    double worst = 1.0;
    int n = 0;
    if (!snap->counters.empty()) worst = 0.0;
    for (const auto& c : snap->counters) {
      const double rr = (static_cast<double>(c.dram_bytes_read.value) - bytes) / bytes;
      const double wr = (static_cast<double>(c.dram_bytes_write.value) - bytes) / bytes;
      worst = std::max({worst, std::fabs(rr), std::fabs(wr)});
      json << (n++ ? "," : "") << "{\"range\":\"" << esc(c.range.str()) << "\",\"step\":" << c.step
           << ",\"layer\":" << c.layer << ",\"dram_bytes_read\":" << c.dram_bytes_read.value
           << ",\"dram_bytes_write\":" << c.dram_bytes_write.value << ",\"read_rel_err\":" << rr
           << ",\"write_rel_err\":" << wr << ",\"gpu_time_ns\":" << c.gpu_time_ns;
      if (c.has_l2_hit_rate) json << ",\"l2_hit_rate_pct\":" << c.l2_hit_rate_pct;
      json << "}";
    }
    const bool ok = got == Level::counters && n == 3 && worst < 0.05;
    if (depth == 1) counters_ok = ok;
    json << "],\"modeled_records\":" << snap->modeled.size() << ",\"worst_rel_err\":" << worst
         << ",\"ok\":" << (ok ? "true" : "false") << "}";
  }
  json << "]";

  // --- overhead of each level ---------------------------------------------------------------
  json << ",\"overhead\":{\"copy_step\":[";
  for (Level l : {Level::cpu, Level::timeline, Level::counters}) {
    Probe probe;
    const OverheadReport r = measure_overhead(probe, l, 130, [&](std::int64_t) {
      copy.launch(stream);
      cudaStreamSynchronize(stream);
    });
    json << (l != Level::cpu ? "," : "") << r.to_json();
  }
  {
    // Counters read back at every step (freshest numbers, highest cost).
    ProbeOptions opt;
    opt.counter_collect_every = 1;
    Probe probe(opt);
    const OverheadReport r = measure_overhead(probe, Level::counters, 30, [&](std::int64_t) {
      copy.launch(stream);
      cudaStreamSynchronize(stream);
    });
    json << ",{\"counter_collect_every\":1,\"report\":" << r.to_json() << "}";
  }
  json << "],\"tiny_step\":[";
  for (Level l : {Level::cpu, Level::timeline, Level::counters}) {
    Probe probe;
    const OverheadReport r = measure_overhead(probe, l, 200, [&](std::int64_t) {
      tiny_kernel<<<1, 256, 0, stream>>>(tiny);
      cudaStreamSynchronize(stream);
    });
    json << (l != Level::cpu ? "," : "") << r.to_json();
  }
  json << "]}";
  json << ",\"checks\":{\"timeline_within_5pct_of_events\":" << (timeline_ok ? "true" : "false")
       << ",\"counters_within_5pct_of_known_bytes\":" << (counters_ok ? "true" : "false")
       << ",\"kernels_tagged_with_step_and_layer\":" << (tagged_ok ? "true" : "false") << "}}";

  std::printf("%s\n", json.str().c_str());
  if (argc > 1) std::ofstream(argv[1]) << json.str() << "\n";
  return 0;
}
