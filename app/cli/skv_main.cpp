// skv: the command-line face of SKV Studio. Every error is one line on stderr and a non-zero exit.
#include <cstdio>
#include <exception>

#include "app/cli/cli_commands.h"
#include "core/common/error_text.h"

int main(int argc, char** argv) {
  CLI::App app{"skv: profile long-context decoding with a compressed (Spherical) KV cache"};
  app.require_subcommand(1);
  app.set_version_flag("--version", SKV_VERSION);
  std::vector<std::pair<CLI::App*, skv::cli::Handler>> commands;
  // Each add_* adds one subcommand; pair it with its handler (get_subcommands() with a filter lists
  // all of them, without one only the parsed ones).
  auto reg = [&](skv::cli::Handler h) {
    commands.emplace_back(app.get_subcommands([](CLI::App*) { return true; }).back(), std::move(h));
  };
  reg(skv::cli::add_generate(app));
  reg(skv::cli::add_tokenize(app));
  reg(skv::cli::add_info(app));
  reg(skv::cli::add_bench(app));
  reg(skv::cli::add_codec_eval(app));
  reg(skv::cli::add_record(app));
  reg(skv::cli::add_sweep(app));
  reg(skv::cli::add_merge(app));
  reg(skv::cli::add_tune(app));
  reg(skv::cli::add_report(app));
  reg(skv::cli::add_eval(app));
  reg(skv::cli::add_calibrate(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, handler] : commands)
      if (sub->parsed()) return handler();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "skv: error: %s\n", skv::error_line(e).c_str());
    return 1;
  }
  return 1;
}
