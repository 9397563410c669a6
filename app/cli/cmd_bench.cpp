// skv bench decode: prefill and decode throughput of the built-in decoder at given contexts.
// A benchmark, not a test: it prints a table and writes JSON; figures go to docs/BENCHMARKS.md.
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/cli/cli_commands.h"
#include "core/common/error.h"
#include "core/decoder/dense_kv_cache.h"
#include "core/decoder/device_choice.h"
#include "core/decoder/generator.h"
#include "core/model/model_bundle.h"

namespace skv::cli {
namespace {

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
                 int64_t decode_tokens, const std::string& json_out) {
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
  std::printf("%-9s %14s %14s %14s\n", "context", "prefill tok/s", "decode tok/s", "ms/token");
  for (int64_t ctx : parse_list(contexts)) {
    if (ctx + decode_tokens > c.context_length)
      throw Error("context " + std::to_string(ctx) + " + " + std::to_string(decode_tokens) +
                  " decode tokens exceeds the model's context of " + std::to_string(c.context_length));
    // Ordinary (non-special) token ids, seeded: the numbers do not depend on the text.
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> pick(100, static_cast<int32_t>(c.vocab_size) - 1);
    std::vector<int32_t> prompt(ctx);
    for (auto& id : prompt) id = pick(rng);
    DenseKvCache cache;
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
    std::printf("%-9lld %14.1f %14.2f %14.2f\n", (long long)ctx, prefill_tps, decode_tps, 1000.0 / decode_tps);
    j["results"].push_back({{"context", ctx}, {"prefill_ms", r.prefill_ms}, {"prefill_tokens_per_s", prefill_tps},
                            {"decode_tokens_per_s", decode_tps}, {"decode_ms_per_token", 1000.0 / decode_tps}});
  }
  if (!json_out.empty()) {
    std::ofstream f(json_out);
    if (!f) throw Error("cannot write " + json_out);
    f << j.dump(2) << "\n";
  }
  return 0;
}

}  // namespace

Handler add_bench(CLI::App& app) {
  struct Opts {
    std::string model = "default", contexts = "512,4096", device = "auto", json;
    int64_t decode_tokens = 32;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("bench", "Benchmarks (print a table, write JSON)");
  cmd->require_subcommand(1);
  auto* dec = cmd->add_subcommand("decode", "Prefill and decode tokens/s of the built-in decoder");
  dec->add_option("--model", o->model, "default | model.gguf | HF dir | shape-only .json")->capture_default_str();
  dec->add_option("--context", o->contexts, "Comma-separated context lengths")->capture_default_str();
  dec->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  dec->add_option("--decode-tokens", o->decode_tokens, "Tokens decoded per context")->capture_default_str();
  dec->add_option("--json", o->json, "Write the results to this JSON file");
  return [o, dec]() {
    if (dec->parsed()) return bench_decode(o->model, o->contexts, o->device, o->decode_tokens, o->json);
    return 1;
  };
}

}  // namespace skv::cli
