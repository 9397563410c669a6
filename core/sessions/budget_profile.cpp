#include "core/sessions/budget_profile.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/common/error.h"
#include "core/sessions/atomic_file.h"
#include "core/sessions/number_text.h"
#include "core/sessions/session.h"

namespace skv {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kMethod =
    "per-layer KL attribution kl_l(b) = KL(b) * e_l(b)^2 / sum_k e_k(b)^2 from uniform-budget sweep cells "
    "(e_l = attention-output relative error of layer l), then an exact multiple-choice knapsack minimizing "
    "sum_l bytes_l(b_l) subject to sum_l kl_l(b_l) <= target (KL discretized upward, so the prediction is "
    "never below the sum)";

struct LayerOption {
  double budget = 0, kl = 0, bytes = 0;
};

}  // namespace

double BudgetProfile::layer_budget(int64_t layer) const {
  if (layer < 0 || layer >= static_cast<int64_t>(layer_budgets.size()))
    throw Error("budget profile of " + model + " covers " + std::to_string(layer_budgets.size()) +
                " layers, not layer " + std::to_string(layer));
  return layer_budgets[static_cast<std::size_t>(layer)];
}

std::vector<double> BudgetProfile::layer_shares() const {
  double sum = 0;
  for (double b : layer_budgets) sum += b;
  std::vector<double> out(layer_budgets.size(), 0);
  for (std::size_t l = 0; l < out.size(); ++l) out[l] = sum > 0 ? layer_budgets[l] / sum : 0;
  return out;
}

json budget_profile_to_json(const BudgetProfile& p) {
  json j = {{"format", "skv-budget-profile"},
          {"format_version", kBudgetProfileFormatVersion},
          {"model", p.model},
          {"model_identity", p.model_identity},
          {"policy", p.policy},
          {"budget_kind", "fraction_of_fp16_layer_cache"},
          {"target_kl", p.target_kl},
          {"predicted_kl", p.predicted_kl},
          {"layer_budgets", p.layer_budgets},
          {"layer_shares", p.layer_shares()},
          {"mean_budget", p.mean_budget},
          {"uniform_budget", p.uniform_budget < 0 ? json(nullptr) : json(p.uniform_budget)},
          {"predicted_bytes_vs_uniform", p.predicted_bytes_vs_uniform},
          {"method", p.method},
          {"source", p.source}};
  if (!p.model_shape.is_null()) j["model_shape"] = p.model_shape;
  if (!p.layer_sensitivity.empty()) {
    j["layer_sensitivity"] = p.layer_sensitivity;
    j["sensitivity"] = p.sensitivity;
  }
  return j;
}

BudgetProfile budget_profile_from_json(const json& j, const std::string& what) {
  BudgetProfile p;
  try {
    if (!j.is_object() || j.value("format", "") != "skv-budget-profile")
      throw Error(what + ": not a budget profile (no \"format\": \"skv-budget-profile\")");
    const int v = j.at("format_version").get<int>();
    if (v != kBudgetProfileFormatVersion)
      throw Error(what + ": budget profile format version " + std::to_string(v) + " is not the version this skv reads (" +
                  std::to_string(kBudgetProfileFormatVersion) + ")");
    if (j.value("budget_kind", "fraction_of_fp16_layer_cache") != "fraction_of_fp16_layer_cache")
      throw Error(what + ": budget_kind '" + j["budget_kind"].get<std::string>() + "' is not supported");
    p.model = j.value("model", "");
    p.model_identity = j.value("model_identity", "");
    if (j.contains("model_shape")) p.model_shape = j["model_shape"];
    p.policy = j.value("policy", "");
    p.target_kl = j.value("target_kl", 0.0);
    p.predicted_kl = j.value("predicted_kl", 0.0);
    p.layer_budgets = j.at("layer_budgets").get<std::vector<double>>();
    p.mean_budget = j.value("mean_budget", 0.0);
    p.uniform_budget = j.contains("uniform_budget") && j["uniform_budget"].is_number() ? j["uniform_budget"].get<double>() : -1;
    p.predicted_bytes_vs_uniform = j.value("predicted_bytes_vs_uniform", 0.0);
    p.method = j.value("method", "");
    p.source = j.value("source", json::object());
    if (j.contains("layer_sensitivity")) p.layer_sensitivity = j.at("layer_sensitivity").get<std::vector<double>>();
    p.sensitivity = j.value("sensitivity", json::object());
  } catch (const json::exception& e) {
    throw Error(what + ": malformed budget profile (" + std::string(e.what()) + ")");
  }
  if (p.layer_budgets.empty()) throw Error(what + ": layer_budgets is empty");
  for (std::size_t l = 0; l < p.layer_budgets.size(); ++l)
    if (!(p.layer_budgets[l] > 0 && p.layer_budgets[l] <= 1))
      throw Error(what + ": layer " + std::to_string(l) + " budget " + std::to_string(p.layer_budgets[l]) +
                  " is outside (0, 1]");
  if (!p.layer_sensitivity.empty() && p.layer_sensitivity.size() != p.layer_budgets.size())
    throw Error(what + ": " + std::to_string(p.layer_sensitivity.size()) + " layer sensitivities for " +
                std::to_string(p.layer_budgets.size()) + " layers");
  for (double w : p.layer_sensitivity)
    if (!(w > 0) || !std::isfinite(w)) throw Error(what + ": layer sensitivities must be finite and > 0");
  return p;
}

