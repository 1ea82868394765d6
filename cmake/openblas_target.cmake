# Provides the imported target OpenBLAS::OpenBLAS (library plus the directory of its cblas.h).
# Used by our own CMakeLists.txt and installed next to ranklensConfig.cmake for consumers.
#
# Newer OpenBLAS releases export that target themselves. Debian 12's 0.3.21 ships an
# OpenBLASConfig.cmake that only sets OpenBLAS_LIBRARIES and OpenBLAS_INCLUDE_DIRS (absolute
# paths into openblas-pthread/), and other systems may have no CMake file at all, hence the
# find_library fallback.

if(TARGET OpenBLAS::OpenBLAS)
  return()
endif()

find_package(OpenBLAS CONFIG QUIET)
if(TARGET OpenBLAS::OpenBLAS)
  return()
endif()

if(OpenBLAS_FOUND AND OpenBLAS_LIBRARIES)
  set(openblas_library "${OpenBLAS_LIBRARIES}")
  set(openblas_include_dirs "${OpenBLAS_INCLUDE_DIRS}")
else()
  find_library(RANKLENS_OPENBLAS_LIBRARY NAMES openblas
    PATH_SUFFIXES openblas-pthread openblas-openmp openblas)
  find_path(RANKLENS_OPENBLAS_INCLUDE_DIR NAMES cblas.h
    PATH_SUFFIXES openblas-pthread openblas-openmp openblas)
  if(NOT RANKLENS_OPENBLAS_LIBRARY OR NOT RANKLENS_OPENBLAS_INCLUDE_DIR)
    message(FATAL_ERROR
      "ranklens needs OpenBLAS: found library '${RANKLENS_OPENBLAS_LIBRARY}' and cblas.h in "
      "'${RANKLENS_OPENBLAS_INCLUDE_DIR}'. On Debian: apt-get install libopenblas-dev")
  endif()
  set(openblas_library "${RANKLENS_OPENBLAS_LIBRARY}")
  set(openblas_include_dirs "${RANKLENS_OPENBLAS_INCLUDE_DIR}")
endif()

add_library(OpenBLAS::OpenBLAS UNKNOWN IMPORTED)
set_target_properties(OpenBLAS::OpenBLAS PROPERTIES
  IMPORTED_LOCATION "${openblas_library}"
  INTERFACE_INCLUDE_DIRECTORIES "${openblas_include_dirs}")
unset(openblas_library)
unset(openblas_include_dirs)
