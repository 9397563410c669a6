#pragma once
// A small headless rasterizer for report figures: an RGBA canvas with antialiased lines, filled
// rectangles and text (stb_truetype + DejaVu Sans found at run time), saved as PNG with
// stb_image_write. No GPU, no window: `skv report` runs on a server.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace skv::reports {

struct Rgba {
  uint8_t r = 0, g = 0, b = 0, a = 255;
};

class Canvas {
 public:
  Canvas(int width, int height, Rgba background);
  int width() const { return w_; }
  int height() const { return h_; }
  const std::vector<uint8_t>& pixels() const { return px_; }  // RGBA rows, top first
  Rgba at(int x, int y) const;

  // Source-over blend of c (its alpha times coverage) into pixel (x, y); clipped.
  void blend(int x, int y, Rgba c, float coverage = 1.0f);
  void fill_rect(double x0, double y0, double x1, double y1, Rgba c);  // edges antialiased
  void rect_outline(double x0, double y0, double x1, double y1, Rgba c, double width = 1.0);
  // Antialiased segment of the given width (pixels), round caps.
  void line(double x0, double y0, double x1, double y1, Rgba c, double width = 1.5);
  void polyline(const std::vector<double>& xs, const std::vector<double>& ys, Rgba c, double width = 1.5);
  void disc(double cx, double cy, double radius, Rgba c);
  // Restricts drawing to a rectangle (the plot area); clear_clip() lifts it.
  void clip(int x0, int y0, int x1, int y1);
  void clear_clip();

  std::vector<uint8_t> png() const;                // encoded PNG bytes
  void save_png(const std::filesystem::path& path) const;  // crash-safe write

 private:
  int w_, h_;
  std::vector<uint8_t> px_;
  int cx0_ = 0, cy0_ = 0, cx1_, cy1_;
};

enum class Align { left, center, right };

// DejaVu Sans, looked up at run time: $SKV_FONT, then /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
// (fonts-dejavu-core) and a few other usual places. When none is found, text is not drawn and
// available() is false (the figures stay valid; the report says so).
class Font {
 public:
  static const Font& dejavu_sans();
  bool available() const { return !data_.empty(); }
  const std::string& path() const { return path_; }
  double text_width(const std::string& utf8, double px) const;
  // (x, y) = baseline start for Align::left; the baseline center/end for the others.
  void draw(Canvas& c, double x, double y, const std::string& utf8, double px, Rgba color, Align align = Align::left) const;
  // Rotated 90 degrees counter-clockwise (reads bottom to top), centered on (x, y).
  void draw_vertical(Canvas& c, double x, double y, const std::string& utf8, double px, Rgba color) const;

 private:
  Font();
  std::string path_;
  std::vector<uint8_t> data_;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Base64 (RFC 4648) of bytes, for data: URIs in report.html.
std::string base64(const std::vector<uint8_t>& bytes);

}  // namespace skv::reports
