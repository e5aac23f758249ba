// Router lookup (server/http/router.h): Router::route() for tables of 10, 100
// and 1,000 routes of one kind (exact, stem, regex). Hits cycle through every
// route in a shuffled order, so lookups land all over the table rather than
// on one warm entry; the miss case asks for a path no route takes (for regex
// routes the worst case: every pattern is tried). Items/s = lookups/s.
// Run: bazel run --config=opt //server/http:router_benchmark
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "server/http/router.h"

namespace hellepoll::http {
namespace {

enum class Kind { kExact, kStem, kRegex };

// Names of different lengths, so stem routes come in many lengths (the stem
// lookup costs one hash probe per distinct length).
const char* const kResources[] = {"users",     "orders", "products", "invoices",
                                  "customers", "carts",  "reviews",  "sessions"};

struct Table {
  Router router;
  std::vector<std::string> hits;  // one path per route, shuffled
};

// Route i and a path it takes, e.g. exact "/api/v1/users/123",
// stem "/static/users/123/" for "/static/users/123/app.js",
// regex "^/api/v1/users/123/items/[0-9]+$" for "/api/v1/users/123/items/42".
void build(Kind kind, int n, Table& t) {
  for (int i = 0; i < n; ++i) {
    const std::string res = kResources[i % 8], id = std::to_string(i);
    const auto h = [](Request&, Response&) {};
    switch (kind) {
      case Kind::kExact:
        t.router.get("/api/v1/" + res + "/" + id, h);
        t.hits.push_back("/api/v1/" + res + "/" + id);
        break;
      case Kind::kStem:
        t.router.stem("/static/" + res + "/" + id + "/", kGetHead, h);
        t.hits.push_back("/static/" + res + "/" + id + "/app.js");
        break;
      case Kind::kRegex:
        t.router.regex("^/api/v1/" + res + "/" + id + "/items/[0-9]+$", kGetHead, h);
        t.hits.push_back("/api/v1/" + res + "/" + id + "/items/42");
        break;
    }
  }
  std::shuffle(t.hits.begin(), t.hits.end(), std::mt19937(42));
}

void BM_Hit(benchmark::State& state, Kind kind) {
  Table t;
  build(kind, static_cast<int>(state.range(0)), t);
  // Each path must reach its own route: n distinct handlers.
  std::set<const Handler*> seen;
  for (const std::string& p : t.hits) seen.insert(t.router.route(Method::kGet, p).handler);
  if (seen.size() != t.hits.size() || seen.count(nullptr)) {
    state.SkipWithError("a path did not reach its own route");
    return;
  }
  size_t i = 0;
  for (auto _ : state) {
    Router::Match m = t.router.route(Method::kGet, t.hits[i]);
    benchmark::DoNotOptimize(m);
    if (++i == t.hits.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Miss(benchmark::State& state, Kind kind) {
  Table t;
  build(kind, static_cast<int>(state.range(0)), t);
  const std::string path = "/api/v2/widgets/404/items/7";  // no route takes it
  if (t.router.route(Method::kGet, path).status != 404) {
    state.SkipWithError("miss path matched a route");
    return;
  }
  for (auto _ : state) {
    Router::Match m = t.router.route(Method::kGet, path);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_Hit, exact, Kind::kExact)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK_CAPTURE(BM_Hit, stem, Kind::kStem)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK_CAPTURE(BM_Hit, regex, Kind::kRegex)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK_CAPTURE(BM_Miss, exact, Kind::kExact)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK_CAPTURE(BM_Miss, stem, Kind::kStem)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK_CAPTURE(BM_Miss, regex, Kind::kRegex)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace
}  // namespace hellepoll::http
