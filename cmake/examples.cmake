# Every examples/<name>/main.cpp becomes the program build/examples/<name>, so that adding an
# experiment needs no CMake edit. CLI11 is there for the flags each example parses.
find_package(CLI11 2.1 REQUIRED)

file(GLOB example_mains CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/examples/*/main.cpp")
add_custom_target(ranklens_examples)
foreach(example_main IN LISTS example_mains)
  get_filename_component(example_dir "${example_main}" DIRECTORY)
  get_filename_component(example_name "${example_dir}" NAME)
  add_executable(${example_name} "${example_main}")
  target_link_libraries(${example_name} PRIVATE ranklens::ranklens ranklens_build_options CLI11::CLI11)
  set_target_properties(${example_name} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/examples")
  if(RANKLENS_QUICK_PROGRAMS AND CMAKE_BUILD_TYPE STREQUAL "Release")
    target_compile_options(${example_name} PRIVATE -O1)  # after Release's -O3, so it wins
  endif()
  add_dependencies(ranklens_examples ${example_name})
endforeach()

# The programs of scripts/run_main.sh as one target. "cmake --build --target a b c" builds its
# targets one after another (the top-level Makefile is .NOTPARALLEL), so that script builds this
# one target, whose four programs compile side by side.
set(pipeline_programs icl_emergence lora_reasoning lora_sae paper_report)
add_custom_target(ranklens_pipeline_programs)
foreach(program IN LISTS pipeline_programs)
  if(TARGET ${program})
    add_dependencies(ranklens_pipeline_programs ${program})
  endif()
endforeach()
