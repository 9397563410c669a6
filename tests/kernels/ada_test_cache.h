// Test fixture shared by the CPU and GPU kernel tests: builds a paged ADA cache (host side)
// from random structured keys/values, with uneven page counts, partial last pages, mixed tiers
// and shuffled page ids, keeping the original rows and the explicitly decoded rows.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/ada_reference.h"
#include "kernels/page_table.h"

namespace skv::kernels::test {

// Lloyd-Max levels (1-D k-means on samples) for the coordinate of a uniform direction on
// S^(d-1) (~N(0, 1/d)) or, radius=true, for the plane radius of one.
inline std::vector<float> lloyd_levels(int bits, int d, bool radius, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0 / std::sqrt(double(d)));
  std::vector<double> xs(20000);
  for (double& x : xs) {
    const double a = n(rng), b = n(rng);
    x = radius ? std::hypot(a, b) : a;
  }
  std::sort(xs.begin(), xs.end());
  const int L = 1 << bits;
  std::vector<double> lv(L);
  for (int c = 0; c < L; ++c) lv[c] = xs[size_t((c + 0.5) / L * xs.size())];
  for (int it = 0; it < 30; ++it) {
    std::vector<double> sum(L, 0.0);
    std::vector<int> cnt(L, 0);
    for (double x : xs) {
      int best = 0;
      for (int c = 1; c < L; ++c)
        if (std::fabs(x - lv[c]) < std::fabs(x - lv[best])) best = c;
      sum[best] += x;
      ++cnt[best];
    }
    for (int c = 0; c < L; ++c)
      if (cnt[c]) lv[c] = sum[c] / cnt[c];
  }
  return {lv.begin(), lv.end()};
}

inline TierLayout coord_tier(int d, int kb, int vb, bool mean = true, int P = 64) {
  TierLayout l;
  l.head_dim = d; l.key_kind = KeyKind::kCoord; l.key_bits = kb; l.value_kind = ValueKind::kCoord;
  l.value_bits = vb; l.page_mean = mean; l.page_tokens = P;
  return l;
}
inline TierLayout pair_tier(int d, int a, int p, int vb, bool mean = true, int P = 64) {
  TierLayout l = coord_tier(d, a, vb, mean, P);
  l.key_kind = KeyKind::kPair; l.key_radius_bits = p;
  return l;
}
inline TierLayout fp16_tier(int d, int P = 64) {
  TierLayout l;
  l.head_dim = d; l.key_kind = KeyKind::kFp16; l.value_kind = ValueKind::kFp16; l.page_tokens = P;
  return l;
}

struct TestCache {
  int batch = 0, hkv = 0, d = 0, max_pages = 0;
  std::vector<TierLayout> layouts;
  std::vector<std::vector<float>> key_levels, value_levels;
  std::vector<uint8_t> arena;
  std::vector<PageInfo> pages;
  std::vector<int32_t> indptr, indices;
  std::vector<int8_t> signs;
  std::vector<std::vector<float>> k, v;          // per (b, h): original rows [n, d]
  std::vector<std::vector<float>> k_hat, v_hat;  // per (b, h): explicitly decoded rows

  TierTable tier_table() const {
    TierTable t;
    t.count = int(layouts.size());
    for (int i = 0; i < t.count; ++i) {
      t.layouts[i] = layouts[size_t(i)];
      t.codebooks[i] = {key_levels[size_t(i)].empty() ? nullptr : key_levels[size_t(i)].data(),
                        value_levels[size_t(i)].empty() ? nullptr : value_levels[size_t(i)].data()};
    }
    return t;
  }
  PagedKv view() const {
    PagedKv kv;
    kv.arena = arena.data(); kv.pages = pages.data(); kv.indptr = indptr.data(); kv.indices = indices.data();
    kv.signs = signs.data(); kv.batch = batch; kv.num_kv_heads = hkv; kv.head_dim = d; kv.tiers = tier_table();
    return kv;
  }
};

