#include "core/codecs/block_vq_page.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/codecs/direction_codec.h"
#include "core/codecs/lloyd_max.h"
#include "core/common/error.h"
#include "kernels/cpu/ada_reference.h"
#include "kernels/cpu/fp16.h"

namespace skv::codecs {
namespace {

using kernels::align16;
using kernels::cpu::float_to_half;
using kernels::cpu::half_to_float;

void require(const TierFormat& t, int d, int count) {
  if (!t.cpu_only()) throw Error("tier " + t.name + ": not a block-vq tier (use kernels::cpu::encode_page)");
  if (count < 1 || count > t.page_tokens)
    throw Error("tier " + t.name + ": a page holds 1.." + std::to_string(t.page_tokens) + " tokens, got " +
                std::to_string(count));
  (void)d;
}

// The values part is exactly the kernels' (ada_codec_cpu.cpp) for the value layout; it is
// encoded there and copied, so block-vq tiers and kernel tiers store identical values.
struct ValuePart {
  kernels::TierLayout layout;
  std::vector<float> levels;
  kernels::TierCodebooks books() const {
    kernels::TierCodebooks b;
    b.value_levels = levels.empty() ? nullptr : levels.data();
    return b;
  }
};
ValuePart value_part(const TierFormat& t, int d) {
  ValuePart v;
  v.layout = t.value_layout(d);
  if (t.value_kind == kernels::ValueKind::kCoord) v.levels = cached_codebook("coord", d, t.value_bits, t.nested).levels_f32();
  return v;
}

}  // namespace

BlockVqPageLayout block_vq_page_layout(const TierFormat& t, int d) {
  if (!t.cpu_only()) throw Error("tier " + t.name + ": not a block-vq tier");
  const kernels::TierLayout vl = t.value_layout(d);
  const kernels::PageOffsets vo = kernels::page_offsets(vl);
  const size_t P = size_t(t.page_tokens);
  BlockVqPageLayout o;
  o.key_words_per_token = ((d / t.key_block_dim) * t.key_bits + 31) / 32;
  o.value_words_per_token = kernels::value_words_per_token(vl);
  size_t at = 0;
  o.key_codes = at;
  at += align16(P * size_t(o.key_words_per_token) * 4);
  o.key_scales = at;
  at += align16(P * 2);
  o.values = at;
  at += vo.mean - vo.values;  // values + value scales, each already 16-aligned
  o.value_scales = o.values + (vo.value_scales - vo.values);
  o.mean = at;
  at += t.page_mean ? align16(size_t(d) * 2) : 0;
  o.total = at;
  return o;
}

void encode_block_vq_page(const TierFormat& t, int d, const int8_t* signs, const float* keys, const float* values,
                          int count, uint8_t* page) {
  require(t, d, count);
  const BlockVqPageLayout o = block_vq_page_layout(t, d);
  std::memset(page, 0, o.total);
  const BlockVqCodec codec(d, t.key_block_dim, t.key_bits);
  // fp16 page mean (same rule as ada_codec_cpu.cpp: fp16 of the float64 mean)
  std::vector<float> mean(d, 0.f);
  if (t.page_mean) {
    auto* m16 = reinterpret_cast<uint16_t*>(page + o.mean);
    for (int i = 0; i < d; ++i) {
      double s = 0;
      for (int j = 0; j < count; ++j) s += keys[size_t(j) * d + i];
      m16[i] = float_to_half(float(s / count));
      mean[i] = half_to_float(m16[i]);
    }
  }
  auto* words = reinterpret_cast<uint32_t*>(page + o.key_codes);
  auto* scales = reinterpret_cast<uint16_t*>(page + o.key_scales);
  std::vector<float> kt(d);
  std::vector<double> x(d), u(d), uh(d);
  std::vector<uint32_t> codes(codec.code_count());
  for (int j = 0; j < count; ++j) {
    for (int i = 0; i < d; ++i) kt[i] = keys[size_t(j) * d + i] - mean[i];
    kernels::cpu::rotate(signs, kt.data(), x.data(), d);
    double r2 = 0;
    for (double a : x) r2 += a * a;
    const double r = std::sqrt(r2);
    uint32_t* w = words + size_t(j) * o.key_words_per_token;
    if (r == 0) { scales[j] = 0; continue; }  // codes 0, scale 0
    for (int i = 0; i < d; ++i) u[i] = x[i] / r;
    codec.encode(u, codes);
    codec.decode(codes, uh);
    double n2 = 0;
    for (double a : uh) n2 += a * a;
    if (n2 == 0) { scales[j] = 0; continue; }
    for (int b = 0; b < codec.code_count(); ++b) kernels::cpu::write_code(w, b, t.key_bits, codes[b]);
    scales[j] = float_to_half(float(r / std::sqrt(n2)));
  }
  // Values: the kernels' encoder on the value layout, copied.
  const ValuePart vp = value_part(t, d);
  std::vector<uint8_t> vpage(kernels::page_bytes(vp.layout));
  kernels::cpu::encode_page(vp.layout, vp.books(), signs, keys, values, count, 0, true, vpage.data());
  const kernels::PageOffsets vo = kernels::page_offsets(vp.layout);
  std::memcpy(page + o.values, vpage.data() + vo.values, vo.mean - vo.values);
}

void decode_block_vq_page(const TierFormat& t, int d, const int8_t* signs, const uint8_t* page, int count,
                          float* keys, float* values) {
  require(t, d, count);
  const BlockVqPageLayout o = block_vq_page_layout(t, d);
  const BlockVqCodec codec(d, t.key_block_dim, t.key_bits);
  const auto* words = reinterpret_cast<const uint32_t*>(page + o.key_codes);
  const auto* scales = reinterpret_cast<const uint16_t*>(page + o.key_scales);
  const auto* m16 = reinterpret_cast<const uint16_t*>(page + o.mean);
  std::vector<uint32_t> codes(codec.code_count());
  std::vector<double> uh(d), back(d);
  for (int j = 0; j < count; ++j) {
    const uint32_t* w = words + size_t(j) * o.key_words_per_token;
    for (int b = 0; b < codec.code_count(); ++b) codes[b] = kernels::cpu::read_code(w, b, t.key_bits);
    codec.decode(codes, uh);
    const double s = half_to_float(scales[j]);
    for (auto& a : uh) a *= s;
    kernels::cpu::rotate_transpose(signs, uh.data(), back.data(), d);
    for (int i = 0; i < d; ++i) keys[size_t(j) * d + i] = float(back[i] + (t.page_mean ? half_to_float(m16[i]) : 0.f));
  }
  if (values) {
    const ValuePart vp = value_part(t, d);
    const kernels::PageOffsets vo = kernels::page_offsets(vp.layout);
    std::vector<uint8_t> vpage(kernels::page_bytes(vp.layout), 0);
    std::memcpy(vpage.data() + vo.values, page + o.values, vo.mean - vo.values);
    kernels::cpu::decode_values(vp.layout, vp.books(), signs, vpage.data(), count, values);
  }
}

void block_vq_page_logits(const TierFormat& t, int d, const int8_t* signs, const uint8_t* page, int count,
                          const float* q, float sm_scale, float* logits) {
  require(t, d, count);
  const BlockVqPageLayout o = block_vq_page_layout(t, d);
  const BlockVqCodec codec(d, t.key_block_dim, t.key_bits);
  std::vector<double> qr(d);
  kernels::cpu::rotate(signs, q, qr.data(), d);
  std::vector<float> qf(qr.begin(), qr.end());
  const std::vector<float> lut = codec.lut(qf);  // T[b][c] = q'_b . codeword_c
  double qm = 0;
  if (t.page_mean) {
    const auto* m16 = reinterpret_cast<const uint16_t*>(page + o.mean);
    for (int i = 0; i < d; ++i) qm += double(q[i]) * half_to_float(m16[i]);
  }
  const auto* words = reinterpret_cast<const uint32_t*>(page + o.key_codes);
  const auto* scales = reinterpret_cast<const uint16_t*>(page + o.key_scales);
  std::vector<uint32_t> codes(codec.code_count());
  for (int j = 0; j < count; ++j) {
    const uint32_t* w = words + size_t(j) * o.key_words_per_token;
    for (int b = 0; b < codec.code_count(); ++b) codes[b] = kernels::cpu::read_code(w, b, t.key_bits);
    logits[j] = (float(qm) + half_to_float(scales[j]) * codec.score_lut(lut, codes)) * sm_scale;
  }
}

}  // namespace skv::codecs
