# Installs the ranklens build BUILD_DIR into WORK_DIR/prefix, then configures, builds and runs
# the project CONSUMER_SOURCE_DIR against that prefix alone, as a user of the package would, and
# checks the warning about unused vector extensions (with ranklens::ranklens, ranklens::native).
#   cmake -DBUILD_DIR=... -DCONFIG=... -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=...
#         -DCXX_COMPILER=... -DEXPECTED_VERSION=... -P install_and_consume.cmake

cmake_minimum_required(VERSION 3.25)  # policies for this script, run with cmake -P

function(run_step description)
  message(STATUS "install_and_consume: ${description}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE step_result)
  if(NOT step_result EQUAL 0)
    message(FATAL_ERROR "install_and_consume: '${description}' failed (${step_result})")
  endif()
endfunction()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build_dir "${WORK_DIR}/consumer-build")
file(REMOVE_RECURSE "${WORK_DIR}")

set(config_argument)
if(CONFIG)
  set(config_argument --config "${CONFIG}")
endif()
run_step("install into ${prefix}"
  "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" ${config_argument})
# The package registry is switched off so that only the fresh install can satisfy find_package.
run_step("configure the consumer"
  "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${consumer_build_dir}" -G "${GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_BUILD_TYPE=Release"
  "-DCMAKE_PREFIX_PATH=${prefix}"
  "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF")

# Guard against a ranklensConfig.cmake found somewhere else on the machine.
file(STRINGS "${consumer_build_dir}/CMakeCache.txt" ranklens_dir_line REGEX "^ranklens_DIR:")
string(REGEX REPLACE "^ranklens_DIR:[A-Z]+=" "" ranklens_dir "${ranklens_dir_line}")
file(REAL_PATH "${prefix}" real_prefix)
file(REAL_PATH "${ranklens_dir}" real_ranklens_dir)
string(FIND "${real_ranklens_dir}" "${real_prefix}/" prefix_position)
if(NOT prefix_position EQUAL 0)
  message(FATAL_ERROR "the consumer found ranklens in '${ranklens_dir}', not under ${prefix}")
endif()

run_step("build the consumer" "${CMAKE_COMMAND}" --build "${consumer_build_dir}")

# run_consumer(NAME OUTPUT_VARIABLE [ENVIRONMENT...]): runs one consumer, which must succeed and
# report the installed version; OUTPUT_VARIABLE gets its stdout and stderr together.
function(run_consumer name output_variable)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E env --unset=RANKLENS_NO_VECTOR_WARNING ${ARGN}
                          "${consumer_build_dir}/${name}"
    RESULT_VARIABLE run_result
    OUTPUT_VARIABLE run_output
    ERROR_VARIABLE run_output)
  message(STATUS "install_and_consume: ${name} printed: ${run_output}")
  if(NOT run_result EQUAL 0)
    message(FATAL_ERROR "install_and_consume: ${name} exited with ${run_result}")
  endif()
  if(NOT run_output MATCHES "ranklens ${EXPECTED_VERSION}")
    message(FATAL_ERROR "install_and_consume: expected ${name} to report ranklens ${EXPECTED_VERSION}")
  endif()
  set(${output_variable} "${run_output}" PARENT_SCOPE)
endfunction()

# vector_bits(OUTPUT COMPILED CPU): the widths a consumer reported.
function(vector_bits output compiled_variable cpu_variable)
  if(NOT output MATCHES "vectors: compiled for ([0-9]+) bits, the CPU has ([0-9]+) bits")
    message(FATAL_ERROR "install_and_consume: no vector widths in the consumer's output")
  endif()
  set(${compiled_variable} "${CMAKE_MATCH_1}" PARENT_SCOPE)
  set(${cpu_variable} "${CMAKE_MATCH_2}" PARENT_SCOPE)
endfunction()

set(vector_warning "ranklens: this program was compiled for")

# ranklens::ranklens with the consumer's own flags (no -march): warned exactly when the CPU has
# wider vectors than the build uses, and silent with RANKLENS_NO_VECTOR_WARNING=1.
run_consumer(ranklens_consumer plain_output)
vector_bits("${plain_output}" plain_compiled plain_cpu)
string(FIND "${plain_output}" "${vector_warning}" plain_warned)
if(plain_cpu GREATER plain_compiled AND plain_warned EQUAL -1)
  message(FATAL_ERROR "install_and_consume: built for ${plain_compiled}-bit vectors on a ${plain_cpu}-bit CPU, ranklens_consumer did not warn")
endif()
if(NOT plain_cpu GREATER plain_compiled AND NOT plain_warned EQUAL -1)
  message(FATAL_ERROR "install_and_consume: ranklens_consumer warned about vectors it uses fully")
endif()
run_consumer(ranklens_consumer quiet_output RANKLENS_NO_VECTOR_WARNING=1)
string(FIND "${quiet_output}" "${vector_warning}" quiet_warned)
if(NOT quiet_warned EQUAL -1)
  message(FATAL_ERROR "install_and_consume: RANKLENS_NO_VECTOR_WARNING=1 did not silence the warning")
endif()

# ranklens::native: built and run here, it uses this CPU's widest vectors and does not warn.
run_consumer(ranklens_consumer_native native_output)
vector_bits("${native_output}" native_compiled native_cpu)
string(FIND "${native_output}" "${vector_warning}" native_warned)
if(NOT native_compiled EQUAL native_cpu OR NOT native_warned EQUAL -1)
  message(FATAL_ERROR "install_and_consume: ranklens::native built for ${native_compiled}-bit vectors on a ${native_cpu}-bit CPU")
endif()
