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

#include "app/studio/studio_app.h"
#include "app/studio/studio_paths.h"
#include "studio_test_support.h"

namespace skv::studio {
namespace {
namespace fs = std::filesystem;

class StudioGui : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = test::ensure_display();
    if (!why.empty()) GTEST_SKIP() << why;
    // Profiles and layouts go to a scratch config folder, never the user's.
    config_ = fs::path(SKV_TEST_TMP) / "studio_config";
    setenv("XDG_CONFIG_HOME", config_.c_str(), 1);
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

// Policy settings round-trip through a per-model profile file in the config folder.
TEST_F(StudioGui, PolicyProfileSavesAndLoads) {
  StudioOptions o = options_for_test();
  o.autostart = false;
  StudioApp app(o);
  app.init();
  int tested = 0, passed = 0;
  run_engine(app, [&](ImGuiTestEngine* e) {
    ImGuiTest* t = IM_REGISTER_TEST(e, "studio", "profile");
    t->TestFunc = [&](ImGuiTestContext* ctx) {
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
    };
  }, &tested, &passed);
  EXPECT_EQ(tested, 1);
  EXPECT_EQ(passed, tested) << app.ui().policy.profile_status;
  EXPECT_TRUE(fs::exists(fs::path(config_) / "skv-studio" / "profiles" / "default.json"));
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

}  // namespace
}  // namespace skv::studio
