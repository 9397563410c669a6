// skv record: a headless run recorded into a session directory (what the GUI records live):
// per-step latency, tokens, resident and modeled bytes, and, for a compressed cache, KL and top-1
// against a full-cache reference fed the same tokens, the attention-error heatmap, tier shares and
// per-head tier images; probe records as columns. Autosaves, so a killed run keeps its data.
//
// Probing goes through core/probing's DecodeProbe: one probe step per forward, one range per
// layer's attention, and the modeled bytes of every attention launch (per layer, from the page
// layout: pages + fp16 hot window for the RDR/ADA cache, the whole cache for the dense one),
// stored beside the CUPTI-measured bytes of the same ranges (counters count each layer's
// attention range) with their ratio as a series. Without measured counters (CPU, no CUPTI, no
// permission) the session holds modeled bytes only, labelled so.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/Version.h>
#include <c10/core/InferenceMode.h>
#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif

#include "app/cli/cli_commands.h"
#include "app/cli/policy_entry.h"
#include "core/cache/backend_factory.h"
#include "core/common/error.h"
#include "core/decoder/dense_kv_cache.h"
#include "core/decoder/device_choice.h"
#include "core/decoder/sampler.h"
#include "core/metrics/fidelity.h"
#include "core/model/model_bundle.h"
#include "core/model/model_config.h"
#include "core/probing/decode_probe.h"
#include "core/sessions/budget_profile.h"
#include "core/sessions/session_recorder.h"
#include "probes/probe.h"
#include "probes/probe_overhead.h"

namespace skv::cli {
namespace {

// Ctrl-C stops the run after the current step and saves everything (a kill -9 keeps the last
// autosave).
std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted.store(true); }

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string cuda_runtime_of_torch() {
  const std::string cfg = at::show_config();
  auto k = cfg.find("CUDA Runtime ");
  if (k == std::string::npos) return "";
  auto e = cfg.find_first_of("\n ", k + 13);
  return cfg.substr(k + 13, e == std::string::npos ? std::string::npos : e - k - 13);
}

std::string torch_version() {
#ifdef TORCH_VERSION
  return TORCH_VERSION;
#else
  return "unknown";
#endif
}

// "0:0,3:1" -> {(0,0), (3,1)}: (layer, kv head) pairs whose token x time tier image is recorded.
std::vector<std::pair<int64_t, int64_t>> parse_heads(const std::string& s, const ModelConfig& c) {
  std::vector<std::pair<int64_t, int64_t>> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto colon = item.find(':');
    int64_t l = -1, h = -1;
    try {
      l = std::stoll(item.substr(0, colon));
      h = colon == std::string::npos ? 0 : std::stoll(item.substr(colon + 1));
    } catch (...) {
      throw Error("--tier-heads '" + item + "' is not LAYER:HEAD");
    }
    if (l < 0 || l >= c.n_layers || h < 0 || h >= c.n_kv_heads)
      throw Error("--tier-heads " + item + ": the model has " + std::to_string(c.n_layers) + " layers and " +
                  std::to_string(c.n_kv_heads) + " kv heads");
    out.emplace_back(l, h);
  }
  return out;
}

}  // namespace

