// Kernel timeline from the CUPTI Activity API (CONCURRENT_KERNEL + EXTERNAL_CORRELATION).
//
// CUPTI fills activity buffers asynchronously and hands completed ones to buffer_completed() on
// its own thread (or on the thread calling flush()). That callback is the "worker" side: it turns
// CUPTI records into KernelRecords and pushes them into the RecordStream, so nothing on the decode
// thread parses buffers. The decode thread only pushes/pops an external correlation id per range
// (two cheap CUPTI calls), which CUPTI attaches to every kernel launched inside the range.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "probes/cupti_library.h"
#include "probes/record_stream.h"

namespace skv::probes {

// step/layer packed into CUPTI's 64-bit external correlation id (layer: 20 bits, step: 44 bits).
std::uint64_t pack_correlation(std::int64_t step, std::int32_t layer);
void unpack_correlation(std::uint64_t id, std::int64_t* step, std::int32_t* layer);

#if SKV_PROBES_HAVE_CUPTI_HEADERS

class CuptiTimeline {
 public:
  CuptiTimeline(std::shared_ptr<const CuptiApi> api, RecordStream* out);
  ~CuptiTimeline();
  CuptiTimeline(const CuptiTimeline&) = delete;
  CuptiTimeline& operator=(const CuptiTimeline&) = delete;

  // Empty string on success, else a one-line reason (the caller reports it and degrades).
  std::string start();
  void stop();  // flushes, disables the activity kinds
  void flush();  // hands every buffered record to the consumer (blocks until CUPTI is done);
                 // thread-safe against push/pop_correlation

  void push_correlation(std::int64_t step, std::int32_t layer);
  void pop_correlation();

  // Non-empty when the timeline runs without step/layer tags (external correlation refused).
  const std::string& correlation_note() const { return correlation_note_; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::string correlation_note_;
};

#endif

}  // namespace skv::probes
