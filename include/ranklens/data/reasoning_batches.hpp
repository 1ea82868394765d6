// Training batches of the synthetic reasoning task: tokens, next-token targets and roles, all
// (rows, seq_len) int32 tensors.
//
// Pretraining (PretrainingMixture): rows packed with whole examples drawn from a mixture of
// direct problems, worked documents behind D and lines of bare facts; PAD after the last
// example that fits. Targets: the next token everywhere, ignore_target where it is PAD.
//
// Finetune (FinetuneTraces): one worked trace without D per row; targets only on the
// response, i.e. from the prediction of T on (the prompt "BOS Q question ?" is context), and not
// on a deliberately wrong step result unless train_on_wrong_results is set.
//
// Every row is a pure function of (seed, index): pretraining row b of step t comes from the
// stream (seed, t * batch_size + b), finetune trace i from the stream (seed, i), so a set of N
// traces is the first N of one fixed sequence and smaller sets are prefixes of larger ones.
// Neither ever emits a held-out problem (reasoning_problem.hpp).
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "ranklens/core/config.hpp"
#include "ranklens/core/error.hpp"
#include "ranklens/core/tensor.hpp"
#include "ranklens/data/random.hpp"
#include "ranklens/data/reasoning_examples.hpp"
#include "ranklens/data/reasoning_problem.hpp"
#include "ranklens/data/reasoning_roles.hpp"
#include "ranklens/data/reasoning_vocabulary.hpp"

namespace ranklens::data::reasoning {

// The target of a position that is not trained on: cross_entropy's default ignore_index,
// as in PyTorch.
inline constexpr std::int32_t ignore_target = -100;

using TokenMatrix = Tensor<std::int32_t, Shape<dyn, dyn>>;

struct ReasoningBatch {
  TokenMatrix tokens;   // (rows, seq_len) token ids, PAD after the last example
  TokenMatrix targets;  // (rows, seq_len) the next token, or ignore_target
  TokenMatrix roles;    // (rows, seq_len) Role of each token, as int32

