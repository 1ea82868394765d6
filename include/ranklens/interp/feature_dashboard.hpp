// A feature dashboard: one static HTML file (inline CSS, JS and data; no server, no network)
// that lists features, say the latents of a sparse autoencoder or MLP neurons, each with
//
//   density        the fraction of tokens on which it is active (activation > 0);
//   a histogram    of its positive activations;
//   purity         against ground-truth roles the caller gives per token (the role of each
//                  token in a synthetic task): the largest share of the feature's activation
//                  mass that falls on tokens of one role, and that role;
//   top contexts   the tokens around its strongest activations, each token shaded by the
//                  feature's activation on it and the peak token outlined.
//
// The table sorts by density and by purity (click the buttons or the column heads). Opening the
// file with "?selftest" in its URL makes the page sort itself both ways, check the order it
// shows, and write "selftest: pass" (or what failed) into #selftest; script errors are written
// into #errors. tools/test_feature_dashboard.sh runs both checks in headless Chromium.
//
//   interp::FeatureDashboard dashboard(512, {.title = "SAE on blocks.1.hook_resid_post"});
//   dashboard.add_sequence(token_strings, role_labels, code);     // once per sequence
//   dashboard.write("runs/sae/dashboard.html");
//
// Activations come as a SparseActivations code (rows = the sequence's tokens) or a dense
// (tokens, features) view; only positive values are kept.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ranklens/interp/markup_escape.hpp"
#include "ranklens/io/atomic_file.hpp"
#include "ranklens/ops/sparse_activations.hpp"

namespace ranklens::interp {

struct FeatureDashboardOptions {
  std::string title = "Feature dashboard";
  std::string description{};            // a line under the title
  index_t top_contexts = 8;             // contexts shown per feature
  index_t context_before = 12;          // tokens shown before the peak token
  index_t context_after = 4;            // and after it
  index_t histogram_bins = 24;
  std::vector<std::string> feature_labels{};  // optional, one per feature
};

struct FeatureContext {
  index_t sequence = 0;  // index of the sequence, in the order added
  index_t first = 0;     // position of tokens[0] in it
  index_t peak = 0;      // index into tokens of the strongest activation
  std::vector<std::string> tokens;
  std::vector<double> activations;  // the feature's activation on each token (0 where inactive)
};

struct FeatureSummary {
  index_t id = 0;
  std::string label;
  double density = 0;
  index_t active_tokens = 0;
  double max_activation = 0;
  std::vector<index_t> histogram;  // histogram_bins counts of activations in (0, max_activation]
  std::optional<double> purity;    // when roles were given and the feature is active
  std::string dominant_role;
  std::vector<FeatureContext> top_contexts;  // strongest first
};

class FeatureDashboard {
 public:
  explicit FeatureDashboard(index_t features, FeatureDashboardOptions options = {}) : features_(features), options_(std::move(options)) {
    if (features < 1) throw value_error("FeatureDashboard: needs at least one feature");
    if (options_.top_contexts < 0 || options_.context_before < 0 || options_.context_after < 0 || options_.histogram_bins < 1)
      throw value_error("FeatureDashboard: top_contexts and context sizes must be >= 0 and histogram_bins >= 1");
    if (!options_.feature_labels.empty() && index_t(options_.feature_labels.size()) != features)
      throw value_error("FeatureDashboard: " + std::to_string(options_.feature_labels.size()) + " feature labels for " +
                        std::to_string(features) + " features");
  }

  // tokens: the sequence as shown; roles: one label per token, or empty; code: rows = tokens.
  template <class T>
  void add_sequence(std::span<const std::string> tokens, std::span<const std::string> roles, const SparseActivations<T>& code) {
    if (code.rows() != index_t(tokens.size()) || code.latents() != features_)
      throw shape_error("FeatureDashboard::add_sequence: a code of " + std::to_string(code.rows()) + " tokens over " +
                        std::to_string(code.latents()) + " features for " + std::to_string(tokens.size()) + " tokens and " +
                        std::to_string(features_) + " features");
    Sequence s = start_sequence(tokens, roles);
    const T* values = code.values.value().data();
    for (index_t r = 0; r < code.rows(); ++r) {
      for (index_t e = code.row_begin(r); e < code.row_end(r); ++e)
        if (values[e] > T(0)) s.entries.push_back({std::int32_t(code.latent(e)), double(values[e])});
      s.row_offsets.push_back(index_t(s.entries.size()));
    }
    sequences_.push_back(std::move(s));
  }

