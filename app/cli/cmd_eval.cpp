// skv eval: teacher-forced fidelity of compressed KV caches against the full cache on a reference
// text or a passkey (needle) task; prints a table, optionally one JSON file.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/cli/cli_commands.h"
#include "app/cli/cli_inputs.h"
#include "app/cli/policy_entry.h"
#include "core/cache/backend_factory.h"
#include "core/common/error.h"
#include "core/decoder/device_choice.h"
#include "core/metrics/fidelity.h"
#include "core/metrics/needle_task.h"
#include "core/model/model_bundle.h"
#include "core/policies/rdr_defaults.h"

namespace skv::cli {
namespace {

nlohmann::json to_json(const FidelityResult& r) {
  nlohmann::json j{{"policy", r.policy},
                   {"budget", r.budget},
                   {"steps", r.steps},
                   {"kl", r.kl},
                   {"kl_max", r.kl_max},
                   {"kl_steps", r.kl_steps},
                   {"top1", r.top1},
                   {"ppl_full", r.ppl_full},
                   {"ppl", r.ppl},
                   {"ppl_delta", r.ppl_delta},
                   {"resident_bytes", r.resident_bytes},
                   {"resident_max_fraction", r.resident_max_fraction},
                   {"budget_max_ratio", r.budget_max_ratio},
                   {"full_fp16_bytes", r.full_bytes},
                   {"read_bytes_per_step", r.read_bytes},
                   {"attention_error_mean", r.attention_error_mean},
                   {"correct_targets", r.correct_targets},
                   {"correct_targets_full", r.correct_targets_full},
                   {"seconds", r.seconds}};
  auto err = r.attention_error.to(at::kDouble).contiguous();
  auto rows = nlohmann::json::array();
  for (int64_t l = 0; l < err.size(0); ++l) {
    std::vector<double> row(err[l].data_ptr<double>(), err[l].data_ptr<double>() + err.size(1));
    rows.push_back(row);
  }
  j["attention_error"] = rows;
  nlohmann::json share;
  for (size_t t = 0; t < r.tier_share.size(); ++t) share[r.tier_names[t]] = r.tier_share[t];
  j["tier_share"] = share;
  j["layer_fraction"] = r.layer_fraction;
  return j;
}

}  // namespace

Handler add_eval(CLI::App& app) {
  struct Opts {
    std::string model = "default", policy = "rdr", budget = "0.25", text, task, json_out, compare, device = "cpu";
    std::string tiers = "default_set", tier = "k3v4", utility, profile, completion, sensitivity;
    int64_t max_tokens = 2048, steps = 128, hot = 32, sinks = 4, retier = 64, obs = 32;
    double depth = 0.5, utility_power = kRdrDefaultUtilityPower, layer_cap = 0;
    uint64_t seed = 1;
    bool decoded = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("eval", "Teacher-forced fidelity of compressed KV caches vs the full cache");
  cmd->add_option("--model", o->model, "default | model.gguf | HF checkpoint dir")->capture_default_str();
  cmd->add_option("--policy", o->policy, "Retention policy: rdr, rdr-c, rdkv, full, streaming, h2o, snapkv, pyramidkv, tri, kivi2, kivi4, quest, quest-c, ada:TIER")->capture_default_str();
  cmd->add_option("--budget", o->budget, "Cache budget: fraction (0.25), percent (25%) or bytes (64MiB)")->capture_default_str();
  auto* text = cmd->add_option("--text", o->text, "Reference text: a path or a file name of assets/texts");
  cmd->add_option("--task", o->task, "Built-in task: needle (passkey retrieval over filler text)")->excludes(text);
  cmd->add_option("--json", o->json_out, "Write every result as JSON to this file");
  cmd->add_option("--compare", o->compare, "Comma list of policies to run on the same prefill (ada:TIER for one tier; "
                  "NAME~sens=V~util=U~power=G~profile=P overrides rdr options per entry, e.g. rdr~profile=none)");
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens of the text used (prefix + compared steps)")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Compared (teacher-forced decode) steps at the end of the text")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_option("--tiers", o->tiers, "Tier set or list for rdr/rdkv (assets/tiers)")->capture_default_str();
  cmd->add_option("--tier", o->tier, "Tier of --policy ada")->capture_default_str();
  cmd->add_option("--utility", o->utility, std::string("rdr utility estimator: snapkv, obs, h2o, tri, recency, sink or a "
                  "blend a*0.7+b*0.3 (default ") + kRdrDefaultUtility + "; rdkv: " + kRdkvDefaultUtility + ")");
  auto* power = cmd->add_option("--utility-power", o->utility_power,
                                "rdr: exponent of the utility in D_j(t) (default for rdr; rdkv: 1)")
                    ->capture_default_str()->check(CLI::Range(0.0, 16.0));
  cmd->add_option("--profile", o->profile, "rdr: per-layer budget profile: auto (default: the model's own in "
                  "assets/profiles, if one is made for it), none, or a name of assets/profiles or a path");
  cmd->add_option("--sensitivity", o->sensitivity,
                  "rdr: per-layer distortion weights: auto (the model's profile in assets/profiles if it has "
                  "layer_sensitivity; default for rdr), off (default for rdkv), or a profile name/path");
  cmd->add_option("--layer-cap", o->layer_cap, "rdr: cap per layer as a fraction of its fp16 bytes (0 = none)")->capture_default_str();
  cmd->add_option("--completion", o->completion, "Override completion of dropped tokens: prf | off");
  cmd->add_option("--hot-window", o->hot, "Newest tokens kept fp16")->capture_default_str();
  cmd->add_option("--sinks", o->sinks, "First tokens kept fp16")->capture_default_str();
  cmd->add_option("--retier-every", o->retier, "Re-tiering period in decode steps")->capture_default_str();
  cmd->add_option("--obs-window", o->obs, "Queries in the observation window")->capture_default_str();
  cmd->add_option("--depth", o->depth, "needle: depth of the pass key in [0, 1]")->capture_default_str();
  cmd->add_option("--seed", o->seed, "needle: pass key seed")->capture_default_str();
  cmd->add_flag("--decoded-scoring", o->decoded, "Score sealed keys by explicit decode instead of the ADA LUT (faster, same math)");
  cmd->add_flag("--quiet", o->quiet, "No progress on stderr");
  return [o, power]() {
    if (o->text.empty() && o->task.empty()) throw Error("eval needs --text FILE or --task needle");
    if (!o->task.empty() && o->task != "needle") throw Error("unknown --task '" + o->task + "' (use needle)");
    auto device = choose_device(o->device);
    ModelBundle model = open_model(o->model);
    const BpeTokenizer& tok = model.require_tokenizer();
    LlamaDecoder decoder(*model.weights, device);
    const auto& c = decoder.config();
    std::vector<int32_t> ids;
    int64_t prefix = 0, steps = o->steps;
    std::string source;
    if (o->task == "needle") {
      std::string filler = read_reference_text(o->text.empty() ? "prose_lighthouse.txt" : o->text);
      NeedleTask t = make_needle_task(tok, filler, std::min(o->max_tokens, c.context_length), o->depth, o->seed);
      ids = t.ids;
      prefix = t.prompt_tokens;
      steps = t.answer_tokens;
      source = "needle(key " + t.pass_key + ", depth " + std::to_string(o->depth) + ", " + std::to_string(ids.size()) + " tokens)";
    } else {
      ids = tok.encode(read_reference_text(o->text));
      if (int64_t(ids.size()) > o->max_tokens) ids.resize(size_t(o->max_tokens));
      if (int64_t(ids.size()) < steps + 64)
        throw Error("text has " + std::to_string(ids.size()) + " tokens; need at least --steps + 64");
      prefix = int64_t(ids.size()) - steps;
      source = o->text + " (" + std::to_string(ids.size()) + " tokens)";
    }
    BackendSpec base;
    base.kv = "rdr";
    base.budget = o->budget;
    base.tier = o->tier;
    base.cache.hot_window = o->hot;
    base.cache.sink_tokens = o->sinks;
    base.cache.retier_every = o->retier;
    base.cache.obs_window = o->obs;
    base.cache.lut_scoring = !o->decoded;
    base.cache.completion = o->completion;
    base.policy_options.tiers = o->tiers;
    base.policy_options.utility = o->utility;
    if (power->count() > 0) base.policy_options.utility_power = o->utility_power;
    base.policy_options.layer_cap = o->layer_cap;
    base.policy_options.profile = o->profile;
    base.policy_options.sensitivity = o->sensitivity;
    std::vector<std::string> policies = o->compare.empty() ? std::vector<std::string>{o->policy} : split_list(o->compare);
    std::vector<std::string> profiles;  // per entry: the budget profile it runs with
    for (const auto& p : policies) {  // malformed overrides and bad profiles fail now, not after the prefill
      BackendSpec check = base;
      apply_policy_entry(p, check);
      profiles.push_back(check_policy_profile(check, c));
    }
    FidelityOptions fo;
    fo.prefix_tokens = prefix;
    fo.steps = steps;
    FidelityRun run(decoder, ids, fo);
    if (!o->quiet) std::fprintf(stderr, "[eval] %s on %s; prefill %lld tokens...\n", source.c_str(),
                                device_description(device).c_str(), (long long)(prefix - 1));
    run.prepare(base.cache);
    if (!o->quiet) std::fprintf(stderr, "[eval] prefill %.1f s, full-cache reference %lld steps %.1f s\n",
                                run.prefill_seconds(), (long long)steps, run.reference_seconds());
    std::vector<FidelityResult> results;
    for (const auto& p : policies) {
      BackendSpec s = base;
      apply_policy_entry(p, s);
      results.push_back(run.evaluate(s));
      results.back().policy = p;
      const auto& r = results.back();
      if (!o->quiet) std::fprintf(stderr, "[eval] %-10s done in %.1f s\n", r.policy.c_str(), r.seconds);
    }
    std::printf("%s, %lld compared steps, budget %s\n", source.c_str(), (long long)steps, o->budget.c_str());
    std::printf("%-12s %8s %9s %9s %7s %9s %9s %9s %8s %8s  %s\n", "policy", "bytes%", "max%", "KL", "top1", "ppl",
                "dppl", "attn_err", "read%", "hits", "tiers");
    for (const auto& r : results) {
      std::string tiers;
      for (size_t t = 0; t < r.tier_share.size(); ++t)
        if (r.tier_share[t] > 0.0005) {
          char b[64];
          std::snprintf(b, sizeof b, "%s%s %.1f%%", tiers.empty() ? "" : ", ", r.tier_names[t].c_str(), 100 * r.tier_share[t]);
          tiers += b;
        }
      std::printf("%-12s %7.2f%% %8.2f%% %9.5f %6.1f%% %9.4f %+9.4f %9.4f %7.2f%% %4lld/%-3lld  %s\n", r.policy.c_str(),
                  100 * r.resident_bytes / r.full_bytes, 100 * r.resident_max_fraction, r.kl, 100 * r.top1, r.ppl,
                  r.ppl_delta, r.attention_error_mean, 100 * r.read_bytes / r.full_bytes, (long long)r.correct_targets,
                  (long long)r.steps, tiers.c_str());
    }
    std::string profile_line;
    for (size_t i = 0; i < results.size(); ++i)
      if (profiles[i] != "-")
        profile_line += (profile_line.empty() ? "" : ", ") + results[i].policy + " " +
                        (profiles[i].empty() ? std::string("none") : std::filesystem::path(profiles[i]).filename().string());
    if (!profile_line.empty()) std::printf("budget profiles: %s\n", profile_line.c_str());
    if (!results.empty())
      std::printf("full cache: ppl %.4f, %lld/%lld true tokens top-1\n", results[0].ppl_full,
                  (long long)results[0].correct_targets_full, (long long)steps);
    if (!o->json_out.empty()) {
      nlohmann::json j{{"source", source}, {"model", o->model}, {"device", device_description(device)},
                       {"budget", o->budget}, {"steps", steps}, {"prefix_tokens", prefix},
                       {"hot_window", o->hot}, {"sinks", o->sinks}, {"retier_every", o->retier},
                       {"lut_scoring", !o->decoded},
                       {"sensitivity", o->sensitivity.empty() ? "default (rdr auto, rdkv off)" : o->sensitivity},
                       {"utility", o->utility.empty() ? "default" : o->utility},
                       {"rdr_defaults", {{"utility", kRdrDefaultUtility}, {"utility_power", kRdrDefaultUtilityPower},
                                         {"profile", kRdrDefaultProfile}, {"sensitivity", kRdrDefaultSensitivity}}}};
      for (size_t i = 0; i < results.size(); ++i) {
        auto r = to_json(results[i]);
        if (profiles[i] != "-") r["profile"] = profiles[i].empty() ? "none" : std::filesystem::path(profiles[i]).filename().string();
        j["results"].push_back(r);
      }
      std::ofstream out(o->json_out);
      if (!out) throw Error("cannot write " + o->json_out);
      out << j.dump(2) << "\n";
    }
    return 0;
  };
}

}  // namespace skv::cli
