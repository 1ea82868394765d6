// A few names, quoted, for an error message: "'a', 'b', 'c' and 5 more". Enough to see the
// pattern (a missing prefix, a stray layer) without flooding a terminal with a model's names.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace ranklens::io {

inline std::string quoted_names(const std::vector<std::string>& names, std::size_t shown = 8) {
  std::string text;
  for (std::size_t i = 0; i < names.size() && i < shown; ++i) text += (i == 0 ? "'" : ", '") + names[i] + "'";
  if (names.size() > shown) text += " and " + std::to_string(names.size() - shown) + " more";
  return text;
}

}  // namespace ranklens::io
