// StudioWorker: the decode thread of the Studio. Everything libtorch stays in this file and in
// attention_error_meter.cpp.
#include "app/studio/studio_worker.h"

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <chrono>
#include <deque>
#include <fstream>
#include <optional>
#include <sstream>

#include <ctime>
#include <filesystem>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif

#include "app/studio/attention_error_meter.h"
#include "app/studio/studio_backend_spec.h"
#include "core/cache/backend_factory.h"
#include "core/common/error.h"
#include "core/common/error_text.h"
#include "core/decoder/dense_kv_cache.h"
#include "core/decoder/device_choice.h"
#include "core/decoder/generator.h"
#include "core/decoder/sampler.h"
#include "core/metrics/fidelity.h"
#include "core/model/model_config.h"
#include "core/sessions/session_recorder.h"
#include "app/studio/studio_paths.h"
#include "core/model/model_bundle.h"
#include "probes/probe.h"
#include "probes/probe_error.h"
#include "probes/probe_worker.h"

namespace skv::studio {
namespace {

constexpr size_t kMaxSeries = 4096;     // points per plot series kept in a snapshot
constexpr size_t kMaxMessages = 200;
constexpr size_t kMaxTierRows = 256;    // steps of the drill-down image
constexpr int64_t kMaxTierCols = 8192;  // positions of the drill-down image
constexpr int kRateWindow = 8;          // steps in the tokens/s moving window

template <typename T>
void push_capped(std::vector<T>& v, T x, size_t cap) {
  v.push_back(std::move(x));
  if (v.size() > cap) v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() - cap));
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open prompt file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) throw Error("prompt file " + path + " is empty");
  return ss.str();
}

// Shape-only models carry no tokenizer: show ids, never invented words.
BpeTokenizer id_stand_in_tokenizer(int64_t vocab) {
  TokenizerData d;
  d.tokens.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) d.tokens[static_cast<size_t>(i)] = "<" + std::to_string(i) + ">";
  return BpeTokenizer(d);
}

probes::Level probe_level_for(const std::string& name, const at::Device& device) {
  if (name == "auto") return device.is_cuda() ? probes::Level::timeline : probes::Level::cpu;
  try {
    return probes::parse_level(name);
  } catch (const std::exception&) {
    return probes::Level::cpu;
  }
}

}  // namespace

struct StudioWorker::Impl {
  struct Job {
    RunSettings run;
    PolicySettings policy;
    bool start_paused = false;
  };

  // Commands (guarded by mu).
  std::mutex mu;
  std::condition_variable cv;
  bool quit = false;
  std::optional<Job> pending;
  bool paused = false;
  int64_t step_credit = 0;  // tokens still allowed before pausing again (single-step)
  std::atomic<bool> cancel{false};
  std::atomic<bool> running{false};
  std::atomic<int> focus_layer{0}, focus_kv_head{0}, error_layer{0}, error_q_head{0};

  // Published.
  mutable std::mutex pub_mu;
  std::shared_ptr<const StudioSnapshot> published = std::make_shared<StudioSnapshot>();

  // Worker-thread state.
  StudioSnapshot state;
  uint64_t version = 0;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  std::string loaded_key;  // model spec + device of the cached decoder
  std::optional<ModelBundle> bundle;
  std::optional<BpeTokenizer> stand_in;
  std::unique_ptr<LlamaDecoder> decoder;
  std::chrono::steady_clock::time_point last_publish{};

  // The live run's session (core/sessions); null when recording is off or failed.
  std::unique_ptr<SessionRecorder> recorder;
  int recorded_layer = 0, recorded_head = 0;  // the head whose token x time tier image is recorded
  int run_counter = 0;

  // CUPTI is called from the decode thread only: it flushes at the end of a step every 50 ms
  // (ProbeOptions::flush_period) and before it pauses; the probe worker only drains the ring.
  // probe_flush_on_worker = true is the old way (the worker thread flushes), kept to compare.
  const bool probe_flush_on_worker;
  probes::Probe probe{probe_options(probe_flush_on_worker)};
  probes::ProbeWorker probe_worker{probe, 20000};
  // Every probe record of the current run, drained by probe_worker's thread, waiting for the
  // recorder (the session keeps all of them; the live histories are capped).
  std::mutex probe_rec_mu;
  std::vector<probes::Record> probe_rec;
  bool probe_rec_on = false;
  std::thread thread;

  static probes::ProbeOptions probe_options(bool flush_on_worker) {
    probes::ProbeOptions o;
    if (!flush_on_worker) o.flush_period = std::chrono::milliseconds(50);
    return o;
  }

