#include "app/studio/session_view.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/common/error.h"

namespace skv::studio {
namespace fs = std::filesystem;
namespace {

double finite_mean(const std::vector<double>& v, size_t first = 0, size_t end = SIZE_MAX) {
  double sum = 0;
  int64_t n = 0;
  for (size_t i = first; i < std::min(end, v.size()); ++i)
    if (std::isfinite(v[i])) sum += v[i], ++n;
  return n ? sum / static_cast<double>(n) : NAN;
}

std::string str_or(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return "";
  const auto& v = j[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// The session's tier codes (tiers..., hot, dropped; 255 absent) to the Studio's (0 hot, k tier k-1).
uint8_t studio_tier_code(double v, int64_t T) {
  if (!std::isfinite(v) || v >= 255 || v < 0) return TierMap::kTierAbsent;
  const int64_t c = static_cast<int64_t>(v);
  if (c == T - 1) return TierMap::kTierDropped;
  if (c == T - 2) return 0;
  return static_cast<uint8_t>(std::min<int64_t>(c + 1, 250));
}

}  // namespace

OpenSession open_session(const std::string& dir) {
  if (dir.empty()) throw Error("no session folder given");
  if (!fs::is_directory(dir)) throw Error(dir + ": not a folder (a session is a folder holding manifest.json)");
  OpenSession o;
  o.dir = dir;
  o.label = fs::path(dir).filename().string();
  if (o.label.empty()) o.label = fs::path(dir).parent_path().filename().string();
  o.session = std::make_shared<const Session>(read_session(dir));
  if (o.session->steps < 0) throw Error(dir + "/manifest.json: negative step count");
  return o;
}

std::vector<double> session_series(const OpenSession& s, const std::string& name) {
  const std::string full = "series/" + name;
  if (!s.session || !s.session->has(full)) return {};
  auto v = s.session->values(full);
  if (static_cast<int64_t>(v.size()) > s.session->steps) v.resize(static_cast<size_t>(s.session->steps));
  return v;
}

StudioSnapshot replay_snapshot(const OpenSession& os, int64_t steps) {
  StudioSnapshot snap;
  if (!os.session) return snap;
  const Session& s = *os.session;
  steps = std::clamp<int64_t>(steps, s.steps > 0 ? 1 : 0, s.steps);
  const size_t n = static_cast<size_t>(steps);
  snap.replay = true;
  snap.replay_step = steps;
  snap.replay_steps = s.steps;
  snap.phase = s.complete ? RunPhase::finished : RunPhase::stopped;
  snap.phase_detail = "replay of " + os.label;
  snap.session_dir = os.dir;
  snap.device = s.environment.device;
  snap.backend_name = str_or(s.config, "backend");
  if (snap.backend_name.empty()) snap.backend_name = str_or(s.config, "policy");
  snap.probe_level = str_or(s.summary, "probe_level");
  snap.settings.model_spec = s.model.spec;
  snap.settings.max_new_tokens = s.config.value("max_new_tokens", int64_t{0});
  const auto& mc = s.model.config;
  snap.model.name = s.model.name;
  snap.model.layers = mc.value("n_layers", mc.value("num_hidden_layers", int64_t{0}));
  snap.model.heads = mc.value("n_heads", mc.value("num_attention_heads", int64_t{0}));
  snap.model.kv_heads = mc.value("n_kv_heads", mc.value("num_key_value_heads", int64_t{0}));
  snap.model.head_dim = mc.value("head_dim", int64_t{0});
  snap.model.context_length = mc.value("max_position_embeddings", int64_t{0});
  snap.model.vocab = mc.value("vocab_size", int64_t{0});
  snap.model.fp16_kv_bytes_per_token = 2 * snap.model.layers * snap.model.kv_heads * snap.model.head_dim * 2;
  if (s.summary.contains("prefill_ms") && s.summary["prefill_ms"].is_number()) snap.prefill_ms = s.summary["prefill_ms"].get<double>();

  // Tokens: a session stores the prompt's ids and its text, not per-token pieces, so the prompt
  // is shown as its text in words (id -1: the Tokens panel says so); generated pieces are cut
  // from tokens/text by their end offsets.
  if (s.has("tokens/prompt_text")) {
    const auto bytes = s.array("tokens/prompt_text").as<uint8_t>();
    std::string word;
    auto flush = [&] {
      if (word.empty()) return;
      TokenView v;
      v.index = -1;
      v.position = -1;
      v.id = -1;
      v.piece = std::move(word);
      word.clear();
      snap.prompt_tokens.push_back(std::move(v));
    };
    for (uint8_t c : bytes) {
      word += static_cast<char>(c);
      if (c == ' ' || c == '\n') flush();
    }
    flush();
  }
  const auto latency = session_series(os, "latency_ms");
  const auto position = session_series(os, "position");
  if (s.has("tokens/ids")) {
    const auto ids = s.values("tokens/ids");
    std::vector<uint8_t> text;
    std::vector<double> ends;
    if (s.has("tokens/text")) text = s.array("tokens/text").as<uint8_t>();
    if (s.has("tokens/piece_end")) ends = s.values("tokens/piece_end");
    for (size_t i = 0; i < std::min(n, ids.size()); ++i) {
      TokenView v;
      v.index = static_cast<int64_t>(i);
      v.position = i < position.size() && std::isfinite(position[i]) ? static_cast<int64_t>(position[i])
                                                                      : static_cast<int64_t>(i);
      v.id = static_cast<int32_t>(ids[i]);
      v.step_ms = i < latency.size() ? latency[i] : 0;
      if (i < ends.size()) {
        const size_t a = i == 0 ? 0 : static_cast<size_t>(ends[i - 1]), b = static_cast<size_t>(ends[i]);
        if (a <= b && b <= text.size()) v.piece.assign(text.begin() + static_cast<std::ptrdiff_t>(a), text.begin() + static_cast<std::ptrdiff_t>(b));
      }
      snap.tokens.push_back(std::move(v));
    }
  }

  // Series, cut at the replayed step.
  StepSeries& ser = snap.series;
  auto cut = [&](const std::string& name) {
    auto v = session_series(os, name);
    if (v.size() > n) v.resize(n);
    return v;
  };
  for (size_t i = 0; i < n; ++i) ser.step.push_back(static_cast<double>(i));
  ser.step_ms = cut("latency_ms");
  ser.step_ms.resize(n, NAN);
  for (size_t i = 0; i < n; ++i) {
    double sum = 0;
    int k = 0;
    for (size_t j = i + 1; j-- > 1 && k < 8;)  // the 8-step window of the live plot, decode steps only
      if (std::isfinite(ser.step_ms[j])) sum += ser.step_ms[j], ++k;
    ser.tokens_per_s.push_back(k > 0 && sum > 0 ? 1000.0 * k / sum : 0.0);
  }
  ser.resident_bytes = cut("resident_bytes");
  ser.full_fp16_bytes = cut("full_fp16_bytes");
  ser.budget_bytes = cut("budget_bytes");
  ser.read_modeled = cut("bytes_read_modeled");
  snap.copy_bandwidth_note = "device limit: not in the session";
  ser.attn_error_mean = cut("attn_error_mean");
  ser.kl = cut("kl");
  ser.top1_agree = cut("top1_agree");
  if (ser.kl.empty()) snap.fidelity_why_not = "this session has no KL / top-1 series (dense, or recorded without a full-cache reference)";

  // Tier map: shares of the replayed step; the recorded head's token x time image up to it.
  TierMap& tm = snap.tiers;
  tm.why_not = "this session has no tier map (a dense run keeps every token)";
  if (s.has("tiers/shares")) {
    const NpyArray& a = s.array("tiers/shares");
    if (a.shape.size() == 4 && a.shape[0] >= 1) {
      const int64_t L = a.shape[1], H = a.shape[2], T = a.shape[3];
      const int64_t row = std::min<int64_t>(static_cast<int64_t>(n), a.shape[0]) - 1;
      const auto v = a.to_double();
      std::vector<std::string> names;
      if (auto it = s.string_tables.find("tiers/names"); it != s.string_tables.end()) names = it->second;
      tm.available = row >= 0 && T >= 2;
      tm.source = "session " + os.label + ": tier shares at step " + std::to_string(row);
      tm.layers = static_cast<int>(L);
      tm.heads = static_cast<int>(H);
      tm.tier_names = {T - 2 < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(T - 2)] : "hot window (fp16)"};
      for (int64_t t = 0; t < T - 2; ++t) tm.tier_names.push_back(t < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(t)] : "tier " + std::to_string(t));
      tm.shares.assign(static_cast<size_t>(L * H * (T - 1)), 0.0f);
      for (int64_t c = 0; c < L * H && row >= 0; ++c) {
        const double* src = v.data() + (row * L * H + c) * T;
        tm.shares[static_cast<size_t>(c * (T - 1))] = static_cast<float>(src[T - 2]);
        for (int64_t t = 0; t < T - 2; ++t) tm.shares[static_cast<size_t>(c * (T - 1) + t + 1)] = static_cast<float>(src[t]);
      }
      for (const auto& name : s.names_of_kind("tier_image")) {
        const NpyArray& img = s.array(name);
        if (img.shape.size() != 2 || img.shape[0] == 0) continue;
        int l = 0, h = 0;
        if (std::sscanf(name.c_str(), "tiers/image_L%d_H%d", &l, &h) != 2) continue;
        tm.focus_layer = l;
        tm.focus_head = h;
        const int64_t rows = std::min<int64_t>(static_cast<int64_t>(n), img.shape[0]), cols = img.shape[1];
        const auto pix = img.to_double();
        tm.history_cols = static_cast<int>(cols);
        for (int64_t r = std::max<int64_t>(0, rows - 256); r < rows; ++r) {
          tm.history_steps.push_back(static_cast<int>(r));
          for (int64_t k = 0; k < cols; ++k) tm.history.push_back(studio_tier_code(pix[static_cast<size_t>(r * cols + k)], T));
        }
        break;  // the first recorded head
      }
    }
  }

