#include "core/policies/lagrangian_allocator.h"

#include <cmath>
#include <limits>

#include "core/common/error.h"

namespace skv {
namespace {

double exact_bytes(const AllocationProblem& p, const at::Tensor& choice) {
  if (p.exact_rate) return p.exact_rate(choice);
  return p.rate.index_select(0, choice).sum().item<double>();
}

}  // namespace

at::Tensor lagrangian_choice(const AllocationProblem& p, double lambda) {
  auto cost = p.distortion + lambda * p.rate.unsqueeze(0);
  if (p.allowed.defined()) cost = cost.masked_fill(p.allowed.logical_not(), std::numeric_limits<double>::infinity());
  // Ties go to the cheaper option: add a rate-ordered epsilon nudge through a stable sort key.
  auto tie = p.rate.unsqueeze(0) * 1e-12 * (1.0 + std::abs(lambda));
  return (cost + tie).argmin(1);
}

AllocationResult lagrangian_allocate(const AllocationProblem& p, const AllocatorOptions& opt) {
  if (p.distortion.dim() != 2 || p.rate.dim() != 1 || p.distortion.size(1) != p.rate.size(0))
    throw Error("allocator: distortion must be [M, K] and rate [K]");
  AllocationResult r;
  const int64_t M = p.distortion.size(0);
  if (M == 0) {
    r.choice = at::zeros({0}, at::kLong);
    return r;
  }
  // The cheapest allowed option of every item: the feasibility limit (lambda -> infinity).
  auto rate_m = p.rate.unsqueeze(0).expand({M, p.rate.size(0)});
  if (p.allowed.defined()) rate_m = rate_m.masked_fill(p.allowed.logical_not(), std::numeric_limits<double>::infinity());
  // Among the cheapest options prefer the least distortion.
  auto min_rate = std::get<0>(rate_m.min(1, true));
  auto big = p.distortion.masked_fill(rate_m.gt(min_rate), std::numeric_limits<double>::infinity());
  auto cheapest = big.argmin(1);
  const double floor_bytes = exact_bytes(p, cheapest);
  if (floor_bytes > p.budget)
    throw Error("allocator: the budget of " + std::to_string(p.budget) + " bytes is below the cheapest allowed choice (" +
                std::to_string(floor_bytes) + " bytes)");
  auto finish = [&](at::Tensor choice, double lambda, double bytes) {
    r.choice = choice;
    r.lambda = lambda;
    r.bytes = bytes;
    r.distortion = p.distortion.gather(1, choice.unsqueeze(1)).sum().item<double>();
    return r;
  };
  auto c0 = lagrangian_choice(p, 0.0);
  const double b0 = exact_bytes(p, c0);
  if (b0 <= p.budget) return finish(c0, 0.0, b0);
  // Bracket: lo infeasible, hi feasible.
  double lo = 0.0, hi = 1e-12;
  at::Tensor c_hi;
  double b_hi = 0;
  for (int i = 0; i < 200; ++i, hi *= 4.0) {
    c_hi = lagrangian_choice(p, hi);
    b_hi = exact_bytes(p, c_hi);
    if (b_hi <= p.budget) break;
    lo = hi;
    if (i == 199) return finish(cheapest, std::numeric_limits<double>::infinity(), floor_bytes);
  }
  for (r.iterations = 0; r.iterations < opt.max_iterations && (hi - lo) > opt.relative_gap * hi; ++r.iterations) {
    const double mid = lo > 0 ? std::sqrt(lo * hi) : hi / 4.0;
    auto c = lagrangian_choice(p, mid);
    const double b = exact_bytes(p, c);
    if (b <= p.budget) {
      hi = mid;
      c_hi = c;
      b_hi = b;
    } else {
      lo = mid;
    }
  }
  return finish(c_hi, hi, b_hi);
}

}  // namespace skv
