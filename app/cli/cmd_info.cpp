// skv info: the model's architecture and tensor table.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/cli/cli_commands.h"
#include "core/model/weight_source.h"

namespace skv::cli {

Handler add_info(CLI::App& app) {
  struct Opts {
    std::string model = "default";
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("info", "Print the model's architecture and tensor table");
  cmd->add_option("--model", o->model, "default | model.gguf | HF checkpoint dir | shape-only .json")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print JSON");
  return [o]() {
    auto w = open_weight_source(o->model);
    const auto& c = w->config();
    auto tensors = w->describe();
    if (o->json) {
      nlohmann::json j;
      j["config"] = model_config_to_json(c);
      j["identity"] = w->identity();
      for (const auto& t : tensors)
        j["tensors"].push_back({{"name", t.name}, {"shape", t.shape}, {"dtype", t.dtype}, {"bytes", t.bytes}});
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("model        %s (%s)\n", c.name.c_str(), w->identity().c_str());
    std::printf("architecture %s, %lld layers, hidden %lld, ffn %lld, vocab %lld, context %lld\n", c.architecture.c_str(),
                (long long)c.n_layers, (long long)c.hidden, (long long)c.ffn_hidden, (long long)c.vocab_size,
                (long long)c.context_length);
    std::printf("attention    %lld query / %lld kv heads of dim %lld, rope theta %g (%s pairs), rms eps %g, %s embeddings\n",
                (long long)c.n_heads, (long long)c.n_kv_heads, (long long)c.head_dim, c.rope_theta,
                c.rope_style == RopeStyle::Interleaved ? "interleaved" : "half-split", c.rms_eps,
                c.tied_embeddings ? "tied" : "separate");
    std::printf("kv cache     %lld bytes/token at fp16\n", (long long)c.fp16_kv_bytes_per_token());
    uint64_t total = 0;
    std::printf("\n%-32s %-8s %14s  %s\n", "tensor", "type", "bytes", "shape");
    for (const auto& t : tensors) {
      std::string shape;
      for (auto s : t.shape) shape += (shape.empty() ? "" : " x ") + std::to_string(s);
      std::printf("%-32s %-8s %14llu  %s\n", t.name.c_str(), t.dtype.c_str(), (unsigned long long)t.bytes, shape.c_str());
      total += t.bytes;
    }
    std::printf("%zu tensors, %.1f MB\n", tensors.size(), total / 1e6);
    return 0;
  };
}

}  // namespace skv::cli
