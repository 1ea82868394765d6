// Evaluation of the synthetic reasoning task: per tier, distinct held-out problems as prompts
// "BOS Q question ?" (the model's first token chooses to answer with A or to work with T), and
// the grading of what a model generated after a prompt.
//
// Grading is exact match on the final answer, as on the paper's benchmarks: the answer is the
// digit of the output's "A d E" ending, whatever came before it. Apart from that, the output's
// form (a direct answer, a well-formed trace, or neither) and whether a trace's kept steps are
// exactly the problem's steps are reported, to tell a right answer reached by working from a
// guess. A retracted step is not checked beyond its tag: W takes it back.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/core/tensor.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/data/reasoning_batches.hpp"
#include "ranklens/data/reasoning_examples.hpp"
#include "ranklens/data/reasoning_problem.hpp"
#include "ranklens/data/reasoning_vocabulary.hpp"

namespace ranklens::data::reasoning {

// The difficulty tiers, by operators per problem: the analogues of the paper's three benchmarks.
inline constexpr std::array<index_t, 3> default_tiers{2, 4, 6};

struct EvaluationSet {
  index_t operators = 0;
  Context context = Context::plain;
  std::vector<ChainProblem> problems;  // distinct, all held out
  std::vector<int> answers;
  TokenMatrix prompts;                 // (size, prompt_length(operators, context)): BOS [D] Q question ?

  index_t size() const noexcept { return static_cast<index_t>(problems.size()); }
};

namespace detail {
constexpr std::uint64_t evaluation_stream_salt = 0x6576616c75617431ULL;
}

// `count` distinct held-out problems with `operators` operators, drawn uniformly from the
// stream (seed, operators); a smaller set is a prefix of a larger one. Context::document
// gives "BOS D Q question ?" prompts, which ask a base model for the skill it holds behind D.
inline EvaluationSet evaluation_set(const HeldOutSplit& split, index_t operators, index_t count, std::uint64_t seed,
                                    Context context = Context::plain) {
  split.validate();
  if (count < 1) throw value_error("evaluation_set: count must be >= 1, got " + std::to_string(count));
  EvaluationSet set;
  set.operators = operators;
  set.context = context;
  Rng gen = Rng::for_stream(seed ^ detail::evaluation_stream_salt, static_cast<std::uint64_t>(operators));
  std::set<std::vector<std::int32_t>> seen;
  const index_t max_draws = 64 * count + 10000;
  for (index_t draw = 0; draw < max_draws && set.size() < count; ++draw) {
    ChainProblem problem = sample_test_problem(gen, operators, split);
    if (!seen.insert(problem.tokens()).second) continue;
    set.answers.push_back(problem.answer());
    set.problems.push_back(std::move(problem));
  }
  if (set.size() < count) {
    throw value_error("evaluation_set: only " + std::to_string(set.size()) + " distinct held-out problems with " +
                      std::to_string(operators) + " operators turned up in " + std::to_string(max_draws) +
                      " draws, fewer than the " + std::to_string(count) + " asked for (modulus " +
                      std::to_string(split.modulus) + ")");
  }
  set.prompts = TokenMatrix(Shape<dyn, dyn>{count, prompt_length(operators, context)});
  for (index_t i = 0; i < count; ++i) {
    const Example prompt = prompt_example(set.problems[std::size_t(i)], context);
    for (index_t t = 0; t < prompt.size(); ++t) set.prompts(i, t) = prompt.tokens[std::size_t(t)];
  }
  return set;
}

enum class OutputForm {
  direct,     // A d E
  worked,     // T v ; step... A d E, step = "#k op d = r ;" or, retracted, "#k op d = r W v ;";
              // at least one step kept, the last one not retracted
  malformed,  // anything else, including an output cut off before E
};

struct GradedOutput {
  std::optional<int> answer;  // the digit of the "A d E" ending; empty without one
  bool correct = false;       // answer == the problem's answer
  OutputForm form = OutputForm::malformed;
  bool steps_correct = false;  // worked, the start value is the first digit, the kept steps (not
                               // retracted by W) are exactly the problem's steps (operator and
                               // operand copied from the question, right results), every value
                               // restated after W is the running value, and the answer is the
                               // last result
  index_t steps = 0;           // steps written, retracted ones included (worked form only)
  index_t corrections = 0;     // W markers (worked form only)

