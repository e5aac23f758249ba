#include "loadgen/body_check.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace loadgen {
namespace {

using hellepoll::http::client::Framing;

struct Case {
  const char* name;
  Framing framing;
  std::vector<std::string> pieces;  // the body bytes as the parser consumed them
  bool matches;
};

const std::vector<Case> kCases = {
    {"length_whole", Framing::kLength, {"Hello World"}, true},
    {"length_split", Framing::kLength, {"Hel", "lo Wo", "rld"}, true},
    {"length_other_bytes", Framing::kLength, {"hello world"}, false},
    {"length_short", Framing::kLength, {"Hello"}, false},
    {"length_long", Framing::kLength, {"Hello World!"}, false},
    {"empty_body", Framing::kNoBody, {}, false},
    {"until_close", Framing::kUntilClose, {"Hello ", "World"}, true},
    {"chunked_one", Framing::kChunked, {"b\r\nHello World\r\n0\r\n\r\n"}, true},
    {"chunked_two_split_anywhere",
     Framing::kChunked,
     {"5\r", "\nHel", "lo\r\n6;ext=1\r\n Wor", "ld\r\n0\r\n\r\n"},
     true},
    {"chunked_upper_hex_and_trailer", Framing::kChunked, {"B\r\nHello World\r\n0\r\nX-T: 1\r\n\r\n"}, true},
    {"chunked_other_bytes", Framing::kChunked, {"b\r\nHello_World\r\n0\r\n\r\n"}, false},
    {"chunked_short", Framing::kChunked, {"5\r\nHello\r\n0\r\n\r\n"}, false},
};

TEST(BodyCheck, ComparesTheDecodedBody) {
  BodyCheck check("Hello World");
  for (const Case& c : kCases) {
    check.start(c.framing);
    for (const std::string& p : c.pieces) check.feed(p.data(), p.size());
    EXPECT_EQ(check.matches(), c.matches) << c.name;
  }
}

TEST(BodyCheck, AnEmptyExpectationMatchesOnlyAnEmptyBody) {
  BodyCheck check("");
  check.start(Framing::kNoBody);
  EXPECT_TRUE(check.matches());
  check.start(Framing::kLength);
  check.feed("x", 1);
  EXPECT_FALSE(check.matches());
}

}  // namespace
}  // namespace loadgen