  index_t rows() const noexcept { return tokens.extent(0); }
  index_t seq_len() const noexcept { return tokens.extent(1); }
};

// A batch of PAD rows with every target ignored, to place examples into.
inline ReasoningBatch empty_batch(index_t rows, index_t seq_len) {
  if (rows < 1 || seq_len < 2) {
    throw value_error("empty_batch: need rows >= 1 and seq_len >= 2, got " + std::to_string(rows) + " and " +
                      std::to_string(seq_len));
  }
  const Shape<dyn, dyn> shape{rows, seq_len};
  return {TokenMatrix(shape, token::pad), TokenMatrix(shape, ignore_target),
          TokenMatrix(shape, static_cast<std::int32_t>(Role::pad))};
}

// Copies `example` into row `row` from position `offset`, and sets the targets that predict
// its tokens from position `first_trained` (relative to the example) on: the target at
// position p is the token at p + 1. A token of a role in `untrained` is never a target.
inline void place_example(ReasoningBatch& batch, index_t row, index_t offset, const Example& example,
                          index_t first_trained, std::span<const Role> untrained = {}) {
  if (row < 0 || row >= batch.rows() || offset < 0 || offset + example.size() > batch.seq_len()) {
    throw shape_error("place_example: an example of " + std::to_string(example.size()) + " tokens at row " +
                      std::to_string(row) + ", position " + std::to_string(offset) + " does not fit a batch of shape (" +
                      std::to_string(batch.rows()) + ", " + std::to_string(batch.seq_len()) + ")");
  }
  if (example.roles.size() != example.tokens.size()) {
    throw shape_error("place_example: the example has " + std::to_string(example.tokens.size()) + " tokens but " +
                      std::to_string(example.roles.size()) + " roles");
  }
  for (index_t j = 0; j < example.size(); ++j) {
    const std::int32_t id = example.tokens[std::size_t(j)];
    const Role role = example.roles[std::size_t(j)];
    batch.tokens(row, offset + j) = id;
    batch.roles(row, offset + j) = static_cast<std::int32_t>(role);
    const bool trained = j >= first_trained && offset + j >= 1 &&
                         std::find(untrained.begin(), untrained.end(), role) == untrained.end();
    if (trained) batch.targets(row, offset + j - 1) = id;
  }
}

namespace detail {
inline void check_operator_counts(const char* who, std::span<const index_t> operator_counts) {
  if (operator_counts.empty()) throw value_error(std::string(who) + ": operator_counts is empty");
  for (index_t n : operator_counts) {
    if (n < 1 || n > max_operators) {
      throw value_error(std::string(who) + ": operator count " + std::to_string(n) + " is outside 1.." +
                        std::to_string(max_operators) + " (the vocabulary tags operators #1..#6 only)");
    }
  }
}

inline void check_fits(const char* who, const char* what, index_t length, index_t seq_len) {
  if (length > seq_len) {
    throw value_error(std::string(who) + ": " + what + " can be " + std::to_string(length) +
                      " tokens long, more than seq_len = " + std::to_string(seq_len));
  }
}

// The longest worked example of n operators: as many steps corrected as the cap allows, when
// corrections occur.
constexpr index_t longest_worked(index_t n, Context context, double correction_probability,
                                 index_t max_corrections) noexcept {
  return prompt_length(n, context) + worked_response_length(n, correction_probability > 0 ? std::min(n, max_corrections) : 0);
}

inline void check_probability(const char* who, const char* what, double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw value_error(std::string(who) + ": " + what + " must be in [0, 1], got " + std::to_string(p));
  }
}

inline void check_max_corrections(const char* who, index_t max_corrections) {
  if (max_corrections < 0) {
    throw value_error(std::string(who) + ": max_corrections must be >= 0, got " + std::to_string(max_corrections));
  }
}

// Streams of different purposes under one seed are unrelated: each gets its own seed.
constexpr std::uint64_t pretraining_stream_salt = 0x7072657472616e31ULL;
constexpr std::uint64_t finetune_stream_salt = 0x66696e6574756e31ULL;
constexpr std::uint64_t shuffle_stream_salt = 0x73687566666c6531ULL;
}  // namespace detail

// The base model's training data. Weights are per example (not per token).
struct PretrainingMixture {
  HeldOutSplit split{};
  std::vector<index_t> operator_counts{1, 2, 3, 4, 5, 6};  // each example's length, uniformly
  double direct_weight = 0.5;   // BOS Q question ? A answer E
  double worked_weight = 0.4;   // BOS D Q question ? T steps A answer E
  double facts_weight = 0.1;    // BOS fact ; fact ; ... E (the table drilled; not the trace's step syntax)
  index_t facts_per_example = 4;
  double correction_probability = 0.02;  // per step of a worked document
  // At most this many corrections a document (sample_corrections): with 3, the longest
  // document (6 operators, 3 corrections) is 89 tokens and fits seq_len 96; all 6 would be 113.
  index_t max_corrections = 3;
  // A worked document alone in its row, from position 0 (the rest PAD); direct examples and
  // facts still share rows. Packed after other problems, a step's tag "#k" would match the
  // same tag in an earlier problem of the row, and the induction head that copies the step's
  // operator and operand from the question does not form (lora_reasoning's calibration).
  bool worked_alone = true;
  index_t batch_size = 32;
  index_t seq_len = 96;

