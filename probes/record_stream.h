// Bounded lock-free multi-producer / single-consumer record stream.
//
// The ring is D. Vyukov's bounded MPMC queue used with one consumer: each slot carries a sequence
// number; a producer claims a position with one CAS on `tail_` and publishes the slot with a
// release store of its sequence. A full ring makes try_push() return false and counts a drop;
// a producer never waits for the consumer and never allocates (records are trivially copyable).
// Records from one producer thread come out in the order that thread pushed them, because its
// claimed positions increase and the consumer reads positions in order.
//
// Threads: any number of producers (the decode thread, CUPTI's buffer-completion thread); exactly
// one consumer calls drain()/try_pop() at a time (the probe worker).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "probes/probe_records.h"

namespace skv::probes {

class RecordStream {
 public:
  // capacity is rounded up to a power of two (at least 2).
  explicit RecordStream(std::size_t capacity);
  RecordStream(const RecordStream&) = delete;
  RecordStream& operator=(const RecordStream&) = delete;

  // Producer side. Returns false (and counts one drop) when the ring is full.
  bool try_push(const Record& r) noexcept;

  // Consumer side (one thread at a time).
  bool try_pop(Record& out) noexcept;
  // Appends up to max_records to out; returns how many were appended.
  std::size_t drain(std::vector<Record>& out, std::size_t max_records = SIZE_MAX);

  std::size_t capacity() const noexcept { return mask_ + 1; }
  std::uint64_t pushed() const noexcept { return pushed_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  // Approximate number of records waiting (exact when no producer is mid-push).
  std::size_t size_approx() const noexcept;

 private:
  struct alignas(64) Slot {
    std::atomic<std::size_t> seq{0};
    Record record;
  };
  std::unique_ptr<Slot[]> slots_;
  std::size_t mask_ = 0;
  alignas(64) std::atomic<std::size_t> tail_{0};  // next position producers claim
  alignas(64) std::atomic<std::size_t> head_{0};  // next position the consumer reads
  alignas(64) std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace skv::probes
