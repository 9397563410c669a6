// skv generate: run the model on a prompt, print the text or one JSON object.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli/cli_commands.h"
#include "app/cli/policy_entry.h"
#include "core/cache/backend_factory.h"
#include "core/common/error.h"
#include "core/decoder/device_choice.h"
#include "core/decoder/generator.h"
#include "core/model/model_bundle.h"
#include "core/sessions/budget_profile.h"

namespace skv::cli {

Handler add_generate(CLI::App& app) {
  struct Opts {
    std::string model = "default", prompt, device = "auto";
    bool chat = false, json = false;
    int64_t max_new = 64;
    double temperature = 0, top_p = 1;
    uint64_t seed = 0;
    std::string kv = "dense", tier = "k3v4", policy = "rdr", budget = "0.25", profile, attention = "auto";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("generate", "Generate text with the built-in decoder");
  cmd->add_option("--model", o->model, "default | model.gguf | HF checkpoint dir | shape-only .json")->capture_default_str();
  cmd->add_option("--prompt", o->prompt, "Prompt text")->required();
  cmd->add_flag("--chat", o->chat, "Wrap the prompt in the model's chat template");
  cmd->add_option("--max-new-tokens", o->max_new, "Tokens to generate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_option("--temperature", o->temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-p", o->top_p, "Nucleus mass")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--kv", o->kv, "KV cache: dense | ada (one tier, --tier) | rdr (--policy, --budget)")->capture_default_str();
  cmd->add_option("--tier", o->tier, "--kv ada: the tier (assets/tiers name, or kivi2 / kivi4)")->capture_default_str();
  cmd->add_option("--attention", o->attention, "--kv ada on cuda: auto (the CUDA kernels where they run) | cuda | "
                  "reference (the CPU reference code)")->capture_default_str();
  cmd->add_option("--policy", o->policy, "--kv rdr: retention policy (rdr, snapkv, h2o, kivi2, ...)")->capture_default_str();
  auto* budget = cmd->add_option("--budget", o->budget, "--kv rdr: budget, fraction of the fp16 cache (0.25) or bytes (64MiB)")->capture_default_str();
  cmd->add_option("--profile", o->profile, "--kv rdr --policy rdr: per-layer budget profile: auto (default: the model's "
                  "own in assets/profiles, if one is made for it), none, or a name of assets/profiles or a path (from skv "
                  "tune; then the budget defaults to its mean_budget)");
  cmd->add_flag("--json", o->json, "Print one JSON object: prompt_ids, ids, text, top");
  return [o, budget]() {
    auto device = choose_device(o->device);
    ModelBundle model = open_model(o->model);
    const BpeTokenizer& tok = model.require_tokenizer();
    std::string text = o->chat ? tok.apply_chat_template({{"user", o->prompt}}, true) : o->prompt;
    auto prompt_ids = tok.encode(text);
    LlamaDecoder decoder(*model.weights, device);
    BackendSpec spec;
    spec.kv = o->kv;
    spec.tier = o->tier;
    spec.policy = o->policy;
    spec.budget = o->budget;
    spec.cache.attention = o->attention;
    if (!o->profile.empty() && o->profile != "auto" && o->profile != kRdrNoProfile) {
      if (spec.kv != "rdr" || (spec.policy != "rdr" && spec.policy != "rdr-c"))
        throw Error("--profile needs --kv rdr --policy rdr");
      spec.policy_options.profile = find_budget_profile(o->profile).string();
      if (budget->count() == 0) spec.budget = std::to_string(read_budget_profile(spec.policy_options.profile).mean_budget);
    } else {
      spec.policy_options.profile = o->profile;
    }
    check_policy_profile(spec, decoder.config());  // a profile for another model fails before the prompt runs
    auto backend = make_backend(spec);
    AttentionBackend& cache = *backend;
    GenerationOptions opt;
    opt.max_new_tokens = o->max_new;
    opt.sampling = {o->temperature, o->top_p, o->seed};
    GenerationCallbacks cb;
    if (!o->json) cb.on_token = [](const GeneratedToken& t) { std::fwrite(t.piece.data(), 1, t.piece.size(), stdout); std::fflush(stdout); };
    auto r = generate(decoder, tok, cache, prompt_ids, opt, cb);
    const auto* tiered = dynamic_cast<const TieredKvCache*>(&cache);
    const std::string attention = tiered ? tiered->attention_path() : "dense";
    if (!o->json) {
      std::printf("\n");
      std::fprintf(stderr, "[%zu prompt tokens, %zu generated, prefill %.1f ms, decode %.1f tok/s, %s, attention: %s]\n",
                   r.prompt_ids.size(), r.ids.size(), r.prefill_ms,
                   r.ids.size() > 1 ? 1000.0 * (r.ids.size() - 1) / r.decode_ms : 0.0,
                   device_description(device).c_str(), attention.c_str());
      return 0;
    }
    nlohmann::json j;
    j["prompt_ids"] = r.prompt_ids;
    j["ids"] = r.ids;
    j["text"] = r.text;
    auto& top = j["top"] = nlohmann::json::array();
    for (const auto& s : r.steps) {
      auto row = nlohmann::json::array();
      for (auto [id, logit] : s.top) row.push_back({{"id", id}, {"logit", logit}});
      top.push_back(row);
    }
    j["prefill_ms"] = r.prefill_ms;
    j["decode_ms"] = r.decode_ms;
    j["device"] = device_description(device);
    j["attention"] = attention;
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  };
}

}  // namespace skv::cli
