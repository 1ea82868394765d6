// A small line-plot writer for experiment reports: several series, optional log axes, labelled
// horizontal reference lines, a second y axis on the right, a title, axis labels and a legend
// (under the plot, where it covers nothing),
// as one self-contained SVG file (no fonts, scripts or external references), so a report
// needs no plotting library.
//
//   line_plot plot{.title = "Training loss", .x_label = "step", .y_label = "loss (nats)"};
//   plot.series.push_back({.label = "model", .x = steps, .y = losses});
//   plot.references.push_back({.label = "Bayes", .y = 0.508});
//   write_svg(plot, "runs/icl/loss.svg");
//
// Points with a NaN coordinate are skipped and break the line there. On a log axis every
// plotted value must be positive; anything else is a value_error that names the series and
// the point, since silently dropping it would misrepresent the data.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "ranklens/core/error.hpp"
#include "ranklens/io/atomic_file.hpp"
#include "ranklens/interp/markup_escape.hpp"

namespace ranklens::interp {

struct plot_series {
  std::string label{};
  std::vector<double> x{}, y{};
  bool right_axis = false;  // plotted against the second y axis
  bool dashed = false;
  std::string color{};      // any SVG colour; empty picks from the palette
};

struct reference_line {
  std::string label;
  double y = 0;
  std::string color = "#777777";
};

struct line_plot {
  std::string title, x_label, y_label;
  std::string right_y_label{};  // the second axis appears when a series has right_axis
  bool log_x = false, log_y = false, log_right_y = false;
  std::vector<plot_series> series{};
  std::vector<reference_line> references{};  // on the left y axis
  double width = 760, height = 460;
};

namespace detail {

inline std::string svg_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  return buffer;
}

// A tick label as a person writes it: "0.5", "0.001", "250", "10 000" (thin-space groups, never
// "1e+04"); only beyond a million or below 1e-4 a short power of ten ("2e6", "5e-5").
inline std::string tick_label(double value) {
  char buffer[48];
  const double magnitude = std::abs(value);
  if (magnitude < 1e-12) return "0";
  if (magnitude >= 1e6 || magnitude < 1e-4) {
    std::snprintf(buffer, sizeof buffer, "%.3g", value);
    std::string text = buffer;
    for (const char* long_form : {"e+0", "e+", "e-0"}) {
      const auto at = text.find(long_form);
      if (at != std::string::npos) {
        text.replace(at, std::string(long_form).size(), long_form == std::string("e-0") ? "e-" : "e");
        break;
      }
    }
    return text;
  }
  if (magnitude >= 1000 && std::abs(value - std::round(value)) < 1e-9) {
    const std::string digits = std::to_string(std::llround(magnitude));
    std::string text = value < 0 ? "-" : "";
    for (std::size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0) text += "\u2009";  // thin space
      text += digits[i];
    }
    return text;
  }
  std::snprintf(buffer, sizeof buffer, "%.4g", value);
  return buffer;
}

// About how wide `text` is at font size 12 (sans-serif averages near 0.58 em a character).
inline double text_width(const std::string& text) { return 7.0 * double(text.size()); }

// One axis: the data range, mapped linearly or logarithmically onto [pixel_low, pixel_high].
struct axis_scale {
  bool log = false;
  double low = 0, high = 1;  // in data units
  double pixel_low = 0, pixel_high = 1;

  double transform(double v) const { return log ? std::log10(v) : v; }
  double to_pixel(double v) const {
    const double a = transform(low), b = transform(high);
    return pixel_low + (transform(v) - a) / (b - a) * (pixel_high - pixel_low);
  }

  // Round numbers inside [low, high]: 1-2-5 steps on a linear axis, powers of ten on a log
  // axis (with 2 and 5 between them when the range is short).
  std::vector<double> ticks() const {
    std::vector<double> out;
    if (log) {
      const int first = int(std::floor(std::log10(low))), last = int(std::ceil(std::log10(high)));
      const bool dense = last - first <= 2;
      for (int e = first; e <= last; ++e)
        for (double m : dense ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
          const double v = m * std::pow(10.0, e);
          if (v >= low * (1 - 1e-9) && v <= high * (1 + 1e-9)) out.push_back(v);
        }
      return out;
    }
    const double raw = (high - low) / 6, magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double step = magnitude;
    for (double m : {1.0, 2.0, 5.0, 10.0})
      if (m * magnitude >= raw) {
        step = m * magnitude;
        break;
      }
    for (double v = std::ceil(low / step - 1e-9) * step; v <= high + step * 1e-9; v += step) out.push_back(v);
    return out;
  }
};

inline void check_positive(double value, bool log, const char* axis, const std::string& what, std::size_t point) {
  if (log && !std::isnan(value) && !(value > 0))
    throw value_error("svg_plot: the " + std::string(axis) + " axis is logarithmic, but " + what + " has value " +
                      std::to_string(value) + (point == std::size_t(-1) ? std::string() : " at point " + std::to_string(point)) +
                      "; only positive values can be plotted on it");
}

