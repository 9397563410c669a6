// The Studio as a person sees it: real frames under Xvfb + Mesa, driven by the ImGui Test Engine
// (click, type, press keys), checked by pixel statistics inside each panel's window rect. Every
// screenshot is kept in build/screenshots/ (CI artefacts).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <imgui.h>
#include <imgui_te_context.h>
#include <imgui_te_engine.h>

#include <cmath>
#include <thread>

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#include "app/studio/session_view.h"
#include "app/studio/studio_app.h"
#include "app/studio/studio_paths.h"
#include "app/studio/studio_worker.h"
#include "core/sessions/budget_profile.h"
#include "core/sessions/session.h"
#include "studio_test_support.h"

namespace skv::studio {
namespace {
namespace fs = std::filesystem;

class StudioGui : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = test::ensure_display();
    if (!why.empty()) GTEST_SKIP() << why;
    // Profiles and layouts go to a scratch config folder, never the user's; one per test, since ctest
    // runs the tests in parallel processes.
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    config_ = fs::path(SKV_TEST_TMP) / "studio_config" / test;
    setenv("XDG_CONFIG_HOME", config_.c_str(), 1);
    setenv("XDG_DATA_HOME", (fs::path(SKV_TEST_TMP) / "studio_data" / test).c_str(), 1);
  }

  static StudioOptions options_for_test() {
    StudioOptions o = default_options();
    o.persist_layout = false;
    o.width = 1600;
    o.height = 1000;
    o.scale = 1.0f;
    return o;
  }

  // Runs the registered tests against `app`, frame by frame, until the queue is empty.
  static void run_engine(StudioApp& app, const std::function<void(ImGuiTestEngine*)>& register_tests, int* tested, int* passed) {
    ImGuiTestEngine* engine = ImGuiTestEngine_CreateContext();
    ImGuiTestEngineIO& io = ImGuiTestEngine_GetIO(engine);
    io.ConfigRunSpeed = ImGuiTestRunSpeed_Fast;
    io.ConfigNoThrottle = true;
    io.ConfigSavedSettings = false;
    io.ConfigCaptureEnabled = false;
    io.ConfigLogToTTY = true;
    io.ConfigVerboseLevel = ImGuiTestVerboseLevel_Warning;
    io.ConfigVerboseLevelOnError = ImGuiTestVerboseLevel_Debug;
    io.ConfigWatchdogWarning = 300.0f;
    io.ConfigWatchdogKillTest = 900.0f;
    app.attach_test_engine(engine);
    register_tests(engine);
    ImGuiTestEngine_QueueTests(engine, ImGuiTestGroup_Tests, nullptr);
    while (!ImGuiTestEngine_IsTestQueueEmpty(engine) && app.frame()) {
    }
    ImGuiTestEngineResultSummary summary{};
    ImGuiTestEngine_GetResultSummary(engine, &summary);
    *tested = summary.CountTested;
    *passed = summary.CountSuccess;
    ImGuiTestEngine_Stop(engine);
    engine_to_destroy_ = engine;  // after the ImGui context (the app) is gone
  }
  void TearDown() override {
    if (engine_to_destroy_) ImGuiTestEngine_DestroyContext(engine_to_destroy_);
    engine_to_destroy_ = nullptr;
  }

  fs::path config_;
  static inline ImGuiTestEngine* engine_to_destroy_ = nullptr;
};

// Yields frames until `done` or `seconds` of wall time pass.
// Wall-clock seconds: the Test Engine's fast mode runs ImGui's clock at its own pace.
bool yield_until(ImGuiTestContext* ctx, const std::function<bool()>& done, double seconds = 600) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end || ctx->IsError()) return false;
    ctx->Yield();
  }
  return true;
}

// Window references are absolute ("//Name"): a bare name resolves under the current SetRef.
std::string window_ref(const char* panel) { return std::string("//") + panel; }

struct PanelShot {
  bool visible = false;
  PanelRect rect;
  test::PixelStats stats;
};

// Brings a panel's tab to the front, renders, reads the frame back, and keeps its crop as PNG.
PanelShot shoot_panel(ImGuiTestContext* ctx, StudioApp& app, const char* panel, const std::string& file) {
  ctx->WindowFocus(window_ref(panel).c_str());
  ctx->Yield(3);
  app.capture_next_frame();
  ctx->Yield(2);
  PanelShot shot;
  shot.rect = app.panel_rect(panel);
  shot.visible = shot.rect.visible;
  if (shot.rect.w > 0 && shot.rect.h > 0) {
    shot.stats = test::pixel_stats(app.captured(), app.captured_width(), app.captured_height(), shot.rect.x, shot.rect.y, shot.rect.w, shot.rect.h);
    const int x = std::clamp(shot.rect.x, 0, app.captured_width() - 1), y = std::clamp(shot.rect.y, 0, app.captured_height() - 1);
    const int w = std::min(shot.rect.w, app.captured_width() - x), h = std::min(shot.rect.h, app.captured_height() - y);
    write_png(test::screenshot_dir() + "/" + file, test::crop(app.captured(), app.captured_width(), x, y, w, h), w, h, nullptr);
  }
  return shot;
}

