#pragma once
// Per-model budget profiles (assets/profiles/MODEL.json): a cache budget per layer that meets a
// fidelity target at the fewest bytes, chosen by `skv tune` from a sweep. The RDR policy loads the
// file's "layer_shares" (core/policies/rdr_policy.h load_budget_profile: each layer's share of the
// page budget) and runs at the total budget "mean_budget"; the rest is provenance.
// docs/SESSION_FORMAT.md ("Budget profiles") documents the file and the method.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/sessions/sweep.h"

namespace skv {

inline constexpr int kBudgetProfileFormatVersion = 1;

struct BudgetProfile {
  std::string model;           // ModelConfig::name
  std::string model_identity;  // of the sweep it was tuned on
  // Architecture and shape of the model it is for (core/policies' profile_model_shape); RDR loads
  // a shipped profile by default only for a model of this name and shape. Null: not recorded.
  nlohmann::json model_shape;
  std::string policy;          // the policy whose sweep cells it was tuned from
  double target_kl = 0;        // nats per token, mean over the reference text
  double predicted_kl = 0;     // the method's estimate for this profile
  // Per layer, index = layer: the budget as a fraction of that layer's full fp16 cache.
  std::vector<double> layer_budgets;
  // layer_budgets normalized to sum 1: what core/policies' loader reads.
  std::vector<double> layer_shares() const;
  double mean_budget = 0;             // bytes-weighted mean (layers are the same size: plain mean)
  double uniform_budget = -1;         // smallest swept uniform budget meeting the target, -1: none
  double predicted_bytes_vs_uniform = 0;  // profile bytes / uniform_budget bytes
  std::string method;
  nlohmann::json source = nlohmann::json::object();  // sweep dirs, tool version, git revision, time
  // Optional (`skv calibrate-sensitivity`): per-layer next-token KL per unit squared attention-
  // output error, RDR's default distortion weights (core/policies/rdr_policy.h), and how they were
  // measured. Empty: none. Written as "layer_sensitivity" / "sensitivity" only when present.
  std::vector<double> layer_sensitivity;
  nlohmann::json sensitivity = nlohmann::json::object();

  // Budget of one layer; throws skv::Error for a layer the profile does not cover.
  double layer_budget(int64_t layer) const;
};

nlohmann::json budget_profile_to_json(const BudgetProfile& p);
// Validates everything (version, one budget in (0, 1] per layer); errors name `what`.
BudgetProfile budget_profile_from_json(const nlohmann::json& j, const std::string& what);
// (core/policies' load_budget_profile reads the same file's layer_shares for the RDR policy.)
BudgetProfile read_budget_profile(const std::filesystem::path& path);
// `name_or_path`: an existing file, or NAME of assets/profiles/NAME.json (the RDR policy's lookup).
// Throws skv::Error naming both places when neither exists.
std::filesystem::path find_budget_profile(const std::string& name_or_path);
void save_budget_profile(const std::filesystem::path& path, const BudgetProfile& p);  // atomic

struct TuneOptions {
  std::string policy;      // "" = the first policy of the sweep with per-layer data
  double target_kl = 0.01;
  int kl_bins = 4000;      // resolution of the knapsack over the KL target
};
// Chooses one swept budget per layer (see the .cpp: KL attributed to layers by squared attention
// error, then an exact multiple-choice knapsack over a discretized KL). Throws skv::Error when
// the sweep lacks per-layer data or no choice meets the target.
BudgetProfile tune_budget_profile(const SweepTable& sweep, const TuneOptions& options);

}  // namespace skv
