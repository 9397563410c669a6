// StudioWorker: runs decode on its own thread, obeys pause / single-step / stop, publishes
// snapshots without making the reader wait, and reports failures instead of throwing them.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include <cmath>
#include <filesystem>
#include <numeric>

#include "app/studio/studio_worker.h"
#include "core/sessions/session.h"
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
  EXPECT_EQ(s->attention_path, "cpu reference");  // RDR attends with the CPU code on every device
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

std::string long_prompt() {
  std::string p;
  for (int i = 0; i < 40; ++i) p += "studio " + std::to_string(i) + " ";
  return p;
}

PolicySettings rdr_policy(float budget, std::vector<std::string> tiers) {
  PolicySettings p;
  p.kind = PolicyKind::rdr;
  p.budget_percent = budget;
  p.tiers = std::move(tiers);
  p.hot_window = 8;
  p.retier_every = 4;
  return p;
}

// Every live run goes to disk through core/sessions' recorder; core's reader gets back what the
// Studio showed (tokens, latencies, prompt) and the session is marked complete.
TEST(StudioWorker, LiveRunIsRecordedAsASessionThatCoreReads) {
  const std::filesystem::path dir = std::filesystem::path(SKV_TEST_TMP) / "worker_recorded_session";
  std::filesystem::remove_all(dir);
  StudioWorker w;
  RunSettings run = tiny_run(7);
  run.session_dir = dir.string();
  w.start(run, dense_policy());
  auto s = wait_for(w, [](const StudioSnapshot& s) { return s.phase == RunPhase::finished || s.phase == RunPhase::failed; });
  ASSERT_EQ(s->phase, RunPhase::finished) << s->phase_detail;
  EXPECT_EQ(s->session_dir, dir.string());
  const Session rec = read_session(dir);
  EXPECT_TRUE(rec.complete);
  ASSERT_EQ(rec.steps, 7);
  const auto ids = rec.array("tokens/ids").as<int32_t>();
  ASSERT_EQ(ids.size(), s->tokens.size());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], s->tokens[i].id);
  const auto prompt = rec.array("tokens/prompt_ids").as<int32_t>();
  ASSERT_EQ(prompt.size(), s->prompt_tokens.size());
  for (size_t i = 0; i < prompt.size(); ++i) EXPECT_EQ(prompt[i], s->prompt_tokens[i].id);
  const auto lat = rec.values("series/latency_ms");
  ASSERT_EQ(lat.size(), s->series.step_ms.size());
  for (size_t i = 0; i < lat.size(); ++i) EXPECT_DOUBLE_EQ(lat[i], s->series.step_ms[i]);
  EXPECT_EQ(rec.model.name, "tiny-studio-test");
  // Dense is the reference itself: no KL series, and the Studio says why.
  EXPECT_FALSE(rec.has("series/kl"));
  EXPECT_NE(s->fidelity_why_not.find("dense"), std::string::npos);
  EXPECT_TRUE(rec.has("heatmaps/attn_rel_error"));
  // The probe stream is stored as `skv record` stores it: the Studio's CPU timing of each step
  // ("prefill + first token", "decode step"; the probe adds its own step records) equals the
  // step's latency, and one modeled-bytes record per step equals its modeled read bytes.
  ASSERT_TRUE(rec.has("probe/cpu/step"));
  ASSERT_TRUE(rec.has("probe/modeled/bytes"));
  const auto cpu_step = rec.values("probe/cpu/step"), cpu_ns = rec.values("probe/cpu/ns");
  const auto cpu_what = rec.values("probe/cpu/what_id");
  const auto& whats = rec.string_tables.at("probe/cpu_what");
  size_t studio_timings = 0;
  for (size_t i = 0; i < cpu_step.size(); ++i) {
    const std::string& what = whats.at(static_cast<size_t>(cpu_what[i]));
    if (what != "decode step" && what != "prefill + first token") continue;
    ++studio_timings;
    const auto k = static_cast<size_t>(cpu_step[i]);
    ASSERT_LT(k, lat.size());
    EXPECT_NEAR(cpu_ns[i] * 1e-6, lat[k], 1e-3);
  }
  EXPECT_EQ(studio_timings, lat.size());
  const auto mod_step = rec.values("probe/modeled/step"), mod_bytes = rec.values("probe/modeled/bytes");
  const auto read = rec.values("series/bytes_read_modeled");
  ASSERT_EQ(mod_step.size(), read.size());
  for (size_t i = 0; i < mod_step.size(); ++i)
    EXPECT_EQ(static_cast<uint64_t>(mod_bytes[i]), static_cast<uint64_t>(read[static_cast<size_t>(mod_step[i])]));
}