  void validate() const {
    split.validate();
    detail::check_operator_counts("PretrainingMixture", operator_counts);
    const std::array<double, 3> weights{direct_weight, worked_weight, facts_weight};
    for (double w : weights) {
      if (!(w >= 0.0) || !std::isfinite(w)) {
        throw value_error("PretrainingMixture: weights must be finite and >= 0, got direct " +
                          std::to_string(direct_weight) + ", worked " + std::to_string(worked_weight) + ", facts " +
                          std::to_string(facts_weight));
      }
    }
    if (direct_weight + worked_weight + facts_weight <= 0.0) throw value_error("PretrainingMixture: all weights are zero");
    detail::check_probability("PretrainingMixture", "correction_probability", correction_probability);
    detail::check_max_corrections("PretrainingMixture", max_corrections);
    if (batch_size < 1) throw value_error("PretrainingMixture: batch_size must be >= 1, got " + std::to_string(batch_size));
    if (facts_weight > 0 && facts_per_example < 1) {
      throw value_error("PretrainingMixture: facts_per_example must be >= 1, got " + std::to_string(facts_per_example));
    }
    for (index_t n : operator_counts) {
      if (direct_weight > 0) detail::check_fits("PretrainingMixture", "a direct example", prompt_length(n) + 3, seq_len);
      if (worked_weight > 0) {
        detail::check_fits("PretrainingMixture", "a worked document",
                           detail::longest_worked(n, Context::document, correction_probability, max_corrections), seq_len);
      }
    }
    if (facts_weight > 0) detail::check_fits("PretrainingMixture", "a line of facts", facts_length(facts_per_example), seq_len);
  }

  // One example drawn from the mixture.
  Example sample_example(Rng& gen) const {
    validate();
    const std::array<double, 3> weights{direct_weight, worked_weight, facts_weight};
    const double total = weights[0] + weights[1] + weights[2];
    const std::array<double, 3> probabilities{weights[0] / total, weights[1] / total, weights[2] / total};
    const index_t kind = categorical(gen, probabilities);
    if (kind == 2) {
      std::vector<ChainStep> facts;
      for (index_t f = 0; f < facts_per_example; ++f) facts.push_back(sample_fact(gen));
      return facts_example(facts);
    }
    const index_t n = operator_counts[std::size_t(uniform_below(gen, operator_counts.size()))];
    const ChainProblem problem = sample_training_problem(gen, n, split);
    if (kind == 0) return direct_example(problem);
    const std::vector<Correction> corrections = sample_corrections(problem, correction_probability, gen, max_corrections);
    return worked_example(problem, Context::document, corrections);
  }

  // Fills `row` of `batch` with whole examples from `gen` until the next one does not fit.
  // With worked_alone, a worked document ends the row it starts and is only placed first.
  void pack_row(ReasoningBatch& batch, index_t row, Rng& gen) const {
    index_t offset = 0;
    for (;;) {
      const Example example = sample_example(gen);
      const bool alone = worked_alone && is_worked(example);
      if (alone && offset > 0) return;
      if (offset + example.size() > batch.seq_len()) return;
      place_example(batch, row, offset, example, 0);
      offset += example.size();
      if (alone) return;
    }
  }

  static bool is_worked(const Example& example) {
    return std::find(example.tokens.begin(), example.tokens.end(), token::think) != example.tokens.end();
  }

  // Batch `step` of the stream seeded by `seed`: (batch_size, seq_len).
  ReasoningBatch batch(std::uint64_t seed, std::uint64_t step) const {
    validate();
    ReasoningBatch result = empty_batch(batch_size, seq_len);
    for (index_t b = 0; b < batch_size; ++b) {
      Rng gen = Rng::for_stream(seed ^ detail::pretraining_stream_salt,
                                step * static_cast<std::uint64_t>(batch_size) + static_cast<std::uint64_t>(b));
      pack_row(result, b, gen);
    }
    return result;
  }
};

// The finetune data: worked traces without D, a fixed seeded sequence of them.
struct FinetuneTraces {
  HeldOutSplit split{};
  std::vector<index_t> operator_counts{1, 2, 3, 4, 5, 6};
  double correction_probability = 0.1;  // per step
  index_t max_corrections = 3;          // a trace (as PretrainingMixture): the longest is 88 tokens
  bool train_on_wrong_results = false;  // false: teach the correction, never the error
  index_t batch_size = 16;
  index_t seq_len = 96;

  void validate() const {
    split.validate();
    detail::check_operator_counts("FinetuneTraces", operator_counts);
    detail::check_probability("FinetuneTraces", "correction_probability", correction_probability);
    detail::check_max_corrections("FinetuneTraces", max_corrections);
    if (batch_size < 1) throw value_error("FinetuneTraces: batch_size must be >= 1, got " + std::to_string(batch_size));
    for (index_t n : operator_counts) {
      detail::check_fits("FinetuneTraces", "a trace",
                         detail::longest_worked(n, Context::plain, correction_probability, max_corrections), seq_len);
    }
  }

