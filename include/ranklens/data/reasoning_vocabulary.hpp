// The token language of the synthetic reasoning task (docs/data.md, "The synthetic reasoning
// task"): chained arithmetic mod 10, written with 30 token ids.
//
//   id   0-9    10  11  12  13  14   15   16  17  18  19  20  21  22   23  24-29
//   name 0-9    +   -   *   =   ;    BOS  Q   A   T   D   W   E   PAD  ?   #1-#6
//
// Digits are their own ids, so a digit token is its value. The markers: Q a question follows,
// ? the question has ended (a model then chooses A or T), A the answer follows, T a worked
// trace follows, D a "textbook" document (where problems are always worked), W "wait": the
// step just written was wrong and is written again, E the end of an example, PAD filling after
// the last example of a row. The index tag #k names the k-th operator of a question: the
// question writes it before that operator, and the trace step that applies it starts with it
// and copies what follows it in the question ("#k op d"), so the step finds its operator and
// right operand by content, not by counting.
//
// to_string writes tokens as space-separated names ("BOS Q 3 #1 + 4 ? A 7 E"); parse_tokens
// reads that back, and also the same without spaces ("BOSQ3#1+4?A7E").
#pragma once
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"

namespace ranklens::data::reasoning {

namespace token {
inline constexpr std::int32_t plus = 10;
inline constexpr std::int32_t minus = 11;
inline constexpr std::int32_t times = 12;
inline constexpr std::int32_t equals = 13;
inline constexpr std::int32_t separator = 14;  // ';' ends a step
inline constexpr std::int32_t bos = 15;
inline constexpr std::int32_t question = 16;   // Q
inline constexpr std::int32_t answer = 17;     // A
inline constexpr std::int32_t think = 18;      // T
inline constexpr std::int32_t document = 19;   // D
inline constexpr std::int32_t wait = 20;       // W
inline constexpr std::int32_t end = 21;        // E
inline constexpr std::int32_t pad = 22;
inline constexpr std::int32_t question_end = 23;  // ?
inline constexpr std::int32_t first_index_tag = 24;  // #1; #k is first_index_tag + k - 1

constexpr std::int32_t digit(int value) noexcept { return static_cast<std::int32_t>(value); }
}  // namespace token

// The most operators a problem may have: one index tag (#1..#6) each. The 2, 4 and 6 operator
// tiers and training on 1..6 need no more.
inline constexpr index_t max_operators = 6;

inline constexpr index_t vocab_size = token::first_index_tag + max_operators;

namespace token {
// The tag #position of the operator at `position` (1-based) of a question.
inline std::int32_t index_tag(index_t position) {
  if (position < 1 || position > max_operators) {
    throw value_error("index_tag: operator position " + std::to_string(position) + " is outside 1.." +
                      std::to_string(max_operators) + " (the vocabulary has the tags #1..#6 only)");
  }
  return first_index_tag + static_cast<std::int32_t>(position - 1);
}
}  // namespace token

constexpr bool is_token(std::int32_t id) noexcept { return id >= 0 && id < vocab_size; }
constexpr bool is_digit(std::int32_t id) noexcept { return id >= 0 && id <= 9; }
constexpr bool is_operator(std::int32_t id) noexcept { return id >= token::plus && id <= token::times; }
constexpr bool is_index_tag(std::int32_t id) noexcept { return id >= token::first_index_tag && id < vocab_size; }
// The position k of the tag #k (1..6); 0 for an id that is no tag.
constexpr index_t tag_position(std::int32_t id) noexcept { return is_index_tag(id) ? id - token::first_index_tag + 1 : 0; }

// The printable name of a token id; ids outside the vocabulary print as "<id?>" so that a
// report of a broken output still shows what was there.
inline std::string token_name(std::int32_t id) {
  static constexpr std::string_view names[] = {"0", "1", "2", "3",   "4", "5",  "6",  "7",  "8",  "9",
                                               "+", "-", "*", "=",   ";", "BOS", "Q", "A",  "T",  "D",
                                               "W", "E", "PAD", "?", "#1", "#2", "#3", "#4", "#5", "#6"};
  static_assert(std::size(names) == vocab_size, "Every token id needs exactly one printable name.");
  if (!is_token(id)) {
    std::string unknown = "<";  // appended, not "<" + ...: GCC 12 warns falsely (-Wrestrict) on that
    unknown += std::to_string(id);
    return unknown + "?>";
  }
  return std::string(names[id]);
}

inline std::string to_string(std::span<const std::int32_t> tokens) {
  std::string text;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) text += ' ';
    text += token_name(tokens[i]);
  }
  return text;
}

// Reads names written by to_string. Whitespace between names is optional: every name is one
// character except BOS, PAD and the tags #1..#6 (so "#12" reads as #1 then 2).
inline std::vector<std::int32_t> parse_tokens(std::string_view text) {
  std::vector<std::int32_t> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    if (text.substr(i, 3) == "BOS") {
      tokens.push_back(token::bos);
      i += 3;
      continue;
    }
    if (text.substr(i, 3) == "PAD") {
      tokens.push_back(token::pad);
      i += 3;
      continue;
    }
    if (c == '#' && i + 1 < text.size() && text[i + 1] >= '1' && text[i + 1] < '1' + max_operators) {
      tokens.push_back(token::index_tag(text[i + 1] - '0'));
      i += 2;
      continue;
    }
    std::int32_t id = -1;
    if (c >= '0' && c <= '9') id = token::digit(c - '0');
    switch (c) {
      case '+': id = token::plus; break;
      case '-': id = token::minus; break;
      case '*': id = token::times; break;
      case '=': id = token::equals; break;
      case ';': id = token::separator; break;
      case 'Q': id = token::question; break;
      case 'A': id = token::answer; break;
      case 'T': id = token::think; break;
      case 'D': id = token::document; break;
      case 'W': id = token::wait; break;
      case 'E': id = token::end; break;
      case '?': id = token::question_end; break;
      default: break;
    }
    if (id < 0) {
      throw value_error("parse_tokens: '" + std::string(1, c) + "' at character " + std::to_string(i) + " of \"" +
                        std::string(text) + "\" is not a token name (0-9 + - * = ; BOS Q A T D W E PAD ? #1-#6)");
    }
    tokens.push_back(id);
    ++i;
  }
  return tokens;
}

}  // namespace ranklens::data::reasoning
