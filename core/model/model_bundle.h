#pragma once
// A model as the tools use it: its weights, and its tokenizer when the files carry one.
#include <memory>
#include <optional>
#include <string>

#include "core/model/weight_source.h"
#include "core/tokenizer/bpe_tokenizer.h"

namespace skv {

struct ModelBundle {
  std::string spec;  // what the user asked for ("default", a path)
  std::unique_ptr<WeightSource> weights;
  std::optional<BpeTokenizer> tokenizer;  // GGUF: from its metadata; HF: tokenizer.json beside it

  const BpeTokenizer& require_tokenizer() const;  // throws skv::Error for shape-only models
};

ModelBundle open_model(const std::string& spec, uint64_t seed = 0);

}  // namespace skv
