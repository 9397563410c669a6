// skv sweep: the policies x budgets grid of teacher-forced fidelity runs (skv eval's FidelityRun),
// one JSON per cell under DIR/cells, resumable and shardable; skv merge joins shards.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cli/cli_commands.h"
#include "app/cli/cli_inputs.h"
#include "app/cli/policy_entry.h"
#include "core/cache/backend_factory.h"
#include "core/common/error.h"
#include "core/decoder/device_choice.h"
#include "core/metrics/fidelity.h"
#include "core/model/model_bundle.h"
#include "core/policies/peer_policies.h"
#include "core/sessions/budget_profile.h"
#include "core/sessions/number_text.h"
#include "core/sessions/sweep.h"

namespace skv::cli {
namespace {

CellResult to_cell(const FidelityResult& r) {
  CellResult c;
  c.metrics = {{"kl_mean", r.kl},
               {"kl_max", r.kl_max},
               {"top1_agreement", r.top1},
               {"ppl", r.ppl},
               {"ppl_full", r.ppl_full},
               {"ppl_delta", r.ppl_delta},
               {"resident_bytes", r.resident_bytes},
               {"resident_max_fraction", r.resident_max_fraction},
               {"budget_max_ratio", r.budget_max_ratio},
               {"full_fp16_bytes", r.full_bytes},
               {"bytes_read_per_step", r.read_bytes},
               {"compression", r.resident_bytes > 0 ? r.full_bytes / r.resident_bytes : 0.0},
               {"attn_rel_error_mean", r.attention_error_mean},
               {"steps", r.steps},
               {"seconds", r.seconds}};
  auto err = r.attention_error.to(at::kDouble).contiguous();
  for (int64_t l = 0; l < (err.defined() ? err.size(0) : 0); ++l) {
    const double* p = err[l].data_ptr<double>();
    double s2 = 0;
    std::vector<double> heads(p, p + err.size(1));
    for (double x : heads) s2 += x * x;
    c.per_layer.push_back({{"layer", l}, {"attn_rel_error", std::sqrt(s2 / double(heads.size()))}, {"attn_rel_error_heads", heads}});
  }
  for (std::size_t t = 0; t < r.tier_share.size() && t < r.tier_names.size(); ++t) c.metrics["tier_share_" + r.tier_names[t]] = r.tier_share[t];
  return c;
}

}  // namespace

Handler add_sweep(CLI::App& app) {
  struct Opts {
    std::string model = "default", policies = "rdr", budgets = "0.5,0.25,0.125", text, out, shard = "0/1", device = "auto";
    std::string tiers = "default_set", profile;
    int64_t max_tokens = 2048, steps = 128, hot = 32, sinks = 4, retier = 64;
    bool quiet = false, layer_uniform = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("sweep", "Run the policies x budgets grid (resumable, shardable)");
  cmd->add_option("--model", o->model, "default | model.gguf | HF checkpoint dir")->capture_default_str();
  cmd->add_option("--policies", o->policies, "Comma list of policies (skv eval --policy names, ada:TIER; per-entry "
                  "overrides as in skv eval --compare, e.g. rdr~profile=none)")->capture_default_str();
  cmd->add_option("--budgets", o->budgets, "Comma list of budgets, fractions of the fp16 cache")->capture_default_str();
  cmd->add_option("--text", o->text, "Reference text: a path or a file name of assets/texts")->required();
  cmd->add_option("--out", o->out, "Sweep directory (cells/*.json; an existing one is resumed)")->required();
  cmd->add_option("--shard", o->shard, "i/N: run the cells whose index modulo N is i")->capture_default_str();
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens of the text used")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Compared decode steps at the end of the text")->capture_default_str();
  cmd->add_option("--tiers", o->tiers, "Tier set for rdr/rdkv")->capture_default_str();
  cmd->add_option("--hot-window", o->hot, "Newest tokens kept fp16")->capture_default_str();
  cmd->add_option("--sinks", o->sinks, "First tokens kept fp16")->capture_default_str();
  cmd->add_option("--retier-every", o->retier, "Re-tiering period in decode steps")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "No progress bar");
  auto* profile = cmd->add_option("--profile", o->profile, "rdr: per-layer budget profile: auto (default: the model's own "
                                  "in assets/profiles, if one is made for it), none, or a name of assets/profiles or a path");
  cmd->add_flag("--layer-uniform", o->layer_uniform,
                "rdr: hold every layer at the cell's budget (equal shares of the page budget) instead of one global "
                "allocation across layers; the per-layer model of skv tune assumes this")->excludes(profile);
  return [o]() {
    const Shard shard = parse_shard(o->shard);
    SweepSpec spec;
    spec.model = o->model;
    spec.policies = split_list(o->policies);
    for (const auto& b : split_list(o->budgets)) {
      try {
        spec.budgets.push_back(std::stod(b));
      } catch (...) {
        throw Error("--budgets: '" + b + "' is not a number (use fractions, e.g. 0.5,0.25)");
      }
      if (!(spec.budgets.back() > 0 && spec.budgets.back() <= 1)) throw Error("--budgets: " + b + " is not in (0, 1]");
    }
    spec.text = o->text;
    spec.options = {{"max_tokens", o->max_tokens}, {"steps", o->steps}, {"tiers", o->tiers},
                    {"hot_window", o->hot}, {"sinks", o->sinks}, {"retier_every", o->retier}};
    if (o->layer_uniform) spec.options["layer_uniform"] = true;  // (absent otherwise: older sweeps resume)
    ModelBundle model = open_model(o->model);
    spec.model_identity = model.weights->identity();
    spec.model_name = model.weights->config().name;

    // The model and the shared prefill are made on the first cell that needs running, so a
    // resumed sweep with nothing left costs no model load.
    std::unique_ptr<LlamaDecoder> decoder;
    std::unique_ptr<FidelityRun> run;
    BackendSpec base;
    base.kv = "rdr";
    base.cache.hot_window = o->hot;
    base.cache.sink_tokens = o->sinks;
    base.cache.retier_every = o->retier;
    base.policy_options.tiers = o->tiers;
    base.policy_options.profile = o->profile;
    if (o->layer_uniform) {
      // Equal layer budgets as a budget profile in the sweep directory (the RDR policy reads its
      // layer_shares: each layer gets 1/L of the page budget).
      BudgetProfile u;
      u.model = spec.model_name;
      u.policy = "rdr";
      u.layer_budgets.assign(static_cast<std::size_t>(model.weights->config().n_layers), 1.0);
      u.mean_budget = 1.0;
      u.method = "equal layer shares (skv sweep --layer-uniform)";
      const std::filesystem::path f = std::filesystem::path(o->out) / "layer_uniform_profile.json";
      save_budget_profile(f, u);
      base.policy_options.profile = f.string();
    }
    // RDR's settings are part of the sweep's identity: a sweep run under other RDR defaults (before
    // rdr_defaults.h) or another profile does not resume into this one. Bad entries fail here.
    nlohmann::json rdr_entries = nlohmann::json::object();
    for (const auto& p : spec.policies) {
      BackendSpec check = base;
      apply_policy_entry(p, check);
      const std::string prof = check_policy_profile(check, model.weights->config());
      if (prof != "-" && check.policy != "rdkv") {
        const RdrOptions r = rdr_options(check.policy, check.policy_options);
        rdr_entries[p] = {{"utility", r.utility}, {"utility_power", r.utility_power}, {"sensitivity", r.sensitivity},
                          {"profile", prof.empty() ? std::string("none") : std::filesystem::path(prof).filename().string()}};
      }
    }
    if (!rdr_entries.empty()) spec.options["rdr"] = rdr_entries;
    CellRunner runner = [&](const SweepCell& cell) {
      if (!run) {
        const auto device = choose_device(o->device);
        decoder = std::make_unique<LlamaDecoder>(*model.weights, device);
        auto ids = model.require_tokenizer().encode(read_reference_text(o->text));
        if (int64_t(ids.size()) > o->max_tokens) ids.resize(size_t(o->max_tokens));
        if (int64_t(ids.size()) < o->steps + 64)
          throw Error("text has " + std::to_string(ids.size()) + " tokens; need at least --steps + 64");
        FidelityOptions fo;
        fo.prefix_tokens = int64_t(ids.size()) - o->steps;
        fo.steps = o->steps;
        run = std::make_unique<FidelityRun>(*decoder, ids, fo);
        if (!o->quiet) std::fprintf(stderr, "\r[sweep] prefill and full-cache reference on %s...\n", device_description(device).c_str());
        run->prepare(base.cache);
      }
      BackendSpec s = base;
      s.budget = shortest(cell.budget);
      apply_policy_entry(cell.policy, s);
      return to_cell(run->evaluate(s));
    };
    auto stats = run_sweep(o->out, spec, shard, runner, [&](const SweepProgress& p) {
      if (!o->quiet) std::fprintf(stderr, "\r%s\033[K", progress_bar(p).c_str());
    });
    if (!o->quiet) std::fprintf(stderr, "\n");
    std::printf("%lld cells run, %lld already done, %lld in other shards -> %s\n", (long long)stats.ran,
                (long long)stats.skipped, (long long)stats.not_in_shard, o->out.c_str());
    return 0;
  };
}

}  // namespace skv::cli
