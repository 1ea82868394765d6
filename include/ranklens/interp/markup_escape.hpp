// Text placed in HTML or SVG (XML): the characters that markup gives a meaning, as entities, so
// that a label such as "loss & score <k=2>" shows as written. One function for the SVG plots,
// the feature dashboard and the experiment reports.
#pragma once
#include <string>
#include <string_view>

namespace ranklens::interp {

inline std::string escape_markup(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;  // &apos; is not HTML 4; the number is read by both
      default: out += c;
    }
  }
  return out;
}

}  // namespace ranklens::interp
