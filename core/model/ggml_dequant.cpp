// Dequantization of the ggml block formats skv reads, written from the block layouts in ggml's
// ggml-common.h and the reference dequantize_row_* of ggml-quants.c (results bit-identical to
// ggml's scalar path: the same float operations in the same order).
#include <cstring>

#include "core/common/error.h"
#include "core/model/ggml_types.h"

namespace skv {
namespace {

// Names by id, from ggml.h's enum ggml_type (gaps are ids ggml removed).
const char* const kTypeNames[] = {
    "F32",     "F16",     "Q4_0",     "Q4_1",     nullptr,    nullptr, "Q5_0",   "Q5_1",
    "Q8_0",    "Q8_1",    "Q2_K",     "Q3_K",     "Q4_K",     "Q5_K",  "Q6_K",   "Q8_K",
    "IQ2_XXS", "IQ2_XS",  "IQ3_XXS",  "IQ1_S",    "IQ4_NL",   "IQ3_S", "IQ2_S",  "IQ4_XS",
    "I8",      "I16",     "I32",      "I64",      "F64",      "IQ1_M", "BF16",   "Q4_0_4_4",
    "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",  "TQ2_0",    "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8",
    "MXFP4",
};
constexpr uint32_t kNumTypeNames = sizeof(kTypeNames) / sizeof(kTypeNames[0]);

constexpr size_t QK = 32;     // elements per block of the legacy quants (Q4_0, Q4_1, Q8_0)
constexpr size_t QK_K = 256;  // elements per super-block of the k-quants

uint16_t read_u16(const uint8_t* p) {
  // GGUF is little-endian; so is every machine we build for, but do not rely on alignment.
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

// Q4_0 block (18 bytes): fp16 d; uint8 qs[16]. Element j < 16 is the low nibble of qs[j],
// element j + 16 the high nibble; value = (nibble - 8) * d.
void dequant_q4_0(const uint8_t* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, src += 18, y += QK) {
    const float d = ggml_fp16_to_fp32(read_u16(src));
    const uint8_t* qs = src + 2;
    for (size_t j = 0; j < QK / 2; ++j) {
      const int x0 = (qs[j] & 0x0F) - 8;
      const int x1 = (qs[j] >> 4) - 8;
      y[j] = x0 * d;
      y[j + QK / 2] = x1 * d;
    }
  }
}

// Q4_1 block (20 bytes): fp16 d; fp16 m; uint8 qs[16]; value = nibble * d + m.
void dequant_q4_1(const uint8_t* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, src += 20, y += QK) {
    const float d = ggml_fp16_to_fp32(read_u16(src));
    const float m = ggml_fp16_to_fp32(read_u16(src + 2));
    const uint8_t* qs = src + 4;
    for (size_t j = 0; j < QK / 2; ++j) {
      const int x0 = qs[j] & 0x0F;
      const int x1 = qs[j] >> 4;
      y[j] = x0 * d + m;
      y[j + QK / 2] = x1 * d + m;
    }
  }
}

// Q8_0 block (34 bytes): fp16 d; int8 qs[32]; value = q * d.
void dequant_q8_0(const uint8_t* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, src += 34, y += QK) {
    const float d = ggml_fp16_to_fp32(read_u16(src));
    const int8_t* qs = reinterpret_cast<const int8_t*>(src + 2);
    for (size_t j = 0; j < QK; ++j) y[j] = qs[j] * d;
  }
}

