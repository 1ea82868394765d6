# The switch point between ops and kernels holds (docs/architecture.md, "Ops on any device"):
# no header in ops/ includes a cpu/ or cuda/ kernel header, only backend/ and cpu/'s SIMD-free
# contract headers (functors with numbers, argument types and limits, host-side helpers), so
# that every op compiles in a CUDA translation unit too; and backend/ includes only
# core/, cpu/ and cuda/. A kernel reached around backend/ would run on the host whatever the
# device, which is what the switch point is there to prevent.
#   cmake -DINCLUDE_DIR=<repo>/include -P check_switch_point.cmake

cmake_minimum_required(VERSION 3.25)

# cpu/ headers an op may include: what they define is not a device's work.
set(contract_headers
  ranklens/cpu/affine_functions.hpp    # functors with numbers; cuda/ maps each to its twin
  ranklens/cpu/cross_entropy_args.hpp  # default_ignore_index
  ranklens/cpu/low_rank_args.hpp       # low_rank_max_rank
  ranklens/cpu/sparse_rows.hpp         # the SAE's host-side sparsity patterns
  ranklens/cpu/work_split.hpp)         # sparse_encode's host loop (it static_asserts cpu_t)

set(problems)
file(GLOB op_headers "${INCLUDE_DIR}/ranklens/ops/*.hpp")
foreach(header IN LISTS op_headers)
  file(STRINGS "${header}" includes REGEX "^#include \"ranklens/(cpu|cuda)/")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" included "${line}")
    if(NOT included IN_LIST contract_headers)
      get_filename_component(name "${header}" NAME)
      list(APPEND problems "ops/${name} includes ${included}: call the kernel through backend/ instead")
    endif()
  endforeach()
endforeach()

file(GLOB backend_headers "${INCLUDE_DIR}/ranklens/backend/*.hpp")
if(NOT backend_headers)
  list(APPEND problems "no headers found under ${INCLUDE_DIR}/ranklens/backend")
endif()
foreach(header IN LISTS backend_headers)
  file(STRINGS "${header}" includes REGEX "^#include \"ranklens/")
  foreach(line IN LISTS includes)
    if(NOT line MATCHES "^#include \"ranklens/(core|cpu|cuda|backend)/")
      get_filename_component(name "${header}" NAME)
      list(APPEND problems "backend/${name}: ${line} (backend/ sits below autograd/ and ops/)")
    endif()
  endforeach()
endforeach()

if(problems)
  list(JOIN problems "\n  " report)
  message(FATAL_ERROR "The switch point is bypassed:\n  ${report}")
endif()
list(LENGTH op_headers op_count)
list(LENGTH backend_headers backend_count)
message(STATUS "switch point holds: ${op_count} ops/ headers, ${backend_count} backend/ headers checked")