Handler add_record(CLI::App& app) {
  struct Opts {
    std::string model = "default", prompt, text, policy = "dense", budget = "0.25", probe = "off", out, device = "auto";
    std::string tier_heads = "0:0", profile, attention = "auto";
    bool chat = false, no_reference = false;
    int64_t max_new = 64, prompt_tokens = 0, autosave_steps = 16, overhead_steps = 8;
    bool pm_sampling = false;
    double autosave_seconds = 5, temperature = 0, top_p = 1;
    uint64_t seed = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("record", "Record a run headless into a session directory (docs/SESSION_FORMAT.md)");
  cmd->add_option("--model", o->model, "default | model.gguf | HF checkpoint dir | shape-only .json")->capture_default_str();
  auto* prompt = cmd->add_option("--prompt", o->prompt, "Prompt text");
  auto* text = cmd->add_option("--text", o->text, "Prompt from a file")->excludes(prompt);
  cmd->add_option("--prompt-tokens", o->prompt_tokens, "Seeded random prompt of N token ids (models without a tokenizer)")
      ->excludes(prompt)->excludes(text);
  cmd->add_flag("--chat", o->chat, "Wrap the prompt in the model's chat template");
  cmd->add_option("--policy", o->policy, "dense, or a retention policy of skv eval (rdr, snapkv, ..., ada:TIER)")->capture_default_str();
  auto* budget = cmd->add_option("--budget", o->budget, "Cache budget: fraction (0.25), percent or bytes")->capture_default_str();
  cmd->add_option("--profile", o->profile, "rdr: per-layer budget profile: auto (default: the model's own in "
                  "assets/profiles, if one is made for it), none, or a name of assets/profiles or a path (from skv tune; "
                  "then the budget defaults to its mean_budget)");
  cmd->add_option("--probe", o->probe, "off | cpu | timeline | counters")->capture_default_str();
  cmd->add_option("--probe-overhead-steps", o->overhead_steps,
                  "After the run, time N extra decode steps with the probe off and at its level (0 = skip)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--pm-sampling", o->pm_sampling, "timeline/counters: also a DRAM throughput series (CUPTI PM sampling)");
  cmd->add_option("--out", o->out, "Session directory (created; an existing session is replaced)")->required();
  cmd->add_option("--max-new-tokens", o->max_new, "Tokens to generate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_option("--attention", o->attention, "ada on cuda: auto (CUDA kernels where they run) | cuda | reference (CPU code)")
      ->capture_default_str();
  cmd->add_option("--temperature", o->temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-p", o->top_p, "Nucleus mass")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Sampling seed (and --prompt-tokens seed)")->capture_default_str();
  cmd->add_option("--tier-heads", o->tier_heads, "LAYER:KVHEAD list whose token x time tier image is recorded")->capture_default_str();
  cmd->add_flag("--no-reference", o->no_reference, "Skip the full-cache reference (no KL / top-1 series)");
  cmd->add_option("--autosave-steps", o->autosave_steps, "Autosave every N decode steps (0 = off)")->capture_default_str();
  cmd->add_option("--autosave-seconds", o->autosave_seconds, "Autosave every S seconds (0 = off)")->capture_default_str();
  return [o, budget]() {
    if (!o->profile.empty() && o->profile != "auto" && o->profile != kRdrNoProfile) {
      if (o->policy != "rdr" && o->policy != "rdr-c") throw Error("--profile needs --policy rdr");
      o->profile = find_budget_profile(o->profile).string();
      if (budget->count() == 0) o->budget = std::to_string(read_budget_profile(o->profile).mean_budget);
    }
    if (o->prompt.empty() && o->text.empty() && o->prompt_tokens <= 0)
      throw Error("record needs --prompt TEXT, --text FILE or --prompt-tokens N");
    const auto device = choose_device(o->device);
    ModelBundle model = open_model(o->model);
    LlamaDecoder decoder(*model.weights, device);
    const ModelConfig& c = decoder.config();
    std::string profile_used = "-";  // the budget profile an RD policy runs with (checked before the prefill)
    if (o->policy != "dense" && o->policy.rfind("ada:", 0) != 0) {
      BackendSpec check;
      check.kv = "rdr";
      check.policy = o->policy;
      check.policy_options.profile = o->profile;
      profile_used = check_policy_profile(check, c);
    }

    // Prompt ids (and a byte stand-in tokenizer for models that carry none).
    std::optional<BpeTokenizer> fallback;
    const BpeTokenizer* tok = model.tokenizer ? &*model.tokenizer : nullptr;
    std::vector<int32_t> prompt_ids;
    std::string prompt_text;
    if (o->prompt_tokens > 0) {
      std::mt19937 rng(static_cast<uint32_t>(o->seed));
      std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(c.vocab_size) - 1);
      for (int64_t k = 0; k < o->prompt_tokens; ++k) prompt_ids.push_back(pick(rng));
    } else {
      prompt_text = o->prompt;
      if (!o->text.empty()) {
        std::ifstream f(o->text, std::ios::binary);
        if (!f) throw Error("cannot read --text " + o->text);
        prompt_text.assign(std::istreambuf_iterator<char>(f), {});
      }
      const BpeTokenizer& t = model.require_tokenizer();
      if (o->chat) prompt_text = t.apply_chat_template({{"user", prompt_text}}, true);
      prompt_ids = t.encode(prompt_text);
    }
    if (!tok) {
      TokenizerData d;
      d.tokens.resize(static_cast<std::size_t>(c.vocab_size), "?");
      fallback.emplace(d);
      tok = &*fallback;
    }
    const int64_t n_prompt = static_cast<int64_t>(prompt_ids.size());
    if (n_prompt == 0) throw Error("the prompt is empty");
    if (n_prompt >= c.context_length) throw Error("the prompt does not fit the model's context of " + std::to_string(c.context_length));
    const int64_t max_new = std::min(o->max_new, c.context_length - n_prompt);
    const probes::Level want = probes::parse_level(o->probe);  // bad names fail before any work
    // The overhead measurement decodes 2 x (steps + 3 warm-up) tokens after its own prefill.
    int64_t overhead_steps = want == probes::Level::off ? 0 : o->overhead_steps;
    if (n_prompt + 2 * (overhead_steps + 3) > c.context_length) overhead_steps = 0;
    const int64_t capacity = n_prompt + max_new;

    // Backends: the one under test, and the full cache as the reference for KL / top-1.
    auto make_under_test = [&](TieredKvCache** tiered_out) -> std::unique_ptr<AttentionBackend> {
      *tiered_out = nullptr;
      if (o->policy == "dense") return std::make_unique<DenseKvCache>();
      BackendSpec spec;
      spec.kv = "rdr";
      spec.budget = o->budget;
      if (o->policy.rfind("ada:", 0) == 0) {
        spec.kv = "ada";
        spec.tier = o->policy.substr(4);
      } else {
        spec.policy = o->policy;
      }
      spec.policy_options.profile = o->profile;
      spec.cache.track_errors = true;
      spec.cache.attention = o->attention;
      auto t = make_tiered_cache(spec);
      *tiered_out = t.get();
      return t;
    };
    TieredKvCache* tiered = nullptr;
    std::unique_ptr<AttentionBackend> backend = make_under_test(&tiered);
    std::unique_ptr<DenseKvCache> reference;
    if (tiered && !o->no_reference) reference = std::make_unique<DenseKvCache>();
    const auto heads = tiered ? parse_heads(o->tier_heads, c) : std::vector<std::pair<int64_t, int64_t>>{};

    // Reset before the header: a tiered cache loads its tiers (named in the session) on reset.
    backend->reset(c, 1, capacity, device);
    if (reference) reference->reset(c, 1, n_prompt + max_new, device);

    Session header;
    header.config = {{"policy", o->policy}, {"budget", o->policy == "dense" ? "" : o->budget}, {"probe", o->probe},
                     {"max_new_tokens", o->max_new}, {"temperature", o->temperature}, {"top_p", o->top_p},
                     {"chat", o->chat}, {"prompt_source", o->prompt_tokens > 0 ? "random ids" : o->text.empty() ? "--prompt" : o->text},
                     {"profile", profile_used == "-" ? std::string() : profile_used.empty() ? std::string(kRdrNoProfile) : profile_used},
                     {"backend", backend->name()}, {"reference", reference != nullptr},
                     {"probe_overhead_steps", overhead_steps}, {"pm_sampling", o->pm_sampling},
                     {"attention", o->attention}};
    header.model.spec = o->model;
    header.model.name = c.name;
    header.model.identity = model.weights->identity();
    auto hash = header.model.identity.rfind('#');
    header.model.file_hash = hash == std::string::npos ? "" : header.model.identity.substr(hash + 1);
    header.model.config = model_config_to_json(c);
    header.environment = capture_environment();
    header.environment.device = device_description(device);
    header.environment.torch_version = torch_version();
    header.environment.cuda_version = cuda_runtime_of_torch();
    header.seed = o->seed;
    if (tiered) {
      std::vector<std::string> names;
      for (const auto& t : tiered->tiers()) names.push_back(t.name);
      names.push_back("hot (fp16)");
      names.push_back("dropped");
      header.string_tables["tiers/names"] = names;
    }
    SessionRecorder rec(o->out, header, {o->autosave_steps, o->autosave_seconds});
    rec.set_prompt(prompt_ids, prompt_text);

    probes::ProbeOptions popt;
    popt.counter_range_depth = 2;  // counters: each layer's attention range ("step 12/attn L3")
    popt.counter_max_ranges = 1024;  // a long prefill has 30 layers x its chunks of ranges
    popt.capacity = 1u << 17;      // the eager decoder launches ~1000 kernels a step
    popt.pm_sampling = o->pm_sampling;
    probes::Probe probe(popt);
    c10::InferenceMode inference_mode;
    auto ids_tensor = [](const int32_t* ids, int64_t n) {
      return at::from_blob(const_cast<int32_t*>(ids), {1, n}, at::kInt).to(at::kLong);
    };
    // Each probe level's cost, before anything touched CUPTI (once attached, CUPTI slows every
    // launch of the process a little even when the probe is off again, so an "off" measured after
    // a probed run is not the unprobed step time): a second cache of the same kind, the same
    // prompt, then N decode steps with the probe off and N at the level (measure_overhead), with
    // the same DecodeProbe work (ranges per layer, modeled bytes) as the recorded run.
    if (overhead_steps > 0) {
      TieredKvCache* ot = nullptr;
      std::unique_ptr<AttentionBackend> ob = make_under_test(&ot);
      ob->reset(c, 1, n_prompt + 2 * (overhead_steps + 3) + 1, device);
      for (int64_t done = 0; done < n_prompt;) {
        const int64_t n = std::min<int64_t>(256, n_prompt - done);
        decoder.forward(ids_tensor(prompt_ids.data() + done, n), done, *ob, true);
        done += n;
      }
      probing::DecodeProbe op(probe);
      if (ot) {
        op.set_traffic_model(probing::tiered_cache_traffic(*ot), "ada");
      } else {
        op.set_traffic_model(probing::dense_cache_traffic(4), "dense");
      }
      op.set_model_when_off(true);
      op.attach(decoder);
      int32_t tok = prompt_ids.back();
      int64_t pos = n_prompt;
      auto step_fn = [&](int64_t step) {
        op.set_step(step);
        decoder.forward(ids_tensor(&tok, 1), pos++, *ob, true).reshape({-1}).to(at::kCPU);
      };
      const probes::OverheadReport r = probes::measure_overhead(probe, want, int(overhead_steps), step_fn);
      probing::DecodeProbe::detach(decoder);
      std::vector<probes::Record> discard;
      probe.drain(discard);
      rec.set_summary("probe_overhead", nlohmann::json::parse(r.to_json()));
      std::fprintf(stderr, "[record] probe overhead at %s: median step %.3f ms off -> %.3f ms on (%+.1f%%; mean %+.1f%%) over %d steps\n",
                   probes::level_name(r.achieved), r.ns_per_step_off * 1e-6, r.ns_per_step_on * 1e-6, r.overhead_pct,
                   r.mean_overhead_pct, r.steps);
    }
    const probes::Level got = want == probes::Level::off ? want : probe.start(want);
    rec.set_summary("probe_level", probes::level_name(got));
    rec.set_summary("probe_level_requested", probes::level_name(want));
    // Modeled bytes of every attention launch, per layer (computed at every probe level, so the
    // series has one source; records are pushed only when the probe is on).
    probing::DecodeProbe dprobe(probe);
    if (tiered) {
      dprobe.set_traffic_model(probing::tiered_cache_traffic(*tiered), "ada");
    } else {
      dprobe.set_traffic_model(probing::dense_cache_traffic(4), "dense");  // DenseKvCache: float32 K and V
    }
    dprobe.set_model_when_off(true);
    dprobe.attach(decoder);
    // The reference forwards go through the same decoder: no probe ranges or modeled bytes for them.
    auto reference_forward = [&](const at::Tensor& ids, int64_t pos) {
      probing::DecodeProbe::detach(decoder);
      at::Tensor r = decoder.forward(ids, pos, *reference, true);
      dprobe.attach(decoder);
      return r;
    };
    std::vector<probes::Record> drained;
    auto drain = [&] {
      drained.clear();
      probe.drain(drained);
      rec.add_probe_records(drained);
    };

    g_interrupted.store(false);
    auto previous_handler = std::signal(SIGINT, on_sigint);
    // Prefill: probe step 0 (ranges "prefill <pos>+<n>"), series row 0.
    const auto t_prefill = std::chrono::steady_clock::now();
    at::Tensor logits, ref_logits;
    for (int64_t done = 0; done < n_prompt;) {
      const int64_t n = std::min<int64_t>(256, n_prompt - done);
      dprobe.begin_forward(0, done, n);
      logits = decoder.forward(ids_tensor(prompt_ids.data() + done, n), done, *backend, true);
      if (done + n == n_prompt) logits = logits.reshape({-1}).to(at::kCPU);  // the device sync ends the step
      dprobe.end_forward(0);
      if (reference) ref_logits = reference_forward(ids_tensor(prompt_ids.data() + done, n), done);
      done += n;
    }
    const double prefill_ms = ms_since(t_prefill);
    rec.set_summary("prefill_ms", prefill_ms);
    rec.set_summary("prompt_tokens", n_prompt);
    std::fprintf(stderr, "[record] %s, %lld prompt tokens, prefill %.1f ms on %s\n", backend->name().c_str(),
                 (long long)n_prompt, prefill_ms, device_description(device).c_str());

    Sampler sampler({o->temperature, o->top_p, o->seed});
    const double kv_elem = 4;  // DenseKvCache stores float32
    const double dense_token_bytes = 2.0 * c.n_layers * c.n_kv_heads * c.head_dim * kv_elem;
    double step_ms = prefill_ms;
    for (int64_t i = 0; i < max_new; ++i) {
      const int32_t id = sampler.next(logits);
      const int64_t pos = n_prompt + i;
      rec.record("latency_ms", step_ms, "ms", "wall time of the forward that produced this token (step 0: prefill)");
      rec.record("position", static_cast<double>(pos), "tokens", "absolute position of the token");
      rec.record("top1_logit", logits.max().item<double>(), "logit", "highest logit of the step");
      {
        // Modeled attention bytes of the forward that produced this token (none for the prefill).
        const auto& t = dprobe.last_step();
        rec.record("attn_bytes_read_modeled", t.layers > 0 ? double(t.modeled_read_bytes) : NAN, "bytes",
                   "MODELED (core/probing, page layout + hot window): bytes the step's attention launches read, all layers");
        std::vector<double> per_layer(static_cast<std::size_t>(c.n_layers), NAN);
        for (std::size_t l = 0; l < t.layer_read_bytes.size() && l < per_layer.size() && t.layers > 0; ++l)
          per_layer[l] = double(t.layer_read_bytes[l]);
        rec.append_frame("layers/attn_bytes_read_modeled", NpyArray::from(per_layer, {c.n_layers}),
                         {"layer_series", "bytes", "MODELED bytes read by each layer's attention launch"});
      }
      if (reference) {
        auto ref_row = ref_logits.reshape({-1}).to(at::kCPU);
        StepComparison cmp = compare_logits(ref_row, logits, id);
        rec.record("kl", cmp.kl, "nats", "KL(full || compressed) of the next-token distribution");
        rec.record("top1_agree", cmp.top1_agree ? 1.0 : 0.0, "", "1 when the argmax agrees with the full cache");
        rec.record("nll", cmp.nll, "nats", "-log p(token) under the compressed cache");
        rec.record("nll_full", cmp.nll_full, "nats", "-log p(token) under the full cache");
      }
      if (tiered) {
        ResidentBytes rb = tiered->resident_bytes();
        rec.record("resident_bytes", rb.total, "bytes", "KV bytes resident (hot window + pages + fixed)");
        rec.record("full_fp16_bytes", tiered->full_fp16_bytes(), "bytes", "the same tokens as a full fp16 cache");
        rec.record("bytes_read_modeled", tiered->last_step_read_bytes(), "bytes",
                   "MODELED by the cache's own accounting (stored page bytes + hot window + page metadata)");
        // Tier shares per (layer, kv head): tiers, then hot, then dropped.
        const int64_t T = static_cast<int64_t>(tiered->tiers().size()) + 2;
        std::vector<float> shares(static_cast<std::size_t>(c.n_layers * c.n_kv_heads * T), 0.f);
        for (int64_t l = 0; l < c.n_layers; ++l) {
          at::Tensor m = tiered->tier_map(l).to(at::kCPU).contiguous();  // [Hkv, N]
          const int64_t N = m.size(1);
          const int32_t* p = m.data_ptr<int32_t>();
          for (int64_t h = 0; h < c.n_kv_heads; ++h) {
            std::vector<uint8_t> row(static_cast<std::size_t>(N));
            for (int64_t k = 0; k < N; ++k) {
              const int32_t t = p[h * N + k];
              const int64_t code = t == kHotTier ? T - 2 : t == kDropTier ? T - 1 : t;
              shares[(l * c.n_kv_heads + h) * T + code] += 1.0f / static_cast<float>(N);
              row[k] = static_cast<uint8_t>(code);
            }
            for (auto [hl, hh] : heads)
              if (hl == l && hh == h)
                rec.append_padded_row("tiers/image_L" + std::to_string(l) + "_H" + std::to_string(h), row, 255,
                                      {"tier_image", "", "layer " + std::to_string(l) + " kv head " + std::to_string(h)});
          }
        }
        rec.append_frame("tiers/shares", NpyArray::from(shares, {c.n_layers, c.n_kv_heads, T}),
                         {"tier_shares", "", "share of tokens per tier (string table tiers/names) per layer and kv head"});
        at::Tensor err = tiered->attention_error();
        if (err.defined() && err.dim() == 2) {  // NaN rows before the first compared decode step
          err = err.to(at::kCPU).to(at::kFloat).contiguous();
          std::vector<float> e(err.data_ptr<float>(), err.data_ptr<float>() + err.numel());
          rec.append_frame("heatmaps/attn_rel_error", NpyArray::from(e, {err.size(0), err.size(1)}),
                           {"heatmap", "", "attention-output relative error per layer and q head (RMS over steps so far)"});
        }
      } else {
        const double bytes = dense_token_bytes * static_cast<double>(backend->cached_tokens());
        rec.record("resident_bytes", bytes, "bytes", "KV bytes resident (float32 dense cache)");
        rec.record("bytes_read_modeled", bytes, "bytes", "MODELED: the attention reads the whole dense cache");
      }
      rec.add_token(id, tok->token_bytes(id));
      drain();
      rec.end_step();
      if (tok->is_end_of_generation(id) || i + 1 == max_new) break;
      if (g_interrupted.load()) {
        rec.add_status("warning: interrupted (SIGINT) after " + std::to_string(i + 1) + " steps");
        break;
      }
      // The forward for the next token.
      const auto ts = std::chrono::steady_clock::now();
      dprobe.begin_forward(i + 1, pos, 1);
      logits = decoder.forward(ids_tensor(&id, 1), pos, *backend, true).reshape({-1}).to(at::kCPU);
      dprobe.end_forward(i + 1);  // after the device sync of .to(kCPU): the range is the step's wall time
      step_ms = ms_since(ts);
      if (reference) ref_logits = reference_forward(ids_tensor(&id, 1), pos);
      if ((i + 1) % 4 == 0 && probe.enabled()) probe.flush();  // CUPTI buffers -> the ring, drained next step
    }
    std::signal(SIGINT, previous_handler);
    probe.stop();
    drain();
    const Session& s = rec.session();
    const int64_t steps = s.steps;

    probing::DecodeProbe::detach(decoder);

    // Measured DRAM bytes per step and per layer from the counters (they arrive late, so they join
    // at the end): the sum of each layer's attention range, beside the modeled bytes of the same
    // launches, and their ratio.
    const bool measured = s.has("probe/counters/step");
    if (measured) {
      const std::size_t L = static_cast<std::size_t>(c.n_layers);
      std::vector<double> per_step(static_cast<std::size_t>(steps), NAN), per_layer(static_cast<std::size_t>(steps) * L, NAN);
      auto st = s.values("probe/counters/step"), ly = s.values("probe/counters/layer"), rd = s.values("probe/counters/dram_bytes_read");
      auto add = [](double& cell, double v) { cell = (std::isnan(cell) ? 0 : cell) + v; };
      for (std::size_t k = 0; k < st.size(); ++k) {
        if (!(st[k] >= 0 && st[k] < steps)) continue;
        const auto row = static_cast<std::size_t>(st[k]);
        add(per_step[row], rd[k]);
        if (ly[k] >= 0 && ly[k] < double(L)) add(per_layer[row * L + static_cast<std::size_t>(ly[k])], rd[k]);
      }
      rec.put_array("series/attn_bytes_read_measured", NpyArray::from(per_step),
                    {"series", "bytes", "MEASURED (CUPTI Range Profiler dram__bytes_read.sum): DRAM bytes read in the step's attention ranges, all layers"});
      rec.put_array("layers/attn_bytes_read_measured", NpyArray::from(per_layer, {steps, c.n_layers}),
                    {"layer_series", "bytes", "MEASURED DRAM bytes read in each layer's attention range"});
      std::vector<double> ratio(per_step.size(), NAN), layer_ratio(per_layer.size(), NAN);
      auto mod = s.values("series/attn_bytes_read_modeled");
      auto mod_l = s.array("layers/attn_bytes_read_modeled").to_double();
      for (std::size_t k = 0; k < ratio.size() && k < mod.size(); ++k)
        if (mod[k] > 0) ratio[k] = per_step[k] / mod[k];
      for (std::size_t k = 0; k < layer_ratio.size() && k < mod_l.size(); ++k)
        if (mod_l[k] > 0) layer_ratio[k] = per_layer[k] / mod_l[k];
      rec.put_array("series/attn_measured_over_modeled", NpyArray::from(ratio),
                    {"series", "ratio", "measured DRAM bytes read / modeled bytes of the step's attention launches"});
      rec.put_array("layers/attn_measured_over_modeled", NpyArray::from(layer_ratio, {steps, c.n_layers}),
                    {"layer_series", "ratio", "measured / modeled bytes per layer's attention launch"});
      // Kept under its old name: what the report's bytes and bandwidth plots read.
      rec.put_array("series/bytes_read_measured", NpyArray::from(per_step),
                    {"series", "bytes", "MEASURED DRAM bytes read per step in the attention ranges (CUPTI counters)"});
    }
    rec.set_summary("bytes_provenance",
                    measured ? "attn_bytes_read_modeled: modeled from the page layout; attn_bytes_read_measured: measured "
                               "by CUPTI (dram__bytes_read.sum per attention range)"
                             : std::string("modeled only: no measured DRAM bytes (probe level ") + probes::level_name(got) +
                                   (got == want ? "" : std::string(", asked for ") + probes::level_name(want)) +
                                   "; measured bytes need --probe counters on an NVIDIA GPU)");
    if (s.has("probe/kernels/step")) {
      std::vector<double> kms(static_cast<std::size_t>(s.steps), NAN);
      auto st = s.values("probe/kernels/step"), a = s.values("probe/kernels/start_ns"), b = s.values("probe/kernels/end_ns");
      for (std::size_t k = 0; k < st.size(); ++k)
        if (st[k] >= 0 && st[k] < s.steps) kms[static_cast<std::size_t>(st[k])] = (std::isnan(kms[st[k]]) ? 0 : kms[st[k]]) + (b[k] - a[k]) * 1e-6;
      rec.put_array("series/kernel_ms", NpyArray::from(kms), {"series", "ms", "sum of GPU kernel time per step (CUPTI timeline)"});
    }
    rec.set_summary("generated_tokens", steps);
    if (tiered) rec.set_summary("attention_path", tiered->attention_path());
    rec.set_summary("dropped_probe_records", probe.dropped());
    rec.finish();
    std::fprintf(stderr, "[record] %lld steps -> %s%s%s\n", (long long)steps, o->out.c_str(), tiered ? ", attention: " : "",
                 tiered ? tiered->attention_path().c_str() : "");
    return 0;
  };
}

}  // namespace skv::cli