  // Trace i of the sequence seeded by `seed`.
  Example trace(std::uint64_t seed, index_t i) const {
    validate();
    if (i < 0) throw value_error("FinetuneTraces::trace: index must be >= 0, got " + std::to_string(i));
    Rng gen = Rng::for_stream(seed ^ detail::finetune_stream_salt, static_cast<std::uint64_t>(i));
    const index_t n = operator_counts[std::size_t(uniform_below(gen, operator_counts.size()))];
    const ChainProblem problem = sample_training_problem(gen, n, split);
    const std::vector<Correction> corrections = sample_corrections(problem, correction_probability, gen, max_corrections);
    return worked_example(problem, Context::plain, corrections);
  }

  // The finetune set of `count` traces: traces 0 .. count-1.
  std::vector<Example> traces(std::uint64_t seed, index_t count) const {
    if (count < 0) throw value_error("FinetuneTraces::traces: count must be >= 0, got " + std::to_string(count));
    std::vector<Example> result;
    result.reserve(std::size_t(count));
    for (index_t i = 0; i < count; ++i) result.push_back(trace(seed, i));
    return result;
  }

  // Which traces of a set of `trace_count` make up batch `step`: the set is walked epoch after
  // epoch, each in its own seeded order, batch_size traces per step.
  std::vector<index_t> batch_indices(std::uint64_t seed, index_t trace_count, std::uint64_t step) const {
    validate();
    if (trace_count < 1) throw value_error("FinetuneTraces: trace_count must be >= 1, got " + std::to_string(trace_count));
    const auto count = static_cast<std::uint64_t>(trace_count);
    std::vector<index_t> order(std::size_t(trace_count), 0);
    std::uint64_t order_epoch = 0;
    bool have_order = false;
    std::vector<index_t> indices;
    indices.reserve(std::size_t(batch_size));
    for (index_t j = 0; j < batch_size; ++j) {
      const std::uint64_t position = step * static_cast<std::uint64_t>(batch_size) + static_cast<std::uint64_t>(j);
      const std::uint64_t epoch = position / count;
      if (!have_order || epoch != order_epoch) {
        // Fisher-Yates with the epoch's own stream.
        std::iota(order.begin(), order.end(), index_t(0));
        Rng gen = Rng::for_stream(seed ^ detail::shuffle_stream_salt, epoch);
        for (std::uint64_t k = count - 1; k > 0; --k) std::swap(order[k], order[uniform_below(gen, k + 1)]);
        order_epoch = epoch;
        have_order = true;
      }
      indices.push_back(order[std::size_t(position % count)]);
    }
    return indices;
  }

  // One example per row, trained from T on (see the header comment).
  ReasoningBatch batch_of(std::span<const Example> examples) const {
    validate();
    if (examples.empty()) throw value_error("FinetuneTraces::batch_of: no examples");
    ReasoningBatch result = empty_batch(index_t(examples.size()), seq_len);
    const std::array<Role, 1> wrong{Role::wrong_result};
    const std::span<const Role> untrained = train_on_wrong_results ? std::span<const Role>{} : std::span<const Role>(wrong);
    for (std::size_t b = 0; b < examples.size(); ++b) {
      if (examples[b].size() > seq_len) {
        throw value_error("FinetuneTraces::batch_of: example " + std::to_string(b) + " is " +
                          std::to_string(examples[b].size()) + " tokens long, more than seq_len = " + std::to_string(seq_len));
      }
      place_example(result, index_t(b), 0, examples[b], examples[b].response_begin, untrained);
    }
    return result;
  }

  // Batch `step` of finetuning on the first `trace_count` traces of the sequence `seed`.
  ReasoningBatch batch(std::uint64_t seed, index_t trace_count, std::uint64_t step) const {
    std::vector<Example> examples;
    for (index_t i : batch_indices(seed, trace_count, step)) examples.push_back(trace(seed, i));
    return batch_of(examples);
  }
};

}  // namespace ranklens::data::reasoning