  // dense: (tokens, features).
  template <class T, ShapeType S>
  void add_sequence(std::span<const std::string> tokens, std::span<const std::string> roles, TensorView<T, S, cpu_t> dense) {
    static_assert(S::rank == 2, "FeatureDashboard::add_sequence: dense activations must be (tokens, features).");
    if (dense.extent(0) != index_t(tokens.size()) || dense.extent(1) != features_)
      throw shape_error("FeatureDashboard::add_sequence: activations of shape " + to_string(dense.shape()) + " for " +
                        std::to_string(tokens.size()) + " tokens and " + std::to_string(features_) + " features");
    Sequence s = start_sequence(tokens, roles);
    for (index_t r = 0; r < dense.extent(0); ++r) {
      for (index_t j = 0; j < features_; ++j)
        if (double(dense(r, j)) > 0) s.entries.push_back({std::int32_t(j), double(dense(r, j))});
      s.row_offsets.push_back(index_t(s.entries.size()));
    }
    sequences_.push_back(std::move(s));
  }

  index_t tokens() const noexcept { return tokens_; }
  bool has_roles() const noexcept { return has_roles_; }

  std::vector<FeatureSummary> summaries() const {
    std::vector<FeatureSummary> out(static_cast<std::size_t>(features_));
    std::vector<std::map<std::string, double>> role_mass(static_cast<std::size_t>(features_));
    struct Peak {
      double value;
      index_t sequence, position;
    };
    std::vector<std::vector<Peak>> peaks(static_cast<std::size_t>(features_));
    for (index_t j = 0; j < features_; ++j) {
      out[std::size_t(j)].id = j;
      if (!options_.feature_labels.empty()) out[std::size_t(j)].label = options_.feature_labels[std::size_t(j)];
    }
    // Pass 1: counts, maxima, role mass, and the strongest peaks (one per sequence and feature).
    for (index_t q = 0; q < index_t(sequences_.size()); ++q) {
      const Sequence& s = sequences_[std::size_t(q)];
      std::map<std::int32_t, Peak> best_here;
      for (index_t t = 0; t + 1 < index_t(s.row_offsets.size()); ++t)
        for (index_t e = s.row_offsets[std::size_t(t)]; e < s.row_offsets[std::size_t(t + 1)]; ++e) {
          const auto [j, v] = s.entries[std::size_t(e)];
          FeatureSummary& f = out[std::size_t(j)];
          ++f.active_tokens;
          f.max_activation = std::max(f.max_activation, v);
          if (has_roles_) role_mass[std::size_t(j)][s.roles[std::size_t(t)]] += v;
          auto [it, fresh] = best_here.try_emplace(j, Peak{v, q, t});
          if (!fresh && v > it->second.value) it->second = {v, q, t};
        }
      for (const auto& [j, peak] : best_here) keep_top(peaks[std::size_t(j)], peak, options_.top_contexts);
    }
    // Pass 2: histograms over (0, max].
    for (FeatureSummary& f : out) f.histogram.assign(static_cast<std::size_t>(options_.histogram_bins), 0);
    for (const Sequence& s : sequences_)
      for (const auto& [j, v] : s.entries) {
        FeatureSummary& f = out[std::size_t(j)];
        const auto bin = std::min<index_t>(options_.histogram_bins - 1, index_t(v / f.max_activation * double(options_.histogram_bins)));
        ++f.histogram[std::size_t(bin)];
      }
    for (index_t j = 0; j < features_; ++j) {
      FeatureSummary& f = out[std::size_t(j)];
      f.density = tokens_ > 0 ? double(f.active_tokens) / double(tokens_) : 0;
      if (has_roles_ && f.active_tokens > 0) {
        double total = 0, top = -1;
        for (const auto& [role, mass] : role_mass[std::size_t(j)]) {
          total += mass;
          if (mass > top) top = mass, f.dominant_role = role;
        }
        f.purity = top / total;
      }
      auto& p = peaks[std::size_t(j)];
      std::sort(p.begin(), p.end(), [](const Peak& a, const Peak& b) { return a.value > b.value; });
      for (const Peak& peak : p) f.top_contexts.push_back(context_around(j, peak.sequence, peak.position));
    }
    return out;
  }