// The main job: skv-studio's defaults (default model, shipped text or built-in prompt, RDR or dense
// with a banner), decoding 8 tokens, every panel drawn with data.
TEST_F(StudioGui, EveryPanelRendersWithDataOnTheDefaultRun) {
  StudioOptions o = options_for_test();
  o.run.pause_after_steps = 8;
  o.run.max_new_tokens = 64;
  // The shipped texts are ~4k tokens: many minutes of prefill on a shared CPU. 192 tokens still give
  // RDR at 25 % room above a 16-token hot window re-tiered every 16 steps.
  o.run.max_prompt_tokens = 192;
  o.policy.hot_window = 16;
  o.policy.retier_every = 16;
  StudioApp app(o);
  app.init();
  app.ui().run.edit.pause_after_steps = 8;
  std::map<std::string, PanelShot> shots;
  bool reached = false;
  int tested = 0, passed = 0;
  run_engine(app, [&](ImGuiTestEngine* e) {
    ImGuiTest* t = IM_REGISTER_TEST(e, "studio", "all_panels");
    t->TestFunc = [&](ImGuiTestContext* ctx) {
      reached = yield_until(ctx, [&] {
        auto s = app.last_snapshot();
        return s->phase == RunPhase::failed || (s->phase == RunPhase::paused && s->tokens.size() >= 8);
      });
      ctx->Yield(10);  // plots fit their axes
      for (const char* p : {kRunPanel, kPolicyPanel, kPlotsPanel, kTierMapPanel, kErrorPanel, kTokensPanel, kKernelsPanel,
                            kSessionsPanel, kMessagesPanel}) {
        std::string file = std::string("panel_") + p + ".png";
        std::replace(file.begin(), file.end(), ' ', '_');
        shots[p] = shoot_panel(ctx, app, p, file);
      }
      // The whole window as a user would see it with the plots in front.
      ctx->WindowFocus(window_ref(kPlotsPanel).c_str());
      ctx->WindowFocus(window_ref(kRunPanel).c_str());
      ctx->WindowFocus(window_ref(kKernelsPanel).c_str());
      ctx->Yield(3);
      app.capture_next_frame();
      ctx->Yield(2);
      write_png(test::screenshot_dir() + "/studio_default_run.png", app.captured(), app.captured_width(), app.captured_height(), nullptr);
    };
  }, &tested, &passed);
  auto s = app.last_snapshot();
  ASSERT_TRUE(reached) << "phase " << phase_label(s->phase) << ": " << s->phase_detail;
  ASSERT_NE(s->phase, RunPhase::failed) << s->phase_detail;
  EXPECT_EQ(passed, tested);
  EXPECT_GE(s->tokens.size(), 8u);
  EXPECT_TRUE(s->tiers.available);
  EXPECT_TRUE(s->attention_error.available);
  // The live run is recorded (flushed when it paused): core's reader sees every step shown.
  ASSERT_FALSE(s->session_dir.empty());
  const Session rec = read_session(s->session_dir);
  EXPECT_EQ(rec.steps, static_cast<int64_t>(s->tokens.size()));
  EXPECT_TRUE(rec.has("series/kl")) << "RDR run: KL against the full-cache reference is recorded";
  // Live KL / top-1 series, one value per step.
  EXPECT_EQ(s->series.kl.size(), s->tokens.size());
  for (const auto& [name, shot] : shots) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(shot.visible);
    EXPECT_GT(shot.rect.w, 100);
    EXPECT_GT(shot.rect.h, 80);
    // Not blank: text, plots and grids give many colours and a spread of brightness.
    EXPECT_GT(shot.stats.distinct_colors, 12) << "mean luma " << shot.stats.mean_luma;
    EXPECT_GT(shot.stats.stddev_luma, 8.0);
    EXPECT_GT(shot.stats.non_background, 0.02);
  }
  // Panels whose content is a picture must be mostly picture, not a one-line empty state.
  EXPECT_GT(shots[kTierMapPanel].stats.non_background, 0.2);
  EXPECT_GT(shots[kPlotsPanel].stats.distinct_colors, 40);
  EXPECT_GT(shots[kTokensPanel].stats.non_background, 0.05);
}

