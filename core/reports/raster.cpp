#include "core/reports/raster.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/common/error.h"
#include "core/sessions/atomic_file.h"

// Both stb libraries are compiled here with internal linkage (STATIC), so another part of the
// program (the GUI, ImGui's own copy) can use them too without duplicate symbols.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#define STBTT_STATIC
#define STB_TRUETYPE_IMPLEMENTATION
#include <stb/stb_truetype.h>

namespace skv::reports {
namespace fs = std::filesystem;

Canvas::Canvas(int width, int height, Rgba bg) : w_(width), h_(height), cx1_(width), cy1_(height) {
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384)
    throw Error("figure size " + std::to_string(width) + "x" + std::to_string(height) + " is out of range");
  px_.resize(static_cast<std::size_t>(width) * height * 4);
  for (std::size_t i = 0; i < px_.size(); i += 4) {
    px_[i] = bg.r;
    px_[i + 1] = bg.g;
    px_[i + 2] = bg.b;
    px_[i + 3] = bg.a;
  }
}

Rgba Canvas::at(int x, int y) const {
  const uint8_t* p = &px_[(static_cast<std::size_t>(y) * w_ + x) * 4];
  return {p[0], p[1], p[2], p[3]};
}

void Canvas::clip(int x0, int y0, int x1, int y1) {
  cx0_ = std::max(0, x0);
  cy0_ = std::max(0, y0);
  cx1_ = std::min(w_, x1);
  cy1_ = std::min(h_, y1);
}
void Canvas::clear_clip() {
  cx0_ = cy0_ = 0;
  cx1_ = w_;
  cy1_ = h_;
}

void Canvas::blend(int x, int y, Rgba c, float coverage) {
  if (x < cx0_ || y < cy0_ || x >= cx1_ || y >= cy1_ || coverage <= 0) return;
  const float a = std::min(1.0f, coverage) * c.a / 255.0f;
  uint8_t* p = &px_[(static_cast<std::size_t>(y) * w_ + x) * 4];
  const float da = p[3] / 255.0f;
  const float oa = a + da * (1 - a);
  auto mix = [&](uint8_t s, uint8_t d) {
    return static_cast<uint8_t>(std::lround(oa > 0 ? (s * a + d * da * (1 - a)) / oa : 0));
  };
  p[0] = mix(c.r, p[0]);
  p[1] = mix(c.g, p[1]);
  p[2] = mix(c.b, p[2]);
  p[3] = static_cast<uint8_t>(std::lround(oa * 255));
}

void Canvas::fill_rect(double x0, double y0, double x1, double y1, Rgba c) {
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  const int ix0 = static_cast<int>(std::floor(x0)), ix1 = static_cast<int>(std::ceil(x1));
  const int iy0 = static_cast<int>(std::floor(y0)), iy1 = static_cast<int>(std::ceil(y1));
  for (int y = std::max(iy0, cy0_); y < std::min(iy1, cy1_); ++y) {
    const double cy = std::min<double>(y + 1, y1) - std::max<double>(y, y0);
    for (int x = std::max(ix0, cx0_); x < std::min(ix1, cx1_); ++x) {
      const double cx = std::min<double>(x + 1, x1) - std::max<double>(x, x0);
      blend(x, y, c, static_cast<float>(cx * cy));
    }
  }
}

void Canvas::rect_outline(double x0, double y0, double x1, double y1, Rgba c, double width) {
  line(x0, y0, x1, y0, c, width);
  line(x1, y0, x1, y1, c, width);
  line(x1, y1, x0, y1, c, width);
  line(x0, y1, x0, y0, c, width);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgba c, double width) {
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return;
  const double r = width / 2;
  const int bx0 = static_cast<int>(std::floor(std::min(x0, x1) - r - 1)), bx1 = static_cast<int>(std::ceil(std::max(x0, x1) + r + 1));
  const int by0 = static_cast<int>(std::floor(std::min(y0, y1) - r - 1)), by1 = static_cast<int>(std::ceil(std::max(y0, y1) + r + 1));
  const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (int y = std::max(by0, cy0_); y < std::min(by1, cy1_); ++y)
    for (int x = std::max(bx0, cx0_); x < std::min(bx1, cx1_); ++x) {
      // Distance from the pixel center to the segment; coverage falls off over one pixel.
      const double px = x + 0.5, py = y + 0.5;
      double t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
      t = std::clamp(t, 0.0, 1.0);
      const double ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
      const double d = std::sqrt(ex * ex + ey * ey);
      blend(x, y, c, static_cast<float>(std::clamp(r + 0.5 - d, 0.0, 1.0)));
    }
}

