// A continuous series of DRAM read/write throughput from CUPTI PM sampling
// (cupti_pmsampling.h, CUDA 12.6+ / 13): the GPU samples its performance monitors every
// `interval_ns` into a hardware buffer while kernels run; collect() decodes what has arrived and
// pushes one SampleRecord (Provenance measured_cupti) per completed sample, with bytes/s computed
// from the sample's dram__bytes_{read,write}.sum and its own start/end timestamps.
//
// The PM sampling functions are looked up in the already-loaded libcupti (the CuptiApi table
// stays the Range Profiler's), so a CUPTI without them, a GPU without support (Turing/GA100 have
// no time-based trigger: the sysclk trigger is tried next), missing privileges, or a Range
// Profiler session holding the counters all give a one-line reason and no samples; decoding goes on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "probes/cupti_library.h"
#include "probes/record_stream.h"

namespace skv::probes {

struct PmSamplingOptions {
  std::uint64_t interval_ns = 100000;                  // 100 us between samples
  std::size_t hardware_buffer_bytes = 64u << 20;       // device memory CUPTI samples into
  std::uint32_t max_samples = 8192;                    // samples one decode pass holds
};

#if SKV_PROBES_HAVE_CUPTI_HEADERS

class PmSampler {
 public:
  PmSampler(std::shared_ptr<const CuptiApi> api, RecordStream* out, PmSamplingOptions options);
  ~PmSampler();
  PmSampler(const PmSampler&) = delete;
  PmSampler& operator=(const PmSampler&) = delete;

  // Empty on success, else a one-line reason (nothing is left running then). Notes go to *notes.
  std::string start(std::vector<std::string>* notes);
  // Decodes the hardware buffer; pushes a SampleRecord per completed sample. Empty on success.
  std::string collect();
  void stop();  // collects once more, then releases everything
  std::uint64_t samples_emitted() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

#endif

}  // namespace skv::probes
