// Randomized Hadamard rotation Pi = H_d / sqrt(d) * diag(signs) (SPHERICAL_KV.md 1, step 1).
#include <cmath>

#include "kernels/cpu/ada_reference.h"

namespace skv::kernels::cpu {

void fwht(double* x, int n) {
  for (int h = 1; h < n; h *= 2)
    for (int i = 0; i < n; i += 2 * h)
      for (int j = i; j < i + h; ++j) {
        const double a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
}

void rotate(const int8_t* signs, const float* x, double* out, int d) {
  for (int i = 0; i < d; ++i) out[i] = double(signs[i]) * double(x[i]);
  fwht(out, d);
  const double s = 1.0 / std::sqrt(double(d));
  for (int i = 0; i < d; ++i) out[i] *= s;
}

void rotate_transpose(const int8_t* signs, const double* y, double* out, int d) {
  for (int i = 0; i < d; ++i) out[i] = y[i];
  fwht(out, d);
  const double s = 1.0 / std::sqrt(double(d));
  for (int i = 0; i < d; ++i) out[i] *= s * double(signs[i]);
}

}  // namespace skv::kernels::cpu
