#include "core/reports/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "core/common/error.h"
#include "core/sessions/atomic_file.h"
#include "core/sessions/number_text.h"

namespace skv {
namespace fs = std::filesystem;
using reports::Canvas;
using reports::Heatmap;
using reports::LinePlot;
using reports::LineSeries;

namespace {

// Metrics shown in tables, in this order, when a sweep has them: (key, column title, LaTeX title).
struct MetricColumn {
  const char* key;
  const char* title;
  const char* latex;
};
constexpr MetricColumn kTableMetrics[] = {
    {"kl_mean", "KL (nats)", "KL (nats)"},
    {"top1_agreement", "top-1 agree", "top-1"},
    {"ppl_delta", "PPL delta", "$\\Delta$PPL"},
    {"attn_rel_error_mean", "attn rel. error", "attn.\\ err."},
    {"bytes_read_per_step", "bytes read / step", "bytes/step"},
    {"resident_bytes", "resident bytes", "resident"},
    {"compression", "compression", "compr."},
    {"ms_per_token", "ms / token", "ms/tok"},
};

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}
std::string latex_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '_' || c == '%' || c == '&' || c == '#' || c == '$' || c == '{' || c == '}') o += '\\';
    o += c;
  }
  return o;
}
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}
std::string num(double v) { return std::isfinite(v) ? shortest(v) : (std::isnan(v) ? "" : (v > 0 ? "inf" : "-inf")); }
std::string safe_label(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return s.empty() ? "input" : s;
}
double finite_mean(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x)) s += x, ++n;
  return n ? s / n : NAN;
}

// Markdown and HTML written side by side from the same calls.
class Doc {
 public:
  explicit Doc(const std::string& title) {
    md_ << "# " << title << "\n\n";
    html_ << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(title)
          << "</title>\n<style>body{background:#0f0f0f;color:#eee;font-family:'DejaVu Sans',sans-serif;"
             "max-width:1000px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #555;padding:3px 8px;text-align:right}th{background:#222}"
             "td:first-child,th:first-child{text-align:left}img{max-width:100%}code{color:#9cf}"
             "figcaption{color:#aaa;font-size:90%}</style></head><body>\n<h1>"
          << html_escape(title) << "</h1>\n";
  }
  void heading(int level, const std::string& t) {
    md_ << std::string(level, '#') << " " << t << "\n\n";
    html_ << "<h" << level << ">" << html_escape(t) << "</h" << level << ">\n";
  }
  void paragraph(const std::string& t) {
    md_ << t << "\n\n";
    html_ << "<p>" << html_escape(t) << "</p>\n";
  }
  void table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
    auto md_cell = [](std::string s) {
      std::string o;
      for (char c : s) o += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
      return o;
    };
    md_ << "|";
    for (const auto& h : head) md_ << " " << md_cell(h) << " |";
    md_ << "\n|";
    for (std::size_t k = 0; k < head.size(); ++k) md_ << (k ? "---:|" : "---|");
    md_ << "\n";
    html_ << "<table><tr>";
    for (const auto& h : head) html_ << "<th>" << html_escape(h) << "</th>";
    html_ << "</tr>\n";
    for (const auto& r : rows) {
      md_ << "|";
      html_ << "<tr>";
      for (const auto& c : r) {
        md_ << " " << md_cell(c) << " |";
        html_ << "<td>" << html_escape(c) << "</td>";
      }
      md_ << "\n";
      html_ << "</tr>\n";
    }
    md_ << "\n";
    html_ << "</table>\n";
  }
  void figure(const std::string& file, const std::string& caption, const std::vector<uint8_t>& png) {
    md_ << "![" << caption << "](" << file << ")\n\n*" << caption << "*\n\n";
    html_ << "<figure><img alt=\"" << html_escape(caption) << "\" src=\"data:image/png;base64," << reports::base64(png)
          << "\"><figcaption>" << html_escape(caption) << "</figcaption></figure>\n";
  }
  std::string markdown() const { return md_.str(); }
  std::string html() const { return html_.str() + "</body></html>\n"; }

 private:
  std::ostringstream md_, html_;
};

class ReportWriter {
 public:
  ReportWriter(const fs::path& out, const ReportOptions& o) : out_(out), opt_(o), doc_(o.title) {}

