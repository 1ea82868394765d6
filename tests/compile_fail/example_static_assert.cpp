// Self-test of the compile-fail harness (cmake/expect_compile_failure.cmake): this file must
// be rejected, and with exactly this message.
// expect: compile-fail harness self-test

static_assert(sizeof(int) == 0, "ranklens compile-fail harness self-test");
