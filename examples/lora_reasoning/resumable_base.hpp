// The pretrained base, the program's longest stage (about five minutes at the defaults), made
// resumable: a rerun with the same --out and the same pretraining settings reuses a finished
// base, and continues an interrupted pretraining from its last checkpoint, ending with the same
// weights, bit for bit, as a run that never stopped (train::run's resume contract).
//
//   <out>/base/                             the base, a Hugging Face directory
//   <out>/base/ranklens_pretraining.json    the settings it was pretrained with, written last:
//                                           its presence says the base is complete
//   <out>/pretrain_checkpoint.safetensors   model, AdamW state and step, every checkpoint_every
//                                           steps; removed once the base is saved
//
// Files written by a run with other pretraining settings are refused before any work, naming
// the field that differs; nothing is overwritten.
#pragma once
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <optional>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "ranklens/io/checkpoint.hpp"
#include "ranklens/io/atomic_file.hpp"
#include "ranklens/io/hf_model.hpp"
#include "ranklens/io/safetensors_reader.hpp"
#include "reasoning_training.hpp"

namespace lora_reasoning {

inline constexpr const char* base_marker_name = "ranklens_pretraining.json";
inline constexpr const char* pretrain_checkpoint_name = "pretrain_checkpoint.safetensors";

// Everything that decides the base's weights.
inline nlohmann::json pretraining_settings(const Settings& s) {
  return {{"seed", s.seed},
          {"pretrain_steps", s.pretrain_steps},
          {"pretrain_lr", s.pretrain_lr},
          {"pretrain_batch", s.pretrain_batch},
          {"seq_len", s.seq_len},
          {"direct_weight", s.direct_weight},
          {"worked_weight", s.worked_weight},
          {"facts_weight", s.facts_weight},
          {"model", ranklens::io::config_as_json<Model::config>()}};
}

namespace resumable_detail {
// The first field where `found` differs from `wanted`, as "field: found → wanted".
inline std::optional<std::string> first_difference(const nlohmann::json& found, const nlohmann::json& wanted) {
  for (const auto& [key, value] : wanted.items())
    if (!found.contains(key) || found[key] != value)
      return key + " was " + (found.contains(key) ? found[key].dump() : "absent") + ", this run has " + value.dump();
  if (found.size() != wanted.size()) return std::string("it records fields this version does not know");
  return std::nullopt;
}

inline void refuse_if_other(const std::filesystem::path& file, const nlohmann::json& found, const nlohmann::json& wanted) {
  if (const auto difference = first_difference(found, wanted))
    throw value_error(file.string() + " was written by a run with other pretraining settings (" + *difference +
                      "); use another --out, or delete it to pretrain again");
}

inline nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& failure) {
    throw io_error(file.string() + ": not the JSON a finished pretraining writes (" + failure.what() + "); delete it to pretrain again");
  }
}
}  // namespace resumable_detail

// Refuses, before any work, a base or checkpoint in `out` from other pretraining settings.
inline void check_resumable_base(const Settings& settings, const std::filesystem::path& out) {
  const auto wanted = pretraining_settings(settings);
  const auto marker = out / "base" / base_marker_name;
  if (std::filesystem::exists(marker)) resumable_detail::refuse_if_other(marker, resumable_detail::read_json(marker), wanted);
  const auto checkpoint = out / pretrain_checkpoint_name;
  if (std::filesystem::exists(checkpoint)) {
    // The metadata alone: the full load (with its checksum) happens when pretraining resumes.
    std::string recorded;
    try {
      const auto reader = io::safetensors_reader::open(checkpoint);
      const auto found = reader.metadata().find("pretraining_settings");
      if (found != reader.metadata().end()) recorded = found->second;
    } catch (const std::exception& failure) {
      throw io_error(checkpoint.string() + " cannot be resumed (" + failure.what() + "); delete it to pretrain from the start");
    }
    if (recorded.empty() || !nlohmann::json::accept(recorded))
      throw io_error(checkpoint.string() + " does not record its pretraining settings; delete it to pretrain from the start");
    resumable_detail::refuse_if_other(checkpoint, nlohmann::json::parse(recorded), wanted);
  }
}

// The base of these settings: read from <out>/base when a finished one is there, else
// pretrained (resuming <out>'s checkpoint if any) and saved there.
inline Model resumable_base(const Settings& settings, const std::filesystem::path& out) {
  check_resumable_base(settings, out);
  const auto wanted = pretraining_settings(settings);
  const auto base_dir = out / "base";
  Rng init(settings.seed);
  Model model(init);
  if (std::filesystem::exists(base_dir / base_marker_name)) {
    io::load_pretrained(model, base_dir);
    std::fprintf(stderr, "base: the finished base in %s (same pretraining settings)\n", base_dir.c_str());
    return model;
  }
  const auto checkpoint = out / pretrain_checkpoint_name;
  pretrain_into(model, settings, [&](AdamW<>& optimizer, train::LoopOptions& options) {
    // The state lives as long as the loop: the callback saves through it.
    auto state = std::make_shared<io::training_state>();
    state->add_model(model);
    state->add_optimizer(optimizer);
    if (std::filesystem::exists(checkpoint)) {
      io::load_checkpoint(checkpoint, *state);
      options.first_step = index_t(state->step);
      std::fprintf(stderr, "base: resuming pretraining at step %lld from %s\n", state->step, checkpoint.c_str());
    }
    state->metadata["pretraining_settings"] = wanted.dump();
    options.checkpoint_every = settings.checkpoint_every;
    options.checkpoint = [state, checkpoint](index_t done) {
      state->step = done;
      io::save_checkpoint(checkpoint, *state);
    };
  });
  io::save_pretrained(model, base_dir);
  const std::string marker = wanted.dump(2) + "\n";
  io::write_text_atomically(base_dir / base_marker_name, marker);
  std::filesystem::remove(checkpoint);
  return model;
}

}  // namespace lora_reasoning
