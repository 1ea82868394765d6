// Every CUDA kernel of ranklens in one include, for a program's own .cu translation unit. The
// backend is header-only: nvcc compiles the kernels a program uses where it uses them.
#pragma once
#include "ranklens/cuda/adamw.cuh"
#include "ranklens/cuda/blas.cuh"
#include "ranklens/cuda/causal_attention.cuh"
#include "ranklens/cuda/cross_entropy.cuh"
#include "ranklens/cuda/elementwise.cuh"
#include "ranklens/cuda/embedding.cuh"
#include "ranklens/cuda/graph.hpp"
#include "ranklens/cuda/low_rank.cuh"
#include "ranklens/cuda/norm.cuh"
#include "ranklens/cuda/reduce.cuh"
#include "ranklens/cuda/rope.cuh"
#include "ranklens/cuda/softmax.cuh"
#include "ranklens/cuda/sparse_decoder.cuh"
#include "ranklens/cuda/topk.cuh"
