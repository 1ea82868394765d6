// Specification of data/reasoning_batches.hpp: the pretraining mixture and the finetune
// traces of the synthetic reasoning task, packed into (rows, seq_len) tokens, targets, roles.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "ranklens/data/reasoning_batches.hpp"
#include "ranklens/data/reasoning_evaluation.hpp"

namespace data_test_reasoning_batches {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::data;
using namespace ranklens::data::reasoning;

namespace {

std::vector<std::int32_t> row_of(const TokenMatrix& matrix, index_t row) {
  const index_t width = matrix.extent(1);
  return {matrix.data() + row * width, matrix.data() + (row + 1) * width};
}

bool same(const TokenMatrix& a, const TokenMatrix& b) {
  return a.shape() == b.shape() && std::equal(a.data(), a.data() + a.numel(), b.data());
}

bool same(const ReasoningBatch& a, const ReasoningBatch& b) {
  return same(a.tokens, b.tokens) && same(a.targets, b.targets) && same(a.roles, b.roles);
}

// The examples of a packed row: each from a BOS to its E; then only PAD.
std::vector<std::vector<std::int32_t>> examples_of(const std::vector<std::int32_t>& row) {
  std::vector<std::vector<std::int32_t>> examples;
  std::size_t t = 0;
  while (t < row.size() && row[t] == token::bos) {
    std::vector<std::int32_t> example;
    while (t < row.size() && row[t] != token::end) example.push_back(row[t++]);
    REQUIRE(t < row.size());  // every example in a row is whole
    example.push_back(row[t++]);
    examples.push_back(example);
  }
  while (t < row.size()) REQUIRE(row[t++] == token::pad);
  return examples;
}

// The question of an example (the tagged tokens between Q and ?), if it has one; the token
// after the ? must be the choice, A or T.
std::optional<ChainProblem> question_of(const std::vector<std::int32_t>& example) {
  const auto q = std::find(example.begin(), example.end(), token::question);
  if (q == example.end()) return std::nullopt;
  const auto stop = std::find(q + 1, example.end(), token::question_end);
  REQUIRE(stop + 1 < example.end());
  REQUIRE((stop[1] == token::answer || stop[1] == token::think));
  const std::vector<std::int32_t> question(q + 1, stop);
  const ChainProblem problem = problem_from_tokens(question);
  REQUIRE(question == problem.question_tokens());
  return problem;
}

std::vector<Role> roles_as_enum(const std::vector<std::int32_t>& ids) {
  std::vector<Role> roles;
  for (std::int32_t id : ids) roles.push_back(static_cast<Role>(id));
  return roles;
}

}  // namespace

TEST_CASE("pretraining rows: whole examples, then PAD, targets are the next token, roles match the tokens",
          "[data][reasoning]") {
  const PretrainingMixture mixture;
  const ReasoningBatch batch = mixture.batch(7, 0);
  REQUIRE(batch.rows() == mixture.batch_size);
  REQUIRE(batch.seq_len() == mixture.seq_len);
  REQUIRE(batch.targets.shape() == batch.tokens.shape());
  REQUIRE(batch.roles.shape() == batch.tokens.shape());
  for (index_t b = 0; b < batch.rows(); ++b) {
    const std::vector<std::int32_t> tokens = row_of(batch.tokens, b), targets = row_of(batch.targets, b);
    REQUIRE(examples_of(tokens).size() >= 1);
    for (std::size_t t = 0; t + 1 < tokens.size(); ++t) {
      REQUIRE(targets[t] == (tokens[t + 1] == token::pad ? ignore_target : tokens[t + 1]));
    }
    REQUIRE(targets.back() == ignore_target);
    REQUIRE(roles_as_enum(row_of(batch.roles, b)) == label_roles(tokens));
  }
}

TEST_CASE("pretraining: worked solutions only behind D, direct answers never behind D", "[data][reasoning]") {
  PretrainingMixture mixture;
  mixture.correction_probability = 0.2;
  std::map<std::string, index_t> kinds;
  for (std::uint64_t step = 0; step < 20; ++step) {
    const ReasoningBatch batch = mixture.batch(1, step);
    for (index_t b = 0; b < batch.rows(); ++b) {
      for (const auto& example : examples_of(row_of(batch.tokens, b))) {
        const bool has_d = example[1] == token::document;
        const bool has_t = std::find(example.begin(), example.end(), token::think) != example.end();
        const bool has_q = std::find(example.begin(), example.end(), token::question) != example.end();
        const bool has_w = std::find(example.begin(), example.end(), token::wait) != example.end();
        REQUIRE(has_d == has_t);
        if (has_q) {
          REQUIRE(example[has_d ? 2 : 1] == token::question);
          const ChainProblem problem = *question_of(example);
          const Context context = has_d ? Context::document : Context::plain;
          const std::size_t choice = std::size_t(prompt_length(problem.operator_count(), context));
          REQUIRE(example[choice - 1] == token::question_end);
          REQUIRE(example[choice] == (has_d ? token::think : token::answer));
          kinds[has_d ? "worked" : "direct"]++;
          if (has_w) kinds["corrected"]++;
        } else {
          REQUIRE(is_digit(example[1]));  // a line of facts
          REQUIRE_FALSE(has_w);
          kinds["facts"]++;
        }
      }
    }
  }
  CHECK(kinds["direct"] > 0);
  CHECK(kinds["worked"] > 0);
  CHECK(kinds["facts"] > 0);
  CHECK(kinds["corrected"] > 0);
}

TEST_CASE("pretraining: a worked document sits alone at the start of its row unless packing is asked for",
          "[data][reasoning]") {
  PretrainingMixture mixture;
  const auto worked_rows = [&](bool alone_required) {
    index_t worked = 0, shared = 0;
    for (std::uint64_t step = 0; step < 10; ++step) {
      const ReasoningBatch batch = mixture.batch(3, step);
      for (index_t b = 0; b < batch.rows(); ++b) {
        const auto examples = examples_of(row_of(batch.tokens, b));
        for (std::size_t e = 0; e < examples.size(); ++e) {
          if (std::find(examples[e].begin(), examples[e].end(), token::think) == examples[e].end()) continue;
          ++worked;
          if (examples.size() > 1) ++shared;
          if (alone_required) REQUIRE(e == 0);
        }
      }
    }
    return std::pair{worked, shared};
  };
  const auto [worked, shared] = worked_rows(true);
  CHECK(worked > 0);
  CHECK(shared == 0);
  mixture.worked_alone = false;
  CHECK(worked_rows(false).second > 0);  // packed: some worked documents share their row
}

TEST_CASE("the mixture draws kinds and lengths with the configured weights", "[data][reasoning]") {
  PretrainingMixture mixture;
  mixture.direct_weight = 2;
  mixture.worked_weight = 1;
  mixture.facts_weight = 1;
  mixture.operator_counts = {2, 5};
  Rng gen(4);
  const int draws = 20000;
  index_t direct = 0, worked = 0, facts = 0, five = 0;
  for (int i = 0; i < draws; ++i) {
    const Example example = mixture.sample_example(gen);
    if (example.tokens[1] == token::question) ++direct;
    if (example.tokens[1] == token::document) ++worked;
    if (is_digit(example.tokens[1])) {
      ++facts;
      CHECK(example.size() == facts_length(mixture.facts_per_example));
      continue;
    }
    const ChainProblem problem = *question_of(example.tokens);
    REQUIRE((problem.operator_count() == 2 || problem.operator_count() == 5));
    five += problem.operator_count() == 5;
  }
  CHECK(double(direct) / draws == Approx(0.5).margin(0.015));
  CHECK(double(worked) / draws == Approx(0.25).margin(0.015));
  CHECK(double(facts) / draws == Approx(0.25).margin(0.015));
  CHECK(double(five) / double(direct + worked) == Approx(0.5).margin(0.015));
}

TEST_CASE("batches are pure functions of (seed, step): rows come from streams step * batch_size + row",
          "[data][reasoning]") {
  PretrainingMixture small;
  small.batch_size = 4;
  PretrainingMixture large = small;
  large.batch_size = 8;
  CHECK(same(small.batch(3, 5), small.batch(3, 5)));
  CHECK_FALSE(same(small.batch(3, 5), small.batch(3, 6)));
  CHECK_FALSE(same(small.batch(3, 5), small.batch(4, 5)));
  const ReasoningBatch a = small.batch(3, 1), b = large.batch(3, 0);
  for (index_t r = 0; r < 4; ++r) {
    CHECK(row_of(a.tokens, r) == row_of(b.tokens, 4 + r));
    CHECK(row_of(a.targets, r) == row_of(b.targets, 4 + r));
  }
}

TEST_CASE("no training stream ever emits a held-out problem", "[data][reasoning]") {
  const HeldOutSplit split{10};
  PretrainingMixture mixture;
  mixture.split = split;
  FinetuneTraces finetune;
  finetune.split = split;

  index_t questions = 0;
  std::set<index_t> lengths;
  for (std::uint64_t step = 0; step < 150; ++step) {
    const ReasoningBatch batch = mixture.batch(99, step);
    for (index_t b = 0; b < batch.rows(); ++b) {
      for (const auto& example : examples_of(row_of(batch.tokens, b))) {
        const auto problem = question_of(example);
        if (!problem) continue;
        REQUIRE_FALSE(split.is_test(*problem));
        lengths.insert(problem->operator_count());
        ++questions;
      }
    }
  }
  for (const Example& trace : finetune.traces(99, 5000)) {
    REQUIRE_FALSE(split.is_test(*question_of(trace.tokens)));
    ++questions;
  }
  CHECK(questions > 10000);  // about 7 000 from the mixture (a worked document ends its row) and 5 000 traces
  CHECK(lengths == std::set<index_t>{1, 2, 3, 4, 5, 6});
  // The check can fail: unfiltered draws of these lengths are held out about one time in 10,
  // and every evaluation problem is one the streams reject.
  Rng gen(99);
  index_t held_out = 0;
  for (int i = 0; i < 5000; ++i) held_out += split.is_test(sample_problem(gen, 1 + index_t(uniform_below(gen, 6))));
  CHECK(held_out > 400);
  for (index_t n : default_tiers)
    for (const ChainProblem& problem : evaluation_set(split, n, 100, 99).problems) REQUIRE(split.is_test(problem));
}

TEST_CASE("finetune traces: no D, targets from the prediction of T on, wrong results not trained",
          "[data][reasoning]") {
  FinetuneTraces finetune;
  finetune.correction_probability = 0.3;
  finetune.batch_size = 8;
  const std::vector<Example> traces = finetune.traces(5, 64);
  index_t wrong_seen = 0;
  for (std::uint64_t step = 0; step < 8; ++step) {
    const std::vector<index_t> indices = finetune.batch_indices(5, 64, step);
    const ReasoningBatch batch = finetune.batch(5, 64, step);
    REQUIRE(batch.rows() == 8);
    for (index_t b = 0; b < batch.rows(); ++b) {
      const Example& trace = traces[std::size_t(indices[std::size_t(b)])];
      const std::vector<std::int32_t> tokens = row_of(batch.tokens, b), targets = row_of(batch.targets, b);
      REQUIRE(std::equal(trace.tokens.begin(), trace.tokens.end(), tokens.begin()));
      REQUIRE(tokens[1] == token::question);
      REQUIRE(tokens[std::size_t(trace.response_begin) - 1] == token::question_end);
      REQUIRE(tokens[std::size_t(trace.response_begin)] == token::think);
      REQUIRE(std::count(tokens.begin(), tokens.end(), token::document) == 0);
      REQUIRE(roles_as_enum(row_of(batch.roles, b)) == label_roles(tokens));
      for (std::size_t t = 0; t < tokens.size(); ++t) {
        const bool predicts_response = index_t(t) + 1 >= trace.response_begin && index_t(t) + 1 < trace.size();
        const bool predicts_wrong = predicts_response && trace.roles[t + 1] == Role::wrong_result;
        wrong_seen += predicts_wrong;
        REQUIRE(targets[t] == (predicts_response && !predicts_wrong ? tokens[t + 1] : ignore_target));
      }
      // The prompt's last token, ?, is trained to predict T; the E is the last target.
      REQUIRE(targets[std::size_t(trace.response_begin - 1)] == token::think);
      REQUIRE(targets[std::size_t(trace.size() - 2)] == token::end);
    }
  }
  CHECK(wrong_seen > 0);

  finetune.train_on_wrong_results = true;
  const ReasoningBatch with_wrong = finetune.batch_of(traces);
  index_t trained_wrong = 0;
  for (index_t b = 0; b < with_wrong.rows(); ++b) {
    const Example& trace = traces[std::size_t(b)];
    for (index_t t = trace.response_begin; t < trace.size(); ++t) {
      REQUIRE(with_wrong.targets(b, t - 1) == trace.tokens[std::size_t(t)]);
      trained_wrong += trace.roles[std::size_t(t)] == Role::wrong_result;
    }
  }
  CHECK(trained_wrong > 0);
}

TEST_CASE("finetune sets of N traces are prefixes of larger ones, epochs visit each trace once", "[data][reasoning]") {
  FinetuneTraces finetune;
  const std::vector<Example> thirty = finetune.traces(11, 30), thousand = finetune.traces(11, 1000);
  for (std::size_t i = 0; i < thirty.size(); ++i) {
    REQUIRE(thirty[i].tokens == thousand[i].tokens);
    REQUIRE(thirty[i].roles == thousand[i].roles);
  }
  CHECK(finetune.trace(11, 29).tokens == thirty[29].tokens);
  CHECK(finetune.traces(12, 30)[0].tokens != thirty[0].tokens);
  std::set<std::vector<std::int32_t>> distinct;
  for (const Example& e : thousand) distinct.insert(e.tokens);
  CHECK(distinct.size() > 950);  // repeats only among the 270 one-operator training problems

  // 30 traces, batches of 16: positions 0..29 are epoch 0, 30..59 epoch 1, ...
  finetune.batch_size = 16;
  std::vector<index_t> walk;
  for (std::uint64_t step = 0; step < 15; ++step) {
    const std::vector<index_t> indices = finetune.batch_indices(11, 30, step);
    REQUIRE(indices == finetune.batch_indices(11, 30, step));
    walk.insert(walk.end(), indices.begin(), indices.end());
  }
  std::vector<std::vector<index_t>> epochs;
  for (std::size_t e = 0; e < 8; ++e) {
    std::vector<index_t> epoch(walk.begin() + std::ptrdiff_t(30 * e), walk.begin() + std::ptrdiff_t(30 * (e + 1)));
    epochs.push_back(epoch);
    std::sort(epoch.begin(), epoch.end());
    for (index_t i = 0; i < 30; ++i) REQUIRE(epoch[std::size_t(i)] == i);
  }
  CHECK(epochs[0] != epochs[1]);
  // A batch larger than the set spans several epochs.
  finetune.batch_size = 64;
  const std::vector<index_t> wide = finetune.batch_indices(11, 30, 0);
  CHECK(std::vector<index_t>(wide.begin(), wide.begin() + 30) == epochs[0]);
  CHECK(std::vector<index_t>(wide.begin() + 30, wide.begin() + 60) == epochs[1]);
}

TEST_CASE("the correction cap bounds every example to seq_len 96", "[data][reasoning]") {
  // Every step drawn for correction: six-operator traces keep the first three corrections.
  FinetuneTraces finetune;
  finetune.operator_counts = {6};
  finetune.correction_probability = 1.0;
  const std::vector<Example> traces = finetune.traces(3, 20);
  for (const Example& trace : traces) {
    REQUIRE(trace.size() == 88);
    REQUIRE(std::count(trace.tokens.begin(), trace.tokens.end(), token::wait) == 3);
    REQUIRE(grade_output(*question_of(trace.tokens), std::vector<std::int32_t>(trace.tokens.begin() + trace.response_begin,
                                                                               trace.tokens.end()))
                .steps_correct);
  }
  CHECK(finetune.batch_of(traces).seq_len() == 96);
  PretrainingMixture mixture;
  mixture.operator_counts = {6};
  mixture.correction_probability = 1.0;
  mixture.direct_weight = mixture.facts_weight = 0;
  Rng gen(3);
  for (int i = 0; i < 20; ++i) REQUIRE(mixture.sample_example(gen).size() == 89);
  // The cap changes no example that it does not cut: with the default rates the streams are
  // those of an uncapped source that fits 112 tokens, except where that one has 4+ corrections.
  FinetuneTraces uncapped;
  uncapped.max_corrections = 6;
  uncapped.seq_len = 112;
  const FinetuneTraces capped;
  index_t cut = 0;
  for (index_t i = 0; i < 2000; ++i) {
    const Example a = capped.trace(8, i), b = uncapped.trace(8, i);
    const bool over = std::count(b.tokens.begin(), b.tokens.end(), token::wait) > 3;
    cut += over;
    if (!over) REQUIRE(a.tokens == b.tokens);
  }
  CHECK(cut < 5);  // about 0.1% of six-operator traces have four or more corrections at 0.1 a step
}

TEST_CASE("bad configurations are refused with the reason", "[data][reasoning]") {
  PretrainingMixture mixture;
  mixture.seq_len = 88;  // a six-operator document with 3 corrections (the default cap) needs 89
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("a worked document can be 89 tokens long, more than seq_len = 88"));
  mixture.correction_probability = 0;  // then 65
  CHECK_NOTHROW(mixture.validate());
  mixture.seq_len = 64;
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("a worked document can be 65 tokens long"));
  mixture = PretrainingMixture{};
  mixture.max_corrections = 6;  // every step of six corrected: 113
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("a worked document can be 113 tokens long, more than seq_len = 96"));
  mixture.seq_len = 113;
  CHECK_NOTHROW(mixture.validate());
  mixture.max_corrections = -1;
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("max_corrections must be >= 0"));
  mixture = PretrainingMixture{};
  mixture.worked_weight = mixture.facts_weight = 0;
  mixture.seq_len = 25;  // a six-operator direct example: BOS Q, 7 digits, 6 tags, 6 operators, ?, A d E
  CHECK_NOTHROW(mixture.validate());
  mixture.seq_len = 24;
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("a direct example can be 25 tokens long"));
  mixture.direct_weight = -1;
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("weights must be finite and >= 0"));
  mixture = PretrainingMixture{};
  mixture.direct_weight = mixture.worked_weight = mixture.facts_weight = 0;
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("all weights are zero"));
  mixture = PretrainingMixture{};
  mixture.operator_counts = {0, 2};
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("operator count 0 is outside"));
  mixture.operator_counts = {2, 7};
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("operator count 7 is outside 1..6"));
  mixture.operator_counts = {};
  CHECK_THROWS_WITH(mixture.validate(), Catch::Contains("operator_counts is empty"));
  mixture = PretrainingMixture{};
  mixture.split.modulus = 1;
  CHECK_THROWS_AS(mixture.batch(0, 0), value_error);

  FinetuneTraces finetune;
  finetune.seq_len = 87;
  CHECK_THROWS_WITH(finetune.validate(), Catch::Contains("a trace can be 88 tokens long"));
  finetune = FinetuneTraces{};
  finetune.max_corrections = -2;
  CHECK_THROWS_WITH(finetune.validate(), Catch::Contains("max_corrections must be >= 0"));
  finetune = FinetuneTraces{};
  finetune.correction_probability = -0.1;
  CHECK_THROWS_WITH(finetune.validate(), Catch::Contains("correction_probability must be in [0, 1]"));
  finetune = FinetuneTraces{};
  CHECK_THROWS_WITH(finetune.batch_indices(0, 0, 0), Catch::Contains("trace_count must be >= 1"));
  CHECK_THROWS_AS(finetune.trace(0, -1), value_error);
  Example long_example = finetune.trace(0, 0);
  long_example.tokens.resize(200, token::pad);
  long_example.roles.resize(200, Role::pad);
  CHECK_THROWS_WITH(finetune.batch_of(std::vector<Example>{long_example}),
                    Catch::Contains("example 0 is 200 tokens long, more than seq_len = 96"));
  ReasoningBatch batch = empty_batch(2, 8);
  CHECK_THROWS_AS(place_example(batch, 0, 4, direct_example(parse_problem("1+2")), 0), shape_error);
  CHECK_THROWS_AS(empty_batch(0, 8), value_error);
  Example unlabelled = direct_example(parse_problem("1+2"));
  unlabelled.roles.pop_back();
  ReasoningBatch wide = empty_batch(1, 16);
  CHECK_THROWS_WITH(place_example(wide, 0, 0, unlabelled, 0), Catch::Contains("10 tokens but 9 roles"));
}

