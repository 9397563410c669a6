// torch SDPA in fp16 (enable_gqa, one query token) on the GPU, timed with the kernels' own
// benchmark method (kernels/bench/attn_bench_suite.h) over rotated input sets: the baseline
// `skv bench attn` compares ADA against, in the same process and run.
#pragma once

#include "kernels/bench/attn_bench_suite.h"

namespace skv {

struct SdpaTiming {
  double us = 0;        // median per call
  double kv_bytes = 0;  // the fp16 K and V one call reads
  int sets = 0;
};

// Throws skv::Error with a one-line message when there is no CUDA device or the GPU runs out of memory.
SdpaTiming time_torch_sdpa_fp16(const kernels::AttnBenchCase& c, int runs);

}  // namespace skv
