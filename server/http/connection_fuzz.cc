// libFuzzer target for the whole connection state machine: a real
// HttpServer<Io> on a Scheduler, a real loopback TCP client, the input
// written in chunks, the loop turned until the server is quiet.
//
// Input: byte 0 picks the Io policy (bits 0-1: lt/et x write/writev) and
// small limits (bit 2); byte 1 the chunk size (1..256); byte 2 what the
// client does at the end (bit 0: half-close and read to EOF, else close at
// once; bit 1: read nothing until the end, like a client that never reads).
// The rest is the bytes the client sends.
//
// Every path has a route, for every method (so the router's own 404 and 405,
// which router_test covers, never answer here), and every route answers in
// its own way: a static body, send(), write()s then end(), a chunked stream, a
// deferred answer completed on later loop turns (whole, or streamed a piece
// a turn), 204 and 304 (offered a body that must not go out), a throwing
// handler and one that forgets to answer. A handler's body is a function of
// the request's path and of its ordinal (the how-many-th handler call of
// the input), and each handler records what it meant to send and tags its
// answer with "X-Ordinal". Under /files/ the StaticFiles handler serves a
// small tree made at start (a small file, one sent from the file, one
// dropped from the page cache before each input, an index, a dotfile);
// a plain GET or HEAD of a file must answer 200, the directory without its
// '/' 301, and a 200 or 206 must carry the file's exact bytes (the range
// Content-Range names); see file_answer_ok().
//
// Checked for every input: no crash or sanitizer report (in debug builds
// the scheduler also aborts an edge-triggered task that stops short of
// EAGAIN); every answer the server sent is framed right (by the response
// parser of server/http/client, told which answers are to HEAD requests) and
// is, in order, exactly the status and body its handler meant, with no body
// after a HEAD, 204 or 304;
// every handler's answer arrives, and only the server's own error reply,
// which ends the connection, carries no ordinal; after the client is gone
// the server holds no connection and no more buffers than a pool's worth
// (nothing leaks across inputs).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/http/client/response_parser.h"
#include "server/http/server.h"
#include "server/http/static/path.h"
#include "server/http/static/static_files.h"
#include "server/listener.h"
#include "server/testing/fuzz_check.h"