void Canvas::polyline(const std::vector<double>& xs, const std::vector<double>& ys, Rgba c, double width) {
  for (std::size_t k = 1; k < std::min(xs.size(), ys.size()); ++k) line(xs[k - 1], ys[k - 1], xs[k], ys[k], c, width);
}

void Canvas::disc(double cx, double cy, double radius, Rgba c) {
  for (int y = static_cast<int>(cy - radius - 1); y <= static_cast<int>(cy + radius + 1); ++y)
    for (int x = static_cast<int>(cx - radius - 1); x <= static_cast<int>(cx + radius + 1); ++x) {
      const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
      blend(x, y, c, static_cast<float>(std::clamp(radius + 0.5 - d, 0.0, 1.0)));
    }
}

std::vector<uint8_t> Canvas::png() const {
  std::vector<uint8_t> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(sink, &out, w_, h_, 4, px_.data(), w_ * 4)) throw Error("PNG encoding failed");
  return out;
}

void Canvas::save_png(const fs::path& path) const { write_file_atomic(path, png()); }

// ---- text ---------------------------------------------------------------------------------

struct Font::Impl {
  stbtt_fontinfo info{};
};

Font::Font() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("SKV_FONT")) candidates.emplace_back(env);
  candidates.insert(candidates.end(), {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                                       "/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                                       "/usr/local/share/fonts/DejaVuSans.ttf"});
  for (const auto& p : candidates) {
    std::error_code ec;
    if (p.empty() || !fs::is_regular_file(p, ec)) continue;
    auto bytes = read_file_bytes(p);
    auto impl = std::make_shared<Impl>();
    if (!stbtt_InitFont(&impl->info, bytes.data(), stbtt_GetFontOffsetForIndex(bytes.data(), 0))) continue;
    data_ = std::move(bytes);
    // stbtt_fontinfo points into the data: re-init on the moved buffer.
    stbtt_InitFont(&impl->info, data_.data(), stbtt_GetFontOffsetForIndex(data_.data(), 0));
    impl_ = impl;
    path_ = p;
    break;
  }
}

const Font& Font::dejavu_sans() {
  static const Font font;
  return font;
}

namespace {
// UTF-8 to code points; invalid bytes become U+FFFD.
std::vector<int> codepoints(const std::string& s) {
  std::vector<int> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    int cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += n;
  }
  return out;
}

// Renders a line of text into an alpha bitmap (w x h), baseline at `ascent` pixels from the top.
struct TextBitmap {
  int w = 0, h = 0, ascent = 0;
  std::vector<uint8_t> alpha;
};
TextBitmap render_text(const stbtt_fontinfo& info, const std::string& utf8, double px) {
  TextBitmap tb;
  const float scale = stbtt_ScaleForPixelHeight(&info, static_cast<float>(px));
  int asc, desc, gap;
  stbtt_GetFontVMetrics(&info, &asc, &desc, &gap);
  tb.ascent = static_cast<int>(std::ceil(asc * scale));
  tb.h = tb.ascent + static_cast<int>(std::ceil(-desc * scale)) + 1;
  const auto cps = codepoints(utf8);
  double x = 0;
  for (std::size_t k = 0; k < cps.size(); ++k) {
    int adv, lsb;
    stbtt_GetCodepointHMetrics(&info, cps[k], &adv, &lsb);
    x += adv * scale;
    if (k + 1 < cps.size()) x += stbtt_GetCodepointKernAdvance(&info, cps[k], cps[k + 1]) * scale;
  }
  tb.w = static_cast<int>(std::ceil(x)) + 2;
  tb.alpha.assign(static_cast<std::size_t>(tb.w) * tb.h, 0);
  x = 0;
  for (std::size_t k = 0; k < cps.size(); ++k) {
    int adv, lsb, x0, y0, x1, y1;
    stbtt_GetCodepointHMetrics(&info, cps[k], &adv, &lsb);
    const float shift = static_cast<float>(x - std::floor(x));
    stbtt_GetCodepointBitmapBoxSubpixel(&info, cps[k], scale, scale, shift, 0, &x0, &y0, &x1, &y1);
    const int gw = x1 - x0, gh = y1 - y0;
    if (gw > 0 && gh > 0) {
      std::vector<uint8_t> g(static_cast<std::size_t>(gw) * gh);
      stbtt_MakeCodepointBitmapSubpixel(&info, g.data(), gw, gh, gw, scale, scale, shift, 0, cps[k]);
      const int ox = static_cast<int>(std::floor(x)) + x0, oy = tb.ascent + y0;
      for (int yy = 0; yy < gh; ++yy)
        for (int xx = 0; xx < gw; ++xx) {
          const int tx = ox + xx, ty = oy + yy;
          if (tx < 0 || ty < 0 || tx >= tb.w || ty >= tb.h) continue;
          uint8_t& d = tb.alpha[static_cast<std::size_t>(ty) * tb.w + tx];
          d = static_cast<uint8_t>(std::min(255, d + g[static_cast<std::size_t>(yy) * gw + xx]));
        }
    }
    x += adv * scale;
    if (k + 1 < cps.size()) x += stbtt_GetCodepointKernAdvance(&info, cps[k], cps[k + 1]) * scale;
  }
  return tb;
}
}  // namespace

