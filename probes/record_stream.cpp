#include "probes/record_stream.h"

#include <bit>

#include "probes/probe_error.h"

namespace skv::probes {

const char* provenance_label(Provenance p) {
  switch (p) {
    case Provenance::measured_cupti: return "measured (CUPTI)";
    case Provenance::modeled: return "modeled";
    case Provenance::cpu_timer: return "CPU timer";
  }
  return "unknown";
}

bool record_provenance(const Record& r, Provenance* out) {
  return std::visit(
      [out](const auto& rec) -> bool {
        using T = std::decay_t<decltype(rec)>;
        if constexpr (std::is_same_v<T, StatusRecord>) {
          return false;
        } else {
          *out = T::provenance;
          return true;
        }
      },
      r);
}

RecordStream::RecordStream(std::size_t capacity) {
  if (capacity > (std::size_t{1} << 30)) {
    throw ProbeError("probe record stream capacity " + std::to_string(capacity) +
                     " is too large; use at most 2^30 records");
  }
  const std::size_t n = std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity);
  slots_ = std::make_unique<Slot[]>(n);
  for (std::size_t i = 0; i < n; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
  mask_ = n - 1;
}

bool RecordStream::try_push(const Record& r) noexcept {
  std::size_t pos = tail_.load(std::memory_order_relaxed);
  for (;;) {
    Slot& slot = slots_[pos & mask_];
    const std::size_t seq = slot.seq.load(std::memory_order_acquire);
    const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
    if (diff == 0) {
      if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
        slot.record = r;
        slot.seq.store(pos + 1, std::memory_order_release);
        pushed_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      // CAS failure reloaded pos; retry (lock-free: some producer made progress).
    } else if (diff < 0) {
      // The consumer has not freed this slot yet: the ring is full. Drop, never wait.
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    } else {
      pos = tail_.load(std::memory_order_relaxed);
    }
  }
}

bool RecordStream::try_pop(Record& out) noexcept {
  const std::size_t pos = head_.load(std::memory_order_relaxed);
  Slot& slot = slots_[pos & mask_];
  const std::size_t seq = slot.seq.load(std::memory_order_acquire);
  if (static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos + 1) < 0) return false;
  out = slot.record;
  slot.seq.store(pos + mask_ + 1, std::memory_order_release);
  head_.store(pos + 1, std::memory_order_relaxed);
  return true;
}

std::size_t RecordStream::drain(std::vector<Record>& out, std::size_t max_records) {
  std::size_t n = 0;
  Record r;
  while (n < max_records && try_pop(r)) {
    out.push_back(r);
    ++n;
  }
  return n;
}

std::size_t RecordStream::size_approx() const noexcept {
  const std::size_t t = tail_.load(std::memory_order_relaxed);
  const std::size_t h = head_.load(std::memory_order_relaxed);
  return t > h ? t - h : 0;
}

}  // namespace skv::probes
