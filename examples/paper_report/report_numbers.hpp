// Reading a stage's JSON and writing its numbers for a person: fixed decimals, percentages,
// thousands separated by a thin space ("10 000", never "1e+04").
#pragma once
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace paper_report {

// The JSON in `path`, or nothing when the file is absent (that stage did not run). A file that
// is there but not JSON is an error naming it: a finished stage writes whole files.
inline std::optional<nlohmann::json> read_json_if_present(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& failure) {
    throw std::runtime_error(path.string() + ": not valid JSON (" + failure.what() + ")");
  }
}

// json[key] as a double, or NaN when it is missing or null.
inline double number_at(const nlohmann::json& json, const std::string& key) {
  if (!json.contains(key) || !json[key].is_number()) return std::nan("");
  return json[key].get<double>();
}

inline std::string fixed(double value, int decimals = 3) {
  if (!std::isfinite(value)) return "–";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

inline std::string percent(double share, int decimals = 1) { return std::isfinite(share) ? fixed(100 * share, decimals) + "%" : "–"; }

// 10 000, 1 234 567: groups of three digits.
inline std::string count(double value) {
  if (!std::isfinite(value)) return "–";
  std::string digits = std::to_string(std::llround(std::fabs(value)));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ' ';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

inline std::string seconds(double s) {
  if (!std::isfinite(s)) return "–";
  if (s < 60) return fixed(s, 1) + " s";
  return std::to_string(int(s) / 60) + " min " + fixed(std::fmod(s, 60.0), 0) + " s";
}

}  // namespace paper_report
