// The problems of the synthetic reasoning task: a chain of n + 1 digits and n operators
// (+, -, *), evaluated left to right mod 10:
//
//   3 + 4 * 2 - 9  =  ((3 + 4) * 2 - 9) mod 10  =  5,  in the steps 3+4=7, 7*2=4, 4-9=5.
//
// A question shows the problem with index tags, "3 #1 + 4 #2 * 2 #3 - 9" (question_tokens);
// the canonical form "3 + 4 * 2 - 9" (tokens) is what the held-out split hashes.
//
// Held-out problems: a problem is a test problem iff the hash of its canonical token form is
// divisible by HeldOutSplit::modulus. The split is a property of the problem alone (no seed,
// no tier), so every training stream rejects exactly the problems every evaluation set draws
// from, whatever their seeds: no training data can ever contain a test problem.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/data/reasoning_vocabulary.hpp"

namespace ranklens::data::reasoning {

enum class ChainOperator : std::uint8_t { plus, minus, times };

inline constexpr int chain_modulus = 10;

// left op right, mod 10, in 0..9.
constexpr int apply(ChainOperator op, int left, int right) noexcept {
  switch (op) {
    case ChainOperator::plus: return (left + right) % chain_modulus;
    case ChainOperator::minus: return (left - right + chain_modulus) % chain_modulus;
    case ChainOperator::times: return (left * right) % chain_modulus;
  }
  return 0;
}

constexpr std::int32_t operator_token(ChainOperator op) noexcept {
  return token::plus + static_cast<std::int32_t>(op);
}

constexpr std::optional<ChainOperator> operator_from_token(std::int32_t id) noexcept {
  if (!is_operator(id)) return std::nullopt;
  return static_cast<ChainOperator>(id - token::plus);
}

// One step "left op right = result": left is the running value (the previous step's result,
// the problem's first digit for the first step) and right the problem's next digit. A line of
// facts writes all four; a trace step leaves left out (reasoning_examples.hpp).
struct ChainStep {
  int left = 0;
  ChainOperator op = ChainOperator::plus;
  int right = 0;
  int result = 0;
  friend bool operator==(const ChainStep&, const ChainStep&) = default;
};

constexpr ChainStep make_step(int left, ChainOperator op, int right) noexcept {
  return {left, op, right, apply(op, left, right)};
}

struct ChainProblem {
  std::vector<int> operands;              // n + 1 digits
  std::vector<ChainOperator> operators;   // n operators; operators[k] joins operands[k + 1]

  index_t operator_count() const noexcept { return static_cast<index_t>(operators.size()); }

  void validate() const {
    bool digits_ok = true, operators_ok = true;
    for (int d : operands) digits_ok = digits_ok && d >= 0 && d < chain_modulus;
    for (ChainOperator op : operators) operators_ok = operators_ok && op <= ChainOperator::times;
    if (operators.empty() || operands.size() != operators.size() + 1 || !digits_ok || !operators_ok ||
        operator_count() > max_operators) {
      throw value_error("ChainProblem: need 1.." + std::to_string(max_operators) +
                        " operators (+ - *) and one more operand, every operand a digit 0-9 (no more operators: the "
                        "vocabulary tags operators #1..#6 only); got " +
                        std::to_string(operands.size()) + " operands and " + std::to_string(operators.size()) + " operators");
    }
  }

  // The n steps of the left-to-right evaluation.
  std::vector<ChainStep> steps() const {
    validate();
    std::vector<ChainStep> result;
    result.reserve(operators.size());
    int value = operands[0];
    for (std::size_t k = 0; k < operators.size(); ++k) {
      result.push_back(make_step(value, operators[k], operands[k + 1]));
      value = result.back().result;
    }
    return result;
  }

  int answer() const {
    validate();
    int value = operands[0];
    for (std::size_t k = 0; k < operators.size(); ++k) value = apply(operators[k], value, operands[k + 1]);
    return value;
  }

  // The canonical form "3 + 4 * 2 - 9" as token ids: what the hash reads. It has no tags, so
  // the split does not depend on how examples are written.
  std::vector<std::int32_t> tokens() const { return written(false); }

  // The form a question shows, "3 #1 + 4 #2 * 2 #3 - 9": each operator after its index tag.
  std::vector<std::int32_t> question_tokens() const { return written(true); }

  friend bool operator==(const ChainProblem&, const ChainProblem&) = default;

