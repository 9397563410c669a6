#pragma once
// Plain data shared by the Studio's worker and its panels. No libtorch, no ImGui: the GUI files
// include this and stay cheap to compile; the worker fills it and publishes immutable copies.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/policies/rdr_defaults.h"
#include "probes/probe_worker.h"

namespace skv::studio {

// ---- What the user asks for --------------------------------------------------------------

enum class PromptSource { text, file, chat };

// One run: model, prompt, device, sampling. The Run panel edits a copy; Start sends it.
struct RunSettings {
  std::string model_spec = "default";  // "default", a .gguf, a safetensors dir/file, a shape .json
  PromptSource prompt_source = PromptSource::text;
  std::string prompt_text;             // text or chat message
  std::string prompt_file;             // PromptSource::file
  std::string device = "auto";         // auto | cpu | cuda
  int64_t max_new_tokens = 256;
  // Prompt tokens kept (the first ones): -1 = auto (auto_prompt_tokens), 0 = all.
  int64_t max_prompt_tokens = -1;
  double temperature = 0.0;            // 0 = greedy
  double top_p = 1.0;
  uint64_t seed = 0;
  std::string probe_level = "auto";    // auto | off | cpu | timeline | counters
  bool measure_attention_error = true; // shadow exact cache, teacher forced (SPHERICAL_KV.md §3)
  // A full-cache reference decoder fed the same tokens (as `skv record` does): running next-token
  // KL and top-1 agreement per step. Costs a second forward per step; compressed backends only.
  bool measure_fidelity = true;
  // Every run is recorded (core/sessions' SessionRecorder, autosaved) so nothing is lost and
  // Export has data. Empty = a new folder under sessions_dir() named by the start time.
  bool record_session = true;
  std::string session_dir;
  int64_t pause_after_steps = -1;      // pause once this many tokens exist (screenshot/tests); -1 = never
};

// Retention policies the tool compares (SPHERICAL_KV.md section 2 and section 4). `dense` is the
// reference (DenseKvCache); every other one runs on core/cache's TieredKvCache.
inline constexpr bool kRdrInBuild = true;

enum class PolicyKind { dense, rdr, streaming_llm, h2o, snapkv, pyramidkv, triattention, kivi, quest, rdkv };
struct PolicyInfo {
  PolicyKind kind;
  const char* id;     // stable id for JSON
  const char* label;  // UI
  const char* help;   // tooltip
};
const std::vector<PolicyInfo>& policy_catalog();
const PolicyInfo& policy_info(PolicyKind kind);
// core/policies' registry name for a policy with these options ("rdr-c", "kivi2", "quest-c", ...).
struct PolicySettings;
std::string core_policy_name(const PolicySettings& p);

struct PolicySettings {
  PolicyKind kind = PolicyKind::rdr;
  float budget_percent = 25.0f;  // of the full fp16 cache of the tokens held
  // Tier formats from assets/tiers, best first (RDR / RDKV choose among them).
  std::vector<std::string> tiers{"fp16", "k4v4", "k3v4", "k2v2"};
  int hot_window = 32;           // newest tokens kept fp16
  int sink_tokens = 4;           // first tokens kept fp16
  int retier_every = 64;         // decode steps between re-tierings
  // RDR's knobs default to core/policies/rdr_defaults.h (the CLI's): utility estimator or blend,
  // its power gamma, and the budget profile.
  std::string utility = kRdrDefaultUtility;
  double utility_power = kRdrDefaultUtilityPower;
  bool completion = false;       // feature-map summary of dropped tokens (rdr-c, quest-c)
  int kivi_bits = 2;             // KIVI: 2 or 4
  // A per-layer budget profile (core/sessions' budget_profile, assets/profiles/MODEL.json): RDR
  // splits the budget over layers by its layer_shares. "auto" = the loaded model's own profile
  // (none if it has none), "none" = one allocation across layers, else a file.
  std::string profile = kRdrDefaultProfile;
};

// ---- What the worker publishes -----------------------------------------------------------

enum class RunPhase { idle, loading, prefill, decoding, paused, finished, stopped, failed };
const char* phase_label(RunPhase p);

// max_prompt_tokens = auto: 512 on a CPU (the shipped ~4k-token texts take many minutes there);
// on a GPU all that fits the context with room for max_new_tokens (at least half the context).
int64_t auto_prompt_tokens(bool gpu, int64_t context_length, int64_t max_new_tokens);

enum class MessageLevel { info, warning, error };
struct StudioMessage {
  MessageLevel level = MessageLevel::info;
  std::string text;
  double t_s = 0;  // seconds since the worker started
};

struct TokenView {
  int64_t index = 0;     // among generated tokens; -1 for prompt tokens
  int64_t position = 0;  // absolute position
  int32_t id = 0;
  std::string piece;
  double step_ms = 0;
  std::vector<std::pair<int32_t, float>> top;  // (id, logit), highest first
  std::vector<std::string> top_pieces;         // their bytes
};

// Per generated step: x = token index. Capped (oldest dropped) so copies stay small.
struct StepSeries {
  std::vector<double> step;           // token index
  std::vector<double> step_ms;        // forward time that produced the token (host timer)
  std::vector<double> tokens_per_s;   // 1000 / step_ms, over a short moving window
  std::vector<double> resident_bytes; // KV bytes the backend holds after the step (from its layout)
  std::vector<double> budget_bytes;   // the policy's byte budget at that step (empty for dense)
  std::vector<double> full_fp16_bytes;// a full fp16 cache of the same tokens
  std::vector<double> attn_error_mean;// mean relative attention-output error over heads (if measured)
  // Against the full-cache reference (core/metrics' compare_logits), NaN where not measured.
  std::vector<double> kl;             // KL(p_full || p_compressed) of the next-token distribution, nats
  std::vector<double> top1_agree;     // 1 when both argmaxes agree
  std::vector<double> read_modeled;   // bytes the attention reads per step (layout model)
};

// Tier shares per (layer, KV head): shares[(l * heads + h) * tiers + t] in [0, 1].
struct TierMap {
  bool available = false;
  std::string why_not;  // shown when !available
  std::string source;   // which backend filled it
  int layers = 0, heads = 0;
  std::vector<std::string> tier_names;  // index 0 = highest precision
  std::vector<float> shares;
  // Tier of every position now: current[(l * heads + h) * positions + p] (tier index or kTierDropped).
  int positions = 0;
  std::vector<uint8_t> current;
  // The drilled-into head: rows = steps (oldest first), cols = positions; value = tier index,
  // kTierAbsent (position not yet in the sequence) or kTierDropped.
  int focus_layer = 0, focus_head = 0;
  int history_cols = 0;
  std::vector<int> history_steps;         // token index of each row
  std::vector<uint8_t> history;           // rows * history_cols
  static constexpr uint8_t kTierAbsent = 255;
  static constexpr uint8_t kTierDropped = 254;
};

// Attention-output relative error ‖o − ô‖ / ‖o‖ per (layer, query head), teacher forced.
struct AttentionErrorMap {
  bool available = false;
  std::string why_not;
  std::string compared;  // "dense (fp32) vs exact"
  int layers = 0, heads = 0;
  std::vector<float> last;  // of the last step, layers * heads
  std::vector<float> mean;  // running mean over measured steps
  int64_t steps_measured = 0;
  // Distributions over positions of the focused (layer, query head), last query.
  int focus_layer = 0, focus_head = 0;
  std::vector<float> exact_probs;
  std::vector<float> compressed_probs;  // empty when the backend cannot report it
  std::string compressed_why_not;
};

struct ModelShape {
  std::string name;
  int64_t layers = 0, heads = 0, kv_heads = 0, head_dim = 0, context_length = 0, vocab = 0;
  int64_t fp16_kv_bytes_per_token = 0;
};

struct StudioSnapshot {
  uint64_t version = 0;
  RunPhase phase = RunPhase::idle;
  std::string phase_detail;     // "loading default model", error text when failed
  RunSettings settings;         // of the current/last run
  PolicySettings policy;        // as requested
  std::string backend_name;     // what actually runs ("dense")
  std::string attention_path;   // tiered cache: which code attended the last decode step ("cuda kernels", "cpu reference")
  bool policy_fallback = false; // the requested policy is not in this build; dense runs instead
  ModelShape model;
  std::string device;           // device_description
  int64_t prefill_done = 0, prefill_total = 0;
  double prefill_ms = 0;
  std::vector<TokenView> prompt_tokens;
  std::vector<TokenView> tokens;
  StepSeries series;
  TierMap tiers;
  AttentionErrorMap attention_error;
  std::string probe_level;      // the level the probe reached for this run
  std::string fidelity_why_not; // why there is no KL / top-1 series ("" when measured)
  std::string session_dir;      // where this run is recorded ("" when not recorded)
  // The device's copy bandwidth, read + write bytes per second of a timed device-to-device copy
  // (0 when not measured); the note says how it was got or why not.
  double copy_bandwidth_gbs = 0;
  std::string copy_bandwidth_note;
  // Set by session replay: the snapshot shows a saved session at replay_step of replay_steps.
  bool replay = false;
  int64_t replay_step = 0, replay_steps = 0;
  std::vector<StudioMessage> messages;                 // newest last, capped
};

}  // namespace skv::studio
