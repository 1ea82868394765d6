// Features judged against token roles: top tokens, purity, classes (interp/feature_roles.hpp).
#include <catch2/catch.hpp>

#include <vector>

#include "ranklens/interp/feature_roles.hpp"

namespace interp_test_feature_roles {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

TEST_CASE("Features are summarised by their strongest tokens' roles and classed by purity", "[interp][features]") {
  // Ten tokens; roles 0-1 form one family (group 0), roles 2-3 another (group 2).
  const std::vector<std::int32_t> roles{0, 1, 2, 3, 0, 1, 2, 3, 0, 2};
  const auto group = [](std::int32_t role) { return role < 2 ? 0 : 2; };
  // Four features: 0 fires on role 2 only; 1 on roles 2 and 3 (one family); 2 on all roles;
  // 3 never. Token 9 (role 2) is not counted.
  std::vector<float> table(10 * 4, 0.0f);
  const auto set = [&](index_t token, index_t feature, float value) { table[std::size_t(token * 4 + feature)] = value; };
  set(2, 0, 3.0f), set(6, 0, 1.0f), set(9, 0, 9.0f);
  set(2, 1, 1.0f), set(3, 1, 2.0f), set(7, 1, 1.5f);
  for (index_t t = 0; t < 8; ++t) set(t, 2, float(t + 1));
  set(5, 3, -1.0f);  // negative: not firing
  std::vector<bool> counted_vector(10, true);
  counted_vector[9] = false;
  bool counted[10];
  for (int i = 0; i < 10; ++i) counted[i] = counted_vector[std::size_t(i)];

  const auto features = interp::feature_roles({table, 10, 4, roles, counted}, 3, 4, group);
  REQUIRE(features.size() == 4);
  CHECK(features[0].top_tokens == std::vector<index_t>{2, 6});  // token 9 is not counted
  CHECK(features[0].top_values == std::vector<float>{3.0f, 1.0f});
  CHECK(features[0].dominant_role == 2);
  CHECK(features[0].purity == 1.0);
  CHECK(features[0].density == Approx(2.0 / 9.0));
  CHECK(interp::classify(features[0]) == interp::FeatureClass::monosemantic);

  CHECK(features[1].top_tokens == std::vector<index_t>{3, 7, 2});  // strongest first, ties by token
  CHECK(features[1].purity == Approx(2.0 / 3.0));
  CHECK(features[1].group_purity == 1.0);
  CHECK(interp::classify(features[1]) == interp::FeatureClass::broad);

  CHECK(features[2].top_tokens == std::vector<index_t>{7, 6, 5});
  CHECK(interp::classify(features[2]) == interp::FeatureClass::polysemantic);
  CHECK(interp::classify(features[2], {.monosemantic_purity = 0.3, .broad_purity = 0.3}) == interp::FeatureClass::monosemantic);

  CHECK(features[3].top_tokens.empty());
  CHECK(features[3].density == 0.0);
  CHECK(interp::classify(features[3]) == interp::FeatureClass::dead);
}

TEST_CASE("feature_roles refuses tables, roles and groups that do not fit", "[interp][features]") {
  const std::vector<float> table(6, 1.0f);
  const std::vector<std::int32_t> roles{0, 1, 0};
  const auto same = [](std::int32_t role) { return role; };
  CHECK_THROWS_WITH(interp::feature_roles({table, 3, 3, roles}, 2, 2, same), Catch::Contains("do not make a (3, 3) table"));
  CHECK_THROWS_WITH(interp::feature_roles({table, 3, 2, roles}, 2, 1, same), Catch::Contains("role 1 is outside [0, 1)"));
  CHECK_THROWS_WITH(interp::feature_roles({table, 3, 2, roles}, 0, 2, same), Catch::Contains("top_k"));
  CHECK_THROWS_WITH(interp::feature_roles({table, 3, 2, roles}, 2, 2, [](std::int32_t) { return 5; }), Catch::Contains("group_of"));
}

}  // namespace interp_test_feature_roles