  std::string html() const { return render_html(summaries()); }

  // Writes the page atomically (io/atomic_file.hpp).
  void write(const std::filesystem::path& path) const {
    const std::string page = html();
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    io::write_text_atomically(path, page);
  }

 private:
  struct Entry {
    std::int32_t feature;
    double value;
  };
  struct Sequence {
    std::vector<std::string> tokens, roles;
    std::vector<index_t> row_offsets{0};
    std::vector<Entry> entries;
  };

  Sequence start_sequence(std::span<const std::string> tokens, std::span<const std::string> roles) {
    if (!roles.empty() && roles.size() != tokens.size())
      throw shape_error("FeatureDashboard::add_sequence: " + std::to_string(roles.size()) + " roles for " + std::to_string(tokens.size()) + " tokens");
    if (!sequences_.empty() && roles.empty() != !has_roles_)
      throw value_error("FeatureDashboard::add_sequence: give roles for every sequence or for none");
    has_roles_ = !roles.empty();
    tokens_ += index_t(tokens.size());
    return Sequence{{tokens.begin(), tokens.end()}, {roles.begin(), roles.end()}, {0}, {}};
  }

  template <class Peak>
  static void keep_top(std::vector<Peak>& kept, const Peak& candidate, index_t limit) {
    if (limit == 0) return;
    auto weaker = [](const Peak& a, const Peak& b) { return a.value > b.value; };  // min-heap on value
    if (index_t(kept.size()) < limit) {
      kept.push_back(candidate);
      std::push_heap(kept.begin(), kept.end(), weaker);
    } else if (candidate.value > kept.front().value) {
      std::pop_heap(kept.begin(), kept.end(), weaker);
      kept.back() = candidate;
      std::push_heap(kept.begin(), kept.end(), weaker);
    }
  }

  FeatureContext context_around(index_t feature, index_t sequence, index_t position) const {
    const Sequence& s = sequences_[std::size_t(sequence)];
    const index_t length = index_t(s.tokens.size());
    FeatureContext c;
    c.sequence = sequence;
    c.first = std::max<index_t>(0, position - options_.context_before);
    const index_t last = std::min(length - 1, position + options_.context_after);
    c.peak = position - c.first;
    for (index_t t = c.first; t <= last; ++t) {
      c.tokens.push_back(s.tokens[std::size_t(t)]);
      double a = 0;
      for (index_t e = s.row_offsets[std::size_t(t)]; e < s.row_offsets[std::size_t(t + 1)]; ++e)
        if (s.entries[std::size_t(e)].feature == feature) a = s.entries[std::size_t(e)].value;
      c.activations.push_back(a);
    }
    return c;
  }

  std::string render_html(const std::vector<FeatureSummary>& features) const;

  index_t features_;
  FeatureDashboardOptions options_;
  std::vector<Sequence> sequences_;
  index_t tokens_ = 0;
  bool has_roles_ = false;
};

namespace dashboard_detail {

// JSON inside <script type="application/json">: ASCII only, and every '<' (which can only
// occur inside strings) written as \u003c, so that no token string can end the element.
inline std::string embeddable_json(const nlohmann::json& data) {
  const std::string text = data.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '<')
      out += "\\u003c";
    else
      out += c;
  }
  return out;
}

// Rounded for a smaller file; densities keep their small values.
inline double rounded(double v) {
  if (v == 0 || !std::isfinite(v)) return v;
  const double scale = std::pow(10.0, 4 - std::ceil(std::log10(std::abs(v))));
  return std::round(v * scale) / scale;
}

