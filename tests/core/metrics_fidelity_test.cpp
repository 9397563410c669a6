// Fidelity metrics equal a float64 recomputation; the needle task states its key once and
// answers with it.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/metrics/fidelity.h"
#include "core/metrics/needle_task.h"
#include "core/model/model_bundle.h"

namespace skv {
namespace {

TEST(FidelityMetrics, StepComparisonEqualsFloat64Recomputation) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  for (int trial = 0; trial < 5; ++trial) {
    auto a = at::randn({1000}, gen) * 3.0, b = a + at::randn({1000}, gen) * 0.5;
    const int64_t target = 17 * trial + 3;
    auto s = compare_logits(a, b, target);
    // Plain loops in long double.
    auto pa = a.to(at::kDouble).contiguous(), pb = b.to(at::kDouble).contiguous();
    const double* x = pa.data_ptr<double>();
    const double* y = pb.data_ptr<double>();
    long double mx = x[0], my = y[0];
    for (int i = 1; i < 1000; ++i) mx = std::max<long double>(mx, x[i]), my = std::max<long double>(my, y[i]);
    long double zx = 0, zy = 0;
    for (int i = 0; i < 1000; ++i) zx += std::exp((long double)x[i] - mx), zy += std::exp((long double)y[i] - my);
    long double kl = 0;
    int ax = 0, ay = 0;
    for (int i = 0; i < 1000; ++i) {
      const long double lp = x[i] - mx - std::log(zx), lq = y[i] - my - std::log(zy);
      kl += std::exp(lp) * (lp - lq);
      if (x[i] > x[ax]) ax = i;
      if (y[i] > y[ay]) ay = i;
    }
    EXPECT_NEAR(s.kl, double(kl), 1e-12);
    EXPECT_EQ(s.top1_agree, ax == ay);
    EXPECT_NEAR(s.nll_full, double(-(x[target] - mx - std::log(zx))), 1e-12);
    EXPECT_NEAR(s.nll, double(-(y[target] - my - std::log(zy))), 1e-12);
  }
  auto same = compare_logits(at::arange(10, at::kFloat), at::arange(10, at::kFloat), 9);
  EXPECT_NEAR(same.kl, 0.0, 1e-15);
  EXPECT_TRUE(same.top1_agree);
}

TEST(NeedleTask, StatesTheKeyOnceAndAnswersWithIt) {
  ModelBundle m = open_model("default");
  if (!m.tokenizer) GTEST_SKIP() << "the default model has no tokenizer";
  const auto& tok = *m.tokenizer;
  auto t = make_needle_task(tok, "The grass is green. The sky is blue. The sun is yellow. ", 600, 0.3, 7);
  EXPECT_NEAR(double(t.ids.size()), 600.0, 20.0);
  std::vector<int32_t> answer(t.ids.begin() + t.prompt_tokens, t.ids.end());
  EXPECT_EQ(tok.decode(answer), " " + t.pass_key + ".");
  std::vector<int32_t> prompt(t.ids.begin(), t.ids.begin() + t.prompt_tokens);
  const std::string text = tok.decode(prompt);
  EXPECT_NE(text.find("The pass key is " + t.pass_key), std::string::npos);
  EXPECT_TRUE(text.ends_with("The pass key is"));
  EXPECT_GT(t.needle_position, int64_t(0.2 * 600));
}

}  // namespace
}  // namespace skv
