#include "core/codecs/codec_eval.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "core/codecs/direction_codec.h"
#include "core/codecs/scalar_baselines.h"
#include "core/common/error.h"
#include "kernels/cpu/ada_reference.h"
#include "kernels/cpu/fp16.h"

namespace skv::codecs {
namespace {

using kernels::cpu::round_to_half;

// What a method stores for one sample: reconstructed keys/values of every token (sink tokens
// already fp16) and its exact rate.
struct Stored {
  std::vector<float> k, v;
  double key_bits = 0, value_bits = 0, meta_bits = 0;
};

// One sphere-coded vector: x~ = rotation ? Pi v : v, u = x~/|x~|, codes, u^, s = fp16(r/|u^|),
// back = s u^ (un-rotated). Mirrors kernels/cpu/ada_codec_cpu.cpp encode_vector.
void sphere_code(const DirectionCodec& codec, const int8_t* signs, bool rotation, const float* v, int d,
                 float* out) {
  std::vector<double> x(d), u(d), uh(d), back(d);
  std::vector<uint32_t> codes(codec.code_count());
  if (rotation) kernels::cpu::rotate(signs, v, x.data(), d);
  else for (int i = 0; i < d; ++i) x[i] = v[i];
  double r2 = 0;
  for (double a : x) r2 += a * a;
  const double r = std::sqrt(r2);
  if (r == 0) { std::fill(out, out + d, 0.f); return; }
  for (int i = 0; i < d; ++i) u[i] = x[i] / r;
  codec.encode(u, codes);
  codec.decode(codes, uh);
  double n2 = 0;
  for (double a : uh) n2 += a * a;
  if (n2 == 0) { std::fill(out, out + d, 0.f); return; }
  const double s = round_to_half(float(r / std::sqrt(n2)));
  for (int i = 0; i < d; ++i) uh[i] *= s;
  if (rotation) kernels::cpu::rotate_transpose(signs, uh.data(), back.data(), d);
  else back = uh;
  for (int i = 0; i < d; ++i) out[i] = float(back[i]);
}

Stored sphere_method(const HeadSample& hs, const DirectionCodec* key_codec, const DirectionCodec* value_codec,
                     const StructureOptions& so, int page_tokens, const int8_t* signs) {
  const int T = hs.tokens, d = hs.head_dim, s0 = std::min(so.sink_tokens, T);
  Stored st;
  st.k.resize(size_t(T) * d);
  st.v.resize(size_t(T) * d);
  for (size_t i = 0; i < size_t(s0) * d; ++i) { st.k[i] = round_to_half(hs.keys[i]); st.v[i] = round_to_half(hs.values[i]); }
  std::vector<float> kt(d), scale(d, 1.f);
  for (int p0 = s0; p0 < T; p0 += page_tokens) {
    const int cnt = std::min(page_tokens, T - p0);
    std::vector<float> mean(d, 0.f);
    if (key_codec && so.page_mean) {
      for (int i = 0; i < d; ++i) {
        double s = 0;
        for (int j = 0; j < cnt; ++j) s += hs.keys[size_t(p0 + j) * d + i];
        mean[i] = round_to_half(float(s / cnt));
      }
    }
    if (key_codec && so.channel_scale) {  // fp16 RMS of each channel over the page (after the mean)
      for (int i = 0; i < d; ++i) {
        double s = 0;
        for (int j = 0; j < cnt; ++j) {
          const double x = hs.keys[size_t(p0 + j) * d + i] - mean[i];
          s += x * x;
        }
        scale[i] = round_to_half(float(std::sqrt(s / cnt)));
        if (!(scale[i] > 0)) scale[i] = 1.f;
      }
    }
    for (int j = p0; j < p0 + cnt; ++j) {
      const float* k = &hs.keys[size_t(j) * d];
      float* ko = &st.k[size_t(j) * d];
      if (key_codec) {
        for (int i = 0; i < d; ++i) kt[i] = (k[i] - mean[i]) / scale[i];
        sphere_code(*key_codec, signs, so.rotation, kt.data(), d, ko);
        for (int i = 0; i < d; ++i) ko[i] = ko[i] * scale[i] + mean[i];
      } else {
        for (int i = 0; i < d; ++i) ko[i] = round_to_half(k[i]);
      }
      const float* v = &hs.values[size_t(j) * d];
      float* vo = &st.v[size_t(j) * d];
      if (value_codec) sphere_code(*value_codec, signs, so.rotation, v, d, vo);
      else for (int i = 0; i < d; ++i) vo[i] = round_to_half(v[i]);
    }
  }
  return st;
}

Stored baseline_method(const HeadSample& hs, bool kivi, int bits, const CodecEvalOptions& o,
                       const StructureOptions& so, const int8_t* signs) {
  const int T = hs.tokens, d = hs.head_dim, s0 = std::min(so.sink_tokens, T), n = T - s0;
  Stored st;
  st.k.resize(size_t(T) * d);
  st.v.resize(size_t(T) * d);
  for (size_t i = 0; i < size_t(s0) * d; ++i) { st.k[i] = round_to_half(hs.keys[i]); st.v[i] = round_to_half(hs.values[i]); }
  const float* k = hs.keys.data() + size_t(s0) * d;
  const float* v = hs.values.data() + size_t(s0) * d;
  // KIVI: per-channel K (group 128 tokens) + per-token V (group 32). Rotated: per-token int-b
  // after the Hadamard rotation, keys one group per token (the rotation evens the channels),
  // values group 32 like KIVI.
  QuantizedBlock qk = kivi ? kivi_per_channel(k, n, d, bits, o.kivi_key_group)
                           : rotated_per_token_int(k, n, d, bits, d, signs);
  QuantizedBlock qv = kivi ? per_token_int(v, n, d, bits, o.kivi_value_group)
                           : rotated_per_token_int(v, n, d, bits, o.kivi_value_group, signs);
  std::copy(qk.recon.begin(), qk.recon.end(), st.k.begin() + size_t(s0) * d);
  std::copy(qv.recon.begin(), qv.recon.end(), st.v.begin() + size_t(s0) * d);
  st.key_bits = qk.bits_per_element;
  st.value_bits = qv.bits_per_element;
  return st;
}

struct Accum {
  double k_err = 0, k_ref = 0, v_err = 0, v_ref = 0, l_err = 0, l_ref = 0, o_err = 0, o_ref = 0, kl = 0;
  long kl_count = 0;
};

void score(const HeadSample& hs, const Stored& st, const StructureOptions& so, int eval_queries, Accum& a) {
  const int T = hs.tokens, d = hs.head_dim, G = hs.group;
  for (size_t i = 0; i < hs.keys.size(); ++i) {
    a.k_err += double(hs.keys[i] - st.k[i]) * (hs.keys[i] - st.k[i]);
    a.k_ref += double(hs.keys[i]) * hs.keys[i];
    a.v_err += double(hs.values[i] - st.v[i]) * (hs.values[i] - st.v[i]);
    a.v_ref += double(hs.values[i]) * hs.values[i];
  }
  const double scale = 1.0 / std::sqrt(double(d));
  const int q0 = std::max(0, T - eval_queries);
  std::vector<double> s(T), sh(T), p(T), ph(T), o(d), oh(d);
  for (int t = q0; t < T; ++t) {
    for (int g = 0; g < G; ++g) {
      const float* q = &hs.queries[(size_t(t) * G + g) * d];
      for (int j = 0; j <= t; ++j) {
        const bool hot = so.window > 0 && j > t - so.window;  // fp16 in the hot window
        const float* k = &hs.keys[size_t(j) * d];
        const float* kh = &st.k[size_t(j) * d];
        double a1 = 0, a2 = 0;
        for (int i = 0; i < d; ++i) {
          a1 += double(q[i]) * k[i];
          a2 += double(q[i]) * (hot ? round_to_half(k[i]) : kh[i]);
        }
        s[j] = a1 * scale;
        sh[j] = a2 * scale;
        a.l_err += (s[j] - sh[j]) * (s[j] - sh[j]);
        a.l_ref += s[j] * s[j];
      }
      const double m1 = *std::max_element(s.begin(), s.begin() + t + 1);
      const double m2 = *std::max_element(sh.begin(), sh.begin() + t + 1);
      double z1 = 0, z2 = 0;
      for (int j = 0; j <= t; ++j) { p[j] = std::exp(s[j] - m1); z1 += p[j]; ph[j] = std::exp(sh[j] - m2); z2 += ph[j]; }
      std::fill(o.begin(), o.end(), 0.0);
      std::fill(oh.begin(), oh.end(), 0.0);
      double kl = 0;
      for (int j = 0; j <= t; ++j) {
        p[j] /= z1;
        ph[j] /= z2;
        if (p[j] > 0) kl += p[j] * (std::log(p[j]) - std::log(std::max(ph[j], 1e-300)));
        const bool hot = so.window > 0 && j > t - so.window;
        const float* v = &hs.values[size_t(j) * d];
        const float* vh = &st.v[size_t(j) * d];
        for (int i = 0; i < d; ++i) {
          o[i] += p[j] * v[i];
          oh[i] += ph[j] * (hot ? round_to_half(v[i]) : vh[i]);
        }
      }
      for (int i = 0; i < d; ++i) { a.o_err += (o[i] - oh[i]) * (o[i] - oh[i]); a.o_ref += o[i] * o[i]; }
      a.kl += std::max(0.0, kl);
      ++a.kl_count;
    }
  }
}

// Exact attention of one sample, computed once and shared by every row (the fast scorer).
struct Reference {
  int q0 = 0, nq = 0;                  // first query position, queries (positions x group)
  std::vector<double> s, s16;          // [nq][T] exact logits, logits against fp16 keys (hot window)
  std::vector<double> p, lse;          // [nq][T] exact probabilities, [nq] log-sum-exp
  std::vector<double> o;               // [nq][d] exact outputs
  std::vector<float> v16;              // [T][d] fp16 values (hot window)
};

Reference make_reference(const HeadSample& hs, int eval_queries) {
  const int T = hs.tokens, d = hs.head_dim, G = hs.group;
  Reference r;
  r.q0 = std::max(0, T - eval_queries);
  r.nq = (T - r.q0) * G;
  r.s.assign(size_t(r.nq) * T, 0.0);
  r.s16.assign(size_t(r.nq) * T, 0.0);
  r.p.assign(size_t(r.nq) * T, 0.0);
  r.lse.assign(r.nq, 0.0);
  r.o.assign(size_t(r.nq) * d, 0.0);
  r.v16.resize(hs.values.size());
  std::vector<float> k16(hs.keys.size());
  for (size_t i = 0; i < hs.keys.size(); ++i) { k16[i] = round_to_half(hs.keys[i]); r.v16[i] = round_to_half(hs.values[i]); }
  const double scale = 1.0 / std::sqrt(double(d));
  for (int t = r.q0; t < T; ++t)
    for (int g = 0; g < G; ++g) {
      const int qi = (t - r.q0) * G + g;
      const float* q = &hs.queries[(size_t(t) * G + g) * d];
      double* s = &r.s[size_t(qi) * T];
      double* s16 = &r.s16[size_t(qi) * T];
      for (int j = 0; j <= t; ++j) {
        double a1 = 0, a2 = 0;
        for (int i = 0; i < d; ++i) {
          a1 += double(q[i]) * hs.keys[size_t(j) * d + i];
          a2 += double(q[i]) * k16[size_t(j) * d + i];
        }
        s[j] = a1 * scale;
        s16[j] = a2 * scale;
      }
      const double m = *std::max_element(s, s + t + 1);
      double z = 0;
      for (int j = 0; j <= t; ++j) z += std::exp(s[j] - m);
      r.lse[qi] = m + std::log(z);
      double* p = &r.p[size_t(qi) * T];
      double* o = &r.o[size_t(qi) * d];
      for (int j = 0; j <= t; ++j) {
        p[j] = std::exp(s[j] - r.lse[qi]);
        for (int i = 0; i < d; ++i) o[i] += p[j] * hs.values[size_t(j) * d + i];
      }
    }
  return r;
}

// y[0..n) += a x[0..n), unrolled by 8 so that GCC's SLP vectoriser packs it at -O2.
inline void axpy(float* __restrict y, float a, const float* __restrict x, int n) {
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    y[j] += a * x[j]; y[j + 1] += a * x[j + 1]; y[j + 2] += a * x[j + 2]; y[j + 3] += a * x[j + 3];
    y[j + 4] += a * x[j + 4]; y[j + 5] += a * x[j + 5]; y[j + 6] += a * x[j + 6]; y[j + 7] += a * x[j + 7];
  }
  for (; j < n; ++j) y[j] += a * x[j];
}

// Same metrics as score(), against the shared Reference: approximate logits and outputs in fp32
// (blocked, vectorisable), errors and KL accumulated in float64. Tested equal to score() in
// tests/core/codec_eval_test.cpp.
void score_fast(const HeadSample& hs, const Reference& ref, const Stored& st, const StructureOptions& so, Accum& a) {
  const int T = hs.tokens, d = hs.head_dim, G = hs.group;
  for (size_t i = 0; i < hs.keys.size(); ++i) {
    a.k_err += double(hs.keys[i] - st.k[i]) * (hs.keys[i] - st.k[i]);
    a.k_ref += double(hs.keys[i]) * hs.keys[i];
    a.v_err += double(hs.values[i] - st.v[i]) * (hs.values[i] - st.v[i]);
    a.v_ref += double(hs.values[i]) * hs.values[i];
  }
  std::vector<float> kt(size_t(d) * T);  // coded keys transposed [d][T]
  for (int j = 0; j < T; ++j)
    for (int i = 0; i < d; ++i) kt[size_t(i) * T + j] = st.k[size_t(j) * d + i];
  const float scale = float(1.0 / std::sqrt(double(d)));
  std::vector<float> sh(T), ph(T), oh(d);
  for (int t = ref.q0; t < T; ++t)
    for (int g = 0; g < G; ++g) {
      const int qi = (t - ref.q0) * G + g;
      const float* q = &hs.queries[(size_t(t) * G + g) * d];
      std::fill(sh.begin(), sh.begin() + t + 1, 0.f);
      for (int i = 0; i < d; ++i) axpy(sh.data(), q[i] * scale, &kt[size_t(i) * T], t + 1);
      const double* s = &ref.s[size_t(qi) * T];
      const double* s16 = &ref.s16[size_t(qi) * T];
      const double* p = &ref.p[size_t(qi) * T];
      const int hot0 = so.window > 0 ? std::max(0, t - so.window + 1) : t + 1;  // keys hot0..t fp16
      double m2 = -1e300;
      for (int j = 0; j <= t; ++j) {
        const double x = j >= hot0 ? s16[j] : double(sh[j]);
        a.l_err += (s[j] - x) * (s[j] - x);
        a.l_ref += s[j] * s[j];
        sh[j] = float(x);
        m2 = std::max(m2, x);
      }
      double z2 = 0;
      for (int j = 0; j <= t; ++j) { ph[j] = float(std::exp(double(sh[j]) - m2)); z2 += ph[j]; }
      const double lse2 = m2 + std::log(z2);
      double kl = 0;
      std::fill(oh.begin(), oh.end(), 0.f);
      for (int j = 0; j <= t; ++j) {
        kl += p[j] * ((s[j] - ref.lse[qi]) - (double(sh[j]) - lse2));
        axpy(oh.data(), ph[j], j >= hot0 ? &ref.v16[size_t(j) * d] : &st.v[size_t(j) * d], d);
      }
      const double* o = &ref.o[size_t(qi) * d];
      for (int i = 0; i < d; ++i) {
        const double e = o[i] - double(oh[i]) / z2;
        a.o_err += e * e;
        a.o_ref += o[i] * o[i];
      }
      a.kl += std::max(0.0, kl);
      ++a.kl_count;
    }
}

void add(Accum& into, const Accum& a) {
  into.k_err += a.k_err; into.k_ref += a.k_ref; into.v_err += a.v_err; into.v_ref += a.v_ref;
  into.l_err += a.l_err; into.l_ref += a.l_ref; into.o_err += a.o_err; into.o_ref += a.o_ref;
  into.kl += a.kl; into.kl_count += a.kl_count;
}

void finish(CodecEvalRow& r, const Accum& a) {
  auto ratio = [](double e, double ref) { return ref > 0 ? e / ref : 0.0; };
  r.key_rel_mse = ratio(a.k_err, a.k_ref);
  r.value_rel_mse = ratio(a.v_err, a.v_ref);
  r.logit_rel_err = std::sqrt(ratio(a.l_err, a.l_ref));
  r.out_rel_err = std::sqrt(ratio(a.o_err, a.o_ref));
  r.kl = a.kl_count ? a.kl / a.kl_count : 0.0;
  r.bits = 0.5 * (r.key_bits + r.value_bits + r.meta_bits);
}

std::vector<TierFormat> default_tiers() {
  std::vector<TierFormat> t = load_tier_set(default_tiers_dir() / "default_set.json").tiers;
  for (const char* extra : {"pp42v4", "pp32v4", "vq4k3v4", "vq8k2v2"}) t.push_back(load_tier_format(default_tiers_dir() / (std::string(extra) + ".json")));
  return t;
}

std::vector<StructureOptions> default_structures() {
  std::vector<StructureOptions> out;
  for (int w : {0, 32})
    for (bool rot : {true, false})
      for (bool mean : {true, false}) out.push_back({4, mean, w, rot});
  for (int w : {0, 32}) out.push_back({4, true, w, true, true});  // per-channel scale
  out.push_back({0, false, 0, true});  // raw keys: no fp16 sinks, no mean (SPHERICAL_KV.md 1, first claim)
  return out;
}

std::vector<StructureOptions> default_codec_structures() {
  std::vector<StructureOptions> out;
  for (int w : {0, 32})
    for (bool mean : {true, false}) out.push_back({4, mean, w, true});
  return out;
}

}  // namespace

