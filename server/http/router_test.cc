#include "server/http/router.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <string>
#include <vector>

namespace hellepoll::http {
namespace {

// Each route's handler is identified by the address it is stored at; the
// table asserts which registration a lookup picks.
class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    r_.get("/", [](Request&, Response&) {});                                   // 0
    r_.exact("/items", MethodSet{Method::kPost}, [](Request&, Response&) {});  // 1
    r_.exact("/items", kGetHead, [](Request&, Response&) {});                  // 2
    r_.stem("/static/", kGetHead, [](Request&, Response&) {});                 // 3
    r_.stem("/static/img/", kGetHead, [](Request&, Response&) {});             // 4
    r_.regex("^/user/[0-9]+$", MethodSet::any(), [](Request&, Response&) {});  // 5
    r_.stem("/user/", kGetHead, [](Request&, Response&) {});                   // 6
  }
  // Which registration (0-6) answers, or -status.
  int which(Method m, std::string_view path) {
    Router::Match match = r_.route(m, path);
    if (!match.handler) return -match.status;
    // Identify the registration by the route a known probe path resolves to.
    for (auto& [probe, id] : probes_) {
      Router::Match p = r_.route(probe.first, probe.second);
      if (p.handler == match.handler) return id;
    }
    return 99;
  }
  Router r_;
  std::vector<std::pair<std::pair<Method, std::string>, int>> probes_ = {
      {{Method::kGet, "/"}, 0},
      {{Method::kPost, "/items"}, 1},
      {{Method::kGet, "/items"}, 2},
      {{Method::kGet, "/static/a.css"}, 3},
      {{Method::kGet, "/static/img/x"}, 4},
      {{Method::kDelete, "/user/1"}, 5},
      {{Method::kGet, "/user/abc"}, 6},
  };
};

TEST_F(RouterTest, Table) {
  struct Case {
    Method method;
    const char* path;
    int expect;
  } cases[] = {
      {Method::kGet, "/", 0},
      {Method::kHead, "/", 0},
      {Method::kPost, "/", -405},
      {Method::kPost, "/items", 1},
      {Method::kGet, "/items", 2},
      {Method::kPut, "/items", -405},
      {Method::kGet, "/items/", -404},
      {Method::kGet, "/static/", 3},
      {Method::kGet, "/static/css/a.css", 3},
      {Method::kGet, "/static/img/logo.png", 4},  // longest stem wins
      {Method::kGet, "/static", -404},            // shorter than every stem
      {Method::kGet, "/user/42", 5},              // regex before stem
      {Method::kPatch, "/user/42", 5},
      {Method::kGet, "/user/42x", 6},  // regex must match the whole path
      {Method::kPost, "/user/x", -405},
      {Method::kGet, "/nothing", -404},
  };
  for (const Case& c : cases) EXPECT_EQ(c.expect, which(c.method, c.path)) << c.path;
}

TEST_F(RouterTest, AllowListsTheMethodsOfTheMatchedPath) {
  Router::Match m = r_.route(Method::kDelete, "/items");
  EXPECT_EQ(405, m.status);
  EXPECT_EQ("GET, HEAD, POST", m.allow.allow_header());
}

TEST(Router, ManyRoutes) {
  Router r;
  for (int i = 0; i < 1000; ++i) {
    r.get("/exact/" + std::to_string(i), [](Request&, Response&) {});
    r.stem("/stem/" + std::to_string(i) + "/", kGetHead, [](Request&, Response&) {});
  }
  EXPECT_EQ(2000u, r.size());
  EXPECT_NE(nullptr, r.route(Method::kGet, "/exact/999").handler);
  EXPECT_NE(nullptr, r.route(Method::kGet, "/stem/500/deep/path").handler);
  EXPECT_EQ(nullptr, r.route(Method::kGet, "/exact/1000").handler);
}

