#include "core/reports/plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/common/error.h"
#include "core/sessions/number_text.h"

namespace skv::reports {
namespace {

constexpr Rgba kDeep[] = {{76, 114, 176, 255}, {221, 132, 82, 255}, {85, 168, 104, 255}, {196, 78, 82, 255},
                          {129, 114, 179, 255}, {147, 120, 96, 255}, {218, 139, 195, 255}, {140, 140, 140, 255},
                          {204, 185, 116, 255}, {100, 181, 205, 255}};
constexpr Rgba kViridis[] = {{68, 1, 84, 255},    {72, 36, 117, 255},  {65, 68, 135, 255},  {53, 95, 141, 255},
                             {42, 120, 142, 255}, {33, 145, 140, 255}, {34, 168, 132, 255}, {68, 191, 112, 255},
                             {122, 209, 81, 255}, {189, 223, 38, 255}, {253, 231, 37, 255}};

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double map(double v) const {  // to [0, 1]
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
};

// "Nice" ticks (1, 2, 5 x 10^k) covering [lo, hi]; decades for log axes.
std::vector<double> ticks(const Axis& a, int target = 6) {
  std::vector<double> t;
  if (a.log) {
    for (double e = std::floor(std::log10(a.lo)); e <= std::ceil(std::log10(a.hi)); ++e) {
      double v = std::pow(10.0, e);
      if (v >= a.lo * (1 - 1e-9) && v <= a.hi * (1 + 1e-9)) t.push_back(v);
    }
    if (t.size() >= 2) return t;
    t.clear();
    Axis lin{a.lo, a.hi, false};
    return ticks(lin, target);
  }
  const double span = a.hi - a.lo;
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(a.lo / step) * step; v <= a.hi + step * 1e-6; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

Axis fit_axis(std::vector<double> v, bool log) {
  Axis a;
  a.log = log;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double x : v)
    if (std::isfinite(x) && (!log || x > 0)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  if (!std::isfinite(lo)) {
    lo = log ? 1 : 0;
    hi = log ? 10 : 1;
  }
  if (log) {
    if (hi <= lo) {
      lo /= 2;
      hi *= 2;
    }
    a.lo = std::pow(10.0, std::floor(std::log10(lo) * 4) / 4);
    a.hi = std::pow(10.0, std::ceil(std::log10(hi) * 4) / 4);
  } else {
    if (hi <= lo) {
      const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
      lo -= pad;
      hi += pad;
    }
    const double pad = (hi - lo) * 0.05;
    a.lo = lo - pad;
    a.hi = hi + pad;
  }
  return a;
}

struct Frame {
  double x0, y0, x1, y1;  // plot area in pixels
};

// Title, axes labels and the dark plot frame; returns the plot area.
Frame draw_frame(Canvas& c, const std::string& title, const std::string& xl, const std::string& yl, const FigureStyle& s,
                 double right_margin) {
  const Font& f = Font::dejavu_sans();
  Frame fr{78, title.empty() ? 20.0 : 46.0, c.width() - right_margin, c.height() - 62.0};
  if (!title.empty()) f.draw(c, c.width() / 2.0, 30, title, s.title_px, s.text, Align::center);
  c.fill_rect(fr.x0, fr.y0, fr.x1, fr.y1, s.plot_bg);
  if (!xl.empty()) f.draw(c, (fr.x0 + fr.x1) / 2, c.height() - 14.0, xl, s.label_px, s.text, Align::center);
  if (!yl.empty()) f.draw_vertical(c, 16, (fr.y0 + fr.y1) / 2, yl, s.label_px, s.text);
  return fr;
}

}  // namespace

Rgba deep_color(int index) { return kDeep[((index % 10) + 10) % 10]; }

Rgba viridis(double t) {
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 10;
  const int k = std::min(9, static_cast<int>(t));
  const double f = t - k;
  auto mix = [&](uint8_t a, uint8_t b) { return static_cast<uint8_t>(std::lround(a + (b - a) * f)); };
  return {mix(kViridis[k].r, kViridis[k + 1].r), mix(kViridis[k].g, kViridis[k + 1].g), mix(kViridis[k].b, kViridis[k + 1].b), 255};
}

std::string short_number(double v) {
  const double a = std::abs(v);
  if (a == 0) return "0";
  if (a >= 1e12) return printf_string("%.3gT", v / 1e12);
  if (a >= 1e9) return printf_string("%.3gG", v / 1e9);
  if (a >= 1e6) return printf_string("%.3gM", v / 1e6);
  if (a >= 1e4) return printf_string("%.3gk", v / 1e3);
  if (a >= 0.001) return printf_string("%.4g", v);
  return printf_string("%.1e", v);
}

Canvas render_line_plot(const LinePlot& p, const FigureStyle& s) {
  Canvas c(s.width, s.height, s.window_bg);
  const Font& f = Font::dejavu_sans();
  std::vector<double> xs, ys;
  for (const auto& ser : p.series) {
    xs.insert(xs.end(), ser.x.begin(), ser.x.end());
    ys.insert(ys.end(), ser.y.begin(), ser.y.end());
  }
  const Axis ax = fit_axis(xs, p.log_x), ay = fit_axis(ys, p.log_y);
  const Frame fr = draw_frame(c, p.title, p.x_label, p.y_label, s, 24);
  auto X = [&](double v) { return fr.x0 + ax.map(v) * (fr.x1 - fr.x0); };
  auto Y = [&](double v) { return fr.y1 - ay.map(v) * (fr.y1 - fr.y0); };
  for (double t : ticks(ax)) {
    c.line(X(t), fr.y0, X(t), fr.y1, s.grid, 1);
    f.draw(c, X(t), fr.y1 + 18, short_number(t), s.tick_px, s.text_dim, Align::center);
  }
  for (double t : ticks(ay)) {
    c.line(fr.x0, Y(t), fr.x1, Y(t), s.grid, 1);
    f.draw(c, fr.x0 - 6, Y(t) + 5, short_number(t), s.tick_px, s.text_dim, Align::right);
  }
  c.clip(static_cast<int>(fr.x0), static_cast<int>(fr.y0), static_cast<int>(fr.x1) + 1, static_cast<int>(fr.y1) + 1);
  for (std::size_t k = 0; k < p.series.size(); ++k) {
    const auto& ser = p.series[k];
    const Rgba col = deep_color(ser.color >= 0 ? ser.color : static_cast<int>(k));
    double px = NAN, py = NAN;
    int seg = 0;
    for (std::size_t i = 0; i < std::min(ser.x.size(), ser.y.size()); ++i) {
      const double x = ser.x[i], y = ser.y[i];
      if (!std::isfinite(x) || !std::isfinite(y) || (p.log_x && x <= 0) || (p.log_y && y <= 0)) {
        px = py = NAN;
        continue;
      }
      const double cx = X(x), cy = Y(y);
      if (std::isfinite(px) && (!ser.dashed || (seg++ % 2 == 0))) c.line(px, py, cx, cy, col, 2.0);
      if (ser.markers) c.disc(cx, cy, 3.5, col);
      px = cx;
      py = cy;
    }
  }
  c.clear_clip();
  c.rect_outline(fr.x0, fr.y0, fr.x1, fr.y1, s.border, 1);
  // Legend inside the plot, north-west: ImPlot's default location.
  if (!p.series.empty() && f.available()) {
    double w = 0;
    for (const auto& ser : p.series) w = std::max(w, f.text_width(ser.label, s.tick_px));
    const double lx0 = fr.x0 + 10, ly0 = fr.y0 + 10, lh = 18;
    c.fill_rect(lx0, ly0, lx0 + w + 34, ly0 + lh * p.series.size() + 8, {20, 20, 20, 235});
    c.rect_outline(lx0, ly0, lx0 + w + 34, ly0 + lh * p.series.size() + 8, s.border, 1);
    for (std::size_t k = 0; k < p.series.size(); ++k) {
      const Rgba col = deep_color(p.series[k].color >= 0 ? p.series[k].color : static_cast<int>(k));
      const double y = ly0 + 4 + lh * k;
      c.fill_rect(lx0 + 6, y + 4, lx0 + 18, y + 14, col);
      f.draw(c, lx0 + 24, y + 14, p.series[k].label, s.tick_px, s.text);
    }
  }
  return c;
}

Canvas render_heatmap(const Heatmap& m, const FigureStyle& s) {
  if (m.rows <= 0 || m.cols <= 0 || m.values.size() != static_cast<std::size_t>(m.rows) * m.cols)
    throw Error("heatmap '" + m.title + "' has " + std::to_string(m.values.size()) + " values for " +
                std::to_string(m.rows) + "x" + std::to_string(m.cols) + " cells");
  Canvas c(s.width, s.height, s.window_bg);
  const Font& f = Font::dejavu_sans();
  const bool cat = !m.categories.empty();
  const Frame fr = draw_frame(c, m.title, m.x_label, m.y_label, s, cat ? 150 : 110);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : m.values)
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi <= lo) hi = lo + (lo == 0 ? 1 : std::abs(lo) * 1e-3);
  const double cw = (fr.x1 - fr.x0) / m.cols, ch = (fr.y1 - fr.y0) / m.rows;
  for (int r = 0; r < m.rows; ++r)
    for (int k = 0; k < m.cols; ++k) {
      const double v = m.values[static_cast<std::size_t>(r) * m.cols + k];
      if (!std::isfinite(v)) continue;
      const Rgba col = cat ? deep_color(static_cast<int>(v)) : viridis((v - lo) / (hi - lo));
      // Edges on whole pixels: antialiased fractional edges would leave seams between cells.
      c.fill_rect(std::round(fr.x0 + k * cw), std::round(fr.y0 + r * ch), std::round(fr.x0 + (k + 1) * cw),
                  std::round(fr.y0 + (r + 1) * ch), col);
    }
  c.rect_outline(fr.x0, fr.y0, fr.x1, fr.y1, s.border, 1);
  // Tick labels: at most ~12 per axis.
  auto label_axis = [&](int n, const std::vector<std::string>& names, bool horizontal) {
    const int every = std::max(1, (n + 11) / 12);
    for (int k = 0; k < n; k += every) {
      const std::string t = k < static_cast<int>(names.size()) ? names[k] : std::to_string(k);
      if (horizontal) f.draw(c, fr.x0 + (k + 0.5) * cw, fr.y1 + 18, t, s.tick_px, s.text_dim, Align::center);
      else f.draw(c, fr.x0 - 6, fr.y0 + (k + 0.5) * ch + 5, t, s.tick_px, s.text_dim, Align::right);
    }
  };
  label_axis(m.cols, m.col_names, true);
  label_axis(m.rows, m.row_names, false);
  if (cat) {
    for (std::size_t k = 0; k < m.categories.size(); ++k) {
      const double y = fr.y0 + 6 + 20.0 * k;
      c.fill_rect(fr.x1 + 14, y, fr.x1 + 28, y + 14, deep_color(static_cast<int>(k)));
      f.draw(c, fr.x1 + 34, y + 12, m.categories[k], s.tick_px, s.text);
    }
  } else {
    // Colorbar with min / max labels.
    const double bx0 = fr.x1 + 16, bx1 = bx0 + 18;
    for (int y = static_cast<int>(fr.y0); y < static_cast<int>(fr.y1); ++y)
      c.fill_rect(bx0, y, bx1, y + 1, viridis(1 - (y - fr.y0) / (fr.y1 - fr.y0)));
    c.rect_outline(bx0, fr.y0, bx1, fr.y1, s.border, 1);
    f.draw(c, bx1 + 5, fr.y0 + 10, short_number(hi), s.tick_px, s.text_dim);
    f.draw(c, bx1 + 5, fr.y1, short_number(lo), s.tick_px, s.text_dim);
    if (!m.value_label.empty()) f.draw_vertical(c, bx1 + 60, (fr.y0 + fr.y1) / 2, m.value_label, s.tick_px, s.text);
  }
  return c;
}

}  // namespace skv::reports
