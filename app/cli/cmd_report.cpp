// skv report SESSION_OR_SWEEP... --out DIR: report.md, report.html, CSVs, PNG figures, table.tex.
#include <cstdio>

#include "app/cli/cli_commands.h"
#include "core/reports/report.h"

namespace skv::cli {

Handler add_report(CLI::App& app) {
  struct Opts {
    std::vector<std::string> inputs;
    std::string out, title = "SKV Studio report";
    int width = 960, height = 560;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("report", "Write a paper-ready report of sessions and sweeps");
  cmd->add_option("inputs", o->inputs, "Session or sweep directories")->required();
  cmd->add_option("--out", o->out, "Report directory")->required();
  cmd->add_option("--title", o->title, "Report title")->capture_default_str();
  cmd->add_option("--width", o->width, "Figure width, pixels")->capture_default_str()->check(CLI::Range(200, 8000));
  cmd->add_option("--height", o->height, "Figure height, pixels")->capture_default_str()->check(CLI::Range(150, 8000));
  return [o]() {
    ReportOptions opt;
    opt.title = o->title;
    opt.style.width = o->width;
    opt.style.height = o->height;
    std::vector<std::filesystem::path> inputs(o->inputs.begin(), o->inputs.end());
    ReportFiles f = write_report(inputs, o->out, opt);
    for (const auto& w : f.warnings) std::fprintf(stderr, "skv: warning: %s\n", w.c_str());
    std::printf("%s, %s, %s, %zu figures, %zu CSV files\n", f.markdown.c_str(), f.html.c_str(), f.latex.c_str(),
                f.figures.size(), f.csv.size());
    return 0;
  };
}

}  // namespace skv::cli
