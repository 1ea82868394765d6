// Two more chart kinds for experiment reports, in the style of svg_plot.hpp's line plots (one
// self-contained SVG, no fonts or scripts):
//
//   heat_map     a matrix of values as coloured cells with row and column labels and the value
//                printed in each cell (ablation effects by layer and module, say)
//   bar_chart    groups of bars with a legend (accuracy per tier for each model, class shares)
//
//   heat_map map{.title = "KL when ablated", .row_labels = {"L0", "L1"}, .column_labels = {"q", "k"},
//                 .values = {{0.1, 0.02}, {0.3, 0.0}}};
//   write_svg(map, "runs/x/ablation.svg");
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
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

inline void write_svg(const heat_map& map, const std::filesystem::path& path) { detail::write_svg_text(render_svg(map), path); }
inline void write_svg(const bar_chart& chart, const std::filesystem::path& path) { detail::write_svg_text(render_svg(chart), path); }

}  // namespace ranklens::interp
