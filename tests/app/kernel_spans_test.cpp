// merge_pixel_spans against a brute-force raster: every kernel's pixels stay covered, no pixel
// column outside the kernels (and the half-pixel gaps between them) gets painted, and a step's
// worth of tiny adjacent launches collapses to a few rectangles.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "app/studio/kernel_spans.h"

namespace skv::studio {
namespace {

// Raster of 0.1-px cells per lane: 1 where some span covers the cell centre.
std::vector<std::vector<char>> raster(const std::vector<PixelSpan>& spans, int lanes, float width) {
  const int cells = static_cast<int>(width * 10) + 1;
  std::vector<std::vector<char>> r(static_cast<size_t>(lanes), std::vector<char>(static_cast<size_t>(cells), 0));
  for (const auto& s : spans)
    for (int c = 0; c < cells; ++c) {
      const float x = (c + 0.5f) / 10;
      if (x >= s.x0 && x <= s.x1) r[static_cast<size_t>(s.lane)][static_cast<size_t>(c)] = 1;
    }
  return r;
}

TEST(KernelSpans, MergedSpansCoverExactlyTheKernelsUpToHalfPixelGaps) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> pos(0, 800), len(0, 3);
  std::uniform_int_distribution<int> lane(0, 2);
  std::vector<PixelSpan> in;
  for (size_t i = 0; i < 3000; ++i) {
    const float x0 = pos(rng);
    in.push_back({lane(rng), x0, x0 + 1.0f + len(rng), i});
  }
  const auto out = merge_pixel_spans(in);
  const auto want = raster(in, 3, 810), got = raster(out, 3, 810);
  for (int l = 0; l < 3; ++l)
    for (size_t c = 0; c < want[0].size(); ++c) {
      if (want[size_t(l)][c]) EXPECT_TRUE(got[size_t(l)][c]) << "kernel pixel lost, lane " << l << " cell " << c;
      if (got[size_t(l)][c] && !want[size_t(l)][c]) {
        // A painted gap must be a bridged gap of at most 0.5 px between two kernels of the lane.
        const float x = (c + 0.5f) / 10;
        float left = -1e9f, right = 1e9f;
        for (const auto& s : in)
          if (s.lane == l) {
            if (s.x1 <= x) left = std::max(left, s.x1);
            if (s.x0 >= x) right = std::min(right, s.x0);
          }
        EXPECT_LE(right - left, 0.5f + 1e-4f) << "painted outside the kernels, lane " << l << " x " << x;
      }
    }
  // Each output span starts at one of its kernels (the colour source) and spans of a lane are apart.
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(in[out[i].first].lane, out[i].lane);
    EXPECT_FLOAT_EQ(in[out[i].first].x0, out[i].x0);
    if (i > 0 && out[i - 1].lane == out[i].lane) EXPECT_GT(out[i].x0, out[i - 1].x1 + 0.5f);
  }
}

TEST(KernelSpans, AStepOfTinyAdjacentLaunchesBecomesOneRectanglePerBusyStretch) {
  // 1000 launches of 0.3 px each with 0.1 px idle between them, then a 50 px idle gap, then 1000 more.
  std::vector<PixelSpan> in;
  float x = 10;
  for (size_t i = 0; i < 2000; ++i) {
    if (i == 1000) x += 50;
    in.push_back({0, x, x + 1.0f, i});  // the panel widens every kernel to at least 1 px
    x += 0.4f;
  }
  const auto out = merge_pixel_spans(in);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0].x0, 10.0f);
  EXPECT_EQ(out[1].first, 1000u);
}

}  // namespace
}  // namespace skv::studio
