#include "core/decoder/generator.h"

#include <chrono>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "core/common/error.h"

namespace skv {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

at::Tensor ids_tensor(const int32_t* ids, int64_t n) {
  return at::from_blob(const_cast<int32_t*>(ids), {1, n}, at::kInt).to(at::kLong);
}

void sync(const at::Device& d) {
  if (d.is_cuda()) at::zeros({1}, at::TensorOptions().device(d)).cpu();  // waits for the stream
}

}  // namespace

GenerationResult generate(LlamaDecoder& decoder, const BpeTokenizer& tokenizer, AttentionBackend& backend,
                          const std::vector<int32_t>& prompt_ids, const GenerationOptions& options,
                          const GenerationCallbacks& cb) {
  const auto& c = decoder.config();
  const int64_t n_prompt = static_cast<int64_t>(prompt_ids.size());
  if (n_prompt == 0) throw Error("the prompt is empty");
  if (n_prompt >= c.context_length)
    throw Error("prompt of " + std::to_string(n_prompt) + " tokens does not fit the model's context of " +
                std::to_string(c.context_length) + " tokens");
  for (auto id : prompt_ids)
    if (id < 0 || id >= c.vocab_size) throw Error("token id " + std::to_string(id) + " is outside the vocabulary");
  const int64_t max_new = std::min<int64_t>(options.max_new_tokens, c.context_length - n_prompt);
  backend.reset(c, 1, n_prompt + max_new, decoder.device());

  c10::InferenceMode inference_mode;  // no autograd bookkeeping
  GenerationResult r;
  r.prompt_ids = prompt_ids;
  auto cancelled = [&] { return cb.cancel && cb.cancel->load(std::memory_order_relaxed); };

  auto t0 = std::chrono::steady_clock::now();
  at::Tensor logits;
  for (int64_t done = 0; done < n_prompt;) {
    if (cancelled()) {
      r.cancelled = true;
      return r;
    }
    const int64_t n = std::min(options.prefill_chunk, n_prompt - done);
    if (cb.step_hook) cb.step_hook->begin_forward(0, done, n);
    logits = decoder.forward(ids_tensor(prompt_ids.data() + done, n), done, backend, /*last_only=*/true);
    done += n;
    if (cb.step_hook) {
      if (done == n_prompt) sync(decoder.device());
      cb.step_hook->end_forward(0);
    }
    if (cb.on_prefill_progress) cb.on_prefill_progress(done, n_prompt);
  }
  sync(decoder.device());
  r.prefill_ms = ms_since(t0);

  Sampler sampler(options.sampling);
  double step_ms = r.prefill_ms;
  auto t1 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < max_new; ++i) {
    auto row = logits.reshape({-1}).to(at::kCPU);
    GeneratedToken tok;
    tok.index = i;
    tok.position = n_prompt + i;
    tok.id = sampler.next(row);
    tok.piece = tokenizer.token_bytes(tok.id);
    tok.top = top_k_logits(row, options.top_k_report);
    tok.step_ms = step_ms;
    r.ids.push_back(tok.id);
    r.text += tok.piece;
    r.steps.push_back(tok);
    if (cb.on_token) cb.on_token(r.steps.back());
    if (options.stop_at_eos && tokenizer.is_end_of_generation(tok.id)) break;
    if (i + 1 == max_new) break;
    if (cancelled()) {
      r.cancelled = true;
      break;
    }
    auto ts = std::chrono::steady_clock::now();
    if (cb.step_hook) cb.step_hook->begin_forward(i + 1, tok.position, 1);
    logits = decoder.forward(ids_tensor(&tok.id, 1), tok.position, backend, /*last_only=*/true);
    sync(decoder.device());
    if (cb.step_hook) cb.step_hook->end_forward(i + 1);
    step_ms = ms_since(ts);
  }
  r.decode_ms = ms_since(t1);
  return r;
}

}  // namespace skv
