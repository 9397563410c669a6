#pragma once
// ggml tensor and GGUF metadata type ids (values from ggml.h / gguf.h), and block sizes.
#include <cstddef>
#include <cstdint>
#include <string>

namespace skv {

enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, BF16 = 30,
};

// Name for messages ("Q4_1", or "type 23" for ids we do not know).
std::string ggml_type_name(uint32_t type);
// Whether we can dequantize it: F32 F16 BF16 Q4_0 Q4_1 Q8_0 Q6_K.
bool ggml_type_supported(uint32_t type);
// Elements per block and bytes per block (throws skv::Error for unsupported types).
size_t ggml_block_elements(GgmlType t);
size_t ggml_block_bytes(GgmlType t);

// Dequantize `n` elements (a multiple of the block size) from `src` into `dst`.
void ggml_dequantize(GgmlType t, const void* src, float* dst, size_t n);

}  // namespace skv
