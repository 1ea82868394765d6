// The example formats of the synthetic reasoning task, each token with its role:
//
//   direct   BOS Q 3 #1 + 4 #2 * 2 #3 - 9 ? A 5 E
//   worked   BOS D Q 3 #1 + 4 #2 * 2 #3 - 9 ? T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E  (a document)
//   trace    BOS Q 3 #1 + 4 #2 * 2 #3 - 9 ? T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E    (finetune)
//   facts    BOS 3 + 4 = 7 ; 9 * 8 = 2 ; E
//
// The question ends with ?, so the token after it is the model's choice of A or T. A trace
// writes the running value it starts from (the question's first digit), then step k as
// "#k op d = r ;": "#k op d" is the question's text from its tag #k on, copied verbatim, and
// the left operand is not written, since it is always the token 5 before '=' (the start value
// or the previous result). A self-correction writes a wrong result, then W, restates the
// running value, and does the step again: "... = 7 ; #2 * 2 = 3 W 7 ; #2 * 2 = 4 ; ...", so
// the value stays 5 before the '=' of the redone step too. Pretraining shows worked solutions
// only behind D; the finetune traces are the same syntax without D (docs/data.md says why).
// Bare facts keep the left operand: they have no running value.
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/data/reasoning_problem.hpp"
#include "ranklens/data/reasoning_roles.hpp"
#include "ranklens/data/reasoning_vocabulary.hpp"

namespace ranklens::data::reasoning {

// Whether a question stands behind the document marker D (where problems are always worked).
enum class Context { plain, document };

// Step `step` (0-based) is first written with `wrong_result`, retracted by W, then written right.
struct Correction {
  index_t step = 0;
  int wrong_result = 0;
  friend bool operator==(const Correction&, const Correction&) = default;
};

// One example: tokens and their roles, equally long. response_begin is the position of the
// first token after the prompt "BOS [D] Q question ?" (its A or T): a finetune trains on the
// tokens from there on. A line of facts has no prompt; its response_begin is 1 (after BOS).
struct Example {
  std::vector<std::int32_t> tokens;
  std::vector<Role> roles;
  index_t response_begin = 0;

