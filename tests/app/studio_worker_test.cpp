// StudioWorker: runs decode on its own thread, obeys pause / single-step / stop, publishes
// snapshots without making the reader wait, and reports failures instead of throwing them.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "app/studio/studio_worker.h"
#include "studio_test_support.h"

namespace skv::studio {
namespace {

using namespace std::chrono_literals;

RunSettings tiny_run(int64_t max_new) {
  RunSettings r;
  r.model_spec = test::tiny_model_json();
  r.prompt_text = "hello studio";
  r.device = "cpu";
  r.max_new_tokens = max_new;
  r.probe_level = "cpu";
  return r;
}

PolicySettings dense_policy() {
  PolicySettings p;
  p.kind = PolicyKind::dense;
  return p;
}

// Polls the snapshot until `done` holds; fails the test after `timeout`.
std::shared_ptr<const StudioSnapshot> wait_for(const StudioWorker& w, const std::function<bool(const StudioSnapshot&)>& done,
                                               std::chrono::seconds timeout = 120s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto s = w.snapshot();
    if (done(*s)) return s;
    if (std::chrono::steady_clock::now() > end) {
      ADD_FAILURE() << "timed out; phase " << phase_label(s->phase) << ", " << s->tokens.size() << " tokens, detail: " << s->phase_detail;
      return s;
    }
    std::this_thread::sleep_for(5ms);
  }
}

TEST(StudioWorker, DecodesAndPublishesTokensSeriesTierMapAndAttentionError) {
  StudioWorker w;
  w.start(tiny_run(12), dense_policy());
  auto s = wait_for(w, [](const StudioSnapshot& s) { return s.phase == RunPhase::finished || s.phase == RunPhase::failed; });
  ASSERT_EQ(s->phase, RunPhase::finished) << s->phase_detail;
  EXPECT_EQ(s->tokens.size(), 12u);
  EXPECT_EQ(s->prompt_tokens.size(), 12u);  // no tokenizer: one id per prompt byte
  EXPECT_EQ(s->series.step_ms.size(), 12u);
  EXPECT_EQ(s->series.resident_bytes.size(), 12u);
  EXPECT_GT(s->series.resident_bytes.back(), s->series.resident_bytes.front());
  EXPECT_EQ(s->model.layers, 2);
  EXPECT_EQ(s->backend_name, "dense (fp32)");
  ASSERT_TRUE(s->tiers.available);
  EXPECT_EQ(s->tiers.layers, 2);
  EXPECT_EQ(s->tiers.heads, 2);
  EXPECT_EQ(s->tiers.history_steps.size(), 12u);
  ASSERT_TRUE(s->attention_error.available);
  ASSERT_EQ(s->attention_error.last.size(), 2u * 4u);
  // Dense against the exact shadow: the same computation, so the error is zero.
  for (float e : s->attention_error.last) EXPECT_LT(e, 1e-5f);
  EXPECT_EQ(s->attention_error.exact_probs.size(), s->attention_error.compressed_probs.size());
  EXPECT_FALSE(s->attention_error.exact_probs.empty());

  // The probe's own worker publishes host timings and modeled bytes for each step.
  std::shared_ptr<const probes::ProbeSnapshot> p;
  for (int i = 0; i < 100; ++i) {
    p = w.probe_snapshot();
    if (p && p->modeled.size() >= 12) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(p);
  EXPECT_GE(p->modeled.size(), 12u);
  EXPECT_GE(p->cpu.size(), 12u);
}

TEST(StudioWorker, PauseHoldsAndSingleStepAddsExactlyOneToken) {
  StudioWorker w;
  RunSettings run = tiny_run(500);
  run.pause_after_steps = 3;
  w.start(run, dense_policy());
  auto s = wait_for(w, [](const StudioSnapshot& s) { return s.phase == RunPhase::paused || s.phase == RunPhase::failed; });
  ASSERT_EQ(s->phase, RunPhase::paused) << s->phase_detail;
  EXPECT_EQ(s->tokens.size(), 3u);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(w.snapshot()->tokens.size(), 3u) << "a paused run must not decode";
  EXPECT_TRUE(w.busy());

  w.single_step();
  s = wait_for(w, [](const StudioSnapshot& s) { return s.tokens.size() == 4 && s.phase == RunPhase::paused; });
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(w.snapshot()->tokens.size(), 4u);

  w.resume();
  wait_for(w, [](const StudioSnapshot& s) { return s.tokens.size() > 10; });
  w.stop();
  s = wait_for(w, [](const StudioSnapshot& s) { return s.phase == RunPhase::stopped || s.phase == RunPhase::finished; });
  EXPECT_EQ(s->phase, RunPhase::stopped);
  EXPECT_LT(s->tokens.size(), 500u);
}

TEST(StudioWorker, SnapshotReadsNeverWaitForTheDecoder) {
  StudioWorker w;
  w.start(tiny_run(800), dense_policy());
  wait_for(w, [](const StudioSnapshot& s) { return s.tokens.size() > 2; });
  // The GUI calls snapshot() every frame: it is one shared_ptr copy under a short lock.
  double worst_ms = 0;
  for (int i = 0; i < 300; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto s = w.snapshot();
    auto p = w.probe_snapshot();
    worst_ms = std::max(worst_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    std::this_thread::sleep_for(1ms);
  }
  w.stop();
  // A forward step of even this tiny model takes longer than this bound on a loaded CI machine's
  // scheduler slice; a reader that waited for a step would exceed it.
  EXPECT_LT(worst_ms, 50.0);
}

TEST(StudioWorker, MissingModelFileFailsTheRunWithAMessage) {
  StudioWorker w;
  RunSettings run = tiny_run(4);
  run.model_spec = "/nonexistent/studio-model.gguf";
  w.start(run, dense_policy());
  auto s = wait_for(w, [](const StudioSnapshot& s) { return s.phase == RunPhase::failed || s.phase == RunPhase::finished; });
  EXPECT_EQ(s->phase, RunPhase::failed);
  EXPECT_NE(s->phase_detail.find("studio-model.gguf"), std::string::npos) << s->phase_detail;
  ASSERT_FALSE(s->messages.empty());
  EXPECT_EQ(s->messages.back().level, MessageLevel::error);
  EXPECT_FALSE(w.busy());
}

TEST(StudioWorker, RdrRunPublishesItsTiersBudgetAndBytes) {
  StudioWorker w;
  PolicySettings rdr;
  rdr.kind = PolicyKind::rdr;
  rdr.budget_percent = 40.0f;
  rdr.hot_window = 8;
  rdr.retier_every = 8;
  RunSettings run = tiny_run(96);
  // Long enough that the budget covers the fp16 hot window and sinks (core/cache refuses less).
  run.prompt_text.clear();
  for (int i = 0; i < 40; ++i) run.prompt_text += "studio " + std::to_string(i) + " ";
  w.start(run, rdr);
  auto s = wait_for(w, [](const StudioSnapshot& s) { return s.phase == RunPhase::finished || s.phase == RunPhase::failed; }, 300s);
  ASSERT_EQ(s->phase, RunPhase::finished) << s->phase_detail;
  EXPECT_NE(s->backend_name.find("rdr"), std::string::npos) << s->backend_name;
  ASSERT_TRUE(s->tiers.available);
  EXPECT_EQ(s->tiers.tier_names.size(), 1u + 4u);  // hot window + fp16, k4v4, k3v4, k2v2
  EXPECT_EQ(s->tiers.positions, static_cast<int>(s->prompt_tokens.size() + s->tokens.size()) - 1);
  EXPECT_EQ(s->series.budget_bytes.size(), s->series.resident_bytes.size());
  // After re-tiering, the cache holds less than the full fp16 cache of the same tokens.
  EXPECT_LT(s->series.resident_bytes.back(), s->series.full_fp16_bytes.back());
  EXPECT_FALSE(s->policy_fallback);
}

TEST(StudioWorker, StartWhileRunningReplacesTheRun) {
  StudioWorker w;
  w.start(tiny_run(800), dense_policy());
  wait_for(w, [](const StudioSnapshot& s) { return s.tokens.size() > 2; });
  RunSettings second = tiny_run(5);
  second.prompt_text = "second";
  w.start(second, dense_policy());
  auto s = wait_for(w, [](const StudioSnapshot& s) { return s.phase == RunPhase::finished && s.prompt_tokens.size() == 6; });
  EXPECT_EQ(s->tokens.size(), 5u);
}

}  // namespace
}  // namespace skv::studio