  void figure(const std::string& name, const Canvas& c, const std::string& caption) {
    auto png = c.png();
    const fs::path p = out_ / "figures" / (name + ".png");
    write_file_atomic(p, png);
    files_.figures.push_back(p);
    doc_.figure("figures/" + name + ".png", caption, png);
  }
  void csv(const std::string& name, const std::string& text) {
    const fs::path p = out_ / "csv" / (name + ".csv");
    write_file_atomic(p, text);
    files_.csv.push_back(p);
  }

  void sweep(const std::string& label, const SweepTable& t) {
    doc_.heading(2, "Sweep " + label);
    doc_.paragraph("Model " + (t.spec.model_name.empty() ? t.spec.model : t.spec.model_name) + " (" + t.spec.model_identity +
                   "), text " + (t.spec.text.empty() ? "(runner's own)" : t.spec.text) + ", " +
                   std::to_string(t.spec.policies.size()) + " policies x " + std::to_string(t.spec.budgets.size()) +
                   " budgets, " + std::to_string(t.rows.size()) + " cells finished" +
                   (t.missing.empty() ? "" : ", " + std::to_string(t.missing.size()) + " missing") + ".");
    // Table.
    std::vector<const MetricColumn*> cols;
    for (const auto& m : kTableMetrics)
      if (std::find(t.metric_names.begin(), t.metric_names.end(), m.key) != t.metric_names.end()) cols.push_back(&m);
    std::vector<std::string> head = {"policy", "budget"};
    for (auto* c : cols) head.push_back(c->title);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : t.rows) {
      std::vector<std::string> row = {r.policy, num(r.budget)};
      for (auto* c : cols) row.push_back(r.metrics.count(c->key) ? reports::short_number(r.metrics.at(c->key)) : "");
      rows.push_back(row);
    }
    doc_.table(head, rows);
    latex_ += sweep_latex_table(t, "Policies x budgets on " + (t.spec.model_name.empty() ? t.spec.model : t.spec.model_name)) + "\n";
    // CSV: all metrics, then per-layer rows.
    {
      std::ostringstream s;
      s << "policy,budget";
      for (const auto& m : t.metric_names) s << "," << csv_field(m);
      s << "\n";
      for (const auto& r : t.rows) {
        s << csv_field(r.policy) << "," << num(r.budget);
        for (const auto& m : t.metric_names) s << "," << (r.metrics.count(m) ? num(r.metrics.at(m)) : "");
        s << "\n";
      }
      csv(safe_label(label) + "_results", s.str());
      std::set<std::string> keys;
      for (const auto& r : t.rows)
        for (const auto& L : r.per_layer)
          for (const auto& [k, v] : L.items())
            if (v.is_number() && k != "layer") keys.insert(k);
      if (!keys.empty()) {
        std::ostringstream pl;
        pl << "policy,budget,layer";
        for (const auto& k : keys) pl << "," << csv_field(k);
        pl << "\n";
        for (const auto& r : t.rows)
          for (std::size_t l = 0; l < r.per_layer.size(); ++l) {
            const auto& L = r.per_layer[l];
            pl << csv_field(r.policy) << "," << num(r.budget) << "," << L.value("layer", static_cast<int64_t>(l));
            for (const auto& k : keys) pl << "," << (L.contains(k) && L[k].is_number() ? num(L[k].get<double>()) : "");
            pl << "\n";
          }
        csv(safe_label(label) + "_per_layer", pl.str());
      }
    }
    // Pareto curves: fidelity against bytes, one line per policy.
    std::string xkey = "budget", xlabel = "budget (fraction of the fp16 cache)";
    for (const char* k : {"bytes_read_per_step", "resident_bytes"})
      if (std::find(t.metric_names.begin(), t.metric_names.end(), k) != t.metric_names.end()) {
        xkey = k;
        xlabel = std::string(k) == "bytes_read_per_step" ? "bytes read per decode step (modeled)" : "resident KV bytes";
        break;
      }
    struct Y {
      const char* key;
      const char* label;
      bool log;
    };
    for (const Y& y : {Y{"kl_mean", "KL(full || compressed), nats", true}, Y{"top1_agreement", "top-1 agreement", false},
                       Y{"attn_rel_error_mean", "attention-output relative error", true},
                       Y{"ms_per_token", "ms per token", false}}) {
      if (std::find(t.metric_names.begin(), t.metric_names.end(), y.key) == t.metric_names.end()) continue;
      LinePlot p;
      p.title = std::string(y.label) + " vs bytes: " + label;
      p.x_label = xlabel;
      p.y_label = y.label;
      p.log_x = xkey != "budget";
      p.log_y = y.log;
      int k = 0;
      for (const auto& pol : t.spec.policies) {
        LineSeries s;
        s.label = pol;
        s.markers = true;
        s.color = k++;
        std::vector<std::pair<double, double>> pts;
        for (const auto& r : t.rows)
          if (r.policy == pol && r.metrics.count(y.key))
            pts.emplace_back(xkey == "budget" ? r.budget : (r.metrics.count(xkey) ? r.metrics.at(xkey) : NAN), r.metrics.at(y.key));
        std::sort(pts.begin(), pts.end());
        for (auto [a, b] : pts) s.x.push_back(a), s.y.push_back(b);
        if (!s.x.empty()) p.series.push_back(s);
      }
      if (p.series.empty()) continue;
      figure(safe_label(label) + "_pareto_" + y.key, reports::render_line_plot(p, opt_.style),
             std::string(y.label) + " against " + xlabel + ", per policy (" + label + ")");
    }
  }

  void session(const std::string& label, const Session& s) {
    doc_.heading(2, "Session " + label);
    doc_.table({"field", "value"},
               {{"model", s.model.name + " (" + s.model.identity + ")"},
                {"config", s.config.dump()},
                {"steps", std::to_string(s.steps) + (s.complete ? "" : " (incomplete: cut off after the last autosave)")},
                {"device", s.environment.device},
                {"driver / CUDA / torch", s.environment.driver_version + " / " + s.environment.cuda_version + " / " +
                                              s.environment.torch_version},
                {"skv", s.environment.tool_version + " @ " + s.environment.git_revision},
                {"recorded", s.created_utc},
                {"seed", std::to_string(s.seed)}});
    const auto series = s.names_of_kind("series");
    // CSV of every series.
    if (!series.empty()) {
      std::ostringstream c;
      c << "step";
      std::vector<std::vector<double>> cols;
      for (const auto& n : series) {
        c << "," << csv_field(n.substr(7));
        cols.push_back(s.values(n));
      }
      c << "\n";
      for (int64_t k = 0; k < s.steps; ++k) {
        c << k;
        for (const auto& col : cols) c << "," << (k < static_cast<int64_t>(col.size()) ? num(col[k]) : "");
        c << "\n";
      }
      csv(safe_label(label) + "_series", c.str());
      std::vector<std::vector<std::string>> rows;
      for (std::size_t k = 0; k < series.size(); ++k)
        rows.push_back({series[k].substr(7), s.meta.at(series[k]).unit, reports::short_number(finite_mean(cols[k]))});
      doc_.table({"series", "unit", "mean"}, rows);
    }
    probe_csv(label, s);  // one CSV per probe record kind
    if (!s.generated_text().empty()) doc_.paragraph("Generated text: " + s.generated_text());
    std::vector<double> steps(static_cast<std::size_t>(s.steps));
    for (int64_t k = 0; k < s.steps; ++k) steps[k] = static_cast<double>(k);
    auto line = [&](const std::string& fig, const std::string& title, const std::string& ylabel,
                    const std::vector<std::pair<std::string, std::string>>& names, bool logy) {
      LinePlot p;
      p.title = title + ": " + label;
      p.x_label = "decode step";
      p.y_label = ylabel;
      p.log_y = logy;
      for (const auto& [n, legend] : names)
        if (s.has(n)) p.series.push_back({legend, steps, s.values(n)});
      if (p.series.empty()) return;
      figure(safe_label(label) + "_" + fig, reports::render_line_plot(p, opt_.style), title + " per decode step (" + label + ")");
    };
    line("latency", "latency", "ms", {{"series/latency_ms", "step latency"}, {"series/kernel_ms", "attention kernels (CUPTI)"}}, false);
    line("bytes", "bytes read", "bytes",
         {{"series/attn_bytes_read_modeled", "attention, modeled (page layout + hot window)"},
          {"series/attn_bytes_read_measured", "attention, measured (CUPTI DRAM)"},
          {"series/bytes_read_modeled", "cache accounting (modeled)"},
          {"series/resident_bytes", "resident"}},
         false);
    line("measured_over_modeled", "measured / modeled bytes", "ratio",
         {{"series/attn_measured_over_modeled", "attention: CUPTI dram__bytes_read / modeled"}}, false);
    // Achieved bandwidth: modeled bytes over step latency.
    const std::string bw_modeled = s.has("series/attn_bytes_read_modeled") ? "series/attn_bytes_read_modeled" : "series/bytes_read_modeled";
    if (s.has(bw_modeled) && s.has("series/latency_ms")) {
      auto b = s.values(bw_modeled), l = s.values("series/latency_ms");
      std::vector<double> gbps(b.size());
      for (std::size_t k = 0; k < b.size(); ++k) gbps[k] = b[k] / (l[k] * 1e-3) / 1e9;
      LinePlot p{"achieved bandwidth: " + label, "decode step", "GB/s (modeled bytes / step latency)", false, false,
                 {{"modeled bytes / latency", steps, gbps}}};
      if (s.has("series/bytes_read_measured")) {
        auto m = s.values("series/bytes_read_measured");
        std::vector<double> mg(m.size());
        for (std::size_t k = 0; k < m.size(); ++k) mg[k] = m[k] / (l[k] * 1e-3) / 1e9;
        p.series.push_back({"measured bytes / latency", steps, mg});
      }
      figure(safe_label(label) + "_bandwidth", reports::render_line_plot(p, opt_.style), "Achieved bandwidth per decode step (" + label + ")");
    }
    line("fidelity", "fidelity", "value", {{"series/kl", "KL (nats)"}, {"series/top1_agree", "top-1 agreement"}}, false);
    for (const auto& name : s.names_of_kind("heatmap")) {
      const NpyArray& a = s.array(name);
      if (a.shape.size() != 3 || a.shape[0] == 0) continue;
      const int L = static_cast<int>(a.shape[1]), H = static_cast<int>(a.shape[2]);
      auto v = a.to_double();
      Heatmap m;
      m.title = name + " (mean over steps): " + label;
      m.x_label = "head";
      m.y_label = "layer";
      m.value_label = name.substr(name.rfind('/') + 1);  // the description goes in the caption
      m.rows = L;
      m.cols = H;
      m.values.assign(static_cast<std::size_t>(L) * H, 0);
      std::vector<int> n(m.values.size(), 0);
      for (int64_t t = 0; t < a.shape[0]; ++t)
        for (std::size_t k = 0; k < m.values.size(); ++k) {
          double x = v[t * m.values.size() + k];
          if (std::isfinite(x)) m.values[k] += x, ++n[k];
        }
      for (std::size_t k = 0; k < m.values.size(); ++k) m.values[k] = n[k] ? m.values[k] / n[k] : NAN;
      figure(safe_label(label) + "_" + safe_label(name), reports::render_heatmap(m, opt_.style),
             "Error heatmap " + name + ": " + s.meta.at(name).description + "; layers x heads, mean over decode steps (" +
                 label + ")");
    }
    // Per-layer series [steps, layers] (modeled / measured bytes of each layer's attention):
    // a CSV each and a steps x layers map.
    for (const auto& name : s.names_of_kind("layer_series")) {
      const NpyArray& a = s.array(name);
      if (a.shape.size() != 2 || a.shape[0] == 0 || a.shape[1] == 0) continue;
      const int64_t T = a.shape[0], L = a.shape[1];
      auto v = a.to_double();
      std::ostringstream c;
      c << "step";
      for (int64_t l = 0; l < L; ++l) c << ",L" << l;
      c << "\n";
      for (int64_t t = 0; t < T; ++t) {
        c << t;
        for (int64_t l = 0; l < L; ++l) c << "," << num(v[t * L + l]);
        c << "\n";
      }
      csv(safe_label(label) + "_" + safe_label(name), c.str());
      bool any = false;
      for (double x : v) any = any || std::isfinite(x);
      if (!any) continue;
      Heatmap m;
      m.title = name + ": " + label;
      m.x_label = "layer";
      m.y_label = "decode step";
      m.value_label = s.meta.at(name).unit;
      m.rows = static_cast<int>(T);
      m.cols = static_cast<int>(L);
      m.values = v;
      figure(safe_label(label) + "_" + safe_label(name), reports::render_heatmap(m, opt_.style),
             s.meta.at(name).description + ", per decode step (y) and layer (x) (" + label + ")");
    }
    for (const auto& name : s.names_of_kind("tier_shares")) {
      const NpyArray& a = s.array(name);
      if (a.shape.size() != 4 || a.shape[0] == 0) continue;
      const int64_t L = a.shape[1], H = a.shape[2], T = a.shape[3];
      auto v = a.to_double();
      const std::size_t last = static_cast<std::size_t>((a.shape[0] - 1) * L * H * T);
      Heatmap m;
      m.title = "tier shares at the last step: " + label;
      m.x_label = "tier";
      m.y_label = "layer (mean over heads)";
      m.value_label = "share of tokens";
      m.rows = static_cast<int>(L);
      m.cols = static_cast<int>(T);
      m.values.assign(static_cast<std::size_t>(L * T), 0);
      for (int64_t l = 0; l < L; ++l)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t t = 0; t < T; ++t) m.values[l * T + t] += v[last + (l * H + h) * T + t] / H;
      auto names = s.string_tables.find("tiers/names");
      if (names != s.string_tables.end()) m.col_names = names->second;
      figure(safe_label(label) + "_" + safe_label(name), reports::render_heatmap(m, opt_.style),
             "Tier map: share of each tier per layer at the last step (" + label + ")");
    }
    for (const auto& name : s.names_of_kind("tier_image")) {
      const NpyArray& a = s.array(name);
      if (a.shape.size() != 2 || a.shape[0] == 0 || a.shape[1] == 0) continue;
      Heatmap m;
      m.title = name + ": " + label;
      m.x_label = "token position";
      m.y_label = "decode step";
      m.rows = static_cast<int>(a.shape[0]);
      m.cols = static_cast<int>(a.shape[1]);
      auto v = a.to_double();
      int max_code = 0;
      for (double& x : v) x == 255 ? (x = NAN, 0) : (max_code = std::max(max_code, static_cast<int>(x)), 0);
      m.values = v;
      auto names = s.string_tables.find("tiers/names");
      for (int k = 0; k <= max_code; ++k)
        m.categories.push_back(names != s.string_tables.end() && k < static_cast<int>(names->second.size())
                                   ? names->second[k] : "tier " + std::to_string(k));
      figure(safe_label(label) + "_" + safe_label(name), reports::render_heatmap(m, opt_.style),
             "Tier of every token (x) at every step (y), " + s.meta.at(name).description + " (" + label + ")");
    }
  }

  void probe_csv(const std::string& label, const Session& s) {
    std::map<std::string, std::vector<std::string>> groups;  // probe/kernels -> its columns
    for (const auto& n : s.names_of_kind("probe")) groups[n.substr(0, n.rfind('/'))].push_back(n);
    for (const auto& [g, cols] : groups) {
      std::ostringstream c;
      std::vector<std::vector<double>> v;
      int64_t rows = 0;
      for (std::size_t k = 0; k < cols.size(); ++k) {
        c << (k ? "," : "") << cols[k].substr(g.size() + 1);
        v.push_back(s.values(cols[k]));
        rows = std::max<int64_t>(rows, static_cast<int64_t>(v.back().size()));
      }
      c << "\n";
      for (int64_t r = 0; r < rows; ++r) {
        for (std::size_t k = 0; k < cols.size(); ++k)
          c << (k ? "," : "") << (r < static_cast<int64_t>(v[k].size()) ? num(v[k][r]) : "");
        c << "\n";
      }
      csv(safe_label(label) + "_" + safe_label(g), c.str());
    }
  }

  ReportFiles finish(const std::vector<ReportInput>& inputs) {
    if (latex_.empty()) {  // no sweep: one row per session
      std::string t = "\\begin{table}[t]\n\\centering\n\\begin{tabular}{lrrrr}\n\\toprule\nsession & steps & ms/step & KL & top-1 \\\\\n\\midrule\n";
      for (const auto& in : inputs)
        if (in.session) {
          auto mean_of = [&](const char* n) { return in.session->has(n) ? finite_mean(in.session->values(n)) : NAN; };
          auto cell = [](double v) { return std::isfinite(v) ? printf_string("%.4g", v) : std::string("--"); };
          t += latex_escape(in.label) + " & " + std::to_string(in.session->steps) + " & " + cell(mean_of("series/latency_ms")) +
               " & " + cell(mean_of("series/kl")) + " & " + cell(mean_of("series/top1_agree")) + " \\\\\n";
        }
      t += "\\bottomrule\n\\end{tabular}\n\\caption{Recorded sessions (means over decode steps).}\n\\end{table}\n";
      latex_ = t;
    }
    files_.latex = out_ / "table.tex";
    write_file_atomic(files_.latex, "% Needs \\usepackage{booktabs}. Written by skv report.\n" + latex_);
    if (!reports::Font::dejavu_sans().available())
      files_.warnings.push_back("DejaVu Sans not found (install fonts-dejavu-core or set SKV_FONT): figures have no text");
    for (const auto& w : files_.warnings) doc_.paragraph("Note: " + w);
    RunEnvironment env = capture_environment();
    doc_.paragraph("Written by skv " + env.tool_version + " (" + env.git_revision + ") on " + utc_now_iso8601() + ".");
    files_.markdown = out_ / "report.md";
    files_.html = out_ / "report.html";
    write_file_atomic(files_.markdown, doc_.markdown());
    write_file_atomic(files_.html, doc_.html());
    return files_;
  }

  Doc& doc() { return doc_; }

 private:
  fs::path out_;
  ReportOptions opt_;
  Doc doc_;
  ReportFiles files_;
  std::string latex_;
};

}  // namespace

