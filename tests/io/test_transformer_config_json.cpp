// Specification of io/transformer_config_json.hpp: the configuration record that checkpoints
// and model files keep, and the comparison that names the first differing field.
#include <catch2/catch.hpp>

#include "ranklens/io/transformer_config_json.hpp"

namespace io_test_transformer_config_json {  // the unity build compiles test files together: names stay per file

using namespace ranklens;
using namespace ranklens::io;

namespace {
using SmallQwen2 = Qwen2Like<64, 2, 4, 2, 1000, 256>;
using SmallGpt2 = Gpt2Like<64, 2, 4, 100, 32>;
}  // namespace

TEST_CASE("the record holds every field that shapes the model, under ranklens' names", "[io][transformer_config_json]") {
  const auto qwen2 = config_as_json<SmallQwen2>();
  CHECK(qwen2.dump() ==
        R"({"layout":"qwen2","d_model":64,"n_layers":2,"n_heads":4,"n_kv_heads":2,"vocab_size":1000,"mlp_width":256,)"
        R"("max_positions":32768,"norm":"rms_norm","mlp":"swiglu","positions":"rope","tied_embeddings":true,"qkv_bias":true,)"
        R"("rope_theta":1000000.0,"norm_eps":1e-06})");
  const auto gpt2 = config_as_json<SmallGpt2>();
  CHECK(gpt2["layout"] == "gpt2");
  CHECK(gpt2["norm"] == "layer_norm");
  CHECK(gpt2["mlp"] == "gelu");
  CHECK(gpt2["positions"] == "learned");
}

TEST_CASE("the comparison names the first differing field and both values", "[io][transformer_config_json]") {
  const auto record = config_as_json<SmallQwen2>();
  // A record read back from its text (integers come back unsigned) equals the original.
  CHECK(first_config_difference(record, "a", nlohmann::ordered_json::parse(record.dump()), "b") == std::nullopt);
  CHECK(first_config_difference(record, "the checkpoint", config_as_json<Qwen2Like<64, 2, 4, 2, 999, 256>>(), "the model") ==
        "vocab_size is 1000 in the checkpoint but 999 in the model");
  CHECK(first_config_difference(record, "the checkpoint", config_as_json<SmallGpt2>(), "the model") ==
        "layout is \"qwen2\" in the checkpoint but \"gpt2\" in the model");
  auto fewer = record;
  fewer.erase("norm_eps");
  CHECK(first_config_difference(fewer, "x", record, "y") == "norm_eps is missing in x but 1e-06 in y");
}

}  // namespace io_test_transformer_config_json
