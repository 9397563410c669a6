// The Kernels timeline's rectangles: kernels as pixel spans per lane, merged where they fall
// within half a pixel of each other, so a step's ~1000 launches cost a few rectangles per pixel
// column instead of one each. No ImGui here (tests/app/kernel_spans_test.cpp).
#pragma once

#include <cstddef>
#include <vector>

namespace skv::studio {

struct PixelSpan {
  int lane = 0;
  float x0 = 0, x1 = 0;   // pixels, x1 >= x0
  std::size_t first = 0;  // index (in the caller's list) of the run's first kernel: its colour
};

// Sorts by (lane, x0) and joins each span into the previous one of its lane when it starts at most
// `join_px` after that one's end. Every input span lies inside one output span of its lane, and
// the output spans of a lane are separated by more than join_px.
std::vector<PixelSpan> merge_pixel_spans(std::vector<PixelSpan> spans, float join_px = 0.5f);

}  // namespace skv::studio
