// A minimal copying task: filler text with a marker token that is always followed by the same
// NAME within a sequence. The name is drawn per sequence, so only a model that looks back to
// an earlier "marker NAME" pair (an induction head, Olsson et al. 2022) can predict it; the
// first occurrence is unpredictable beyond 1 / names.
//
// Vocabulary layout: filler tokens 0 .. fillers-1, then the marker, then the names.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/random.hpp"

namespace ranklens::data {

struct name_copying_source {
  index_t fillers = 16;
  index_t names = 16;
  double marker_probability = 0.1;  // at each position not already taken by a name

  index_t vocab_size() const noexcept { return fillers + 1 + names; }
  std::int32_t marker_token() const noexcept { return static_cast<std::int32_t>(fillers); }
  std::int32_t name_token(index_t name) const noexcept {
    return static_cast<std::int32_t>(fillers + 1 + name);
  }
  bool is_name(std::int32_t token) const noexcept { return token > marker_token(); }

  void validate() const {
    if (fillers < 1 || names < 1 || !(marker_probability >= 0.0 && marker_probability <= 1.0)) {
      throw value_error(
          "name_copying_source: need fillers >= 1, names >= 1 and a marker "
          "probability in [0, 1]; got " +
          std::to_string(fillers) + ", " + std::to_string(names) + ", " +
          std::to_string(marker_probability));
    }
  }

  void sample_sequence(Rng& gen, std::span<std::int32_t> out) const {
    validate();
    const std::int32_t name =
        name_token(static_cast<index_t>(uniform_below(gen, static_cast<std::uint64_t>(names))));
    const auto filler_count = static_cast<std::uint64_t>(fillers);
    bool after_marker = false;
    for (auto& token : out) {
      if (after_marker) {
        token = name;
        after_marker = false;
      } else if (unit_uniform(gen) < marker_probability) {
        token = marker_token();
        after_marker = true;
      } else {
        token = static_cast<std::int32_t>(uniform_below(gen, filler_count));
      }
    }
  }
};

}  // namespace ranklens::data
