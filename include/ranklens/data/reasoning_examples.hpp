// The example formats of the synthetic reasoning task, each token with its role:
//
//   direct     BOS Q 3 + 4 * 2 - 9 A 5 E
//   worked     BOS D Q 3 + 4 * 2 - 9 T 3 + 4 = 7 ; 7 * 2 = 4 ; 4 - 9 = 5 ; A 5 E   (a document)
//   trace      BOS Q 3 + 4 * 2 - 9 T 3 + 4 = 7 ; 7 * 2 = 4 ; 4 - 9 = 5 ; A 5 E     (finetune)
//   facts      BOS 3 + 4 = 7 ; 9 * 8 = 2 ; E
//
// A self-correction writes a wrong result, then W, then the step again with the right one:
// "... 7 * 2 = 3 W 7 * 2 = 4 ; ...". Pretraining shows worked solutions only behind D; the
// finetune traces are the same syntax without D (docs/data.md says why).
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
// first token after the prompt "BOS [D] Q problem" (its A or T): a finetune trains on the
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
  return 3 + 2 * operators + (context == Context::document ? 1 : 0);  // BOS [D] Q d (op d)*n
}
constexpr index_t direct_response_length() noexcept { return 3; }  // A d E
constexpr index_t worked_response_length(index_t operators, index_t corrections = 0) noexcept {
  return 1 + 6 * (operators + corrections) + 3;  // T, six tokens a step, A d E
}
constexpr index_t facts_length(index_t facts) noexcept { return 2 + 6 * facts; }  // BOS, d op d = d ;, E

namespace detail {
inline void push_step(Example& example, const ChainStep& step, Role result_role, std::int32_t closing) {
  const std::int32_t op = operator_token(step.op);
  example.push(token::digit(step.left), Role::step_left);
  example.push(op, step_operator_role(op));
  example.push(token::digit(step.right), Role::step_right);
  example.push(token::equals, Role::step_equals);
  example.push(token::digit(step.result), result_role);
  example.push(closing, closing == token::wait ? Role::wait_marker : Role::step_separator);
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

// BOS [D] Q problem: what a model is prompted with, and how every question example starts.
inline Example prompt_example(const ChainProblem& problem, Context context = Context::plain) {
  Example example;
  const std::vector<std::int32_t> body = problem.tokens();
  example.tokens.reserve(body.size() + 3 + std::size_t(worked_response_length(problem.operator_count())));
  example.roles.reserve(example.tokens.capacity());
  example.push(token::bos, Role::bos);
  if (context == Context::document) example.push(token::document, Role::document_marker);
  example.push(token::question, Role::question_marker);
  for (std::int32_t id : body) example.push(id, is_digit(id) ? Role::problem_digit : problem_operator_role(id));
  example.response_begin = example.size();
  return example;
}

// BOS Q problem A answer E.
inline Example direct_example(const ChainProblem& problem) {
  Example example = prompt_example(problem, Context::plain);
  example.push(token::answer, Role::answer_marker);
  example.push(token::digit(problem.answer()), Role::answer_digit);
  example.push(token::end, Role::end);
  return example;
}

// BOS [D] Q problem T step ; ... step ; A answer E, with the given self-corrections (steps in
// increasing order, each at most once).
inline Example worked_example(const ChainProblem& problem, Context context, std::span<const Correction> corrections = {}) {
  const std::vector<ChainStep> steps = problem.steps();
  detail::check_corrections(problem, corrections, steps);
  Example example = prompt_example(problem, context);
  example.push(token::think, Role::think_marker);
  auto correction = corrections.begin();
  for (std::size_t k = 0; k < steps.size(); ++k) {
    if (correction != corrections.end() && correction->step == index_t(k)) {
      ChainStep wrong = steps[k];
      wrong.result = correction->wrong_result;
      detail::push_step(example, wrong, Role::wrong_result, token::wait);
      detail::push_step(example, steps[k], Role::corrected_result, token::separator);
      ++correction;
    } else {
      detail::push_step(example, steps[k], Role::step_result, token::separator);
    }
  }
  example.push(token::answer, Role::answer_marker);
  example.push(token::digit(steps.back().result), Role::answer_digit);
  example.push(token::end, Role::end);
  return example;
}

// BOS fact ; fact ; ... E: single steps in the trace's step syntax, outside any problem.
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
    detail::push_step(example, fact, Role::step_result, token::separator);
  }
  example.push(token::end, Role::end);
  example.response_begin = 1;
  return example;
}

// A uniformly drawn single step.
inline ChainStep sample_fact(rng& gen) {
  const int left = static_cast<int>(gen.below(chain_modulus));
  const auto op = static_cast<ChainOperator>(gen.below(3));
  const int right = static_cast<int>(gen.below(chain_modulus));
  return make_step(left, op, right);
}

// Each step independently corrected with `probability`; the wrong result uniform over the
// nine digits other than the right one.
inline std::vector<Correction> sample_corrections(const ChainProblem& problem, double probability, rng& gen) {
  if (!(probability >= 0.0 && probability <= 1.0)) {
    throw value_error("sample_corrections: probability must be in [0, 1], got " + std::to_string(probability));
  }
  std::vector<Correction> corrections;
  if (probability == 0.0) return corrections;  // draws nothing, so a stream is the same as without the option
  const std::vector<ChainStep> steps = problem.steps();
  for (std::size_t k = 0; k < steps.size(); ++k) {
    if (!(gen.uniform() < probability)) continue;
    const int shift = 1 + static_cast<int>(gen.below(chain_modulus - 1));
    corrections.push_back({index_t(k), (steps[k].result + shift) % chain_modulus});
  }
  return corrections;
}

}  // namespace ranklens::data::reasoning
