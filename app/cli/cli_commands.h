#pragma once
// Each skv subcommand registers itself on the CLI11 app; the handler runs after parsing.
#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

namespace skv::cli {

using Handler = std::function<int()>;

// Returns the handler to run if that subcommand was chosen.
Handler add_generate(CLI::App& app);
Handler add_tokenize(CLI::App& app);
Handler add_info(CLI::App& app);
Handler add_bench(CLI::App& app);
Handler add_codec_eval(CLI::App& app);
Handler add_record(CLI::App& app);
Handler add_sweep(CLI::App& app);
Handler add_merge(CLI::App& app);
Handler add_tune(CLI::App& app);
Handler add_report(CLI::App& app);
Handler add_eval(CLI::App& app);
Handler add_calibrate(CLI::App& app);

}  // namespace skv::cli