// Controls work as a person uses them: type a prompt, click Run, Space pauses, S and the Step
// button add one token each, Esc stops.
TEST_F(StudioGui, MouseAndKeyboardDriveTheRun) {
  StudioOptions o = options_for_test();
  o.autostart = false;
  o.run.model_spec = test::tiny_model_json();
  o.run.device = "cpu";
  o.run.max_new_tokens = 1000;
  o.run.prompt_source = PromptSource::text;
  o.policy.kind = PolicyKind::dense;  // a 12-token prompt is below any RDR budget's hot window
  StudioApp app(o);
  app.init();
  app.ui().run.model_choice = 1;
  size_t at_pause = 0;
  int tested = 0, passed = 0;
  run_engine(app, [&](ImGuiTestEngine* e) {
    ImGuiTest* t = IM_REGISTER_TEST(e, "studio", "controls");
    t->TestFunc = [&](ImGuiTestContext* ctx) {
      ctx->WindowFocus(window_ref(kRunPanel).c_str());
      ctx->SetRef(window_ref(kRunPanel).c_str());
      ctx->ItemClick("##prompt");
      ctx->KeyCharsReplace("hello studio");
      IM_CHECK_STR_EQ(app.ui().run.edit.prompt_text.c_str(), "hello studio");
      ctx->WindowFocus(window_ref(kTokensPanel).c_str());  // leave the text field so keys are shortcuts again
      ctx->SetRef(window_ref(kRunPanel).c_str());
      ctx->ItemClick("Run");
      IM_CHECK(yield_until(ctx, [&] { return app.last_snapshot()->tokens.size() >= 3 || app.last_snapshot()->phase == RunPhase::failed; }, 120));
      IM_CHECK_STR_EQ(app.last_snapshot()->phase_detail.c_str(), "");
      IM_CHECK_EQ(app.last_snapshot()->prompt_tokens.size(), 12u);  // one id per byte (no tokenizer)
      ctx->KeyPress(ImGuiKey_Space);
      IM_CHECK(yield_until(ctx, [&] { return app.last_snapshot()->phase == RunPhase::paused; }, 60));
      at_pause = app.last_snapshot()->tokens.size();
      ctx->Yield(20);
      IM_CHECK_EQ(app.last_snapshot()->tokens.size(), at_pause);
      ctx->KeyPress(ImGuiKey_S);
      IM_CHECK(yield_until(ctx, [&] {
        auto s = app.last_snapshot();
        return s->tokens.size() == at_pause + 1 && s->phase == RunPhase::paused;
      }, 60));
      ctx->ItemClick("Step");
      IM_CHECK(yield_until(ctx, [&] {
        auto s = app.last_snapshot();
        return s->tokens.size() == at_pause + 2 && s->phase == RunPhase::paused;
      }, 60));
      ctx->ItemClick("Resume");
      IM_CHECK(yield_until(ctx, [&] { return app.last_snapshot()->tokens.size() > at_pause + 4; }, 60));
      ctx->KeyPress(ImGuiKey_Escape);
      IM_CHECK(yield_until(ctx, [&] { return app.last_snapshot()->phase == RunPhase::stopped; }, 60));
      app.capture_next_frame();
      ctx->Yield(2);
      write_png(test::screenshot_dir() + "/studio_controls_stopped.png", app.captured(), app.captured_width(), app.captured_height(), nullptr);
    };
  }, &tested, &passed);
  EXPECT_EQ(tested, 1);
  EXPECT_EQ(passed, tested);
  EXPECT_EQ(app.last_snapshot()->phase, RunPhase::stopped);
  EXPECT_GT(at_pause, 0u);
}

// A model file that does not exist: the run fails, a red banner says why, the GUI keeps drawing.
TEST_F(StudioGui, BadModelFileShowsAnErrorBannerInsteadOfCrashing) {
  StudioOptions o = options_for_test();
  o.autostart = false;
  o.run.model_spec = "/nonexistent/broken-model.gguf";
  StudioApp app(o);
  app.init();
  int tested = 0, passed = 0;
  run_engine(app, [&](ImGuiTestEngine* e) {
    ImGuiTest* t = IM_REGISTER_TEST(e, "studio", "bad_model");
    t->TestFunc = [&](ImGuiTestContext* ctx) {
      ctx->SetRef(window_ref(kRunPanel).c_str());
      ctx->ItemClick("Run");
      IM_CHECK(yield_until(ctx, [&] { return app.last_snapshot()->phase == RunPhase::failed; }, 60));
      ctx->Yield(3);  // the GUI keeps drawing after the failed run
      app.capture_next_frame();
      ctx->Yield(2);
      write_png(test::screenshot_dir() + "/studio_error_banner.png", app.captured(), app.captured_width(), app.captured_height(), nullptr);
    };
  }, &tested, &passed);
  EXPECT_EQ(passed, tested);
  auto s = app.last_snapshot();
  ASSERT_EQ(s->phase, RunPhase::failed);
  EXPECT_NE(s->phase_detail.find("broken-model.gguf"), std::string::npos);
  // The banner rows sit under the menu bar: look for its red.
  const auto& px = app.captured();
  int red = 0;
  for (int y = 0; y < 90 && y < app.captured_height(); ++y)
    for (int x = 0; x < app.captured_width(); ++x) {
      const uint8_t* p = &px[(static_cast<size_t>(y) * app.captured_width() + x) * 4];
      if (p[0] > 120 && p[1] < 50 && p[2] < 50) ++red;
    }
  EXPECT_GT(red, app.captured_width() / 2) << "no red error banner at the top of the window";
}