  // Attention-error heatmap of the replayed step, and the mean over the steps so far.
  AttentionErrorMap& ae = snap.attention_error;
  ae.why_not = "this session has no attention-error heatmap";
  for (const auto& name : s.names_of_kind("heatmap")) {
    const NpyArray& a = s.array(name);
    if (a.shape.size() != 3 || a.shape[0] == 0) continue;
    const int64_t L = a.shape[1], H = a.shape[2], rows = std::min<int64_t>(static_cast<int64_t>(n), a.shape[0]);
    const auto v = a.to_double();
    ae.available = rows > 0;
    ae.layers = static_cast<int>(L);
    ae.heads = static_cast<int>(H);
    ae.compared = "session " + os.label + ": " + s.meta.at(name).description;
    ae.steps_measured = rows;
    ae.last.assign(static_cast<size_t>(L * H), 0.0f);
    ae.mean.assign(static_cast<size_t>(L * H), 0.0f);
    std::vector<int64_t> count(static_cast<size_t>(L * H), 0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < L * H; ++c) {
        const double x = v[static_cast<size_t>(r * L * H + c)];
        if (!std::isfinite(x)) continue;
        if (r == rows - 1) ae.last[static_cast<size_t>(c)] = static_cast<float>(x);
        ae.mean[static_cast<size_t>(c)] += static_cast<float>(x);
        ++count[static_cast<size_t>(c)];
      }
    for (size_t c = 0; c < ae.mean.size(); ++c)
      if (count[c]) ae.mean[c] /= static_cast<float>(count[c]);
    ae.compressed_why_not = "sessions do not store attention distributions: click a cell during a live run";
    break;
  }
  for (const auto& st : s.statuses) snap.messages.push_back({st.rfind("error", 0) == 0 ? MessageLevel::error : MessageLevel::info, st, 0});
  return snap;
}

namespace {

// A probe column as int64 (exact for CUPTI's nanosecond clock, which doubles would round).
std::vector<int64_t> int_column(const Session& s, const std::string& name) {
  if (!s.has(name)) return {};
  const NpyArray& a = s.array(name);
  if (a.type == NpyType::i64) return a.as<int64_t>();
  std::vector<int64_t> out;
  for (double v : a.to_double()) out.push_back(std::isfinite(v) ? static_cast<int64_t>(v) : 0);
  return out;
}
std::vector<double> double_column(const Session& s, const std::string& name) { return s.has(name) ? s.values(name) : std::vector<double>{}; }

std::string table_entry(const Session& s, const char* table, int64_t id) {
  auto it = s.string_tables.find(table);
  if (it == s.string_tables.end() || id < 0 || id >= static_cast<int64_t>(it->second.size())) return "?";
  return it->second[static_cast<size_t>(id)];
}

// Rows of a record kind: the shortest of its columns (an autosave cut mid-write leaves them equal).
size_t min_size(std::initializer_list<size_t> sizes) {
  size_t n = SIZE_MAX;
  for (size_t k : sizes) n = std::min(n, k);
  return n == SIZE_MAX ? 0 : n;
}

}  // namespace

probes::ProbeSnapshot replay_probe_snapshot(const OpenSession& os, int64_t steps) {
  probes::ProbeSnapshot p;
  if (!os.session) return p;
  const Session& s = *os.session;
  steps = std::clamp<int64_t>(steps, 0, s.steps);
  const bool at_end = steps >= s.steps;
  auto keep = [&](int64_t step) { return step >= 0 ? step < steps : at_end; };
  {
    const auto step = int_column(s, "probe/kernels/step"), name = int_column(s, "probe/kernels/name_id"),
               t0 = int_column(s, "probe/kernels/start_ns"), t1 = int_column(s, "probe/kernels/end_ns"),
               stream = int_column(s, "probe/kernels/stream"), corr = int_column(s, "probe/kernels/correlation_id"),
               layer = int_column(s, "probe/kernels/layer"), gx = int_column(s, "probe/kernels/grid_x"),
               gy = int_column(s, "probe/kernels/grid_y"), gz = int_column(s, "probe/kernels/grid_z"),
               bx = int_column(s, "probe/kernels/block_x"), by = int_column(s, "probe/kernels/block_y"),
               bz = int_column(s, "probe/kernels/block_z");
    const size_t n = min_size({step.size(), name.size(), t0.size(), t1.size()});
    auto at = [](const std::vector<int64_t>& v, size_t i, int64_t dflt) { return i < v.size() ? v[i] : dflt; };
    for (size_t i = 0; i < n; ++i) {
      if (!keep(step[i])) continue;
      probes::KernelRecord k;
      k.name.assign(table_entry(s, "probe/kernel_names", name[i]));
      k.start_ns = static_cast<uint64_t>(t0[i]);
      k.end_ns = static_cast<uint64_t>(t1[i]);
      k.stream = static_cast<uint32_t>(at(stream, i, 0));
      k.correlation_id = static_cast<uint32_t>(at(corr, i, 0));
      k.step = step[i];
      k.layer = static_cast<int32_t>(at(layer, i, probes::kNoLayer));
      k.grid = {static_cast<int32_t>(at(gx, i, 0)), static_cast<int32_t>(at(gy, i, 0)), static_cast<int32_t>(at(gz, i, 0))};
      k.block = {static_cast<int32_t>(at(bx, i, 0)), static_cast<int32_t>(at(by, i, 0)), static_cast<int32_t>(at(bz, i, 0))};
      p.kernels.push_back(k);
    }
  }
  {
    const auto step = int_column(s, "probe/counters/step"), layer = int_column(s, "probe/counters/layer"),
               range = int_column(s, "probe/counters/range_id"), rd = int_column(s, "probe/counters/dram_bytes_read"),
               wr = int_column(s, "probe/counters/dram_bytes_write");
    const auto gpu = double_column(s, "probe/counters/gpu_time_ns"), l2 = double_column(s, "probe/counters/l2_hit_rate_pct");
    const size_t n = min_size({step.size(), layer.size(), rd.size(), gpu.size()});
    for (size_t i = 0; i < n; ++i) {
      if (!keep(step[i])) continue;
      probes::CounterRecord c;
      c.step = step[i];
      c.layer = static_cast<int32_t>(layer[i]);
      if (i < range.size()) c.range.assign(table_entry(s, "probe/counter_ranges", range[i]));
      c.dram_bytes_read = probes::MeasuredBytes(static_cast<uint64_t>(rd[i]));
      if (i < wr.size()) c.dram_bytes_write = probes::MeasuredBytes(static_cast<uint64_t>(wr[i]));
      c.gpu_time_ns = gpu[i];
      c.has_l2_hit_rate = i < l2.size() && std::isfinite(l2[i]);
      if (c.has_l2_hit_rate) c.l2_hit_rate_pct = l2[i];
      p.counters.push_back(c);
    }
  }
  {
    const auto step = int_column(s, "probe/modeled/step"), layer = int_column(s, "probe/modeled/layer"),
               kernel = int_column(s, "probe/modeled/kernel_id"), bytes = int_column(s, "probe/modeled/bytes");
    const size_t n = min_size({step.size(), layer.size(), bytes.size()});
    for (size_t i = 0; i < n; ++i) {
      if (!keep(step[i])) continue;
      probes::ModeledBytesRecord m;
      m.step = step[i];
      m.layer = static_cast<int32_t>(layer[i]);
      if (i < kernel.size()) m.kernel.assign(table_entry(s, "probe/modeled_kernels", kernel[i]));
      m.modeled_bytes = probes::ModeledBytes(static_cast<uint64_t>(bytes[i]));
      p.modeled.push_back(m);
    }
  }
  {
    const auto step = int_column(s, "probe/cpu/step"), what = int_column(s, "probe/cpu/what_id"), ns = int_column(s, "probe/cpu/ns");
    const size_t n = min_size({step.size(), ns.size()});
    for (size_t i = 0; i < n; ++i) {
      if (!keep(step[i])) continue;
      probes::CpuTimingRecord c;
      c.step = step[i];
      if (i < what.size()) c.what.assign(table_entry(s, "probe/cpu_what", what[i]));
      c.ns = static_cast<uint64_t>(ns[i]);
      p.cpu.push_back(c);
    }
  }
  p.level = probes::Level::off;
  return p;
}

SessionMetrics session_metrics(const OpenSession& os) {
  SessionMetrics m;
  if (!os.session) return m;
  const Session& s = *os.session;
  m.label = os.label;
  m.policy = str_or(s.config, "policy");
  if (const std::string b = str_or(s.config, "budget"); !b.empty() && m.policy != "dense") m.policy += " @ " + b;
  m.model = s.model.name;
  m.device = s.environment.device;
  m.steps = s.steps;
  m.complete = s.complete;
  if (s.summary.contains("prefill_ms") && s.summary["prefill_ms"].is_number()) m.prefill_ms = s.summary["prefill_ms"].get<double>();
  const auto lat = session_series(os, "latency_ms");
  m.latency_ms = finite_mean(lat, 1);  // step 0 carries the prefill
  if (std::isfinite(m.latency_ms) && m.latency_ms > 0) m.tokens_per_s = 1000.0 / m.latency_ms;
  m.kl = finite_mean(session_series(os, "kl"));
  m.top1 = finite_mean(session_series(os, "top1_agree"));
  const auto res = session_series(os, "resident_bytes"), full = session_series(os, "full_fp16_bytes");
  m.resident_bytes = finite_mean(res);
  std::vector<double> frac;
  for (size_t i = 0; i < std::min(res.size(), full.size()); ++i)
    if (full[i] > 0) frac.push_back(res[i] / full[i]);
  m.resident_fraction = finite_mean(frac);
  m.attn_error = finite_mean(session_series(os, "attn_error_mean"));
  if (!std::isfinite(m.attn_error)) {
    // `skv record` keeps the heatmap only: its last frame's mean over (layer, head).
    for (const auto& name : s.names_of_kind("heatmap")) {
      const NpyArray& a = s.array(name);
      if (a.shape.size() != 3 || a.shape[0] == 0) continue;
      const auto v = a.to_double();
      const size_t cells = static_cast<size_t>(a.shape[1] * a.shape[2]);
      m.attn_error = finite_mean(v, v.size() - cells);
      break;
    }
  }
  return m;
}

}  // namespace skv::studio