std::string sweep_latex_table(const SweepTable& t, const std::string& caption) {
  std::vector<const MetricColumn*> cols;
  for (const auto& m : kTableMetrics)
    if (std::find(t.metric_names.begin(), t.metric_names.end(), m.key) != t.metric_names.end()) cols.push_back(&m);
  std::string s = "\\begin{table}[t]\n\\centering\n\\begin{tabular}{lr" + std::string(cols.size(), 'r') + "}\n\\toprule\n";
  s += "policy & budget";
  for (auto* c : cols) s += std::string(" & ") + c->latex;
  s += " \\\\\n\\midrule\n";
  std::string prev;
  for (const auto& r : t.rows) {
    if (!prev.empty() && r.policy != prev) s += "\\addlinespace\n";
    s += (r.policy == prev ? std::string() : latex_escape(r.policy)) + " & " + shortest(r.budget);
    for (auto* c : cols) {
      auto it = r.metrics.find(c->key);
      s += " & " + (it == r.metrics.end() || !std::isfinite(it->second) ? std::string("--") : reports::short_number(it->second));
    }
    s += " \\\\\n";
    prev = r.policy;
  }
  s += "\\bottomrule\n\\end{tabular}\n\\caption{" + latex_escape(caption) + "}\n\\end{table}\n";
  return s;
}