// The budget profile round-trips through the config folder in assets/profiles' format (core/sessions'
// budget_profile reader accepts it), and loading it sets the Policy panel's budget.
TEST_F(StudioGui, PolicyBudgetProfileSavesAndLoads) {
  StudioOptions o = options_for_test();
  o.run.model_spec = test::tiny_model_json();
  o.run.device = "cpu";
  o.run.prompt_source = PromptSource::text;
  o.run.prompt_text = "profile";
  o.run.max_new_tokens = 2;
  o.policy.kind = PolicyKind::dense;
  StudioApp app(o);
  app.init();
  int tested = 0, passed = 0;
  const fs::path file = fs::path(config_) / "skv-studio" / "profiles" / "tiny-studio-test.json";
  fs::remove(file);
  run_engine(app, [&](ImGuiTestEngine* e) {
    ImGuiTest* t = IM_REGISTER_TEST(e, "studio", "profile");
    t->TestFunc = [&](ImGuiTestContext* ctx) {
      IM_CHECK(yield_until(ctx, [&] { return app.last_snapshot()->phase == RunPhase::finished; }, 120));
      ctx->WindowFocus(window_ref(kPolicyPanel).c_str());
      ctx->SetRef(window_ref(kPolicyPanel).c_str());
      app.ui().policy.edit.budget_percent = 37.0f;
      app.ui().policy.edit.hot_window = 48;
      ctx->ItemClick("Save profile");
      IM_CHECK(app.ui().policy.profile_status.rfind("saved", 0) == 0);
      app.ui().policy.edit.budget_percent = 90.0f;
      app.ui().policy.edit.hot_window = 1;
      ctx->ItemClick("Load profile");
      IM_CHECK(app.ui().policy.profile_status.rfind("loaded", 0) == 0);
      IM_CHECK_EQ(app.ui().policy.edit.budget_percent, 37.0f);
      IM_CHECK_EQ(app.ui().policy.edit.hot_window, 48);
      IM_CHECK_EQ(app.ui().policy.layer_budgets.size(), 2u);
      ctx->Yield(3);
      shoot_panel(ctx, app, kPolicyPanel, "panel_Policy_profile.png");
    };
  }, &tested, &passed);
  EXPECT_EQ(tested, 1);
  EXPECT_EQ(passed, tested) << app.ui().policy.profile_status;
  ASSERT_TRUE(fs::exists(file));
  const BudgetProfile prof = read_budget_profile(file);  // the same reader RDR's profiles go through
  EXPECT_EQ(prof.model, "tiny-studio-test");
  ASSERT_EQ(prof.layer_budgets.size(), 2u);
  for (double b : prof.layer_budgets) EXPECT_NEAR(b, 0.37, 1e-6);
  EXPECT_EQ(app.ui().policy.edit.profile, file.string());
}

// `skv-studio --screenshot OUT.png --run N`: the binary a user runs, in screenshot mode.
TEST_F(StudioGui, ScreenshotCommandWritesARenderedFrame) {
  const fs::path bin = fs::path(SKV_BINARY_DIR) / "bin" / "skv-studio";
  if (!fs::exists(bin)) GTEST_SKIP() << "build the skv-studio target first";
  const std::string out = test::screenshot_dir() + "/skv_studio_cli_default.png";
  fs::remove(out);
  const std::string cmd = bin.string() + " --screenshot " + out + " --run 4 --max-new-tokens 16 --scale 1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ASSERT_TRUE(fs::exists(out));
  EXPECT_GT(fs::file_size(out), 20000u) << "a real frame of text and plots compresses to more than this";
}

