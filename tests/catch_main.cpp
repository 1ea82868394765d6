// Catch2's main() and the bulk of its implementation, compiled once for every test file.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
