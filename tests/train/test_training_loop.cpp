#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "ranklens/core/distributions.hpp"
#include "ranklens/core/random.hpp"
#include "ranklens/io/checkpoint.hpp"
#include "ranklens/nn/transformer.hpp"
#include "ranklens/ops/cross_entropy.hpp"
#include "ranklens/optim/adamw.hpp"
#include "ranklens/optim/lr_schedule.hpp"
#include "ranklens/train/training_loop.hpp"
#include "train_test_support.hpp"

namespace train_test_training_loop {  // the unity build compiles test files together: names stay per file

using namespace ranklens;

namespace {

using Config = Gpt2Like<16, 1, 2, 8, 16>;
using Model = Transformer<Config>;
constexpr index_t batch_size = 8, sequence_length = 10;

// Random tokens; the target at position t is the token at t − 1 (position 0 is ignored).
struct Batch {
  Tensor<std::int32_t, Shape<dyn, dyn>> tokens{Shape<dyn, dyn>{batch_size, sequence_length}};
  Tensor<std::int32_t, Shape<dyn, dyn>> targets{Shape<dyn, dyn>{batch_size, sequence_length}};
};

// Batch `index` of the data seeded by `seed`: a function of its arguments only.
Batch copy_previous_batch(std::uint64_t seed, index_t index) {
  Batch batch;
  Rng generator = Rng::for_stream(seed, std::uint64_t(index));
  for (index_t b = 0; b < batch_size; ++b)
    for (index_t t = 0; t < sequence_length; ++t) {
      batch.tokens(b, t) = std::int32_t(uniform_below(generator, 8));
      batch.targets(b, t) = t == 0 ? -100 : batch.tokens(b, t - 1);
    }
  return batch;
}

// A complete run: model initialised from `seed`, data from `seed` + 1, evaluation data from `seed` + 2.
train::History train_copy_previous(unsigned seed, train::LoopOptions options) {
  std::mt19937 init(seed);
  Model model(init);
  AdamW optimizer(parameters(model), {.lr = 1e-2, .weight_decay = 0.0});
  return train::run(
      optimizer, [&](index_t t) { return copy_previous_batch(seed + 1, t); },
      [&](const Batch& batch) { return cross_entropy(model(batch.tokens), batch.targets); }, options,
      [&](index_t i) {
        const Batch batch = copy_previous_batch(seed + 2, i);
        return train::PositionLosses<float>{cross_entropy_per_row(model(batch.tokens), batch.targets.view()), batch.targets.view()};
      });
}

train::LoopOptions standard_options() {
  return {.steps = 120,
          .lr_schedule = WarmupCosineLr{.peak_lr = 1e-2, .warmup_steps = 10, .total_steps = 120, .min_lr = 1e-3},
          .max_grad_norm = 1.0,
          .eval_every = 40,
          .eval_batches = 2,
          .eval_at_start = true,
          .log_every = 20,
          .progress = false};
}

}  // namespace

TEST_CASE("two runs with the same seeds give the same losses bit for bit", "[train][training_loop]") {
  const auto first = train_copy_previous(3, standard_options());
  const auto second = train_copy_previous(3, standard_options());
  REQUIRE(first.train_loss.size() == 120);
  CHECK(first.train_loss == second.train_loss);  // exact equality, not approximate
  REQUIRE(first.records.size() == second.records.size());
  for (std::size_t i = 0; i < first.records.size(); ++i) {
    CHECK(first.records[i].eval_loss == second.records[i].eval_loss);
    CHECK(first.records[i].grad_norm == second.records[i].grad_norm);
  }
  CHECK(train_copy_previous(4, standard_options()).train_loss != first.train_loss);
}

TEST_CASE("records: every log_every steps, at evaluations and at the end, with window means", "[train][training_loop]") {
  const auto options = standard_options();
  const auto history = train_copy_previous(5, options);
  std::vector<index_t> steps;
  for (const auto& record : history.records) steps.push_back(record.step);
  CHECK(steps == std::vector<index_t>{0, 20, 40, 60, 80, 100, 120});

  const auto& start = history.records[0];
  CHECK_FALSE(start.train_loss);
  REQUIRE(start.eval_loss);
  CHECK(*start.eval_loss == Approx(std::log(8.0)).epsilon(0.1));  // an untrained model guesses uniformly
  for (const auto& record : history.records) {
    CAPTURE(record.step);
    CHECK(bool(record.eval_loss) == (record.step % 40 == 0));
    if (record.step == 0) continue;
    // The mean of the window's step losses, summed in order as the loop sums them.
    double window = 0;
    for (index_t t = record.step - 20; t < record.step; ++t) window += history.train_loss[std::size_t(t)];
    CHECK(*record.train_loss == window / 20);
    CHECK(record.lr == options.lr_schedule(record.step - 1));
    CHECK(record.grad_norm.has_value());  // clipping measured AdamW's parameters
    CHECK(record.tokens_per_second.value() > 0);
    CHECK(record.elapsed_seconds > 0);
  }
  // Per position: nothing is counted at position 0 (its target is ignored); the rest are
  // learned by the end, and the model does better than at the start.
  const auto& end = history.records.back();
  REQUIRE(end.eval_loss_by_position.size() == std::size_t(sequence_length));
  CHECK(std::isnan(end.eval_loss_by_position[0]));
  CHECK(*end.eval_loss < 0.5 * *start.eval_loss);
}

TEST_CASE("the loop writes the records to CSV and JSON lines", "[train][training_loop]") {
  const train_test::ScratchDirectory scratch("training_loop");
  auto options = standard_options();
  options.metrics_csv = scratch.path() / "run" / "metrics.csv";
  options.metrics_jsonl = scratch.path() / "run" / "metrics.jsonl";
  const auto history = train_copy_previous(6, options);
  const auto csv = train_test::lines_of(train_test::read_file(options.metrics_csv));
  const auto jsonl = train_test::lines_of(train_test::read_file(options.metrics_jsonl));
  REQUIRE(csv.size() == 1 + history.records.size());
  REQUIRE(jsonl.size() == history.records.size());
  CHECK(csv[0] == train::MetricsWriter::csv_header);
  CHECK(csv[1].starts_with("0,0,,"));  // step 0: lr 0 (warm-up), no training loss yet
  CHECK(jsonl.back().starts_with("{\"step\":120,"));
  CHECK(jsonl.back().find("\"eval_loss_by_position\":[null,") != std::string::npos);
}

TEST_CASE("the loop refuses options it cannot honour", "[train][training_loop]") {
  std::mt19937 init(0);
  Model model(init);
  AdamW optimizer(parameters(model));
  const auto next_batch = [](index_t t) { return copy_previous_batch(0, t); };
  const auto loss = [&](const Batch& batch) { return cross_entropy(model(batch.tokens), batch.targets); };
  CHECK_THROWS_WITH(train::run(optimizer, next_batch, loss, {.steps = 1, .eval_every = 1, .progress = false}),
                    Catch::Contains("no evaluation function"));
  CHECK_THROWS_AS(train::run(optimizer, next_batch, loss, {.steps = 1, .log_every = 0, .progress = false}), value_error);
  CHECK(train::run(optimizer, next_batch, loss, {.steps = 0, .progress = false}).records.empty());
}

TEST_CASE("a run resumed from its checkpoint ends as the run that never stopped", "[train][training_loop]") {
  const auto uninterrupted = train_copy_previous(3, standard_options());
  const auto path = std::filesystem::temp_directory_path() / "ranklens_test_loop_resume.safetensors";

  // Stopped after the checkpoint of step 60: what a killed run leaves behind.
  {
    std::mt19937 init(3);
    Model model(init);
    AdamW optimizer(parameters(model), {.lr = 1e-2, .weight_decay = 0.0});
    io::training_state state;
    state.add_model(model).add_optimizer(optimizer);
    auto options = standard_options();
    options.steps = 120;
    options.checkpoint_every = 60;
    index_t saved = 0;
    options.checkpoint = [&](index_t done) {
      state.step = done;
      io::save_checkpoint(path, state);
      saved = done;
      if (done == 60) throw std::runtime_error("killed");
    };
    CHECK_THROWS_WITH(train::run(
                          optimizer, [&](index_t t) { return copy_previous_batch(4, t); },
                          [&](const Batch& batch) { return cross_entropy(model(batch.tokens), batch.targets); }, options,
                          [&](index_t i) {
                            const Batch batch = copy_previous_batch(5, i);
                            return train::PositionLosses<float>{cross_entropy_per_row(model(batch.tokens), batch.targets.view()),
                                                                batch.targets.view()};
                          }),
                      "killed");
    CHECK(saved == 60);
  }
  // A fresh process: new objects, restored, continued from step 60.
  std::mt19937 other_init(99);
  Model model(other_init);
  AdamW optimizer(parameters(model), {.lr = 1e-2, .weight_decay = 0.0});
  io::training_state state;
  state.add_model(model).add_optimizer(optimizer);
  io::load_checkpoint(path, state);
  REQUIRE(state.step == 60);
  auto options = standard_options();
  options.first_step = index_t(state.step);
  const auto resumed = train::run(
      optimizer, [&](index_t t) { return copy_previous_batch(4, t); },
      [&](const Batch& batch) { return cross_entropy(model(batch.tokens), batch.targets); }, options, [&](index_t i) {
        const Batch batch = copy_previous_batch(5, i);
        return train::PositionLosses<float>{cross_entropy_per_row(model(batch.tokens), batch.targets.view()), batch.targets.view()};
      });
  std::filesystem::remove(path);
  REQUIRE(resumed.train_loss.size() == 60);
  const std::vector<double> second_half(uninterrupted.train_loss.begin() + 60, uninterrupted.train_loss.end());
  CHECK(resumed.train_loss == second_half);  // bit for bit
  REQUIRE(!resumed.records.empty());
  CHECK(resumed.records.front().step == 80);  // no evaluation at the start of a resumed run
  CHECK(resumed.records.back().eval_loss == uninterrupted.records.back().eval_loss);
}

TEST_CASE("the loop refuses a first step or checkpoint setting it cannot honour", "[train][training_loop]") {
  auto options = standard_options();
  options.first_step = 121;
  CHECK_THROWS_WITH(train_copy_previous(3, options), Catch::Contains("first_step"));
  options = standard_options();
  options.checkpoint_every = 10;
  CHECK_THROWS_WITH(train_copy_previous(3, options), Catch::Contains("checkpoint function"));
}

}  // namespace train_test_training_loop
