#include "server/http/router.h"

#include <algorithm>

namespace hellepoll::http {

std::string MethodSet::allow_header() const {
  std::string out;
  for (Method m : {Method::kGet, Method::kHead, Method::kPost, Method::kPut, Method::kDelete,
                   Method::kOptions, Method::kPatch, Method::kTrace}) {
    if (!has(m)) continue;
    if (!out.empty()) out += ", ";
    out += method_name(m);
  }
  return out;
}

void Router::exact(std::string path, MethodSet methods, Handler h) {
  exact_[std::move(path)].push_back({methods, std::move(h)});
  ++count_;
}

void Router::stem(std::string prefix, MethodSet methods, Handler h) {
  const size_t len = prefix.size();
  auto it = std::find_if(stems_.begin(), stems_.end(), [&](const StemLength& s) { return s.length == len; });
  if (it == stems_.end()) {
    stems_.push_back({len, {}});
    std::sort(stems_.begin(), stems_.end(),
              [](const StemLength& a, const StemLength& b) { return a.length > b.length; });
    it = std::find_if(stems_.begin(), stems_.end(), [&](const StemLength& s) { return s.length == len; });
  }
  it->table[std::move(prefix)].push_back({methods, std::move(h)});
  ++count_;
}

void Router::regex(const std::string& pattern, MethodSet methods, Handler h) {
  regexes_.push_back({std::regex(pattern, std::regex::ECMAScript | std::regex::optimize), {}});
  regexes_.back().routes.push_back({methods, std::move(h)});
  ++count_;
}

// Picks the first route of a matched path that takes `method`; otherwise
// records what the path allows, for a 405.
bool Router::pick(const Routes& routes, Method method, Match* m) {
  MethodSet allow;
  for (const Route& r : routes) {
    if (r.methods.has(method)) {
      m->handler = &r.handler;
      m->status = 0;
      return true;
    }
    allow = allow | r.methods;
  }
  m->status = 405;
  m->allow = allow;
  return false;
}

Router::Match Router::route(Method method, std::string_view path) const {
  Match m;
  if (auto it = exact_.find(path); it != exact_.end()) {
    pick(it->second, method, &m);
    return m;
  }
  for (const RegexRoute& r : regexes_) {
    if (std::regex_match(path.begin(), path.end(), r.re)) {
      pick(r.routes, method, &m);
      return m;
    }
  }
  for (const StemLength& s : stems_) {
    if (path.size() < s.length) continue;
    if (auto it = s.table.find(path.substr(0, s.length)); it != s.table.end()) {
      pick(it->second, method, &m);
      return m;
    }
  }
  return m;
}

}  // namespace hellepoll::http
