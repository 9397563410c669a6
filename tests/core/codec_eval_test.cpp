// codec-eval on synthetic keys shaped like real ones (strong shared mean, outlier channels,
// low-norm sink): page-mean removal must help, rates must be the tiers', JSON complete.
#include <gtest/gtest.h>

#include <cmath>
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

TEST(CodecEval, FastScorerEqualsTheFloat64Reference) {
  std::vector<HeadSample> s = {synthetic_head_sample(200, 64, 3, 7), synthetic_head_sample(200, 64, 3, 8)};
  s[1].layer = 5;
  CodecEvalOptions o;
  o.eval_queries = 48;
  o.tiers = {load_tier_format(default_tiers_dir() / "fp16.json"), load_tier_format(default_tiers_dir() / "k3v4.json"),
             load_tier_format(default_tiers_dir() / "vq4k3v4.json")};
  o.structures = {{4, true, 0, true}, {4, false, 16, true}, {4, true, 32, true, true}};
  o.codec_structures = {{4, true, 16, true}};
  o.extra_key_codecs = {"block-vq(4,8)", "tree-polar(4,2)"};
  o.baseline_bits = {3};
  const CodecEvalTable fast = run_codec_eval(s, o);
  o.reference_scoring = true;
  const CodecEvalTable ref = run_codec_eval(s, o);
  ASSERT_EQ(fast.rows.size(), ref.rows.size());
  auto near = [](double a, double b, double rel, double abs) { return std::fabs(a - b) <= rel * std::fabs(b) + abs; };
  for (size_t i = 0; i < fast.rows.size(); ++i) {
    const auto &f = fast.rows[i], &r = ref.rows[i];
    SCOPED_TRACE(r.method + " " + r.structure.label());
    EXPECT_EQ(f.key_rel_mse, r.key_rel_mse);
    EXPECT_TRUE(near(f.logit_rel_err, r.logit_rel_err, 1e-3, 1e-6)) << f.logit_rel_err << " vs " << r.logit_rel_err;
    EXPECT_TRUE(near(f.out_rel_err, r.out_rel_err, 1e-3, 1e-6)) << f.out_rel_err << " vs " << r.out_rel_err;
    EXPECT_TRUE(near(f.kl, r.kl, 1e-3, 1e-9)) << f.kl << " vs " << r.kl;
  }
  // per layer: one entry per layer, same rows; two layers' pooled sums give the total
  ASSERT_EQ(fast.per_layer.size(), 2u);
  EXPECT_EQ(fast.per_layer[0].second.size(), fast.rows.size());
}

TEST(CodecEval, BlockVqAndChannelScaleRowsCarryTheirExactRates) {
  std::vector<HeadSample> s = {synthetic_head_sample(256, 64, 3, 9)};
  CodecEvalOptions o;
  o.eval_queries = 32;
  o.tiers = {load_tier_format(default_tiers_dir() / "k3v4.json"), load_tier_format(default_tiers_dir() / "vq4k3v4.json")};
  o.structures = {{4, true, 0, true}, {4, true, 0, true, true}};
  o.extra_key_codecs = {"block-vq(4,8)"};
  o.codec_structures = {{4, true, 0, true}};
  o.baseline_bits = {3};
  const CodecEvalTable t = run_codec_eval(s, o);
  const auto* k3 = t.find("k3v4", {4, true, 0, true});
  const auto* k3s = t.find("k3v4", {4, true, 0, true, true});
  const auto* vq = t.find("vq4k3v4", {4, true, 0, true});
  const auto* vq2 = t.find("block-vq(4,8)+v:coord-lloyd(4)", {4, true, 0, true});
  ASSERT_TRUE(k3 && k3s && vq && vq2);
  EXPECT_DOUBLE_EQ(vq->key_bits, k3->key_bits);  // same rate: 3 b/coord + scale + mean
  EXPECT_DOUBLE_EQ(vq->bits, tier_rate(load_tier_format(default_tiers_dir() / "vq4k3v4.json"), 64).bits_per_element);
  EXPECT_DOUBLE_EQ(k3s->key_bits, k3->key_bits + 16.0 / 64);  // d fp16 channel scales per 64-token page
  EXPECT_DOUBLE_EQ(vq2->key_bits, 2.0 + 16.0 / 64 + 16.0 / 64);
  EXPECT_LT(vq2->key_rel_mse, 1.0);
  std::printf("synthetic: k3v4 key MSE %.4g, vq4k3v4 %.4g, k3v4+chscale %.4g\n", k3->key_rel_mse, vq->key_rel_mse,
              k3s->key_rel_mse);
}