// Records a session the way every live run is recorded (core/sessions' SessionRecorder, through the
// worker) on the tiny shape-only model; returns its folder.
std::string record_tiny_session(const std::string& name, const PolicySettings& policy, int64_t steps) {
  const fs::path dir = fs::path(SKV_TEST_TMP) / "gui_sessions" / name;
  fs::remove_all(dir);
  StudioWorker w;
  RunSettings run;
  run.model_spec = test::tiny_model_json();
  run.device = "cpu";
  run.max_new_tokens = steps;
  run.probe_level = "cpu";
  for (int i = 0; i < 40; ++i) run.prompt_text += "studio " + std::to_string(i) + " ";
  run.session_dir = dir.string();
  w.start(run, policy);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (std::chrono::steady_clock::now() < end) {
    auto s = w.snapshot();
    if (s->phase == RunPhase::finished || s->phase == RunPhase::failed) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return dir.string();
}

PolicySettings tiny_rdr(float budget) {
  PolicySettings p;
  p.kind = PolicyKind::rdr;
  p.budget_percent = budget;
  p.hot_window = 8;
  p.retier_every = 4;
  return p;
}

double finite_mean_from(const std::vector<double>& v, size_t first) {
  double sum = 0;
  int n = 0;
  for (size_t i = first; i < v.size(); ++i)
    if (std::isfinite(v[i])) sum += v[i], ++n;
  return n ? sum / n : NAN;
}

std::string fmt2(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

// Open a recorded session, replay it (scrub, step), compare it with a second one, export a report.
TEST_F(StudioGui, SessionsOpenReplayCompareAndExport) {
  PolicySettings dense;
  dense.kind = PolicyKind::dense;
  const std::string a = record_tiny_session("dense_6", dense, 6);
  const std::string b = record_tiny_session("rdr_9", tiny_rdr(30.0f), 9);
  const Session sa = read_session(a), sb = read_session(b);
  ASSERT_EQ(sa.steps, 6);
  ASSERT_EQ(sb.steps, 9);
  const fs::path report_dir = fs::path(SKV_TEST_TMP) / "gui_sessions" / "report";
  fs::remove_all(report_dir);

  StudioOptions o = options_for_test();
  o.autostart = false;
  StudioApp app(o);
  app.init();
  int tested = 0, passed = 0;
  std::vector<std::vector<std::string>> table;
  run_engine(app, [&](ImGuiTestEngine* e) {
    ImGuiTest* t = IM_REGISTER_TEST(e, "studio", "sessions");
    t->TestFunc = [&](ImGuiTestContext* ctx) {
      ctx->WindowFocus(window_ref(kSessionsPanel).c_str());
      ctx->SetRef(window_ref(kSessionsPanel).c_str());
      ctx->ItemClick("open/##path");
      ctx->KeyCharsReplace(a.c_str());
      ctx->ItemClick("Open");
      ctx->Yield(3);
      auto s = app.last_snapshot();
      IM_CHECK(s->replay);
      IM_CHECK_EQ(s->replay_steps, 6);
      IM_CHECK_EQ(s->tokens.size(), 6u);
      IM_CHECK_EQ(s->series.step_ms.size(), 6u);
      // The replayed tokens are the session's.
      const auto ids = sa.array("tokens/ids").as<int32_t>();
      for (size_t i = 0; i < ids.size(); ++i) IM_CHECK_EQ(s->tokens[i].id, ids[i]);
      // Scrub to step 3, then S steps one forward.
      ctx->ItemInputValue("##replay_step", 3);
      ctx->Yield(2);
      IM_CHECK_EQ(app.last_snapshot()->tokens.size(), 3u);
      IM_CHECK_EQ(app.last_snapshot()->series.step.size(), 3u);
      ctx->WindowFocus(window_ref(kTokensPanel).c_str());
      ctx->KeyPress(ImGuiKey_S);
      ctx->Yield(2);
      IM_CHECK_EQ(app.last_snapshot()->replay_step, 4);
      IM_CHECK_EQ(app.last_snapshot()->tokens.size(), 4u);
      shoot_panel(ctx, app, kPlotsPanel, "replay_plots.png");
      shoot_panel(ctx, app, kTokensPanel, "replay_tokens.png");

      // Compare with the RDR session.
      ctx->WindowFocus(window_ref(kSessionsPanel).c_str());
      ctx->SetRef(window_ref(kSessionsPanel).c_str());
      ctx->ItemClick("compare/##path");
      ctx->KeyCharsReplace(b.c_str());
      ctx->ItemClick("Compare");
      ctx->Yield(3);
      IM_CHECK(app.ui().sessions.compare != nullptr);
      table = app.ui().sessions.table;
      shoot_panel(ctx, app, kSessionsPanel, "sessions_compare.png");

      // Export the open session's report.
      ctx->ItemClick("##export_dir");
      ctx->KeyCharsReplace(report_dir.string().c_str());
      ctx->ItemClick("Export report");
      IM_CHECK(yield_until(ctx, [&] { return app.ui().sessions.export_job == nullptr; }, 120));
      IM_CHECK(!app.ui().sessions.status_error);
      // Replaying the RDR session shows its tier map and heatmap.
      ctx->ItemClick("open/##path");
      ctx->KeyCharsReplace(b.c_str());
      ctx->ItemClick("Open");
      ctx->Yield(3);
      IM_CHECK(app.last_snapshot()->tiers.available);
      IM_CHECK(app.last_snapshot()->attention_error.available);
      IM_CHECK_EQ(app.last_snapshot()->series.kl.size(), 9u);
      shoot_panel(ctx, app, kTierMapPanel, "replay_tier_map.png");
      shoot_panel(ctx, app, kErrorPanel, "replay_attention_error.png");
    };
  }, &tested, &passed);
  EXPECT_EQ(tested, 1);
  EXPECT_EQ(passed, tested) << app.ui().sessions.status;

  // The compare table holds both sessions' numbers, as computed here from the raw arrays.
  ASSERT_FALSE(table.empty());
  const std::vector<std::string>* latency = nullptr;
  const std::vector<std::string>* steps = nullptr;
  for (const auto& row : table) {
    if (row.front() == "latency ms/step") latency = &row;
    if (row.front() == "steps") steps = &row;
  }
  ASSERT_TRUE(latency && steps);
  ASSERT_EQ(latency->size(), 3u);
  EXPECT_EQ((*steps)[1], "6");
  EXPECT_EQ((*steps)[2], "9");
  EXPECT_EQ((*latency)[1], fmt2(finite_mean_from(sa.values("series/latency_ms"), 1)));
  EXPECT_EQ((*latency)[2], fmt2(finite_mean_from(sb.values("series/latency_ms"), 1)));

  // Export wrote what `skv report` writes; its figures decode to images that are not blank.
  EXPECT_TRUE(fs::exists(report_dir / "report.md"));
  EXPECT_TRUE(fs::exists(report_dir / "report.html"));
  int pngs = 0;
  for (const auto& f : fs::recursive_directory_iterator(report_dir)) {
    if (f.path().extension() != ".png") continue;
    int w = 0, h = 0, c = 0;
    unsigned char* px = stbi_load(f.path().c_str(), &w, &h, &c, 4);
    ASSERT_NE(px, nullptr) << f.path();
    const auto stats = test::pixel_stats(std::vector<uint8_t>(px, px + static_cast<size_t>(w) * h * 4), w, h, 0, 0, w, h);
    stbi_image_free(px);
    EXPECT_GT(stats.distinct_colors, 4) << f.path();
    EXPECT_GT(stats.stddev_luma, 5.0) << f.path();
    ++pngs;
  }
  EXPECT_GE(pngs, 2);
}

// A corrupt session: the reader's message (naming the file) in the panel, Messages and a red banner.
TEST_F(StudioGui, CorruptSessionShowsAnErrorInsteadOfCrashing) {
  const fs::path dir = fs::path(SKV_TEST_TMP) / "gui_sessions" / "corrupt";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "manifest.json") << "{\"format\": \"skv-session\", \"format_version\": 1, \"arra";
  StudioOptions o = options_for_test();
  o.autostart = false;
  StudioApp app(o);
  app.init();
  int tested = 0, passed = 0;
  run_engine(app, [&](ImGuiTestEngine* e) {
    ImGuiTest* t = IM_REGISTER_TEST(e, "studio", "corrupt_session");
    t->TestFunc = [&](ImGuiTestContext* ctx) {
      ctx->WindowFocus(window_ref(kSessionsPanel).c_str());
      ctx->SetRef(window_ref(kSessionsPanel).c_str());
      ctx->ItemClick("open/##path");
      ctx->KeyCharsReplace(dir.string().c_str());
      ctx->ItemClick("Open");
      ctx->Yield(3);
      app.capture_next_frame();
      ctx->Yield(2);
      write_png(test::screenshot_dir() + "/studio_corrupt_session.png", app.captured(), app.captured_width(), app.captured_height(), nullptr);
    };
  }, &tested, &passed);
  EXPECT_EQ(passed, tested);
  const auto& st = app.ui().sessions;
  EXPECT_TRUE(st.status_error);
  EXPECT_EQ(st.open, nullptr);
  EXPECT_NE(st.status.find("manifest.json"), std::string::npos) << st.status;
  EXPECT_FALSE(app.last_snapshot()->replay);
  bool in_messages = false;
  for (const auto& m : app.ui().app_messages) in_messages |= m.level == MessageLevel::error && m.text.find("manifest.json") != std::string::npos;
  EXPECT_TRUE(in_messages);
  const auto& px = app.captured();
  int red = 0;
  for (int y = 0; y < 90 && y < app.captured_height(); ++y)
    for (int x = 0; x < app.captured_width(); ++x) {
      const uint8_t* p = &px[(static_cast<size_t>(y) * app.captured_width() + x) * 4];
      if (p[0] > 120 && p[1] < 50 && p[2] < 50) ++red;
    }
  EXPECT_GT(red, app.captured_width() / 2) << "no red error banner at the top of the window";
}

// Clicking a heatmap cell makes the distribution plot follow that (layer, query head): the exact
// and the compressed (tiered cache) attention over positions, from the run's own data.
TEST_F(StudioGui, HeatmapClickShowsThatHeadsAttentionDistribution) {
  StudioOptions o = options_for_test();
  o.run.model_spec = test::tiny_model_json();
  o.run.device = "cpu";
  o.run.prompt_source = PromptSource::text;
  o.run.prompt_text.clear();
  for (int i = 0; i < 40; ++i) o.run.prompt_text += "studio " + std::to_string(i) + " ";
  o.run.max_new_tokens = 200;
  o.run.pause_after_steps = 4;
  o.run.record_session = false;
  o.policy = tiny_rdr(20.0f);
  StudioApp app(o);
  app.init();
  int tested = 0, passed = 0;
  std::vector<float> before, after;
  run_engine(app, [&](ImGuiTestEngine* e) {
    ImGuiTest* t = IM_REGISTER_TEST(e, "studio", "heatmap_click");
    t->TestFunc = [&](ImGuiTestContext* ctx) {
      IM_CHECK(yield_until(ctx, [&] { return app.last_snapshot()->phase == RunPhase::paused; }, 120));
      ctx->WindowFocus(window_ref(kErrorPanel).c_str());
      ctx->Yield(3);
      before = app.last_snapshot()->attention_error.exact_probs;
      IM_CHECK_EQ(app.last_snapshot()->attention_error.focus_layer, 0);
      IM_CHECK_EQ(app.last_snapshot()->attention_error.focus_head, 0);
      // The centre of cell (layer 1, query head 2): layers run down, heads across.
      const ErrorMapState& em = app.ui().error_map;
      const auto& ae = app.last_snapshot()->attention_error;
      const float x = em.map_x0 + (2 + 0.5f) / ae.heads * (em.map_x1 - em.map_x0);
      const float y = em.map_y0 + (1 + 0.5f) / ae.layers * (em.map_y1 - em.map_y0);
      ctx->MouseMoveToPos(ImVec2(x, y));
      ctx->MouseClick(0);
      ctx->Yield(2);
      IM_CHECK_EQ(app.ui().error_map.layer, 1);
      IM_CHECK_EQ(app.ui().error_map.head, 2);
      ctx->WindowFocus(window_ref(kTokensPanel).c_str());
      ctx->KeyPress(ImGuiKey_S);  // one more step: the worker follows the new focus
      IM_CHECK(yield_until(ctx, [&] {
        auto s = app.last_snapshot();
        return s->phase == RunPhase::paused && s->tokens.size() == 5;
      }, 60));
      IM_CHECK_EQ(app.last_snapshot()->attention_error.focus_layer, 1);
      IM_CHECK_EQ(app.last_snapshot()->attention_error.focus_head, 2);
      after = app.last_snapshot()->attention_error.exact_probs;
      shoot_panel(ctx, app, kErrorPanel, "attention_error_click_L1_H2.png");
    };
  }, &tested, &passed);
  EXPECT_EQ(tested, 1);
  EXPECT_EQ(passed, tested);
  const auto s = app.last_snapshot();
  const auto& ae = s->attention_error;
  ASSERT_EQ(ae.compressed_probs.size(), ae.exact_probs.size()) << ae.compressed_why_not;
  ASSERT_EQ(static_cast<int>(ae.exact_probs.size()), s->tiers.positions);
  double sum_exact = 0, sum_comp = 0;
  for (size_t i = 0; i < ae.exact_probs.size(); ++i) sum_exact += ae.exact_probs[i], sum_comp += ae.compressed_probs[i];
  EXPECT_NEAR(sum_exact, 1.0, 1e-4);
  EXPECT_NEAR(sum_comp, 1.0, 1e-4);
  // Another head at another layer attends differently: the plot now shows other data.
  ASSERT_FALSE(before.empty());
  double diff = 0;
  for (size_t i = 0; i < std::min(before.size(), after.size()); ++i) diff = std::max(diff, static_cast<double>(std::abs(before[i] - after[i])));
  EXPECT_GT(diff, 1e-4);
}

// A session's stored probe stream in the Kernels panel during a replay. The tiny run records real
// host step times (probe/cpu); this machine has no CUPTI, so kernel records are added to the same
// session in the columns `skv record` writes on a GPU (docs/SESSION_FORMAT.md: probe/kernels/*).
// The panel's drawn values are compared with ones computed here from the raw arrays.
TEST_F(StudioGui, KernelsPanelReplaysTheSessionsProbeStream) {
  const std::string dir = record_tiny_session("probe_stream_7", tiny_rdr(30.0f), 7);
  Session s = read_session(dir);
  ASSERT_EQ(s.steps, 7);
  ASSERT_TRUE(s.has("probe/cpu/ns")) << "the Studio's sessions store the probe stream";
  const auto cpu_step = s.array("probe/cpu/step").as<int64_t>();
  const auto cpu_ns = s.array("probe/cpu/ns").as<int64_t>();
  ASSERT_EQ(cpu_step.size(), cpu_ns.size());
  // Expected host bars at replay step k: every record of steps 1..k-1, in order, in ms.
  auto host_at = [&](int64_t k) {
    std::vector<double> xs, ys;
    for (size_t i = 0; i < cpu_step.size(); ++i)
      if (cpu_step[i] > 0 && cpu_step[i] < k) xs.push_back(static_cast<double>(cpu_step[i])), ys.push_back(cpu_ns[i] / 1e6);
    return std::make_pair(xs, ys);
  };
  ASSERT_FALSE(host_at(7).first.empty());

  int tested = 0, passed = 0;
  std::vector<double> host5_x, host5_y, host3_x;
  {
    StudioOptions o = options_for_test();
    o.autostart = false;
    StudioApp app(o);
    app.init();
    run_engine(app, [&](ImGuiTestEngine* e) {
      ImGuiTest* t = IM_REGISTER_TEST(e, "studio", "kernels_replay_cpu");
      t->TestFunc = [&](ImGuiTestContext* ctx) {
        ctx->WindowFocus(window_ref(kSessionsPanel).c_str());
        ctx->SetRef(window_ref(kSessionsPanel).c_str());
        ctx->ItemClick("open/##path");
        ctx->KeyCharsReplace(dir.c_str());
        ctx->ItemClick("Open");
        ctx->Yield(3);
        ctx->ItemInputValue("##replay_step", 5);
        ctx->Yield(2);
        const PanelShot shot = shoot_panel(ctx, app, kKernelsPanel, "replay_kernels_host_times.png");
        IM_CHECK(shot.visible);
        IM_CHECK_GT(shot.stats.non_background, 0.05);
        host5_x = app.ui().kernels.host_steps;
        host5_y = app.ui().kernels.host_ms;
        ctx->WindowFocus(window_ref(kSessionsPanel).c_str());
        ctx->ItemInputValue("##replay_step", 3);
        ctx->WindowFocus(window_ref(kKernelsPanel).c_str());
        ctx->Yield(3);
        host3_x = app.ui().kernels.host_steps;
      };
    }, &tested, &passed);
    EXPECT_EQ(passed, tested);
  }
  const auto [want5_x, want5_y] = host_at(5);
  EXPECT_EQ(host5_x, want5_x);
  ASSERT_EQ(host5_y.size(), want5_y.size());
  for (size_t i = 0; i < want5_y.size(); ++i) EXPECT_DOUBLE_EQ(host5_y[i], want5_y[i]);
  EXPECT_EQ(host3_x, host_at(3).first);

  // Kernel records: per step three kernels on two streams, timed from the step's own host time.
  std::vector<int64_t> k_step, k_t0, k_t1, k_stream, k_corr;
  std::vector<int32_t> k_name, k_layer, k_dim;
  const std::vector<std::string> names = {"ada_decode_split<3,4>", "rdr_retier", "gemv_f16"};
  int64_t t = 1'700'000'000'000'000'000;  // CUPTI's clock is wall-clock nanoseconds: beyond a double's 53 bits
  for (size_t i = 0; i < cpu_step.size(); ++i) {
    if (cpu_step[i] < 0) continue;
    for (int k = 0; k < 3; ++k) {
      const int64_t d = std::max<int64_t>(1000, cpu_ns[i] / (4 + k)) + k * 7;
      k_step.push_back(cpu_step[i]);
      k_t0.push_back(t);
      k_t1.push_back(t + d);
      k_stream.push_back(k == 1 ? 14 : 7);
      k_corr.push_back(static_cast<int64_t>(k_corr.size()) + 1);
      k_name.push_back(k);
      k_layer.push_back(k);
      k_dim.push_back(32 * (k + 1));
      t += d + 500;
    }
  }
  const ArrayMeta km{"probe", "", "CUPTI kernel activity records"};
  s.string_tables["probe/kernel_names"] = names;
  s.put("probe/kernels/name_id", NpyArray::from(k_name), km);
  s.put("probe/kernels/start_ns", NpyArray::from(k_t0), km);
  s.put("probe/kernels/end_ns", NpyArray::from(k_t1), km);
  for (const char* n : {"grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z"}) s.put(std::string("probe/kernels/") + n, NpyArray::from(k_dim), km);
  s.put("probe/kernels/stream", NpyArray::from(k_stream), km);
  s.put("probe/kernels/correlation_id", NpyArray::from(k_corr), km);
  s.put("probe/kernels/step", NpyArray::from(k_step), km);
  s.put("probe/kernels/layer", NpyArray::from(k_layer), km);
  write_session(dir, s);
  // Expected timeline at replay step k with the panel's default 4 last steps: steps k-4..k-1.
  auto kernels_at = [&](int64_t k) {
    int64_t n = 0, lo = INT64_MAX, hi = 0;
    for (size_t i = 0; i < k_step.size(); ++i)
      if (k_step[i] < k && k_step[i] > k - 1 - 4) ++n, lo = std::min(lo, k_t0[i]), hi = std::max(hi, k_t1[i]);
    return std::make_pair(n, static_cast<double>(hi - lo) / 1e6);
  };
  struct Seen {
    int64_t kernels, first, last;
    double span_ms;
  };
  Seen at6{}, at2{};
  {
    StudioOptions o = options_for_test();
    o.autostart = false;
    StudioApp app(o);
    app.init();
    run_engine(app, [&](ImGuiTestEngine* e) {
      ImGuiTest* t2 = IM_REGISTER_TEST(e, "studio", "kernels_replay_timeline");
      t2->TestFunc = [&](ImGuiTestContext* ctx) {
        ctx->WindowFocus(window_ref(kSessionsPanel).c_str());
        ctx->SetRef(window_ref(kSessionsPanel).c_str());
        ctx->ItemClick("open/##path");
        ctx->KeyCharsReplace(dir.c_str());
        ctx->ItemClick("Open");
        ctx->Yield(3);
        ctx->ItemInputValue("##replay_step", 6);
        ctx->Yield(2);
        const PanelShot shot = shoot_panel(ctx, app, kKernelsPanel, "replay_kernels_timeline.png");
        IM_CHECK_GT(shot.stats.distinct_colors, 4);
        const KernelsState& ks = app.ui().kernels;
        at6 = {ks.shown_kernels, ks.shown_first_step, ks.shown_last_step, ks.shown_span_ms};
        ctx->WindowFocus(window_ref(kSessionsPanel).c_str());
        ctx->ItemInputValue("##replay_step", 2);
        ctx->WindowFocus(window_ref(kKernelsPanel).c_str());
        ctx->Yield(3);
        at2 = {ks.shown_kernels, ks.shown_first_step, ks.shown_last_step, ks.shown_span_ms};
      };
    }, &tested, &passed);
    EXPECT_EQ(passed, tested);
  }
  const auto [n6, span6] = kernels_at(6);
  EXPECT_EQ(at6.kernels, n6);
  EXPECT_EQ(at6.first, 2);
  EXPECT_EQ(at6.last, 5);
  EXPECT_NEAR(at6.span_ms, span6, 1e-6);
  const auto [n2, span2] = kernels_at(2);
  EXPECT_EQ(at2.kernels, n2);
  EXPECT_EQ(at2.last, 1);
  EXPECT_NEAR(at2.span_ms, span2, 1e-6);
  EXPECT_GT(n6, n2);
}

// Outside screenshot mode and the Test Engine, a frame is drawn only when something changed: a
// paused run's unchanged snapshots cost (almost) no frames, the next token draws again.
TEST_F(StudioGui, UnchangedFramesAreSkippedAndANewTokenIsDrawn) {
  StudioOptions o = options_for_test();
  o.run.model_spec = test::tiny_model_json();
  o.run.device = "cpu";
  o.run.prompt_source = PromptSource::text;
  o.run.prompt_text.clear();
  for (int i = 0; i < 40; ++i) o.run.prompt_text += "studio " + std::to_string(i) + " ";
  o.run.max_new_tokens = 50;
  o.run.pause_after_steps = 3;
  o.run.record_session = false;
  o.policy = tiny_rdr(30.0f);
  StudioApp app(o);
  app.init();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (app.last_snapshot()->phase != RunPhase::paused && std::chrono::steady_clock::now() < end) ASSERT_TRUE(app.frame());
  ASSERT_EQ(app.last_snapshot()->phase, RunPhase::paused);
  for (int i = 0; i < 60; ++i) app.frame();  // let input from the window's creation age out
  const int64_t before = app.frames_drawn();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 60; ++i) app.frame();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t idle_drawn = app.frames_drawn() - before;
  // Twice a second regardless (+ slack for the settle frames), not once per call.
  EXPECT_LE(idle_drawn, static_cast<int64_t>(2 * secs) + 4) << "over " << secs << " s";
  // A new token (single step) is a new snapshot: it is drawn.
  StudioActions act;
  act.step = true;
  app.apply(act);
  const int64_t before_step = app.frames_drawn();
  const auto end2 = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (app.last_snapshot()->tokens.size() < 4 && std::chrono::steady_clock::now() < end2) app.frame();
  for (int i = 0; i < 3; ++i) app.frame();
  EXPECT_EQ(app.last_snapshot()->tokens.size(), 4u);
  EXPECT_GE(app.frames_drawn() - before_step, 1);
}

}  // namespace
}  // namespace skv::studio