// Q6_K super-block (210 bytes): uint8 ql[128] (low 4 bits), uint8 qh[64] (high 2 bits),
// int8 scales[16] (one per 16 elements), fp16 d. Each half of 128 elements uses 64 ql bytes,
// 32 qh bytes and 8 scales; within a half, element l + 32*k (k = 0..3) takes its low nibble
// from ql[l] (k even: low/high nibble of ql[l], k odd: of ql[l + 32]) and its 2 high bits from
// qh[l] >> 2k; value = d * scale * (q - 32).
void dequant_q6_k(const uint8_t* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, src += 210) {
    const uint8_t* ql = src;
    const uint8_t* qh = src + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(src + 192);
    const float d = ggml_fp16_to_fp32(read_u16(src + 208));
    for (size_t half = 0; half < 2; ++half) {
      for (size_t l = 0; l < 32; ++l) {
        const size_t is = l / 16;
        const int q1 = static_cast<int8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = static_cast<int8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

}  // namespace

float ggml_fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal half: mant * 2^-24; normalise it for float.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | ((mant & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float ggml_bf16_to_fp32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

std::string ggml_type_name(uint32_t type) {
  if (type < kNumTypeNames && kTypeNames[type] != nullptr) return kTypeNames[type];
  return "type " + std::to_string(type);
}

std::string gguf_value_type_name(uint32_t type) {
  static const char* const names[] = {"UINT8", "INT8",   "UINT16", "INT16", "UINT32",
                                      "INT32", "FLOAT32", "BOOL",  "STRING", "ARRAY",
                                      "UINT64", "INT64", "FLOAT64"};
  if (type < sizeof(names) / sizeof(names[0])) return names[type];
  return "type " + std::to_string(type);
}

bool ggml_type_supported(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q4_0:
    case GgmlType::Q4_1: case GgmlType::Q8_0: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

bool ggml_type_layout_known(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::Q4_0: case GgmlType::Q4_1:
    case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q8_0: case GgmlType::Q8_1:
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K:
    case GgmlType::Q6_K: case GgmlType::Q8_K: case GgmlType::BF16:
      return true;
    default:
      return false;
  }
}

std::string ggml_supported_types_list() { return "F32 F16 BF16 Q4_0 Q4_1 Q8_0 Q6_K"; }

size_t ggml_block_elements(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16:
      return 1;
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1:
    case GgmlType::Q8_0: case GgmlType::Q8_1:
      return QK;
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K:
    case GgmlType::Q6_K: case GgmlType::Q8_K:
      return QK_K;
  }
  throw Error("ggml type " + ggml_type_name(static_cast<uint32_t>(t)) +
              " has a block layout skv does not know");
}

size_t ggml_block_bytes(GgmlType t) {
  // sizeof(block_*) in ggml-common.h.
  switch (t) {
    case GgmlType::F32: return 4;
    case GgmlType::F16: return 2;
    case GgmlType::BF16: return 2;
    case GgmlType::Q4_0: return 2 + QK / 2;                       // d, qs
    case GgmlType::Q4_1: return 2 + 2 + QK / 2;                   // d, m, qs
    case GgmlType::Q5_0: return 2 + 4 + QK / 2;                   // d, qh, qs
    case GgmlType::Q5_1: return 2 + 2 + 4 + QK / 2;               // d, m, qh, qs
    case GgmlType::Q8_0: return 2 + QK;                           // d, qs
    case GgmlType::Q8_1: return 2 + 2 + QK;                       // d, s, qs
    case GgmlType::Q2_K: return QK_K / 16 + QK_K / 4 + 2 + 2;     // scales, qs, d, dmin
    case GgmlType::Q3_K: return QK_K / 8 + QK_K / 4 + 12 + 2;     // hmask, qs, scales, d
    case GgmlType::Q4_K: return 2 + 2 + 12 + QK_K / 2;            // d, dmin, scales, qs
    case GgmlType::Q5_K: return 2 + 2 + 12 + QK_K / 8 + QK_K / 2; // d, dmin, scales, qh, qs
    case GgmlType::Q6_K: return QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;  // ql, qh, scales, d
    case GgmlType::Q8_K: return 4 + QK_K + QK_K / 16 * 2;         // float d, qs, bsums
  }
  throw Error("ggml type " + ggml_type_name(static_cast<uint32_t>(t)) +
              " has a block layout skv does not know");
}

void ggml_dequantize(GgmlType t, const void* src_v, float* dst, size_t n) {
  const uint32_t id = static_cast<uint32_t>(t);
  if (!ggml_type_supported(id)) {
    throw Error("ggml type " + ggml_type_name(id) + " (id " + std::to_string(id) +
                ") cannot be dequantized by skv; supported: " + ggml_supported_types_list());
  }
  const size_t be = ggml_block_elements(t);
  if (n % be != 0) {
    throw Error("cannot dequantize " + std::to_string(n) + " elements of " + ggml_type_name(id) +
                ": not a multiple of its block size " + std::to_string(be));
  }
  if (n == 0) return;  // zero-element tensors: dst may be null (an empty vector's data())
  const auto* src = static_cast<const uint8_t*>(src_v);
  switch (t) {
    case GgmlType::F32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case GgmlType::F16:
      for (size_t i = 0; i < n; ++i) dst[i] = ggml_fp16_to_fp32(read_u16(src + 2 * i));
      return;
    case GgmlType::BF16:
      for (size_t i = 0; i < n; ++i) dst[i] = ggml_bf16_to_fp32(read_u16(src + 2 * i));
      return;
    case GgmlType::Q4_0: dequant_q4_0(src, dst, n / be); return;
    case GgmlType::Q4_1: dequant_q4_1(src, dst, n / be); return;
    case GgmlType::Q8_0: dequant_q8_0(src, dst, n / be); return;
    case GgmlType::Q6_K: dequant_q6_k(src, dst, n / be); return;
    default: return;  // unreachable: ggml_type_supported checked above
  }
}

}  // namespace skv
