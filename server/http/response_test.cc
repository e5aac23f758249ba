// Response specification: what a handler may do and what reaches the wire,
// on an OutBuffer with no connection behind it.
#include "server/http/response.h"

#include <gtest/gtest.h>

#include <string>

#include "server/http/write_path.h"

namespace hellepoll::http {
namespace {

class CountingSink : public ResponseSink {
 public:
  void response_ended() override { ++ended; }
  void response_wrote() override { ++wrote; }
  int ended = 0;
  int wrote = 0;
};

class ResponseTest : public ::testing::Test {
 protected:
  ResponseTest() { res.begin(&out, 1, true, false); }
  std::string wire() const { return std::string(out.bytes.view()); }
  // The bytes after the head.
  std::string body() const {
    std::string w = wire();
    size_t end = w.find("\r\n\r\n");
    return end == std::string::npos ? "<no head end>" : w.substr(end + 4);
  }

  OutBuffer out;
  DateCache date;
  CountingSink sink;
  Response res{&sink, &CopyWrite::add_body, &date};
};

TEST_F(ResponseTest, AddHeaderRefusesWhatCouldSplitOrReframeTheResponse) {
  struct Case {
    const char* name;
    std::string value;
    bool ok;
  } cases[] = {
      {"X-Trace", "abc 123", true},
      {"X-Tab", "a\tb", true},
      {"Set-Cookie", "a=b; Path=/", true},
      {"X-Split", "a\r\nSet-Cookie: evil=1", false},
      {"X-LF", "a\nb", false},
      {"X-CR", "a\rb", false},
      {"X-NUL", std::string("a\0b", 3), false},
      {"X-DEL", "a\x7f", false},
      {"Bad Name", "v", false},
      {"Bad:Name", "v", false},
      {"", "v", false},
      {"Content-Length", "5", false},
      {"content-length", "5", false},
      {"Transfer-Encoding", "chunked", false},
      {"Connection", "close", false},
      {"Date", "yesterday", false},
      {"Server", "other", false},
  };
  for (const Case& c : cases) {
    Result<void> r = res.add_header(c.name, c.value);
    EXPECT_EQ(c.ok, r.ok()) << c.name;
    if (!c.ok) {
      EXPECT_EQ(ErrorKind::kInvalidArgument, r.error().kind) << c.name;
    }
  }
  ASSERT_TRUE(res.send(200, "ok").ok());
  EXPECT_NE(std::string::npos, wire().find("X-Trace: abc 123\r\n"));
  EXPECT_EQ(std::string::npos, wire().find("evil"));
  EXPECT_EQ(std::string::npos, wire().find("yesterday"));
}

TEST_F(ResponseTest, SetStatusRefusesInterimAndUnknownRanges) {
  for (int s : {100, 101, 199, 600, 0, -1})
    EXPECT_EQ(ErrorKind::kInvalidArgument, res.set_status(s).error().kind) << s;
  for (int s : {200, 204, 404, 599}) EXPECT_TRUE(res.set_status(s).ok()) << s;
}

// A status without a body: the body the handler gave is dropped (reported),
// and the response is framed with neither Content-Length nor chunking.
TEST_F(ResponseTest, StatusesWithoutABodyNeverCarryOne) {
  struct Case {
    int status;
    const char* how;
  } cases[] = {{204, "send"}, {304, "send"}, {204, "write+end"}, {304, "write+end"}};
  for (const Case& c : cases) {
    out.reset();
    res.retire();
    res.begin(&out, 1, true, false);
    Result<void> r;
    if (std::string(c.how) == "send") {
      r = res.send(c.status, "body");
    } else {
      ASSERT_TRUE(res.set_status(c.status).ok());
      ASSERT_TRUE(res.write("body").ok());
      r = res.end();
    }
    EXPECT_EQ(ErrorKind::kInvalidArgument, r.error().kind) << c.status << " " << c.how;
    EXPECT_TRUE(res.ended()) << c.status;
    EXPECT_EQ("", body()) << c.status << " " << c.how;
    EXPECT_EQ(std::string::npos, wire().find("Content-Length")) << c.status;
    EXPECT_EQ(std::string::npos, wire().find("Transfer-Encoding")) << c.status;
  }
}

TEST_F(ResponseTest, EmptyNoContentIsNotAnError) { EXPECT_TRUE(res.send(204, "").ok()); }

TEST_F(ResponseTest, StreamingIsRefusedForAStatusWithoutABody) {
  ASSERT_TRUE(res.set_status(304).ok());
  EXPECT_EQ(ErrorKind::kInvalidArgument, res.start_chunked().error().kind);
  EXPECT_FALSE(res.streaming());
  EXPECT_TRUE(res.end().ok());
  EXPECT_EQ("", body());
}

TEST_F(ResponseTest, CallsThatDoNotFitTheStateAreRefused) {
  ASSERT_TRUE(res.start_chunked().ok());
  EXPECT_EQ(ErrorKind::kBadState, res.add_header("X-Late", "1").error().kind);
  EXPECT_EQ(ErrorKind::kBadState, res.set_status(404).error().kind);
  EXPECT_EQ(ErrorKind::kBadState, res.start_chunked().error().kind);
  EXPECT_TRUE(res.write("piece").ok());
  EXPECT_TRUE(res.end().ok());
  EXPECT_EQ(ErrorKind::kBadState, res.end().error().kind);
  EXPECT_EQ(ErrorKind::kBadState, res.write("more").error().kind);
  EXPECT_EQ(ErrorKind::kBadState, res.send(200, "again").error().kind);
  EXPECT_EQ("5\r\npiece\r\n0\r\n\r\n", body());
}

// The connection reuses one Response for every request: a handle kept from
// an earlier request must never reach the next one's answer.
TEST_F(ResponseTest, AHandleIsRefusedOnceItsRequestIsOver) {
  Response::Handle h = res.defer();
  EXPECT_TRUE(h.alive());
  EXPECT_TRUE(h.add_header("X-Early", "1").ok());
  EXPECT_TRUE(h.send(200, "first").ok());
  EXPECT_EQ(1, sink.ended);
  res.retire();  // the connection moves on
  EXPECT_FALSE(h.alive());
  res.begin(&out, 1, true, false);  // the next request
  EXPECT_EQ(ErrorKind::kStale, h.send(200, "stale").error().kind);
  EXPECT_EQ(ErrorKind::kStale, h.write("stale").error().kind);
  EXPECT_EQ(ErrorKind::kStale, h.add_header("X-Stale", "1").error().kind);
  ASSERT_TRUE(res.send(200, "second").ok());
  EXPECT_EQ(std::string::npos, wire().find("stale"));
  EXPECT_EQ(std::string::npos, wire().find("X-Stale"));
}

TEST_F(ResponseTest, AFailedResponseTellsItsHandlerAndStalesItsHandle) {
  Response::Handle h = res.defer();
  ErrorKind heard = ErrorKind::kNone;
  res.on_error([&](const Error& e) { heard = e.kind; });
  res.fail(Error{ErrorKind::kReset, 0});
  EXPECT_EQ(ErrorKind::kReset, heard);
  EXPECT_EQ(ErrorKind::kStale, h.end().error().kind);
}

TEST_F(ResponseTest, AContentTypeTheHandlerSetIsTheOnlyOne) {
  ASSERT_TRUE(res.set_content_type("text/html").ok());
  ASSERT_TRUE(res.send(200, "<p>").ok());
  EXPECT_NE(std::string::npos, wire().find("Content-Type: text/html\r\n"));
  EXPECT_EQ(std::string::npos, wire().find("text/plain"));
}

}  // namespace
}  // namespace hellepoll::http
