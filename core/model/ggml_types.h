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

// Name for messages ("Q4_1", "IQ4_XS", or "type 99" for ids we do not know).
std::string ggml_type_name(uint32_t type);
// "GGUF value type" name for messages ("UINT32", "STRING", or "type 99").
std::string gguf_value_type_name(uint32_t type);
// Whether we can dequantize it: F32 F16 BF16 Q4_0 Q4_1 Q8_0 Q6_K.
bool ggml_type_supported(uint32_t type);
// Whether we know its block layout (the GgmlType enum): such tensors can be listed and sized
// even when we cannot dequantize them (e.g. Q4_K).
bool ggml_type_layout_known(uint32_t type);
// "F32 F16 BF16 Q4_0 Q4_1 Q8_0 Q6_K", for error messages.
std::string ggml_supported_types_list();
// Elements per block and bytes per block (throws skv::Error for types whose layout we do not
// know, see ggml_type_layout_known).
size_t ggml_block_elements(GgmlType t);
size_t ggml_block_bytes(GgmlType t);

// Dequantize `n` elements (a multiple of the block size) from `src` into `dst`.
// Throws skv::Error for unsupported types or a bad n.
void ggml_dequantize(GgmlType t, const void* src, float* dst, size_t n);

// IEEE 754 binary16 and bfloat16 bit patterns to float (exact; subnormals, inf and NaN kept).
float ggml_fp16_to_fp32(uint16_t h);
float ggml_bf16_to_fp32(uint16_t h);

}  // namespace skv
