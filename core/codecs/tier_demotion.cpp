#include "core/codecs/tier_demotion.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/common/error.h"
#include "kernels/cpu/ada_reference.h"
#include "kernels/cpu/fp16.h"

namespace skv::codecs {
namespace {

using kernels::KeyKind;
using kernels::ValueKind;

bool key_bits_droppable(const TierFormat& f, const TierFormat& t, std::string* why) {
  if (f.key_kind != t.key_kind) {
    if (why) *why = "key codecs differ (" + f.key_codec_spec() + " -> " + t.key_codec_spec() + ")";
    return false;
  }
  if (f.key_bits < t.key_bits || f.key_radius_bits < t.key_radius_bits) {
    if (why) *why = "the target has more key bits than the source";
    return false;
  }
  return true;
}

// Decoded direction norm of one token's codes.
double coded_norm(KeyKind kind, int a, int p, const float* levels, const uint32_t* words, int d) {
  double n2 = 0;
  if (kind == KeyKind::kCoord) {
    for (int i = 0; i < d; ++i) {
      const double l = levels[kernels::cpu::read_code(words, i, a)];
      n2 += l * l;
    }
  } else {  // the plane angle does not change the norm
    for (int i = 0; i < d / 2; ++i) {
      const double r = levels[kernels::cpu::read_code(words, i, a + p) >> a];
      n2 += r * r;
    }
  }
  return std::sqrt(n2);
}

// Drop low bits of every token of one coded array; recompute scales.
void drop_bits(KeyKind kind, int fa, int fp, int ta, int tp, const float* flevels, const float* tlevels,
               int d, const uint32_t* src_words, int src_wpt, const uint16_t* src_scales, uint32_t* dst_words,
               int dst_wpt, uint16_t* dst_scales, int tokens) {
  const int groups = kind == KeyKind::kCoord ? d : d / 2;
  for (int j = 0; j < tokens; ++j) {
    const uint32_t* sw = src_words + size_t(j) * src_wpt;
    uint32_t* dw = dst_words + size_t(j) * dst_wpt;
    std::memset(dw, 0, size_t(dst_wpt) * 4);
    for (int g = 0; g < groups; ++g) {
      const uint32_t c = kernels::cpu::read_code(sw, g, fa + fp);
      uint32_t out;
      if (kind == KeyKind::kCoord) {
        out = c >> (fa - ta);
      } else {
        const uint32_t ang = c & ((1u << fa) - 1), rad = c >> fa;
        out = ((rad >> (fp - tp)) << ta) | (ang >> (fa - ta));
      }
      kernels::cpu::write_code(dw, g, ta + tp, out);
    }
    const float s = kernels::cpu::half_to_float(src_scales[j]);
    const double n_fine = coded_norm(kind, fa, fp, flevels, sw, d);
    const double n_coarse = coded_norm(kind, ta, tp, tlevels, dw, d);
    if (s == 0.f || n_coarse == 0) {  // the kernels' convention for r == 0 / |u^| == 0
      std::memset(dw, 0, size_t(dst_wpt) * 4);
      dst_scales[j] = 0;
    } else {
      dst_scales[j] = kernels::cpu::float_to_half(float(double(s) * n_fine / n_coarse));
    }
  }
}

}  // namespace

bool can_demote(const TierFormat& from, const TierFormat& to, std::string* why) {
  if (from.cpu_only() || to.cpu_only()) {  // k-means codebooks have no coarser tier inside them
    if (why) *why = "block-vq tiers are CPU-only and not nested (no demotion by dropping bits)";
    return false;
  }
  if (from.page_tokens != to.page_tokens) {
    if (why) *why = "page_tokens differ";
    return false;
  }
  const bool fk = from.key_kind != KeyKind::kFp16, tk = to.key_kind != KeyKind::kFp16;
  if (fk && tk) {
    if (!key_bits_droppable(from, to, why)) return false;
    if (from.page_mean != to.page_mean) {
      if (why) *why = "page_mean differs between coded-key tiers";
      return false;
    }
  }
  const bool fv = from.value_kind != ValueKind::kFp16, tv = to.value_kind != ValueKind::kFp16;
  if (fv && tv && from.value_bits < to.value_bits) {
    if (why) *why = "the target has more value bits than the source";
    return false;
  }
  if (((fk && tk) || (fv && tv)) && (!from.nested || !to.nested)) {
    if (why) *why = "dropping bits needs \"nested\" codebooks on both tiers";
    return false;
  }
  return true;
}

void demote_page(const TierFormat& from, const TierFormat& to, int d, const int8_t* signs, const uint8_t* src,
                 int tokens, uint8_t* dst) {
  std::string why;
  if (!can_demote(from, to, &why)) throw Error("cannot demote tier " + from.name + " to " + to.name + ": " + why);
  const kernels::TierLayout fl = from.layout(d), tl = to.layout(d);
  if (tokens < 0 || tokens > fl.page_tokens) throw Error("demote_page: token count out of the page");
  const TierCodebookSet fb = tier_codebooks(from, d), tb = tier_codebooks(to, d);
  const kernels::PageOffsets fo = kernels::page_offsets(fl), to_ = kernels::page_offsets(tl);
  std::memset(dst, 0, to_.total);
  const bool fk = fl.key_kind != KeyKind::kFp16, tk = tl.key_kind != KeyKind::kFp16;
  const bool fv = fl.value_kind != ValueKind::kFp16, tv = tl.value_kind != ValueKind::kFp16;

  // Parts that cannot drop bits: decode to float, re-encode the whole page at the target, then
  // overwrite what can drop bits (keeping the source's page mean for coded keys).
  if (!(fk && tk) || !(fv && tv)) {
    std::vector<float> k(size_t(tokens) * d), v(size_t(tokens) * d);
    kernels::cpu::decode_keys(fl, fb.view(), signs, src, tokens, k.data());
    kernels::cpu::decode_values(fl, fb.view(), signs, src, tokens, v.data());
    kernels::cpu::encode_page(tl, tb.view(), signs, k.data(), v.data(), tokens, 0, true, dst);
  }
  if (fk && tk) {
    drop_bits(fl.key_kind, fl.key_bits, fl.key_radius_bits, tl.key_bits, tl.key_radius_bits, fb.key_levels.data(),
              tb.key_levels.data(), d, reinterpret_cast<const uint32_t*>(src + fo.key_codes),
              kernels::key_words_per_token(fl), reinterpret_cast<const uint16_t*>(src + fo.key_scales),
              reinterpret_cast<uint32_t*>(dst + to_.key_codes), kernels::key_words_per_token(tl),
              reinterpret_cast<uint16_t*>(dst + to_.key_scales), tokens);
    if (kernels::has_page_mean(tl)) std::memcpy(dst + to_.mean, src + fo.mean, size_t(d) * 2);
  }
  if (fv && tv) {
    drop_bits(KeyKind::kCoord, fl.value_bits, 0, tl.value_bits, 0, fb.value_levels.data(), tb.value_levels.data(), d,
              reinterpret_cast<const uint32_t*>(src + fo.values), kernels::value_words_per_token(fl),
              reinterpret_cast<const uint16_t*>(src + fo.value_scales),
              reinterpret_cast<uint32_t*>(dst + to_.values), kernels::value_words_per_token(tl),
              reinterpret_cast<uint16_t*>(dst + to_.value_scales), tokens);
  }
}

}  // namespace skv::codecs