// Packing statistics quoted in docs/data.md:
//   scripts/quick_test.sh tests/data/test_reasoning_batches.cpp -- "[stats]"
TEST_CASE("packing statistics of the default mixture", "[.][stats]") {
  const PretrainingMixture mixture;
  index_t pad = 0, total = 0, examples = 0, trained = 0;
  std::map<std::string, index_t> tokens_by_kind;
  const std::uint64_t steps = 200;
  for (std::uint64_t step = 0; step < steps; ++step) {
    const ReasoningBatch batch = mixture.batch(0, step);
    for (index_t b = 0; b < batch.rows(); ++b) {
      const std::vector<std::int32_t> row = row_of(batch.tokens, b), targets = row_of(batch.targets, b);
      total += index_t(row.size());
      pad += std::count(row.begin(), row.end(), token::pad);
      trained += index_t(row.size()) - std::count(targets.begin(), targets.end(), ignore_target);
      for (const auto& example : examples_of(row)) {
        ++examples;
        const char* kind = example[1] == token::document ? "worked" : example[1] == token::question ? "direct" : "facts";
        tokens_by_kind[kind] += index_t(example.size());
      }
    }
  }
  std::printf("default mixture, %llu batches of %td x %td: %.1f%% PAD, %.1f%% of positions trained, %.2f examples a row\n",
              static_cast<unsigned long long>(steps), mixture.batch_size, mixture.seq_len, 100.0 * double(pad) / double(total),
              100.0 * double(trained) / double(total), double(examples) / double(steps * std::uint64_t(mixture.batch_size)));
  for (const auto& [kind, count] : tokens_by_kind)
    std::printf("  %-7s %.1f%% of the tokens\n", kind.c_str(), 100.0 * double(count) / double(total));

  // Chance level: the share of the most frequent answer over all problems of n operators
  // (exact, by propagating the value distribution through n uniform steps), i.e. the exact
  // match of the best constant guess.
  std::vector<double> value(10, 0.1);
  for (index_t n = 1; n <= 8; ++n) {
    std::vector<double> next(10, 0.0);
    for (int v = 0; v < 10; ++v)
      for (int o = 0; o < 3; ++o)
        for (int d = 0; d < 10; ++d) next[std::size_t(apply(ChainOperator(o), v, d))] += value[std::size_t(v)] / 30.0;
    value = next;
    const auto top = std::max_element(value.begin(), value.end());
    std::printf("  %td operators: the most frequent answer, %td, is %.1f%% of problems\n", n, index_t(top - value.begin()),
                100.0 * *top);
  }
  SUCCEED();
}

}  // namespace data_test_reasoning_batches