BudgetProfile read_budget_profile(const fs::path& path) {
  json j;
  try {
    j = json::parse(read_file_text(path));
  } catch (const json::exception& e) {
    throw Error(path.string() + ": corrupt or truncated JSON (" + std::string(e.what()) + ")");
  }
  return budget_profile_from_json(j, path.string());
}

fs::path find_budget_profile(const std::string& name_or_path) {
  const fs::path p = name_or_path;
  if (fs::is_regular_file(p)) return p;
#ifdef SKV_ASSETS_DIR
  const fs::path asset = fs::path(SKV_ASSETS_DIR) / "profiles" / (name_or_path + ".json");
  if (fs::is_regular_file(asset)) return asset;
#endif
  throw Error("budget profile '" + name_or_path + "': no such file, and no assets/profiles/" + name_or_path + ".json");
}

void save_budget_profile(const fs::path& path, const BudgetProfile& p) {
  if (path.has_parent_path()) make_directories_durable(path.parent_path());
  write_file_atomic(path, budget_profile_to_json(p).dump(2) + "\n");
}

BudgetProfile tune_budget_profile(const SweepTable& sweep, const TuneOptions& o) {
  if (!(o.target_kl > 0)) throw Error("--target-kl must be > 0");
  std::string policy = o.policy;
  if (policy.empty())
    for (const auto& r : sweep.rows)
      if (!r.per_layer.empty() && r.metrics.count("kl_mean")) {
        policy = r.policy;
        break;
      }
  std::vector<const SweepRow*> rows;
  for (const auto& r : sweep.rows)
    if (r.policy == policy) rows.push_back(&r);
  if (rows.empty()) throw Error("the sweep has no cells of policy '" + policy + "' with per-layer results");
  const std::size_t n_layers = rows.front()->per_layer.size();
  if (n_layers == 0) throw Error("sweep cells of policy '" + policy + "' carry no per-layer data (per_layer is empty)");

  // options[l] = one entry per swept budget.
  std::vector<std::vector<LayerOption>> options(n_layers);
  for (const SweepRow* r : rows) {
    if (!r->metrics.count("kl_mean")) throw Error("cell " + policy + "@" + std::to_string(r->budget) + " has no kl_mean");
    if (r->per_layer.size() != n_layers) throw Error("cells of policy '" + policy + "' disagree on the layer count");
    const double kl = std::max(0.0, r->metrics.at("kl_mean"));
    double e2sum = 0;
    for (const auto& L : r->per_layer) e2sum += std::pow(L.value("attn_rel_error", 0.0), 2);
    for (std::size_t l = 0; l < n_layers; ++l) {
      const json& L = r->per_layer[l];
      const double e2 = std::pow(L.value("attn_rel_error", 0.0), 2);
      LayerOption opt;
      opt.budget = r->budget;
      // Without any error signal, spread the KL evenly.
      opt.kl = e2sum > 0 ? kl * e2 / e2sum : kl / double(n_layers);
      // Bytes of the layer at this budget: measured resident bytes when the cell has them,
      // else the budget itself (a fraction of a layer's full cache; layers are the same size).
      opt.bytes = L.contains("resident_bytes") ? L["resident_bytes"].get<double>() : r->budget;
      options[l].push_back(opt);
    }
  }

  // Multiple-choice knapsack: dp[k] = fewest bytes with total discretized KL k (<= bins).
  const int bins = std::max(10, o.kl_bins);
  const double unit = o.target_kl / bins;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> dp(bins + 1, kInf), next(bins + 1);
  std::vector<std::vector<int>> choice(n_layers, std::vector<int>(bins + 1, -1));
  dp[0] = 0;
  for (std::size_t l = 0; l < n_layers; ++l) {
    std::fill(next.begin(), next.end(), kInf);
    for (int k = 0; k <= bins; ++k) {
      if (dp[k] == kInf) continue;
      for (std::size_t c = 0; c < options[l].size(); ++c) {
        const double w = std::ceil(options[l][c].kl / unit - 1e-9);
        if (k + w > bins) continue;
        const int k2 = k + static_cast<int>(w);
        const double b = dp[k] + options[l][c].bytes;
        if (b < next[k2]) {
          next[k2] = b;
          choice[l][k2] = static_cast<int>(c);
        }
      }
    }
    dp.swap(next);
  }
  int best = -1;
  for (int k = 0; k <= bins; ++k)
    if (dp[k] < kInf && (best < 0 || dp[k] < dp[best])) best = k;
  if (best < 0) {
    double kl_min = 0;
    for (const auto& opts : options) {
      double m = kInf;
      for (const auto& x : opts) m = std::min(m, x.kl);
      kl_min += m;
    }
    throw Error("no per-layer choice of the swept budgets meets --target-kl " + shortest(o.target_kl) +
                " (the lowest estimate is " + printf_string("%.4g", kl_min) + "); sweep larger budgets or relax the target");
  }
  BudgetProfile p;
  p.layer_budgets.assign(n_layers, 0);
  double bytes = 0;
  for (int l = static_cast<int>(n_layers) - 1, k = best; l >= 0; --l) {
    const int c = choice[l][k];
    const LayerOption& x = options[l][c];
    p.layer_budgets[l] = x.budget;
    p.predicted_kl += x.kl;
    bytes += x.bytes;
    k -= static_cast<int>(std::ceil(x.kl / unit - 1e-9));
  }
  double sum = 0;
  for (double b : p.layer_budgets) sum += b;
  p.mean_budget = sum / double(n_layers);
  // The smallest uniform budget whose measured KL meets the target, for comparison.
  for (const SweepRow* r : rows)
    if (r->metrics.at("kl_mean") <= o.target_kl && (p.uniform_budget < 0 || r->budget < p.uniform_budget)) {
      p.uniform_budget = r->budget;
      double ub = 0;
      for (const auto& L : r->per_layer) ub += L.contains("resident_bytes") ? L["resident_bytes"].get<double>() : r->budget;
      p.predicted_bytes_vs_uniform = ub > 0 ? bytes / ub : 0;
    }
  p.model = sweep.spec.model_name.empty() ? sweep.spec.model : sweep.spec.model_name;
  // The identity without the directory of the file it was read from ("gguf:NAME.gguf#HASH"): the
  // content hash identifies the weights, and a profile in assets/ names no path of one machine.
  p.model_identity = sweep.spec.model_identity;
  if (auto colon = p.model_identity.find(':'), hash = p.model_identity.rfind('#');
      colon != std::string::npos && hash != std::string::npos && hash > colon) {
    const std::string path = p.model_identity.substr(colon + 1, hash - colon - 1);
    p.model_identity = p.model_identity.substr(0, colon + 1) + fs::path(path).filename().string() + p.model_identity.substr(hash);
  }
  p.policy = policy;
  p.target_kl = o.target_kl;
  p.method = kMethod;
  RunEnvironment env = capture_environment();
  p.source = {{"sweep_text", sweep.spec.text}, {"budgets", sweep.spec.budgets}, {"sweep_options", sweep.spec.options},
              {"created_utc", utc_now_iso8601()},
              {"tool_version", env.tool_version}, {"git_revision", env.git_revision}};
  return p;
}

}  // namespace skv