// The range of `values` padded by 5 % (linear) or to whole 1-2-5 ticks (log); [0, 1] if empty.
inline axis_scale fit_scale(std::vector<double> values, bool log, double pixel_low, double pixel_high) {
  axis_scale scale{log, 0, 1, pixel_low, pixel_high};
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (double v : values)
    if (std::isfinite(v)) low = std::min(low, v), high = std::max(high, v);
  if (!(low <= high)) return log ? axis_scale{log, 1, 10, pixel_low, pixel_high} : scale;
  if (log) {
    if (high <= low) low /= 2, high *= 2;
    const double pad = std::pow(high / low, 0.03);
    scale.low = low / pad, scale.high = high * pad;
  } else {
    if (high <= low) low -= 0.5, high += 0.5;
    const double pad = 0.05 * (high - low);
    scale.low = low - pad, scale.high = high + pad;
  }
  return scale;
}

}  // namespace detail

// The plot as an SVG document.
inline std::string render_svg(const line_plot& plot) {
  using namespace detail;
  static const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
  const bool has_right = std::any_of(plot.series.begin(), plot.series.end(), [](const plot_series& s) { return s.right_axis; });
  const double left = 70, right = plot.width - (has_right ? 70 : 20), top = 40;
  // The legend sits under the x axis label, in as many rows as its entries need, so that it
  // never covers a line or a reference label.
  std::vector<std::pair<double, int>> legend_slots;  // x offset from `left` and row of each entry
  {
    double x_offset = 0;
    int row = 0;
    for (const plot_series& s : plot.series) {
      const double entry = 30 + text_width(s.label + (s.right_axis ? " (right)" : "")) + 18;
      if (x_offset > 0 && x_offset + entry > right - left) x_offset = 0, ++row;
      legend_slots.push_back({x_offset, row});
      x_offset += entry;
    }
  }
  const int legend_rows = legend_slots.empty() ? 0 : legend_slots.back().second + 1;
  const double bottom = plot.height - 55 - 18.0 * legend_rows;


  std::vector<double> xs, ys, right_ys;
  for (const plot_series& s : plot.series) {
    if (s.x.size() != s.y.size())
      throw shape_error("svg_plot: series '" + s.label + "' has " + std::to_string(s.x.size()) + " x values and " +
                        std::to_string(s.y.size()) + " y values");
    const bool log_y = s.right_axis ? plot.log_right_y : plot.log_y;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      check_positive(s.x[i], plot.log_x, "x", "series '" + s.label + "'", i);
      check_positive(s.y[i], log_y, s.right_axis ? "right y" : "y", "series '" + s.label + "'", i);
      xs.push_back(s.x[i]);
      (s.right_axis ? right_ys : ys).push_back(s.y[i]);
    }
  }
  for (const reference_line& r : plot.references) {
    check_positive(r.y, plot.log_y, "y", "reference line '" + r.label + "'", std::size_t(-1));
    ys.push_back(r.y);
  }
  const axis_scale x = fit_scale(xs, plot.log_x, left, right);
  const axis_scale y = fit_scale(ys, plot.log_y, bottom, top);
  const axis_scale y2 = fit_scale(right_ys, plot.log_right_y, bottom, top);

  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    svg_number(plot.width) + "\" height=\"" + svg_number(plot.height) + "\" viewBox=\"0 0 " +
                    svg_number(plot.width) + " " + svg_number(plot.height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + svg_number(plot.width) + "\" height=\"" + svg_number(plot.height) + "\" fill=\"white\"/>\n";
  svg += "<text x=\"" + svg_number(plot.width / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + escape_markup(plot.title) +
         "</text>\n";

  // Grid, ticks and labels.
  for (double t : x.ticks()) {
    const std::string px = svg_number(x.to_pixel(t));
    svg += "<line x1=\"" + px + "\" y1=\"" + svg_number(top) + "\" x2=\"" + px + "\" y2=\"" + svg_number(bottom) +
           "\" stroke=\"#e6e6e6\"/>\n<text x=\"" + px + "\" y=\"" + svg_number(bottom + 16) + "\" text-anchor=\"middle\">" +
           tick_label(t) + "</text>\n";
  }
  for (double t : y.ticks()) {
    const std::string py = svg_number(y.to_pixel(t));
    svg += "<line x1=\"" + svg_number(left) + "\" y1=\"" + py + "\" x2=\"" + svg_number(right) + "\" y2=\"" + py +
           "\" stroke=\"#e6e6e6\"/>\n<text x=\"" + svg_number(left - 6) + "\" y=\"" + svg_number(y.to_pixel(t) + 4) +
           "\" text-anchor=\"end\">" + tick_label(t) + "</text>\n";
  }
  if (has_right)
    for (double t : y2.ticks())
      svg += "<text x=\"" + svg_number(right + 6) + "\" y=\"" + svg_number(y2.to_pixel(t) + 4) + "\" text-anchor=\"start\">" +
             tick_label(t) + "</text>\n";
  svg += "<rect x=\"" + svg_number(left) + "\" y=\"" + svg_number(top) + "\" width=\"" + svg_number(right - left) + "\" height=\"" +
         svg_number(bottom - top) + "\" fill=\"none\" stroke=\"black\"/>\n";
  svg += "<text x=\"" + svg_number((left + right) / 2) + "\" y=\"" + svg_number(bottom + 38) + "\" text-anchor=\"middle\">" +
         escape_markup(plot.x_label) + (plot.log_x ? " (log)" : "") + "</text>\n";
  svg += "<text x=\"16\" y=\"" + svg_number((top + bottom) / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
         svg_number((top + bottom) / 2) + ")\">" + escape_markup(plot.y_label) + (plot.log_y ? " (log)" : "") + "</text>\n";
  if (has_right)
    svg += "<text x=\"" + svg_number(plot.width - 14) + "\" y=\"" + svg_number((top + bottom) / 2) +
           "\" text-anchor=\"middle\" transform=\"rotate(90 " + svg_number(plot.width - 14) + " " + svg_number((top + bottom) / 2) +
           ")\">" + escape_markup(plot.right_y_label) + (plot.log_right_y ? " (log)" : "") + "</text>\n";

  // Reference labels sit above their line at the right end; one that would overlap a label
  // already placed moves to the left end, then below its line.
  std::vector<std::pair<double, bool>> placed;  // baseline and side (true: right) of each label
  const auto free_at = [&](double baseline, bool right_side) {
    return std::none_of(placed.begin(), placed.end(),
                        [&](const auto& p) { return p.second == right_side && std::abs(p.first - baseline) < 13; });
  };
  for (const reference_line& r : plot.references) {
    const double py = y.to_pixel(r.y);
    double baseline = py - 3;
    bool right_side = true;
    if (!free_at(baseline, true)) {
      if (free_at(baseline, false))
        right_side = false;
      else
        baseline = py + 13;
    }
    placed.push_back({baseline, right_side});
    svg += "<line x1=\"" + svg_number(left) + "\" y1=\"" + svg_number(py) + "\" x2=\"" + svg_number(right) + "\" y2=\"" + svg_number(py) +
           "\" stroke=\"" + escape_markup(r.color) + "\" stroke-dasharray=\"2 3\"/>\n<text x=\"" + svg_number(right_side ? right - 4 : left + 4) +
           "\" y=\"" + svg_number(baseline) + "\" text-anchor=\"" + (right_side ? "end" : "start") + "\" fill=\"" + escape_markup(r.color) +
           "\">" + escape_markup(r.label) + "</text>\n";
  }

  // One polyline per unbroken run of points, clipped to the frame.
  svg += "<clipPath id=\"frame\"><rect x=\"" + svg_number(left) + "\" y=\"" + svg_number(top) + "\" width=\"" +
         svg_number(right - left) + "\" height=\"" + svg_number(bottom - top) + "\"/></clipPath>\n";
  for (std::size_t k = 0; k < plot.series.size(); ++k) {
    const plot_series& s = plot.series[k];
    const std::string color = s.color.empty() ? palette[k % 8] : s.color;
    const axis_scale& sy = s.right_axis ? y2 : y;
    std::string points;
    auto flush = [&] {
      if (!points.empty())
        svg += "<polyline clip-path=\"url(#frame)\" fill=\"none\" stroke=\"" + escape_markup(color) + "\" stroke-width=\"1.6\"" +
               (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"" + points + "\"/>\n";
      points.clear();
    };
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        flush();
        continue;
      }
      if (!points.empty()) points += ' ';
      points += svg_number(x.to_pixel(s.x[i])) + "," + svg_number(sy.to_pixel(s.y[i]));
    }
    flush();
    // Legend entry, under the x axis label.
    const double lx = left + legend_slots[k].first, ly = bottom + 60 + 18 * double(legend_slots[k].second);
    svg += "<line x1=\"" + svg_number(lx) + "\" y1=\"" + svg_number(ly - 4) + "\" x2=\"" + svg_number(lx + 24) + "\" y2=\"" +
           svg_number(ly - 4) + "\" stroke=\"" + escape_markup(color) + "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6 4\"" : "") +
           "/>\n<text x=\"" + svg_number(lx + 30) + "\" y=\"" + svg_number(ly) + "\">" + escape_markup(s.label) +
           (s.right_axis ? " (right)" : "") + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

namespace detail {

// Writes `svg` to `path` atomically (io/atomic_file.hpp), so a reader (a browser refreshing the
// report) never sees half a file; parent directories are created.
inline void write_svg_text(const std::string& svg, const std::filesystem::path& path) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  io::write_text_atomically(path, svg);
}

}  // namespace detail

inline void write_svg(const line_plot& plot, const std::filesystem::path& path) { detail::write_svg_text(render_svg(plot), path); }

}  // namespace ranklens::interp
