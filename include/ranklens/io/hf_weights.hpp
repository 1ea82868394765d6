// The weights of a Hugging Face model directory, as one set of tensors: model.safetensors, or
// the shards that model.safetensors.index.json lists (what transformers' save_pretrained writes
// for a model above its max_shard_size):
//
//   {"metadata": {"total_size": ...}, "weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors", ...}}
//
// Opening checks the index against the shards before any tensor is read, with one io_error
// naming the file and the key: the index is JSON with a weight_map of names to shard file names;
// a shard is a plain file name in the directory (no path: "../x" or "/etc/x" is refused); every
// shard exists and is a valid safetensors file; every tensor the index lists is in the shard it
// names, and every tensor of a shard is listed, under that shard (no name in two shards).
#pragma once
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ranklens/core/error.hpp"
#include "ranklens/io/hf_config.hpp"
#include "ranklens/io/safetensors_reader.hpp"

namespace ranklens::io {

inline constexpr std::string_view hf_weights_file_name = "model.safetensors";
inline constexpr std::string_view hf_weights_index_file_name = "model.safetensors.index.json";

class hf_weights {
 public:
  // A tensor and the file that holds it.
  struct located {
    const safetensors_reader* reader;
    const safetensors_entry* entry;
  };

  hf_weights(hf_weights&&) noexcept = default;  // the tensors' locations stay valid
  hf_weights(const hf_weights&) = delete;
  hf_weights& operator=(const hf_weights&) = delete;

  // Whether `directory` holds weights in either form.
  static bool present(const std::filesystem::path& directory) {
    return std::filesystem::is_regular_file(directory / hf_weights_file_name) ||
           std::filesystem::is_regular_file(directory / hf_weights_index_file_name);
  }

  // model.safetensors when there is one, else the index and its shards.
  static hf_weights open(const std::filesystem::path& directory) {
    hf_weights weights;
    if (std::filesystem::is_regular_file(directory / hf_weights_file_name)) {
      weights.readers_.push_back(safetensors_reader::open(directory / hf_weights_file_name));
    } else {
      weights.index_ = directory / hf_weights_index_file_name;
      weights.open_shards(directory);
    }
    weights.index_tensors();
    return weights;
  }

  bool sharded() const noexcept { return !index_.empty(); }
  // The files, in the order the index first names them (one when not sharded).
  const std::vector<safetensors_reader>& files() const noexcept { return readers_; }

  const located* find(std::string_view name) const noexcept {
    const auto found = by_name_.find(name);
    return found == by_name_.end() ? nullptr : &found->second;
  }
  bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
  const located& at(std::string_view name) const {
    if (const located* found = find(name)) return *found;
    throw io_error("the weights in " + description() + " have no tensor named '" + std::string(name) + "'");
  }
  // Every tensor, by name.
  const std::map<std::string, located, std::less<>>& tensors() const noexcept { return by_name_; }

  // "file '.../model.safetensors'", or the index and the number of shards.
  std::string description() const {
    if (!sharded()) return readers_.front().source();
    return "'" + index_.string() + "' (" + std::to_string(readers_.size()) + " shards)";
  }

 private:
  hf_weights() = default;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw io_error("'" + index_.string() + "'" + (key.empty() ? std::string() : ", key '" + key + "'") + ": " + what);
  }

  void open_shards(const std::filesystem::path& directory) {
    const nlohmann::json index = read_json_file(index_);
    if (!index.is_object()) fail("", "expected a JSON object with a weight_map");
    const auto map = index.find("weight_map");
    if (map == index.end() || !map->is_object() || map->empty())
      fail("weight_map", "missing or empty; expected an object of tensor names to shard file names");
    std::map<std::string, std::size_t, std::less<>> shard_by_file;
    for (const auto& [name, file] : map->items()) {
      if (!file.is_string()) fail("weight_map." + name, "is " + file.dump() + ", not a shard file name");
      const std::string shard = file.get<std::string>();
      const std::filesystem::path shard_path(shard);
      if (shard.empty() || shard_path.has_parent_path() || shard_path.is_absolute() || shard == "." || shard == "..")
        fail("weight_map." + name, "names '" + shard + "', which is not a file name in the model's directory");
      auto [slot, fresh] = shard_by_file.try_emplace(shard, readers_.size());
      if (fresh) {
        if (!std::filesystem::is_regular_file(directory / shard_path))
          fail("weight_map." + name, "names the shard '" + shard + "', which is not in the directory");
        readers_.push_back(safetensors_reader::open(directory / shard_path));
      }
      listed_.emplace(name, slot->second);
    }
  }

  // by_name_ from the files, checked against the index when there is one.
  void index_tensors() {
    for (std::size_t r = 0; r < readers_.size(); ++r) {
      for (const safetensors_entry& entry : readers_[r].entries()) {
        if (sharded()) {
          const auto listed = listed_.find(entry.name);
          if (listed == listed_.end())
            fail("", "the shard " + readers_[r].source() + " holds '" + entry.name + "', which the weight_map does not list");
          if (listed->second != r)
            fail("weight_map." + entry.name, "names the shard " + readers_[listed->second].source() + ", but the tensor is in " +
                                                 readers_[r].source());
        }
        by_name_.emplace(entry.name, located{&readers_[r], &entry});
      }
    }
    for (const auto& [name, shard] : listed_)
      if (!by_name_.contains(name)) fail("weight_map." + name, "names the shard " + readers_[shard].source() + ", which has no such tensor");
  }

  std::filesystem::path index_;                          // empty when not sharded
  std::vector<safetensors_reader> readers_;
  std::map<std::string, std::size_t, std::less<>> listed_;  // the index: tensor name -> file
  std::map<std::string, located, std::less<>> by_name_;
};

}  // namespace ranklens::io
