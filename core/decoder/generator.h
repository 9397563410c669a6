#pragma once
// Prefill + decode loop with streaming, cancellation and timings. The GUI runs it on a worker
// thread and consumes the per-token callback; the CLI prints from it.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/decoder/llama_decoder.h"
#include "core/decoder/sampler.h"
#include "core/tokenizer/bpe_tokenizer.h"

namespace skv {

struct GenerationOptions {
  int64_t max_new_tokens = 64;
  SamplingParams sampling;
  int64_t prefill_chunk = 256;  // tokens per prefill forward (progress + cancellation points)
  int64_t top_k_report = 5;     // logits reported per step
  bool stop_at_eos = true;
};

struct GeneratedToken {
  int64_t index = 0;    // 0-based among generated tokens
  int64_t position = 0; // absolute position in the sequence
  int32_t id = 0;
  std::string piece;    // its bytes
  std::vector<std::pair<int32_t, float>> top;  // highest logits at this step
  double step_ms = 0;   // forward time that produced it
};

struct GenerationResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> ids;
  std::string text;
  std::vector<GeneratedToken> steps;
  double prefill_ms = 0, decode_ms = 0;
  bool cancelled = false;
};

// Optional hook around every forward (core/probing's DecodeProbe: one probe step per forward).
// step 0 = a prefill chunk (ended after its launch; the prefill's last chunk after the sync);
// step i >= 1 = the decode forward that produces generated token i (ended after its sync).
class StepHook {
 public:
  virtual ~StepHook() = default;
  virtual void begin_forward(int64_t step, int64_t position, int64_t tokens) = 0;
  virtual void end_forward(int64_t step) = 0;
};

struct GenerationCallbacks {
  std::function<void(int64_t done, int64_t total)> on_prefill_progress;
  std::function<void(const GeneratedToken&)> on_token;
  const std::atomic<bool>* cancel = nullptr;
  StepHook* step_hook = nullptr;  // not owned; null = none
};

// Runs prompt_ids through prefill, then decodes. `backend` is reset for the whole sequence.
GenerationResult generate(LlamaDecoder& decoder, const BpeTokenizer& tokenizer, AttentionBackend& backend,
                          const std::vector<int32_t>& prompt_ids, const GenerationOptions& options,
                          const GenerationCallbacks& callbacks = {});

}  // namespace skv
