#include "core/sessions/session_recorder.h"

#include <cmath>
#include <limits>
#include <variant>

#include "core/common/error.h"

namespace skv {
namespace fs = std::filesystem;
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const ArrayMeta kKernelMeta{"probe", "", "CUPTI kernel activity record (timeline level)"};
const ArrayMeta kCounterMeta{"probe", "", "CUPTI range profiler counters per range (counters level)"};
const ArrayMeta kSampleMeta{"probe", "", "CUPTI PM sampling point"};
const ArrayMeta kModeledMeta{"probe", "bytes", "bytes the page layout says a kernel must read (modeled)"};
const ArrayMeta kCpuMeta{"probe", "ns", "host steady_clock timing"};
}  // namespace

SessionRecorder::SessionRecorder(fs::path dir, Session header, RecorderOptions options)
    : dir_(std::move(dir)), session_(std::move(header)), options_(options) {
  if (session_.created_utc.empty()) session_.created_utc = utc_now_iso8601();
  session_.format_version = kSessionFormatVersion;
  session_.complete = false;
  for (const auto& [name, a] : session_.arrays) dirty_.insert(name);
  flush();
}

template <typename T>
void SessionRecorder::push(const std::string& name, T value, const ArrayMeta& meta) {
  auto it = session_.arrays.find(name);
  if (it == session_.arrays.end()) {
    session_.put(name, NpyArray::from(std::vector<T>{}), meta);
    it = session_.arrays.find(name);
  }
  NpyArray& a = it->second;
  a.check_type(npy_type_of<T>());
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  a.bytes.insert(a.bytes.end(), p, p + sizeof(T));
  a.shape[0] += 1;
  dirty_.insert(name);
}

int32_t SessionRecorder::intern(const std::string& table, const std::string& text) {
  auto& ids = interned_[table];
  auto it = ids.find(text);
  if (it != ids.end()) return it->second;
  auto& list = session_.string_tables[table];
  if (ids.empty())  // tables read from an existing session header
    for (std::size_t k = 0; k < list.size(); ++k) ids.emplace(list[k], static_cast<int32_t>(k));
  it = ids.find(text);
  if (it != ids.end()) return it->second;
  const auto id = static_cast<int32_t>(list.size());
  list.push_back(text);
  ids.emplace(text, id);
  return id;
}

void SessionRecorder::record(const std::string& name, double value, const std::string& unit, const std::string& description) {
  const std::string full = "series/" + name;
  if (!session_.arrays.count(full)) {
    // A new series: NaN for the steps before it appeared.
    session_.put(full, NpyArray::from(std::vector<double>(static_cast<std::size_t>(session_.steps), kNaN)),
                 ArrayMeta{"series", unit, description});
    dirty_.insert(full);
  }
  pending_[full] = value;
}

void SessionRecorder::append_frame(const std::string& name, const NpyArray& frame, const ArrayMeta& meta) {
  frame.check_size();
  NpyArray row = frame;
  row.shape.insert(row.shape.begin(), 1);
  auto it = session_.arrays.find(name);
  if (it == session_.arrays.end()) {
    session_.put(name, row, meta);
  } else {
    try {
      it->second.append_rows(row);
    } catch (const Error& e) {
      throw Error("frame for '" + name + "': " + e.what());
    }
  }
  dirty_.insert(name);
}

void SessionRecorder::append_padded_row(const std::string& name, const std::vector<uint8_t>& row, uint8_t pad,
                                        const ArrayMeta& meta) {
  auto it = session_.arrays.find(name);
  if (it == session_.arrays.end()) {
    session_.put(name, NpyArray::from(row, {1, static_cast<int64_t>(row.size())}), meta);
    dirty_.insert(name);
    return;
  }
  NpyArray& a = it->second;
  a.check_type(NpyType::u8);
  const int64_t width = a.shape[1], rows = a.shape[0];
  const auto n = static_cast<int64_t>(row.size());
  if (n > width) {  // widen every existing row
    std::vector<uint8_t> wide(static_cast<std::size_t>(rows * n), pad);
    for (int64_t r = 0; r < rows; ++r)
      std::copy(a.bytes.begin() + r * width, a.bytes.begin() + (r + 1) * width, wide.begin() + r * n);
    a.bytes = std::move(wide);
    a.shape[1] = n;
  }
  const int64_t w = a.shape[1];
  std::vector<uint8_t> padded(static_cast<std::size_t>(w), pad);
  std::copy(row.begin(), row.end(), padded.begin());
  a.bytes.insert(a.bytes.end(), padded.begin(), padded.end());
  a.shape[0] += 1;
  dirty_.insert(name);
}

void SessionRecorder::end_step() {
  for (const auto& name : session_.names_of_kind("series")) {
    auto it = pending_.find(name);
    push<double>(name, it == pending_.end() ? kNaN : it->second, session_.meta[name]);
  }
  pending_.clear();
  session_.steps += 1;
  maybe_autosave();
}

void SessionRecorder::set_prompt(const std::vector<int32_t>& ids, const std::string& text) {
  session_.put("tokens/prompt_ids", NpyArray::from(ids), {"tokens", "", "prompt token ids"});
  session_.put("tokens/prompt_text", NpyArray::from(std::vector<uint8_t>(text.begin(), text.end())),
               {"tokens", "", "prompt text, UTF-8 bytes"});
  dirty_.insert("tokens/prompt_ids");
  dirty_.insert("tokens/prompt_text");
}

