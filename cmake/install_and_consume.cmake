# Installs the ranklens build BUILD_DIR into WORK_DIR/prefix, then configures, builds and runs
# the project CONSUMER_SOURCE_DIR against that prefix alone, as a user of the package would.
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

execute_process(COMMAND "${consumer_build_dir}/ranklens_consumer"
  RESULT_VARIABLE run_result
  OUTPUT_VARIABLE run_output
  ERROR_VARIABLE run_output)
message(STATUS "install_and_consume: the consumer printed: ${run_output}")
if(NOT run_result EQUAL 0)
  message(FATAL_ERROR "install_and_consume: the consumer exited with ${run_result}")
endif()
if(NOT run_output MATCHES "ranklens ${EXPECTED_VERSION}")
  message(FATAL_ERROR "install_and_consume: expected the consumer to report ranklens ${EXPECTED_VERSION}")
endif()