std::string StructureOptions::label() const {
  return "sinks" + std::to_string(sink_tokens) + (page_mean ? "+mean" : "-mean") + (rotation ? "+rot" : "-rot") +
         (channel_scale ? "+chscale" : "") + "+win" + std::to_string(window);
}

const CodecEvalRow* CodecEvalTable::find(const std::string& method, const StructureOptions& s) const {
  for (const auto& r : rows) {
    if (r.method != method || r.structure.sink_tokens != s.sink_tokens || r.structure.window != s.window) continue;
    if (r.structure_applies && (r.structure.page_mean != s.page_mean || r.structure.rotation != s.rotation ||
                                r.structure.channel_scale != s.channel_scale))
      continue;
    return &r;
  }
  return nullptr;
}

CodecEvalTable run_codec_eval(const std::vector<HeadSample>& samples, const CodecEvalOptions& opt) {
  if (samples.empty()) throw Error("codec-eval: no samples (collect keys/values/queries from the model first)");
  const int d = samples[0].head_dim;
  for (const auto& s : samples) {
    if (s.head_dim != d) throw Error("codec-eval: every sample must have the same head_dim");
    if (s.tokens <= 0 || s.group <= 0 || s.keys.size() != size_t(s.tokens) * d || s.values.size() != s.keys.size() ||
        s.queries.size() != size_t(s.tokens) * s.group * d)
      throw Error("codec-eval: sample (layer " + std::to_string(s.layer) + ", head " + std::to_string(s.kv_head) +
                  ") has keys/values/queries of the wrong size for T=" + std::to_string(s.tokens));
  }
  const std::vector<TierFormat> tiers = opt.tiers.empty() ? default_tiers() : opt.tiers;
  const std::vector<StructureOptions> structures = opt.structures.empty() ? default_structures() : opt.structures;
  const std::vector<StructureOptions> codec_structures =
      opt.codec_structures.empty() ? default_codec_structures() : opt.codec_structures;

  CodecEvalTable table;
  table.head_dim = d;
  table.samples = int(samples.size());
  table.eval_queries = opt.eval_queries;
  table.coord_nesting = nesting_cost(sphere_coordinate_law(d), 4);
  table.radius_nesting = nesting_cost(sphere_plane_radius_law(d), 3);

  std::vector<std::vector<int8_t>> signs;
  for (const auto& s : samples) signs.push_back(hadamard_signs(opt.seed, s.layer, s.kv_head, d));

  // Sphere methods: tiers, then the CPU-only codecs.
  struct Sphere {
    std::string method, family;
    std::unique_ptr<DirectionCodec> key, value;
    int page_tokens;
    double key_bits(bool mean) const {  // CPU-only codecs: codes + fp16 scale (+ fp16 page mean)
      return key->bits_per_element() + 16.0 / key->dim() + (mean ? 16.0 / page_tokens : 0.0);
    }
    const TierFormat* tier = nullptr;
  };
  std::vector<Sphere> sphere;
  for (const auto& t : tiers) {
    Sphere s;
    s.method = t.name;
    s.family = "tier";
    if (!t.key_codec_spec().empty()) s.key = make_direction_codec(t.key_codec_spec(), d);
    if (!t.value_codec_spec().empty()) s.value = make_direction_codec(t.value_codec_spec(), d);
    s.page_tokens = t.page_tokens;
    s.tier = &t;
    sphere.push_back(std::move(s));
  }
  for (const auto& spec : opt.extra_key_codecs) {
    Sphere s;
    s.key = make_direction_codec(spec, d);
    s.value = make_direction_codec("coord-lloyd(" + std::to_string(opt.extra_value_bits) + ")", d);
    s.method = s.key->name() + "+v:" + s.value->name();
    s.family = "codec";
    s.page_tokens = opt.page_tokens;
    sphere.push_back(std::move(s));
  }

  // Every row first (rates only), then one pass over the samples: the exact attention of a
  // sample is computed once and every row is scored against it.
  struct RowPlan {
    CodecEvalRow row;
    const Sphere* sphere = nullptr;  // sphere method, or a baseline:
    bool kivi = false;
    int baseline_bits = 0;
    StructureOptions eff;  // what the encoder applies
  };
  std::vector<RowPlan> plan;
  for (const auto& m : sphere) {
    bool fp16_done = false;
    for (const auto& so : (m.tier ? structures : codec_structures)) {
      const bool fp16_keys = !m.key;
      if (fp16_keys && !m.value) {  // fp16: structure-free apart from sinks/window (exact anyway)
        if (fp16_done) continue;
        fp16_done = true;
      }
      if (fp16_keys && so.channel_scale) continue;  // nothing to scale
      RowPlan rp;
      CodecEvalRow& row = rp.row;
      row.method = m.method;
      row.family = m.family;
      row.structure = so;
      row.structure_applies = !(fp16_keys && !m.value);
      rp.sphere = &m;
      rp.eff = so;  // a tier without page_mean never subtracts one
      rp.eff.page_mean = so.page_mean && (!m.tier || m.tier->page_mean);
      if (m.tier) {
        TierFormat t = *m.tier;
        t.page_mean = t.page_mean && so.page_mean && !fp16_keys;
        const TierRate r = tier_rate(t, d);
        row.key_bits = r.key_bits_per_element;
        row.value_bits = r.value_bits_per_element;
        row.meta_bits = r.meta_bits_per_element;
      } else {
        row.key_bits = m.key_bits(so.page_mean);
        row.value_bits = m.value->bits_per_element() + 16.0 / d;
        row.meta_bits = 8.0 * kernels::kPageMetaBytes / double(m.page_tokens * d);
      }
      if (so.channel_scale) row.key_bits += 16.0 / m.page_tokens;  // d fp16 scales per page
      plan.push_back(rp);
    }
  }
  // Baselines, once per distinct (sinks, window).
  std::set<std::pair<int, int>> sw;
  for (const auto& so : structures) sw.insert({so.sink_tokens, so.window});
  for (const auto& [sinks, window] : sw)
    for (bool kivi : {true, false})
      for (int b : opt.baseline_bits) {
        RowPlan rp;
        rp.row.method = (kivi ? "kivi-int" : "rotated-int") + std::to_string(b);
        rp.row.family = kivi ? "kivi" : "rotated-int";
        rp.row.structure = StructureOptions{sinks, false, window, false};
        rp.row.structure_applies = false;
        rp.kivi = kivi;
        rp.baseline_bits = b;
        rp.eff = rp.row.structure;
        plan.push_back(rp);
      }

  std::vector<Accum> total(plan.size());
  std::map<int, std::vector<Accum>> by_layer;
  std::vector<double> kb(plan.size(), 0.0), vb(plan.size(), 0.0);
  for (size_t i = 0; i < samples.size(); ++i) {
    const HeadSample& hs = samples[i];
    Reference ref;
    if (!opt.reference_scoring) ref = make_reference(hs, opt.eval_queries);
    auto& layer_acc = by_layer[hs.layer];
    layer_acc.resize(plan.size());
    for (size_t r = 0; r < plan.size(); ++r) {
      const RowPlan& rp = plan[r];
      Stored st = rp.sphere ? sphere_method(hs, rp.sphere->key.get(), rp.sphere->value.get(), rp.eff,
                                            rp.sphere->page_tokens, signs[i].data())
                            : baseline_method(hs, rp.kivi, rp.baseline_bits, opt, rp.eff, signs[i].data());
      kb[r] += st.key_bits / samples.size();
      vb[r] += st.value_bits / samples.size();
      Accum a;
      if (opt.reference_scoring) score(hs, st, rp.row.structure, opt.eval_queries, a);
      else score_fast(hs, ref, st, rp.row.structure, a);
      add(total[r], a);
      add(layer_acc[r], a);
    }
  }
  for (size_t r = 0; r < plan.size(); ++r) {
    if (!plan[r].sphere) { plan[r].row.key_bits = kb[r]; plan[r].row.value_bits = vb[r]; }
    CodecEvalRow row = plan[r].row;
    finish(row, total[r]);
    table.rows.push_back(row);
  }
  for (const auto& [layer, acc] : by_layer) {
    std::vector<CodecEvalRow> rows;
    for (size_t r = 0; r < plan.size(); ++r) {
      CodecEvalRow row = plan[r].row;
      finish(row, acc[r]);
      rows.push_back(row);
    }
    table.per_layer.emplace_back(layer, std::move(rows));
  }
  return table;
}