namespace {

using namespace hellepoll;
using namespace hellepoll::http;

// What one handler call meant to send.
struct Expected {
  uint32_t ordinal;
  int status;
  bool head;         // a HEAD request: no body on the wire
  std::string body;  // what the handler gave (not sent for HEAD, 204, 304)
  // The framework's own answer (a handler threw): what the handler had
  // added, its X-Ordinal too, is discarded with it.
  bool untagged = false;
  // A /files/ answer: a 200 or 206 carries (part of) this file's bytes,
  // when the path names a file of the tree; what else it may be, see
  // file_answer_ok().
  bool file = false;
  const std::string *file_bytes = nullptr;
  bool plain = false;     // GET or HEAD without Range or a condition: 200 is the only answer
  bool redirect = false;  // the path names the directory without its '/': 301
};

// The input being run: what its handlers meant, in call order, and the
// deferred answers still to complete.
struct Run {
  Scheduler *sched = nullptr;
  std::vector<Expected> expected;
  int pending = 0;
};
Run *run_now = nullptr;

// FNV-1a: a handler's choices follow from the path alone.
uint32_t hash(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

// The body for the request with this path and ordinal: 0..700 bytes (past
// GatherWrite::kGatherFrom, so the writev path gathers some), different for
// every ordinal, so an answer swapped, repeated or cut shows.
std::string body_for(std::string_view path, uint32_t ordinal) {
  const size_t len = (hash(path) ^ (ordinal * 2654435761u)) % 701;
  const std::string unit = std::to_string(ordinal) + ":" + std::string(path.substr(0, 40)) + ";";
  std::string b;
  while (b.size() < len) b += unit;
  b.resize(len);
  return b;
}

// `body` cut into `n` pieces (some maybe empty).
std::vector<std::string> pieces(const std::string &body, size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(body.substr(body.size() * i / n, body.size() * (i + 1) / n - body.size() * i / n));
  return out;
}

// Records what the handler for `req` is about to send and tags the answer
// with its ordinal.
void expect(Request &req, Response &res, int status, std::string body) {
  const auto ordinal = static_cast<uint32_t>(run_now->expected.size());
  res.add_header("X-Ordinal", std::to_string(ordinal));
  run_now->expected.push_back({ordinal, status, req.method() == Method::kHead, std::move(body)});
}

uint32_t next_ordinal() { return static_cast<uint32_t>(run_now->expected.size()); }

// The tree /files/ serves, written once per process (removed at exit).
struct FileTree {
  FileTree() {
    const char *dir = std::getenv("TEST_TMPDIR");  // a disk, where Bazel sets it
    std::string tmpl = std::string(dir ? dir : "/tmp") + "/hellepoll-fuzz-www-XXXXXX";
    FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    root = tmpl;
    for (size_t i = 0; i < 50000; ++i) big.push_back(static_cast<char>('a' + (i * 7) % 26));
    for (size_t i = 0; i < 100000; ++i) cold.push_back(static_cast<char>('A' + (i * 11) % 26));
    FUZZ_CHECK(::mkdir((root + "/docs").c_str(), 0755) == 0);
    write("a.txt", "a small file\n");
    write("big.bin", big);  // over StaticOptions::small_file: sent from the file
    write("cold.bin", cold);
    write("docs/index.html", "<p>docs</p>\n");
    write(".hidden", "x");
  }
  // Drops cold.bin from the page cache, before each input: its answers
  // then take the paths of a file on the disk (a read ahead on the pool
  // before sendfile()). On a disk, not tmpfs, whose pages stay.
  void chill() const {
    UniqueFd f(::open((root + "/cold.bin").c_str(), O_RDONLY | O_CLOEXEC));
    FUZZ_CHECK(f);
    ::posix_fadvise(f.get(), 0, 0, POSIX_FADV_DONTNEED);
  }
  void write(const std::string &name, const std::string &text) {
    FILE *f = std::fopen((root + "/" + name).c_str(), "wb");
    FUZZ_CHECK(f != nullptr);
    FUZZ_CHECK(std::fwrite(text.data(), 1, text.size(), f) == text.size());
    std::fclose(f);
  }
  // The bytes a path under /files/ names, if it names one of the files
  // (after the path rules, which rules_test checks on their own: decoding,
  // "." and empty segments). Spelled out here, apart from what was written.
  const std::string *bytes_of(std::string_view sub) const {
    static const std::string small = "a small file\n", index = "<p>docs</p>\n";
    const static_files::SafePath p = static_files::safe_path(sub, /*allow_dotfiles=*/false);
    if (p.status != 0) return nullptr;
    if (p.relative == "a.txt" && !p.directory) return &small;
    if (p.relative == "big.bin" && !p.directory) return &big;
    if (p.relative == "cold.bin" && !p.directory) return &cold;
    if ((p.relative == "docs" && p.directory) || (p.relative == "docs/index.html" && !p.directory))
      return &index;
    return nullptr;
  }
  // Whether the path names the index's directory without its final '/'.
  static bool names_docs_dir(std::string_view sub) {
    const static_files::SafePath p = static_files::safe_path(sub, /*allow_dotfiles=*/false);
    return p.status == 0 && p.relative == "docs" && !p.directory;
  }
  std::string root;
  std::string big, cold;
};

const FileTree &file_tree() {
  static const FileTree *t = new FileTree;  // lives as long as the servers that read it
  static const struct Remove {
    ~Remove() { std::filesystem::remove_all(file_tree().root); }
  } remove;
  return *t;
}

// A deferred answer, completed one step per loop turn.
struct Deferred {
  Response::Handle handle;
  std::vector<std::string> pieces;
  size_t done = 0;
  int mode = 0;  // 0: send(); 1: write()s, end(); 2, 3: streamed
};

void step(const std::shared_ptr<Deferred> &d) {
  const Response::Handle &res = d->handle;
  if (!res.alive()) {  // the connection went away: nothing is owed
    --run_now->pending;
    return;
  }
  std::string body;
  for (const std::string &p : d->pieces) body += p;
  switch (d->mode) {
    case 0:
      (void)res.send(200, body);
      break;
    case 1:
      for (const std::string &p : d->pieces) (void)res.write(p);
      (void)res.end();
      break;
    default:  // a piece a turn; mode 2 starts the stream here, 3 in the handler
      if (d->done == 0 && d->mode == 2) (void)res.start_chunked();
      if (d->done < d->pieces.size()) {
        (void)res.write(d->pieces[d->done++]);
        run_now->sched->add_callback([d] { step(d); });
        return;
      }
      (void)res.end();
  }
  --run_now->pending;
}

Router &router() {
  static Router *r = [] {
    auto *r = new Router;
    const MethodSet any = MethodSet::any();
    r->exact("/", any, [](Request &req, Response &res) {
      expect(req, res, 200, "Hello World");
      res.send_static(200, "Hello World", "text/plain");
    });
    r->exact("/echo", any, [](Request &req, Response &res) {
      expect(req, res, 200, std::string(req.body()));
      res.send(200, req.body());
    });
    // Buffered: write()s, then end().
    r->stem("/b", any, [](Request &req, Response &res) {
      const std::string body = body_for(req.path(), next_ordinal());
      expect(req, res, 200, body);
      for (const std::string &p : pieces(body, 1 + hash(req.path()) % 4)) res.write(p);
      res.end();
    });
    // send() of memory that dies with the call.
    r->stem("/s", any, [](Request &req, Response &res) {
      std::string body = body_for(req.path(), next_ordinal());
      expect(req, res, 200, body);
      res.send(200, body);
      body.assign(body.size(), '!');
    });
    // send_static(): short (copied) and long (gathered by writev).
    r->stem("/static", any, [](Request &req, Response &res) {
      static const std::string kBodies[] = {"tiny", std::string(300, 's'), std::string(4000, 'S')};
      const std::string &body = kBodies[hash(req.path()) % 3];
      expect(req, res, 200, body);
      res.send_static(200, body);
    });
    // Streamed: maybe a write() first (it goes out first), start_chunked(),
    // write()s, end().
    r->stem("/stream", any, [](Request &req, Response &res) {
      const uint32_t h = hash(req.path());
      const std::string body = body_for(req.path(), next_ordinal());
      expect(req, res, 200, body);
      std::vector<std::string> ps = pieces(body, 2 + h % 4);
      if (h & 64) res.write(ps[0]);
      res.start_chunked();
      for (size_t i = (h & 64) ? 1 : 0; i < ps.size(); ++i) res.write(ps[i]);
      res.end();
    });
    // Deferred: answered on later loop turns.
    r->stem("/defer", any, [](Request &req, Response &res) {
      const uint32_t h = hash(req.path());
      auto d = std::make_shared<Deferred>();
      const std::string body = body_for(req.path(), next_ordinal());
      expect(req, res, 200, body);
      d->pieces = pieces(body, 1 + h % 4);
      d->mode = static_cast<int>(h / 4 % 4);
      d->handle = res.defer();
      if (d->mode == 3) res.start_chunked();
      ++run_now->pending;
      run_now->sched->add_callback([d] { step(d); });
    });
    // 204 and 304 have no body, whatever the handler offers.
    for (int status : {204, 304}) {
      r->stem("/" + std::to_string(status), any, [status](Request &req, Response &res) {
        const uint32_t h = hash(req.path());
        const std::string body = h & 1 ? body_for(req.path(), next_ordinal()) : "";
        expect(req, res, status, body);
        if (status == 304) res.add_header("ETag", "\"v1\"");
        if (h & 2) {
          res.send(status, body);
        } else {
          res.set_status(status);
          res.write(body);
          res.end();
        }
      });
    }
    r->exact("/throw", any, [](Request &req, Response &res) -> void {
      expect(req, res, 500, "Internal Server Error\n");
      run_now->expected.back().untagged = true;
      throw 1;
    });
    r->exact("/forget", any, [](Request &req, Response &res) {
      expect(req, res, 500, "handler returned without a response\n");
    });
    // Files: the StaticFiles handler over the tree; the answer is checked
    // against the file's bytes (check_responses()).
    r->stem("/files/", any, [](Request &req, Response &res) {
      static const static_files::StaticFiles *files = new static_files::StaticFiles(file_tree().root);
      expect(req, res, 0, "");
      Expected &e = run_now->expected.back();
      e.file = true;
      e.file_bytes = file_tree().bytes_of(req.subpath());
      e.redirect = FileTree::names_docs_dir(req.subpath());
      e.plain = req.method() == Method::kGet || req.method() == Method::kHead;
      for (size_t i = 0; i < req.header_count(); ++i) {
        const std::string_view n = req.header_name(i);
        if (n.size() >= 3 && (strncasecmp(n.data(), "if-", 3) == 0 ||
                              (n.size() == 5 && strncasecmp(n.data(), "range", 5) == 0)))
          e.plain = false;
      }
      (*files)(req, res);
    });
    // Every other path and target ("*", "x"): 404 from a handler, so that
    // every answer but an error reply has an ordinal.
    r->stem("", any, [](Request &req, Response &res) {
      expect(req, res, 404, "Not Found\n");
      res.send_static(404, "Not Found\n");
    });
    return r;
  }();
  return *r;
}

// The payload of a chunked body the response parser accepted (our server sends
// no chunk extensions and no trailers).
std::string dechunk(std::string_view s) {
  std::string out;
  size_t i = 0;
  for (;;) {
    size_t n = 0;
    const size_t eol = s.find("\r\n", i);
    FUZZ_CHECK(eol != std::string_view::npos);
    std::from_chars(s.data() + i, s.data() + eol, n, 16);
    i = eol + 2;
    if (n == 0) return out;
    out.append(s.substr(i, n));
    i += n + 2;
  }
}

// The value of "X-Ordinal" in a response head, or -1.
long ordinal_of(std::string_view head) {
  constexpr std::string_view kName = "\r\nX-Ordinal: ";
  const size_t at = head.find(kName);
  if (at == std::string_view::npos) return -1;
  long v = -1;
  const char *p = head.data() + at + kName.size();
  std::from_chars(p, head.data() + head.size(), v);
  return v;
}

// The value of header `name` ("\r\nName: ") in a response head, or "".
std::string_view header_of(std::string_view head, std::string_view name) {
  const size_t at = head.find(name);
  if (at == std::string_view::npos) return {};
  const size_t from = at + name.size();
  return head.substr(from, head.find("\r\n", from) - from);
}

// Whether a /files/ answer holds what it must:
// - the index's directory without its '/': 301 to the same path with it,
//   whatever the method (a directory is found before the method is asked);
// - a file of the tree asked for plainly (GET or HEAD, no Range, no
//   condition): 200;
// - a 405 names GET and HEAD in Allow;
// - a 200 or 206 comes only for a file of the tree, with its length (HEAD
//   too) and its bytes, or the range Content-Range names;
// - any other status, from a request that is not plain, as its rules give.
bool file_answer_ok(std::string_view head, int status, const std::string &body, const Expected &e) {
  if (e.redirect) {
    const std::string_view location = header_of(head, "\r\nLocation: ");
    const std::string_view path = location.substr(0, location.find('?'));
    return status == 301 && path.size() > 1 && path[0] == '/' && path[1] != '/' && path.back() == '/';
  }
  if (e.file_bytes && e.plain && status != 200) return false;
  if (status == 405) return header_of(head, "\r\nAllow: ") == "GET, HEAD";
  if (status != 200 && status != 206) return true;
  if (e.file_bytes == nullptr) return false;  // a path that names no file answered with a body
  if (status == 200 && header_of(head, "\r\nContent-Length: ") != std::to_string(e.file_bytes->size()))
    return false;
  if (e.head) return body.empty();
  if (status == 200) return body == *e.file_bytes;
  const std::string_view range = header_of(head, "\r\nContent-Range: bytes ");
  if (range.empty()) return false;
  uint64_t first = 0, last = 0;
  const char *p = range.data();
  const char *end = range.data() + range.size();
  p = std::from_chars(p, end, first).ptr;
  if (p == end || *p != '-') return false;
  std::from_chars(p + 1, end, last);
  return last >= first && last < e.file_bytes->size() &&
         body == e.file_bytes->substr(first, last - first + 1);
}

[[noreturn]] void mismatch(const std::string &got, size_t off, const char *what, const Expected *e) {
  std::fprintf(stderr, "response at byte %zu: %s", off, what);
  if (e)
    std::fprintf(stderr, " (ordinal %u: meant status %d%s, %zu-byte body)", e->ordinal, e->status,
                 e->head ? " to HEAD" : "", e->body.size());
  const size_t from = off > 200 ? off - 200 : 0;
  std::fprintf(stderr, "\n--- from byte %zu:\n%.*s\n---\n", from,
               static_cast<int>(std::min<size_t>(got.size() - from, 1200)), got.data() + from);
  std::abort();
}

// The client's end: non-blocking, everything it receives kept in `got`.
struct Client {
  UniqueFd fd;
  std::string got;
  bool eof = false;

  void drain() {
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) eof = true;
      if (n == 0 || errno != EINTR) return;
    }
  }
};

