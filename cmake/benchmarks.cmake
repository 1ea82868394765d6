# Every bench/<name>.cpp becomes the Google Benchmark program build/bench/<name>. A file may
# define its own main (BENCHMARK_MAIN()); otherwise benchmark_main, a static archive, supplies
# one. Targets are prefixed bench_ so that they cannot collide with example names.
find_package(benchmark 1.6 REQUIRED)

file(GLOB bench_sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/bench/*.cpp")
add_custom_target(ranklens_bench)
foreach(bench_source IN LISTS bench_sources)
  get_filename_component(bench_name "${bench_source}" NAME_WE)
  add_executable(bench_${bench_name} "${bench_source}")
  target_link_libraries(bench_${bench_name} PRIVATE
    ranklens::ranklens ranklens_build_options benchmark::benchmark benchmark::benchmark_main)
  set_target_properties(bench_${bench_name} PROPERTIES
    OUTPUT_NAME ${bench_name}
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/bench")
  # Under RANKLENS_QUICK_PROGRAMS (scripts/test.sh) the benchmarks are only compiled, never run:
  # -O0 compiles in about half the time of -O1 (measured: bench_lora_step.cpp 32 s against 58 s).
  if(RANKLENS_QUICK_PROGRAMS AND CMAKE_BUILD_TYPE STREQUAL "Release")
    target_compile_options(bench_${bench_name} PRIVATE -O0)  # after Release's -O3, so it wins
  endif()
  add_dependencies(ranklens_bench bench_${bench_name})
endforeach()

# Every bench/<name>.cu becomes build/bench/<name> when the CUDA backend is on: GPU benchmarks
# time themselves with CUDA events and print their own rows (no Google Benchmark).
if(RANKLENS_CUDA)
  file(GLOB cuda_bench_sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/bench/*.cu")
  foreach(bench_source IN LISTS cuda_bench_sources)
    get_filename_component(bench_name "${bench_source}" NAME_WE)
    add_executable(bench_${bench_name} "${bench_source}")
    target_link_libraries(bench_${bench_name} PRIVATE ranklens::cuda)
    set_target_properties(bench_${bench_name} PROPERTIES
      OUTPUT_NAME ${bench_name}
      CUDA_RUNTIME_LIBRARY Static
      RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/bench")
    add_dependencies(ranklens_bench bench_${bench_name})
  endforeach()
endif()