void SessionRecorder::add_token(int32_t id, const std::string& piece) {
  push<int32_t>("tokens/ids", id, {"tokens", "", "generated token ids"});
  for (char c : piece) push<uint8_t>("tokens/text", static_cast<uint8_t>(c), {"tokens", "", "generated text, UTF-8 bytes"});
  if (!session_.arrays.count("tokens/text"))
    session_.put("tokens/text", NpyArray::from(std::vector<uint8_t>{}), {"tokens", "", "generated text, UTF-8 bytes"});
  // End offset of each token's bytes in tokens/text: piece k = text[end[k-1]:end[k]].
  push<int64_t>("tokens/piece_end", static_cast<int64_t>(session_.arrays["tokens/text"].bytes.size()),
                {"tokens", "bytes", "end offset of each generated token's bytes in tokens/text"});
}

void SessionRecorder::add_probe_records(const std::vector<probes::Record>& records) {
  for (const auto& rec : records) {
    std::visit(
        [&](const auto& r) {
          using R = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<R, probes::KernelRecord>) {
            push<int32_t>("probe/kernels/name_id", intern("probe/kernel_names", r.name.str()), kKernelMeta);
            push<int64_t>("probe/kernels/start_ns", static_cast<int64_t>(r.start_ns), kKernelMeta);
            push<int64_t>("probe/kernels/end_ns", static_cast<int64_t>(r.end_ns), kKernelMeta);
            for (auto [n, v] : {std::pair{"grid_x", r.grid.x}, {"grid_y", r.grid.y}, {"grid_z", r.grid.z},
                                {"block_x", r.block.x}, {"block_y", r.block.y}, {"block_z", r.block.z}})
              push<int32_t>(std::string("probe/kernels/") + n, v, kKernelMeta);
            push<int64_t>("probe/kernels/stream", r.stream, kKernelMeta);
            push<int64_t>("probe/kernels/correlation_id", r.correlation_id, kKernelMeta);
            push<int64_t>("probe/kernels/step", r.step, kKernelMeta);
            push<int32_t>("probe/kernels/layer", r.layer, kKernelMeta);
          } else if constexpr (std::is_same_v<R, probes::CounterRecord>) {
            push<int64_t>("probe/counters/step", r.step, kCounterMeta);
            push<int32_t>("probe/counters/layer", r.layer, kCounterMeta);
            push<int32_t>("probe/counters/range_id", intern("probe/counter_ranges", r.range.str()), kCounterMeta);
            push<int64_t>("probe/counters/dram_bytes_read", static_cast<int64_t>(r.dram_bytes_read.value), kCounterMeta);
            push<int64_t>("probe/counters/dram_bytes_write", static_cast<int64_t>(r.dram_bytes_write.value), kCounterMeta);
            push<double>("probe/counters/gpu_time_ns", r.gpu_time_ns, kCounterMeta);
            push<double>("probe/counters/l2_hit_rate_pct", r.has_l2_hit_rate ? r.l2_hit_rate_pct : kNaN, kCounterMeta);
          } else if constexpr (std::is_same_v<R, probes::SampleRecord>) {
            push<int64_t>("probe/samples/t_ns", static_cast<int64_t>(r.t_ns), kSampleMeta);
            push<double>("probe/samples/dram_read_bytes_per_s", r.dram_read_bytes_per_s, kSampleMeta);
            push<double>("probe/samples/dram_write_bytes_per_s", r.dram_write_bytes_per_s, kSampleMeta);
          } else if constexpr (std::is_same_v<R, probes::ModeledBytesRecord>) {
            push<int64_t>("probe/modeled/step", r.step, kModeledMeta);
            push<int32_t>("probe/modeled/layer", r.layer, kModeledMeta);
            push<int32_t>("probe/modeled/kernel_id", intern("probe/modeled_kernels", r.kernel.str()), kModeledMeta);
            push<int64_t>("probe/modeled/bytes", static_cast<int64_t>(r.modeled_bytes.value), kModeledMeta);
          } else if constexpr (std::is_same_v<R, probes::CpuTimingRecord>) {
            push<int64_t>("probe/cpu/step", r.step, kCpuMeta);
            push<int32_t>("probe/cpu/what_id", intern("probe/cpu_what", r.what.str()), kCpuMeta);
            push<int64_t>("probe/cpu/ns", static_cast<int64_t>(r.ns), kCpuMeta);
          } else if constexpr (std::is_same_v<R, probes::StatusRecord>) {
            static const char* kLevel[] = {"info", "warning", "error"};
            add_status(std::string(kLevel[static_cast<int>(r.level)]) + ": " + r.message.str());
          }
        },
        rec);
  }
  if (!records.empty()) maybe_autosave();
}

void SessionRecorder::add_status(const std::string& message) { session_.statuses.push_back(message); }

void SessionRecorder::set_summary(const std::string& key, const nlohmann::json& value) { session_.summary[key] = value; }

void SessionRecorder::put_array(const std::string& name, NpyArray array, const ArrayMeta& meta) {
  session_.put(name, std::move(array), meta);
  dirty_.insert(name);
}

void SessionRecorder::maybe_autosave() {
  const bool by_steps = options_.autosave_every_steps > 0 && session_.steps - steps_at_save_ >= options_.autosave_every_steps;
  const bool by_time = options_.autosave_every_seconds > 0 &&
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - last_save_).count() >=
                           options_.autosave_every_seconds;
  if (by_steps || by_time) flush();
}

void SessionRecorder::flush() {
  session_.updated_utc = utc_now_iso8601();
  std::vector<std::string> names(dirty_.begin(), dirty_.end());
  write_session(dir_, session_, &names);
  dirty_.clear();
  steps_at_save_ = session_.steps;
  last_save_ = std::chrono::steady_clock::now();
  ++flushes_;
}

void SessionRecorder::finish() {
  session_.complete = true;
  flush();
}

}  // namespace skv