template <class Io>
class Harness {
 public:
  explicit Harness(bool small_limits) : server_(sched_, router(), config(small_limits)) {
    ListenOptions lo;
    lo.host = "127.0.0.1";
    lo.defer_accept = false;  // accept at connect, so an empty request is served too
    std::string err;
    UniqueFd sock = bind_listen_socket(lo, &err);
    FUZZ_CHECK(sock);
    server_.listen(std::move(sock));
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(server_.port());
    addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }

  void run(const uint8_t *data, size_t size, size_t chunk, bool half_close, bool never_read) {
    run_ = Run{&sched_, {}, 0};
    run_now = &run_;
    file_tree().chill();
    Client c;
    c.fd = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    FUZZ_CHECK(c.fd);
    FUZZ_CHECK(::connect(c.fd.get(), reinterpret_cast<const sockaddr *>(&addr_), sizeof addr_) == 0);
    ::fcntl(c.fd.get(), F_SETFL, O_NONBLOCK);
    // Each chunk leaves at once: with Nagle a chunk waits for the server's
    // delayed ACK (40 ms), and the loop would go quiet while the server
    // still has input to come.
    const int one = 1;
    ::setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const uint64_t accepted = server_.stats().accepted;
    for (int i = 0; i < 100 && server_.stats().accepted == accepted; ++i) turn();
    FUZZ_CHECK(server_.stats().accepted == accepted + 1);

    size_t off = 0;
    int stalled = 0;
    while (off < size && !c.eof) {
      const size_t n = std::min(chunk, size - off);
      ssize_t w = ::send(c.fd.get(), data + off, n, MSG_NOSIGNAL);
      if (w > 0) {
        off += static_cast<size_t>(w);
        stalled = 0;
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        break;  // the server closed on us (after an error reply)
      } else if (++stalled > 1000) {
        break;  // the server stopped reading (back-pressure): fine, stop here
      }
      turn();
      turn();
      if (!never_read || stalled > 0) c.drain();
    }
    quiesce(c);
    if (half_close && !c.eof) {
      ::shutdown(c.fd.get(), SHUT_WR);
      for (int i = 0; i < 200 && !c.eof; ++i) {
        turn();
        c.drain();
      }
      FUZZ_CHECK(c.eof || server_.stats().active == 1);  // only a deferred answer may keep it
    }
    c.drain();
    const size_t answered = check_responses(c.got, c.eof);
    if (answered != run_.expected.size()) {
      std::fprintf(stderr,
                   "%zu handler answers of %zu arrived; the first missing was "
                   "meant as status %d, %zu-byte body\n",
                   answered, run_.expected.size(), run_.expected[answered].status,
                   run_.expected[answered].body.size());
      std::abort();
    }
    c.fd.reset();  // unread input: RST, which the server must also survive
    for (int i = 0; i < 200 && (server_.stats().active != 0 || run_.pending != 0 || pool_busy()); ++i) {
      if (pool_busy()) {
        FUZZ_CHECK(sched_.run_once(std::chrono::milliseconds(1)));
      } else {
        turn();
      }
    }
    FUZZ_CHECK(server_.stats().active == 0);       // no connection leaked
    FUZZ_CHECK(run_.pending == 0);                 // every deferred answer ended
    FUZZ_CHECK(server_.buffers_allocated() <= 4);  // nor buffers (each pool reuses)
  }

