// Ground-truth roles of the tokens of the synthetic reasoning task: what each token is doing
// in its example (a digit of the question, the value a trace starts from, a step result that
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
  step_left,          // a fact's left operand (trace steps do not write theirs: it is the running value)
  step_right,         // a step's or fact's right operand: in a trace, the question's digit after operator k
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
  // Added after `other` so that the ids above keep their meaning (saved role tensors and
  // reports stay readable).
  start_value,        // the running value a trace starts from, after T: the question's first digit
  restated_value,     // the running value written again after W, before the step is redone
};

inline constexpr index_t role_count = static_cast<index_t>(Role::restated_value) + 1;

inline std::string_view role_name(Role role) {
  static constexpr std::string_view names[] = {
      "pad",           "bos",          "end",           "question_marker", "question_end",     "document_marker",
      "think_marker",  "answer_marker", "wait_marker",  "problem_digit",   "problem_index",    "problem_plus",
      "problem_minus", "problem_times", "step_index",   "step_left",       "step_right",       "step_plus",
      "step_minus",    "step_times",   "step_equals",   "step_result",     "wrong_result",     "corrected_result",
      "step_separator", "answer_digit", "other",        "start_value",     "restated_value"};
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
//   BOS [D] Q d #1 op d ... #n op d ? (A d | T v ; step... A d) E
//       step = #k op d = d ;  or, retracted,  #k op d = d W v ;
//   BOS fact... E                                                  fact = d op d = d ;
// (a line of bare facts has no tags, and writes the left operand that a trace step leaves
// out). A result followed by W is a wrong_result, the result of the step after a W a
// corrected_result. Markers, '=', ';' and PAD have one role wherever they stand; a digit,
// operator or tag that fits nowhere is `other`. Roles follow the position in the grammar, not
// the tag's number: "#5" opening the first step is still a step_index (the grader, not the
// labeller, checks the numbers).
inline std::vector<Role> label_roles(std::span<const std::int32_t> tokens) {
  enum class Region { none, facts, question, trace, answer };
  // What a line of facts or a trace expects next. `nothing` after a token that broke the
  // pattern, until a marker or ';' resynchronises.
  enum class Next { nothing, start_value, restated_value, separator, tag, left, op, right, equals, result };
  std::vector<Role> roles(tokens.size(), Role::other);
  Region region = Region::none;
  Next next = Next::nothing;
  int question_slot = 0;  // the question cycles digit, tag, operator: slot % 3 = 0, 1, 2; -1 once broken
  bool answer_written = false;
  bool after_wait = false;
  // After a token out of place, what follows is out of place too, until a marker or ';'.
  const auto break_pattern = [&] {
    question_slot = -1;
    answer_written = true;
    next = Next::nothing;
  };
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::int32_t id = tokens[i];
    Role& role = roles[i];
    const bool in_steps = region == Region::facts || region == Region::trace;
    switch (id) {
      case token::bos: role = Role::bos; region = Region::facts; next = Next::left; after_wait = false; continue;
      case token::document: role = Role::document_marker; region = Region::none; continue;
      case token::question: role = Role::question_marker; region = Region::question; question_slot = 0; continue;
      case token::question_end: role = Role::question_end; region = Region::none; continue;
      case token::think:
        role = Role::think_marker;
        region = Region::trace;
        next = Next::start_value;
        after_wait = false;
        continue;
      case token::answer: role = Role::answer_marker; region = Region::answer; answer_written = false; continue;
      case token::end: role = Role::end; region = Region::none; continue;
      case token::pad: role = Role::pad; region = Region::none; continue;
      case token::wait: {
        role = Role::wait_marker;
        const bool in_place = region == Region::trace;
        break_pattern();
        if (in_place) next = Next::restated_value;
        after_wait = true;
        continue;
      }
      case token::separator:
        role = Role::step_separator;
        break_pattern();
        if (in_steps) next = region == Region::trace ? Next::tag : Next::left;
        continue;
      case token::equals: {
        role = Role::step_equals;
        const bool in_place = in_steps && next == Next::equals;
        break_pattern();
        if (in_place) next = Next::result;
        continue;
      }
      default: break;
    }
    const bool in_question = region == Region::question && question_slot >= 0;
    const bool in_trace = region == Region::trace;
    Next then = Next::nothing;
    if (is_digit(id) && in_question && question_slot % 3 == 0) {
      role = Role::problem_digit;
    } else if (is_index_tag(id) && in_question && question_slot % 3 == 1) {
      role = Role::problem_index;
    } else if (is_operator(id) && in_question && question_slot % 3 == 2) {
      role = problem_operator_role(id);
    } else if (is_digit(id) && in_trace && next == Next::start_value) {
      role = Role::start_value;
      then = Next::separator;
    } else if (is_digit(id) && in_trace && next == Next::restated_value) {
      role = Role::restated_value;
      then = Next::separator;
    } else if (is_index_tag(id) && in_trace && next == Next::tag) {
      role = Role::step_index;
      then = Next::op;
    } else if (is_digit(id) && region == Region::facts && next == Next::left) {
      role = Role::step_left;
      then = Next::op;
    } else if (is_operator(id) && in_steps && next == Next::op) {
      role = step_operator_role(id);
      then = Next::right;
    } else if (is_digit(id) && in_steps && next == Next::right) {
      role = Role::step_right;
      then = Next::equals;
    } else if (is_digit(id) && in_steps && next == Next::result) {
      const bool retracted = i + 1 < tokens.size() && tokens[i + 1] == token::wait;
      role = retracted ? Role::wrong_result : after_wait ? Role::corrected_result : Role::step_result;
      after_wait = false;
      then = Next::separator;
    } else if (is_digit(id) && region == Region::answer && !answer_written) {
      role = Role::answer_digit;
      answer_written = true;
      continue;
    } else {
      break_pattern();  // ids outside the vocabulary included
      continue;
    }
    if (region == Region::question) ++question_slot;
    next = then;
  }
  return roles;
}

}  // namespace ranklens::data::reasoning
