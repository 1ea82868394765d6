#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <string>
#include <vector>

#include "ranklens/interp/feature_dashboard.hpp"

namespace interp_test_feature_dashboard {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

using Dense = Tensor<double, Shape<dyn, dyn>>;

// Three features over sequences of 6 tokens: feature 0 fires on every "x" (role "letter"),
// feature 1 on the digits "1" and "2" (role "digit") and once on a letter, feature 2 never.
struct Toy {
  std::vector<std::vector<std::string>> tokens{{"a", "1", "x", "2", "x", "b"}, {"x", "x", "1", "c", "</script>", "2"}};
  std::vector<std::vector<std::string>> roles{{"letter", "digit", "letter", "digit", "letter", "letter"},
                                              {"letter", "letter", "digit", "letter", "letter", "digit"}};
  Dense activations(std::size_t s) const {
    Dense a(Shape<dyn, dyn>{6, 3}, 0.0);
    for (index_t t = 0; t < 6; ++t) {
      const std::string& token = tokens[s][std::size_t(t)];
      if (token == "x") a(t, 0) = 1.0 + double(t) + 10.0 * double(s);  // strongest: second sequence
      if (token == "1" || token == "2") a(t, 1) = token == "1" ? 2.0 : 4.0;
    }
    if (s == 0) a(5, 1) = 2.0;  // a letter, for impurity
    return a;
  }
};

std::vector<interp::FeatureSummary> toy_summaries(interp::FeatureDashboard& dashboard) {
  const Toy toy;
  for (std::size_t s = 0; s < 2; ++s) {
    const Dense a = toy.activations(s);
    dashboard.add_sequence(std::span<const std::string>(toy.tokens[s]), std::span<const std::string>(toy.roles[s]), a.view());
  }
  return dashboard.summaries();
}

}  // namespace

TEST_CASE("feature summaries: density, histogram, purity against roles and top contexts, strongest first", "[interp][dashboard]") {
  interp::FeatureDashboard dashboard(3, {.top_contexts = 2, .context_before = 2, .context_after = 1, .histogram_bins = 4});
  const auto f = toy_summaries(dashboard);
  REQUIRE(f.size() == 3);
  CHECK(dashboard.tokens() == 12);
  CHECK(f[0].active_tokens == 4);
  CHECK(f[0].density == Approx(4.0 / 12));
  CHECK(f[0].purity == 1.0);
  CHECK(f[0].dominant_role == "letter");
  CHECK(f[1].active_tokens == 5);
  CHECK(f[1].dominant_role == "digit");
  CHECK(*f[1].purity == Approx((2.0 + 4.0 + 2.0 + 4.0) / (2.0 + 4.0 + 2.0 + 4.0 + 2.0)));
  CHECK(f[2].active_tokens == 0);
  CHECK(f[2].density == 0);
  CHECK_FALSE(f[2].purity.has_value());
  CHECK(f[2].top_contexts.empty());
  // Histogram of feature 1: activations 2, 4, 2, 4, 2 over (0, 4] in 4 bins.
  CHECK(f[1].histogram == std::vector<index_t>{0, 0, 3, 2});
  // Top contexts: one per sequence, strongest first, two tokens before and one after the peak.
  REQUIRE(f[0].top_contexts.size() == 2);
  const auto& best = f[0].top_contexts[0];
  CHECK(best.sequence == 1);
  CHECK(best.tokens == std::vector<std::string>{"x", "x", "1"});  // peak at position 1 of sequence 1
  CHECK(best.peak == 1);
  CHECK(best.activations == std::vector<double>{11.0, 12.0, 0.0});
  CHECK(f[0].top_contexts[1].sequence == 0);
  CHECK(f[0].top_contexts[1].tokens[std::size_t(f[0].top_contexts[1].peak)] == "x");
}

TEST_CASE("the dashboard is one self-contained HTML page with its data embedded safely", "[interp][dashboard]") {
  interp::FeatureDashboard dashboard(3, {.title = "Toy <features>", .description = "three features"});
  toy_summaries(dashboard);
  const std::string page = dashboard.html();
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("Toy &lt;features&gt;") != std::string::npos);
  CHECK(page.find("id=\"selftest\"") != std::string::npos);
  CHECK(page.find("http") == page.find("http://www.w3.org/2000/svg"));  // no network: the SVG namespace is the only URL
  // The hostile token cannot close the data element: every '<' in the data is escaped.
  const auto data_begin = page.find("id=\"dashboard-data\">");
  const auto data_end = page.find("</script>", data_begin);
  const std::string data = page.substr(data_begin, data_end - data_begin);
  CHECK(data.find("\\u003c/script>") != std::string::npos);
  CHECK(data.find('<') == std::string::npos);

  const auto dir = std::filesystem::temp_directory_path() / ("ranklens-dashboard-" + std::to_string(::getpid()));
  dashboard.write(dir / "dashboard.html");
  std::ifstream in(dir / "dashboard.html", std::ios::binary);
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(written == page);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the dashboard refuses activations that do not fit and roles given for some sequences only", "[interp][dashboard]") {
  interp::FeatureDashboard dashboard(3);
  const std::vector<std::string> tokens{"a", "b"}, roles{"r", "r"};
  Dense wrong(Shape<dyn, dyn>{2, 4}, 0.0);
  REQUIRE_THROWS_WITH(dashboard.add_sequence(std::span<const std::string>(tokens), {}, wrong.view()), Catch::Contains("3 features"));
  Dense fine(Shape<dyn, dyn>{2, 3}, 1.0);
  dashboard.add_sequence(std::span<const std::string>(tokens), std::span<const std::string>(roles), fine.view());
  REQUIRE_THROWS_WITH(dashboard.add_sequence(std::span<const std::string>(tokens), {}, fine.view()), Catch::Contains("every sequence or for none"));
  const std::vector<std::string> one_role{"r"};
  REQUIRE_THROWS_WITH(dashboard.add_sequence(std::span<const std::string>(tokens), std::span<const std::string>(one_role), fine.view()),
                      Catch::Contains("1 roles for 2 tokens"));
}

}  // namespace interp_test_feature_dashboard
