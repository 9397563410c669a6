// Policy panel: which retention policy, its budget, its tiers, and per-model profiles.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <imgui.h>
#include <nlohmann/json.hpp>

#include "app/studio/studio_panels.h"
#include "app/studio/studio_paths.h"
#include <implot.h>

#include "core/codecs/tier_format.h"
#include "core/sessions/budget_profile.h"

namespace skv::studio {
namespace fs = std::filesystem;
namespace {

// A tier format of assets/tiers as the editor shows it; loaded through core/codecs' validating
// loader, so what the table says is what the cache will use.
struct TierRow {
  std::string name, description, key, value, error;
  double bytes_per_token_per_head = 0;  // exact, from the page layout (page metadata included)
};

const std::vector<std::string>& tier_names_on_disk() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::directory_iterator it(codecs::default_tiers_dir(), ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".json" && !it->path().stem().string().ends_with("_set")) out.push_back(it->path().stem().string());
    std::sort(out.begin(), out.end());
    return out;
  }();
  return names;
}

const char* kind_name(kernels::KeyKind k) {
  switch (k) {
    case kernels::KeyKind::kFp16: return "fp16";
    default: break;
  }
  return nullptr;
}

TierRow describe_tier(const std::string& name, int64_t head_dim) {
  static std::map<std::pair<std::string, int64_t>, TierRow> cache;
  auto key = std::make_pair(name, head_dim);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  TierRow row;
  row.name = name;
  try {
    const auto f = codecs::load_tier_format(codecs::default_tiers_dir() / (name + ".json"));
    row.description = f.description;
    const std::string kc = f.key_codec_spec(), vc = f.value_codec_spec();
    row.key = kc.empty() ? (kind_name(f.key_kind) ? kind_name(f.key_kind) : "fp16") : kc;
    row.value = vc.empty() ? "fp16" : vc;
    if (head_dim > 0) row.bytes_per_token_per_head = codecs::tier_rate(f, static_cast<int>(head_dim)).bytes_per_token_per_head;
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  cache[key] = row;
  return row;
}

std::string profile_path(const std::string& model_name) {
  std::string safe;
  for (char c : model_name) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return (fs::path(config_dir()) / "profiles" / ((safe.empty() ? "model" : safe) + ".json")).string();
}

nlohmann::json to_json(const PolicySettings& p, const std::string& model) {
  nlohmann::json j;
  j["model"] = model;
  j["policy"] = policy_info(p.kind).id;
  j["budget_percent"] = p.budget_percent;
  j["tiers"] = p.tiers;
  j["hot_window"] = p.hot_window;
  j["sink_tokens"] = p.sink_tokens;
  j["retier_every"] = p.retier_every;
  j["utility"] = p.utility;
  j["utility_power"] = p.utility_power;
  j["completion"] = p.completion;
  j["kivi_bits"] = p.kivi_bits;
  j["profile"] = p.profile;
  return j;
}

// Validates every field before returning; throws std::runtime_error naming the bad one.
PolicySettings from_json(const nlohmann::json& j) {
  PolicySettings p;
  const std::string id = j.at("policy").get<std::string>();
  bool found = false;
  for (const auto& info : policy_catalog())
    if (id == info.id) p.kind = info.kind, found = true;
  if (!found) throw std::runtime_error("unknown policy '" + id + "'");
  p.budget_percent = j.at("budget_percent").get<float>();
  if (!(p.budget_percent > 0 && p.budget_percent <= 100)) throw std::runtime_error("budget_percent must be in (0, 100]");
  p.tiers = j.at("tiers").get<std::vector<std::string>>();
  if (p.tiers.empty()) throw std::runtime_error("a profile needs at least one tier");
  p.hot_window = j.at("hot_window").get<int>();
  p.sink_tokens = j.at("sink_tokens").get<int>();
  p.retier_every = j.at("retier_every").get<int>();
  if (p.hot_window < 0 || p.sink_tokens < 0 || p.retier_every < 1) throw std::runtime_error("hot_window, sink_tokens, retier_every out of range");
  p.utility = j.at("utility").get<std::string>();
  p.utility_power = j.value("utility_power", kRdrDefaultUtilityPower);
  if (!(p.utility_power >= 0)) throw std::runtime_error("utility_power must be >= 0");
  p.completion = j.at("completion").get<bool>();
  p.kivi_bits = j.value("kivi_bits", 2);
  // Settings saved before "auto" existed wrote "" for "no profile".
  p.profile = j.value("profile", std::string(kRdrDefaultProfile));
  if (p.profile.empty()) p.profile = kRdrNoProfile;
  return p;
}

void scan_profiles(PolicyPanelState& st) {
  st.profiles = shipped_profiles();
  std::error_code ec;
  for (fs::directory_iterator it(fs::path(config_dir()) / "profiles", ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".json") st.profiles.push_back(it->path().string());
  st.profiles_scanned = true;
}

// Applies a budget profile (core/sessions' reader validates it): RDR splits the page budget over
// layers by its layer_shares and runs at its mean budget. A profile the Studio saved also carries
// the Studio's other policy settings (source.studio_policy).
void apply_profile(PolicyPanelState& st, const std::string& path, const std::string& model) {
  const BudgetProfile prof = read_budget_profile(path);
  PolicySettings& p = st.edit;
  if (prof.source.contains("studio_policy")) p = from_json(prof.source["studio_policy"]);
  p.profile = path;
  p.budget_percent = static_cast<float>(std::clamp(prof.mean_budget * 100.0, 1.0, 100.0));
  st.layer_budgets = prof.layer_budgets;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s: %zu layers, mean budget %.1f %%, target KL %.3g (predicted %.3g), policy %s, %s",
                prof.model.c_str(), prof.layer_budgets.size(), prof.mean_budget * 100.0, prof.target_kl, prof.predicted_kl,
                prof.policy.c_str(), prof.method.c_str());
  st.profile_summary = buf;
  st.profile_status = "loaded " + path;
  if (!model.empty() && !prof.model.empty() && prof.model != model)
    st.profile_status += " (warning: tuned for " + prof.model + ", the loaded model is " + model + ")";
}

// Saves the current budget as a profile in assets/profiles' format: the loaded profile's per-layer
// split rescaled to this budget when it fits the model, else a uniform split.
void save_profile(PolicyPanelState& st, const StudioSnapshot& snap, const std::string& path) {
  const int64_t layers = snap.model.layers;
  if (layers <= 0) throw std::runtime_error("start a run first: a profile needs the model's layer count");
  const PolicySettings& p = st.edit;
  const double budget = p.budget_percent / 100.0;
  BudgetProfile prof;
  prof.model = snap.model.name;
  prof.policy = core_policy_name(p);
  std::vector<double> b(static_cast<size_t>(layers), budget);
  prof.method = "skv-studio: uniform budget";
  if (static_cast<int64_t>(st.layer_budgets.size()) == layers) {
    double mean = 0;
    for (double x : st.layer_budgets) mean += x / static_cast<double>(layers);
    if (mean > 0) {
      for (size_t l = 0; l < b.size(); ++l) b[l] = std::clamp(st.layer_budgets[l] * budget / mean, 1e-4, 1.0);
      prof.method = "skv-studio: loaded profile's split, rescaled to the chosen budget";
    }
  }
  prof.layer_budgets = b;
  double mean = 0;
  for (double x : b) mean += x / static_cast<double>(layers);
  prof.mean_budget = mean;
  prof.source = {{"tool", "skv-studio"}, {"studio_policy", to_json(p, prof.model)}};
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  save_budget_profile(path, prof);
  st.layer_budgets = b;
  st.profile_status = "saved " + path;
}

void draw_profile_section(PolicyPanelState& st, const StudioSnapshot& snap) {
  if (!st.profiles_scanned) scan_profiles(st);
  PolicySettings& p = st.edit;
  const std::string model = snap.model.name;
  const bool is_auto = p.profile == "auto", is_none = p.profile.empty() || p.profile == kRdrNoProfile;
  const std::string current =
      is_auto ? "auto (the model's own)" : is_none ? "none (one allocation)" : fs::path(p.profile).filename().string();
  ImGui::SetNextItemWidth(-ImGui::GetFontSize() * 4);
  if (ImGui::BeginCombo("##profile", current.c_str())) {
    if (ImGui::Selectable("auto (the model's own)", is_auto)) {
      p.profile = "auto";
      st.layer_budgets.clear();
      st.profile_summary.clear();
      st.profile_status.clear();
    }
    help_tooltip("The default (as in skv eval): RDR uses the shipped profile of assets/profiles made for the loaded model "
                 "(same name and shape), if there is one, at the budget set above; other models get none.");
    if (ImGui::Selectable("none (one allocation)", is_none)) {
      p.profile = kRdrNoProfile;
      st.layer_budgets.clear();
      st.profile_summary.clear();
      st.profile_status.clear();
    }
    help_tooltip("No profile (skv eval --profile none): one Lagrange multiplier across all layers decides every layer's share.");
    for (const auto& path : st.profiles)
      if (ImGui::Selectable(fs::path(path).filename().string().c_str(), path == p.profile)) {
        try {
          apply_profile(st, path, model);
        } catch (const std::exception& e) {
          st.profile_status = std::string("error: ") + e.what();
        }
      }
    ImGui::EndCombo();
  }
  help_tooltip("A per-layer budget profile (assets/profiles, from `skv tune`, or one you saved): RDR gives each layer its "
               "share of the byte budget. Runs from the next start.");
  ImGui::SameLine();
  if (ImGui::Button("Rescan")) scan_profiles(st);
  help_tooltip("Look again in assets/profiles and your config folder's profiles/.");

  const std::string path = profile_path(model.empty() ? "default" : model);
  if (ImGui::Button("Save profile")) {
    try {
      save_profile(st, snap, path);
      scan_profiles(st);
    } catch (const std::exception& e) {
      st.profile_status = std::string("error: ") + e.what();
    }
  }
  help_tooltip("Save this budget (and the policy settings) as this model's budget profile, in assets/profiles' format, "
               "in your config folder (profiles/<model>.json).");
  ImGui::SameLine();
  if (ImGui::Button("Load profile")) {
    try {
      if (!fs::exists(path)) throw std::runtime_error("no profile saved for " + (model.empty() ? std::string("default") : model) + " (" + path + ")");
      apply_profile(st, path, model);
    } catch (const std::exception& e) {
      st.profile_status = std::string("error: ") + e.what();
    }
  }
  help_tooltip("Load this model's saved budget profile from your config folder.");
  if (!st.profile_summary.empty()) {
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextDisabled("%s", st.profile_summary.c_str());
    ImGui::PopTextWrapPos();
  }
  if (!st.layer_budgets.empty() && ImPlot::BeginPlot("##layer_budgets", ImVec2(-1, ImGui::GetFontSize() * 7), ImPlotFlags_NoLegend | ImPlotFlags_NoMenus)) {
    ImPlot::SetupAxes("layer", "budget %", ImPlotAxisFlags_AutoFit, ImPlotAxisFlags_AutoFit);
    std::vector<double> pct;
    for (double b : st.layer_budgets) pct.push_back(100.0 * b);
    ImPlot::PlotBars("budget", pct.data(), static_cast<int>(pct.size()), 0.7);
    ImPlot::EndPlot();
  }
  if (!st.profile_status.empty()) {
    ImGui::PushTextWrapPos(0.0f);
    if (st.profile_status.starts_with("error")) ImGui::TextColored(ImVec4(1, 0.45f, 0.45f, 1), "%s", st.profile_status.c_str());
    else ImGui::TextDisabled("%s", st.profile_status.c_str());
    ImGui::PopTextWrapPos();
  }
}

void draw_tier_editor(PolicySettings& p, int64_t head_dim) {
  const auto& names = tier_names_on_disk();
  if (ImGui::BeginTable("tiers", 4, ImGuiTableFlags_Borders | ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp)) {
    ImGui::TableSetupColumn("tier");
    ImGui::TableSetupColumn("keys");
    ImGui::TableSetupColumn("values");
    ImGui::TableSetupColumn("B/token/head");
    ImGui::TableHeadersRow();
    int remove = -1;
    for (size_t i = 0; i < p.tiers.size(); ++i) {
      ImGui::PushID(static_cast<int>(i));
      const TierRow row = describe_tier(p.tiers[i], head_dim);
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      if (ImGui::SmallButton("x")) remove = static_cast<int>(i);
      help_tooltip("Remove this tier.");
      ImGui::SameLine();
      ImGui::SetNextItemWidth(-FLT_MIN);
      if (ImGui::BeginCombo("##tier", p.tiers[i].c_str())) {
        for (const auto& n : names)
          if (ImGui::Selectable(n.c_str(), n == p.tiers[i])) p.tiers[i] = n;
        ImGui::EndCombo();
      }
      help_tooltip(row.error.empty() ? (row.description.empty() ? "A tier format (assets/tiers)." : row.description.c_str())
                                     : row.error.c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(row.error.empty() ? row.key.c_str() : "invalid");
      help_tooltip("Key codec and bits per coordinate (assets/tiers/<tier>.json).");
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(row.error.empty() ? row.value.c_str() : "invalid");
      help_tooltip("Value codec and bits per coordinate.");
      ImGui::TableNextColumn();
      if (row.bytes_per_token_per_head > 0) ImGui::Text("%.1f", row.bytes_per_token_per_head);
      else ImGui::TextDisabled("-");
      help_tooltip("Exact bytes per token per KV head for K and V, from the page layout (page-table entry included). "
                   "Known once a run has loaded the model's head size.");
      ImGui::PopID();
    }
    ImGui::EndTable();
    if (remove >= 0 && p.tiers.size() > 1) p.tiers.erase(p.tiers.begin() + remove);
  }
  if (ImGui::Button("Add tier") && p.tiers.size() < 8) p.tiers.push_back(names.empty() ? "k2v2" : names.front());
  help_tooltip("Add a tier (up to 8). Order them from the most to the least precise: RDR and RDKV choose among them.");
}

}  // namespace

void draw_policy_panel(PolicyPanelState& st, const StudioSnapshot& snap) {
  if (!ImGui::Begin(kPolicyPanel)) {
    ImGui::End();
    return;
  }
  PolicySettings& p = st.edit;
  const PolicyInfo& cur = policy_info(p.kind);
  ImGui::SetNextItemWidth(-FLT_MIN);
  if (ImGui::BeginCombo("##policy", cur.label)) {
    for (const auto& info : policy_catalog()) {
      const bool in_build = kRdrInBuild || info.kind == PolicyKind::dense;
      std::string label = std::string(info.label) + (in_build ? "" : "  (not in this build)");
      if (ImGui::Selectable(label.c_str(), info.kind == p.kind)) p.kind = info.kind;
      help_tooltip(info.help);
    }
    ImGui::EndCombo();
  }
  help_tooltip(cur.help);
  if (!kRdrInBuild && p.kind != PolicyKind::dense)
    ImGui::TextColored(ImVec4(1.0f, 0.8f, 0.3f, 1.0f), "RDR backend not available in this build: runs use the dense cache.");

  ImGui::SeparatorText("Budget");
  ImGui::SetNextItemWidth(-FLT_MIN);
  ImGui::SliderFloat("##budget", &p.budget_percent, 1.0f, 100.0f, "%.0f %% of the full fp16 cache");
  help_tooltip("The byte budget of the KV cache, as a share of a full fp16 cache at the run's context length.");
  const int64_t ctx = snap.prompt_tokens.empty() ? st.context_tokens
                                                  : static_cast<int64_t>(snap.prompt_tokens.size()) + snap.settings.max_new_tokens;
  if (snap.model.fp16_kv_bytes_per_token > 0 && ctx > 0) {
    const double full = static_cast<double>(snap.model.fp16_kv_bytes_per_token) * static_cast<double>(ctx);
    double mib = full * p.budget_percent / 100.0 / (1024.0 * 1024.0);
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 8);
    if (ImGui::DragScalar("MiB", ImGuiDataType_Double, &mib, std::max(full / 1024 / 1024 / 200, 0.001), nullptr, nullptr, "%.3f"))
      p.budget_percent = static_cast<float>(std::clamp(100.0 * mib * 1024 * 1024 / full, 1.0, 100.0));
    help_tooltip("The same budget in bytes (drag to set it in MiB).");
    ImGui::SameLine();
    ImGui::TextDisabled("of %s at %lld tokens", format_bytes(full).c_str(), static_cast<long long>(ctx));
  } else {
    ImGui::TextDisabled("bytes: start a run to know the model's shape");
  }

  ImGui::SeparatorText("Tiers");
  draw_tier_editor(p, snap.model.head_dim);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  ImGui::DragInt("hot window", &p.hot_window, 1.0f, 0, 4096, "%d tokens");
  help_tooltip("The newest tokens stay fp16 until the next re-tiering.");
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  ImGui::DragInt("sink tokens", &p.sink_tokens, 1.0f, 0, 64, "%d tokens");
  help_tooltip("The first tokens stay fp16 (attention sinks).");
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  ImGui::DragInt("re-tier every", &p.retier_every, 1.0f, 1, 1024, "%d steps");
  help_tooltip("Decode steps between re-tierings (it also runs whenever the budget is exceeded).");
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 10);
  if (ImGui::BeginCombo("utility", p.utility.c_str())) {
    for (const char* u : {"snapkv", "obs", "h2o", "tri", "recency", "sink", "snapkv*0.8+recency*0.2"})
      if (ImGui::Selectable(u, p.utility == u)) p.utility = u;
    ImGui::EndCombo();
  }
  help_tooltip("How RDR estimates a token's future attention mass: snapkv (observation window, pooled; the default), obs "
               "(unpooled), h2o (accumulated attention), tri (TriAttention pre-RoPE score), recency, sink priors, or a blend.");
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  ImGui::InputDouble("utility power", &p.utility_power, 0.25, 0.5, "%.2f");
  p.utility_power = std::clamp(p.utility_power, 0.0, 4.0);
  help_tooltip("RDR's gamma in D = u^gamma (...): below 1 flattens the utilities, so fewer tokens are dropped (default 0.5, "
               "as skv eval).");
  ImGui::Checkbox("completion", &p.completion);
  help_tooltip("RDR and Quest: keep a positive-random-feature summary of the tokens they drop or skip and add it to the "
               "softmax (retrieval completion).");
  if (p.kind == PolicyKind::kivi) {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 5);
    ImGui::SliderInt("KIVI bits", &p.kivi_bits, 2, 4);
    help_tooltip("KIVI's bits per element (2 or 4).");
    if (p.kivi_bits == 3) p.kivi_bits = 4;
  }
  ImGui::TextDisabled("core policy: %s", core_policy_name(p).c_str());

  ImGui::SeparatorText("Budget profile");
  draw_profile_section(st, snap);
  ImGui::End();
}

}  // namespace skv::studio
