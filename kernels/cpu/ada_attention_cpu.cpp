// CPU ADA decode attention (LUT-scored) and dense fp16 paged decode attention: the truth for
// kernels/cuda/ada_decode.cu. Double accumulation, one (sequence, query head) at a time.
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "kernels/cpu/ada_reference.h"
#include "kernels/cpu/fp16.h"
#include "kernels/kernel_error.h"

namespace skv::kernels::cpu {
namespace {

// Lookup table T[g][c] of one query (rotated q') for a coded-key tier (SPHERICAL_KV.md 1,
// "Scoring without dense keys", step 2).
std::vector<double> build_lut(const TierLayout& L, const TierCodebooks& books, const double* qr) {
  const int G = key_groups(L), E = 1 << key_code_bits(L);
  std::vector<double> T(size_t(G) * E);
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < E; ++c) {
      if (L.key_kind == KeyKind::kCoord) {
        T[size_t(g) * E + c] = qr[g] * double(books.key_levels[c]);
      } else {
        const int a = L.key_bits;
        const double th = 2.0 * std::numbers::pi * ((c & ((1 << a) - 1)) + 0.5) / double(1 << a);
        T[size_t(g) * E + c] =
            double(books.key_levels[c >> a]) * (qr[2 * g] * std::cos(th) + qr[2 * g + 1] * std::sin(th));
      }
    }
  return T;
}

// Raw logits (before sm_scale) of the first `tokens` keys of a page, from the LUT.
void lut_logits(const TierLayout& L, const uint8_t* page, int tokens, const float* q, const double* T,
                double* out) {
  const int d = L.head_dim, G = key_groups(L), cb = key_code_bits(L), E = 1 << cb;
  const PageOffsets o = page_offsets(L);
  double qm = 0;
  if (has_page_mean(L)) {
    const auto* mean = reinterpret_cast<const uint16_t*>(page + o.mean);
    for (int i = 0; i < d; ++i) qm += double(q[i]) * double(half_to_float(mean[i]));
  }
  const int wpt = key_words_per_token(L);
  for (int j = 0; j < tokens; ++j) {
    const uint32_t* w = reinterpret_cast<const uint32_t*>(page + o.key_codes) + size_t(j) * wpt;
    double acc = 0;
    for (int g = 0; g < G; ++g) acc += T[size_t(g) * E + read_code(w, g, cb)];
    out[j] = qm + double(half_to_float(reinterpret_cast<const uint16_t*>(page + o.key_scales)[j])) * acc;
  }
}

void dense_logits(const TierLayout& L, const uint8_t* page, int tokens, const float* q, double* out) {
  const int d = L.head_dim;
  const auto* k = reinterpret_cast<const uint16_t*>(page + page_offsets(L).key_codes);
  for (int j = 0; j < tokens; ++j) {
    double acc = 0;
    for (int i = 0; i < d; ++i) acc += double(q[i]) * double(half_to_float(k[size_t(j) * d + i]));
    out[j] = acc;
  }
}

double resolve_scale(float sm_scale, int d) { return sm_scale != 0.f ? double(sm_scale) : 1.0 / std::sqrt(double(d)); }

void attention(const PagedKv& kv, const float* q, float* out, int Hq, float sm_scale, bool dense_only) {
  validate_paged_kv(kv, Hq, 0);
  const int d = kv.head_dim, Hkv = kv.num_kv_heads, group = Hq / Hkv;
  const double scale = resolve_scale(sm_scale, d);
  std::vector<double> qr(d), acc_rot(d), acc_plain(d), tmp(d), logits, u_hat(d);
  for (int b = 0; b < kv.batch; ++b)
    for (int qh = 0; qh < Hq; ++qh) {
      const int h = qh / group;
      const float* qv = q + (size_t(b) * Hq + qh) * d;
      const int8_t* signs = kv.signs + size_t(h) * d;
      rotate(signs, qv, qr.data(), d);
      const int p0 = kv.indptr[b * Hkv + h], p1 = kv.indptr[b * Hkv + h + 1];
      // Pass 1: all logits of this head, page by page (LUT per tier, built once per tier).
      std::vector<std::vector<double>> luts(size_t(kv.tiers.count));
      logits.clear();
      for (int pi = p0; pi < p1; ++pi) {
        const PageInfo& pg = kv.pages[kv.indices[pi]];
        const TierLayout& L = kv.tiers.layouts[pg.tier];
        if (dense_only && (keys_coded(L) || L.value_kind != ValueKind::kFp16))
          throw KernelError("dense_fp16_decode_attention: page of a non-FP16 tier");
        const uint8_t* page = kv.arena + pg.byte_offset;
        const size_t at = logits.size();
        logits.resize(at + pg.tokens);
        if (keys_coded(L)) {
          auto& T = luts[pg.tier];
          if (T.empty()) T = build_lut(L, kv.tiers.codebooks[pg.tier], qr.data());
          lut_logits(L, page, int(pg.tokens), qv, T.data(), logits.data() + at);
        } else {
          dense_logits(L, page, int(pg.tokens), qv, logits.data() + at);
        }
      }
      float* o = out + (size_t(b) * Hq + qh) * d;
      if (logits.empty()) {
        for (int i = 0; i < d; ++i) o[i] = 0.f;
        continue;
      }
      double mx = -std::numeric_limits<double>::infinity();
      for (double& s : logits) { s *= scale; mx = std::max(mx, s); }
      double denom = 0;
      std::fill(acc_rot.begin(), acc_rot.end(), 0.0);
      std::fill(acc_plain.begin(), acc_plain.end(), 0.0);
      // Pass 2: values; coded values accumulate s_v p_j u^_j in the rotated domain.
      size_t t = 0;
      for (int pi = p0; pi < p1; ++pi) {
        const PageInfo& pg = kv.pages[kv.indices[pi]];
        const TierLayout& L = kv.tiers.layouts[pg.tier];
        const uint8_t* page = kv.arena + pg.byte_offset;
        const PageOffsets po = page_offsets(L);
        for (uint32_t j = 0; j < pg.tokens; ++j, ++t) {
          const double p = std::exp(logits[t] - mx);
          denom += p;
          if (L.value_kind == ValueKind::kFp16) {
            const auto* v = reinterpret_cast<const uint16_t*>(page + po.values) + size_t(j) * d;
            for (int i = 0; i < d; ++i) acc_plain[i] += p * double(half_to_float(v[i]));
          } else {
            const int wpt = value_words_per_token(L);
            const auto* w = reinterpret_cast<const uint32_t*>(page + po.values) + size_t(j) * wpt;
            const double sv = half_to_float(reinterpret_cast<const uint16_t*>(page + po.value_scales)[j]);
            const float* lv = kv.tiers.codebooks[pg.tier].value_levels;
            for (int i = 0; i < d; ++i) acc_rot[i] += p * sv * double(lv[read_code(w, i, L.value_bits)]);
          }
        }
      }
      rotate_transpose(signs, acc_rot.data(), tmp.data(), d);
      for (int i = 0; i < d; ++i) o[i] = float((tmp[i] + acc_plain[i]) / denom);
    }
}

}  // namespace