  explicit Impl(bool flush_on_worker) : probe_flush_on_worker(flush_on_worker) {
    probe_worker.set_sink([this](const std::vector<probes::Record>& batch) {
      std::lock_guard<std::mutex> lk(probe_rec_mu);
      if (probe_rec_on) probe_rec.insert(probe_rec.end(), batch.begin(), batch.end());
    });
    probe_worker.start(std::chrono::milliseconds(50), /*flush_probe=*/probe_flush_on_worker);
    thread = std::thread([this] { loop(); });
  }
  ~Impl() {
    {
      std::lock_guard<std::mutex> lk(mu);
      quit = true;
      pending.reset();
    }
    cancel = true;
    cv.notify_all();
    thread.join();
    probe.stop();
    probe_worker.stop();
  }

  void message(MessageLevel level, std::string text) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    push_capped(state.messages, StudioMessage{level, std::move(text), t}, kMaxMessages);
  }

  void publish(bool force = true) {
    const auto now = std::chrono::steady_clock::now();
    // Prefill progress can come fast; 30 snapshots a second is plenty for a progress bar.
    if (!force && now - last_publish < std::chrono::milliseconds(33)) return;
    last_publish = now;
    state.version = ++version;
    auto snap = std::make_shared<const StudioSnapshot>(state);
    std::lock_guard<std::mutex> lk(pub_mu);
    published = std::move(snap);
  }

  void set_phase(RunPhase p, std::string detail = {}) {
    state.phase = p;
    state.phase_detail = std::move(detail);
    publish();
  }

  void loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return quit || pending.has_value(); });
        if (quit) return;
        job = std::move(*pending);
        pending.reset();
        cancel = false;
        paused = job.start_paused;
        step_credit = 0;
      }
      running = true;
      try {
        run(job);
      } catch (const std::exception& e) {
        message(MessageLevel::error, error_line(e));
        if (recorder) {
          guard_recorder([&] {
            recorder->add_status("error: the run failed: " + error_line(e));
            recorder->flush();
          });
          recorder.reset();
        }
        set_phase(RunPhase::failed, error_line(e));
      }
      probe.stop();
      running = false;
      publish();
    }
  }

  // Blocks the decode thread (never the GUI) while paused; returns when resumed or cancelled.
  void wait_if_paused(RunPhase resume_phase) {
    std::unique_lock<std::mutex> lk(mu);
    const int64_t n = static_cast<int64_t>(state.tokens.size());
    if (state.settings.pause_after_steps > 0 && n == state.settings.pause_after_steps) paused = true;
    if (step_credit > 0 && --step_credit == 0) paused = true;
    if (!paused || cancel || quit) return;
    state.phase = RunPhase::paused;
    lk.unlock();
    // The last steps' kernels reach the Kernels panel (and the session) while paused.
    probe.flush();
    // A paused session is on disk up to this step (Export reads it from there).
    if (recorder) guard_recorder([&] { recorder->flush(); });
    publish();
    lk.lock();
    cv.wait(lk, [&] { return !paused || step_credit > 0 || cancel.load() || quit; });
    state.phase = resume_phase;
  }

  void load_model(const RunSettings& run) {
    const auto device = choose_device(run.device);
    const std::string key = run.model_spec + "|" + device.str();
    if (key == loaded_key && decoder) return;
    decoder.reset();
    bundle.reset();
    loaded_key.clear();
    set_phase(RunPhase::loading, "opening " + run.model_spec);
    bundle.emplace(open_model(run.model_spec));
    set_phase(RunPhase::loading, "loading weights onto " + device_description(device));
    decoder = std::make_unique<LlamaDecoder>(*bundle->weights, device);
    // Leave one core to the GUI thread (and to Xvfb's software renderer), on a GPU too: the
    // tiered cache and its policies run on the CPU there, and a full-width OpenMP team with the
    // GUI thread busy on one of its cores waits on every barrier (an unpaced GUI on the GPU
    // machine slowed decoding to a standstill). A user's OMP_NUM_THREADS wins.
    if (!std::getenv("OMP_NUM_THREADS")) {
      at::set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1));
    }
    stand_in.reset();
    if (!bundle->tokenizer) stand_in.emplace(id_stand_in_tokenizer(decoder->config().vocab_size));
    loaded_key = key;
    message(MessageLevel::info, "loaded " + decoder->config().name + " on " + device_description(device));
    measure_copy_bandwidth(device);
  }

  // The bandwidth plot's limit line: a timed device-to-device copy of 256 MiB (reads and writes
  // every byte, so 2 x bytes / time). On a CPU there is no device to measure: say so, draw nothing.
  void measure_copy_bandwidth(const at::Device& device) {
    state.copy_bandwidth_gbs = 0;
    if (!device.is_cuda()) {
      state.copy_bandwidth_note = "device limit: modeled, no GPU";
      return;
    }
    try {
      const int64_t bytes = int64_t{256} << 20;
      auto a = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).device(device));
      auto b = at::empty_like(a);
      auto sync = [&] { at::zeros({1}, at::TensorOptions().device(device)).cpu(); };
      b.copy_(a);  // warm-up
      sync();
      constexpr int kReps = 10;
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < kReps; ++i) b.copy_(a);
      sync();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      state.copy_bandwidth_gbs = 2.0 * static_cast<double>(bytes) * kReps / s / 1e9;
      std::ostringstream os;
      os.precision(4);
      os << "device copy bandwidth " << state.copy_bandwidth_gbs << " GB/s (256 MiB device-to-device copy, read + write, measured at load)";
      state.copy_bandwidth_note = os.str();
      message(MessageLevel::info, state.copy_bandwidth_note);
    } catch (const std::exception& e) {
      state.copy_bandwidth_note = std::string("device copy bandwidth not measured: ") + e.what();
      message(MessageLevel::warning, state.copy_bandwidth_note);
    }
  }

  std::vector<int32_t> prompt_ids(const RunSettings& run, const BpeTokenizer& tok, bool has_tokenizer) {
    std::string text = run.prompt_source == PromptSource::file ? read_text_file(run.prompt_file) : run.prompt_text;
    if (text.empty()) throw Error("the prompt is empty: type one in the Run panel or pick a text file");
    if (!has_tokenizer) {
      // No tokenizer: the prompt's bytes become ids (shape-only models are about shapes and speed).
      std::vector<int32_t> ids;
      for (unsigned char c : text) ids.push_back(static_cast<int32_t>(c) % tok.vocab_size());
      message(MessageLevel::warning, "shape-only model: no tokenizer, the prompt's bytes are used as token ids");
      return ids;
    }
    if (run.prompt_source == PromptSource::chat) text = tok.apply_chat_template({{"user", text}}, true);
    return tok.encode(text);
  }

  static TokenView token_view(const GeneratedToken& t, const BpeTokenizer& tok) {
    TokenView v;
    v.index = t.index;
    v.position = t.position;
    v.id = t.id;
    v.piece = t.piece;
    v.step_ms = t.step_ms;
    v.top = t.top;
    for (auto [id, logit] : t.top) v.top_pieces.push_back(tok.token_bytes(id));
    return v;
  }

  // Tier of every (layer, KV head, position): dense keeps everything in its one full-precision
  // tier; the tiered cache reports its own map (hot window first, then its tiers, drops).
  void update_tier_map(TieredKvCache* tiered, int64_t cached, int64_t capacity, int64_t step) {
    TierMap& tm = state.tiers;
    const auto& m = state.model;
    tm.available = true;
    tm.layers = static_cast<int>(m.layers);
    tm.heads = static_cast<int>(m.kv_heads);
    tm.positions = static_cast<int>(cached);
    tm.current.assign(static_cast<size_t>(tm.layers) * tm.heads * tm.positions, 0);
    if (!tiered) {
      tm.source = "dense (fp32): every token kept at full precision, nothing dropped";
      tm.tier_names = {"full (fp32)"};
    } else {
      tm.source = tiered->name() + ": hot window fp16, sealed pages per tier, drops";
      tm.tier_names = {"hot window (fp16)"};
      for (const auto& t : tiered->tiers()) tm.tier_names.push_back(t.name);
      for (int l = 0; l < tm.layers; ++l) {
        at::Tensor map = tiered->tier_map(l).to(at::kCPU).to(at::kInt).contiguous();  // [Hkv, N]
        const int64_t n = std::min<int64_t>(map.size(1), cached);
        const int32_t* src = map.data_ptr<int32_t>();
        for (int h = 0; h < tm.heads; ++h)
          for (int64_t p = 0; p < n; ++p) {
            const int32_t v = src[h * map.size(1) + p];
            tm.current[(static_cast<size_t>(l) * tm.heads + h) * tm.positions + p] =
                v == kDropTier ? TierMap::kTierDropped : v == kHotTier ? 0 : static_cast<uint8_t>(std::min(v + 1, 250));
          }
      }
    }
    const size_t nt = tm.tier_names.size();
    tm.shares.assign(static_cast<size_t>(tm.layers) * tm.heads * nt, 0.0f);
    for (size_t cell = 0; cell < static_cast<size_t>(tm.layers) * tm.heads; ++cell)
      for (int p = 0; p < tm.positions; ++p) {
        const uint8_t v = tm.current[cell * tm.positions + p];
        if (v < nt) tm.shares[cell * nt + v] += 1.0f / static_cast<float>(tm.positions);
      }
    const int fl = std::clamp(focus_layer.load(), 0, std::max(tm.layers - 1, 0));
    const int fh = std::clamp(focus_kv_head.load(), 0, std::max(tm.heads - 1, 0));
    if (fl != tm.focus_layer || fh != tm.focus_head) {
      tm.history.clear();
      tm.history_steps.clear();
    }
    tm.focus_layer = fl;
    tm.focus_head = fh;
    tm.history_cols = static_cast<int>(std::min(capacity, kMaxTierCols));
    std::vector<uint8_t> row(static_cast<size_t>(tm.history_cols), TierMap::kTierAbsent);
    const uint8_t* cur = tm.current.data() + (static_cast<size_t>(fl) * tm.heads + fh) * tm.positions;
    for (int64_t p = 0; p < std::min<int64_t>(cached, tm.history_cols); ++p) row[static_cast<size_t>(p)] = cur[p];
    tm.history.insert(tm.history.end(), row.begin(), row.end());
    tm.history_steps.push_back(static_cast<int>(step));
    if (tm.history_steps.size() > kMaxTierRows) {
      tm.history_steps.erase(tm.history_steps.begin());
      tm.history.erase(tm.history.begin(), tm.history.begin() + tm.history_cols);
    }
  }

  void update_attention_error(AttentionErrorMeter& meter) {
    AttentionErrorMap& ae = state.attention_error;
    if (!meter.measuring()) return;
    ae.available = true;
    ae.layers = static_cast<int>(state.model.layers);
    ae.heads = static_cast<int>(state.model.heads);
    ae.last = meter.last_errors();
    if (ae.mean.size() != ae.last.size()) ae.mean.assign(ae.last.size(), 0.0f);
    ++ae.steps_measured;
    for (size_t i = 0; i < ae.last.size(); ++i) ae.mean[i] += (ae.last[i] - ae.mean[i]) / static_cast<float>(ae.steps_measured);
    ae.focus_layer = meter.focus_layer();
    ae.focus_head = meter.focus_head();
    ae.exact_probs = meter.exact_probs();
    ae.compressed_probs = meter.compressed_probs();
    ae.compressed_why_not = meter.compressed_why_not();
    double sum = 0;
    for (float e : ae.last) sum += e;
    push_capped(state.series.attn_error_mean, ae.last.empty() ? 0.0 : sum / static_cast<double>(ae.last.size()), kMaxSeries);
  }

  void run(const Job& job) {
    state.settings = job.run;
    state.policy = job.policy;
    state.prompt_tokens.clear();
    state.tokens.clear();
    state.series = {};
    state.tiers = {};
    state.attention_error = {};
    state.fidelity_why_not.clear();
    state.session_dir.clear();
    state.prefill_done = state.prefill_total = 0;
    state.prefill_ms = 0;
    state.tiers.why_not = "no run yet";
    state.attention_error.why_not = job.run.measure_attention_error
                                        ? "no step measured yet"
                                        : "off: enable 'measure attention error' in the Run panel";

    load_model(job.run);
    const ModelConfig& c = decoder->config();
    state.model = {c.name, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.context_length, c.vocab_size,
                   c.fp16_kv_bytes_per_token()};
    state.device = device_description(decoder->device());
    const BpeTokenizer& tok = bundle->tokenizer ? *bundle->tokenizer : *stand_in;
    auto ids = prompt_ids(job.run, tok, bundle->tokenizer.has_value());
    // auto: 512 on a CPU; on a GPU what fits the context (a shape-only model reads the text's
    // bytes as ids: ~12k of them, over SmolLM2's 8192, and the run used to fail on it).
    const int64_t keep = job.run.max_prompt_tokens < 0
                             ? auto_prompt_tokens(decoder->device().is_cuda(), c.context_length, job.run.max_new_tokens)
                             : job.run.max_prompt_tokens;
    if (keep > 0 && static_cast<int64_t>(ids.size()) > keep) {
      message(MessageLevel::info, "prompt cut to its first " + std::to_string(keep) + " of " + std::to_string(ids.size()) +
                                      " tokens (Run panel: max prompt tokens)");
      ids.resize(static_cast<size_t>(keep));
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      TokenView v;
      v.index = -1;
      v.position = static_cast<int64_t>(i);
      v.id = ids[i];
      v.piece = tok.token_bytes(ids[i]);
      state.prompt_tokens.push_back(std::move(v));
    }

    // The backend: the dense cache for the reference, core/cache's TieredKvCache for every policy.
    std::unique_ptr<AttentionBackend> owned;
    TieredKvCache* tiered = nullptr;
    state.policy_fallback = false;
    if (job.policy.kind == PolicyKind::dense) {
      owned = std::make_unique<DenseKvCache>(at::kFloat);
      state.backend_name = "dense (fp32)";
    } else {
      BackendSpec spec = studio_backend_spec(job.policy);
      if (job.policy.kind == PolicyKind::rdr) {  // a profile for another model fails here, with its reason
        const std::string used = resolve_rdr_profile(rdr_options(spec.policy, spec.policy_options).profile, c);
        message(MessageLevel::info, "RDR budget profile: " +
                                        (used.empty() ? std::string("none (one allocation across layers)") : used));
      }
      auto t = make_tiered_cache(spec);
      tiered = t.get();
      owned = std::move(t);
      state.backend_name = tiered->name();
    }
    AttentionBackend* backend = owned.get();
    AttentionErrorMeter meter(*backend, job.run.measure_attention_error);
    meter.set_focus(error_layer.load(), error_q_head.load());
    state.attention_error.compared = state.backend_name + " vs exact attention (shadow fp32 cache, teacher forced)";

    // The full-cache reference for KL / top-1 (what `skv record` does): a dense fp32 cache fed the
    // same tokens, one more forward per step. The dense backend is that reference itself.
    std::unique_ptr<DenseKvCache> reference;
    if (!tiered) state.fidelity_why_not = "dense cache: it is the full-cache reference (KL 0, top-1 agreement 1 by construction)";
    else if (!job.run.measure_fidelity) state.fidelity_why_not = "off: enable 'measure KL / top-1' in the Run panel";
    else {
      reference = std::make_unique<DenseKvCache>(at::kFloat);
      state.fidelity_why_not.clear();
    }

    // Probe: CPU timings everywhere, the CUPTI timeline on a GPU; it says why when it falls back.
    {
      std::lock_guard<std::mutex> lk(probe_rec_mu);
      probe_rec.clear();
      probe_rec_on = true;
    }
    const auto level = probe.start(probe_level_for(job.run.probe_level, decoder->device()));
    state.probe_level = probes::level_name(level);

    const int64_t n_prompt = static_cast<int64_t>(ids.size());
    if (n_prompt >= c.context_length)
      throw Error("prompt of " + std::to_string(n_prompt) + " tokens does not fit the model's context of " +
                  std::to_string(c.context_length) + " tokens");
    const int64_t max_new = std::min<int64_t>(job.run.max_new_tokens, c.context_length - n_prompt);
    const int64_t capacity = n_prompt + max_new;
    const at::Device device = decoder->device();
    meter.reset(c, 1, capacity, device);
    if (reference) reference->reset(c, 1, capacity, device);
    start_recorder(job, *bundle, c, tiered, ids, tok);

    c10::InferenceMode inference_mode;
    auto ids_tensor = [](const int32_t* p, int64_t n) { return at::from_blob(const_cast<int32_t*>(p), {1, n}, at::kInt).to(at::kLong); };
    auto sync = [&] {
      if (device.is_cuda()) at::zeros({1}, at::TensorOptions().device(device)).cpu();  // waits for the stream
    };

    // Prefill in chunks of 64: progress and cancellation points.
    set_phase(RunPhase::prefill);
    probe.begin_step(0);
    const auto t_prefill = std::chrono::steady_clock::now();
    at::Tensor logits, ref_logits;
    for (int64_t done = 0; done < n_prompt;) {
      if (cancel) return finish_run(true, 0, ms_since(t_prefill), 0);
      const int64_t n = std::min<int64_t>(64, n_prompt - done);
      logits = decoder->forward(ids_tensor(ids.data() + done, n), done, meter, /*last_only=*/true);
      if (reference) ref_logits = decoder->forward(ids_tensor(ids.data() + done, n), done, *reference, true);
      done += n;
      state.prefill_done = done;
      state.prefill_total = n_prompt;
      publish(done == n_prompt);
    }
    sync();
    const double prefill_ms = ms_since(t_prefill);
    state.prefill_ms = prefill_ms;

    Sampler sampler({job.run.temperature, job.run.top_p, job.run.seed});
    double step_ms = prefill_ms, decode_ms = 0;
    int64_t produced = 0;
    bool cancelled = false;
    for (int64_t i = 0; i < max_new; ++i) {
      auto row = logits.reshape({-1}).to(at::kCPU);
      GeneratedToken t;
      t.index = i;
      t.position = n_prompt + i;
      t.id = sampler.next(row);
      t.piece = tok.token_bytes(t.id);
      t.top = top_k_logits(row, 5);
      t.step_ms = step_ms;
      std::optional<StepComparison> cmp;
      if (reference) cmp = compare_logits(ref_logits.reshape({-1}).to(at::kCPU), row, t.id);
      ++produced;
      on_token(t, tok, meter, tiered, cmp, capacity, step_ms);
      if (tok.is_end_of_generation(t.id) || i + 1 == max_new) break;
      if (cancel) {
        cancelled = true;
        break;
      }
      const auto ts = std::chrono::steady_clock::now();
      logits = decoder->forward(ids_tensor(&t.id, 1), t.position, meter, true);
      sync();
      step_ms = ms_since(ts);  // the run under test only: the reference forward below is not timed
      decode_ms += step_ms;
      if (reference) ref_logits = decoder->forward(ids_tensor(&t.id, 1), t.position, *reference, true);
    }
    probe.end_step();
    finish_run(cancelled, produced, prefill_ms, decode_ms);
  }

  static double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  // After each generated token: series, tier map, attention error, the session row; then publish
  // and honour pause / single-step.
  void on_token(const GeneratedToken& t, const BpeTokenizer& tok, AttentionErrorMeter& meter, TieredKvCache* tiered,
                const std::optional<StepComparison>& cmp, int64_t capacity, double step_ms) {
    probe.end_step();
    probe.record_cpu_timing(t.index, t.index == 0 ? "prefill + first token" : "decode step", static_cast<uint64_t>(step_ms * 1e6));
    const ModelShape& m = state.model;
    const int64_t bytes_per_token = 2 * m.layers * m.kv_heads * m.head_dim * static_cast<int64_t>(sizeof(float));  // dense fp32
    const int64_t cached = meter.cached_tokens();
    // Bytes the attention must read this step, from the backend's layout: dense reads every
    // cached K and V (fp32); the tiered cache accounts its pages, hot window and metadata.
    const double resident = tiered ? tiered->resident_bytes().total : static_cast<double>(cached * bytes_per_token);
    const double read = tiered ? tiered->last_step_read_bytes() : static_cast<double>(cached * bytes_per_token);
    probe.record_modeled_bytes(t.index, probes::kNoLayer, tiered ? "attention (tiered layout)" : "attention K+V (dense layout)",
                               static_cast<uint64_t>(read));
    state.tokens.push_back(token_view(t, tok));
    if (tiered && t.index > 0) state.attention_path = tiered->attention_path();
    StepSeries& s = state.series;
    push_capped(s.step, static_cast<double>(t.index), kMaxSeries);
    push_capped(s.step_ms, t.step_ms, kMaxSeries);
    double window_ms = 0;
    int n = 0;
    for (auto it = state.tokens.rbegin(); it != state.tokens.rend() && n < kRateWindow; ++it) {
      if (it->index == 0) break;  // the first token's time is the prefill
      window_ms += it->step_ms;
      ++n;
    }
    push_capped(s.tokens_per_s, n > 0 && window_ms > 0 ? 1000.0 * n / window_ms : 0.0, kMaxSeries);
    push_capped(s.resident_bytes, resident, kMaxSeries);
    const double full = static_cast<double>(cached * m.fp16_kv_bytes_per_token);
    push_capped(s.full_fp16_bytes, full, kMaxSeries);
    double budget = NAN;
    if (tiered) {
      budget = tiered->budget_bytes();
      push_capped(s.budget_bytes, std::isfinite(budget) ? budget : 0.0, kMaxSeries);
    }
    push_capped(s.read_modeled, read, kMaxSeries);
    push_capped(s.kl, cmp ? cmp->kl : NAN, kMaxSeries);
    push_capped(s.top1_agree, cmp ? (cmp->top1_agree ? 1.0 : 0.0) : NAN, kMaxSeries);
    update_tier_map(tiered, cached, capacity, t.index);
    update_attention_error(meter);
    record_step(t, cmp, resident, full, read, budget, meter, tiered != nullptr);
    state.phase = RunPhase::decoding;
    publish();
    wait_if_paused(RunPhase::decoding);
    // After a pause: a head clicked while paused is measured by the very next forward.
    meter.set_focus(error_layer.load(), error_q_head.load());
    probe.begin_step(t.index + 1);
  }

  void finish_run(bool cancelled, int64_t produced, double prefill_ms, double decode_ms) {
    if (recorder) {
      // The probe worker drains every 50 ms: give it two periods so the last step's records
      // reach the session.
      std::this_thread::sleep_for(std::chrono::milliseconds(120));
      guard_recorder([&] {
        flush_probe_records(*recorder);
        recorder->set_summary("prefill_ms", prefill_ms);
        recorder->set_summary("prompt_tokens", static_cast<int64_t>(state.prompt_tokens.size()));
        recorder->set_summary("generated_tokens", produced);
        recorder->set_summary("probe_level", state.probe_level);
        if (cancelled) recorder->add_status("stopped by the user after " + std::to_string(produced) + " steps");
        recorder->finish();
      });
      recorder.reset();
    }
    {
      std::lock_guard<std::mutex> lk(probe_rec_mu);
      probe_rec_on = false;
      probe_rec.clear();
    }
    if (cancelled) {
      message(MessageLevel::info, "stopped after " + std::to_string(produced) + " tokens");
      set_phase(RunPhase::stopped);
    } else {
      const double tps = produced > 1 && decode_ms > 0 ? 1000.0 * static_cast<double>(produced - 1) / decode_ms : 0.0;
      std::ostringstream os;
      os.precision(3);
      os << "finished: " << produced << " tokens, prefill " << prefill_ms << " ms, " << tps << " tokens/s";
      message(MessageLevel::info, os.str());
      set_phase(RunPhase::finished);
    }
  }

  // ---- Recording (core/sessions) -----------------------------------------------------------

  // A recorder error (disk full, no permission) must not end the run: say so and stop recording.
  template <typename F>
  void guard_recorder(F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      message(MessageLevel::error, std::string("session recording stopped: ") + e.what());
      recorder.reset();
      state.session_dir.clear();
    }
  }

  void start_recorder(const Job& job, const ModelBundle& model, const ModelConfig& c, TieredKvCache* tiered,
                      const std::vector<int32_t>& ids, const BpeTokenizer& tok) {
    recorder.reset();
    state.session_dir.clear();
    if (!job.run.record_session) return;
    std::string dir = job.run.session_dir;
    if (dir.empty()) {
      const std::time_t now = std::time(nullptr);
      char stamp[32];
      std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
      dir = (std::filesystem::path(sessions_dir()) / ("live-" + std::string(stamp) + "-" + std::to_string(++run_counter))).string();
    }
    Session header;
    header.config = {{"policy", job.policy.kind == PolicyKind::dense ? std::string("dense") : core_policy_name(job.policy)},
                     {"budget", job.policy.kind == PolicyKind::dense ? std::string() : std::to_string(job.policy.budget_percent / 100.0)},
                     {"profile", job.policy.profile}, {"probe", job.run.probe_level}, {"max_new_tokens", job.run.max_new_tokens},
                     {"temperature", job.run.temperature}, {"top_p", job.run.top_p}, {"chat", job.run.prompt_source == PromptSource::chat},
                     {"prompt_source", job.run.prompt_source == PromptSource::file ? job.run.prompt_file : std::string("text")},
                     {"backend", state.backend_name}, {"reference", tiered != nullptr && job.run.measure_fidelity},
                     {"recorded_by", "skv-studio"}};
    if (tiered) {
      std::string tiers;
      for (const auto& t : job.policy.tiers) tiers += (tiers.empty() ? "" : ",") + t;
      header.config["tiers"] = tiers;
      header.config["hot_window"] = job.policy.hot_window;
      header.config["sink_tokens"] = job.policy.sink_tokens;
      header.config["retier_every"] = job.policy.retier_every;
      std::vector<std::string> names;
      for (const auto& t : tiered->tiers()) names.push_back(t.name);
      names.push_back("hot (fp16)");
      names.push_back("dropped");
      header.string_tables["tiers/names"] = names;
    }
    header.model.spec = job.run.model_spec;
    header.model.name = c.name;
    header.model.identity = model.weights->identity();
    const auto hash = header.model.identity.rfind('#');
    header.model.file_hash = hash == std::string::npos ? "" : header.model.identity.substr(hash + 1);
    header.model.config = model_config_to_json(c);
    header.environment = capture_environment();
    header.environment.device = state.device;
#ifdef TORCH_VERSION
    header.environment.torch_version = TORCH_VERSION;
#endif
    header.seed = job.run.seed;
    recorded_layer = std::clamp(focus_layer.load(), 0, static_cast<int>(c.n_layers) - 1);
    recorded_head = std::clamp(focus_kv_head.load(), 0, static_cast<int>(c.n_kv_heads) - 1);
    guard_recorder([&] {
      recorder = std::make_unique<SessionRecorder>(dir, header, RecorderOptions{16, 5.0});
      std::string text;
      for (const auto& v : state.prompt_tokens) text += v.piece;
      recorder->set_prompt(ids, text);
      state.session_dir = dir;
      message(MessageLevel::info, "recording this run to " + dir);
    });
    (void)tok;
  }

  // Probe records drained since the last call go into the session (probe/ columns, as in
  // `skv record`).
  void flush_probe_records(SessionRecorder& r) {
    std::vector<probes::Record> batch;
    {
      std::lock_guard<std::mutex> lk(probe_rec_mu);
      batch.swap(probe_rec);
    }
    if (!batch.empty()) r.add_probe_records(batch);
  }

  // One session row per step, with `skv record`'s names (docs/SESSION_FORMAT.md) so `skv report`
  // and the Studio's replay read both alike.
  void record_step(const GeneratedToken& t, const std::optional<StepComparison>& cmp, double resident, double full, double read,
                   double budget, const AttentionErrorMeter& meter, bool tiered) {
    if (!recorder) return;
    guard_recorder([&] {
      SessionRecorder& r = *recorder;
      flush_probe_records(r);
      r.record("latency_ms", t.step_ms, "ms", "wall time of the forward that produced this token (step 0: prefill)");
      r.record("position", static_cast<double>(t.position), "tokens", "absolute position of the token");
      if (!t.top.empty()) r.record("top1_logit", t.top.front().second, "logit", "highest logit of the step");
      if (cmp) {
        r.record("kl", cmp->kl, "nats", "KL(full || compressed) of the next-token distribution");
        r.record("top1_agree", cmp->top1_agree ? 1.0 : 0.0, "", "1 when the argmax agrees with the full cache");
        r.record("nll", cmp->nll, "nats", "-log p(token) under the compressed cache");
        r.record("nll_full", cmp->nll_full, "nats", "-log p(token) under the full cache");
      }
      r.record("resident_bytes", resident, "bytes", tiered ? "KV bytes resident (hot window + pages + fixed)" : "KV bytes resident (float32 dense cache)");
      r.record("full_fp16_bytes", full, "bytes", "the same tokens as a full fp16 cache");
      r.record("bytes_read_modeled", read, "bytes", tiered ? "bytes the attention reads (page layout model)" : "bytes the attention reads: the whole dense cache");
      if (std::isfinite(budget)) r.record("budget_bytes", budget, "bytes", "the policy's byte budget for the tokens held");
      if (meter.measuring() && !state.series.attn_error_mean.empty()) {
        r.record("attn_error_mean", state.series.attn_error_mean.back(), "", "mean attention-output relative error over (layer, q head), this step");
        const auto& e = meter.last_errors();
        r.append_frame("heatmaps/attn_rel_error", NpyArray::from(e, {state.model.layers, state.model.heads}),
                       {"heatmap", "", "attention-output relative error per layer and q head (this step, teacher forced, skv-studio)"});
      }
      const TierMap& tm = state.tiers;
      if (tiered && tm.available && tm.tier_names.size() >= 1) {
        // The Studio's codes (0 = hot, k = tier k-1, kTierDropped) to the session's (tiers..., hot, dropped).
        const int64_t nt = static_cast<int64_t>(tm.tier_names.size()) - 1;  // cache tiers
        const int64_t T = nt + 2;
        auto code = [&](uint8_t v) -> uint8_t {
          if (v == TierMap::kTierDropped) return static_cast<uint8_t>(T - 1);
          if (v == 0) return static_cast<uint8_t>(T - 2);
          return static_cast<uint8_t>(v - 1);
        };
        std::vector<float> shares(static_cast<size_t>(tm.layers * tm.heads * T), 0.f);
        for (int64_t cell = 0; cell < tm.layers * tm.heads; ++cell)
          for (int p = 0; p < tm.positions; ++p)
            shares[static_cast<size_t>(cell * T + code(tm.current[static_cast<size_t>(cell) * tm.positions + p]))] += 1.0f / static_cast<float>(tm.positions);
        r.append_frame("tiers/shares", NpyArray::from(shares, {tm.layers, tm.heads, T}),
                       {"tier_shares", "", "share of tokens per tier (string table tiers/names) per layer and kv head"});
        std::vector<uint8_t> row(static_cast<size_t>(tm.positions));
        const size_t cell = static_cast<size_t>(recorded_layer * tm.heads + recorded_head);
        for (int p = 0; p < tm.positions; ++p) row[static_cast<size_t>(p)] = code(tm.current[cell * tm.positions + p]);
        r.append_padded_row("tiers/image_L" + std::to_string(recorded_layer) + "_H" + std::to_string(recorded_head), row, 255,
                            {"tier_image", "", "layer " + std::to_string(recorded_layer) + " kv head " + std::to_string(recorded_head)});
      }
      r.add_token(t.id, t.piece);
      r.end_step();
    });
  }
};

