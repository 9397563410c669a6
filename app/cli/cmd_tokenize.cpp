// skv tokenize: print the token ids of a text (and, without --json, each token's bytes).
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli/cli_commands.h"
#include "core/model/model_bundle.h"

namespace skv::cli {

Handler add_tokenize(CLI::App& app) {
  struct Opts {
    std::string model = "default", text;
    bool json = false, no_special = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of TEXT");
  cmd->add_option("--model", o->model, "default | model.gguf | HF checkpoint dir")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print a JSON array of ids");
  cmd->add_flag("--no-special", o->no_special, "Treat special-token text as plain text");
  cmd->add_option("text", o->text, "Text to tokenize")->required();
  return [o]() {
    ModelBundle model = open_model(o->model);
    const BpeTokenizer& tok = model.require_tokenizer();
    auto ids = tok.encode(o->text, !o->no_special);
    if (o->json) {
      std::cout << nlohmann::json(ids).dump() << "\n";
      return 0;
    }
    for (auto id : ids) {
      nlohmann::json piece = tok.token_bytes(id);
      std::printf("%d\t%s\n", id, piece.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }
    return 0;
  };
}

}  // namespace skv::cli
