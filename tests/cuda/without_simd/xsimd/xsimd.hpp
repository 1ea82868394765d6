// Put first on the include path of the files nvcc compiles (tests/CMakeLists.txt): a CUDA
// translation unit that reaches xsimd, through ops/ or anything else, fails here instead of
// quietly compiling the CPU kernels (docs/architecture.md, "Ops on any device", step 2).
#error "xsimd reached a CUDA translation unit: a header it includes pulls in the CPU kernels (see docs/architecture.md, Ops on any device)"
