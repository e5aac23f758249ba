// The variant binaries a suite runs against: the comma-separated list that
// variants/BUILD passes in HELLEPOLL_VARIANTS (from variants.bzl, so a new
// axis value is tested without editing any test), and the (variant,
// workers) pairs the suites are parametrised over. HELLEPOLL_PROCS_VARIANTS
// lists the ones whose workers are processes, for supervisor cases.
#pragma once

#include <cstdlib>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace hellepoll::variants {

inline std::vector<std::string> variants_under_test(const char* list = "HELLEPOLL_VARIANTS") {
  std::vector<std::string> out;
  const char* env = std::getenv(list);
  std::stringstream ss(env ? env : "");
  std::string v;
  while (std::getline(ss, v, ',')) {
    if (!v.empty()) out.push_back(v);
  }
  return out;
}

// One variant binary run with `--workers N`.
struct VariantRun {
  std::string variant;
  int workers;
};

// Every variant under test at 1 and at 2 workers: two workers add what one
// hides (reuseport sockets sharing a port, forked children, connections
// split between loops).
inline std::vector<VariantRun> variant_runs(const char* list = "HELLEPOLL_VARIANTS") {
  std::vector<VariantRun> out;
  for (const std::string& v : variants_under_test(list)) {
    out.push_back({v, 1});
    out.push_back({v, 2});
  }
  return out;
}

// The test-name suffix gtest shows for a run: "helloworld_workers2".
inline std::string run_name(const VariantRun& r) {
  return r.variant + "_workers" + std::to_string(r.workers);
}

// How gtest names a failed run's parameter (else: its bytes in hex).
inline void PrintTo(const VariantRun& r, std::ostream* os) { *os << run_name(r); }

}  // namespace hellepoll::variants
