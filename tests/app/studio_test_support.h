#pragma once
// What the Studio's tests share: a display (Xvfb when DISPLAY is unset), the screenshot folder
// (build/screenshots/, kept as CI artefacts), a tiny shape-only model, and pixel statistics.
#include <cstdint>
#include <string>
#include <vector>

namespace skv::studio::test {

// Starts Xvfb on a free display (-displayfd) if DISPLAY is unset; idempotent. Returns "" or why not.
std::string ensure_display();
std::string screenshot_dir();  // created on demand
// A 2-layer shape-only config (seeded random weights) for fast worker tests.
std::string tiny_model_json();

struct PixelStats {
  double mean_luma = 0, stddev_luma = 0;
  int distinct_colors = 0;  // quantised to 4 bits per channel
  double non_background = 0;  // share of pixels that differ from the rect's most common colour
};
PixelStats pixel_stats(const std::vector<uint8_t>& rgba, int width, int height, int x, int y, int w, int h);
// Copies a rect out of an RGBA frame (for per-panel screenshots).
std::vector<uint8_t> crop(const std::vector<uint8_t>& rgba, int width, int x, int y, int w, int h);

}  // namespace skv::studio::test