 private:
  std::vector<std::int32_t> written(bool tagged) const {
    validate();
    std::vector<std::int32_t> result{token::digit(operands[0])};
    for (std::size_t k = 0; k < operators.size(); ++k) {
      if (tagged) result.push_back(token::index_tag(index_t(k) + 1));
      result.push_back(operator_token(operators[k]));
      result.push_back(token::digit(operands[k + 1]));
    }
    return result;
  }
};

// The problem whose canonical form (digit, then operator-digit pairs) or question form (the
// same with the tag #k before the k-th operator, every operator tagged) is exactly `tokens`.
inline ChainProblem problem_from_tokens(std::span<const std::int32_t> tokens) {
  ChainProblem problem;
  const bool tagged = tokens.size() >= 2 && is_index_tag(tokens[1]);
  const std::size_t group = tagged ? 3 : 2;  // [#k] op d
  bool ok = tokens.size() >= 1 + group && (tokens.size() - 1) % group == 0 && is_digit(tokens[0]);
  if (ok) problem.operands.push_back(tokens[0]);
  for (std::size_t i = 1; ok && i < tokens.size(); i += group) {
    const index_t position = index_t(problem.operators.size()) + 1;
    const auto op = operator_from_token(tokens[i + group - 2]);
    ok = (!tagged || tag_position(tokens[i]) == position) && op.has_value() && is_digit(tokens[i + group - 1]);
    if (ok) {
      problem.operators.push_back(*op);
      problem.operands.push_back(tokens[i + group - 1]);
    }
  }
  if (!ok) {
    throw value_error("problem_from_tokens: \"" + to_string(tokens) +
                      "\" is not a chain problem (a digit, then one or more operator-digit pairs, either no operator "
                      "tagged or each after its tag #1, #2, ... in order)");
  }
  problem.validate();
  return problem;
}

// "3 + 4 * 2 - 9", "3+4*2-9" or "3 #1 + 4 #2 * 2 #3 - 9".
inline ChainProblem parse_problem(std::string_view text) { return problem_from_tokens(parse_tokens(text)); }

// A 64-bit hash of the canonical form, the same on every platform: SplitMix64's mixer folded
// over the token ids. The length is part of the fold, so "3 + 4" and "3 + 4 * 2" are unrelated.
inline std::uint64_t problem_hash(const ChainProblem& problem) {
  std::uint64_t h = 0x7265617330ULL;  // a fixed salt ("reas0"); changing it moves the split
  for (std::int32_t id : problem.tokens()) h = mix64(h + static_cast<std::uint64_t>(id) + 1);
  return mix64(h + static_cast<std::uint64_t>(problem.operator_count()));
}

// Which problems are held out for evaluation: about one in `modulus` of every length.
struct HeldOutSplit {
  // Beyond one in a thousand the short tiers keep too few test problems to measure, and the
  // rejection samplers below would need too many draws.
  static constexpr std::uint64_t max_modulus = 1000;
  std::uint64_t modulus = 10;

  void validate() const {
    if (modulus < 2 || modulus > max_modulus) {
      throw value_error("HeldOutSplit: modulus must be in 2..1000 (one problem in `modulus` is held out), got " +
                        std::to_string(modulus));
    }
  }
  bool is_test(const ChainProblem& problem) const {
    validate();
    return problem_hash(problem) % modulus == 0;
  }
};

// Uniform over all problems with `operators` operators: digits uniform on 0-9, operators
// uniform on + - *.
inline ChainProblem sample_problem(Rng& gen, index_t operators) {
  if (operators < 1 || operators > max_operators) {
    throw value_error("sample_problem: operators must be in 1.." + std::to_string(max_operators) +
                      " (the vocabulary tags operators #1..#6 only), got " + std::to_string(operators));
  }
  ChainProblem problem;
  problem.operands.reserve(static_cast<std::size_t>(operators + 1));
  problem.operators.reserve(static_cast<std::size_t>(operators));
  problem.operands.push_back(static_cast<int>(uniform_below(gen, chain_modulus)));
  for (index_t k = 0; k < operators; ++k) {
    problem.operators.push_back(static_cast<ChainOperator>(uniform_below(gen, 3)));
    problem.operands.push_back(static_cast<int>(uniform_below(gen, chain_modulus)));
  }
  return problem;
}

namespace detail {
// Rejection sampling on the split. When about one problem in `modulus` is held out, failing
// 64 * modulus draws in a row has probability about e^-64; failing means the split leaves no
// (or almost no) problem of this length on the wanted side.
inline ChainProblem sample_problem_on_side(Rng& gen, index_t operators, const HeldOutSplit& split, bool test) {
  split.validate();
  const std::uint64_t max_draws = 64 * split.modulus + 10000;
  for (std::uint64_t draw = 0; draw < max_draws; ++draw) {
    ChainProblem problem = sample_problem(gen, operators);
    if (split.is_test(problem) == test) return problem;
  }
  throw value_error(std::string("sample_") + (test ? "test" : "training") + "_problem: no " +
                    (test ? "held-out" : "training") + " problem with " + std::to_string(operators) +
                    " operators in " + std::to_string(max_draws) + " draws; the split (modulus " +
                    std::to_string(split.modulus) + ") leaves almost none of this length on that side");
}
}  // namespace detail

// Uniform over the training problems (those the split does not hold out), by rejection.
inline ChainProblem sample_training_problem(Rng& gen, index_t operators, const HeldOutSplit& split) {
  return detail::sample_problem_on_side(gen, operators, split, false);
}

// Uniform over the held-out problems, by rejection (about `modulus` draws each).
inline ChainProblem sample_test_problem(Rng& gen, index_t operators, const HeldOutSplit& split) {
  return detail::sample_problem_on_side(gen, operators, split, true);
}

}  // namespace ranklens::data::reasoning
