// skv calibrate-sensitivity: per-layer next-token KL per unit squared attention-output error
// (core/metrics/layer_sensitivity.h), written into the model's budget profile as
// "layer_sensitivity", which RDR then uses by default to weight its distortions.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cli/cli_commands.h"
#include "app/cli/cli_inputs.h"
#include "core/common/error.h"
#include "core/decoder/device_choice.h"
#include "core/metrics/layer_sensitivity.h"
#include "core/model/model_bundle.h"
#include "core/policies/rdr_policy.h"
#include "core/sessions/budget_profile.h"
#include "core/sessions/session.h"

namespace skv::cli {
namespace {

}  // namespace

Handler add_calibrate(CLI::App& app) {
  struct Opts {
    std::string model = "default", texts = "prose_lighthouse.txt,code_event_queue.txt", out, device = "cpu";
    std::string perturbation = "drop";
    double drop_fraction = 0.5;
    int64_t tokens = 1024, scored = 64;
    double epsilon = 0.1;
    int draws = 4;
    uint64_t seed = 1;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("calibrate-sensitivity",
                                 "Measure per-layer KL sensitivity to attention-output error (RDR's distortion weights)");
  cmd->add_option("--model", o->model, "default | model.gguf | HF checkpoint dir | shape-only JSON")->capture_default_str();
  cmd->add_option("--text", o->texts, "Calibration texts, comma list (paths or file names of assets/texts)")->capture_default_str();
  cmd->add_option("--tokens", o->tokens, "Tokens of each text used (prefix + scored)")->capture_default_str();
  cmd->add_option("--scored", o->scored, "Perturbed and scored positions at the end of each text's tokens")->capture_default_str();
  cmd->add_option("--perturbation", o->perturbation,
                  "drop (random prefix tokens removed from one layer's attention) | noise (isotropic, --epsilon)")
      ->capture_default_str();
  cmd->add_option("--drop-fraction", o->drop_fraction, "drop: share of the droppable prefix tokens removed")->capture_default_str();
  cmd->add_option("--epsilon", o->epsilon, "noise: relative size of the perturbation of each head's output")->capture_default_str();
  cmd->add_option("--draws", o->draws, "Random perturbation directions per layer")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the directions")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_option("--out", o->out,
                  "Budget profile to write the weights into (created with uniform layer budgets when absent), "
                  "e.g. assets/profiles/MODEL.json")->required();
  return [o]() {
    if (o->tokens < o->scored + 1) throw Error("--tokens must exceed --scored");
    auto device = choose_device(o->device);
    ModelBundle model = open_model(o->model);
    const BpeTokenizer& tok = model.require_tokenizer();
    LlamaDecoder decoder(*model.weights, device);
    const auto& c = decoder.config();
    SensitivityOptions so;
    so.scored_tokens = o->scored;
    so.epsilon = o->epsilon;
    so.draws = o->draws;
    so.seed = o->seed;
    so.perturbation = o->perturbation;
    so.drop_fraction = o->drop_fraction;
    std::vector<LayerSensitivity> parts;
    std::vector<std::string> names;
    std::stringstream ss(o->texts);
    for (std::string t; std::getline(ss, t, ',');) {
      if (t.empty()) continue;
      auto ids = tok.encode(read_reference_text(t));
      if (int64_t(ids.size()) > o->tokens) ids.resize(size_t(o->tokens));
      if (int64_t(ids.size()) <= o->scored)
        throw Error("text '" + t + "' has " + std::to_string(ids.size()) + " tokens; need more than --scored");
      std::fprintf(stderr, "[calibrate] %s: %zu tokens, %lld scored, %d draws x %lld layers...\n", t.c_str(), ids.size(),
                   (long long)o->scored, o->draws, (long long)c.n_layers);
      parts.push_back(measure_layer_sensitivity(decoder, ids, so));
      names.push_back(t);
    }
    if (parts.empty()) throw Error("--text names no text");
    LayerSensitivity s = combine_layer_sensitivity(parts);
    for (size_t l = 0; l < s.weight.size(); ++l)
      if (!(s.weight[l] > 0))
        throw Error("layer " + std::to_string(l) + ": measured sensitivity is " + std::to_string(s.weight[l]) +
                    " (no KL from the perturbation; raise --epsilon)");
    std::printf("%-6s %12s %12s %12s %12s\n", "layer", "weight", "KL", "err^2", "|o|^2");
    for (size_t l = 0; l < s.weight.size(); ++l)
      std::printf("%-6zu %12.5g %12.5g %12.5g %12.5g\n", l, s.weight[l], s.kl[l], s.error2[l], s.output2[l]);

    BudgetProfile p;
    const std::filesystem::path out = o->out;
    if (std::filesystem::is_regular_file(out)) {
      p = read_budget_profile(out);
      if (p.layer_budgets.size() != s.weight.size())
        throw Error(out.string() + " covers " + std::to_string(p.layer_budgets.size()) + " layers, the model has " +
                    std::to_string(s.weight.size()));
      if (!p.model.empty() && p.model != c.name)
        throw Error(out.string() + " is the profile of '" + p.model + "', not of '" + c.name + "'");
    } else {
      p.model = c.name;
      p.policy = "rdr";
      p.layer_budgets.assign(s.weight.size(), 1.0);
      p.mean_budget = 1.0;
      p.method = "no per-layer budgets tuned (uniform shares); file written by skv calibrate-sensitivity";
    }
    if (p.model.empty()) p.model = c.name;
    p.model_shape = profile_model_shape(c);
    p.layer_sensitivity = s.weight;
    RunEnvironment env = capture_environment();
    const std::string how =
        o->perturbation == "drop"
            ? "layer l's scored queries attend over the prefix with a random drop_fraction of its tokens removed (first 4 "
              "and newest 32 kept)"
            : "layer l's attention output o of every scored position and query head replaced by o + epsilon |o| xi (xi a "
              "random unit vector)";
    p.sensitivity = {{"method", "perturbation of one layer at a time: " + how +
                                    "; weight = sum KL(full || perturbed) / sum |o~ - o|^2 (mean over scored positions, "
                                    "summed over query heads): nats per unit squared attention-output error"},
                     {"perturbation", o->perturbation}, {"drop_fraction", o->drop_fraction},
                     {"texts", names}, {"tokens_per_text", o->tokens}, {"scored_tokens", o->scored},
                     {"epsilon", o->epsilon}, {"draws", o->draws}, {"seed", o->seed},
                     {"device", device_description(device)}, {"kl", s.kl}, {"error2", s.error2},
                     {"output2", s.output2}, {"created_utc", utc_now_iso8601()},
                     {"tool_version", env.tool_version}, {"git_revision", env.git_revision}};
    save_budget_profile(out, p);
    std::printf("%s: %zu layer sensitivities -> %s\n", c.name.c_str(), s.weight.size(), out.string().c_str());
    return 0;
  };
}

}  // namespace skv::cli
