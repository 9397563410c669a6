// Dequantization pinned against values worked out by hand from the ggml block layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/common/error.h"
#include "core/model/ggml_types.h"

using namespace skv;

namespace {
// fp16 bit patterns used below: 1.0 = 0x3C00, 2.0 = 0x4000, 0.5 = 0x3800, 0.25 = 0x3400,
// -1.0 = 0xBC00, -0.125 = 0xB000.
void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v & 0xFF);
  b[at + 1] = static_cast<uint8_t>(v >> 8);
}
}  // namespace

TEST(GgmlDequant, Fp16DecodesNormalsSubnormalsZerosAndSpecials) {
  EXPECT_EQ(ggml_fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(ggml_fp16_to_fp32(0xC000), -2.0f);
  EXPECT_EQ(ggml_fp16_to_fp32(0x3555), 0.333251953125f);  // 1 + 0x155/1024 = 1.3330078125, * 2^-2
  EXPECT_EQ(ggml_fp16_to_fp32(0x7BFF), 65504.0f);         // largest half
  EXPECT_EQ(ggml_fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(ggml_fp16_to_fp32(0x03FF), 1023.0f * std::ldexp(1.0f, -24));
  EXPECT_EQ(ggml_fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(ggml_fp16_to_fp32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(ggml_fp16_to_fp32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(ggml_fp16_to_fp32(0x7E00)));
  const float nz = ggml_fp16_to_fp32(0x8000);
  EXPECT_EQ(nz, 0.0f);
  EXPECT_TRUE(std::signbit(nz));
}

TEST(GgmlDequant, Bf16IsTheUpperHalfOfAFloat) {
  EXPECT_EQ(ggml_bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(ggml_bf16_to_fp32(0xC0A0), -5.0f);
  EXPECT_EQ(ggml_bf16_to_fp32(0x3E20), 0.15625f);
}

TEST(GgmlDequant, F16AndBf16RowsDecodeElementwise) {
  const uint16_t h[3] = {0x3C00, 0xB000, 0x4000};
  float out[3];
  ggml_dequantize(GgmlType::F16, h, out, 3);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -0.125f);
  EXPECT_EQ(out[2], 2.0f);
  const uint16_t b[2] = {0x3F80, 0xC0A0};
  ggml_dequantize(GgmlType::BF16, b, out, 2);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -5.0f);
}

TEST(GgmlDequant, Q4_0LowNibblesFirstHalfHighNibblesSecondHalfMinus8TimesD) {
  std::vector<uint8_t> blk(18);
  put16(blk, 0, 0x3800);  // d = 0.5
  for (int j = 0; j < 16; ++j) blk[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> y(32);
  ggml_dequantize(GgmlType::Q4_0, blk.data(), y.data(), 32);
  EXPECT_EQ(y[0], -4.0f);   // (0 - 8) * 0.5
  EXPECT_EQ(y[9], 0.5f);    // (9 - 8) * 0.5
  EXPECT_EQ(y[15], 3.5f);   // (15 - 8) * 0.5
  EXPECT_EQ(y[16], 3.5f);   // high nibble of qs[0] = 15
  EXPECT_EQ(y[31], -4.0f);  // high nibble of qs[15] = 0
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f);
    EXPECT_EQ(y[j + 16], (7 - j) * 0.5f);
  }
}

TEST(GgmlDequant, Q4_1IsNibbleTimesDPlusM) {
  std::vector<uint8_t> blk(20);
  put16(blk, 0, 0x3400);  // d = 0.25
  put16(blk, 2, 0xBC00);  // m = -1
  for (int j = 0; j < 16; ++j) blk[4 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> y(32);
  ggml_dequantize(GgmlType::Q4_1, blk.data(), y.data(), 32);
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_EQ(y[4], 0.0f);
  EXPECT_EQ(y[15], 2.75f);
  EXPECT_EQ(y[16], 2.75f);
  EXPECT_EQ(y[31], -1.0f);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j * 0.25f - 1.0f);
    EXPECT_EQ(y[j + 16], (15 - j) * 0.25f - 1.0f);
  }
}

TEST(GgmlDequant, Q8_0IsSignedByteTimesDPerBlock) {
  std::vector<uint8_t> blk(68);
  put16(blk, 0, 0x4000);   // block 0: d = 2
  put16(blk, 34, 0xB000);  // block 1: d = -0.125
  for (int j = 0; j < 32; ++j) {
    blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
    blk[36 + j] = static_cast<uint8_t>(static_cast<int8_t>(j == 0 ? -128 : 127));
  }
  std::vector<float> y(64);
  ggml_dequantize(GgmlType::Q8_0, blk.data(), y.data(), 64);
  EXPECT_EQ(y[0], -32.0f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[31], 30.0f);
  EXPECT_EQ(y[32], 16.0f);       // -128 * -0.125
  EXPECT_EQ(y[33], -15.875f);    // 127 * -0.125
}

// Writes a 6-bit quant for element e of a Q6_K block: the inverse of the layout, written out
// element by element (half h = e/128; within it quarter k and lane l; low nibble in
// ql[64h + l + 32(k&1)] (low half for k < 2, high half for k >= 2); high 2 bits in
// qh[32h + l] at bit 2k; scale index 8h + l/16 + 2k).
void set_q6(std::vector<uint8_t>& blk, int e, int q) {
  const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
  uint8_t& lo = blk[64 * h + l + 32 * (k & 1)];
  if (k < 2) lo = static_cast<uint8_t>((lo & 0xF0) | (q & 0xF));
  else lo = static_cast<uint8_t>((lo & 0x0F) | ((q & 0xF) << 4));
  uint8_t& hi = blk[128 + 32 * h + l];
  hi = static_cast<uint8_t>((hi & ~(3 << (2 * k))) | (((q >> 4) & 3) << (2 * k)));
}
int q6_scale_index(int e) {
  const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
  return 8 * h + l / 16 + 2 * k;
}

TEST(GgmlDequant, Q6_KMatchesHandEncodedBlock) {
  std::vector<uint8_t> blk(210, 0);
  for (int i = 0; i < 16; ++i) blk[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(i - 8));
  put16(blk, 208, 0x3800);  // d = 0.5
  for (int e = 0; e < 256; ++e) set_q6(blk, e, e % 64);
  std::vector<float> y(256);
  ggml_dequantize(GgmlType::Q6_K, blk.data(), y.data(), 256);
  EXPECT_EQ(y[0], 128.0f);    // 0.5 * scale[0] (-8) * (0 - 32)
  EXPECT_EQ(y[255], 108.5f);  // 0.5 * scale[15] (7) * (63 - 32)
  EXPECT_EQ(y[40], -24.0f);   // quarter 1, lane 8: scale[2] (-6), q = 40: 0.5 * -6 * (40 - 32)
  EXPECT_EQ(y[200], -48.0f);  // half 1, quarter 2, lane 8: scale[12] (4), q = 8: 0.5 * 4 * (8 - 32)
  for (int e = 0; e < 256; ++e) {
    const double expect = 0.5 * (q6_scale_index(e) - 8) * (e % 64 - 32);
    EXPECT_EQ(y[e], static_cast<float>(expect)) << "element " << e;
  }
}

TEST(GgmlDequant, UnsupportedTypeAndPartialBlockThrow) {
  std::vector<uint8_t> blk(256);
  std::vector<float> y(256);
  try {
    ggml_dequantize(GgmlType::Q4_K, blk.data(), y.data(), 256);
    FAIL() << "Q4_K must not dequantize";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_K"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Q6_K"), std::string::npos) << "lists what is supported";
  }
  EXPECT_THROW(ggml_dequantize(GgmlType::Q4_0, blk.data(), y.data(), 33), Error);
}

TEST(GgmlDequant, BlockSizesMatchGgml) {
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q4_0), 18u);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q4_1), 20u);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q8_0), 34u);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q6_K), 210u);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q4_K), 144u);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q5_K), 176u);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q2_K), 84u);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q3_K), 110u);
  EXPECT_EQ(ggml_block_bytes(GgmlType::Q8_K), 292u);
  EXPECT_EQ(ggml_block_elements(GgmlType::Q6_K), 256u);
  EXPECT_EQ(ggml_block_elements(GgmlType::Q8_0), 32u);
  EXPECT_EQ(ggml_type_name(3), "Q4_1");
  EXPECT_EQ(ggml_type_name(23), "IQ4_XS");
  EXPECT_EQ(ggml_type_name(999), "type 999");
  EXPECT_TRUE(ggml_type_supported(14));
  EXPECT_FALSE(ggml_type_supported(12));
  EXPECT_THROW(ggml_block_bytes(static_cast<GgmlType>(23)), Error);
}
