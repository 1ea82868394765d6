// Switch point for keeping a matrix's rows on the unit sphere (a sparse autoencoder's decoder):
// removing a gradient's component along each row, and normalising the rows. Twins:
// cpu/unit_norm_rows.hpp and cuda/unit_norm_rows.cuh.
#pragma once
#include "ranklens/backend/kernel.hpp"

#if RANKLENS_BACKEND_CUDA_UNIT
#include "ranklens/cuda/unit_norm_rows.cuh"
#else
#include "ranklens/cpu/unit_norm_rows.hpp"
#endif

namespace ranklens::backend {

RANKLENS_BACKEND_KERNEL(remove_parallel_component)
RANKLENS_BACKEND_KERNEL(normalize_rows)

}  // namespace ranklens::backend