nlohmann::json to_json(const CodecEvalTable& t) {
  using nlohmann::json;
  json rows = json::array();
  for (const auto& r : t.rows) {
    json s = {{"sink_tokens", r.structure.sink_tokens}, {"window", r.structure.window}};
    if (r.structure_applies) {
      s["page_mean"] = r.structure.page_mean;
      s["rotation"] = r.structure.rotation;
      s["channel_scale"] = r.structure.channel_scale;
    }
    rows.push_back({{"method", r.method},
                    {"family", r.family},
                    {"structure", s},
                    {"key_bits", r.key_bits},
                    {"value_bits", r.value_bits},
                    {"meta_bits", r.meta_bits},
                    {"bits", r.bits},
                    {"key_rel_mse", r.key_rel_mse},
                    {"value_rel_mse", r.value_rel_mse},
                    {"logit_rel_err", r.logit_rel_err},
                    {"out_rel_err", r.out_rel_err},
                    {"kl", r.kl}});
  }
  auto nest = [](const std::vector<NestingCost>& v) {
    json a = json::array();
    for (const auto& c : v)
      a.push_back({{"bits", c.bits}, {"mse_unconstrained", c.mse_unconstrained}, {"mse_nested", c.mse_nested},
                   {"ratio", c.ratio()}});
    return a;
  };
  // Per layer: the same rows in the same order, metrics only (rates are the pooled rows').
  json per_layer = json::object();
  for (const auto& [layer, lrows] : t.per_layer) {
    json a = json::array();
    for (const auto& r : lrows)
      a.push_back({{"method", r.method},
                   {"structure", r.structure_applies ? r.structure.label() : "(" + r.structure.label() + ")"},
                   {"key_rel_mse", r.key_rel_mse},
                   {"value_rel_mse", r.value_rel_mse},
                   {"logit_rel_err", r.logit_rel_err},
                   {"out_rel_err", r.out_rel_err},
                   {"kl", r.kl}});
    per_layer[std::to_string(layer)] = a;
  }
  return json{{"head_dim", t.head_dim},
              {"samples", t.samples},
              {"eval_queries", t.eval_queries},
              {"rows", rows},
              {"per_layer", per_layer},
              {"nesting", {{"coord", nest(t.coord_nesting)}, {"plane_radius", nest(t.radius_nesting)}}}};
}

