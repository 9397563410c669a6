// codec-eval on synthetic keys shaped like real ones (strong shared mean, outlier channels,
// low-norm sink): page-mean removal must help, rates must be the tiers', JSON complete.
#include <gtest/gtest.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/codecs/codec_eval.h"
#include "core/common/error.h"

using namespace skv::codecs;

namespace {
const CodecEvalTable& table() {
  static const CodecEvalTable t = [] {
    std::vector<HeadSample> s = {synthetic_head_sample(384, 64, 3, 1), synthetic_head_sample(384, 64, 3, 2)};
    s[1].kv_head = 1;
    CodecEvalOptions o;
    o.eval_queries = 128;
    o.structures = {{4, true, 0, true}, {4, false, 0, true}, {4, true, 0, false}, {4, true, 32, true}};
    o.extra_key_codecs = {"coord-lloyd(3,unnested)", "tree-polar(4,2)"};
    return run_codec_eval(s, o);
  }();
  return t;
}
}  // namespace

TEST(CodecEval, PageMeanRemovalHelpsOnKeysWithASharedMean) {
  const auto& t = table();
  for (const char* m : {"k3v4", "k4v4", "k2v2"}) {
    const auto* on = t.find(m, {4, true, 0, true});
    const auto* off = t.find(m, {4, false, 0, true});
    ASSERT_TRUE(on && off) << m;
    std::printf("%s: key rel MSE mean on %.4g off %.4g; out err on %.4g off %.4g; KL on %.3g off %.3g\n", m,
                on->key_rel_mse, off->key_rel_mse, on->out_rel_err, off->out_rel_err, on->kl, off->kl);
    EXPECT_LT(on->key_rel_mse, off->key_rel_mse * 0.7) << m;
    EXPECT_LT(on->out_rel_err, off->out_rel_err) << m;
  }
}

TEST(CodecEval, OrderingAndRatesAreSane) {
  const auto& t = table();
  const StructureOptions def{4, true, 0, true};
  const auto* fp16 = t.find("fp16", def);
  const auto* k4 = t.find("k4v4", def);
  const auto* k3 = t.find("k3v4", def);
  const auto* k2 = t.find("k2v2", def);
  ASSERT_TRUE(fp16 && k4 && k3 && k2);
  EXPECT_LT(fp16->out_rel_err, 1e-3);
  EXPECT_LT(k4->key_rel_mse, k3->key_rel_mse);
  EXPECT_LT(k3->key_rel_mse, k2->key_rel_mse);
  EXPECT_LT(k4->out_rel_err, k2->out_rel_err);
  EXPECT_DOUBLE_EQ(k3->key_bits, tier_rate(load_tier_format(default_tiers_dir() / "k3v4.json"), 64).key_bits_per_element);
  // window on: fewer coded tokens seen, less error
  const auto* k3w = t.find("k3v4", {4, true, 32, true});
  ASSERT_TRUE(k3w);
  EXPECT_LE(k3w->out_rel_err, k3->out_rel_err);
  // rotation helps with outlier channels
  const auto* k3r = t.find("k3v4", {4, true, 0, false});
  ASSERT_TRUE(k3r);
  EXPECT_LT(k3->key_rel_mse, k3r->key_rel_mse);
  // baselines are there with their exact rates
  const auto* kivi3 = t.find("kivi-int3", def);
  ASSERT_TRUE(kivi3);
  EXPECT_NEAR(kivi3->value_bits, 4.0, 1e-12);
  EXPECT_GT(kivi3->key_bits, 3.25);  // partial last group pays a full scale + zero
  // nesting cost measured on data: nested vs unconstrained 3-bit keys within a few percent
  const auto* un = t.find("coord-lloyd(3,unnested)+v:coord-lloyd(4)", def);
  ASSERT_TRUE(un);
  EXPECT_NEAR(k3->key_rel_mse / un->key_rel_mse, 1.0, 0.1);
  for (const auto& r : t.rows) std::printf("%-44s %-26s bits %.3f (k %.3f v %.3f) kMSE %.4g vMSE %.4g logit %.4g out %.4g KL %.4g\n",
                                           r.method.c_str(), r.structure.label().c_str(), r.bits, r.key_bits, r.value_bits,
                                           r.key_rel_mse, r.value_rel_mse, r.logit_rel_err, r.out_rel_err, r.kl);
}

TEST(CodecEval, JsonHasEveryRowAndTheNestingCost) {
  const auto j = to_json(table());
  EXPECT_EQ(j["rows"].size(), table().rows.size());
  EXPECT_EQ(j["nesting"]["coord"].size(), 4u);
  EXPECT_GE(j["nesting"]["coord"][3]["ratio"].get<double>(), 1.0);
  EXPECT_TRUE(j["rows"][0].contains("kl"));
}

TEST(CodecEval, RejectsMismatchedSamples) {
  HeadSample s = synthetic_head_sample(64, 64, 2, 3);
  s.queries.pop_back();
  EXPECT_THROW(run_codec_eval({s}), skv::Error);
  EXPECT_THROW(run_codec_eval({}), skv::Error);
}