inline constexpr std::string_view page_style = R"css(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
.summary { color: #555; margin: 0 0 1em; }
.controls button { margin-right: .4em; }
.controls button.active { font-weight: bold; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .35em .5em; vertical-align: top; text-align: left; }
th.sortable { cursor: pointer; text-decoration: underline dotted; }
td.number { font-variant-numeric: tabular-nums; white-space: nowrap; }
.context { font-family: ui-monospace, monospace; font-size: 12px; margin: 0 0 .25em; white-space: pre; overflow-x: auto; }
.context span { padding: 0 1px; border-radius: 2px; }
.context span.peak { outline: 1px solid #c40; }
.dead { color: #999; }
#errors { color: #b00; white-space: pre; }
)css";

inline constexpr std::string_view page_script = R"js(
'use strict';
(function () {
  const data = JSON.parse(document.getElementById('dashboard-data').textContent);
  const tbody = document.querySelector('#features tbody');
  const state = { key: 'density', descending: true };

  function percent(d) { return d === 0 ? 'dead' : (100 * d).toPrecision(3) + '%'; }
  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }
  function histogram(f) {
    const ns = 'http://www.w3.org/2000/svg', width = 120, height = 32;
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('width', width);
    svg.setAttribute('height', height);
    const top = Math.max(1, ...f.histogram);
    const bar = width / f.histogram.length;
    f.histogram.forEach((count, i) => {
      const rect = document.createElementNS(ns, 'rect');
      const h = count === 0 ? 0 : Math.max(1, height * count / top);
      rect.setAttribute('x', i * bar);
      rect.setAttribute('y', height - h);
      rect.setAttribute('width', Math.max(1, bar - 1));
      rect.setAttribute('height', h);
      rect.setAttribute('fill', '#4a7ab5');
      svg.appendChild(rect);
    });
    const title = document.createElementNS(ns, 'title');
    title.textContent = 'activations in (0, ' + f.max_activation + ']';
    svg.appendChild(title);
    return svg;
  }
  function context(c, peak) {
    const div = document.createElement('div');
    div.className = 'context';
    c.tokens.forEach((token, i) => {
      const span = document.createElement('span');
      span.textContent = token.replace(/\n/g, '\u21b5');
      const a = c.activations[i];
      if (a > 0) span.style.background = 'rgba(255, 140, 0, ' + Math.min(1, a / peak).toFixed(3) + ')';
      if (i === c.peak) span.className = 'peak';
      span.title = 'activation ' + a;
      div.appendChild(span);
    });
    return div;
  }
  const rows = data.features.map(f => {
    const tr = document.createElement('tr');
    tr.dataset.id = f.id;
    tr.dataset.density = f.density;
    tr.dataset.purity = f.purity === null ? '' : f.purity;
    tr.appendChild(cell(f.id + (f.label ? ' ' + f.label : '')));
    tr.appendChild(cell(percent(f.density), 'number' + (f.density === 0 ? ' dead' : '')));
    tr.appendChild(cell(f.purity === null ? '-' : f.purity.toFixed(3), 'number'));
    tr.appendChild(cell(f.dominant_role || '-'));
    const h = cell('');
    if (f.active_tokens > 0) h.appendChild(histogram(f));
    tr.appendChild(h);
    const contexts = cell('');
    f.top_contexts.forEach(c => contexts.appendChild(context(c, f.max_activation)));
    tr.appendChild(contexts);
    return tr;
  });
  function value(f, key) {
    if (key === 'purity') return f.purity === null ? -Infinity : f.purity;
    return key === 'id' ? -f.id : f.density;
  }
  function render() {
    const order = data.features.map((f, i) => i);
    order.sort((a, b) => {
      const d = value(data.features[a], state.key) - value(data.features[b], state.key);
      return (state.descending ? -d : d) || data.features[a].id - data.features[b].id;
    });
    tbody.replaceChildren(...order.map(i => rows[i]));
    document.querySelectorAll('.controls button').forEach(b => b.classList.toggle('active', b.dataset.key === state.key));
    document.getElementById('sort-state').textContent =
      'sorted by ' + state.key + (state.key === 'id' ? '' : state.descending ? ', largest first' : ', smallest first');
  }
  function sortBy(key) {
    if (state.key === key) state.descending = !state.descending;
    else { state.key = key; state.descending = true; }
    render();
  }
  document.querySelectorAll('[data-key]').forEach(el => el.addEventListener('click', () => sortBy(el.dataset.key)));
  render();

  // ?selftest: sort both ways by both keys and check what the table shows.
  if (new URLSearchParams(location.search).has('selftest')) {
    const problems = [];
    function shown(attribute) {
      return Array.from(tbody.children).map(tr => tr.dataset[attribute] === '' ? -Infinity : Number(tr.dataset[attribute]));
    }
    function check(key, attribute) {
      for (const descending of [true, false]) {
        if (state.key !== key) sortBy(key);
        if (state.descending !== descending) sortBy(key);
        const v = shown(attribute);
        for (let i = 1; i < v.length; ++i)
          if (descending ? v[i] > v[i - 1] : v[i] < v[i - 1]) { problems.push(key + (descending ? ' descending' : ' ascending') + ' at row ' + i); break; }
      }
    }
    check('density', 'density');
    check('purity', 'purity');
    if (tbody.children.length !== data.features.length) problems.push('rows shown ' + tbody.children.length + ' of ' + data.features.length);
    const out = document.getElementById('selftest');
    out.textContent = problems.length === 0 ? 'selftest: pass (' + data.features.length + ' features)' : 'selftest: FAIL ' + problems.join('; ');
    out.hidden = false;
  }
})();
)js";

}  // namespace dashboard_detail