void page_logits(const TierLayout& L, const TierCodebooks& books, const int8_t* signs, const uint8_t* page,
                 int tokens, const float* q, float sm_scale, float* logits) {
  const int d = L.head_dim;
  std::vector<double> raw(static_cast<size_t>(tokens)), qr(d);
  if (keys_coded(L)) {
    rotate(signs, q, qr.data(), d);
    const auto T = build_lut(L, books, qr.data());
    lut_logits(L, page, tokens, q, T.data(), raw.data());
  } else {
    dense_logits(L, page, tokens, q, raw.data());
  }
  const double scale = resolve_scale(sm_scale, d);
  for (int j = 0; j < tokens; ++j) logits[j] = float(raw[size_t(j)] * scale);
}

void ada_decode_attention(const PagedKv& kv, const float* q, float* out, int num_q_heads, float sm_scale) {
  attention(kv, q, out, num_q_heads, sm_scale, false);
}

void dense_fp16_decode_attention(const PagedKv& kv, const float* q, float* out, int num_q_heads,
                                 float sm_scale) {
  attention(kv, q, out, num_q_heads, sm_scale, true);
}

void validate_paged_kv(const PagedKv& kv, int Hq, size_t arena_bytes) {
  if (kv.batch < 0 || kv.num_kv_heads <= 0 || Hq <= 0 || Hq % kv.num_kv_heads != 0)
    throw KernelError("paged kv: num_q_heads must be a positive multiple of num_kv_heads");
  if (kv.tiers.count < 1 || kv.tiers.count > kMaxTiers) throw KernelError("paged kv: tier count out of 1..8");
  for (int t = 0; t < kv.tiers.count; ++t) {
    const TierLayout& L = kv.tiers.layouts[t];
    if (const char* why = validate_layout(L)) throw KernelError("paged kv: tier " + std::to_string(t) + ": " + why);
    if (L.head_dim != kv.head_dim) throw KernelError("paged kv: tier " + std::to_string(t) + " head_dim differs");
  }
  const int n = kv.batch * kv.num_kv_heads;
  if (kv.indptr[0] != 0) throw KernelError("paged kv: indptr[0] must be 0");
  for (int i = 0; i < n; ++i) {
    if (kv.indptr[i + 1] < kv.indptr[i]) throw KernelError("paged kv: indptr not monotone");
    for (int p = kv.indptr[i]; p < kv.indptr[i + 1]; ++p) {
      const PageInfo& pg = kv.pages[kv.indices[p]];
      if (int(pg.tier) >= kv.tiers.count) throw KernelError("paged kv: page tier out of range");
      const TierLayout& L = kv.tiers.layouts[pg.tier];
      if (pg.tokens < 1 || int(pg.tokens) > L.page_tokens) throw KernelError("paged kv: page token count out of 1..P");
      if (pg.byte_offset % 16 != 0) throw KernelError("paged kv: page offset not 16-byte aligned");
      if (arena_bytes && pg.byte_offset + page_bytes(L) > arena_bytes) throw KernelError("paged kv: page past the arena");
    }
  }
}

}  // namespace skv::kernels::cpu
