#pragma once
// Rate-distortion allocation by a Lagrange multiplier (SPHERICAL_KV.md section 2, "Allocation";
// Shoham & Gersho 1988, "Efficient bit allocation for an arbitrary set of quantizers"):
// minimise sum_m D[m, k_m] subject to rate(k) <= B. For a multiplier lambda every item takes
// argmin_k D[m, k] + lambda R[k]; the rate of that choice does not increase with lambda, so
// bisecting lambda meets the budget. Any such choice is optimal for the budget it spends (the
// Lagrangian sufficiency theorem); between two breakpoints the discrete problem may have a
// small duality gap, which the tests measure against brute force.
#include <functional>

#include <ATen/ATen.h>

namespace skv {

struct AllocationProblem {
  at::Tensor distortion;  // [M, K] float64, D of item m in option k
  at::Tensor rate;        // [K] float64, bytes of one item in option k
  at::Tensor allowed;     // [M, K] bool (undefined: every option allowed); each row needs one
  double budget = 0;      // bytes
  // Exact bytes of a choice [M] int64 (e.g. page packing); default sum_m rate[choice_m].
  std::function<double(const at::Tensor& choice)> exact_rate;
};

struct AllocationResult {
  at::Tensor choice;      // [M] int64 option per item
  double lambda = 0;      // the multiplier of the returned choice
  double bytes = 0;       // exact rate of the choice (<= budget)
  double distortion = 0;  // sum of D over the choice
  int iterations = 0;
};

struct AllocatorOptions {
  int max_iterations = 64;        // bisection steps on log(lambda)
  double relative_gap = 1e-4;     // stop when (hi - lo) / hi is below this
};

// Throws skv::Error when even the cheapest allowed option of every item exceeds the budget.
AllocationResult lagrangian_allocate(const AllocationProblem& problem, const AllocatorOptions& options = {});

// The choice for one multiplier (exposed for tests).
at::Tensor lagrangian_choice(const AllocationProblem& problem, double lambda);

}  // namespace skv
