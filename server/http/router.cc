#include "server/http/router.h"

#include <algorithm>
#include <cctype>
#include <functional>

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
  exact_[path].push_back({methods, std::move(h)});
  ++count_;
}

namespace {

// The bucket of `buckets` for keys of length `len`, added in order if it is
// not there: buckets stay sorted by length, `before(a, b)` saying whether
// length a comes first.
template <class Bucket, class Before>
Bucket& bucket_for_length(std::vector<Bucket>& buckets, size_t len, Before before) {
  auto it = std::partition_point(buckets.begin(), buckets.end(),
                                 [&](const Bucket& b) { return before(b.length, len); });
  if (it == buckets.end() || it->length != len) it = buckets.insert(it, Bucket{len, {}});
  return *it;
}

}  // namespace

void Router::stem(std::string prefix, MethodSet methods, Handler h) {
  StemLength& bucket = bucket_for_length(stems_, prefix.size(), std::greater<>());
  bucket.table[prefix].push_back({methods, std::move(h)});
  ++count_;
}

std::string regex_literal_prefix(std::string_view pattern) {
  if (pattern.find('|') != std::string_view::npos) return {};
  std::string prefix;
  size_t i = pattern.starts_with('^') ? 1 : 0;
  while (i < pattern.size()) {
    char c = pattern[i];
    size_t next = i + 1;
    if (c == '\\') {
      // Escaped punctuation is itself; a letter or digit is a class (\d),
      // an assertion (\b) or a back-reference (\1).
      if (next == pattern.size() || !std::ispunct(static_cast<unsigned char>(pattern[next]))) break;
      c = pattern[next++];
    } else if (std::string_view(".[](){}*+?^$").find(c) != std::string_view::npos) {
      break;
    }
    const char quantifier = next < pattern.size() ? pattern[next] : '\0';
    if (quantifier == '*' || quantifier == '?' || quantifier == '{') break;
    prefix += c;
    if (quantifier == '+') break;
    i = next;
  }
  return prefix;
}

void Router::regex(const std::string& pattern, MethodSet methods, Handler h) {
  const auto index = static_cast<uint32_t>(regexes_.size());
  regexes_.push_back({std::regex(pattern, std::regex::ECMAScript | std::regex::optimize),
                      regex_literal_prefix(pattern),
                      {}});
  regexes_.back().routes.push_back({methods, std::move(h)});
  const std::string& prefix = regexes_.back().prefix;
  RegexPrefixLength& bucket = bucket_for_length(regex_prefixes_, prefix.size(), std::less<>());
  bucket.table[prefix].push_back(index);  // registration order: ascending
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
  if (const Routes* r = exact_.find(path)) {
    pick(*r, method, &m);
    return m;
  }
  if (!regexes_.empty() && route_regex(method, path, &m)) return m;
  for (const StemLength& s : stems_) {
    if (path.size() < s.length) continue;
    if (const Routes* r = s.table.find(path.substr(0, s.length))) {
      pick(*r, method, &m);
      m.stem_length = static_cast<uint32_t>(s.length);
      return m;
    }
  }
  return m;
}

// The first regex route, in registration order, that matches `path`. Only
// patterns whose literal prefix starts the path can match; their indices are
// gathered (one hash probe per prefix length), sorted back into registration
// order and tried. More candidates than fit on the stack (many patterns
// with a short common prefix) fall back to trying them all in order.
bool Router::route_regex(Method method, std::string_view path, Match* m) const {
  constexpr size_t kMaxCandidates = 64;
  uint32_t candidates[kMaxCandidates];
  size_t n = 0;
  bool overflow = false;
  for (const RegexPrefixLength& l : regex_prefixes_) {
    if (l.length > path.size()) break;
    const std::vector<uint32_t>* found = l.table.find(path.substr(0, l.length));
    if (!found) continue;
    if (n + found->size() > kMaxCandidates) {
      overflow = true;
      break;
    }
    for (uint32_t i : *found) candidates[n++] = i;
  }
  auto try_route = [&](const RegexRoute& r) {
    if (!std::regex_match(path.begin(), path.end(), r.re)) return false;
    pick(r.routes, method, m);
    return true;
  };
  if (overflow) {
    for (const RegexRoute& r : regexes_) {
      if (path.starts_with(r.prefix) && try_route(r)) return true;
    }
    return false;
  }
  std::sort(candidates, candidates + n);
  for (size_t k = 0; k < n; ++k) {
    if (try_route(regexes_[candidates[k]])) return true;
  }
  return false;
}

}  // namespace hellepoll::http
