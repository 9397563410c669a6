// CPU encode / explicit decode of ADA pages (the truth for kernels/cuda/ada_encode.cu).
#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

#include "kernels/cpu/ada_reference.h"
#include "kernels/cpu/fp16.h"
#include "kernels/kernel_error.h"

namespace skv::kernels::cpu {
namespace {

int nearest_level(double u, const float* levels, int n) {
  int best = 0;
  double best_d = std::fabs(u - double(levels[0]));
  for (int c = 1; c < n; ++c) {
    const double dd = std::fabs(u - double(levels[c]));
    if (dd < best_d) { best_d = dd; best = c; }
  }
  return best;
}

double pair_angle(int code, int a) { return 2.0 * std::numbers::pi * (code + 0.5) / double(1 << a); }

// Codes + decoded direction of a unit vector u (rotated domain); returns |u^|.
double code_direction(KeyKind kind, int bits, int radius_bits, const float* levels, const double* u, int d,
                      uint32_t* words, double* u_hat) {
  if (kind == KeyKind::kCoord) {
    for (int i = 0; i < d; ++i) {
      const int c = nearest_level(u[i], levels, 1 << bits);
      write_code(words, i, bits, uint32_t(c));
      u_hat[i] = levels[c];
    }
  } else {  // PAIR
    const int a = bits;
    for (int i = 0; i < d / 2; ++i) {
      double phi = std::atan2(u[2 * i + 1], u[2 * i]);
      if (phi < 0) phi += 2.0 * std::numbers::pi;
      int ca = int(std::floor(phi * double(1 << a) / (2.0 * std::numbers::pi)));
      if (ca >= (1 << a)) ca = (1 << a) - 1;
      const double rho = std::hypot(u[2 * i], u[2 * i + 1]);
      const int cr = nearest_level(rho, levels, 1 << radius_bits);
      write_code(words, i, a + radius_bits, uint32_t((cr << a) | ca));
      const double th = pair_angle(ca, a);
      u_hat[2 * i] = levels[cr] * std::cos(th);
      u_hat[2 * i + 1] = levels[cr] * std::sin(th);
    }
  }
  double n2 = 0;
  for (int i = 0; i < d; ++i) n2 += u_hat[i] * u_hat[i];
  return std::sqrt(n2);
}

// Encodes one vector (already mean-removed) into its code words and fp16 scale.
void encode_vector(KeyKind kind, int bits, int radius_bits, const float* levels, const int8_t* signs,
                   const float* v, int d, uint32_t* words, uint16_t* scale, int words_per_token) {
  std::vector<double> x(d), u(d), u_hat(d);
  rotate(signs, v, x.data(), d);
  double r2 = 0;
  for (int i = 0; i < d; ++i) r2 += x[i] * x[i];
  const double r = std::sqrt(r2);
  std::memset(words, 0, size_t(words_per_token) * 4);
  if (r == 0) { *scale = 0; return; }
  for (int i = 0; i < d; ++i) u[i] = x[i] / r;
  const double n_hat = code_direction(kind, bits, radius_bits, levels, u.data(), d, words, u_hat.data());
  if (n_hat == 0) {
    std::memset(words, 0, size_t(words_per_token) * 4);
    *scale = 0;
    return;
  }
  *scale = float_to_half(float(r / n_hat));
}

// Decoded direction u^ (rotated domain) of one token's words.
void decode_direction(KeyKind kind, int bits, int radius_bits, const float* levels, const uint32_t* words,
                      int d, double* u_hat) {
  if (kind == KeyKind::kCoord) {
    for (int i = 0; i < d; ++i) u_hat[i] = levels[read_code(words, i, bits)];
  } else {
    const int a = bits;
    for (int i = 0; i < d / 2; ++i) {
      const uint32_t c = read_code(words, i, a + radius_bits);
      const double rho = levels[c >> a], th = pair_angle(int(c & ((1u << a) - 1)), a);
      u_hat[2 * i] = rho * std::cos(th);
      u_hat[2 * i + 1] = rho * std::sin(th);
    }
  }
}

}  // namespace

uint32_t read_code(const uint32_t* words, int g, int cb) {
  const int bit = g * cb, w = bit >> 5, sh = bit & 31;
  uint64_t v = words[w];
  if (sh + cb > 32) v |= uint64_t(words[w + 1]) << 32;
  return uint32_t((v >> sh) & ((uint64_t{1} << cb) - 1));
}

void write_code(uint32_t* words, int g, int cb, uint32_t code) {
  const int bit = g * cb, w = bit >> 5, sh = bit & 31;
  const uint64_t mask = ((uint64_t{1} << cb) - 1) << sh, v = uint64_t(code) << sh;
  words[w] = uint32_t((words[w] & ~uint32_t(mask)) | uint32_t(v));
  if (sh + cb > 32)
    words[w + 1] = uint32_t((words[w + 1] & ~uint32_t(mask >> 32)) | uint32_t(v >> 32));
}

void encode_page(const TierLayout& L, const TierCodebooks& books, const int8_t* signs, const float* keys,
                 const float* values, int count, int first_slot, bool compute_mean, uint8_t* page) {
  if (const char* why = validate_layout(L)) throw KernelError(std::string("encode_page: ") + why);
  if (count < 0 || first_slot < 0 || first_slot + count > L.page_tokens)
    throw KernelError("encode_page: slots out of the page");
  if (compute_mean && first_slot != 0) throw KernelError("encode_page: compute_mean needs first_slot 0");
  const int d = L.head_dim;
  const PageOffsets o = page_offsets(L);
  auto* mean = reinterpret_cast<uint16_t*>(page + o.mean);
  std::vector<float> m(d, 0.f), kt(d);
  if (has_page_mean(L)) {
    if (compute_mean) {
      for (int i = 0; i < d; ++i) {
        double s = 0;
        for (int j = 0; j < count; ++j) s += keys[size_t(j) * d + i];
        mean[i] = float_to_half(count ? float(s / count) : 0.f);
      }
    }
    for (int i = 0; i < d; ++i) m[i] = half_to_float(mean[i]);
  }
  for (int j = 0; j < count; ++j) {
    const int slot = first_slot + j;
    const float* k = keys + size_t(j) * d;
    const float* v = values + size_t(j) * d;
    if (keys_coded(L)) {
      for (int i = 0; i < d; ++i) kt[i] = k[i] - m[i];
      const int wpt = key_words_per_token(L);
      encode_vector(L.key_kind, L.key_bits, L.key_radius_bits, books.key_levels, signs, kt.data(), d,
                    reinterpret_cast<uint32_t*>(page + o.key_codes) + size_t(slot) * wpt,
                    reinterpret_cast<uint16_t*>(page + o.key_scales) + slot, wpt);
    } else {
      auto* dst = reinterpret_cast<uint16_t*>(page + o.key_codes) + size_t(slot) * d;
      for (int i = 0; i < d; ++i) dst[i] = float_to_half(k[i]);
    }
    if (L.value_kind == ValueKind::kCoord) {
      const int wpt = value_words_per_token(L);
      encode_vector(KeyKind::kCoord, L.value_bits, 0, books.value_levels, signs, v, d,
                    reinterpret_cast<uint32_t*>(page + o.values) + size_t(slot) * wpt,
                    reinterpret_cast<uint16_t*>(page + o.value_scales) + slot, wpt);
    } else {
      auto* dst = reinterpret_cast<uint16_t*>(page + o.values) + size_t(slot) * d;
      for (int i = 0; i < d; ++i) dst[i] = float_to_half(v[i]);
    }
  }
}

void decode_keys(const TierLayout& L, const TierCodebooks& books, const int8_t* signs, const uint8_t* page,
                 int tokens, float* keys) {
  const int d = L.head_dim;
  const PageOffsets o = page_offsets(L);
  std::vector<double> u_hat(d), k(d);
  for (int j = 0; j < tokens; ++j) {
    float* out = keys + size_t(j) * d;
    if (!keys_coded(L)) {
      const auto* src = reinterpret_cast<const uint16_t*>(page + o.key_codes) + size_t(j) * d;
      for (int i = 0; i < d; ++i) out[i] = half_to_float(src[i]);
      continue;
    }
    const int wpt = key_words_per_token(L);
    decode_direction(L.key_kind, L.key_bits, L.key_radius_bits, books.key_levels,
                     reinterpret_cast<const uint32_t*>(page + o.key_codes) + size_t(j) * wpt, d, u_hat.data());
    rotate_transpose(signs, u_hat.data(), k.data(), d);
    const double s = half_to_float(reinterpret_cast<const uint16_t*>(page + o.key_scales)[j]);
    const auto* mean = reinterpret_cast<const uint16_t*>(page + o.mean);
    for (int i = 0; i < d; ++i)
      out[i] = float(s * k[i] + (has_page_mean(L) ? double(half_to_float(mean[i])) : 0.0));
  }
}

void decode_values(const TierLayout& L, const TierCodebooks& books, const int8_t* signs, const uint8_t* page,
                   int tokens, float* values) {
  const int d = L.head_dim;
  const PageOffsets o = page_offsets(L);
  std::vector<double> u_hat(d), v(d);
  for (int j = 0; j < tokens; ++j) {
    float* out = values + size_t(j) * d;
    if (L.value_kind == ValueKind::kFp16) {
      const auto* src = reinterpret_cast<const uint16_t*>(page + o.values) + size_t(j) * d;
      for (int i = 0; i < d; ++i) out[i] = half_to_float(src[i]);
      continue;
    }
    const int wpt = value_words_per_token(L);
    decode_direction(KeyKind::kCoord, L.value_bits, 0, books.value_levels,
                     reinterpret_cast<const uint32_t*>(page + o.values) + size_t(j) * wpt, d, u_hat.data());
    rotate_transpose(signs, u_hat.data(), v.data(), d);
    const double s = half_to_float(reinterpret_cast<const uint16_t*>(page + o.value_scales)[j]);
    for (int i = 0; i < d; ++i) out[i] = float(s * v[i]);
  }
}

}  // namespace skv::kernels::cpu
