// Typed records that flow probe -> consumer through the RecordStream.
//
// Every record is trivially copyable (fixed-size names, no heap), so a producer pushes one with
// a memcpy into a ring slot and never allocates.
//
// Provenance is part of the type: a number measured by CUPTI (KernelRecord, CounterRecord,
// SampleRecord) is held in MeasuredBytes / a measured record type, a number computed from the
// page layout (ModeledBytesRecord) in ModeledBytes, a host clock reading in CpuTimingRecord.
// MeasuredBytes and ModeledBytes do not convert into each other, so code cannot show a modeled
// number as "measured HBM traffic" by accident. Each record type also carries a static
// `provenance` and the free function provenance(const Record&) returns it for display.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace skv::probes {

enum class Provenance : std::uint8_t {
  measured_cupti,  // read from GPU hardware through CUPTI (activity timestamps, PM counters)
  modeled,         // computed by the caller (e.g. bytes the attention must read, from page layout)
  cpu_timer,       // host steady_clock; for GPU work this is launch + sync time, not kernel time
};

// Short label for UI legends and JSON: "measured (CUPTI)", "modeled", "CPU timer".
const char* provenance_label(Provenance p);

// Fixed-capacity, NUL-terminated name; longer input is truncated (never allocates).
template <std::size_t N>
struct FixedName {
  char text[N] = {};
  FixedName() = default;
  FixedName(std::string_view s) { assign(s); }  // NOLINT: implicit on purpose
  void assign(std::string_view s) {
    const std::size_t n = std::min(s.size(), N - 1);
    std::memcpy(text, s.data(), n);
    text[n] = '\0';
  }
  std::string_view view() const { return std::string_view(text); }
  std::string str() const { return std::string(text); }
};

// Bytes read/written as counted by GPU hardware. Constructed explicitly only.
struct MeasuredBytes {
  std::uint64_t value = 0;
  constexpr MeasuredBytes() = default;
  constexpr explicit MeasuredBytes(std::uint64_t v) : value(v) {}
};
// Bytes a kernel is expected to move, derived from a model (page layout, shapes).
struct ModeledBytes {
  std::uint64_t value = 0;
  constexpr ModeledBytes() = default;
  constexpr explicit ModeledBytes(std::uint64_t v) : value(v) {}
};

struct Dim3 {
  std::int32_t x = 0, y = 0, z = 0;
};

inline constexpr std::int64_t kNoStep = -1;
inline constexpr std::int32_t kNoLayer = -1;

// One kernel execution from the CUPTI Activity API (CONCURRENT_KERNEL). Times in ns on the CUPTI
// clock. step/layer come from the probe's range stack via external correlation; kNoStep/kNoLayer
// when the kernel ran outside any range.
struct KernelRecord {
  static constexpr Provenance provenance = Provenance::measured_cupti;
  FixedName<128> name;  // demangled-or-mangled kernel name, truncated
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  Dim3 grid;
  Dim3 block;
  std::uint32_t stream = 0;
  std::uint32_t correlation_id = 0;
  std::int64_t step = kNoStep;
  std::int32_t layer = kNoLayer;
  std::uint64_t duration_ns() const { return end_ns > start_ns ? end_ns - start_ns : 0; }
};

// Hardware counters summed over one profiled range (Range Profiler, user range + user replay).
struct CounterRecord {
  static constexpr Provenance provenance = Provenance::measured_cupti;
  std::int64_t step = kNoStep;
  std::int32_t layer = kNoLayer;
  FixedName<64> range;  // "step 12" or "step 12/attn L3"
  MeasuredBytes dram_bytes_read;
  MeasuredBytes dram_bytes_write;
  double gpu_time_ns = 0.0;
  bool has_l2_hit_rate = false;
  double l2_hit_rate_pct = 0.0;  // lts__t_sector_hit_rate.pct, valid when has_l2_hit_rate
};

// One point of a continuous DRAM throughput series (PM sampling).
struct SampleRecord {
  static constexpr Provenance provenance = Provenance::measured_cupti;
  std::uint64_t t_ns = 0;
  double dram_read_bytes_per_s = 0.0;
  double dram_write_bytes_per_s = 0.0;
};

// Bytes the caller's model says a launch must move. Carried, never produced, by probes/.
struct ModeledBytesRecord {
  static constexpr Provenance provenance = Provenance::modeled;
  static constexpr const char* label = "modeled";
  std::int64_t step = kNoStep;
  std::int32_t layer = kNoLayer;
  FixedName<64> kernel;
  ModeledBytes modeled_bytes;
};

// Host wall time of something (a decode step, a range), from std::chrono::steady_clock.
struct CpuTimingRecord {
  static constexpr Provenance provenance = Provenance::cpu_timer;
  std::int64_t step = kNoStep;
  FixedName<64> what;
  std::uint64_t ns = 0;
};

enum class StatusLevel : std::uint8_t { info, warning, error };

// Something the user should read: a level that failed and why, what the probe fell back to.
struct StatusRecord {
  StatusLevel level = StatusLevel::info;
  FixedName<200> message;
};

using Record = std::variant<KernelRecord, CounterRecord, SampleRecord, ModeledBytesRecord,
                            CpuTimingRecord, StatusRecord>;
static_assert(std::is_trivially_copyable_v<KernelRecord> && std::is_trivially_copyable_v<CounterRecord> &&
                  std::is_trivially_copyable_v<StatusRecord>,
              "records must be trivially copyable so a push never allocates");

// The provenance of a numeric record; StatusRecord has none (std::nullopt-like: returns false).
bool record_provenance(const Record& r, Provenance* out);

}  // namespace skv::probes