// PathMap against std::map: every key inserted is found with its value, and
// near misses (one byte changed, one byte more or less, at every length up to
// 40, the lengths where path_hash() switches between loads) are not.
TEST(PathMap, AgreesWithStdMap) {
  PathMap<int> pm;
  std::map<std::string, int> ref;
  std::vector<std::string> keys = {""};
  for (size_t len = 1; len <= 40; ++len) {
    for (char c : {'a', 'b', '/'}) keys.push_back(std::string(len - 1, 'x') + c);
    keys.push_back("/" + std::string(len - 1, 'y'));
  }
  for (int i = 0; i < 2000; ++i) keys.push_back("/route/" + std::to_string(i * 7919));
  int v = 0;
  for (const std::string& k : keys) {
    ++v;
    pm[k] = v;
    ref[k] = v;
  }
  pm["/route/0"] = -1;  // an existing key: found, not inserted again
  ref["/route/0"] = -1;
  ASSERT_EQ(pm.size(), ref.size());
  for (const auto& [k, val] : ref) {
    const int* got = pm.find(k);
    ASSERT_NE(got, nullptr) << "'" << k << "'";
    EXPECT_EQ(*got, val) << "'" << k << "'";
    std::string miss = k + "z";
    EXPECT_EQ(pm.find(miss) != nullptr, ref.count(miss) == 1) << "'" << miss << "'";
    if (!k.empty()) {
      miss = k;
      miss[miss.size() / 2] ^= 0x01;
      EXPECT_EQ(pm.find(miss) != nullptr, ref.count(miss) == 1) << "'" << miss << "'";
      miss = k.substr(0, k.size() - 1);
      EXPECT_EQ(pm.find(miss) != nullptr, ref.count(miss) == 1) << "'" << miss << "'";
    }
  }
  EXPECT_EQ(PathMap<int>().find("/"), nullptr);
}

TEST(RegexLiteralPrefix, Table) {
  struct Case {
    const char* pattern;
    const char* prefix;
  } cases[] = {
      {"^/user/[0-9]+$", "/user/"},
      {"/user/[0-9]+", "/user/"},  // matched whole: ^ is implied
      {"^/a\\.b*$", "/a."},        // escaped punctuation is literal; b* may be absent
      {"^/ab?c", "/a"},
      {"^/ab{2}", "/a"},
      {"^/ab+c", "/ab"},            // at least one b, then anything
      {"^/files/\\d+", "/files/"},  // \d is a class
      {"^/x\\/y", "/x/y"},
      {"^/(a|b)/", ""},  // alternation anywhere: no prefix
      {"^/a|/b", ""},
      {"^.*\\.php$", ""},
      {"^(?:/api)/v1", ""},
      {"[/]x", ""},
      {"^/a$", "/a"},
      {"^/b\\\\c", "/b\\c"},  // an escaped backslash
      {"", ""},
  };
  for (const Case& c : cases) EXPECT_EQ(c.prefix, regex_literal_prefix(c.pattern)) << c.pattern;
}

// The prefix index must not change which route answers: every lookup agrees
// with trying each regex in registration order, the definition of the
// precedence. The patterns overlap across prefix lengths, and one prefix is
// shared by more routes than the index gathers at once.
TEST(Router, RegexIndexAgreesWithTryingEveryPatternInOrder) {
  std::vector<std::string> patterns = {
      "^/api/v1/users/[0-9]+$", "^/api/v1/.*$",  "^/api/v1/users/me$",
      "^/api/.+/items$",        "^/ap+/x$",      "^.*\\.php$",
      "^/api/v1/users/[a-z]+$", "^/(a|b)pi/v2$", "^/static/.*\\.css$",
      "^/api/v\\d/status$",
  };
  // 80 patterns under "/many/": more candidates than the index gathers.
  for (int i = 0; i < 80; ++i) patterns.push_back("^/many/[0-9]*/" + std::to_string(i) + "$");
  patterns.push_back("^/many/3/.*$");
  // Each handler says which pattern it belongs to.
  int answered = -1;
  Router r;
  for (size_t i = 0; i < patterns.size(); ++i) {
    r.regex(patterns[i], MethodSet::any(),
            [&answered, i](Request&, Response&) { answered = static_cast<int>(i); });
  }
  std::vector<std::regex> reference;
  for (const std::string& p : patterns) reference.emplace_back(p, std::regex::ECMAScript);

  const char* paths[] = {"/api/v1/users/42",
                         "/api/v1/users/me",
                         "/api/v1/users/bob",
                         "/api/v1/",
                         "/api/v2/items",
                         "/apppp/x",
                         "/ap/x",
                         "/index.php",
                         "/api/v1/x.php",
                         "/bpi/v2",
                         "/static/a/b.css",
                         "/api/v7/status",
                         "/many/3/10",
                         "/many/312/10",
                         "/many/5/75",
                         "/many/3/x",
                         "/many/",
                         "/",
                         "",
                         "/nothing"};
  RequestHead head;
  Request req(nullptr, head, {});
  Response resp(nullptr, nullptr, nullptr);
  for (const char* path : paths) {
    std::string_view p(path);
    int expected = -1;
    for (size_t i = 0; i < reference.size() && expected < 0; ++i) {
      if (std::regex_match(p.begin(), p.end(), reference[i])) expected = static_cast<int>(i);
    }
    Router::Match m = r.route(Method::kGet, p);
    answered = -1;
    if (m.handler) (*m.handler)(req, resp);
    EXPECT_EQ(expected, answered) << path;
  }
}

}  // namespace
}  // namespace hellepoll::http
