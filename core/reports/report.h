#pragma once
// Paper-ready reports of sessions and sweeps: report.md, a standalone report.html (figures
// embedded as base64 PNG), one CSV per series table, PNG figures (fidelity-vs-bytes Pareto curves
// per policy, latency and bandwidth, tier maps, error heatmaps) and a booktabs LaTeX table.
// `skv report` and the GUI's Export button both call write_report.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/reports/plot.h"
#include "core/sessions/session.h"
#include "core/sessions/sweep.h"

namespace skv {

struct ReportOptions {
  std::string title = "SKV Studio report";
  reports::FigureStyle style;
};

struct ReportInput {
  std::string label;  // section name and file prefix ("run1", "sweep_smollm")
  std::optional<Session> session;
  std::optional<SweepTable> sweep;
};

struct ReportFiles {
  std::filesystem::path markdown, html, latex;
  std::vector<std::filesystem::path> figures, csv;
  std::vector<std::string> warnings;  // things a reader should know (no font found, empty series)
};

// Opens each path as a session (manifest.json) or a sweep (sweep.json); errors name the path.
ReportInput load_report_input(const std::filesystem::path& path);
ReportFiles write_report(const std::vector<ReportInput>& inputs, const std::filesystem::path& out_dir,
                         const ReportOptions& options = {});
ReportFiles write_report(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out_dir,
                         const ReportOptions& options = {});

// The policy x budget booktabs table of a sweep (also written as table.tex by write_report).
std::string sweep_latex_table(const SweepTable& sweep, const std::string& caption);

}  // namespace skv
