// skv codec-eval: the distortion-rate lab. Collects the model's real post-RoPE keys, values and
// queries on a text (one prefill through the exact cache), then compares every tier format,
// the CPU-only codecs and the scalar baselines at exact stored bits (core/codecs/codec_eval.h).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "app/cli/cli_commands.h"
#include "app/cli/cli_inputs.h"
#include "core/codecs/codec_eval.h"
#include "core/common/error.h"
#include "core/decoder/dense_kv_cache.h"
#include "core/decoder/llama_decoder.h"
#include "core/model/model_bundle.h"

namespace skv::cli {
namespace {

std::vector<float> to_vector(const at::Tensor& t) {
  auto c = t.to(at::kCPU, at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Per (layer, kv head) samples from one prefill: keys/values [T, d], queries [T, group, d].
std::vector<codecs::HeadSample> collect_samples(LlamaDecoder& decoder, const std::vector<int32_t>& ids) {
  const auto& c = decoder.config();
  const int64_t T = ids.size(), group = c.n_heads / c.n_kv_heads;
  std::vector<codecs::HeadSample> samples;
  decoder.set_observer([&](const AttentionCall& call) {
    for (int64_t h = 0; h < c.n_kv_heads; ++h) {
      codecs::HeadSample s;
      s.layer = static_cast<int>(call.layer);
      s.kv_head = static_cast<int>(h);
      s.tokens = static_cast<int>(T);
      s.head_dim = static_cast<int>(c.head_dim);
      s.group = static_cast<int>(group);
      s.keys = to_vector(call.k[0][h]);
      s.values = to_vector(call.v[0][h]);
      // query heads h*group .. h*group+group-1 -> [T, group, d]
      s.queries = to_vector(call.q[0].narrow(0, h * group, group).transpose(0, 1));
      samples.push_back(std::move(s));
    }
  });
  DenseKvCache cache;
  cache.reset(c, 1, T, decoder.device());
  c10::InferenceMode guard;
  auto idt = at::tensor(std::vector<int64_t>(ids.begin(), ids.end())).reshape({1, T});
  decoder.forward(idt, 0, cache, /*last_only=*/true);
  decoder.set_observer(nullptr);
  return samples;
}

// Attention-output relative error per layer (columns) of the rows at the design's default
// structure (sinks 4, page mean, rotation, no window) and of the baselines at window 0.
void print_per_layer(const codecs::CodecEvalTable& t) {
  std::printf("\nattention-output relative error per layer (sinks4, window 0; sphere rows +mean+rot)\n%-34s", "method");
  for (const auto& [layer, rows] : t.per_layer) std::printf(" %6d", layer);
  std::printf("\n");
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const bool def = row.structure.window == 0 && row.structure.sink_tokens == 4 &&
                     (!row.structure_applies || (row.structure.page_mean && row.structure.rotation && !row.structure.channel_scale));
    if (!def) continue;
    std::printf("%-34s", row.method.c_str());
    for (const auto& [layer, rows] : t.per_layer) std::printf(" %6.4f", rows[r].out_rel_err);
    std::printf("\n");
  }
}

void print_table(const codecs::CodecEvalTable& t) {
  std::printf("%-34s %-30s %6s %9s %9s %9s %9s\n", "method", "structure", "bits", "key mse", "logit err",
              "out err", "KL");
  for (const auto& r : t.rows)
    std::printf("%-34s %-30s %6.3f %9.4f %9.4f %9.4f %9.5f\n", r.method.c_str(),
                r.structure_applies ? r.structure.label().c_str() : ("(" + r.structure.label() + ")").c_str(),
                r.bits, r.key_rel_mse, r.logit_rel_err, r.out_rel_err, r.kl);
}

}  // namespace

Handler add_codec_eval(CLI::App& app) {
  struct Opts {
    std::string model = "default", text = std::string(SKV_ASSETS_DIR) + "/texts/prose_lighthouse.txt", json;
    int64_t max_tokens = 1024;
    int eval_queries = 256;
    bool per_layer = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("codec-eval", "Distortion-rate table of every codec on the model's real keys/values");
  cmd->add_option("--model", o->model, "default | model.gguf | HF checkpoint dir")->capture_default_str();
  cmd->add_option("--text", o->text, "Text whose prefill supplies keys, values and queries")->capture_default_str();
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens of the text used")->capture_default_str();
  cmd->add_option("--eval-queries", o->eval_queries, "Last query positions scored")->capture_default_str();
  cmd->add_flag("--per-layer", o->per_layer,
                "Also print the per-layer attention-output error (the JSON always has per_layer)");
  cmd->add_option("--json", o->json, "Write the full table to this JSON file");
  return [o]() {
    ModelBundle model = open_model(o->model);
    const BpeTokenizer& tok = model.require_tokenizer();
    auto ids = tok.encode(read_reference_text(o->text));
    if (static_cast<int64_t>(ids.size()) > o->max_tokens) ids.resize(o->max_tokens);
    if (static_cast<int64_t>(ids.size()) <= o->eval_queries)
      throw Error("text gives " + std::to_string(ids.size()) + " tokens; need more than --eval-queries (" +
                  std::to_string(o->eval_queries) + ")");
    LlamaDecoder decoder(*model.weights, at::Device(at::kCPU));
    auto samples = collect_samples(decoder, ids);
    codecs::CodecEvalOptions opt;
    opt.eval_queries = o->eval_queries;
    const auto t0 = std::chrono::steady_clock::now();
    auto table = codecs::run_codec_eval(samples, opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("codec-eval: %s, %zu tokens of %s, %d (layer, kv head) samples, last %d queries\n",
                decoder.config().name.c_str(), ids.size(), o->text.c_str(), table.samples, table.eval_queries);
    print_table(table);
    if (o->per_layer) print_per_layer(table);
    std::fprintf(stderr, "codec-eval: table in %.1f s\n", secs);
    nlohmann::json j = codecs::to_json(table);
    j["model"] = model.weights->identity();
    j["text"] = o->text;
    j["tokens"] = ids.size();
    j["seconds"] = secs;
    if (!o->json.empty()) {
      std::ofstream f(o->json);
      if (!f) throw Error("cannot write " + o->json);
      f << j.dump(2) << "\n";
    }
    return 0;
  };
}

}  // namespace skv::cli
