// Ground-truth roles of the tokens of the synthetic reasoning task: what each token is doing
// in its example (a digit of the question, the carried operand of a step, a step result that
// is about to be retracted, ...). The interpretability analysis scores a feature by how pure
// the roles of its top-activating tokens are, so roles are fine-grained; merge them for a
// coarser view (e.g. the three *_plus / *_minus / *_times into "operator").
//
// The example builders (reasoning_examples.hpp) write each token's role as they emit it;
// label_roles recovers the same roles from the tokens alone by reading the grammar, for
// text a model generated. The tests check that the two agree.
#pragma once
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/reasoning_vocabulary.hpp"

namespace ranklens::data::reasoning {

enum class Role : std::int32_t {
  pad,
  bos,
  end,
  question_marker,    // Q
  question_end,       // ?
  document_marker,    // D
  think_marker,       // T
  answer_marker,      // A
  wait_marker,        // W
  problem_digit,      // a digit of the question
  problem_index,      // an index tag #k of the question (before its k-th operator)
  problem_plus,       // an operator of the question
  problem_minus,
  problem_times,
  step_index,         // the index tag #k that opens a trace step (the operator it applies)
  step_left,          // a step's left operand: the carried value (the first digit at step 1)
  step_right,         // a step's right operand: the question's digit after operator k
  step_plus,          // a step's operator
  step_minus,
  step_times,
  step_equals,
  step_result,        // a step's result, kept
  wrong_result,       // a step's result that the next token (W) retracts
  corrected_result,   // the result of a step written again after W
  step_separator,     // ';'
  answer_digit,       // the digit after A
  other,              // a token out of place in the grammar (only in generated text)
};

inline constexpr index_t role_count = static_cast<index_t>(Role::other) + 1;

inline std::string_view role_name(Role role) {
  static constexpr std::string_view names[] = {
      "pad",           "bos",          "end",           "question_marker", "question_end",     "document_marker",
      "think_marker",  "answer_marker", "wait_marker",  "problem_digit",   "problem_index",    "problem_plus",
      "problem_minus", "problem_times", "step_index",   "step_left",       "step_right",       "step_plus",
      "step_minus",    "step_times",   "step_equals",   "step_result",     "wrong_result",     "corrected_result",
      "step_separator", "answer_digit", "other"};
  static_assert(std::size(names) == role_count, "Every role needs exactly one printable name.");
  const auto i = static_cast<std::int32_t>(role);
  if (i < 0 || i >= role_count) throw value_error("role_name: " + std::to_string(i) + " is not a role");
  return names[i];
}

// Role ids as the int32 a batch stores, back to names (throws on an id that is no role).
inline std::string_view role_name(std::int32_t role_id) {
  if (role_id < 0 || role_id >= role_count) throw value_error("role_name: " + std::to_string(role_id) + " is not a role");
  return role_name(static_cast<Role>(role_id));
}

// The role of an operator token inside the question, or inside a step.
constexpr Role problem_operator_role(std::int32_t operator_id) noexcept {
  return static_cast<Role>(static_cast<std::int32_t>(Role::problem_plus) + (operator_id - token::plus));
}
constexpr Role step_operator_role(std::int32_t operator_id) noexcept {
  return static_cast<Role>(static_cast<std::int32_t>(Role::step_plus) + (operator_id - token::plus));
}

// The roles of a token sequence (any number of packed examples, or a prompt and the model's
// continuation), read from the grammar left to right:
//   BOS [D] Q d #1 op d ... #n op d ? (A d | T step... A d) E     step = #k d op d = d (; | W)
//   BOS fact... E                                                  fact = d op d = d ;
// (a line of bare facts has no tags). A result followed by W is a wrong_result, the result of
// the step after a W a corrected_result. Markers, '=', ';' and PAD have one role wherever they
// stand; a digit, operator or tag that fits nowhere is `other`. Roles follow the position in
// the grammar, not the tag's number: "#5" opening the first step is still a step_index (the
// grader, not the labeller, checks the numbers).
inline std::vector<Role> label_roles(std::span<const std::int32_t> tokens) {
  enum class Region { none, facts, question, trace, answer };
  // The slots of a step: 0 its tag, 1 left, 2 operator, 3 right, 4 '=', 5 result. A fact
  // starts at slot 1. The question cycles digit, tag, operator: slot % 3 = 0, 1, 2.
  constexpr int out_of_place = -1;  // slot after a token that broke the pattern
  std::vector<Role> roles(tokens.size(), Role::other);
  Region region = Region::none;
  int slot = 0;
  bool after_wait = false;
  const auto step_start = [&] { return region == Region::trace ? 0 : 1; };
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::int32_t id = tokens[i];
    Role& role = roles[i];
    const bool in_steps = region == Region::facts || region == Region::trace;
    switch (id) {
      case token::bos: role = Role::bos; region = Region::facts; slot = 1; after_wait = false; continue;
      case token::document: role = Role::document_marker; region = Region::none; continue;
      case token::question: role = Role::question_marker; region = Region::question; slot = 0; continue;
      case token::question_end: role = Role::question_end; region = Region::none; continue;
      case token::think: role = Role::think_marker; region = Region::trace; slot = 0; after_wait = false; continue;
      case token::answer: role = Role::answer_marker; region = Region::answer; slot = 0; continue;
      case token::end: role = Role::end; region = Region::none; continue;
      case token::pad: role = Role::pad; region = Region::none; continue;
      case token::wait: role = Role::wait_marker; slot = step_start(); after_wait = true; continue;
      case token::separator: role = Role::step_separator; slot = step_start(); after_wait = false; continue;
      case token::equals:
        role = Role::step_equals;
        slot = in_steps && slot == 4 ? 5 : out_of_place;
        continue;
      default: break;
    }
    const bool question_slot = region == Region::question && slot >= 0;
    if (is_digit(id) && question_slot && slot % 3 == 0) {
      role = Role::problem_digit;
    } else if (is_index_tag(id) && question_slot && slot % 3 == 1) {
      role = Role::problem_index;
    } else if (is_operator(id) && question_slot && slot % 3 == 2) {
      role = problem_operator_role(id);
    } else if (is_index_tag(id) && region == Region::trace && slot == 0) {
      role = Role::step_index;
    } else if (is_digit(id) && in_steps && slot == 1) {
      role = Role::step_left;
    } else if (is_operator(id) && in_steps && slot == 2) {
      role = step_operator_role(id);
    } else if (is_digit(id) && in_steps && slot == 3) {
      role = Role::step_right;
    } else if (is_digit(id) && in_steps && slot == 5) {
      const bool retracted = i + 1 < tokens.size() && tokens[i + 1] == token::wait;
      role = retracted ? Role::wrong_result : after_wait ? Role::corrected_result : Role::step_result;
    } else if (is_digit(id) && region == Region::answer && slot == 0) {
      role = Role::answer_digit;
    } else {
      slot = out_of_place;  // includes ids outside the vocabulary
      continue;
    }
    ++slot;
  }
  return roles;
}

}  // namespace ranklens::data::reasoning