HeadSample synthetic_head_sample(int tokens, int d, int group, uint64_t seed) {
  HeadSample hs;
  hs.tokens = tokens;
  hs.head_dim = d;
  hs.group = group;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  auto unit = [&](std::vector<double>& v) {
    double n = 0;
    for (auto& x : v) { x = n01(rng); n += x * x; }
    for (auto& x : v) x /= std::sqrt(n);
  };
  // Per-channel noise RMS: median 1, three outlier channels (low RoPE frequencies: the last
  // pairs in the split-half layout) at 8x.
  std::vector<double> sigma(d, 1.0);
  for (int c : {d / 2 - 1, d - 1, d - 2}) sigma[c] = 8.0;
  double noise_energy = 0;
  for (double s : sigma) noise_energy += s * s;
  std::vector<double> mu(d), w(d), drift(d, 0.0), step(d), vmu(d);
  unit(mu);
  unit(w);
  unit(vmu);
  double proj = 0;  // w orthogonal to the mean
  for (int i = 0; i < d; ++i) proj += w[i] * mu[i];
  double wn = 0;
  for (int i = 0; i < d; ++i) { w[i] -= proj * mu[i]; wn += w[i] * w[i]; }
  for (auto& x : w) x /= std::sqrt(wn);
  const double mean_norm = std::sqrt(1.5 * noise_energy);  // mean ~60% of key energy
  hs.keys.resize(size_t(tokens) * d);
  hs.values.resize(size_t(tokens) * d);
  hs.queries.resize(size_t(tokens) * group * d);
  for (int t = 0; t < tokens; ++t) {
    if (t % 64 == 0) {  // page-to-page drift of the mean
      unit(step);
      for (int i = 0; i < d; ++i) drift[i] = 0.7 * drift[i] + 0.35 * mean_norm * step[i];
    }
    for (int i = 0; i < d; ++i) {
      double k = mean_norm * mu[i] + drift[i] + sigma[i] * n01(rng);
      if (t == 0) k = 4.0 * w[i];  // the sink: small norm, aligned with the queries' shared part
      hs.keys[size_t(t) * d + i] = float(k);
      hs.values[size_t(t) * d + i] = float(1.5 * vmu[i] + (i % 17 == 0 ? 3.0 : 1.0) * n01(rng));
    }
    for (int g = 0; g < group; ++g)
      for (int i = 0; i < d; ++i)
        hs.queries[(size_t(t) * group + g) * d + i] = float(1.6 * std::sqrt(double(d)) * w[i] + n01(rng));
  }
  return hs;
}

}  // namespace skv::codecs