  index_t size() const noexcept { return static_cast<index_t>(tokens.size()); }
  void push(std::int32_t id, Role role) {
    tokens.push_back(id);
    roles.push_back(role);
  }
};

// Lengths, for choosing sequence lengths and generation budgets.
constexpr index_t prompt_length(index_t operators, Context context = Context::plain) noexcept {
  return 4 + 3 * operators + (context == Context::document ? 1 : 0);  // BOS [D] Q d (#k op d)*n ?
}
constexpr index_t direct_response_length() noexcept { return 3; }  // A d E
// "#k op d = r ;" (or closed by W instead of ';').
inline constexpr index_t trace_step_length = 6;
// A correction adds the retracted step and the restated value: "#k op d = r W" "v ;".
inline constexpr index_t correction_length = trace_step_length + 2;
constexpr index_t worked_response_length(index_t operators, index_t corrections = 0) noexcept {
  return 3 + trace_step_length * operators + correction_length * corrections + 3;  // T v ;, steps, A d E
}
constexpr index_t facts_length(index_t facts) noexcept { return 2 + 6 * facts; }  // BOS, d op d = d ;, E

namespace detail {
// Trace step `position` (1-based), "#position op right = result", closed by `closing` (';'
// or W). The left operand is the running value already written 5 tokens before '='.
inline void push_trace_step(Example& example, index_t position, const ChainStep& step, Role result_role,
                            std::int32_t closing) {
  const std::int32_t op = operator_token(step.op);
  example.push(token::index_tag(position), Role::step_index);
  example.push(op, step_operator_role(op));
  example.push(token::digit(step.right), Role::step_right);
  example.push(token::equals, Role::step_equals);
  example.push(token::digit(step.result), result_role);
  example.push(closing, closing == token::wait ? Role::wait_marker : Role::step_separator);
}

// A bare fact "left op right = result ;".
inline void push_fact(Example& example, const ChainStep& fact) {
  const std::int32_t op = operator_token(fact.op);
  example.push(token::digit(fact.left), Role::step_left);
  example.push(op, step_operator_role(op));
  example.push(token::digit(fact.right), Role::step_right);
  example.push(token::equals, Role::step_equals);
  example.push(token::digit(fact.result), Role::step_result);
  example.push(token::separator, Role::step_separator);
}

inline void check_corrections(const ChainProblem& problem, std::span<const Correction> corrections,
                              const std::vector<ChainStep>& steps) {
  for (std::size_t c = 0; c < corrections.size(); ++c) {
    const Correction& correction = corrections[c];
    const bool in_order = c == 0 || corrections[c - 1].step < correction.step;
    const bool step_ok = correction.step >= 0 && correction.step < problem.operator_count();
    const bool result_ok = correction.wrong_result >= 0 && correction.wrong_result < chain_modulus &&
                           (!step_ok || correction.wrong_result != steps[std::size_t(correction.step)].result);
    if (!in_order || !step_ok || !result_ok) {
      throw value_error("worked_example: correction " + std::to_string(c) + " (step " + std::to_string(correction.step) +
                        ", wrong result " + std::to_string(correction.wrong_result) + ") must name a step 0.." +
                        std::to_string(problem.operator_count() - 1) +
                        " after the previous correction's, with a digit other than the step's result");
    }
  }
}
}  // namespace detail

// BOS [D] Q question ?: what a model is prompted with, and how every question example starts.
inline Example prompt_example(const ChainProblem& problem, Context context = Context::plain) {
  Example example;
  const std::vector<std::int32_t> body = problem.question_tokens();
  const index_t n = problem.operator_count();
  example.tokens.reserve(std::size_t(prompt_length(n, context) + worked_response_length(n)));
  example.roles.reserve(example.tokens.capacity());
  example.push(token::bos, Role::bos);
  if (context == Context::document) example.push(token::document, Role::document_marker);
  example.push(token::question, Role::question_marker);
  for (std::int32_t id : body) {
    example.push(id, is_digit(id) ? Role::problem_digit : is_index_tag(id) ? Role::problem_index : problem_operator_role(id));
  }
  example.push(token::question_end, Role::question_end);
  example.response_begin = example.size();
  return example;
}

// BOS Q question ? A answer E.
inline Example direct_example(const ChainProblem& problem) {
  Example example = prompt_example(problem, Context::plain);
  example.push(token::answer, Role::answer_marker);
  example.push(token::digit(problem.answer()), Role::answer_digit);
  example.push(token::end, Role::end);
  return example;
}

// BOS [D] Q question ? T v ; #1 step ; ... #n step ; A answer E, with the given
// self-corrections (steps in increasing order, each at most once): a corrected step is written
// with the wrong result and W, then the running value again, ';', and the step with the right
// result.
inline Example worked_example(const ChainProblem& problem, Context context, std::span<const Correction> corrections = {}) {
  const std::vector<ChainStep> steps = problem.steps();
  detail::check_corrections(problem, corrections, steps);
  Example example = prompt_example(problem, context);
  example.push(token::think, Role::think_marker);
  example.push(token::digit(steps.front().left), Role::start_value);
  example.push(token::separator, Role::step_separator);
  auto correction = corrections.begin();
  for (std::size_t k = 0; k < steps.size(); ++k) {
    const index_t position = index_t(k) + 1;
    if (correction != corrections.end() && correction->step == index_t(k)) {
      ChainStep wrong = steps[k];
      wrong.result = correction->wrong_result;
      detail::push_trace_step(example, position, wrong, Role::wrong_result, token::wait);
      example.push(token::digit(steps[k].left), Role::restated_value);
      example.push(token::separator, Role::step_separator);
      detail::push_trace_step(example, position, steps[k], Role::corrected_result, token::separator);
      ++correction;
    } else {
      detail::push_trace_step(example, position, steps[k], Role::step_result, token::separator);
    }
  }
  example.push(token::answer, Role::answer_marker);
  example.push(token::digit(steps.back().result), Role::answer_digit);
  example.push(token::end, Role::end);
  return example;
}

// BOS fact ; fact ; ... E: single steps outside any problem, written whole ("3 + 4 = 7 ;"):
// unlike a trace step they have no tag (no question to index) and write their left operand
// (no running value to point back to).
inline Example facts_example(std::span<const ChainStep> facts) {
  if (facts.empty()) throw value_error("facts_example: need at least one fact");
  Example example;
  example.push(token::bos, Role::bos);
  for (const ChainStep& fact : facts) {
    const bool digits_ok = fact.left >= 0 && fact.left < chain_modulus && fact.right >= 0 && fact.right < chain_modulus;
    if (!digits_ok || fact.result != apply(fact.op, fact.left, fact.right)) {
      throw value_error("facts_example: a fact must be a true single step on digits, got " + std::to_string(fact.left) +
                        " " + token_name(operator_token(fact.op)) + " " + std::to_string(fact.right) + " = " +
                        std::to_string(fact.result));
    }
    detail::push_fact(example, fact);
  }
  example.push(token::end, Role::end);
  example.response_begin = 1;
  return example;
}

// A uniformly drawn single step.
inline ChainStep sample_fact(Rng& gen) {
  const int left = static_cast<int>(uniform_below(gen, chain_modulus));
  const auto op = static_cast<ChainOperator>(uniform_below(gen, 3));
  const int right = static_cast<int>(uniform_below(gen, chain_modulus));
  return make_step(left, op, right);
}

// Each step independently corrected with `probability`; the wrong result uniform over the
// nine digits other than the right one. At most `max_corrections` are kept (the first ones):
// the cap bounds an example's length (reasoning_batches.hpp) and changes nothing else, since
// every step draws the same numbers whether or not its correction is kept.
inline std::vector<Correction> sample_corrections(const ChainProblem& problem, double probability, Rng& gen,
                                                  index_t max_corrections = max_operators) {
  if (!(probability >= 0.0 && probability <= 1.0)) {
    throw value_error("sample_corrections: probability must be in [0, 1], got " + std::to_string(probability));
  }
  if (max_corrections < 0) {
    throw value_error("sample_corrections: max_corrections must be >= 0, got " + std::to_string(max_corrections));
  }
  std::vector<Correction> corrections;
  if (probability == 0.0) return corrections;  // draws nothing, so a stream is the same as without the option
  const std::vector<ChainStep> steps = problem.steps();
  for (std::size_t k = 0; k < steps.size(); ++k) {
    if (!(unit_uniform(gen) < probability)) continue;
    const int shift = 1 + static_cast<int>(uniform_below(gen, chain_modulus - 1));
    if (index_t(corrections.size()) < max_corrections) {
      corrections.push_back({index_t(k), (steps[k].result + shift) % chain_modulus});
    }
  }
  return corrections;
}

}  // namespace ranklens::data::reasoning
