// Table tests for the static-file rules that need no file system: path
// rules, MIME lookup, validators and preconditions, byte ranges.
#include <gtest/gtest.h>

#include <string>

#include "server/http/static/conditional.h"
#include "server/http/static/mime.h"
#include "server/http/static/path.h"
#include "server/http/static/range.h"

namespace hellepoll::http::static_files {
namespace {

struct PathCase {
  std::string_view in;
  int status;
  std::string_view relative;
  bool directory;
};

TEST(SafePath, Table) {
  const PathCase cases[] = {
      {"", 0, "", true},
      {"/", 0, "", true},
      {"index.html", 0, "index.html", false},
      {"a/b.css", 0, "a/b.css", false},
      {"a//b/./c", 0, "a/b/c", false},
      {"a/b/", 0, "a/b", true},
      {"sp%20ace.txt", 0, "sp ace.txt", false},
      {"caf%C3%A9", 0, "caf\xC3\xA9", false},
      {"a%2Fb", 0, "a/b", false},  // decoded once, then split
      {"%2541", 0, "%41", false},  // once: "%25" is '%', not decoded again
      {"..", 400, "", false},
      {"../etc/passwd", 400, "", false},
      {"a/../b", 400, "", false},  // even one that stays inside
      {"a/..", 400, "", false},
      {"%2e%2e/x", 400, "", false},
      {"%2E%2E", 400, "", false},
      {".%2e/x", 400, "", false},
      {"a/%2e%2e%2fb", 400, "", false},
      {"a%00b", 400, "", false},
      {std::string_view("a\0b", 3), 400, "", false},
      {"a\\..\\b", 400, "", false},
      {"a%5cb", 400, "", false},
      {"%", 400, "", false},
      {"%4", 400, "", false},
      {"ab%zz", 400, "", false},
      {".env", 404, "", false},
      {"a/.git/config", 404, "", false},
      {"%2egit", 404, "", false},
      {"...", 404, "", false},  // a dot-name, not a climb
  };
  for (const PathCase& c : cases) {
    const SafePath p = safe_path(c.in, /*allow_dotfiles=*/false);
    EXPECT_EQ(c.status, p.status) << "'" << c.in << "'";
    EXPECT_EQ(c.relative, p.relative) << "'" << c.in << "'";
    if (c.status == 0) {
      EXPECT_EQ(c.directory, p.directory) << "'" << c.in << "'";
    }
  }
}

TEST(SafePath, DotfilesWhenAllowed) {
  EXPECT_EQ(0, safe_path(".well-known/x", true).status);
  EXPECT_EQ(".well-known/x", safe_path(".well-known/x", true).relative);
  EXPECT_EQ(400, safe_path("../x", true).status);  // still no climbing
  EXPECT_EQ(400, safe_path("%2e%2e", true).status);
}

TEST(MimeTypes, FromTheTable) {
  const MimeTypes m = MimeTypes::from_text(
      "# comment\n"
      "text/html\t\t\thtml htm\n"
      "text/css css\r\n"
      "application/x-empty\n"
      "image/png png # trailing comment\n"
      "text/x-other html\n");  // a later line does not take html
  EXPECT_EQ("text/html", m.type_of("index.html"));
  EXPECT_EQ("text/html", m.type_of("a/b/PAGE.HTM"));
  EXPECT_EQ("text/css", m.type_of("s.css"));
  EXPECT_EQ("image/png", m.type_of("i.png"));
  EXPECT_EQ(MimeTypes::kDefault, m.type_of("noext"));
  EXPECT_EQ(MimeTypes::kDefault, m.type_of(".png"));  // a dotfile named .png has no extension
  EXPECT_EQ(MimeTypes::kDefault, m.type_of("trailing."));
  EXPECT_EQ(MimeTypes::kDefault, m.type_of("dir.html/file"));
  EXPECT_EQ(MimeTypes::kDefault, m.type_of("x.unknown"));
  EXPECT_EQ(MimeTypes::kDefault, m.type_of(std::string("x.") + std::string(40, 'a')));
}

TEST(MimeTypes, TheSystemTable) {
  const MimeTypes m;  // /etc/mime.types: CI installs media-types
  ASSERT_EQ("", m.error());
  EXPECT_GT(m.size(), 500u);
  EXPECT_EQ("text/html", m.type_of("index.html"));
  EXPECT_EQ("text/css", m.type_of("site.css"));
  EXPECT_EQ("image/png", m.type_of("logo.png"));
  EXPECT_EQ("application/json", m.type_of("data.json"));
}

TEST(MimeTypes, AMissingTableSaysWhy) {
  const MimeTypes m("/nonexistent/mime.types");
  EXPECT_NE(std::string::npos, m.error().find("media-types")) << m.error();
  EXPECT_EQ(MimeTypes::kDefault, m.type_of("a.html"));
}

TEST(Etag, NginxForm) {
  char buf[kEtagMax];
  EXPECT_EQ("\"5e0b6b2a-400\"", std::string_view(buf, format_etag(0x5e0b6b2a, 1024, buf)));
  EXPECT_EQ("\"0-0\"", std::string_view(buf, format_etag(0, 0, buf)));
  EXPECT_EQ("\"ffffffffffffffff-ffffffffffffffff\"",
            std::string_view(buf, format_etag(static_cast<time_t>(-1), UINT64_MAX, buf)));
}

TEST(HttpDate, ThreeForms) {
  constexpr time_t k1994 = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(k1994, parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"));
  EXPECT_EQ(k1994, parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT "));
  EXPECT_EQ(k1994, parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));
  EXPECT_EQ(k1994, parse_http_date("Sun Nov  6 08:49:37 1994"));
  EXPECT_EQ(1796256000, parse_http_date("Thu, 03 Dec 2026 00:00:00 GMT"));
  const char* bad[] = {"",
                       "yesterday",
                       "Sun, 06 Nov 1994 08:49:37 UTC",
                       "Sun, 06 Xyz 1994 08:49:37 GMT",
                       "Sun, 6 Nov 1994 08:49:37 GMT",
                       "Sun, 06 Nov 1994 25:49:37 GMT",
                       "Sun, 00 Nov 1994 08:49:37 GMT",
                       "Sunday, 06-Nov-1994 08:49:37 GMT",
                       "Sun Nov 6 08:49:37 1994"};
  for (const char* s : bad) EXPECT_FALSE(parse_http_date(s).has_value()) << s;
}

TEST(Preconditions, Table) {
  const std::string_view tag = "\"5e0b6b2a-400\"";
  const time_t mtime = 784111777;
  struct Case {
    std::string_view inm, ims;
    bool not_modified;
  } cases[] = {
      {"", "", false},
      {tag, "", true},
      {"W/\"5e0b6b2a-400\"", "", true},  // weak comparison
      {"\"x\", \"5e0b6b2a-400\"", "", true},
      {"\"x\",\"y\"", "", false},
      {"*", "", true},
      {"", "Sun, 06 Nov 1994 08:49:37 GMT", true},
      {"", "Sun, 06 Nov 1994 08:49:38 GMT", true},
      {"", "Sun, 06 Nov 1994 08:49:36 GMT", false},  // modified since
      {"", "garbage", false},
      {"\"x\"", "Sun, 06 Nov 1994 08:49:37 GMT", false},  // If-None-Match decides
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.not_modified, not_modified(c.inm, c.ims, tag, mtime))
        << "'" << c.inm << "' '" << c.ims << "'";
  }
}

TEST(Preconditions, IfRange) {
  const std::string_view tag = "\"5e0b6b2a-400\"";
  const time_t mtime = 784111777;
  EXPECT_TRUE(if_range_holds(tag, tag, mtime));
  EXPECT_FALSE(if_range_holds("\"other\"", tag, mtime));
  EXPECT_FALSE(if_range_holds("W/\"5e0b6b2a-400\"", tag, mtime));  // strong only
  EXPECT_TRUE(if_range_holds("Sun, 06 Nov 1994 08:49:37 GMT", tag, mtime));
  EXPECT_FALSE(if_range_holds("Sun, 06 Nov 1994 08:49:38 GMT", tag, mtime));  // exact date only
  EXPECT_FALSE(if_range_holds("nonsense", tag, mtime));
}

TEST(Range, Table) {
  struct Case {
    std::string_view header;
    uint64_t size;
    RangeAnswer answer;
    uint64_t first, last;
  } cases[] = {
      {"bytes=0-99", 1000, RangeAnswer::kPartial, 0, 99},
      {"bytes=100-", 1000, RangeAnswer::kPartial, 100, 999},
      {"bytes=-100", 1000, RangeAnswer::kPartial, 900, 999},
      {"bytes=-5000", 1000, RangeAnswer::kPartial, 0, 999},
      {"bytes=500-5000", 1000, RangeAnswer::kPartial, 500, 999},
      {"bytes=999-999", 1000, RangeAnswer::kPartial, 999, 999},
      {" bytes=0-0 ", 1000, RangeAnswer::kPartial, 0, 0},
      {"bytes=0-0,", 1000, RangeAnswer::kPartial, 0, 0},
      {"bytes=1000-", 1000, RangeAnswer::kUnsatisfiable, 0, 0},
      {"bytes=-0", 1000, RangeAnswer::kUnsatisfiable, 0, 0},
      {"bytes=0-", 0, RangeAnswer::kUnsatisfiable, 0, 0},
      {"bytes=2000-3000, 4000-", 1000, RangeAnswer::kUnsatisfiable, 0, 0},
      {"bytes=0-1,5-9", 1000, RangeAnswer::kWhole, 0, 0},    // several: the whole file
      {"bytes=0-1,2000-", 1000, RangeAnswer::kWhole, 0, 0},  // one satisfiable of two
      {"bytes=9-1", 1000, RangeAnswer::kWhole, 0, 0},        // invalid: ignored
      {"bytes=a-b", 1000, RangeAnswer::kWhole, 0, 0},
      {"bytes=-", 1000, RangeAnswer::kWhole, 0, 0},
      {"bytes=+1-2", 1000, RangeAnswer::kWhole, 0, 0},
      {"bytes=", 1000, RangeAnswer::kWhole, 0, 0},
      {"items=0-1", 1000, RangeAnswer::kWhole, 0, 0},
      {"bytes=99999999999999999999-", 1000, RangeAnswer::kWhole, 0, 0},   // overflow
      {"bytes=0-18446744073709551615", 1000, RangeAnswer::kWhole, 0, 0},  // 20 digits
  };
  for (const Case& c : cases) {
    ByteRange r;
    EXPECT_EQ(c.answer, parse_range(c.header, c.size, &r)) << "'" << c.header << "'";
    if (c.answer == RangeAnswer::kPartial) {
      EXPECT_EQ(c.first, r.first) << c.header;
      EXPECT_EQ(c.last, r.last) << c.header;
    }
  }
  std::string many = "bytes=";
  for (int i = 0; i < 1000; ++i) many += "0-0,";
  ByteRange r;
  EXPECT_EQ(RangeAnswer::kWhole, parse_range(many, 1000, &r));
}

}  // namespace
}  // namespace hellepoll::http::static_files
