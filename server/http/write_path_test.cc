// The write paths' file segments over a real socket: memory and files in
// wire order on both policies, resumed after EAGAIN, offsets past 4 GiB,
// and a file that shrinks while it is sent ends in an error, not in a
// short body that would desynchronise keep-alive.
#include "server/http/write_path.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "server/fd.h"
#include "server/testing/loopback.h"

namespace hellepoll::http {
namespace {

// A file with `text` at `offset` (a hole before it, for large offsets).
// In TEST_TMPDIR where Bazel sets it (a disk, where the page cache can be
// dropped; /tmp may be tmpfs).
UniqueFd temp_file(const std::string& text, off_t offset = 0) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(dir ? dir : "/tmp") + "/hellepoll-wp-XXXXXX";
  UniqueFd fd(::mkstemp(tmpl.data()));
  EXPECT_TRUE(fd);
  ::unlink(tmpl.c_str());
  EXPECT_EQ(static_cast<ssize_t>(text.size()), ::pwrite(fd.get(), text.data(), text.size(), offset));
  return fd;
}

// Drops [offset, offset + len) of the file from the page cache (len 0: to
// the end), as memory pressure would.
void evict(int fd, off_t offset = 0, off_t len = 0) {
  ASSERT_EQ(0, ::fdatasync(fd));
  ASSERT_EQ(0, ::posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED));
  EXPECT_FALSE(range_cached(fd, static_cast<uint64_t>(offset), 4096)) << "the page cache kept it";
}

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 % 61);
  return s;
}

