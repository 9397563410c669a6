// skv bench decode: prefill and decode throughput of the built-in decoder at given contexts.
// skv bench attn: ADA paged decode attention against our dense fp16 kernel and torch SDPA fp16 on
// the GPU, with the copy bandwidth measured in the same run.
// Benchmarks, not tests: they print a table and write JSON; figures go to docs/BENCHMARKS.md.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli/cli_commands.h"
#include "core/bench/torch_sdpa_timing.h"
#include "core/common/error.h"
#include "core/cache/backend_factory.h"
#include "core/decoder/device_choice.h"
#include "core/decoder/generator.h"
#include "kernels/ada_attention.h"
#include "core/model/model_bundle.h"

namespace skv::cli {
namespace {

#ifdef SKV_HAVE_CUDA
constexpr bool SKV_BUILT_WITH_CUDA = true;
#else
constexpr bool SKV_BUILT_WITH_CUDA = false;
#endif

std::string fmt_num(double x, int prec) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, x);
  return b;
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      out.push_back(std::stoll(item));
    } catch (...) {
      throw Error("--context: '" + item + "' is not a number (use e.g. 512,4096)");
    }
  }
  return out;
}

int bench_decode(const std::string& model_spec, const std::string& contexts, const std::string& device_name,
                 int64_t decode_tokens, const BackendSpec& spec, const std::string& json_out) {
  auto device = choose_device(device_name);
  ModelBundle model = open_model(model_spec);
  LlamaDecoder decoder(*model.weights, device);
  const auto& c = decoder.config();
  nlohmann::json j;
  j["benchmark"] = "decode";
  j["model"] = c.name;
  j["identity"] = model.weights->identity();
  j["device"] = device_description(device);
  j["decode_tokens"] = decode_tokens;
  j["kv"] = spec.kv == "ada" ? "ada:" + spec.tier : spec.kv;
  // decode tok/s: every generated token after the first, over the decode time (for a tiered cache
  // this includes its re-tierings: the first decode step encodes the whole prompt); median ms/step:
  // the median forward of those steps (the steady state between re-tierings).
  std::printf("%-9s %14s %14s %14s %16s  %s\n", "context", "prefill tok/s", "decode tok/s", "ms/token", "median ms/step",
              "attention");
  for (int64_t ctx : parse_list(contexts)) {
    if (ctx + decode_tokens > c.context_length)
      throw Error("context " + std::to_string(ctx) + " + " + std::to_string(decode_tokens) +
                  " decode tokens exceeds the model's context of " + std::to_string(c.context_length));
    // Ordinary (non-special) token ids, seeded: the numbers do not depend on the text.
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> pick(100, static_cast<int32_t>(c.vocab_size) - 1);
    std::vector<int32_t> prompt(ctx);
    for (auto& id : prompt) id = pick(rng);
    auto backend = make_backend(spec);
    AttentionBackend& cache = *backend;
    GenerationOptions opt;
    opt.max_new_tokens = decode_tokens;
    opt.stop_at_eos = false;
    opt.prefill_chunk = 512;
    // Tokenizer only turns ids to bytes here; shape-only models have none, use a byte stand-in.
    std::optional<BpeTokenizer> fallback;
    const BpeTokenizer* tok = model.tokenizer ? &*model.tokenizer : nullptr;
    if (!tok) {
      TokenizerData d;
      d.tokens.resize(c.vocab_size, "?");
      fallback.emplace(d);
      tok = &*fallback;
    }
    generate(decoder, *tok, cache, {prompt.begin(), prompt.begin() + std::min<int64_t>(ctx, 8)}, opt);  // warm-up
    auto r = generate(decoder, *tok, cache, prompt, opt);
    const double prefill_tps = 1000.0 * ctx / r.prefill_ms;
    const double decode_tps = 1000.0 * (r.ids.size() - 1) / r.decode_ms;
    const auto* tiered = dynamic_cast<const TieredKvCache*>(&cache);
    const std::string path = tiered ? tiered->attention_path() : "dense";
    std::vector<double> step_ms;
    for (size_t i = 1; i < r.steps.size(); ++i) step_ms.push_back(r.steps[i].step_ms);
    std::sort(step_ms.begin(), step_ms.end());
    const double median_ms = step_ms.empty() ? 0.0 : step_ms[step_ms.size() / 2];
    const double first_ms = r.steps.size() > 1 ? r.steps[1].step_ms : 0.0;
    std::printf("%-9lld %14.1f %14.2f %14.2f %16.2f  %s\n", (long long)ctx, prefill_tps, decode_tps, 1000.0 / decode_tps,
                median_ms, path.c_str());
    j["results"].push_back({{"context", ctx}, {"prefill_ms", r.prefill_ms}, {"prefill_tokens_per_s", prefill_tps},
                            {"decode_tokens_per_s", decode_tps}, {"decode_ms_per_token", 1000.0 / decode_tps},
                            {"decode_median_step_ms", median_ms}, {"first_decode_step_ms", first_ms},
                            {"attention", path}});
  }
  if (!json_out.empty()) {
    std::ofstream f(json_out);
    if (!f) throw Error("cannot write " + json_out);
    f << j.dump(2) << "\n";
  }
  return 0;
}

