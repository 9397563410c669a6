// skv_attn_bench: the torch-free front end of the decode-attention benchmark, for kernel work on
// a machine where only nvcc is at hand (scripts/gpu_check.sh builds it without cmake). The user's
// command is `skv bench attn`, which runs the same suite and adds torch SDPA in the same process.
// Usage: skv_attn_bench [--json OUT] [--runs N] [--quick] [--cfg ctx,hq,hkv,d,batch]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "kernels/bench/attn_bench_suite.h"

#if defined(SKV_ADA_TRACE)
namespace skv::kernels::ada_detail { void ada_trace_dump(int ctas); }
#endif
using namespace skv::kernels;

int main(int argc, char** argv) {
  std::string json;
  int runs = 60;
  bool quick = false;
  AttnBenchCase only;  // --cfg: run just this configuration (profiling)
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--cfg") && i + 1 < argc)
      std::sscanf(argv[++i], "%d,%d,%d,%d,%d", &only.ctx, &only.hq, &only.hkv, &only.d, &only.batch);
    else { std::fprintf(stderr, "skv_attn_bench: unknown argument %s\n", argv[i]); return 2; }
  }
  try {
    const GpuInfo gpu = gpu_info();
    const double copy_gbs = measure_copy_bandwidth_gbs();
    std::printf("device %s, %d SMs, d2d copy %.0f GB/s (read+write)\n", gpu.name.c_str(), gpu.sms, copy_gbs);
    const LaunchFloor floor = measure_launch_floor();
    std::printf("launch floor: empty decode-shaped kernel %.2f us, with an empty dependent (merge-shaped) kernel %.2f us\n",
                floor.one_kernel_us, floor.with_dependent_us);
    std::vector<AttnBenchCase> cfgs = only.ctx > 0 ? std::vector<AttnBenchCase>{only} : attn_bench_grid(quick);
    std::vector<AttnBenchResult> res;
    std::printf("%7s %5s %5s %4s %3s | %9s %9s %9s %9s %9s %7s %6s | %9s %9s %7s | %7s | %9s %9s | %8s\n", "ctx", "hq", "hkv", "d",
                "B", "ada_us", "v4_us", "v5_us", "v6_us", "ada_MB", "GB/s", "%copy", "dense_us", "dense_MB", "GB/s", "speedup", "enc1_us",
                "enc_ns/t", "read_us");
    for (const AttnBenchCase& c : cfgs) {
      const AttnBenchResult r = run_attn_bench_case(c, runs);
#if defined(SKV_ADA_TRACE)  // phase timestamps of the last v7 call's CTAs (count in SKV_TRACE)
      if (std::getenv("SKV_TRACE")) skv::kernels::ada_detail::ada_trace_dump(std::atoi(std::getenv("SKV_TRACE")));
#endif
      const double ag = r.ada_bytes / (r.ada_us * 1e-6) / 1e9, dg = r.dense_bytes / (r.dense_us * 1e-6) / 1e9;
      std::printf("%7d %5d %5d %4d %3d | %9.2f %9.2f %9.2f %9.2f %9.2f %7.0f %5.1f%% | %9.2f %9.2f %7.0f | %6.2fx | %9.2f %9.2f | %8.2f\n",
                  c.ctx, c.hq, c.hkv, c.d, c.batch, r.ada_us, r.ada_split_us, r.ada_v5_us, r.ada_v6_us, r.ada_bytes / 1e6, ag, 100.0 * ag / copy_gbs,
                  r.dense_us, r.dense_bytes / 1e6, dg, r.dense_us / r.ada_us, r.encode_one_token_us,
                  r.encode_page_ns_per_token, r.read_us);
      std::fflush(stdout);
      res.push_back(r);
    }
    if (!json.empty()) {
      FILE* f = std::fopen(json.c_str(), "w");
      if (!f) { std::fprintf(stderr, "skv_attn_bench: cannot write %s\n", json.c_str()); return 1; }
      std::fprintf(f, "{\n  \"device\": \"%s\", \"sms\": %d, \"copy_gbs\": %.1f, \"runs\": %d,\n", gpu.name.c_str(),
                   gpu.sms, copy_gbs, runs);
      std::fprintf(f, "  \"launch_floor_one_kernel_us\": %.3f, \"launch_floor_with_dependent_us\": %.3f,\n",
                   floor.one_kernel_us, floor.with_dependent_us);
      std::fprintf(f, "  \"ada_tier\": \"%s\",\n  \"results\": [\n", attn_bench_tier_name().c_str());
      for (size_t i = 0; i < res.size(); ++i) {
        const AttnBenchResult& r = res[i];
        std::fprintf(f,
                     "    {\"ctx\": %d, \"hq\": %d, \"hkv\": %d, \"d\": %d, \"batch\": %d, \"ada_us\": %.3f, \"ada_split_v4_us\": %.3f, \"ada_v6_us\": %.3f, \"ada_v5_us\": %.3f, "
                     "\"ada_bytes\": %.0f, \"ada_gbs\": %.1f, \"ada_pct_copy\": %.1f, \"dense_us\": %.3f, "
                     "\"dense_bytes\": %.0f, \"dense_gbs\": %.1f, \"speedup_vs_dense\": %.3f, "
                     "\"encode_one_token_all_heads_us\": %.3f, \"encode_page_ns_per_token\": %.3f, "
                     "\"read_us\": %.3f, \"sets_ada\": %d, \"sets_dense\": %d}%s\n",
                     r.c.ctx, r.c.hq, r.c.hkv, r.c.d, r.c.batch, r.ada_us, r.ada_split_us, r.ada_v6_us, r.ada_v5_us, r.ada_bytes,
                     r.ada_bytes / (r.ada_us * 1e-6) / 1e9, 100.0 * r.ada_bytes / (r.ada_us * 1e-6) / 1e9 / copy_gbs,
                     r.dense_us, r.dense_bytes, r.dense_bytes / (r.dense_us * 1e-6) / 1e9, r.dense_us / r.ada_us,
                     r.encode_one_token_us, r.encode_page_ns_per_token, r.read_us, r.sets_ada, r.sets_dense,
                     i + 1 < res.size() ? "," : "");
      }
      std::fprintf(f, "  ]\n}\n");
      std::fclose(f);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "skv_attn_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