inline std::string FeatureDashboard::render_html(const std::vector<FeatureSummary>& features) const {
  using dashboard_detail::rounded;
  nlohmann::json data;
  data["features"] = nlohmann::json::array();
  index_t live = 0;
  for (const FeatureSummary& f : features) {
    live += f.active_tokens > 0;
    nlohmann::json j;
    j["id"] = f.id;
    j["label"] = f.label;
    j["density"] = rounded(f.density);
    j["active_tokens"] = f.active_tokens;
    j["max_activation"] = rounded(f.max_activation);
    j["histogram"] = f.histogram;
    j["purity"] = f.purity ? nlohmann::json(rounded(*f.purity)) : nlohmann::json(nullptr);
    j["dominant_role"] = f.dominant_role;
    j["top_contexts"] = nlohmann::json::array();
    for (const FeatureContext& c : f.top_contexts) {
      std::vector<double> a;
      for (const double v : c.activations) a.push_back(rounded(v));
      j["top_contexts"].push_back({{"sequence", c.sequence}, {"first", c.first}, {"peak", c.peak}, {"tokens", c.tokens}, {"activations", a}});
    }
    data["features"].push_back(std::move(j));
  }
  std::string page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + escape_markup(options_.title) +
                     "</title>\n<style>" + std::string(dashboard_detail::page_style) + "</style>\n</head>\n<body>\n<h1>" +
                     escape_markup(options_.title) + "</h1>\n<p class=\"summary\">" +
                     (options_.description.empty() ? std::string() : escape_markup(options_.description) + "<br>") + std::to_string(features_) +
                     " features (" + std::to_string(live) + " active), " + std::to_string(tokens_) + " tokens in " +
                     std::to_string(sequences_.size()) + " sequences" + (has_roles_ ? "; purity against the given token roles" : "") +
                     "</p>\n<div class=\"controls\">Sort by: <button data-key=\"density\">density</button><button data-key=\"purity\">purity</button>"
                     "<button data-key=\"id\">feature</button> <span id=\"sort-state\"></span></div>\n<div id=\"errors\"></div>\n"
                     "<div id=\"selftest\" hidden></div>\n<table id=\"features\">\n<thead><tr><th>feature</th>"
                     "<th class=\"sortable\" data-key=\"density\">density</th><th class=\"sortable\" data-key=\"purity\">purity</th>"
                     "<th>dominant role</th><th>activations</th><th>top contexts</th></tr></thead>\n<tbody></tbody>\n</table>\n"
                     "<script>window.addEventListener('error', e => { document.getElementById('errors').textContent += "
                     "'script error: ' + e.message + '\\n'; });</script>\n"
                     "<script type=\"application/json\" id=\"dashboard-data\">" +
                     dashboard_detail::embeddable_json(data) + "</script>\n<script>" + std::string(dashboard_detail::page_script) +
                     "</script>\n</body>\n</html>\n";
  return page;
}

}  // namespace ranklens::interp
