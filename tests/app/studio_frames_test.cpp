// skv_studio_frames, the headless frame benchmark (no window, no GL): it draws the same panels
// from a decoding StudioWorker and reports what one frame costs. Run here on the tiny shape-only
// model for a second of frames.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/studio/frame_stats.h"
#include "studio_test_support.h"

namespace skv::studio {
namespace {
namespace fs = std::filesystem;

TEST(StudioFrames, HeadlessBenchmarkDrawsEveryPanelWhileTheWorkerDecodes) {
  const fs::path bin = fs::path(SKV_BINARY_DIR) / "bin" / "skv_studio_frames";
  if (!fs::exists(bin)) GTEST_SKIP() << "build the skv_studio_frames target first";
  const fs::path out = fs::path(SKV_TEST_TMP) / "studio_frames.json";
  fs::remove(out);
  const std::string cmd = bin.string() + " --model " + test::tiny_model_json() +
                          " --device cpu --fps 60 --frames 60 --warmup 5 --max-seconds 20 --json " + out.string() + " > " +
                          (fs::path(SKV_TEST_TMP) / "studio_frames.log").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out);
  ASSERT_TRUE(f.good());
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["frames_measured"].get<int>(), 60);
  EXPECT_EQ(j["summary"]["frames"].get<int>(), 60);
  EXPECT_GT(j["tokens_decoded_while_measured"].get<int>(), 0) << "frames are counted while the worker decodes";
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0.0);
  // Every panel drew: nine panels of text, plots, the tier map and the heatmap are thousands of
  // vertices (the host window alone is a few hundred), and each panel took measurable time.
  EXPECT_GT(j["vertices_per_frame"]["p50"].get<double>(), 4000.0);
  EXPECT_GE(j["summary"]["draw_lists"]["p50"].get<double>(), 9.0);
  const auto& parts = j["summary"]["parts_ms"];
  double parts_mean = 0;
  for (int p = 0; p < kFrameParts; ++p) {
    ASSERT_TRUE(parts.contains(frame_part_name(p))) << frame_part_name(p);
    parts_mean += parts[frame_part_name(p)]["mean"].get<double>();
  }
  for (const char* panel : {"Run", "Live plots", "Tier map", "Attention error", "Tokens"}) EXPECT_GT(parts[panel]["max"].get<double>(), 0.0) << panel;
  // The parts add up to the UI build less NewFrame (same clock, same frames).
  const double ui = j["summary"]["ui_ms"]["mean"].get<double>(), nf = j["summary"]["new_frame_ms"]["mean"].get<double>();
  EXPECT_LE(parts_mean, ui - nf + 1e-6);
  EXPECT_GT(parts_mean, 0.5 * (ui - nf));
  const double p50 = j["ui_cpu_ms_per_frame"]["p50"].get<double>();
  EXPECT_GT(p50, 0.0);
  EXPECT_NEAR(j["sustainable_fps"]["at_p50"].get<double>(), 1000.0 / p50, 1e-6);
}

}  // namespace
}  // namespace skv::studio