double Font::text_width(const std::string& utf8, double px) const {
  if (!available()) return 0;
  const float scale = stbtt_ScaleForPixelHeight(&impl_->info, static_cast<float>(px));
  double x = 0;
  const auto cps = codepoints(utf8);
  for (std::size_t k = 0; k < cps.size(); ++k) {
    int adv, lsb;
    stbtt_GetCodepointHMetrics(&impl_->info, cps[k], &adv, &lsb);
    x += adv * scale;
    if (k + 1 < cps.size()) x += stbtt_GetCodepointKernAdvance(&impl_->info, cps[k], cps[k + 1]) * scale;
  }
  return x;
}

void Font::draw(Canvas& c, double x, double y, const std::string& utf8, double px, Rgba color, Align align) const {
  if (!available() || utf8.empty()) return;
  TextBitmap tb = render_text(impl_->info, utf8, px);
  const double w = text_width(utf8, px);
  const int ox = static_cast<int>(std::lround(align == Align::left ? x : align == Align::center ? x - w / 2 : x - w));
  const int oy = static_cast<int>(std::lround(y)) - tb.ascent;
  for (int yy = 0; yy < tb.h; ++yy)
    for (int xx = 0; xx < tb.w; ++xx) {
      const uint8_t a = tb.alpha[static_cast<std::size_t>(yy) * tb.w + xx];
      if (a) c.blend(ox + xx, oy + yy, color, a / 255.0f);
    }
}

void Font::draw_vertical(Canvas& c, double x, double y, const std::string& utf8, double px, Rgba color) const {
  if (!available() || utf8.empty()) return;
  TextBitmap tb = render_text(impl_->info, utf8, px);
  // Rotate CCW: bitmap (xx, yy) -> canvas (ox + yy, oy + (w - 1 - xx)).
  const int ox = static_cast<int>(std::lround(x - tb.h / 2.0));
  const int oy = static_cast<int>(std::lround(y - tb.w / 2.0));
  for (int yy = 0; yy < tb.h; ++yy)
    for (int xx = 0; xx < tb.w; ++xx) {
      const uint8_t a = tb.alpha[static_cast<std::size_t>(yy) * tb.w + xx];
      if (a) c.blend(ox + yy, oy + (tb.w - 1 - xx), color, a / 255.0f);
    }
}

std::string base64(const std::vector<uint8_t>& b) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < b.size(); i += 3) {
    uint32_t v = b[i] << 16;
    if (i + 1 < b.size()) v |= b[i + 1] << 8;
    if (i + 2 < b.size()) v |= b[i + 2];
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < b.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < b.size() ? k[v & 63] : '=';
  }
  return out;
}

}  // namespace skv::reports