ReportInput load_report_input(const fs::path& path) {
  ReportInput in;
  in.label = path.filename().empty() ? path.parent_path().filename().string() : path.filename().string();
  if (is_session_dir(path)) in.session = read_session(path);
  else if (is_sweep_dir(path)) in.sweep = merge_sweeps({path});
  else throw Error(path.string() + " is neither a session (manifest.json) nor a sweep (sweep.json)");
  return in;
}

ReportFiles write_report(const std::vector<ReportInput>& inputs, const fs::path& out, const ReportOptions& o) {
  if (inputs.empty()) throw Error("nothing to report: give at least one session or sweep");
  make_directories_durable(out / "figures");
  make_directories_durable(out / "csv");
  ReportWriter w(out, o);
  std::vector<std::vector<std::string>> rows;
  for (const auto& in : inputs)
    rows.push_back({in.label, in.session ? "session" : "sweep",
                    in.session ? in.session->model.name : (in.sweep->spec.model_name.empty() ? in.sweep->spec.model : in.sweep->spec.model_name),
                    in.session ? in.session->environment.git_revision : ""});
  w.doc().table({"input", "kind", "model", "git revision"}, rows);
  std::set<std::string> used;
  for (const auto& in : inputs) {
    std::string label = safe_label(in.label);
    for (int k = 2; used.count(label); ++k) label = safe_label(in.label) + "_" + std::to_string(k);
    used.insert(label);
    if (in.sweep) w.sweep(label, *in.sweep);
    if (in.session) w.session(label, *in.session);
  }
  return w.finish(inputs);
}

ReportFiles write_report(const std::vector<fs::path>& paths, const fs::path& out, const ReportOptions& o) {
  std::vector<ReportInput> inputs;
  for (const auto& p : paths) inputs.push_back(load_report_input(p));
  return write_report(inputs, out, o);
}

}  // namespace skv
