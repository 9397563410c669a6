#include "core/sessions/sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <sstream>

#include "core/common/error.h"
#include "core/sessions/atomic_file.h"
#include "core/sessions/number_text.h"
#include "core/sessions/session.h"

namespace skv {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
// Budgets print the same everywhere (file names, keys, tables): shortest round-trip form.
std::string budget_text(double b) { return shortest(b); }
std::string cell_key(const std::string& policy, double budget) { return policy + "@" + budget_text(budget); }

json read_json_file(const fs::path& p) {
  try {
    return json::parse(read_file_text(p));
  } catch (const json::exception& e) {
    throw Error(p.string() + ": corrupt or truncated JSON (" + std::string(e.what()) + ")");
  }
}

void check_same_sweep(const SweepSpec& a, const SweepSpec& b, const fs::path& where) {
  if (a.model_identity != b.model_identity)
    throw Error(where.string() + " holds a sweep of model '" + b.model_identity + "', not '" + a.model_identity +
                "'; use another --out");
  if (a.text != b.text)
    throw Error(where.string() + " holds a sweep on text '" + b.text + "', not '" + a.text + "'; use another --out");
  if (a.options != b.options)
    throw Error(where.string() + " holds a sweep with other options (" + b.options.dump() + "); use another --out");
}
}  // namespace

json sweep_spec_to_json(const SweepSpec& s) {
  return {{"format", "skv-sweep"}, {"format_version", 1}, {"model", s.model}, {"model_identity", s.model_identity},
          {"model_name", s.model_name},
          {"policies", s.policies}, {"budgets", s.budgets}, {"text", s.text}, {"options", s.options}};
}

SweepSpec sweep_spec_from_json(const json& j) {
  if (j.value("format", "") != "skv-sweep") throw Error("not an skv sweep description (no \"format\": \"skv-sweep\")");
  SweepSpec s;
  s.model = j.value("model", "");
  s.model_identity = j.value("model_identity", "");
  s.model_name = j.value("model_name", "");
  s.policies = j.value("policies", std::vector<std::string>{});
  s.budgets = j.value("budgets", std::vector<double>{});
  s.text = j.value("text", "");
  s.options = j.value("options", json::object());
  return s;
}

std::string SweepCell::file_name() const {
  std::string p = policy;
  for (char& c : p)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return printf_string("%04lld_%s_b%s.json", static_cast<long long>(index), p.c_str(), budget_text(budget).c_str());
}

std::vector<SweepCell> sweep_cells(const SweepSpec& spec) {
  std::vector<SweepCell> cells;
  for (const auto& p : spec.policies)
    for (double b : spec.budgets) cells.push_back({static_cast<int64_t>(cells.size()), p, b});
  return cells;
}

Shard parse_shard(const std::string& text) {
  Shard s;
  auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw 0;
    std::size_t used = 0;
    s.index = std::stoi(text.substr(0, slash), &used);
    if (used != slash) throw 0;
    s.count = std::stoi(text.substr(slash + 1), &used);
    if (used != text.size() - slash - 1) throw 0;
  } catch (...) {
    throw Error("--shard '" + text + "' is not i/N (e.g. 0/4)");
  }
  if (s.count < 1 || s.index < 0 || s.index >= s.count)
    throw Error("--shard '" + text + "': need 0 <= i < N");
  return s;
}

bool cell_finished(const fs::path& dir, const SweepCell& cell) {
  const fs::path p = dir / "cells" / cell.file_name();
  if (!fs::exists(p)) return false;
  try {
    json j = json::parse(read_file_text(p));
    return j.contains("metrics") && j["cell"].value("policy", "") == cell.policy &&
           j["cell"].value("budget", -1.0) == cell.budget;
  } catch (...) {
    return false;  // unreadable: run it again
  }
}

