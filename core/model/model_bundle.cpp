#include "core/model/model_bundle.h"

#include <filesystem>

#include "core/common/error.h"
#include "core/model/gguf_reader.h"

namespace skv {
namespace fs = std::filesystem;

const BpeTokenizer& ModelBundle::require_tokenizer() const {
  if (!tokenizer)
    throw Error("model '" + spec + "' has no tokenizer (shape-only configs carry none); pass token ids instead");
  return *tokenizer;
}

ModelBundle open_model(const std::string& spec, uint64_t seed) {
  ModelBundle b;
  b.spec = spec;
  b.weights = open_weight_source(spec, seed);
  const std::string path = spec == "default" ? default_model_path() : spec;
  if (fs::path(path).extension() == ".gguf") {
    b.tokenizer = BpeTokenizer::from_gguf(*GgufFile::open(path));
  } else {
    fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
    if (fs::path(path).extension() != ".json" && fs::exists(dir / "tokenizer.json"))
      b.tokenizer = BpeTokenizer::from_tokenizer_json((dir / "tokenizer.json").string());
  }
  return b;
}

}  // namespace skv
