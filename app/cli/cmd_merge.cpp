// skv merge DIR...: joins the cells of sweep shards into one results table (results.json + .csv).
#include <cstdio>

#include "app/cli/cli_commands.h"
#include "core/sessions/sweep.h"

namespace skv::cli {

Handler add_merge(CLI::App& app) {
  struct Opts {
    std::vector<std::string> dirs;
    std::string out;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("merge", "Join sweep shards into one results table");
  cmd->add_option("dirs", o->dirs, "Sweep directories (shards of one sweep)")->required();
  cmd->add_option("--out", o->out, "Where results.json / results.csv go (default: the first directory)");
  return [o]() {
    std::vector<std::filesystem::path> dirs(o->dirs.begin(), o->dirs.end());
    SweepTable t = merge_sweeps(dirs);
    const std::filesystem::path out = o->out.empty() ? dirs.front() : std::filesystem::path(o->out);
    write_sweep_table(out, t);
    std::printf("%zu cells from %zu directories -> %s/results.{json,csv}\n", t.rows.size(), dirs.size(), out.c_str());
    if (!t.missing.empty()) {
      std::string m;
      for (const auto& k : t.missing) m += (m.empty() ? "" : ", ") + k;
      std::fprintf(stderr, "skv: warning: %zu cells have no result yet: %s\n", t.missing.size(), m.c_str());
    }
    return 0;
  };
}

}  // namespace skv::cli
