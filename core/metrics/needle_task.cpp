#include "core/metrics/needle_task.h"

#include <random>

#include "core/common/error.h"

namespace skv {

NeedleTask make_needle_task(const BpeTokenizer& tok, const std::string& filler, int64_t total_tokens, double depth,
                            uint64_t seed) {
  if (filler.empty()) throw Error("needle task: the filler text is empty");
  if (depth < 0 || depth > 1) throw Error("needle task: depth must be in [0, 1]");
  std::mt19937_64 rng(seed);
  const std::string key = std::to_string(10000 + rng() % 90000);
  const std::string intro =
      "There is an important pass key hidden inside a lot of irrelevant text. Find it and memorize it.\n\n";
  const std::string needle = "\nThe pass key is " + key + ". Remember it. " + key + " is the pass key.\n";
  const std::string question = "\n\nWhat is the pass key? The pass key is";
  const std::string answer = " " + key + ".";
  auto fill = tok.encode(filler);
  const auto a = tok.encode(intro), n = tok.encode(needle), q = tok.encode(question), ans = tok.encode(answer);
  const int64_t fixed = int64_t(a.size() + n.size() + q.size() + ans.size());
  if (total_tokens < fixed + 16) throw Error("needle task: " + std::to_string(total_tokens) + " tokens is too short");
  const int64_t filler_tokens = total_tokens - fixed;
  std::vector<int32_t> body;
  while (int64_t(body.size()) < filler_tokens) body.insert(body.end(), fill.begin(), fill.end());
  body.resize(size_t(filler_tokens));
  const int64_t cut = int64_t(double(filler_tokens) * depth);
  NeedleTask t;
  t.pass_key = key;
  t.ids.insert(t.ids.end(), a.begin(), a.end());
  t.ids.insert(t.ids.end(), body.begin(), body.begin() + cut);
  t.needle_position = int64_t(t.ids.size());
  t.ids.insert(t.ids.end(), n.begin(), n.end());
  t.ids.insert(t.ids.end(), body.begin() + cut, body.end());
  t.ids.insert(t.ids.end(), q.begin(), q.end());
  t.prompt_tokens = int64_t(t.ids.size());
  t.ids.insert(t.ids.end(), ans.begin(), ans.end());
  t.answer_tokens = int64_t(ans.size());
  return t;
}

}  // namespace skv
