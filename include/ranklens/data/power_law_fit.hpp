// Least-squares fit of y = prefactor * x^exponent on log-log axes, the usual way to read a
// scaling exponent off a loss curve (e.g. the Bayes excess loss ~ k(k-1) / (2 t) of a k-state
// chain has exponent -1 asymptotically).
#pragma once
#include <cmath>
#include <span>
#include <string>

#include "ranklens/core/error.hpp"

namespace ranklens::data {

struct power_law {
  double exponent = 0.0;
  double prefactor = 0.0;
  double r_squared = 0.0;  // of the straight-line fit of log y on log x
};

inline power_law fit_power_law(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size() || x.size() < 2) {
    throw shape_error("fit_power_law: " + std::to_string(x.size()) + " x values and " +
                      std::to_string(y.size()) + " y values; expected equal counts, at least 2");
  }
  const auto n = static_cast<double>(x.size());
  double mean_u = 0.0, mean_v = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] > 0.0) || !(y[i] > 0.0)) {
      throw value_error("fit_power_law: values must be positive, point " + std::to_string(i) +
                        " is (" + std::to_string(x[i]) + ", " + std::to_string(y[i]) + ")");
    }
    mean_u += std::log(x[i]) / n;
    mean_v += std::log(y[i]) / n;
  }
  double suu = 0.0, suv = 0.0, svv = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double du = std::log(x[i]) - mean_u, dv = std::log(y[i]) - mean_v;
    suu += du * du;
    suv += du * dv;
    svv += dv * dv;
  }
  if (!(suu > 0.0)) throw value_error("fit_power_law: all x values are equal");
  power_law fit;
  fit.exponent = suv / suu;
  fit.prefactor = std::exp(mean_v - fit.exponent * mean_u);
  fit.r_squared = svv > 0.0 ? suv * suv / (suu * svv) : 1.0;
  return fit;
}

}  // namespace ranklens::data