// A connected TCP pair over loopback: the writer non-blocking with a small
// send buffer, so that large files block part-way.
struct TcpPair {
  explicit TcpPair(int sndbuf = 16 * 1024) {
    uint16_t port = 0;
    UniqueFd l = testing::listen_loopback(1, &port);
    EXPECT_TRUE(l);
    const sockaddr_in a = testing::loopback(port);
    reader.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(0, ::connect(reader.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a));
    writer.reset(::accept4(l.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    ::setsockopt(writer.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
  UniqueFd writer, reader;
};

struct Sent {
  std::string got;      // what the peer read
  FlushResult last;     // the last flush's result
  int blocked = 0;      // flushes that met a full socket
  int read_aheads = 0;  // flushes that asked for a file's bytes to be read ahead
  int yields = 0;       // flushes that stopped at their turn's share of file bytes
  size_t most = 0;      // the most bytes one flush sent
};

// Flushes `out` to the pair, waiting for room on kBlocked and reading
// ahead on kReadAhead (here, as the connection's pool would), while a
// thread reads `expect_bytes` (or to EOF).
template <class Policy>
Sent send_all(OutBuffer& out, size_t expect_bytes, int sndbuf = 16 * 1024) {
  TcpPair p(sndbuf);
  std::string got;
  std::thread reader([&] {
    char buf[65536];
    while (got.size() < expect_bytes) {
      ssize_t n = ::read(p.reader.get(), buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
  });
  FlushResult r;
  int blocked = 0;
  int read_aheads = 0;
  int yields = 0;
  size_t most = 0;
  for (;;) {
    const size_t before = out.sent;
    r = Policy::flush(p.writer.get(), out, false);
    most = std::max(most, out.sent - before);
    if (r == FlushResult::kBlocked) {
      ++blocked;
      pollfd pf{p.writer.get(), POLLOUT, 0};
      ::poll(&pf, 1, 5000);
    } else if (r == FlushResult::kReadAhead) {
      ++read_aheads;
      FileRef& f = out.files[out.warm_file];
      const uint64_t n = std::min<uint64_t>(256 * 1024, f.offset + f.len - out.warm_at);
      read_ahead(f.fd, out.warm_at, n);
      read_ahead_done(f, out.warm_at + n);  // as the connection does
    } else if (r == FlushResult::kYield) {
      ++yields;
    } else {
      break;
    }
  }
  if (r != FlushResult::kDone) ::shutdown(p.writer.get(), SHUT_WR);
  reader.join();
  return Sent{got, r, blocked, read_aheads, yields, most};
}

// Sends "H" and the whole file (with `text` in it), said to be cached;
// returns the read-aheads it took.
template <class Policy>
int send_cached(int fd, const std::string& text) {
  OutBuffer out;
  out.bytes.append(std::string_view("H"));
  out.add_file(fd, 0, text.size(), nullptr, true);
  const Sent s = send_all<Policy>(out, 1 + text.size());
  EXPECT_EQ(FlushResult::kDone, s.last);
  EXPECT_TRUE(s.got == "H" + text) << "the bytes differ";
  return s.read_aheads;
}

template <class P>
class WritePathFiles : public ::testing::Test {};
using Policies = ::testing::Types<CopyWrite, GatherWrite>;
TYPED_TEST_SUITE(WritePathFiles, Policies);

TYPED_TEST(WritePathFiles, MemoryAndFilesGoOutInWireOrder) {
  const std::string small = pattern(1000, 'a');
  const std::string large = pattern(3 << 20, 'b');  // blocks part-way, resumed
  UniqueFd f1 = temp_file("0123456789" + small);
  UniqueFd f2 = temp_file(large);
  evict(f2.get());
  const std::string body = pattern(4096, 'c');
  OutBuffer out;
  out.bytes.append(std::string_view("HEAD1\r\n"));
  out.add_file(f1.get(), 10, small.size(), nullptr, true);  // from an offset
  out.bytes.append(std::string_view("HEAD2\r\n"));
  TypeParam::add_body(out, body, BodySource::kStatic);  // a ref on writev, a copy on write
  out.bytes.append(std::string_view("HEAD3\r\n"));
  out.add_file(f2.get(), 0, large.size(), nullptr, false);  // read ahead first
  out.bytes.append(std::string_view("TAIL"));
  const std::string want = "HEAD1\r\n" + small + "HEAD2\r\n" + body + "HEAD3\r\n" + large + "TAIL";
  ASSERT_EQ(want.size(), out.total());
  const Sent s = send_all<TypeParam>(out, want.size());
  EXPECT_EQ(FlushResult::kDone, s.last);
  EXPECT_GT(s.blocked, 0) << "3 MiB through a 16 KiB send buffer never blocked: the resume path was not run";
  // The uncached file only, in 256 KiB steps: its first window at least (the
  // kernel's own read-ahead may have brought later windows in by their check).
  EXPECT_GE(s.read_aheads, 4);
  EXPECT_EQ(want.size(), s.got.size());
  EXPECT_TRUE(s.got == want) << "the bytes differ";
  out.sent_all();
  EXPECT_EQ(0u, out.nfiles);
  EXPECT_EQ(0u, out.total());
}

// A cached file larger than a turn's share: no flush sends more than
// kTurnFileBytes of it (kYield), and the bytes still come in order.
TYPED_TEST(WritePathFiles, ALargeCachedFileYieldsEveryTurnsShare) {
  const std::string large = pattern(5 << 20, 'y');
  UniqueFd f = temp_file(large);
  OutBuffer out;
  out.bytes.append(std::string_view("H"));
  out.add_file(f.get(), 0, large.size(), nullptr, true);
  // A send buffer large enough that the socket is not what stops a flush.
  const Sent s = send_all<TypeParam>(out, 1 + large.size(), 16 << 20);
  EXPECT_EQ(FlushResult::kDone, s.last);
  EXPECT_TRUE(s.got == "H" + large);
  EXPECT_EQ(0, s.read_aheads);
  EXPECT_GE(s.yields, 2);
  // The share is checked before each sendfile() of up to a chunk.
  EXPECT_LE(s.most, 1 + kTurnFileBytes + kSendfileChunk) << "a flush sent more than its share";
}

// The caller said "cached", but the pages were dropped since: a large
// file's window is checked before it is sent, and read ahead instead (the
// last kCheckFrom bytes are trusted to the caller's word).
TYPED_TEST(WritePathFiles, ALargeFileEvictedSinceItsLookupIsReadAhead) {
  const std::string large = pattern(6 << 20, 'z');  // over kCheckFrom
  UniqueFd f = temp_file(large);
  evict(f.get());
  // The first window in the test's 256 KiB read-aheads at least; the rest is
  // checked too (whatever the kernel's own read-ahead brought in goes as is).
  EXPECT_GE(send_cached<TypeParam>(f.get(), large), 4) << "sent from the disk on the loop";
}

// One evicted window does not send the rest of the file the slow way: past
// the bytes read ahead, windows found cached go out with sendfile() again.
// (2 MiB evicted, aligned: the page cache holds a file in folios of up to
// 2 MiB, and drops only those wholly inside the range.)
TYPED_TEST(WritePathFiles, OnlyTheEvictedWindowsAreReadAhead) {
  const std::string large = pattern(8 << 20, 'w');
  UniqueFd f = temp_file(large);
  evict(f.get(), 2 << 20, 2 << 20);
  for (uint64_t at = 0; at < large.size(); at += kCheckWindow)
    ASSERT_EQ(at < (2 << 20) || at >= (4 << 20), range_cached(f.get(), at, kCheckWindow)) << at;
  // Its first evicted window in 256 KiB read-aheads; the second too unless
  // the kernel's own read-ahead brought it in; never the cached 4 MiB after.
  const int read_aheads = send_cached<TypeParam>(f.get(), large);
  EXPECT_GE(read_aheads, 4);
  EXPECT_LE(read_aheads, 8);
}

// file_ready()'s rules on one file, without a socket: a window found cached
// is taken for kCheckFreshMs, then asked about again (a reader that stalls
// may find it evicted meanwhile); a window found cold is not asked about
// again until the reads pass it; a file once found evicted loses the
// caller's word for its last kCheckFrom bytes.
TEST(FileReady, ChecksAreFreshForAWhileAndColdWindowsAreNotAskedAgain) {
  const std::string text = pattern(6 << 20, 'r');
  UniqueFd fd = temp_file(text);
  ASSERT_EQ(0, ::fdatasync(fd.get()));
  FileRef f{0, fd.get(), 0, text.size(), 0, 0, 0, /*trusted=*/true};
  EXPECT_EQ(uint64_t{1} << 20, file_ready(f, 0));  // 6 MiB to go: checked, cached
  EXPECT_EQ(uint64_t{1} << 20, f.checked_to);
  EXPECT_EQ(uint64_t{3} << 20, file_ready(f, 3 << 20));  // the last 4 MiB: on the caller's word
  evict(fd.get());
  f.checked_ms = coarse_ms();  // as if checked just now, however long the eviction took
  EXPECT_EQ(uint64_t{1} << 20, file_ready(f, 0)) << "a fresh check is taken as it is";
  f.checked_ms -= kCheckFreshMs;
  EXPECT_EQ(0u, file_ready(f, 0)) << "a stale check was not asked again";
  EXPECT_EQ(uint64_t{1} << 20, f.cold_to);
  EXPECT_FALSE(f.trusted);
  EXPECT_EQ(0u, file_ready(f, 512 << 10)) << "inside the cold window";
  read_ahead(fd.get(), 0, 1 << 20);
  read_ahead_done(f, 1 << 20);
  EXPECT_EQ(uint64_t{512} << 10, file_ready(f, 512 << 10));
  f.checked_ms -= kCheckFreshMs;  // a reader that stalled: its window is asked about, not read again
  EXPECT_EQ(uint64_t{512} << 10, file_ready(f, 512 << 10));
  evict(fd.get(), 4 << 20);  // whatever the kernel's own read-ahead brought in
  EXPECT_EQ(0u, file_ready(f, 5 << 20)) << "the last bytes were taken on the caller's word";
}

TYPED_TEST(WritePathFiles, OffsetsPastFourGiB) {
  const off_t far = (off_t{5} << 30) - 4096;  // a sparse file of 5 GiB
  const std::string tail = pattern(4096, 'd');
  UniqueFd f = temp_file(tail, far);
  OutBuffer out;
  out.bytes.append(std::string_view("H"));
  out.add_file(f.get(), static_cast<uint64_t>(far), tail.size(), nullptr, true);
  const Sent s = send_all<TypeParam>(out, 1 + tail.size());
  EXPECT_EQ(FlushResult::kDone, s.last);
  EXPECT_TRUE(s.got == "H" + tail);
}

TYPED_TEST(WritePathFiles, AFileThatShrankIsAnError) {
  const std::string text = pattern(100000, 'e');
  UniqueFd f = temp_file(text);
  OutBuffer out;
  out.bytes.append(std::string_view("H"));
  out.add_file(f.get(), 0, text.size(), nullptr, true);
  ASSERT_EQ(0, ::ftruncate(f.get(), 50000));  // after the length was promised
  const Sent s = send_all<TypeParam>(out, 1 + text.size());
  EXPECT_EQ(FlushResult::kError, s.last);
  EXPECT_EQ(1u + 50000, s.got.size());  // what the file still had, then the end
}

TEST(OutBufferFiles, HoldsLiveUntilSentAndCountTowardsFull) {
  OutBuffer out;
  auto hold = std::make_shared<int>(7);
  for (uint32_t i = 0; i < OutBuffer::kMaxFiles; ++i) {
    EXPECT_FALSE(out.full(1 << 20)) << i;
    out.bytes.append(std::string_view("h"));
    out.add_file(0, 0, 1, hold, true);
  }
  EXPECT_TRUE(out.full(1 << 20));
  EXPECT_EQ(1 + OutBuffer::kMaxFiles, static_cast<uint32_t>(hold.use_count()));
  OutBuffer to;
  out.hand_over(to);
  EXPECT_EQ(0u, out.nfiles);
  EXPECT_EQ(OutBuffer::kMaxFiles, to.nfiles);
  EXPECT_EQ(2 * OutBuffer::kMaxFiles, to.total());
  to.sent_all();
  EXPECT_EQ(1, hold.use_count());
}

}  // namespace
}  // namespace hellepoll::http
