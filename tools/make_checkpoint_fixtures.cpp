// Writes the training checkpoints in tests/io/fixtures/checkpoint_v1_*.safetensors, which
// tests/io/test_checkpoint.cpp loads to prove that files saved by earlier ranklens still load
// and resume the run they came from.
//
// They were written at commit 0909522, before optimizer state was saved and restored by name
// (optim/optimizer_state.hpp) and allocated only for parameters that get a gradient: every
// parameter of the optimizer has state there, zeros where it never trained. Rerunning
// this program writes the current format instead, so rerun it only to add a fixture, never to
// replace these two:
//
//   g++ -std=c++20 -O1 -march=native -I include -I tests/io tools/make_checkpoint_fixtures.cpp \
//       -lopenblas -pthread -o /tmp/make_checkpoint_fixtures && /tmp/make_checkpoint_fixtures tests/io/fixtures
//
// Each file holds a run after 3 steps (the final norm frozen in the AdamW run, so the file also
// holds state for a parameter that never trained), and in its metadata the losses of the next
// two steps of the run that never stopped, as hexadecimal floats.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "training_run.hpp"

using namespace ranklens;
using namespace ranklens::io;
using namespace ranklens::io::testing;

using FixtureQwen2 = Qwen2Like<8, 1, 2, 1, 8, 16>;
using FixtureGpt2 = Gpt2Like<8, 1, 2, 8, 8>;

namespace {

std::string hex_floats(const std::vector<float>& values) {
  std::string text;
  char number[32];
  for (const float value : values) {
    std::snprintf(number, sizeof number, "%a", double(value));
    text += (text.empty() ? "" : " ") + std::string(number);
  }
  return text;
}

template <class Config, class Optimizer>
void write_fixture(const std::filesystem::path& path, bool freeze_final_norm) {
  constexpr int saved_at = 3, continued = 2;
  TrainingRun<Config, Optimizer> straight(11);
  if (freeze_final_norm) freeze(straight.model.final_norm);
  std::vector<float> losses = straight.steps(saved_at + continued);

  TrainingRun<Config, Optimizer> saved(11);
  if (freeze_final_norm) freeze(saved.model.final_norm);
  saved.steps(saved_at);
  saved.state.metadata["expected_next_losses"] = hex_floats({losses.begin() + saved_at, losses.end()});
  save_checkpoint(path, saved.state);
  std::printf("%s: losses %s\n", path.c_str(), hex_floats(losses).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIRECTORY\n", argv[0]);
    return 2;
  }
  const std::filesystem::path directory = argv[1];
  write_fixture<FixtureQwen2, AdamW>(directory / "checkpoint_v1_adamw.safetensors", true);
  write_fixture<FixtureGpt2, SGD>(directory / "checkpoint_v1_sgd.safetensors", false);
}
