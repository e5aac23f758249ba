// The variant binaries a suite runs against: the comma-separated list that
// variants/BUILD passes in HELLEPOLL_VARIANTS (from variants.bzl, so a new
// axis value is tested without editing any test).
#pragma once

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace hellepoll::variants {

inline std::vector<std::string> variants_under_test() {
  std::vector<std::string> out;
  const char* env = std::getenv("HELLEPOLL_VARIANTS");
  std::stringstream ss(env ? env : "");
  std::string v;
  while (std::getline(ss, v, ',')) {
    if (!v.empty()) out.push_back(v);
  }
  return out;
}

}  // namespace hellepoll::variants
