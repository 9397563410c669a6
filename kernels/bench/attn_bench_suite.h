// The decode-attention benchmark's GPU half: ADA (v5 and v4 kernels) and our dense fp16 paged
// decode on synthetic pages, the device-to-device copy bandwidth, and the encode cost. No torch
// here: `skv bench attn` (app/cli/cmd_bench.cpp) adds torch SDPA, skv_attn_bench (bench/
// attn_bench.cu) is the torch-free front end for kernel work. Built without CUDA, every entry
// point throws KernelError("built without CUDA").
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace skv::kernels {

struct AttnBenchCase {
  int ctx = 0, hq = 0, hkv = 0, d = 0, batch = 0;
};

struct AttnBenchResult {
  AttnBenchCase c;
  double ada_us = 0, ada_split_us = 0, dense_us = 0;  // medians, CUDA events, per call
  double ada_v6_us = 0;                               // the v6 kernel (tensor-core key scoring)
  double ada_v5_us = 0;                               // the v5 kernel (LUT scoring, FFMA values)
  double ada_bytes = 0, dense_bytes = 0;              // modeled bytes one call reads and writes
  double encode_one_token_us = 0;                     // one new token for every (sequence, kv head)
  double encode_page_ns_per_token = 0;                // sealing whole pages, per token
  double read_us = 0;  // a plain streaming read of the ADA call's page bytes, timed the same way:
                       // the time any kernel that reads those bytes once needs (launch included)
  int sets_ada = 0, sets_dense = 0;                   // rotated input sets (so L2 does not serve them)
};

struct GpuInfo {
  std::string name;
  int sms = 0;
};

// The grid: contexts 4k, 16k, 64k, 128k (quick: 4k, 64k) x batch 1, 8 x heads 32q/8kv d128,
// 32q/32kv d128, 9q/3kv d64.
std::vector<AttnBenchCase> attn_bench_grid(bool quick);

GpuInfo gpu_info();

// Device-to-device copy of 1 GiB, read + write bytes over the median time: the ceiling of a
// streaming kernel, measured in the same process as the timings it is compared with.
double measure_copy_bandwidth_gbs();

// The fixed cost of a call in the suite's timing: an empty kernel shaped like the v7 decode (16 x 8
// CTAs of 512 threads, 170 KB of dynamic shared memory), alone and followed by an empty
// programmatic dependent kernel of 8 CTAs (the shape of a split decode plus its merge).
struct LaunchFloor {
  double one_kernel_us = 0, with_dependent_us = 0;
};
LaunchFloor measure_launch_floor();

// The ADA tier the benchmark times: coord-lloyd K3 + V4, page mean, 64-token pages.
std::string attn_bench_tier_name();

AttnBenchResult run_attn_bench_case(const AttnBenchCase& c, int runs);

// The suite's timing method, for callers that time other GPU work the same way (torch SDPA in
// `skv bench attn`): call(i % sets) `runs` times back to back on the default stream, each between
// its own pair of CUDA events, read after one synchronize (host launch overhead is not counted
// while the queue stays ahead of the GPU); 3 warm-up calls; the median in microseconds.
double time_gpu_calls_us(const std::function<void(int set)>& call, int runs, int sets);

}  // namespace skv::kernels