StudioWorker::StudioWorker(bool probe_flush_on_worker) : impl_(std::make_unique<Impl>(probe_flush_on_worker)) {}
StudioWorker::~StudioWorker() = default;

void StudioWorker::start(const RunSettings& run, const PolicySettings& policy, bool paused) {
  {
    // Under the lock, so the loop clears `cancel` only when it takes this job.
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->cancel = true;  // ends the current run, if any
    impl_->pending = Impl::Job{run, policy, paused};
    impl_->paused = false;
  }
  impl_->cv.notify_all();
}

void StudioWorker::pause() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->paused = true;
}

void StudioWorker::resume() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->paused = false;
    impl_->step_credit = 0;
  }
  impl_->cv.notify_all();
}

void StudioWorker::single_step() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->paused = false;
    impl_->step_credit = 1;
  }
  impl_->cv.notify_all();
}

void StudioWorker::stop() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->cancel = true;
  }
  impl_->cv.notify_all();
}

void StudioWorker::set_focus(int tier_layer, int tier_kv_head, int error_layer, int error_q_head) {
  impl_->focus_layer = tier_layer;
  impl_->focus_kv_head = tier_kv_head;
  impl_->error_layer = error_layer;
  impl_->error_q_head = error_q_head;
}

std::shared_ptr<const StudioSnapshot> StudioWorker::snapshot() const {
  std::lock_guard<std::mutex> lk(impl_->pub_mu);
  return impl_->published;
}

std::shared_ptr<const probes::ProbeSnapshot> StudioWorker::probe_snapshot() const {
  return impl_->probe_worker.snapshot();
}

bool StudioWorker::busy() const { return impl_->running.load(); }

}  // namespace skv::studio
