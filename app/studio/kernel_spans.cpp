#include "app/studio/kernel_spans.h"

#include <algorithm>

namespace skv::studio {

std::vector<PixelSpan> merge_pixel_spans(std::vector<PixelSpan> spans, float join_px) {
  std::sort(spans.begin(), spans.end(), [](const PixelSpan& a, const PixelSpan& b) {
    return a.lane != b.lane ? a.lane < b.lane : a.x0 < b.x0;
  });
  std::vector<PixelSpan> out;
  for (const PixelSpan& s : spans) {
    if (!out.empty() && out.back().lane == s.lane && s.x0 <= out.back().x1 + join_px)
      out.back().x1 = std::max(out.back().x1, s.x1);
    else
      out.push_back(s);
  }
  return out;
}

}  // namespace skv::studio