kernels::AttnBenchCase parse_case(const std::string& s) {
  kernels::AttnBenchCase c;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%d,%d,%d,%d,%d%c", &c.ctx, &c.hq, &c.hkv, &c.d, &c.batch, &tail) != 5)
    throw Error("--case: '" + s + "' is not ctx,hq,hkv,d,batch (e.g. 65536,32,8,128,1)");
  return c;
}

int bench_attn(int runs, bool quick, const std::string& only, bool sdpa, const std::string& json_out) {
  if (runs < 1) throw Error("--runs must be >= 1");
  const auto cases = only.empty() ? kernels::attn_bench_grid(quick) : std::vector<kernels::AttnBenchCase>{parse_case(only)};
  if (!kernels::cuda_device_available())
    throw Error("skv bench attn needs a CUDA GPU (this build has " +
                std::string(SKV_BUILT_WITH_CUDA ? "CUDA, but no device is visible)" : "no CUDA)"));
  const kernels::GpuInfo gpu = kernels::gpu_info();
  const double copy_gbs = kernels::measure_copy_bandwidth_gbs();
  std::printf("device %s, %d SMs, device-to-device copy %.0f GB/s (read + write), %d runs per median\n",
              gpu.name.c_str(), gpu.sms, copy_gbs, runs);
  std::printf("ADA tier: %s\n", kernels::attn_bench_tier_name().c_str());
  const kernels::LaunchFloor floor = kernels::measure_launch_floor();
  std::printf("launch floor: an empty decode-shaped kernel %.2f us, with an empty dependent (merge-shaped) kernel %.2f us\n",
              floor.one_kernel_us, floor.with_dependent_us);
  nlohmann::json j;
  j["benchmark"] = "attn";
  j["device"] = gpu.name;
  j["sms"] = gpu.sms;
  j["copy_gbs"] = copy_gbs;
  j["runs"] = runs;
  j["launch_floor_one_kernel_us"] = floor.one_kernel_us;
  j["launch_floor_with_dependent_us"] = floor.with_dependent_us;
  j["ada_tier"] = kernels::attn_bench_tier_name();
  j["timing"] = "median of per-call CUDA event pairs, calls enqueued back to back behind a spinning kernel (no host gaps), input sets rotated past L2";
  j["results"] = nlohmann::json::array();
  std::printf("%7s %3s %4s %4s %2s | %8s %8s %7s %6s %8s | %8s %8s | %7s %7s | %8s %6s\n", "ctx", "hq", "hkv", "d", "B",
              "ada_us", "ada_MB", "GB/s", "%copy", "read_us", "dense_us", "sdpa_us", "x_sdpa", "x_dense", "enc_us", "enc%");
  for (const auto& c : cases) {
    const kernels::AttnBenchResult r = kernels::run_attn_bench_case(c, runs);
    SdpaTiming s;
    if (sdpa) s = time_torch_sdpa_fp16(c, runs);
    const double ada_gbs = r.ada_bytes / (r.ada_us * 1e-6) / 1e9;
    // A decode step adds one token per (sequence, kv head); a page is sealed (encoded) every 64.
    const double enc_us_per_step = r.encode_page_ns_per_token * c.batch * c.hkv * 1e-3;
    std::printf("%7d %3d %4d %4d %2d | %8.2f %8.2f %7.0f %5.1f%% %8.2f | %8.2f %8s | %7s %6.2fx | %8.2f %5.1f%%\n", c.ctx, c.hq,
                c.hkv, c.d, c.batch, r.ada_us, r.ada_bytes / 1e6, ada_gbs, 100.0 * ada_gbs / copy_gbs, r.read_us, r.dense_us,
                sdpa ? fmt_num(s.us, 2).c_str() : "-", sdpa ? (fmt_num(s.us / r.ada_us, 2) + "x").c_str() : "-",
                r.dense_us / r.ada_us, enc_us_per_step, 100.0 * enc_us_per_step / r.ada_us);
    std::fflush(stdout);
    nlohmann::json row{{"ctx", c.ctx}, {"hq", c.hq}, {"hkv", c.hkv}, {"d", c.d}, {"batch", c.batch},
                       {"ada_us", r.ada_us}, {"ada_split_v4_us", r.ada_split_us}, {"ada_v6_us", r.ada_v6_us}, {"ada_v5_us", r.ada_v5_us},
                       {"ada_bytes", r.ada_bytes},
                       {"ada_gbs", ada_gbs}, {"ada_pct_copy", 100.0 * ada_gbs / copy_gbs},
                       {"read_same_bytes_us", r.read_us},
                       {"dense_us", r.dense_us}, {"dense_bytes", r.dense_bytes},
                       {"dense_gbs", r.dense_bytes / (r.dense_us * 1e-6) / 1e9},
                       {"speedup_vs_dense", r.dense_us / r.ada_us},
                       {"encode_one_token_all_heads_us", r.encode_one_token_us},
                       {"encode_page_ns_per_token", r.encode_page_ns_per_token},
                       {"encode_us_per_step", enc_us_per_step},
                       {"encode_pct_of_ada_step", 100.0 * enc_us_per_step / r.ada_us},
                       {"sets_ada", r.sets_ada}, {"sets_dense", r.sets_dense}};
    if (sdpa) {
      row["sdpa_us"] = s.us;
      row["sdpa_kv_bytes"] = s.kv_bytes;
      row["sdpa_gbs"] = s.kv_bytes / (s.us * 1e-6) / 1e9;
      row["sdpa_pct_copy"] = 100.0 * s.kv_bytes / (s.us * 1e-6) / 1e9 / copy_gbs;
      row["speedup_vs_sdpa"] = s.us / r.ada_us;
      row["sets_sdpa"] = s.sets;
    }
    j["results"].push_back(row);
    if (!json_out.empty()) {  // rewritten after every row: a long grid that dies keeps what it measured
      std::ofstream f(json_out);
      if (!f) throw Error("cannot write " + json_out);
      f << j.dump(2) << "\n";
    }
  }
  return 0;
}

}  // namespace