// Keys like real post-RoPE keys: a large shared mean, a few hot channels, noise; values plain.
// tokens[b*hkv+h] rows per head; tier_of(b, h, page) picks each page's tier.
inline TestCache make_cache(int batch, int hkv, int d, const std::vector<TierLayout>& layouts,
                            const std::vector<int>& tokens, const std::function<int(int, int, int)>& tier_of,
                            uint32_t seed) {
  TestCache c;
  c.batch = batch; c.hkv = hkv; c.d = d; c.layouts = layouts;
  for (const TierLayout& L : layouts) {
    c.key_levels.push_back(L.key_kind == KeyKind::kCoord ? lloyd_levels(L.key_bits, d, false)
                           : L.key_kind == KeyKind::kPair ? lloyd_levels(L.key_radius_bits, d, true)
                                                           : std::vector<float>{});
    c.value_levels.push_back(L.value_kind == ValueKind::kCoord ? lloyd_levels(L.value_bits, d, false)
                                                               : std::vector<float>{});
  }
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0.f, 1.f);
  c.signs.resize(size_t(hkv) * d);
  for (auto& s : c.signs) s = (rng() & 1) ? 1 : -1;
  const TierTable tt = c.tier_table();
  struct Pending { int head; int first; int count; int tier; };
  std::vector<Pending> pend;
  c.indptr.push_back(0);
  c.k.resize(size_t(batch) * hkv);
  c.v.resize(size_t(batch) * hkv);
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < hkv; ++h) {
      const int bh = b * hkv + h, n = tokens[size_t(bh)];
      std::vector<float> mean(d);
      for (int i = 0; i < d; ++i) mean[i] = 2.f * n01(rng) * (i % 17 == 3 ? 4.f : 1.f);
      auto& K = c.k[size_t(bh)];
      auto& V = c.v[size_t(bh)];
      K.resize(size_t(n) * d); V.resize(size_t(n) * d);
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < d; ++i) {
          K[size_t(j) * d + i] = mean[i] + n01(rng) * (i % 17 == 3 ? 3.f : 1.f);
          V[size_t(j) * d + i] = n01(rng);
        }
      int at = 0, page = 0;
      while (at < n) {
        const int t = tier_of(b, h, page);
        const int cnt = std::min(layouts[size_t(t)].page_tokens, n - at);
        pend.push_back({bh, at, cnt, t});
        at += cnt; ++page;
      }
      c.max_pages = std::max(c.max_pages, page);
      c.indptr.push_back(int32_t(pend.size()));
    }
  // Shuffled page ids and arena order, so the kernels must follow indices/offsets.
  std::vector<int> order(pend.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  c.pages.resize(pend.size());
  c.indices.resize(pend.size());
  size_t off = 0;
  std::vector<size_t> offs(pend.size());
  for (int id : order) { offs[size_t(id)] = off; off += align16(page_bytes(layouts[size_t(pend[size_t(id)].tier)])) + 16; }
  c.arena.assign(off, 0xA5);
  c.k_hat.resize(c.k.size()); c.v_hat.resize(c.v.size());
  for (size_t i = 0; i < c.k.size(); ++i) { c.k_hat[i].resize(c.k[i].size()); c.v_hat[i].resize(c.v[i].size()); }
  for (size_t e = 0; e < pend.size(); ++e) {
    const Pending& p = pend[e];
    const int id = order[e];  // entry e of the lists gets page id order[e]
    c.indices[e] = id;
    PageInfo& pg = c.pages[size_t(id)];
    pg.byte_offset = offs[e];
    pg.tier = uint32_t(p.tier);
    pg.tokens = uint32_t(p.count);
    const TierLayout& L = layouts[size_t(p.tier)];
    const int8_t* s = c.signs.data() + size_t(p.head % hkv) * d;
    uint8_t* dst = c.arena.data() + pg.byte_offset;
    cpu::encode_page(L, tt.codebooks[p.tier], s, c.k[size_t(p.head)].data() + size_t(p.first) * d,
                     c.v[size_t(p.head)].data() + size_t(p.first) * d, p.count, 0, true, dst);
    cpu::decode_keys(L, tt.codebooks[p.tier], s, dst, p.count, c.k_hat[size_t(p.head)].data() + size_t(p.first) * d);
    cpu::decode_values(L, tt.codebooks[p.tier], s, dst, p.count, c.v_hat[size_t(p.head)].data() + size_t(p.first) * d);
  }
  return c;
}

// float64 naive attention of one query over rows K/V [n, d].
inline void naive_attention(const float* q, const std::vector<float>& K, const std::vector<float>& V, int d,
                            double scale, double* out) {
  const size_t n = K.size() / size_t(d);
  std::vector<double> s(n);
  double mx = -1e300, den = 0;
  for (size_t j = 0; j < n; ++j) {
    double a = 0;
    for (int i = 0; i < d; ++i) a += double(q[i]) * double(K[j * d + i]);
    s[j] = a * scale;
    mx = std::max(mx, s[j]);
  }
  for (int i = 0; i < d; ++i) out[i] = 0;
  for (size_t j = 0; j < n; ++j) {
    const double p = std::exp(s[j] - mx);
    den += p;
    for (int i = 0; i < d; ++i) out[i] += p * double(V[j * d + i]);
  }
  for (int i = 0; i < d; ++i) out[i] = n ? out[i] / den : 0.0;
}

inline std::vector<float> random_queries(int batch, int hq, int d, uint32_t seed, float scale = 0.15f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0.f, 1.f);
  std::vector<float> q(size_t(batch) * hq * d);
  for (auto& x : q) x = scale * n01(rng);
  return q;
}

// max |a - b| / max |b| over a whole output.
inline double rel_error(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) { num = std::max(num, std::fabs(double(a[i]) - b[i])); den = std::max(den, std::fabs(b[i])); }
  return den > 0 ? num / den : num;
}

}  // namespace skv::kernels::test
