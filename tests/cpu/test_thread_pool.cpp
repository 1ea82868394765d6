#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ranklens/cpu/thread_pool.hpp"

namespace cpu_test_thread_pool {  // the unity build compiles test files together: names stay per file

using ranklens::index_t;
using ranklens::cpu::thread_pool;

namespace {

// Catch2 assertions are not thread-safe: chunks only record what they saw, and the test
// thread checks it afterwards.

// Runs parallel_for and checks that the chunks tile [0, n) exactly once each, in pieces of
// at least `grain` (unless the whole range is smaller).
void check_tiling(thread_pool& pool, index_t n, index_t grain) {
  std::vector<std::atomic<int>> hits(std::size_t(std::max<index_t>(n, 0)));
  std::atomic<index_t> smallest{n};
  std::atomic<bool> empty_chunk{false};
  pool.parallel_for(n, grain, [&](index_t begin, index_t end) {
    if (begin >= end) empty_chunk = true;
    index_t expected = smallest.load();
    while (end - begin < expected && !smallest.compare_exchange_weak(expected, end - begin)) {
    }
    for (index_t i = begin; i < end; ++i) hits[std::size_t(i)].fetch_add(1);
  });
  REQUIRE_FALSE(empty_chunk.load());
  for (index_t i = 0; i < n; ++i) REQUIRE(hits[std::size_t(i)].load() == 1);
  if (n > 0 && grain > 0) CHECK(smallest.load() >= std::min(n, grain));
}

}  // namespace

TEST_CASE("parallel_for covers every index exactly once, in chunks of at least grain",
          "[cpu][thread_pool]") {
  for (int threads : {1, 2, 3, 8}) {
    thread_pool pool(threads);
    REQUIRE(pool.size() == threads);
    for (index_t n : {0, 1, 2, 7, 17, 1000, 100003})
      for (index_t grain : {1, 3, 64, 5000}) check_tiling(pool, n, grain);
  }
}

TEST_CASE("parallel_for with n <= 0 or grain <= 0 is harmless", "[cpu][thread_pool]") {
  thread_pool pool(4);
  int calls = 0;
  pool.parallel_for(0, 1, [&](index_t, index_t) { ++calls; });
  pool.parallel_for(-5, 1, [&](index_t, index_t) { ++calls; });
  CHECK(calls == 0);
  check_tiling(pool, 100, 0);
  check_tiling(pool, 100, -3);
}

TEST_CASE("small ranges run inline on the calling thread", "[cpu][thread_pool]") {
  thread_pool pool(4);
  const auto caller = std::this_thread::get_id();
  bool same_thread = true;
  index_t first = -1, last = -1;
  pool.parallel_for(100, 64, [&](index_t begin, index_t end) {
    same_thread = same_thread && std::this_thread::get_id() == caller;
    first = begin;
    last = end;
  });
  CHECK(same_thread);
  CHECK(first == 0);
  CHECK(last == 100);
}

TEST_CASE("large ranges use more than one thread", "[cpu][thread_pool]") {
  thread_pool pool(4);
  std::atomic<int> chunks{0};
  // Enough work per chunk that the caller cannot finish every chunk before a worker wakes.
  pool.parallel_for(64, 1, [&](index_t, index_t) {
    chunks.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  CHECK(chunks.load() > 1);
}

TEST_CASE("an exception thrown by a chunk reaches the caller, and the pool keeps working",
          "[cpu][thread_pool]") {
  thread_pool pool(4);
  for (index_t bad : {index_t(0), index_t(999)}) {  // the caller's chunk, a worker's chunk
    CHECK_THROWS_WITH(pool.parallel_for(1000, 1,
                                        [&](index_t begin, index_t end) {
                                          if (begin <= bad && bad < end)
                                            throw std::runtime_error("chunk failed");
                                        }),
                      "chunk failed");
    check_tiling(pool, 1000, 1);
  }
}

TEST_CASE("a nested parallel_for runs inline and stays correct", "[cpu][thread_pool]") {
  thread_pool pool(4);
  std::vector<std::atomic<int>> hits(100 * 50);
  pool.parallel_for(100, 1, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i)
      pool.parallel_for(50, 1, [&](index_t b, index_t e) {
        for (index_t j = b; j < e; ++j) hits[std::size_t(i * 50 + j)].fetch_add(1);
      });
  });
  for (auto& h : hits) REQUIRE(h.load() == 1);
}

TEST_CASE("two threads dispatching at once both get correct results", "[cpu][thread_pool]") {
  thread_pool pool(3);
  auto work = [&](std::atomic<long>& total) {
    for (int round = 0; round < 200; ++round)
      pool.parallel_for(1000, 10, [&](index_t begin, index_t end) {
        long local = 0;
        for (index_t i = begin; i < end; ++i) local += i;
        total.fetch_add(local);
      });
  };
  std::atomic<long> a{0}, b{0};
  std::thread other([&] { work(a); });
  work(b);
  other.join();
  CHECK(a.load() == 200L * 999 * 1000 / 2);
  CHECK(b.load() == 200L * 999 * 1000 / 2);
}

TEST_CASE("many back-to-back dispatches complete", "[cpu][thread_pool]") {
  thread_pool pool(4);
  std::atomic<long> total{0};
  for (int round = 0; round < 20000; ++round)
    pool.parallel_for(8, 1, [&](index_t begin, index_t end) { total.fetch_add(end - begin); });
  CHECK(total.load() == 20000L * 8);
}

TEST_CASE("resize changes the thread count, the pool stays usable", "[cpu][thread_pool]") {
  thread_pool pool(2);
  pool.resize(5);
  CHECK(pool.size() == 5);
  check_tiling(pool, 1001, 1);
  pool.resize(1);
  CHECK(pool.size() == 1);
  check_tiling(pool, 1001, 1);
  CHECK_THROWS_AS(pool.resize(0), ranklens::value_error);
  CHECK_THROWS_AS(thread_pool(0), ranklens::value_error);
}

TEST_CASE("the default pool honours set_num_threads", "[cpu][thread_pool]") {
  const int before = ranklens::cpu::num_threads();
  ranklens::cpu::set_num_threads(3);
  CHECK(ranklens::cpu::num_threads() == 3);
  std::atomic<index_t> total{0};
  ranklens::cpu::parallel_for(12345, 7, [&](index_t b, index_t e) { total.fetch_add(e - b); });
  CHECK(total.load() == 12345);
  ranklens::cpu::set_num_threads(before);
  CHECK(ranklens::cpu::num_threads() == before);
}

TEST_CASE("RANKLENS_NUM_THREADS sets the default thread count", "[cpu][thread_pool]") {
  using ranklens::cpu::detail::default_thread_count;
  const char* saved = std::getenv("RANKLENS_NUM_THREADS");
  const std::string saved_value = saved != nullptr ? saved : "";
  setenv("RANKLENS_NUM_THREADS", "3", 1);
  CHECK(default_thread_count() == 3);
  setenv("RANKLENS_NUM_THREADS", "zero", 1);
  CHECK_THROWS_AS(default_thread_count(), ranklens::value_error);
  setenv("RANKLENS_NUM_THREADS", "-2", 1);
  CHECK_THROWS_AS(default_thread_count(), ranklens::value_error);
  unsetenv("RANKLENS_NUM_THREADS");
  CHECK(default_thread_count() >= 1);
  if (saved != nullptr) setenv("RANKLENS_NUM_THREADS", saved_value.c_str(), 1);
}

}  // namespace cpu_test_thread_pool
