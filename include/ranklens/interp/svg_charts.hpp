// Two more chart kinds for experiment reports, in the style of svg_plot.hpp's line plots (one
// self-contained SVG, no fonts or scripts):
//
//   heat_map     a matrix of values as coloured cells with row and column labels and the value
//                printed in each cell (ablation effects by layer and module, say)
//   bar_chart    groups of bars with a legend (accuracy per tier for each model, class shares)
//   donut_chart  rings side by side, each split into the shares of the same categories (which
//                kinds of token a set of features responds to, as the rank-1 LoRA paper's
//                donut charts)
//
//   heat_map map{.title = "KL when ablated", .row_labels = {"L0", "L1"}, .column_labels = {"q", "k"},
//                 .values = {{0.1, 0.02}, {0.3, 0.0}}};
//   write_svg(map, "runs/x/ablation.svg");
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <string>
#include <vector>

#include "ranklens/interp/svg_plot.hpp"

namespace ranklens::interp {

struct heat_map {
  std::string title{}, row_axis_label{}, column_axis_label{}, value_label{};
  std::vector<std::string> row_labels{}, column_labels{};
  std::vector<std::vector<double>> values{};  // [row][column]; NaN cells stay blank
  std::string value_format = "%.3g";
  double cell_width = 64, cell_height = 34;
};

struct bar_group {
  std::string label{};           // under the group
  std::vector<double> values{};  // one per series
};

struct bar_chart {
  std::string title{}, y_label{};
  std::vector<std::string> series_labels{};  // the legend, one per bar of each group
  std::vector<bar_group> groups{};
  std::vector<reference_line> references{};
  double y_min = 0;
  double y_max = NAN;  // NaN: from the data
  std::string value_format = "%.2g";  // printed above each bar; empty: none
  double width = 760, height = 420;
};

struct donut {
  std::string label{};          // under the ring
  std::string center_text{};    // inside it ("224 latents")
  std::vector<double> shares{};  // one per category, >= 0; drawn as fractions of their sum
};

struct donut_chart {
  std::string title{};
  std::vector<std::string> category_labels{};  // the legend, one per share of each ring
  std::vector<donut> donuts{};
  std::string share_format = "%.0f%%";  // printed on segments of at least min_labelled_share
  double min_labelled_share = 0.04;
  double radius = 95, hole = 0.55;      // hole: the inner radius as a fraction of radius
};

namespace detail {

inline std::string formatted(const std::string& format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format.c_str(), value);
  return buffer;
}

inline std::string svg_header(double width, double height) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + svg_number(width) +
         "\" height=\"" + svg_number(height) + "\" viewBox=\"0 0 " + svg_number(width) + " " + svg_number(height) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect x=\"0\" y=\"0\" width=\"" + svg_number(width) + "\" height=\"" +
         svg_number(height) + "\" fill=\"white\"/>\n";
}

// White through orange to dark red, for t in [0, 1].
inline std::string heat_color(double t) {
  t = std::clamp(t, 0.0, 1.0);
  const int r = int(255 - 75 * t * t), g = int(255 - 225 * t), b = int(255 - 235 * std::sqrt(t));
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", std::clamp(r, 0, 255), std::clamp(g, 0, 255), std::clamp(b, 0, 255));
  return buffer;
}

}  // namespace detail

