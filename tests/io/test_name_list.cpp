// Specification of io/name_list.hpp: the short list of names in load errors.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "ranklens/io/name_list.hpp"

namespace io_test_name_list {  // the unity build compiles test files together: names stay per file

using ranklens::io::quoted_names;

TEST_CASE("a few names are quoted and the rest counted", "[io][name_list]") {
  CHECK(quoted_names({}) == "");
  CHECK(quoted_names({"a"}) == "'a'");
  CHECK(quoted_names({"a", "b", "c"}) == "'a', 'b', 'c'");
  CHECK(quoted_names({"a", "b", "c", "d", "e"}, 2) == "'a', 'b' and 3 more");
}

}  // namespace io_test_name_list