 private:
  static ServerConfig config(bool small) {
    ServerConfig c;
    if (small) {
      c.limits.max_request_line = 64;
      c.limits.max_head_bytes = 256;
      c.limits.max_headers = 4;
      c.limits.max_body = 1000;
      c.output_high_water = 512;  // reach back-pressure with short inputs
    }
    return c;
  }

  void turn() { FUZZ_CHECK(sched_.run_once(Duration::zero())); }
  bool pool_busy() { return server_.locals().pool().in_flight() != 0; }

  // Turns the loop until the client hears nothing new for a few turns and
  // no deferred answer is still being completed.
  void quiesce(Client &c) {
    size_t seen = c.got.size();
    for (int quiet = 0, i = 0; (quiet < 10 || run_.pending != 0 || pool_busy()) && i < 2000; ++i) {
      if (pool_busy()) {
        FUZZ_CHECK(sched_.run_once(std::chrono::milliseconds(1)));  // a file lookup on the pool
      } else {
        turn();
      }
      c.drain();
      quiet = c.got.size() == seen ? quiet + 1 : 0;
      seen = c.got.size();
    }
  }

  // Checks every response in `got` against what the handlers meant, in
  // order (see the top of this file); returns how many handler answers it
  // found. `eof`: the server closed, so a body it delimits by closing is
  // whole, and a response cut short is malformed.
  static size_t check_responses(const std::string &got, bool eof) {
    const std::vector<Expected> &want = run_now->expected;
    client::ResponseParser p;
    size_t off = 0, next = 0;
    while (off < got.size()) {
      const std::string_view rest(got.data() + off, got.size() - off);
      // Answers come in request order, so this is the answer to handler
      // call `next` (its X-Ordinal says so too), unless it is an interim
      // 100 or, after every handler's answer, the server's own error reply.
      // Which call it answers decides its framing: HEAD's has no body.
      const bool interim = rest.size() > 9 && rest[9] == '1';  // "HTTP/1.1 1"
      const Expected *e = !interim && next < want.size() ? &want[next] : nullptr;
      p.reset(e && e->head);
      auto r = p.feed(rest.data(), rest.size());
      size_t used = r.consumed;
      if (r.status == client::ResponseParser::Status::kNeedMore && eof) {
        r = p.finish();
        used += r.consumed;
      }
      if (r.status == client::ResponseParser::Status::kNeedMore)
        break;  // the rest is still on its way; the count says what is missing
      if (r.status == client::ResponseParser::Status::kError)
        mismatch(got, off, ("malformed: " + std::string(p.error())).c_str(), e);
      const client::ResponseHead &h = p.head();
      const std::string_view wire = rest.substr(h.head_bytes, used - h.head_bytes);
      const std::string body = h.framing == client::Framing::kChunked  ? dechunk(wire)
                               : h.framing == client::Framing::kNoBody ? std::string()
                                                                       : std::string(wire);
      const long ordinal = ordinal_of(rest.substr(0, h.head_bytes));
      if (e) {
        const bool bodiless = e->head || e->status == 204 || e->status == 304;
        if (ordinal != (e->untagged ? -1 : static_cast<long>(e->ordinal)))
          mismatch(got, off,
                   ordinal < 0 ? "no X-Ordinal: the handler's headers were lost"
                               : ("X-Ordinal " + std::to_string(ordinal) + ": another call's answer").c_str(),
                   e);
        if (e->file) {
          if (!file_answer_ok(rest.substr(0, h.head_bytes), h.status, body, *e))
            mismatch(got, off, "a /files/ answer against its rules (file_answer_ok)", e);
        } else {
          if (h.status != e->status) mismatch(got, off, "another status", e);
          if (body != (bodiless ? std::string() : e->body)) mismatch(got, off, "another body", e);
        }
        ++next;
      } else if (!interim && (ordinal >= 0 || h.keep_alive || off + used != got.size())) {
        mismatch(got, off,
                 "after every handler's answer, one that is not the server's "
                 "own error reply ending the connection",
                 nullptr);
      }
      off += used;
    }
    return next;
  }

