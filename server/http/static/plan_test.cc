// plan_file_response(): the status, byte range and header values for each
// combination of method, validators and Range that matters.
#include "server/http/static/plan.h"

#include <gtest/gtest.h>

#include <string>

// A case's designated initializers name only what it sets; gcc 12 warns
// about the fields left to their defaults, which is the point here.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace hellepoll::http::static_files {
namespace {

constexpr time_t kMtime = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr std::string_view kDate = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr std::string_view kTag = "\"2ebc6da1-3e8\"";
const FileVersion kFile{1000, kMtime, kTag};

struct Case {
  const char* name;
  FileRequest req;
  int status;
  bool body;
  uint64_t offset, length;
  std::string_view content_range;
};

TEST(PlanFileResponse, Table) {
  const Case cases[] = {
      {"plain GET", {}, 200, true, 0, 1000, ""},
      {"HEAD", {.method = Method::kHead}, 200, false, 0, 1000, ""},
      {"POST", {.method = Method::kPost}, 405, false, 0, 0, ""},
      {"DELETE", {.method = Method::kDelete}, 405, false, 0, 0, ""},
      {"If-None-Match hit", {.if_none_match = kTag}, 304, false, 0, 0, ""},
      {"If-None-Match hit, HEAD", {.method = Method::kHead, .if_none_match = kTag}, 304, false, 0, 0, ""},
      {"If-None-Match miss", {.if_none_match = "\"old\""}, 200, true, 0, 1000, ""},
      {"If-Modified-Since same", {.if_modified_since = kDate}, 304, false, 0, 0, ""},
      {"If-Modified-Since older",
       {.if_modified_since = "Sat, 05 Nov 1994 08:49:37 GMT"},
       200,
       true,
       0,
       1000,
       ""},
      {"If-None-Match miss beats IMS",
       {.if_none_match = "\"old\"", .if_modified_since = kDate},
       200,
       true,
       0,
       1000,
       ""},
      {"Range", {.range = "bytes=10-19"}, 206, true, 10, 10, "bytes 10-19/1000"},
      {"suffix Range", {.range = "bytes=-1"}, 206, true, 999, 1, "bytes 999-999/1000"},
      {"Range past the end", {.range = "bytes=1000-"}, 416, false, 0, 0, "bytes */1000"},
      {"several ranges", {.range = "bytes=0-1,5-6"}, 200, true, 0, 1000, ""},
      {"bad Range", {.range = "bytes=x"}, 200, true, 0, 1000, ""},
      {"HEAD ignores Range", {.method = Method::kHead, .range = "bytes=10-19"}, 200, false, 0, 1000, ""},
      {"If-Range current tag", {.range = "bytes=0-0", .if_range = kTag}, 206, true, 0, 1, "bytes 0-0/1000"},
      {"If-Range current date", {.range = "bytes=0-0", .if_range = kDate}, 206, true, 0, 1, "bytes 0-0/1000"},
      {"If-Range old tag", {.range = "bytes=0-0", .if_range = "\"old\""}, 200, true, 0, 1000, ""},
      {"If-Range weak tag", {.range = "bytes=0-0", .if_range = "W/\"2ebc6da1-3e8\""}, 200, true, 0, 1000, ""},
      {"304 before Range", {.if_none_match = kTag, .range = "bytes=0-0"}, 304, false, 0, 0, ""},
      {"If-Match current", {.if_match = kTag}, 200, true, 0, 1000, ""},
      {"If-Match star", {.if_match = "*"}, 200, true, 0, 1000, ""},
      {"If-Match list", {.if_match = "\"a\", \"2ebc6da1-3e8\""}, 200, true, 0, 1000, ""},
      {"If-Match old", {.if_match = "\"old\""}, 412, false, 0, 0, ""},
      {"If-Match weak", {.if_match = "W/\"2ebc6da1-3e8\""}, 412, false, 0, 0, ""},
      {"If-Match fails before 304", {.if_none_match = kTag, .if_match = "\"old\""}, 412, false, 0, 0, ""},
      {"If-Unmodified-Since same", {.if_unmodified_since = kDate}, 200, true, 0, 1000, ""},
      {"If-Unmodified-Since older",
       {.if_unmodified_since = "Sat, 05 Nov 1994 08:49:37 GMT"},
       412,
       false,
       0,
       0,
       ""},
      {"If-Unmodified-Since unparsable", {.if_unmodified_since = "yesterday"}, 200, true, 0, 1000, ""},
      {"If-Match decides over IUS",
       {.if_match = kTag, .if_unmodified_since = "Sat, 05 Nov 1994 08:49:37 GMT"},
       200,
       true,
       0,
       1000,
       ""},
  };
  for (const Case& c : cases) {
    const FilePlan p = plan_file_response(c.req, kFile);
    EXPECT_EQ(c.status, p.status) << c.name;
    EXPECT_EQ(c.body, p.send_body) << c.name;
    EXPECT_EQ(c.offset, p.offset) << c.name;
    EXPECT_EQ(c.length, p.length) << c.name;
    EXPECT_EQ(c.content_range, p.content_range()) << c.name;
    EXPECT_EQ(c.status == 405, p.allow) << c.name;
    const bool validators = c.status == 200 || c.status == 206 || c.status == 304;
    EXPECT_EQ(validators, p.validators) << c.name;
    if (c.status != 405) {
      EXPECT_EQ(kDate, p.last_modified()) << c.name;
    }
  }
}

TEST(PlanFileResponse, LargeFilesAndEmptyOnes) {
  const FileVersion big{5ull << 30, kMtime, kTag};  // 5 GiB: past 32 bits
  const FilePlan p = plan_file_response({.range = "bytes=4294967296-"}, big);
  EXPECT_EQ(206, p.status);
  EXPECT_EQ(4294967296u, p.offset);
  EXPECT_EQ((5ull << 30) - 4294967296u, p.length);
  EXPECT_EQ("bytes 4294967296-5368709119/5368709120", p.content_range());
  const FileVersion empty{0, kMtime, kTag};
  EXPECT_EQ(200, plan_file_response({}, empty).status);
  EXPECT_EQ(0u, plan_file_response({}, empty).length);
  EXPECT_EQ(416, plan_file_response({.range = "bytes=0-"}, empty).status);
}

}  // namespace
}  // namespace hellepoll::http::static_files