SweepRunStats run_sweep(const fs::path& dir, const SweepSpec& spec, const Shard& shard, const CellRunner& runner,
                        const std::function<void(const SweepProgress&)>& progress, const std::atomic<bool>* cancel) {
  if (spec.policies.empty() || spec.budgets.empty()) throw Error("a sweep needs at least one policy and one budget");
  make_directories_durable(dir / "cells");
  const fs::path spec_path = dir / "sweep.json";
  if (fs::exists(spec_path)) {
    SweepSpec old;
    try {
      old = sweep_spec_from_json(read_json_file(spec_path));
    } catch (const Error& e) {
      throw Error(spec_path.string() + ": " + e.what());
    }
    check_same_sweep(spec, old, dir);
    // The grid may grow (more policies or budgets) but cell files are named by index: only the
    // same grid order resumes safely.
    if (old.policies != spec.policies || old.budgets != spec.budgets)
      throw Error(dir.string() + " holds a sweep over other policies/budgets; use another --out");
  } else {
    write_file_atomic(spec_path, sweep_spec_to_json(spec).dump(2) + "\n");
  }
  SweepRunStats stats;
  const auto cells = sweep_cells(spec);
  std::vector<const SweepCell*> mine;
  for (const auto& c : cells) (shard.owns(c) ? mine.push_back(&c) : void(++stats.not_in_shard));
  const auto t0 = std::chrono::steady_clock::now();
  SweepProgress p;
  p.total = static_cast<int64_t>(mine.size());
  for (const SweepCell* c : mine) {
    if (cancel && cancel->load()) {
      stats.cancelled = true;
      break;
    }
    p.cell = c;
    p.skipped = cell_finished(dir, *c);
    if (p.skipped) {
      ++stats.skipped;
    } else {
      const auto tc = std::chrono::steady_clock::now();
      CellResult r = runner(*c);
      json j;
      j["cell"] = {{"index", c->index}, {"policy", c->policy}, {"budget", c->budget}};
      j["model_identity"] = spec.model_identity;
      j["metrics"] = r.metrics;
      j["per_layer"] = r.per_layer;
      j["series"] = r.series;
      j["elapsed_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - tc).count();
      j["finished_utc"] = utc_now_iso8601();
      RunEnvironment env = capture_environment();
      j["tool_version"] = env.tool_version;
      j["git_revision"] = env.git_revision;
      write_file_atomic(dir / "cells" / c->file_name(), j.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
      ++stats.ran;
    }
    ++p.done;
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (progress) progress(p);
  }
  return stats;
}

bool is_sweep_dir(const fs::path& dir) { return fs::is_regular_file(dir / "sweep.json"); }

const SweepRow* SweepTable::find(const std::string& policy, double budget) const {
  for (const auto& r : rows)
    if (r.policy == policy && r.budget == budget) return &r;
  return nullptr;
}

SweepTable merge_sweeps(const std::vector<fs::path>& dirs) {
  if (dirs.empty()) throw Error("no sweep directory given");
  SweepTable t;
  std::map<std::string, SweepRow> rows;
  std::set<std::string> metric_names;
  std::vector<std::string> policies;
  std::vector<double> budgets;
  for (std::size_t k = 0; k < dirs.size(); ++k) {
    const fs::path& d = dirs[k];
    if (!is_sweep_dir(d)) throw Error(d.string() + " is not a sweep directory (no sweep.json)");
    SweepSpec s;
    try {
      s = sweep_spec_from_json(read_json_file(d / "sweep.json"));
    } catch (const Error& e) {
      throw Error((d / "sweep.json").string() + ": " + e.what());
    }
    if (k == 0) t.spec = s;
    else check_same_sweep(t.spec, s, d);
    for (const auto& p : s.policies)
      if (std::find(policies.begin(), policies.end(), p) == policies.end()) policies.push_back(p);
    for (double b : s.budgets)
      if (std::find(budgets.begin(), budgets.end(), b) == budgets.end()) budgets.push_back(b);
    if (!fs::is_directory(d / "cells")) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(d / "cells"))
      if (e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      json j = read_json_file(f);
      SweepRow r;
      try {
        r.policy = j.at("cell").at("policy").get<std::string>();
        r.budget = j.at("cell").at("budget").get<double>();
        for (const auto& [name, v] : j.at("metrics").items())
          if (v.is_number()) {
            r.metrics[name] = v.get<double>();
            metric_names.insert(name);
          }
        r.per_layer = j.value("per_layer", json::array());
        r.series = j.value("series", json::object());
      } catch (const json::exception& e) {
        throw Error(f.string() + ": not a sweep cell result (" + std::string(e.what()) + ")");
      }
      rows[cell_key(r.policy, r.budget)] = std::move(r);  // a cell found in two shards: same run twice
    }
  }
  t.spec.policies = policies;
  t.spec.budgets = budgets;
  for (const auto& p : policies)
    for (double b : budgets) {
      auto it = rows.find(cell_key(p, b));
      if (it == rows.end()) t.missing.push_back(cell_key(p, b));
      else t.rows.push_back(it->second);
    }
  std::stable_sort(t.rows.begin(), t.rows.end(), [&](const SweepRow& a, const SweepRow& b) {
    auto pa = std::find(policies.begin(), policies.end(), a.policy), pb = std::find(policies.begin(), policies.end(), b.policy);
    return pa != pb ? pa < pb : a.budget > b.budget;
  });
  t.metric_names.assign(metric_names.begin(), metric_names.end());
  return t;
}

void write_sweep_table(const fs::path& out, const SweepTable& t) {
  make_directories_durable(out);
  json j;
  j["format"] = "skv-sweep-results";
  j["format_version"] = 1;
  j["sweep"] = sweep_spec_to_json(t.spec);
  j["missing"] = t.missing;
  j["rows"] = json::array();
  for (const auto& r : t.rows)
    j["rows"].push_back({{"policy", r.policy}, {"budget", r.budget}, {"metrics", r.metrics}, {"per_layer", r.per_layer}});
  write_file_atomic(out / "results.json", j.dump(1) + "\n");
  std::ostringstream csv;
  csv << "policy,budget";
  for (const auto& m : t.metric_names) csv << "," << m;
  csv << "\n";
  for (const auto& r : t.rows) {
    csv << r.policy << "," << budget_text(r.budget);
    for (const auto& m : t.metric_names) {
      auto it = r.metrics.find(m);
      csv << ",";
      if (it != r.metrics.end()) csv << shortest(it->second);
    }
    csv << "\n";
  }
  write_file_atomic(out / "results.csv", csv.str());
}

std::string progress_bar(const SweepProgress& p, int width) {
  const double f = p.total > 0 ? double(p.done) / double(p.total) : 1.0;
  const int fill = static_cast<int>(std::lround(f * width));
  std::string bar(fill, '#');
  bar.append(width - fill, '.');
  std::string eta = "--";
  if (p.done > 0 && p.done < p.total) {
    const double s = p.elapsed_s / p.done * (p.total - p.done);
    eta = s >= 60 ? printf_string("%dm%02ds", int(s) / 60, int(s) % 60) : printf_string("%.0fs", s);
  }
  std::string what = p.cell ? cell_key(p.cell->policy, p.cell->budget) + (p.skipped ? " (done before)" : "") : "";
  return printf_string("[%s] %lld/%lld %s ETA %s", bar.c_str(), static_cast<long long>(p.done), static_cast<long long>(p.total),
                       what.c_str(), p.done == p.total ? "0s" : eta.c_str());
}

}  // namespace skv
