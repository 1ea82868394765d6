// Specification of the synthetic reasoning task's language, problems, examples, roles and
// grading: data/reasoning_vocabulary.hpp, reasoning_problem.hpp, reasoning_roles.hpp,
// reasoning_examples.hpp and reasoning_evaluation.hpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "ranklens/data/reasoning_evaluation.hpp"
#include "ranklens/data/reasoning_examples.hpp"
#include "ranklens/data/reasoning_problem.hpp"
#include "ranklens/data/reasoning_roles.hpp"
#include "ranklens/data/reasoning_vocabulary.hpp"

namespace data_test_reasoning_task {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;
using namespace ranklens::data::reasoning;

namespace {

std::vector<std::string> role_names(const std::vector<Role>& roles) {
  std::vector<std::string> names;
  for (Role role : roles) names.emplace_back(role_name(role));
  return names;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (c == ' ') {
      if (!word.empty()) words.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

// The tokens of an example after its prompt: what a model would have generated.
std::vector<std::int32_t> response_of(const Example& example) {
  return {example.tokens.begin() + example.response_begin, example.tokens.end()};
}

GradedOutput grade(const std::string& problem, const std::string& output) {
  const std::vector<std::int32_t> tokens = parse_tokens(output);
  return grade_output(parse_problem(problem), tokens);
}

}  // namespace

TEST_CASE("vocabulary: 30 ids, digits are their values, every name reads back", "[data][reasoning]") {
  CHECK(vocab_size == 30);
  for (int d = 0; d < 10; ++d) CHECK(token::digit(d) == d);
  std::vector<std::int32_t> all;
  for (std::int32_t id = 0; id < vocab_size; ++id) all.push_back(id);
  const std::string text = to_string(all);
  CHECK(text == "0 1 2 3 4 5 6 7 8 9 + - * = ; BOS Q A T D W E PAD ? #1 #2 #3 #4 #5 #6");
  CHECK(parse_tokens(text) == all);
  CHECK(parse_tokens("BOSQ3#1+4?A7E") == parse_tokens("BOS Q 3 #1 + 4 ? A 7 E"));
  CHECK(parse_tokens("BOS Q 3 #1 + 4 ? A 7 E") ==
        std::vector<std::int32_t>{token::bos, token::question, 3, token::index_tag(1), token::plus, 4, token::question_end,
                                  token::answer, 7, token::end});
  CHECK(parse_tokens("#12") == std::vector<std::int32_t>{token::index_tag(1), 2});
  CHECK(token_name(30) == "<30?>");
  CHECK(token_name(-1) == "<-1?>");
  CHECK_THROWS_WITH(parse_tokens("BOS Q 3 x 4"), Catch::Contains("'x' at character 8"));
  CHECK_THROWS_WITH(parse_tokens("3 #7 + 4"), Catch::Contains("'#' at character 2"));
  CHECK_THROWS_AS(parse_tokens("#"), value_error);
  CHECK_THROWS_AS(parse_tokens("BO"), value_error);

  // The new tokens came after PAD, so the ids 0..22 are those of the format without them.
  CHECK(token::pad == 22);
  CHECK(token::question_end == 23);
  CHECK(max_operators == 6);
  for (index_t k = 1; k <= max_operators; ++k) {
    CHECK(token::index_tag(k) == 23 + k);
    CHECK(is_index_tag(token::index_tag(k)));
    CHECK(tag_position(token::index_tag(k)) == k);
    CHECK(token_name(token::index_tag(k)) == "#" + std::to_string(k));
  }
  CHECK_FALSE(is_index_tag(token::question_end));
  CHECK_FALSE(is_index_tag(vocab_size));
  CHECK(tag_position(token::digit(1)) == 0);
  CHECK_THROWS_WITH(token::index_tag(7), Catch::Contains("operator position 7 is outside 1..6"));
  CHECK_THROWS_AS(token::index_tag(0), value_error);
}

TEST_CASE("problems are evaluated left to right mod 10", "[data][reasoning]") {
  const ChainProblem problem = parse_problem("3 + 4 * 2 - 9");
  CHECK(problem.operator_count() == 3);
  CHECK(problem.answer() == 5);
  const std::vector<ChainStep> steps = problem.steps();
  REQUIRE(steps.size() == 3);
  CHECK(steps[0] == ChainStep{3, ChainOperator::plus, 4, 7});
  CHECK(steps[1] == ChainStep{7, ChainOperator::times, 2, 4});
  CHECK(steps[2] == ChainStep{4, ChainOperator::minus, 9, 5});
  CHECK(parse_problem("0-1").answer() == 9);
  CHECK(parse_problem("1-2-3").answer() == 6);
  CHECK(parse_problem("2*5+7").answer() == 7);
  CHECK(parse_problem("9-9*3").answer() == 0);
  CHECK(parse_problem("9*9*9").answer() == 9);  // 729
  CHECK(to_string(problem.tokens()) == "3 + 4 * 2 - 9");
  CHECK(to_string(problem.question_tokens()) == "3 #1 + 4 #2 * 2 #3 - 9");
  CHECK(parse_problem("3 #1 + 4 #2 * 2 #3 - 9") == problem);
  CHECK(parse_problem("3#1+4#2*2#3-9") == problem);

  // Against exact integer arithmetic, reduced once at the end: mod 10 is a ring homomorphism,
  // so the reductions after each step must not change the result.
  Rng gen(11);
  for (int trial = 0; trial < 2000; ++trial) {
    const ChainProblem p = sample_problem(gen, 1 + index_t(uniform_below(gen, max_operators)));
    long long exact = p.operands[0];
    for (std::size_t k = 0; k < p.operators.size(); ++k) {
      const long long d = p.operands[k + 1];
      switch (p.operators[k]) {
        case ChainOperator::plus: exact += d; break;
        case ChainOperator::minus: exact -= d; break;
        case ChainOperator::times: exact *= d; break;
      }
    }
    REQUIRE(p.answer() == int(((exact % 10) + 10) % 10));
    REQUIRE(p.steps().back().result == p.answer());
  }
}

TEST_CASE("problem_from_tokens accepts only a digit followed by operator-digit pairs, all tagged or none",
          "[data][reasoning]") {
  for (const char* bad : {"", "3", "3+", "+3", "3 3", "3+4+", "3++4", "3+4 A", "3 #1 + 4 ?", "#1 3 + 4", "3 #2 + 4",
                          "3 #1 + 4 * 2", "3 + 4 #2 * 2", "3 #1 + 4 #1 * 2", "3 + #1 4", "3 #1 4", "3 #1"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse_problem(bad), Catch::Contains("is not a chain problem"));
  }
  // At most six operators: the vocabulary has the tags #1..#6 only.
  CHECK(parse_problem("1+1+1+1+1+1+1").operator_count() == 6);
  CHECK_THROWS_WITH(parse_problem("1+1+1+1+1+1+1+1"), Catch::Contains("need 1..6 operators"));
  CHECK_THROWS_WITH((ChainProblem{{1, 1, 1, 1, 1, 1, 1, 1}, std::vector<ChainOperator>(7)}.question_tokens()),
                    Catch::Contains("tags operators #1..#6 only"));
  Rng gen(1);
  CHECK_THROWS_AS(sample_problem(gen, 0), value_error);
  CHECK_THROWS_WITH(sample_problem(gen, max_operators + 1), Catch::Contains("operators must be in 1..6"));
  CHECK(parse_problem("3+4") == ChainProblem{{3, 4}, {ChainOperator::plus}});
  CHECK_THROWS_WITH((ChainProblem{{3, 4}, {ChainOperator(3)}}.answer()), Catch::Contains("operators (+ - *)"));
  CHECK_THROWS_AS((ChainProblem{{3, 10}, {ChainOperator::plus}}.tokens()), value_error);
  CHECK_THROWS_AS((ChainProblem{{3, 4, 5}, {ChainOperator::plus}}.steps()), value_error);
}

TEST_CASE("the held-out split takes about one problem in modulus, by the problem alone", "[data][reasoning]") {
  const HeldOutSplit split{10};
  // Every problem with two operators: 10^3 digits times 3^2 operators.
  index_t total = 0, test = 0;
  for (int a = 0; a < 10; ++a)
    for (int b = 0; b < 10; ++b)
      for (int c = 0; c < 10; ++c)
        for (int o1 = 0; o1 < 3; ++o1)
          for (int o2 = 0; o2 < 3; ++o2) {
            const ChainProblem p{{a, b, c}, {ChainOperator(o1), ChainOperator(o2)}};
            ++total;
            test += split.is_test(p);
            REQUIRE(split.is_test(p) == (problem_hash(p) % 10 == 0));
          }
  CHECK(total == 9000);
  CHECK(test > 800);  // 900 expected; the binomial standard deviation is 28
  CHECK(test < 1000);
  // The split is part of the benchmark's definition: these counts change only if the hash does.
  CHECK(test == 918);  // as before the index tags: the hash reads tokens(), the untagged form
  index_t one_operator = 0;
  for (int a = 0; a < 10; ++a)
    for (int b = 0; b < 10; ++b)
      for (int o = 0; o < 3; ++o) one_operator += split.is_test(ChainProblem{{a, b}, {ChainOperator(o)}});
  CHECK(one_operator == 33);
  // Prefixes are unrelated problems: the hash of "3 + 4" says nothing about "3 + 4 * 2".
  CHECK(problem_hash(parse_problem("3+4")) != problem_hash(parse_problem("3+4*2")));
  CHECK_THROWS_WITH(HeldOutSplit{1}.validate(), Catch::Contains("modulus must be in 2..1000"));
  CHECK_THROWS_AS(HeldOutSplit{1001}.validate(), value_error);

  Rng gen(3);
  for (int i = 0; i < 300; ++i) {
    CHECK_FALSE(split.is_test(sample_training_problem(gen, 4, split)));
    CHECK(split.is_test(sample_test_problem(gen, 4, split)));
  }
  // A split that holds out nothing of a short length is reported, not looped on: of the 300
  // one-operator problems, one in 1000 holds none out (counted here).
  const HeldOutSplit sparse{1000};
  index_t one_operator_test = 0;
  for (int a = 0; a < 10; ++a)
    for (int b = 0; b < 10; ++b)
      for (int o = 0; o < 3; ++o) one_operator_test += sparse.is_test(ChainProblem{{a, b}, {ChainOperator(o)}});
  REQUIRE(one_operator_test == 0);
  CHECK_THROWS_WITH(sample_test_problem(gen, 1, sparse), Catch::Contains("no held-out problem with 1 operators"));
}

TEST_CASE("examples have the exact formats", "[data][reasoning]") {
  const ChainProblem problem = parse_problem("3 + 4 * 2 - 9");
  CHECK(to_string(direct_example(problem).tokens) == "BOS Q 3 #1 + 4 #2 * 2 #3 - 9 ? A 5 E");
  CHECK(to_string(worked_example(problem, Context::document).tokens) ==
        "BOS D Q 3 #1 + 4 #2 * 2 #3 - 9 ? T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E");
  CHECK(to_string(worked_example(problem, Context::plain).tokens) ==
        "BOS Q 3 #1 + 4 #2 * 2 #3 - 9 ? T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E");
  // A correction: the wrong result, W, the running value restated, the step done again.
  const std::vector<Correction> corrections{{1, 3}};
  CHECK(to_string(worked_example(problem, Context::plain, corrections).tokens) ==
        "BOS Q 3 #1 + 4 #2 * 2 #3 - 9 ? T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 W 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E");
  CHECK(to_string(worked_example(problem, Context::plain, std::vector<Correction>{{0, 1}}).tokens) ==
        "BOS Q 3 #1 + 4 #2 * 2 #3 - 9 ? T 3 ; #1 + 4 = 1 W 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E");
  const std::vector<ChainStep> facts{make_step(3, ChainOperator::plus, 4), make_step(9, ChainOperator::times, 8)};
  CHECK(to_string(facts_example(facts).tokens) == "BOS 3 + 4 = 7 ; 9 * 8 = 2 ; E");
  CHECK(to_string(prompt_example(problem).tokens) == "BOS Q 3 #1 + 4 #2 * 2 #3 - 9 ?");
  CHECK(to_string(prompt_example(problem, Context::document).tokens) == "BOS D Q 3 #1 + 4 #2 * 2 #3 - 9 ?");

  // response_begin: the A or T after the question's ?.
  CHECK(direct_example(problem).response_begin == 13);
  CHECK(worked_example(problem, Context::plain).response_begin == 13);
  CHECK(worked_example(problem, Context::document).response_begin == 14);
  CHECK(direct_example(problem).tokens[12] == token::question_end);
  CHECK(facts_example(facts).response_begin == 1);

  // The length formulas agree with the builders, for every length and number of corrections.
  CHECK(facts_example(facts).size() == facts_length(2));
  Rng gen(2);
  for (index_t n = 1; n <= max_operators; ++n) {
    const ChainProblem p = sample_problem(gen, n);
    CHECK(prompt_example(p).size() == prompt_length(n));
    CHECK(prompt_example(p, Context::document).size() == prompt_length(n, Context::document));
    CHECK(direct_example(p).size() == prompt_length(n) + direct_response_length());
    std::vector<Correction> all;
    for (index_t c = 0; c <= n; ++c) {
      CHECK(worked_example(p, Context::document, all).size() ==
            prompt_length(n, Context::document) + worked_response_length(n, c));
      CHECK(worked_example(p, Context::plain, all).size() == prompt_length(n) + worked_response_length(n, c));
      if (c < n) all.push_back({c, (p.steps()[std::size_t(c)].result + 1) % 10});
    }
  }
  // The longest examples (docs/data.md): six operators behind D, every step corrected, is 113
  // tokens; with at most 3 corrections (the batches' default cap) 89; without any, 65.
  CHECK(worked_response_length(6) == 42);
  CHECK(worked_response_length(6, 3) == 66);
  CHECK(prompt_length(6, Context::document) + worked_response_length(6, 6) == 113);
  CHECK(prompt_length(6, Context::document) + worked_response_length(6, 3) == 89);
  CHECK(prompt_length(6) + worked_response_length(6, 3) == 88);
  CHECK(prompt_length(6, Context::document) + worked_response_length(6) == 65);
}

TEST_CASE("roles of a self-corrected trace, token by token", "[data][reasoning]") {
  const std::vector<Correction> corrections{{1, 3}};
  const Example example = worked_example(parse_problem("3 + 4 * 2"), Context::document, corrections);
  REQUIRE(to_string(example.tokens) == "BOS D Q 3 #1 + 4 #2 * 2 ? T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 W 7 ; #2 * 2 = 4 ; A 4 E");
  const std::vector<std::string> expected = split_words(
      "bos document_marker question_marker problem_digit problem_index problem_plus problem_digit problem_index "
      "problem_times problem_digit question_end think_marker start_value step_separator "
      "step_index step_plus step_right step_equals step_result step_separator "
      "step_index step_times step_right step_equals wrong_result wait_marker restated_value step_separator "
      "step_index step_times step_right step_equals corrected_result step_separator "
      "answer_marker answer_digit end");
  CHECK(role_names(example.roles) == expected);
  CHECK(example.roles.size() == example.tokens.size());
  CHECK(role_names(label_roles(example.tokens)) == expected);

  CHECK(role_names(facts_example(std::vector<ChainStep>{make_step(1, ChainOperator::minus, 2)}).roles) ==
        split_words("bos step_left step_minus step_right step_equals step_result step_separator end"));
  // The ids of the format before the start and restated values are unchanged: the new roles
  // came after `other`. A trace step has no step_left any more; a fact still does.
  CHECK(role_count == 29);
  CHECK(std::int32_t(Role::step_left) == 15);
  CHECK(std::int32_t(Role::answer_digit) == 25);
  CHECK(std::int32_t(Role::other) == 26);
  CHECK(role_name(std::int32_t(27)) == "start_value");
  CHECK(role_name(std::int32_t(28)) == "restated_value");
  CHECK(std::count(example.roles.begin(), example.roles.end(), Role::step_left) == 0);
  CHECK_THROWS_AS(role_name(std::int32_t(role_count)), value_error);
  CHECK_THROWS_AS(role_name(std::int32_t(-1)), value_error);
}

TEST_CASE("every token of a trace is a copy after a match or a function of tokens at fixed offsets", "[data][reasoning]") {
  // The claims docs/data.md makes for the step syntax, checked on many examples with
  // corrections: the start value is the token after Q; "#k op d" is the question's text after
  // its "#k"; the left operand of every step is the token 5 before its '='; a restated value is
  // the token 7 before W (5 before the retracted step's '='); the answer is 2 before A.
  Rng gen(17);
  index_t equals_seen = 0, waits_seen = 0;
  for (int i = 0; i < 2000; ++i) {
    const ChainProblem problem = sample_problem(gen, 1 + index_t(uniform_below(gen, max_operators)));
    const std::vector<Correction> corrections = sample_corrections(problem, 0.3, gen);
    const Example example = worked_example(problem, i % 2 ? Context::document : Context::plain, corrections);
    const std::vector<std::int32_t>& t = example.tokens;
    const auto q = std::size_t(std::find(t.begin(), t.end(), token::question) - t.begin());
    const auto think = std::size_t(example.response_begin);
    REQUIRE(t[think] == token::think);
    REQUIRE(t[think + 1] == t[q + 1]);
    REQUIRE(t[think + 2] == token::separator);
    for (std::size_t e = think; e < t.size(); ++e) {
      if (t[e] == token::equals) {
        ++equals_seen;
        REQUIRE(t[e - 4] == token::separator);
        const std::int32_t tag = t[e - 3];
        REQUIRE(is_index_tag(tag));
        const auto question_begin = t.begin() + std::ptrdiff_t(q), question_end = t.begin() + std::ptrdiff_t(think);
        const auto in_question = std::size_t(std::find(question_begin, question_end, tag) - t.begin());
        REQUIRE(in_question < think);
        REQUIRE(t[in_question + 1] == t[e - 2]);  // the operator
        REQUIRE(t[in_question + 2] == t[e - 1]);  // the right operand
        const int result = apply(*operator_from_token(t[e - 2]), t[e - 5], t[e - 1]);
        REQUIRE((t[e + 1] == result) == (t[e + 2] != token::wait));
      }
      if (t[e] == token::wait) {
        ++waits_seen;
        REQUIRE(t[e + 1] == t[e - 7]);
      }
    }
    const auto a = t.size() - 3;
    REQUIRE(t[a] == token::answer);
    REQUIRE(t[a + 1] == t[a - 2]);
    REQUIRE(t[a + 1] == problem.answer());
  }
  CHECK(equals_seen > 7000);
  CHECK(waits_seen > 1000);
}

TEST_CASE("label_roles reads the same roles the builders write, and marks stray tokens other", "[data][reasoning]") {
  Rng gen(5);
  std::vector<std::int32_t> packed;
  std::vector<Role> packed_roles;
  for (int i = 0; i < 3000; ++i) {
    const ChainProblem problem = sample_problem(gen, 1 + index_t(uniform_below(gen, max_operators)));
    const std::vector<Correction> corrections = sample_corrections(problem, 0.3, gen);
    std::vector<ChainStep> facts{sample_fact(gen), sample_fact(gen)};
    for (const Example& example : {direct_example(problem), worked_example(problem, Context::document, corrections),
                                   worked_example(problem, Context::plain, corrections), facts_example(facts)}) {
      REQUIRE(example.roles.size() == example.tokens.size());
      REQUIRE(label_roles(example.tokens) == example.roles);
      packed.insert(packed.end(), example.tokens.begin(), example.tokens.end());
      packed_roles.insert(packed_roles.end(), example.roles.begin(), example.roles.end());
    }
  }
  CHECK(label_roles(packed) == packed_roles);  // examples one after another, as rows pack them

  // Text a model might write: stray digits, operators and tags are `other`, markers keep their
  // roles, and ';' or a marker resynchronises.
  const std::vector<Role> roles = label_roles(parse_tokens("BOS Q 3 3 #1 + ? T 3 3 ; #1 + = 4 ; A 5 6 E PAD 7"));
  CHECK(role_names(roles) ==
        split_words("bos question_marker problem_digit other other other question_end think_marker start_value other "
                    "step_separator step_index step_plus step_equals other step_separator answer_marker answer_digit "
                    "other end pad other"));
  // Facts carry no tag and write their left operand; trace steps open with a tag and do not.
  CHECK(role_names(label_roles(parse_tokens("BOS #1 3 + 4 = 7 ; 3 + 4 = 7 ; E"))) ==
        split_words("bos other other other other step_equals other step_separator "
                    "step_left step_plus step_right step_equals step_result step_separator end"));
  CHECK(role_names(label_roles(parse_tokens("Q 3 #1 + 4 ? T 3 ; 3 + 4 = 7 ; #5 + 1 = 8 ; #2 #2 A 8 E"))) ==
        split_words("question_marker problem_digit problem_index problem_plus problem_digit question_end think_marker "
                    "start_value step_separator other other other step_equals other step_separator "
                    "step_index step_plus step_right step_equals step_result step_separator "
                    "step_index other answer_marker answer_digit end"));
  // A trace without its start value, W in a line of facts, ';' or '=' inside a question.
  CHECK(role_names(label_roles(parse_tokens("T #1 + 4 = 7 ; BOS 1 + 2 = 4 W 3 ; Q 3 ; 4 ? A 1 ; 2 E"))) ==
        split_words("think_marker other other other step_equals other step_separator bos step_left step_plus "
                    "step_right step_equals wrong_result wait_marker other step_separator question_marker "
                    "problem_digit step_separator other question_end answer_marker answer_digit step_separator "
                    "other end"));
  const std::vector<std::int32_t> out_of_vocabulary{token::bos, 99, -5};
  CHECK(role_names(label_roles(out_of_vocabulary)) == split_words("bos other other"));
}

TEST_CASE("self-corrections are well formed and drawn at the asked rate", "[data][reasoning]") {
  Rng gen(8);
  const double p = 0.25;
  index_t steps = 0, corrected = 0;
  std::vector<index_t> shift_counts(10, 0);
  for (int i = 0; i < 4000; ++i) {
    const ChainProblem problem = sample_problem(gen, 1 + index_t(uniform_below(gen, 6)));
    const std::vector<Correction> corrections = sample_corrections(problem, p, gen);
    const std::vector<ChainStep> right = problem.steps();
    steps += problem.operator_count();
    corrected += index_t(corrections.size());
    for (const Correction& c : corrections) {
      REQUIRE(c.wrong_result != right[std::size_t(c.step)].result);
      ++shift_counts[std::size_t((c.wrong_result - right[std::size_t(c.step)].result + 10) % 10)];
    }
    // Every W follows a wrong result, "v ; #k op d = r W", and is followed by the running value
    // v restated, ';', and the same step, tag included, with the right result.
    const Example example = worked_example(problem, Context::plain, corrections);
    const std::vector<std::int32_t>& tokens = example.tokens;
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      if (tokens[t] != token::wait) continue;
      REQUIRE(t >= 7);
      REQUIRE(t + 8 < tokens.size());
      REQUIRE(is_index_tag(tokens[t - 5]));
      REQUIRE(tokens[t - 6] == token::separator);
      REQUIRE(tokens[t + 1] == tokens[t - 7]);
      REQUIRE(tokens[t + 2] == token::separator);
      for (std::size_t j = 0; j < 4; ++j) REQUIRE(tokens[t + 3 + j] == tokens[t - 5 + j]);
      const int right = apply(*operator_from_token(tokens[t - 4]), tokens[t - 7], tokens[t - 3]);
      REQUIRE(tokens[t - 1] != right);
      REQUIRE(tokens[t + 7] == right);
      REQUIRE(tokens[t + 8] == token::separator);
    }
    const GradedOutput graded = grade_output(problem, response_of(example));
    REQUIRE(graded.form == OutputForm::worked);
    REQUIRE(graded.steps_correct);
    REQUIRE(graded.correct);
    REQUIRE(graded.corrections == index_t(corrections.size()));
    REQUIRE(graded.steps == problem.operator_count() + index_t(corrections.size()));
  }
  const double rate = double(corrected) / double(steps);
  CHECK(rate == Approx(p).margin(0.02));
  CHECK(shift_counts[0] == 0);
  for (int s = 1; s < 10; ++s) CHECK(double(shift_counts[std::size_t(s)]) / double(corrected) == Approx(1.0 / 9).margin(0.02));
  CHECK(sample_corrections(parse_problem("1+2"), 0.0, gen).empty());
  CHECK_THROWS_AS(sample_corrections(parse_problem("1+2"), 1.5, gen), value_error);
  CHECK_THROWS_WITH(sample_corrections(parse_problem("1+2"), 0.5, gen, -1), Catch::Contains("max_corrections must be >= 0"));
}

TEST_CASE("a cap on corrections keeps the first ones and draws the same numbers", "[data][reasoning]") {
  Rng gen(21);
  index_t capped_somewhere = 0;
  for (int i = 0; i < 500; ++i) {
    const ChainProblem problem = sample_problem(gen, 6);
    for (index_t cap = 0; cap <= 6; ++cap) {
      Rng free_gen = gen, capped_gen = gen;
      const std::vector<Correction> free = sample_corrections(problem, 0.5, free_gen);
      const std::vector<Correction> capped = sample_corrections(problem, 0.5, capped_gen, cap);
      const std::size_t kept = std::min(free.size(), std::size_t(cap));
      REQUIRE(capped == std::vector<Correction>(free.begin(), free.begin() + std::ptrdiff_t(kept)));
      REQUIRE(free_gen() == capped_gen());  // the stream goes on the same
      capped_somewhere += free.size() > capped.size();
    }
    gen();
  }
  CHECK(capped_somewhere > 100);
  const std::vector<Correction> all = sample_corrections(parse_problem("1+1+1+1+1+1+1"), 1.0, gen, 3);
  REQUIRE(all.size() == 3);
  CHECK(all == std::vector<Correction>{{0, all[0].wrong_result}, {1, all[1].wrong_result}, {2, all[2].wrong_result}});
}

TEST_CASE("corrections that name no step, repeat a step or are not wrong are refused", "[data][reasoning]") {
  const ChainProblem problem = parse_problem("3 + 4 * 2");  // steps give 7, then 4
  const auto refused = [&](std::vector<Correction> corrections) {
    CHECK_THROWS_WITH(worked_example(problem, Context::plain, corrections), Catch::Contains("worked_example: correction"));
  };
  refused({{2, 1}});
  refused({{-1, 1}});
  refused({{0, 7}});
  refused({{1, 3}, {0, 2}});
  refused({{1, 3}, {1, 2}});
  refused({{0, 10}});
  CHECK_NOTHROW(worked_example(problem, Context::plain, std::vector<Correction>{{0, 2}, {1, 3}}));
  CHECK_THROWS_WITH(facts_example(std::vector<ChainStep>{{3, ChainOperator::plus, 4, 8}}), Catch::Contains("true single step"));
  CHECK_THROWS_AS(facts_example(std::vector<ChainStep>{}), value_error);
}

TEST_CASE("grading: answer, form and steps of good, wrong, malformed and cut-off outputs", "[data][reasoning]") {
  const std::string problem = "3 + 4 * 2 - 9";  // answer 5

  GradedOutput g = grade(problem, "A 5 E");
  CHECK(g.answer == 5);
  CHECK(g.correct);
  CHECK(g.form == OutputForm::direct);
  CHECK_FALSE(g.followed_trace_syntax());
  CHECK_FALSE(g.steps_correct);

  g = grade(problem, "A 6 E");
  CHECK(g.answer == 6);
  CHECK_FALSE(g.correct);
  CHECK(g.form == OutputForm::direct);

  g = grade(problem, "T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E");
  CHECK(g.answer == 5);
  CHECK(g.correct);
  CHECK(g.followed_trace_syntax());
  CHECK(g.steps_correct);
  CHECK(g.steps == 3);
  CHECK(g.corrections == 0);

  // W retracts the step just written; the running value is restated and the step done again,
  // tag included.
  g = grade(problem, "T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 W 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E");
  CHECK(g.correct);
  CHECK(g.steps_correct);
  CHECK(g.steps == 4);
  CHECK(g.corrections == 1);
  g = grade(problem, "T 3 ; #1 + 4 = 1 W 3 ; #1 + 4 = 2 W 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E");
  CHECK(g.steps_correct);
  CHECK(g.steps == 5);
  CHECK(g.corrections == 2);
  // A retracted step is not checked beyond its tag: W takes it back, operator and operand too.
  CHECK(grade(problem, "T 3 ; #1 - 5 = 1 W 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E").steps_correct);

  // A right answer after a wrong step, a wrong answer after right steps, a step too few, an
  // operand or operator that is not the question's, a step too many, a wrong start value, a
  // wrong value restated after W: well-formed traces whose steps are not all right.
  for (const char* output : {"T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 ; #3 - 9 = 5 ; A 5 E",
                             "T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 4 E",
                             "T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; A 5 E",
                             "T 3 ; #1 + 4 = 7 ; #2 * 3 = 1 ; #3 - 9 = 2 ; A 2 E",
                             "T 3 ; #1 + 4 = 7 ; #2 + 2 = 9 ; #3 - 9 = 0 ; A 0 E",
                             "T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; #4 + 0 = 5 ; A 5 E",
                             "T 4 ; #1 + 4 = 8 ; #2 * 2 = 6 ; #3 - 9 = 7 ; A 7 E",
                             "T 4 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E",
                             "T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 W 6 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E"}) {
    g = grade(problem, output);
    INFO(output);
    CHECK(g.form == OutputForm::worked);
    CHECK_FALSE(g.steps_correct);
  }
  CHECK(grade(problem, "T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 ; #3 - 9 = 5 ; A 5 E").correct);

  // Malformed: an answer is still read from an "A d E" ending.
  g = grade(problem, "T 3 ; #1 + 4 = 7 #2 * 2 = 4 ; A 5 E");
  CHECK(g.form == OutputForm::malformed);
  CHECK(g.answer == 5);
  CHECK(g.correct);
  CHECK_FALSE(g.steps_correct);
  for (const char* output : {"T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 W 7 ; A 4 E",  // W with no step after it
                             "T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 W A 4 E",
                             "T A 5 E", "T 3 ; A 5 E", "Q 5 A 5 E", "5 A 5 E", "T 3 ; #1 + 4 = 7 ; #2 * = 4 ; A 4 E",
                             "T 3 ; #1 + 4 = 7 ; BOS A 5 E",
                             // The format before the start value (left operands in the steps),
                             // and before the tags.
                             "T #1 3 + 4 = 7 ; #2 7 * 2 = 4 ; #3 4 - 9 = 5 ; A 5 E",
                             "T 3 + 4 = 7 ; 7 * 2 = 4 ; 4 - 9 = 5 ; A 5 E",
                             // No start value, or no ';' after it; a correction without the
                             // restated value, or without its ';'.
                             "T #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E",
                             "T 3 #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E",
                             "T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 W #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E",
                             "T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 W 7 #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E",
                             // A tag that is not the step's position, a step after W that moves
                             // on to the next tag, a stray token.
                             "T 3 ; #1 + 4 = 7 ; #3 * 2 = 4 ; #3 - 9 = 5 ; A 5 E",
                             "T 3 ; #2 + 4 = 7 ; #3 * 2 = 4 ; #4 - 9 = 5 ; A 5 E",
                             "T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 W 7 ; #3 * 2 = 4 ; #3 - 9 = 5 ; A 5 E",
                             "T 3 ; #1 + 4 = 7 #1 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E",
                             // The question going on, or ended twice, before the choice.
                             "#4 + 1 ? A 5 E", "? T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E"}) {
    INFO(output);
    g = grade(problem, output);
    CHECK(g.form == OutputForm::malformed);
    CHECK(g.answer == 5 - (std::string(output).find("A 4") != std::string::npos));
  }
  // Six operators: a seventh step would need the tag #7, which does not exist.
  const std::string six = "1 + 1 + 1 + 1 + 1 + 1 + 1";  // answer 7
  const std::string six_steps = "T 1 ; #1 + 1 = 2 ; #2 + 1 = 3 ; #3 + 1 = 4 ; #4 + 1 = 5 ; #5 + 1 = 6 ; #6 + 1 = 7 ; ";
  CHECK(grade(six, six_steps + "A 7 E").steps_correct);
  CHECK(grade(six, six_steps + "#6 + 0 = 7 ; A 7 E").form == OutputForm::malformed);
  // No answer: cut off before E, no digit after A, two A, nothing at all.
  for (const char* output : {"T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9", "A 5", "A E", "A 5 5 E", "A 5 A 5 E", "E", "",
                             "PAD PAD", "T 3 ; #1 + 4 = 7 ; A 7 ; A 5 E"}) {
    INFO(output);
    g = grade(problem, output);
    CHECK_FALSE(g.answer.has_value());
    CHECK_FALSE(g.correct);
    CHECK(g.form == OutputForm::malformed);
  }
  // Tokens after the first E are not read; ids outside the vocabulary are just wrong.
  CHECK(grade(problem, "A 5 E PAD PAD 3 +").form == OutputForm::direct);
  const std::vector<std::int32_t> strange{token::answer, 42, token::end};
  CHECK_FALSE(grade_output(parse_problem(problem), strange).answer.has_value());
  const std::vector<std::int32_t> negative{-7, token::answer, 5, token::end};
  CHECK(grade_output(parse_problem(problem), negative).form == OutputForm::malformed);

  GradeTally tally;
  tally.add(grade(problem, "A 5 E"));
  tally.add(grade(problem, "T 3 ; #1 + 4 = 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 5 E"));
  tally.add(grade(problem, "T 3 ; #1 + 4 = 7 ; #2 * 2 = 3 W 7 ; #2 * 2 = 4 ; #3 - 9 = 5 ; A 6 E"));
  tally.add(grade(problem, "A 5"));
  CHECK(tally.outputs == 4);
  CHECK(tally.correct == 2);
  CHECK(tally.direct == 1);
  CHECK(tally.worked == 2);
  CHECK(tally.malformed == 1);
  CHECK(tally.steps_correct == 1);
  CHECK(tally.with_corrections == 1);
  CHECK(tally.accuracy() == 0.5);
}

TEST_CASE("evaluation sets: distinct held-out problems per tier, prompts without D that end in ?", "[data][reasoning]") {
  const HeldOutSplit split{10};
  for (index_t n : default_tiers) {
    const EvaluationSet set = evaluation_set(split, n, 200, 42);
    REQUIRE(set.size() == 200);
    REQUIRE(set.prompts.extent(0) == 200);
    REQUIRE(set.prompts.extent(1) == prompt_length(n));
    std::set<std::vector<std::int32_t>> distinct;
    for (index_t i = 0; i < set.size(); ++i) {
      const ChainProblem& problem = set.problems[std::size_t(i)];
      REQUIRE(problem.operator_count() == n);
      REQUIRE(split.is_test(problem));
      REQUIRE(set.answers[std::size_t(i)] == problem.answer());
      distinct.insert(problem.tokens());
      const std::vector<std::int32_t> row(set.prompts.data() + i * set.prompts.extent(1),
                                          set.prompts.data() + (i + 1) * set.prompts.extent(1));
      REQUIRE(row == prompt_example(problem).tokens);
      REQUIRE(row.back() == token::question_end);
    }
    CHECK(distinct.size() == 200);
    // A smaller set is a prefix of a larger one; another seed gives other problems.
    const EvaluationSet smaller = evaluation_set(split, n, 50, 42);
    CHECK(std::equal(smaller.problems.begin(), smaller.problems.end(), set.problems.begin()));
    CHECK(evaluation_set(split, n, 50, 43).problems != smaller.problems);
  }
  const EvaluationSet documents = evaluation_set(split, 2, 10, 42, Context::document);
  CHECK(to_string(prompt_example(documents.problems[0], Context::document).tokens) ==
        to_string(std::vector<std::int32_t>(documents.prompts.data(), documents.prompts.data() + documents.prompts.extent(1))));
  CHECK(documents.prompts(0, 1) == token::document);
  // One operator: 300 problems, about 30 held out. Asking for more is an error, not a hang.
  CHECK_THROWS_WITH(evaluation_set(split, 1, 100, 42), Catch::Contains("distinct held-out problems with 1 operators"));
}

}  // namespace data_test_reasoning_task
