// Router: the handler factory. Maps (method, path) to a handler.
//
// Three kinds of route, tried in this order:
//   1. exact path        ("/")             hash lookup, O(1) (PathMap)
//   2. regex             ("^/user/[0-9]+$") in registration order, first match
//   3. stem (prefix)     ("/static/")      longest stem wins; one hash lookup
//                                           per distinct stem length
// Regex routes are indexed by their literal prefix ("/user/" above): a
// lookup runs std::regex only on the patterns whose prefix the path starts
// with, found with one hash lookup per distinct prefix length, so a stem hit
// or a 404 costs no regex at all, however many regex routes there are. (A
// regex that runs allocates inside libstdc++'s std::regex.)
// Each route takes a set of methods. A path that matches a route but not
// the method gets 405 with an Allow header; no match at all gets 404.
// A Router is built before serving and then only read: one Router may be
// shared by every worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "server/http/parser.h"
#include "server/http/path_map.h"
#include "server/http/request.h"
#include "server/http/response.h"

namespace hellepoll::http {

// The text every string matched by the ECMAScript `pattern` (as a whole, as
// Router::regex matches it) starts with: its leading ordinary characters and
// escaped punctuation, up to the first operator. A character under `*`, `?`
// or `{` is dropped (it may be absent); under `+` it is kept and ends the
// prefix. A pattern with `|` anywhere has none ("" is always safe).
//   "^/user/[0-9]+$" -> "/user/"    "/a\\.b*" -> "/a."    "(x|y)" -> ""
std::string regex_literal_prefix(std::string_view pattern);

using Handler = std::function<void(Request&, Response&)>;

// A set of methods, one bit per Method.
class MethodSet {
 public:
  constexpr MethodSet() = default;
  constexpr MethodSet(std::initializer_list<Method> ms) {
    for (Method m : ms) bits_ |= bit(m);
  }
  static constexpr MethodSet any() {
    MethodSet s;
    s.bits_ = ~0u;
    return s;
  }
  constexpr bool has(Method m) const { return bits_ & bit(m); }
  constexpr MethodSet operator|(MethodSet o) const {
    MethodSet s;
    s.bits_ = bits_ | o.bits_;
    return s;
  }
  // "GET, HEAD" for the Allow header.
  std::string allow_header() const;

 private:
  static constexpr uint32_t bit(Method m) { return 1u << static_cast<unsigned>(m); }
  uint32_t bits_ = 0;
};

inline const MethodSet kGetHead{Method::kGet, Method::kHead};

class Router {
 public:
  struct Match {
    const Handler* handler = nullptr;  // null: see status
    int status = 404;                  // 404, or 405 with `allow`
    MethodSet allow;
    uint32_t stem_length = 0;  // a stem route's: where Request::subpath() starts
  };

  void exact(std::string path, MethodSet methods, Handler h);
  void stem(std::string prefix, MethodSet methods, Handler h);
  // ECMAScript syntax, matched against the whole path.
  void regex(const std::string& pattern, MethodSet methods, Handler h);
  void get(std::string path, Handler h) { exact(std::move(path), kGetHead, std::move(h)); }

  Match route(Method method, std::string_view path) const;
  size_t size() const { return count_; }

 private:
  struct Route {
    MethodSet methods;
    Handler handler;
  };
  using Routes = std::vector<Route>;
  using Table = PathMap<Routes>;
  struct StemLength {
    size_t length;
    Table table;
  };
  struct RegexRoute {
    std::regex re;
    std::string prefix;  // regex_literal_prefix()
    Routes routes;
  };
  // Regex routes whose literal prefix has this length: prefix -> their
  // indices in regexes_, ascending.
  struct RegexPrefixLength {
    size_t length;
    PathMap<std::vector<uint32_t>> table;
  };
  static bool pick(const Routes& routes, Method method, Match* m);
  bool route_regex(Method method, std::string_view path, Match* m) const;

  Table exact_;
  std::vector<StemLength> stems_;                  // by length, longest first
  std::vector<RegexRoute> regexes_;                // registration order
  std::vector<RegexPrefixLength> regex_prefixes_;  // by length, shortest first
  size_t count_ = 0;
};

}  // namespace hellepoll::http
