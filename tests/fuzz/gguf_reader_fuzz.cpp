// libFuzzer target for the GGUF reader: any byte string must either parse (and then dequantize
// every tensor it can) or end in skv::Error. Crashes, sanitizer reports, hangs and huge
// allocations are bugs.
#include <cstddef>
#include <cstdint>

#include "core/common/error.h"
#include "core/model/gguf_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = skv::GgufFile::open_memory(data, size, "fuzz.gguf");
    for (const auto& [key, v] : f->metadata()) {
      (void)key;
      try {
        (void)v.as_double();
      } catch (const skv::Error&) {
      }
    }
    for (const auto& t : f->tensors()) {
      if (skv::ggml_type_supported(static_cast<uint32_t>(t.type)) && t.nbytes < (64u << 20)) {
        (void)f->dequantize(t);
      }
    }
  } catch (const skv::Error&) {
  }
  return 0;
}