  bool followed_trace_syntax() const noexcept { return form == OutputForm::worked; }
};

// Grades what a model generated after the prompt of `problem` (the prompt not included).
// Tokens after the first E are ignored, so a padded buffer may be passed.
inline GradedOutput grade_output(const ChainProblem& problem, std::span<const std::int32_t> generated) {
  GradedOutput graded;
  std::size_t end = 0;
  while (end < generated.size() && generated[end] != token::end) ++end;
  if (end == generated.size()) return graded;  // no E: cut off or rambling
  const std::span<const std::int32_t> body = generated.first(end);

  // The answer: the body ends with "A d", and that is its only A.
  std::size_t answer_markers = 0;
  for (std::int32_t id : body) answer_markers += id == token::answer;
  if (answer_markers != 1 || body.size() < 2 || body[body.size() - 2] != token::answer || !is_digit(body.back())) {
    return graded;
  }
  graded.answer = body.back();
  graded.correct = *graded.answer == problem.answer();
  if (body.size() == 2) {
    graded.form = OutputForm::direct;
    return graded;
  }

  // A trace: "T v ;" (the start value), then steps "#k op d = r" closed by ';', or by W and
  // the restated running value "v ;", then A d. The tag must be the step's position: one more
  // than the steps kept so far, so a step done again after W repeats its tag.
  if (body[0] != token::think) return graded;
  constexpr auto step_size = std::size_t(trace_step_length);
  const std::size_t steps_end = body.size() - 2;
  if (steps_end < 3 || !is_digit(body[1]) || body[2] != token::separator) return graded;
  int running = body[1];  // the running value as written: the start value, then each kept result
  bool restated_right = true;
  bool redo_pending = false;  // a W whose step has not been done again yet
  std::vector<ChainStep> kept;
  index_t steps = 0, corrections = 0;
  for (std::size_t i = 3; i < steps_end;) {
    if (i + step_size > steps_end) return graded;  // leftover tokens
    const std::span<const std::int32_t> step = body.subspan(i, step_size);
    const auto op = operator_from_token(step[1]);
    const bool well_formed = tag_position(step[0]) == index_t(kept.size()) + 1 && op && is_digit(step[2]) &&
                             step[3] == token::equals && is_digit(step[4]) &&
                             (step[5] == token::separator || step[5] == token::wait);
    if (!well_formed) return graded;
    ++steps;
    i += step_size;
    if (step[5] == token::wait) {
      if (i + 2 > steps_end || !is_digit(body[i]) || body[i + 1] != token::separator) return graded;
      restated_right = restated_right && body[i] == running;
      ++corrections;
      redo_pending = true;
      i += 2;
    } else {
      kept.push_back({running, *op, step[2], step[4]});
      running = step[4];
      redo_pending = false;
    }
  }
  // No step kept, or a W with no step after it: not a trace.
  if (kept.empty() || redo_pending) return graded;
  graded.form = OutputForm::worked;
  graded.steps = steps;
  graded.corrections = corrections;
  // Each kept step compared with the problem's: the left operands (the start value, then the
  // results as written), the operator and operand copied from the question, the result.
  graded.steps_correct = kept == problem.steps() && restated_right && kept.back().result == *graded.answer;
  return graded;
}

// Counts over many graded outputs, e.g. one tier of one model.
struct GradeTally {
  index_t outputs = 0;
  index_t correct = 0;
  index_t direct = 0;
  index_t worked = 0;
  index_t malformed = 0;
  index_t steps_correct = 0;
  index_t with_corrections = 0;  // worked outputs with at least one W

  void add(const GradedOutput& graded) noexcept {
    ++outputs;
    correct += graded.correct;
    direct += graded.form == OutputForm::direct;
    worked += graded.form == OutputForm::worked;
    malformed += graded.form == OutputForm::malformed;
    steps_correct += graded.steps_correct;
    with_corrections += graded.corrections > 0;
  }
  double accuracy() const noexcept { return outputs == 0 ? 0.0 : double(correct) / double(outputs); }
};

}  // namespace ranklens::data::reasoning