  typename Io::Sched sched_;
  Run run_;
  HttpServer<Io> server_;
  sockaddr_in addr_{};
};

template <class Io>
void run_with(bool small, const uint8_t *data, size_t size, size_t chunk, bool half_close, bool never_read) {
  // One server per policy and limits, kept across inputs: leaks accumulate.
  static Harness<Io> *big = new Harness<Io>(false);
  static Harness<Io> *little = new Harness<Io>(true);
  (small ? little : big)->run(data, size, chunk, half_close, never_read);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3 || size > 64 * 1024) return 0;
  static const bool pipe_ignored = signal(SIGPIPE, SIG_IGN) != SIG_ERR;  // as every variant's main does
  FUZZ_CHECK(pipe_ignored);
  const uint8_t policy = data[0];
  const size_t chunk = 1 + data[1];
  const bool half_close = data[2] & 1;
  const bool never_read = data[2] & 2;
  const bool small = policy & 4;
  data += 3;
  size -= 3;
  if (policy & 8) {  // the completion backend
    if (policy & 1) {
      run_with<UringWritev>(small, data, size, chunk, half_close, never_read);
    } else {
      run_with<UringWrite>(small, data, size, chunk, half_close, never_read);
    }
    return 0;
  }
  switch (policy & 3) {
    case 0:
      run_with<LtWrite>(small, data, size, chunk, half_close, never_read);
      break;
    case 1:
      run_with<LtWritev>(small, data, size, chunk, half_close, never_read);
      break;
    case 2:
      run_with<EtWrite>(small, data, size, chunk, half_close, never_read);
      break;
    case 3:
      run_with<EtWritev>(small, data, size, chunk, half_close, never_read);
      break;
  }
  return 0;
}
