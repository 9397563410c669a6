// skv tune: per-layer budgets meeting a KL target at the fewest bytes, from a sweep's cells.
#include <cstdio>

#include "app/cli/cli_commands.h"
#include "core/common/error.h"
#include "core/sessions/budget_profile.h"

namespace skv::cli {

Handler add_tune(CLI::App& app) {
  struct Opts {
    std::vector<std::string> sweeps;
    std::string out, policy;
    double target_kl = 0.01;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("tune", "Pick per-layer budgets from a sweep (writes a budget profile)");
  cmd->add_option("--sweep", o->sweeps, "Sweep directory (repeat for shards)")->required();
  cmd->add_option("--target-kl", o->target_kl, "Mean KL(full || compressed) allowed, nats")->capture_default_str();
  cmd->add_option("--policy", o->policy, "Policy whose cells are used (default: the first with per-layer data)");
  cmd->add_option("--out", o->out, "Profile JSON, e.g. assets/profiles/MODEL.json")->required();
  return [o]() {
    std::vector<std::filesystem::path> dirs(o->sweeps.begin(), o->sweeps.end());
    SweepTable t = merge_sweeps(dirs);
    TuneOptions opt;
    opt.policy = o->policy;
    opt.target_kl = o->target_kl;
    if (!t.spec.options.value("layer_uniform", false))
      std::fprintf(stderr, "warning: the sweep was not run with --layer-uniform: its cells allocate the budget across layers "
                           "(one global RDR solve), so a layer's error at budget b is not its error when it alone gets b; "
                           "the predicted KL is optimistic. Re-run the sweep with --layer-uniform.\n");
    BudgetProfile p = tune_budget_profile(t, opt);
    p.source["sweep_dirs"] = o->sweeps;
    // Re-tuning keeps the sensitivity weights an existing profile carries (skv calibrate-sensitivity).
    if (std::filesystem::is_regular_file(o->out)) {
      try {
        BudgetProfile old = read_budget_profile(o->out);
        if (old.layer_sensitivity.size() == p.layer_budgets.size()) {
          p.layer_sensitivity = old.layer_sensitivity;
          p.sensitivity = old.sensitivity;
        }
        if (old.model == p.model) p.model_shape = old.model_shape;
      } catch (const Error&) {
        // not a readable profile: overwritten as before
      }
    }
    save_budget_profile(o->out, p);
    std::printf("%s, policy %s: %zu layers, mean budget %.4g, predicted KL %.4g (target %.4g)", p.model.c_str(),
                p.policy.c_str(), p.layer_budgets.size(), p.mean_budget, p.predicted_kl, p.target_kl);
    if (p.uniform_budget > 0)
      std::printf(", %.1f%% of the bytes of uniform budget %g", 100 * p.predicted_bytes_vs_uniform, p.uniform_budget);
    std::printf(" -> %s\n", o->out.c_str());
    return 0;
  };
}

}  // namespace skv::cli
