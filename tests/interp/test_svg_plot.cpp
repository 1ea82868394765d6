#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "ranklens/interp/markup_escape.hpp"
#include "ranklens/interp/svg_charts.hpp"
#include "ranklens/interp/svg_plot.hpp"

namespace interp_test_svg_plot {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Checks that every element is closed in order (a minimal XML well-formedness check: tags
// nest, no stray '<' or '&' in text) and returns the element names in document order.
std::vector<std::string> element_names(const std::string& svg) {
  std::vector<std::string> open, names;
  std::size_t at = 0;
  if (svg.rfind("<?xml", 0) == 0) at = svg.find("?>") + 2;
  while ((at = svg.find('<', at)) != std::string::npos) {
    const std::size_t end = svg.find('>', at);
    REQUIRE(end != std::string::npos);
    const std::string tag = svg.substr(at + 1, end - at - 1);
    REQUIRE(tag.find('<') == std::string::npos);
    if (tag[0] == '/') {
      REQUIRE_FALSE(open.empty());
      CHECK(open.back() == tag.substr(1));
      open.pop_back();
    } else {
      const std::string name = tag.substr(0, tag.find_first_of(" />"));
      names.push_back(name);
      if (tag.back() != '/') open.push_back(name);
    }
    // Text up to the next tag holds only escaped ampersands.
    const std::size_t next = svg.find('<', end);
    const std::string text = svg.substr(end + 1, next == std::string::npos ? std::string::npos : next - end - 1);
    for (std::size_t amp = text.find('&'); amp != std::string::npos; amp = text.find('&', amp + 1))
      CHECK((text.compare(amp, 5, "&amp;") == 0 || text.compare(amp, 4, "&lt;") == 0 || text.compare(amp, 4, "&gt;") == 0));
    at = end + 1;
  }
  CHECK(open.empty());
  return names;
}

interp::line_plot example_plot() {
  interp::line_plot plot{.title = "loss & score <k=2>", .x_label = "step", .y_label = "loss", .right_y_label = "score"};
  plot.series.push_back({.label = "model", .x = {0, 100, 200, 300}, .y = {0.69, 0.58, 0.58, 0.51}});
  plot.series.push_back({.label = "induction", .x = {0, 100, 200, 300}, .y = {0.5, 0.5, 0.9, 1.0}, .right_axis = true, .dashed = true});
  plot.references.push_back({.label = "Bayes", .y = 0.508});
  plot.references.push_back({.label = "unigram", .y = 0.578});
  return plot;
}

}  // namespace

TEST_CASE("an SVG plot is a well-formed document with one line per series and per reference level", "[interp][svg]") {
  const std::string svg = interp::render_svg(example_plot());
  const auto names = element_names(svg);
  REQUIRE_FALSE(names.empty());
  CHECK(names.front() == "svg");
  CHECK(svg.find("xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  CHECK(count(svg, "<polyline") == 2);                  // one per series
  CHECK(count(svg, "stroke-dasharray=\"2 3\"") == 2);  // one dotted line per reference level
  CHECK(svg.find("loss &amp; score &lt;k=2&gt;") != std::string::npos);
  CHECK(svg.find(">Bayes</text>") != std::string::npos);
  CHECK(svg.find(">unigram</text>") != std::string::npos);
  CHECK(svg.find(">induction (right)</text>") != std::string::npos);
  CHECK(svg.find(">score</text>") != std::string::npos);    // the second axis' label
  CHECK(svg.find("stroke-dasharray=\"6 4\"") != std::string::npos);
}

TEST_CASE("a NaN point breaks a series into two lines", "[interp][svg]") {
  interp::line_plot plot{.title = "t", .x_label = "x", .y_label = "y"};
  plot.series.push_back({.label = "gappy", .x = {1, 2, 3, 4, 5}, .y = {1, 2, std::nan(""), 4, 5}});
  const std::string svg = interp::render_svg(plot);
  element_names(svg);
  CHECK(count(svg, "<polyline") == 2);
  CHECK(svg.find("nan") == std::string::npos);
}

TEST_CASE("log axes place decades evenly and reject values that are not positive", "[interp][svg]") {
  interp::line_plot plot{.title = "excess", .x_label = "t", .y_label = "nats", .log_x = true, .log_y = true};
  plot.series.push_back({.label = "1/t", .x = {1, 10, 100, 1000}, .y = {1, 0.1, 0.01, 0.001}});
  const std::string svg = interp::render_svg(plot);
  element_names(svg);
  CHECK(svg.find(">100</text>") != std::string::npos);
  CHECK(svg.find(">0.01</text>") != std::string::npos);
  // A straight line on log-log axes: the four points are equally spaced in both pixel coordinates.
  const std::size_t at = svg.find("points=\"") + 8;
  std::istringstream points(svg.substr(at, svg.find('"', at) - at));
  std::vector<double> px, py;
  double a = 0, b = 0;
  char comma = 0;
  while (points >> a >> comma >> b) px.push_back(a), py.push_back(b);
  REQUIRE(px.size() == 4);
  CHECK(px[1] - px[0] == Approx(px[3] - px[2]).margin(0.02));
  CHECK(py[1] - py[0] == Approx(py[3] - py[2]).margin(0.02));

  plot.series[0].y[2] = 0;
  CHECK_THROWS_WITH(interp::render_svg(plot), Catch::Contains("y axis is logarithmic") && Catch::Contains("series '1/t'") &&
                                                  Catch::Contains("point 2"));
  plot.series[0].y[2] = 0.01;
  plot.series[0].x[0] = -1;
  CHECK_THROWS_AS(interp::render_svg(plot), value_error);
  plot.series[0].x[0] = 1;
  plot.references.push_back({.label = "zero", .y = 0});
  CHECK_THROWS_WITH(interp::render_svg(plot), Catch::Contains("reference line 'zero'"));
}

TEST_CASE("series with unequal x and y lengths are rejected", "[interp][svg]") {
  interp::line_plot plot{.title = "t", .x_label = "x", .y_label = "y"};
  plot.series.push_back({.label = "bad", .x = {1, 2}, .y = {1}});
  CHECK_THROWS_AS(interp::render_svg(plot), shape_error);
}

TEST_CASE("write_svg creates the directory and leaves exactly the rendered file, no temporary", "[interp][svg]") {
  const auto dir = std::filesystem::temp_directory_path() / ("ranklens_svg_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto path = dir / "nested" / "plot.svg";
  interp::write_svg(example_plot(), path);
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  CHECK(contents.str() == interp::render_svg(example_plot()));
  CHECK(std::distance(std::filesystem::directory_iterator(path.parent_path()), std::filesystem::directory_iterator{}) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("A heat map shows every cell's value with its row and column labels, blank where NaN", "[interp][svg]") {
  interp::heat_map map{.title = "KL & more", .row_axis_label = "layer", .column_axis_label = "projection",
                       .row_labels = {"L0", "L1"}, .column_labels = {"q", "gate"}, .values = {{0.5, std::nan("")}, {0.125, 2.0}}};
  const std::string svg = interp::render_svg(map);
  element_names(svg);  // well-formed
  CHECK(svg.find("KL &amp; more") != std::string::npos);
  for (const char* text : {">L0<", ">L1<", ">q<", ">gate<", ">0.5<", ">0.125<", ">2<"}) CHECK(svg.find(text) != std::string::npos);
  CHECK(count(svg, "<rect") == 1 + 4);  // the background and four cells
  CHECK(count(svg, "#f4f4f4") == 1);    // the NaN cell, blank
  map.values.pop_back();
  CHECK_THROWS_AS(interp::render_svg(map), shape_error);
}

TEST_CASE("A bar chart draws one bar per series and group, its legend above the plot", "[interp][svg]") {
  interp::bar_chart chart{.title = "accuracy", .y_label = "exact match", .series_labels = {"base", "full", "rank 1"},
                          .groups = {{"2 ops", {0.4, 0.9, 0.85}}, {"6 ops", {0.2, 0.8, std::nan("")}}}, .y_max = 1.0};
  const std::string svg = interp::render_svg(chart);
  element_names(svg);
  CHECK(count(svg, "<rect") == 1 + 3 + 5);  // background, three legend swatches, five finite bars
  for (const char* text : {">base<", ">rank 1<", ">2 ops<", ">6 ops<"}) CHECK(svg.find(text) != std::string::npos);
  chart.groups[1].values.pop_back();
  CHECK_THROWS_WITH(interp::render_svg(chart), Catch::Contains("group '6 ops' has 2 values for 3 series"));
}

TEST_CASE("tick labels read as a person writes numbers", "[interp][svg]") {
  CHECK(interp::detail::tick_label(0.5) == "0.5");
  CHECK(interp::detail::tick_label(250) == "250");
  CHECK(interp::detail::tick_label(10000) == "10\u2009000");
  CHECK(interp::detail::tick_label(-2500) == "-2\u2009500");
  CHECK(interp::detail::tick_label(2e6) == "2e6");
  CHECK(interp::detail::tick_label(5e-5) == "5e-5");
  CHECK(interp::detail::tick_label(1e-15) == "0");
  interp::line_plot plot{.title = "t", .x_label = "step", .y_label = "loss"};
  plot.series.push_back({.label = "loss", .x = {0, 20000}, .y = {1, 2}});
  CHECK(interp::render_svg(plot).find("e+") == std::string::npos);
}

TEST_CASE("the legend sits under the plot and reference labels do not overlap", "[interp][svg]") {
  interp::line_plot plot{.title = "t", .x_label = "x", .y_label = "y", .width = 400};
  for (int k = 0; k < 6; ++k)
    plot.series.push_back({.label = "a fairly long series name " + std::to_string(k), .x = {0, 1}, .y = {0.0 + k, 1.0 + k}});
  plot.references.push_back({.label = "Bayes", .y = 2.0});
  plot.references.push_back({.label = "add-alpha", .y = 2.01});  // a pixel apart
  plot.references.push_back({.label = "exact", .y = 2.02});
  const std::string svg = interp::render_svg(plot);
  element_names(svg);
  // The frame's bottom edge, then every legend label below it.
  const auto frame_at = svg.find("fill=\"none\" stroke=\"black\"");
  REQUIRE(frame_at != std::string::npos);
  const auto rect_at = svg.rfind("<rect", frame_at);
  const auto number_after = [&](const std::string& key, std::size_t from) {
    const auto at = svg.find(key, from) + key.size();
    return std::stod(svg.substr(at, svg.find('"', at) - at));
  };
  const double frame_bottom = number_after("y=\"", rect_at) + number_after("height=\"", rect_at);
  for (int k = 0; k < 6; ++k) {
    const auto label_at = svg.find(">a fairly long series name " + std::to_string(k) + "<");
    REQUIRE(label_at != std::string::npos);
    const auto text_at = svg.rfind("<text", label_at);
    CHECK(number_after("y=\"", text_at) > frame_bottom + 30);  // below the x axis label
  }
  // The three labels: two at the right end would overlap, so they take other places.
  std::vector<std::pair<std::string, double>> labels;
  for (const char* name : {">Bayes<", ">add-alpha<", ">exact<"}) {
    const auto text_at = svg.rfind("<text", svg.find(name));
    labels.push_back({svg.substr(svg.find("text-anchor=\"", text_at) + 13, 3), number_after("y=\"", text_at)});
  }
  for (std::size_t i = 0; i < labels.size(); ++i)
    for (std::size_t j = i + 1; j < labels.size(); ++j)
      CHECK((labels[i].first != labels[j].first || std::abs(labels[i].second - labels[j].second) >= 13));
}

TEST_CASE("a bar chart's legend entries do not overlap, however long their labels", "[interp][svg]") {
  interp::bar_chart chart{.title = "classes", .y_label = "share",
                          .series_labels = {"trained adapters", "untrained adapters (initial A)", "MLP neurons (up_proj)",
                                            "SAE latents on the adapter state"},
                          .groups = {{"mono", {0.4, 0.5, 0.4, 0.5}}}, .y_max = 1.0};
  const std::string svg = interp::render_svg(chart);
  element_names(svg);
  // Each label's estimated extent (x, row) ends before the next entry of its row starts, and
  // inside the chart.
  struct Entry { double x, y, end; };
  std::vector<Entry> entries;
  for (const auto& label : chart.series_labels) {
    const auto at = svg.rfind("<text", svg.find(">" + label + "<"));
    const auto number_after = [&](const std::string& key) {
      const auto p = svg.find(key, at) + key.size();
      return std::stod(svg.substr(p, svg.find('"', p) - p));
    };
    const double x = number_after("x=\"");
    entries.push_back({x, number_after("y=\""), x + interp::detail::text_width(label)});
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    CHECK(entries[i].end <= chart.width);
    for (std::size_t j = i + 1; j < entries.size(); ++j)
      if (entries[i].y == entries[j].y) CHECK(entries[i].end < entries[j].x);
  }
}

TEST_CASE("a donut chart splits each ring by its shares, clockwise from the top", "[interp][svg]") {
  interp::donut_chart chart{.title = "what the features respond to", .category_labels = {"digits", "operators", "markers", "other"},
                            .donuts = {{"SAE latents", "224 latents", {2, 1, 1, 0}}, {"one kind", "", {0, 0, 3, 0}}, {"none", "", {0, 0, 0, 0}}}};
  const std::string svg = interp::render_svg(chart);
  element_names(svg);
  // Ring 1: a half (one piece), two quarters; the empty category draws nothing. Ring 2: one
  // category whole, drawn as two half turns. Ring 3: no data, a grey ring.
  CHECK(count(svg, "<path") == 3 + 2);
  CHECK(count(svg, ">50%<") == 1);
  CHECK(count(svg, ">25%<") == 2);
  CHECK(count(svg, ">100%<") == 1);
  CHECK(count(svg, "<circle") == 1);
  CHECK(count(svg, ">224 latents<") == 1);
  for (const char* label : {">SAE latents<", ">one kind<", ">none<", ">digits<", ">other<"}) CHECK(count(svg, label) == 1);
  // The segments' end angles: the first path starts at 12 o'clock, the half ends at 6 o'clock,
  // and the last quarter ends where the first began.
  const auto numbers_after = [&](std::size_t at) {
    std::istringstream in(svg.substr(at, svg.find('"', at) - at));
    std::vector<double> values;
    std::string word;
    while (in >> word)
      if (word != "M" && word != "A" && word != "L" && word != "Z") values.push_back(std::stod(word));
    return values;
  };
  std::vector<std::vector<double>> paths;
  for (std::size_t at = svg.find("<path d=\""); at != std::string::npos; at = svg.find("<path d=\"", at + 1)) paths.push_back(numbers_after(at + 9));
  // M x y  A r r 0 0 1 x y  L x y  A r r 0 0 0 x y: the outer arc from (0, 1) to (7, 8).
  const double cx = paths[0][0], top = paths[0][1], r = chart.radius;
  CHECK(paths[0][7] == Approx(cx));
  CHECK(paths[0][8] == Approx(top + 2 * r));
  CHECK(paths[2][7] == Approx(cx));
  CHECK(paths[2][8] == Approx(top));
  CHECK(paths[1][7] == Approx(cx - r));  // after three quarters of a turn: 9 o'clock
  CHECK(paths[1][8] == Approx(top + r));

  chart.donuts[0].shares = {1, 2};
  CHECK_THROWS_AS(interp::render_svg(chart), shape_error);
  chart.donuts[0].shares = {1, -1, 0, 0};
  CHECK_THROWS_WITH(interp::render_svg(chart), Catch::Contains("'SAE latents'") && Catch::Contains("'operators'"));
  chart.donuts[0].shares = {1, std::nan(""), 0, 0};
  CHECK_THROWS_AS(interp::render_svg(chart), value_error);
}

TEST_CASE("escape_markup writes the five markup characters as entities and keeps the rest", "[interp][svg]") {
  CHECK(ranklens::interp::escape_markup("a & b < c > d \"e\" 'f'") == "a &amp; b &lt; c &gt; d &quot;e&quot; &#39;f&#39;");
  CHECK(ranklens::interp::escape_markup("α → β, 10 000") == "α → β, 10 000");  // UTF-8 passes through
  CHECK(ranklens::interp::escape_markup("").empty());
}

}  // namespace interp_test_svg_plot