inline std::string render_svg(const heat_map& map) {
  using namespace detail;
  const std::size_t rows = map.row_labels.size(), columns = map.column_labels.size();
  if (map.values.size() != rows)
    throw shape_error("heat_map: " + std::to_string(map.values.size()) + " rows of values for " + std::to_string(rows) + " row labels");
  double high = 0;
  for (const auto& row : map.values) {
    if (row.size() != columns)
      throw shape_error("heat_map: a row of " + std::to_string(row.size()) + " values for " + std::to_string(columns) + " column labels");
    for (double v : row)
      if (std::isfinite(v)) high = std::max(high, v);
  }
  const double left = 90, top = 60, width = left + map.cell_width * double(columns) + 30,
               height = top + map.cell_height * double(rows) + 60;
  std::string svg = svg_header(width, height);
  svg += "<text x=\"" + svg_number(width / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + escape_markup(map.title) + "</text>\n";
  if (!map.value_label.empty())
    svg += "<text x=\"" + svg_number(width / 2) + "\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">" + escape_markup(map.value_label) +
           " (darker: larger; largest " + escape_markup(formatted(map.value_format, high)) + ")</text>\n";
  for (std::size_t c = 0; c < columns; ++c)
    svg += "<text x=\"" + svg_number(left + map.cell_width * (double(c) + 0.5)) + "\" y=\"" + svg_number(top - 6) +
           "\" text-anchor=\"middle\">" + escape_markup(map.column_labels[c]) + "</text>\n";
  for (std::size_t r = 0; r < rows; ++r) {
    const double y = top + map.cell_height * double(r);
    svg += "<text x=\"" + svg_number(left - 8) + "\" y=\"" + svg_number(y + map.cell_height / 2 + 4) + "\" text-anchor=\"end\">" +
           escape_markup(map.row_labels[r]) + "</text>\n";
    for (std::size_t c = 0; c < columns; ++c) {
      const double v = map.values[r][c], x = left + map.cell_width * double(c);
      const double t = high > 0 && std::isfinite(v) ? v / high : 0;
      svg += "<rect x=\"" + svg_number(x) + "\" y=\"" + svg_number(y) + "\" width=\"" + svg_number(map.cell_width) + "\" height=\"" +
             svg_number(map.cell_height) + "\" fill=\"" + (std::isfinite(v) ? heat_color(t) : std::string("#f4f4f4")) +
             "\" stroke=\"white\"/>\n";
      if (std::isfinite(v))
        svg += "<text x=\"" + svg_number(x + map.cell_width / 2) + "\" y=\"" + svg_number(y + map.cell_height / 2 + 4) +
               "\" text-anchor=\"middle\" fill=\"" + (t > 0.6 ? "white" : "black") + "\">" + escape_markup(formatted(map.value_format, v)) +
               "</text>\n";
    }
  }
  if (!map.column_axis_label.empty())
    svg += "<text x=\"" + svg_number(left + map.cell_width * double(columns) / 2) + "\" y=\"" + svg_number(height - 18) +
           "\" text-anchor=\"middle\">" + escape_markup(map.column_axis_label) + "</text>\n";
  if (!map.row_axis_label.empty())
    svg += "<text x=\"16\" y=\"" + svg_number(top + map.cell_height * double(rows) / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
           svg_number(top + map.cell_height * double(rows) / 2) + ")\">" + escape_markup(map.row_axis_label) + "</text>\n";
  return svg + "</svg>\n";
}

inline std::string render_svg(const bar_chart& chart) {
  using namespace detail;
  static const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
  const std::size_t series = chart.series_labels.size();
  double high = chart.y_min;
  for (const auto& group : chart.groups) {
    if (group.values.size() != series)
      throw shape_error("bar_chart: group '" + group.label + "' has " + std::to_string(group.values.size()) + " values for " +
                        std::to_string(series) + " series");
    for (double v : group.values)
      if (std::isfinite(v)) high = std::max(high, v);
  }
  for (const auto& r : chart.references) high = std::max(high, r.y);
  if (std::isfinite(chart.y_max)) high = chart.y_max;
  if (!(high > chart.y_min)) high = chart.y_min + 1;
  // The legend sits in a band of its own above the plot, so it never covers a bar; entries are
  // packed by the width of their labels, in as many rows as they need.
  const double left = 64, right = chart.width - 20;
  std::vector<std::pair<double, int>> legend_slots;  // x offset from `left` and row of each entry
  {
    double x_offset = 0;
    int row = 0;
    for (std::size_t s = 0; s < series; ++s) {
      const double entry = 16 + text_width(chart.series_labels[s]) + 18;
      if (x_offset > 0 && x_offset + entry > right - left) x_offset = 0, ++row;
      legend_slots.push_back({x_offset, row});
      x_offset += entry;
    }
  }
  const double legend_rows = legend_slots.empty() ? 0 : legend_slots.back().second + 1;
  const double top = 40 + 18 * legend_rows, bottom = chart.height - 50;
  const auto to_y = [&](double v) { return bottom - (std::clamp(v, chart.y_min, high) - chart.y_min) / (high - chart.y_min) * (bottom - top); };
  std::string svg = svg_header(chart.width, chart.height);
  svg += "<text x=\"" + svg_number(chart.width / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">" + escape_markup(chart.title) + "</text>\n";
  for (std::size_t s = 0; s < series; ++s) {
    const double x = left + legend_slots[s].first, y = 36 + 18 * double(legend_slots[s].second);
    svg += "<rect x=\"" + svg_number(x) + "\" y=\"" + svg_number(y - 9) + "\" width=\"12\" height=\"10\" fill=\"" + palette[s % 8] +
           "\"/>\n<text x=\"" + svg_number(x + 16) + "\" y=\"" + svg_number(y) + "\">" + escape_markup(chart.series_labels[s]) + "</text>\n";
  }
  // Five horizontal grid lines with plain tick labels.
  for (int i = 0; i <= 4; ++i) {
    const double v = chart.y_min + (high - chart.y_min) * i / 4.0, y = to_y(v);
    svg += "<line x1=\"" + svg_number(left) + "\" y1=\"" + svg_number(y) + "\" x2=\"" + svg_number(right) + "\" y2=\"" + svg_number(y) +
           "\" stroke=\"#e6e6e6\"/>\n<text x=\"" + svg_number(left - 6) + "\" y=\"" + svg_number(y + 4) + "\" text-anchor=\"end\">" +
           tick_label(v) + "</text>\n";
  }
  const double group_width = (right - left) / double(std::max<std::size_t>(chart.groups.size(), 1));
  const double bar_width = group_width * 0.8 / double(std::max<std::size_t>(series, 1));
  for (std::size_t g = 0; g < chart.groups.size(); ++g) {
    const double x0 = left + group_width * double(g) + group_width * 0.1;
    for (std::size_t s = 0; s < series; ++s) {
      const double v = chart.groups[g].values[s];
      if (!std::isfinite(v)) continue;
      const double x = x0 + bar_width * double(s), y = to_y(v);
      svg += "<rect x=\"" + svg_number(x) + "\" y=\"" + svg_number(y) + "\" width=\"" + svg_number(bar_width * 0.92) + "\" height=\"" +
             svg_number(bottom - y) + "\" fill=\"" + palette[s % 8] + "\"/>\n";
      if (!chart.value_format.empty() && bar_width >= 22)
        svg += "<text x=\"" + svg_number(x + bar_width * 0.46) + "\" y=\"" + svg_number(y - 3) + "\" text-anchor=\"middle\" font-size=\"10\">" +
               escape_markup(formatted(chart.value_format, v)) + "</text>\n";
    }
    svg += "<text x=\"" + svg_number(left + group_width * (double(g) + 0.5)) + "\" y=\"" + svg_number(bottom + 16) +
           "\" text-anchor=\"middle\">" + escape_markup(chart.groups[g].label) + "</text>\n";
  }
  for (const auto& r : chart.references) {
    const double y = to_y(r.y);
    svg += "<line x1=\"" + svg_number(left) + "\" y1=\"" + svg_number(y) + "\" x2=\"" + svg_number(right) + "\" y2=\"" + svg_number(y) +
           "\" stroke=\"" + escape_markup(r.color) + "\" stroke-dasharray=\"4 3\"/>\n<text x=\"" + svg_number(right - 4) + "\" y=\"" +
           svg_number(y - 3) + "\" text-anchor=\"end\" fill=\"" + escape_markup(r.color) + "\">" + escape_markup(r.label) + "</text>\n";
  }
  svg += "<line x1=\"" + svg_number(left) + "\" y1=\"" + svg_number(bottom) + "\" x2=\"" + svg_number(right) + "\" y2=\"" +
         svg_number(bottom) + "\" stroke=\"black\"/>\n";
  svg += "<text x=\"16\" y=\"" + svg_number((top + bottom) / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
         svg_number((top + bottom) / 2) + ")\">" + escape_markup(chart.y_label) + "</text>\n";
  return svg + "</svg>\n";
}

inline std::string render_svg(const donut_chart& chart) {
  using namespace detail;
  static const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                                        "#bcbd22", "#7f7f7f"};
  constexpr std::size_t colours = std::size(palette);
  const std::size_t categories = chart.category_labels.size();
  if (!(chart.radius > 0) || !(chart.hole >= 0 && chart.hole < 1))
    throw value_error("donut_chart: radius must be positive and hole in [0, 1), got " + std::to_string(chart.radius) + " and " +
                      std::to_string(chart.hole));
  for (const auto& ring : chart.donuts) {
    if (ring.shares.size() != categories)
      throw shape_error("donut_chart: ring '" + ring.label + "' has " + std::to_string(ring.shares.size()) + " shares for " +
                        std::to_string(categories) + " categories");
    for (std::size_t c = 0; c < categories; ++c)
      if (!std::isfinite(ring.shares[c]) || ring.shares[c] < 0)
        throw value_error("donut_chart: ring '" + ring.label + "', category '" + chart.category_labels[c] + "': share " +
                          std::to_string(ring.shares[c]) + " is not a finite number >= 0");
  }
  constexpr double pi = 3.14159265358979323846;
  const double cell = 2 * chart.radius + 60, width = std::max(360.0, cell * double(std::max<std::size_t>(chart.donuts.size(), 1)));
  // The legend: entries packed by the width of their labels, in as many rows as they need.
  std::vector<std::pair<double, int>> legend_slots;
  {
    double x_offset = 0;
    int row = 0;
    for (std::size_t c = 0; c < categories; ++c) {
      const double entry = 16 + text_width(chart.category_labels[c]) + 18;
      if (x_offset > 0 && x_offset + entry > width - 40) x_offset = 0, ++row;
      legend_slots.push_back({x_offset, row});
      x_offset += entry;
    }
  }
  const double legend_rows = legend_slots.empty() ? 0 : legend_slots.back().second + 1;
  const double top = 40 + 18 * legend_rows + 10, height = top + 2 * chart.radius + 40;
  std::string svg = svg_header(width, height);
  svg += "<text x=\"" + svg_number(width / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">" + escape_markup(chart.title) + "</text>\n";
  for (std::size_t c = 0; c < categories; ++c) {
    const double x = 20 + legend_slots[c].first, y = 40 + 18 * double(legend_slots[c].second);
    svg += "<rect x=\"" + svg_number(x) + "\" y=\"" + svg_number(y - 9) + "\" width=\"12\" height=\"10\" fill=\"" + palette[c % colours] +
           "\"/>\n<text x=\"" + svg_number(x + 16) + "\" y=\"" + svg_number(y) + "\">" + escape_markup(chart.category_labels[c]) + "</text>\n";
  }
  const double outer = chart.radius, inner = chart.radius * chart.hole;
  const auto point = [](double cx, double cy, double r, double angle) {
    return svg_number(cx + r * std::sin(angle)) + " " + svg_number(cy - r * std::cos(angle));  // clockwise from 12 o'clock
  };
  for (std::size_t d = 0; d < chart.donuts.size(); ++d) {
    const donut& ring = chart.donuts[d];
    const double cx = cell * (double(d) + 0.5) + (width - cell * double(chart.donuts.size())) / 2, cy = top + outer;
    double total = 0;
    for (double v : ring.shares) total += v;
    if (!(total > 0)) {
      svg += "<circle cx=\"" + svg_number(cx) + "\" cy=\"" + svg_number(cy) + "\" r=\"" + svg_number((outer + inner) / 2) +
             "\" fill=\"none\" stroke=\"#e6e6e6\" stroke-width=\"" + svg_number(outer - inner) + "\"/>\n";
    }
    double start = 0;
    for (std::size_t c = 0; total > 0 && c < categories; ++c) {
      const double fraction = ring.shares[c] / total;
      if (fraction <= 0) continue;
      const double end = start + 2 * pi * fraction;
      // An SVG arc cannot close a full circle: draw a segment in pieces of at most half a turn.
      for (double a0 = start; a0 < end - 1e-12;) {
        const double a1 = std::min(end, a0 + pi);
        svg += "<path d=\"M " + point(cx, cy, outer, a0) + " A " + svg_number(outer) + " " + svg_number(outer) + " 0 0 1 " +
               point(cx, cy, outer, a1) + " L " + point(cx, cy, inner, a1) + " A " + svg_number(inner) + " " + svg_number(inner) +
               " 0 0 0 " + point(cx, cy, inner, a0) + " Z\" fill=\"" + palette[c % colours] + "\" stroke=\"white\" stroke-width=\"0.5\"/>\n";
        a0 = a1;
      }
      if (fraction >= chart.min_labelled_share && !chart.share_format.empty()) {
        const double mid = (start + end) / 2, r = (outer + inner) / 2;
        svg += "<text x=\"" + svg_number(cx + r * std::sin(mid)) + "\" y=\"" + svg_number(cy - r * std::cos(mid) + 4) +
               "\" text-anchor=\"middle\" font-size=\"10\" fill=\"white\">" + escape_markup(formatted(chart.share_format, 100 * fraction)) +
               "</text>\n";
      }
      start = end;
    }
    if (!ring.center_text.empty())
      svg += "<text x=\"" + svg_number(cx) + "\" y=\"" + svg_number(cy + 4) + "\" text-anchor=\"middle\">" + escape_markup(ring.center_text) +
             "</text>\n";
    svg += "<text x=\"" + svg_number(cx) + "\" y=\"" + svg_number(cy + outer + 22) + "\" text-anchor=\"middle\">" + escape_markup(ring.label) +
           "</text>\n";
  }
  return svg + "</svg>\n";
}

inline void write_svg(const heat_map& map, const std::filesystem::path& path) { detail::write_svg_text(render_svg(map), path); }
inline void write_svg(const bar_chart& chart, const std::filesystem::path& path) { detail::write_svg_text(render_svg(chart), path); }
inline void write_svg(const donut_chart& chart, const std::filesystem::path& path) { detail::write_svg_text(render_svg(chart), path); }

}  // namespace ranklens::interp
