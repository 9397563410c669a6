#pragma once
// Passkey retrieval (Mohtashami & Jaggi 2023, "Landmark attention"): a random 5-digit pass key
// stated once at a chosen depth of long filler text, and a question at the end. The answer
// tokens follow the prompt, so a teacher-forced FidelityRun with prefix = prompt length scores
// retrieval as "the compressed cache's argmax is the true token at every answer step".
#include <cstdint>
#include <string>
#include <vector>

#include "core/tokenizer/bpe_tokenizer.h"

namespace skv {

struct NeedleTask {
  std::vector<int32_t> ids;      // prompt followed by the answer
  int64_t prompt_tokens = 0;     // the answer starts here
  int64_t answer_tokens = 0;
  std::string pass_key;
  int64_t needle_position = 0;   // token index where the needle sentence starts
};

// filler: any prose (repeated as needed); total_tokens: prompt + answer, about; depth in [0, 1].
NeedleTask make_needle_task(const BpeTokenizer& tokenizer, const std::string& filler, int64_t total_tokens,
                            double depth, uint64_t seed);

}  // namespace skv
