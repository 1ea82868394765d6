# A compile-fail test passes only when SOURCE fails to compile AND the compiler's output holds
# every message quoted on a "// expect: <part of the message>" line of SOURCE. Failing for any
# other reason (a typo, a missing include) is a test failure, as is compiling cleanly.
#   cmake -DCOMPILER=... -DCOMPILER_ID=GNU -DSOURCE=... [-DFLAGS=a|b] [-DINCLUDE_DIRS=a|b]
#         [-DIMPLICIT_INCLUDE_DIRS=a|b] [-DDEFINITIONS=a|b] -P expect_compile_failure.cmake
# Lists are "|"-separated because ";" would split the -D arguments on the way here.

cmake_minimum_required(VERSION 3.25)  # policies for this script, run with cmake -P

foreach(list_argument FLAGS INCLUDE_DIRS IMPLICIT_INCLUDE_DIRS DEFINITIONS)
  string(REPLACE "|" ";" ${list_argument} "${${list_argument}}")
endforeach()

file(STRINGS "${SOURCE}" expect_lines REGEX "^[ \t]*// expect:")
if(NOT expect_lines)
  message(FATAL_ERROR "${SOURCE} has no '// expect: <part of the error message>' line")
endif()
set(expected_messages)
foreach(expect_line IN LISTS expect_lines)
  string(REGEX REPLACE "^[ \t]*// expect:[ \t]*" "" expected_message "${expect_line}")
  string(STRIP "${expected_message}" expected_message)
  list(APPEND expected_messages "${expected_message}")
endforeach()

set(compile_arguments ${FLAGS})
foreach(include_dir IN LISTS INCLUDE_DIRS)
  # -I on a system directory reorders the search and breaks libstdc++'s #include_next.
  if(NOT include_dir IN_LIST IMPLICIT_INCLUDE_DIRS)
    list(APPEND compile_arguments "-I${include_dir}")
  endif()
endforeach()
foreach(definition IN LISTS DEFINITIONS)
  list(APPEND compile_arguments "-D${definition}")
endforeach()

# Plain ASCII quotes and no colour codes, so that the expected text matches byte for byte.
# No echo of the offending source line either: the "// expect:" text must be found in the
# diagnostic itself, not in a quoted line of the file.
set(ENV{LC_ALL} C)
list(APPEND compile_arguments -fsyntax-only -fdiagnostics-color=never)
if(COMPILER_ID MATCHES "Clang")
  list(APPEND compile_arguments -fno-caret-diagnostics)
else()
  list(APPEND compile_arguments -fno-diagnostics-show-caret)
endif()
execute_process(
  COMMAND "${COMPILER}" ${compile_arguments} "${SOURCE}"
  RESULT_VARIABLE compile_result
  OUTPUT_VARIABLE compiler_output
  ERROR_VARIABLE compiler_output)

if(compile_result EQUAL 0)
  list(JOIN compile_arguments " " command_line)
  message(FATAL_ERROR
    "${SOURCE} compiled, but it must fail with: ${expected_messages}\n"
    "Command: ${COMPILER} ${command_line} ${SOURCE}")
endif()
foreach(expected_message IN LISTS expected_messages)
  string(FIND "${compiler_output}" "${expected_message}" found_at)
  if(found_at EQUAL -1)
    message(FATAL_ERROR
      "${SOURCE} failed to compile, but not with the expected message\n"
      "  expected: ${expected_message}\n"
      "Compiler output:\n${compiler_output}")
  endif()
endforeach()
message(STATUS "${SOURCE} failed to compile as expected, with: ${expected_messages}")