// Running KL / top-1 against a full-cache reference fed the same tokens (core/metrics'
// compare_logits): an fp16-only cache at a 100 % budget is near-lossless, a 2-bit cache at 8 %
// drops and quantizes, and its KL must be larger. The compressed attention distribution comes from
// the tiered cache itself: zero exactly where its tier map says a token is dropped.
TEST(StudioWorker, CompressedRunMeasuresKlAndTop1AgainstTheFullCache) {
  auto run_with = [](const PolicySettings& p) {
    StudioWorker w;
    RunSettings run = tiny_run(16);
    run.prompt_text = long_prompt();
    run.record_session = false;
    w.start(run, p);
    return wait_for(w, [](const StudioSnapshot& s) { return s.phase == RunPhase::finished || s.phase == RunPhase::failed; }, 300s);
  };
  auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); };
  auto lossless = run_with(rdr_policy(100.0f, {"fp16"}));
  auto lossy = run_with(rdr_policy(8.0f, {"k2v2"}));
  for (const auto& s : {lossless, lossy}) {
    ASSERT_EQ(s->phase, RunPhase::finished) << s->phase_detail;
    EXPECT_TRUE(s->fidelity_why_not.empty()) << s->fidelity_why_not;
    ASSERT_EQ(s->series.kl.size(), s->tokens.size());
    ASSERT_EQ(s->series.top1_agree.size(), s->tokens.size());
    for (double k : s->series.kl) EXPECT_TRUE(std::isfinite(k) && k >= -1e-9) << k;
    for (double t : s->series.top1_agree) EXPECT_TRUE(t == 0.0 || t == 1.0) << t;
  }
  const double kl_lossless = mean(lossless->series.kl), kl_lossy = mean(lossy->series.kl);
  EXPECT_LT(kl_lossless, 1e-3);
  EXPECT_GT(kl_lossy, 10 * kl_lossless) << "lossless " << kl_lossless << ", lossy " << kl_lossy;
  EXPECT_EQ(mean(lossless->series.top1_agree), 1.0);

  const auto& ae = lossy->attention_error;
  const auto& tm = lossy->tiers;
  ASSERT_FALSE(ae.exact_probs.empty());
  ASSERT_EQ(ae.compressed_probs.size(), ae.exact_probs.size()) << ae.compressed_why_not;
  ASSERT_EQ(static_cast<int>(ae.compressed_probs.size()), tm.positions);
  const int kv_head = ae.focus_head / static_cast<int>(lossy->model.heads / lossy->model.kv_heads);
  const uint8_t* tiers = tm.current.data() + static_cast<size_t>(ae.focus_layer * tm.heads + kv_head) * tm.positions;
  double sum = 0, diff = 0;
  int dropped = 0;
  for (int p = 0; p < tm.positions; ++p) {
    sum += ae.compressed_probs[p];
    diff = std::max(diff, static_cast<double>(std::abs(ae.compressed_probs[p] - ae.exact_probs[p])));
    if (tiers[p] == TierMap::kTierDropped) {
      ++dropped;
      EXPECT_EQ(ae.compressed_probs[p], 0.0f) << "position " << p;
      EXPECT_GT(ae.exact_probs[p], 0.0f);
    } else {
      EXPECT_GT(ae.compressed_probs[p], 0.0f) << "position " << p;
    }
  }
  EXPECT_NEAR(sum, 1.0, 1e-4);
  EXPECT_GT(dropped, 0) << "k2v2 alone needs > 12.5 % of fp16: an 8 % budget must drop tokens";
  EXPECT_GT(diff, 1e-4);
}

}  // namespace
}  // namespace skv::studio