Handler add_bench(CLI::App& app) {
  struct Opts {
    std::string model = "default", contexts = "512,4096", device = "auto", json;
    int64_t decode_tokens = 32;
    int runs = 60;
    bool quick = false, no_sdpa = false;
    std::string only, attn_json;
    BackendSpec spec;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("bench", "Benchmarks (print a table, write JSON)");
  cmd->require_subcommand(1);
  auto* dec = cmd->add_subcommand("decode", "Prefill and decode tokens/s of the built-in decoder");
  dec->add_option("--model", o->model, "default | model.gguf | HF dir | shape-only .json")->capture_default_str();
  dec->add_option("--context", o->contexts, "Comma-separated context lengths")->capture_default_str();
  dec->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  dec->add_option("--decode-tokens", o->decode_tokens, "Tokens decoded per context")->capture_default_str();
  dec->add_option("--kv", o->spec.kv, "KV cache: dense | ada (one tier, --tier)")->capture_default_str();
  dec->add_option("--tier", o->spec.tier, "--kv ada: the tier")->capture_default_str();
  dec->add_option("--attention", o->spec.cache.attention, "--kv ada on cuda: auto | cuda | reference")->capture_default_str();
  dec->add_option("--json", o->json, "Write the results to this JSON file");

  auto* att = cmd->add_subcommand("attn", "ADA decode attention vs our dense fp16 kernel and torch SDPA fp16 (GPU)");
  att->add_option("--runs", o->runs, "Calls per median")->capture_default_str();
  att->add_flag("--quick", o->quick, "Contexts 4k and 64k only");
  att->add_option("--case", o->only, "Run one case: ctx,hq,hkv,d,batch (e.g. 65536,32,8,128,1)");
  att->add_flag("--no-sdpa", o->no_sdpa, "Skip the torch SDPA baseline");
  att->add_option("--json", o->attn_json, "Write the results to this JSON file");
  return [o, dec, att]() {
    if (dec->parsed()) {
      if (o->spec.kv != "dense" && o->spec.kv != "ada") throw Error("bench decode: --kv must be dense or ada");
      return bench_decode(o->model, o->contexts, o->device, o->decode_tokens, o->spec, o->json);
    }
    if (att->parsed()) return bench_attn(o->runs, o->quick, o->only, !o->no_sdpa, o->attn_json);
    return 1;
  };
}

}  // namespace skv::cli
