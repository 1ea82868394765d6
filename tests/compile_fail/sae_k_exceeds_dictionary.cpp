// A sparse autoencoder asked for more active latents than its dictionary holds.
// expect: SparseAutoencoder: K cannot exceed the dictionary size DSae.
#include "ranklens/sae/sparse_autoencoder.hpp"

using namespace ranklens;

int main() {
  Rng gen(0);
  SparseAutoencoder<64, 16, 32> sae(gen);
  (void)sae;
}
