#pragma once
// Report figures drawn on a Canvas in the GUI's look: ImPlot's dark style and its default
// colormaps ("Deep" for lines and tiers, "Viridis" for heatmaps), so an exported figure matches
// what the panel showed.
#include <string>
#include <vector>

#include "core/reports/raster.h"

namespace skv::reports {

// ImPlot's "Deep" colormap (seaborn deep), the default for plot lines.
Rgba deep_color(int index);
// ImPlot's "Viridis" colormap sampled at t in [0, 1] (linear between its 11 keys).
Rgba viridis(double t);

struct FigureStyle {
  Rgba window_bg{15, 15, 15, 255};   // ImGui dark WindowBg (0.06)
  Rgba plot_bg{8, 8, 8, 255};        // ImPlot dark PlotBg: black at 50% over the window
  Rgba frame_bg{30, 30, 30, 255};    // legend box
  Rgba border{110, 110, 128, 128};   // ImGuiCol_Border
  Rgba grid{255, 255, 255, 40};      // axis grid: text color at low alpha
  Rgba text{255, 255, 255, 255};
  Rgba text_dim{200, 200, 200, 255};
  double title_px = 18, label_px = 15, tick_px = 13;
  int width = 960, height = 560;
};

struct LineSeries {
  std::string label;
  std::vector<double> x, y;  // NaN points break nothing: they are skipped
  int color = -1;            // Deep index; -1 = series order
  bool markers = false;
  bool dashed = false;
};

struct LinePlot {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<LineSeries> series;
};

struct Heatmap {
  std::string title, x_label, y_label, value_label;
  int rows = 0, cols = 0;
  std::vector<double> values;  // row-major rows x cols; NaN = no data (drawn as background)
  // Categorical maps (tier codes): value k is drawn in categories[k]'s Deep color with a legend;
  // empty = continuous Viridis with a colorbar.
  std::vector<std::string> categories;
  std::vector<std::string> row_names, col_names;  // optional tick labels (sparse when crowded)
};

Canvas render_line_plot(const LinePlot& plot, const FigureStyle& style = {});
Canvas render_heatmap(const Heatmap& map, const FigureStyle& style = {});

// "1.5k", "2.1M", "0.001" — short tick labels.
std::string short_number(double v);

}  // namespace skv::reports
