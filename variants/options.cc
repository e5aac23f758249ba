#include "variants/options.h"

#include <sched.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "server/duration.h"

namespace hellepoll::variants {
namespace {

void usage(FILE* f, const Identity& id) {
  std::fprintf(f,
               "Usage: %.*s [options]\n"
               "Hellepoll variant %.*s: trigger=%.*s write=%.*s workers=%.*s.\n"
               "Answers GET / with \"Hello World\" and unknown paths with 404; with\n"
               "--root, serves a directory's files instead.\n"
               "\n"
               "Options:\n"
               "  --port N             port to listen on (default 42042; 0: any free port)\n"
               "  --host ADDR          IPv4 address to bind (default 0.0.0.0)\n"
               "  --workers N          worker threads/processes (default: cores allowed)\n"
               "  --pin                pin worker i to core i of the allowed set\n"
               "  --accept MODE        reuseport: a socket per worker (default)\n"
               "                       shared: one socket, EPOLLEXCLUSIVE\n"
               "  --idle-timeout D     keep-alive idle timeout (default 60s)\n"
               "  --read-timeout D     time allowed to receive one request (default 20s)\n"
               "  --write-timeout D    time allowed without write progress (default 20s)\n"
               "  --handler-timeout D  a deferred or streaming handler without progress:\n"
               "                       504, or the stream cut (default 60s)\n"
               "  --drain-timeout D    graceful shutdown limit (default 10s)\n"
               "  --max-head N         request line + headers, bytes (default 16384; 431)\n"
               "  --max-body N         request body, bytes (default 1048576; 413)\n"
               "  --uring-batch N      uring variants: a turn waits for N completions or\n"
               "                       50us, whichever first (default 1: serve each at once)\n"
               "  --root DIR           serve the files under DIR (GET and HEAD: ETag,\n"
               "                       ranges, 304; index.html for a directory)\n"
               "  --mount PREFIX       the path they are served under (default /; with\n"
               "                       another, GET / still answers Hello World)\n"
               "  --pool-threads N     threads per worker for opens and cold reads (default 4)\n"
               "  --small-file N       files of at most N bytes are read once and copied into\n"
               "                       each answer; larger ones are sent from the file\n"
               "                       (default 16384)\n"
               "  --file PATH          floor only: answer every request with this file\n"
               "                       (head with MSG_MORE, then sendfile)\n"
               "  -h, --help           this text\n"
               "\n"
               "%.*s"
               "SIGINT/SIGTERM stop accepting and finish the requests in flight before\n"
               "exiting.\n"
               "\n"
               "Examples:\n"
               "  bazel run --config=opt //variants:%.*s -- --port 8080 --workers 1\n"
               "  taskset -c 0 bazel-bin/variants/%.*s --workers 1 --pin\n",
               static_cast<int>(id.name.size()), id.name.data(), static_cast<int>(id.name.size()),
               id.name.data(), static_cast<int>(id.trigger.size()), id.trigger.data(),
               static_cast<int>(id.write.size()), id.write.data(), static_cast<int>(id.workers.size()),
               id.workers.data(), static_cast<int>(kDurationHelp.size()), kDurationHelp.data(),
               static_cast<int>(id.name.size()), id.name.data(), static_cast<int>(id.name.size()),
               id.name.data());
}

bool parse_uint(std::string_view s, uint64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

int parse_options(int argc, char** argv, const Identity& id, Options* o) {
  auto bad = [&](std::string_view flag, std::string_view why) {
    std::fprintf(stderr, "%.*s: %.*s: %.*s (see --help)\n", static_cast<int>(id.name.size()), id.name.data(),
                 static_cast<int>(flag.size()), flag.data(), static_cast<int>(why.size()), why.data());
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout, id);
      return 0;
    }
    if (a == "--pin") {
      o->pin = true;
      continue;
    }
    if (i + 1 >= argc) return bad(a, "unknown option or missing value");
    std::string_view v = argv[++i];
    uint64_t n = 0;
    if (a == "--port") {
      if (!parse_uint(v, &n) || n > 65535) return bad(a, "expects a port number 0-65535");
      o->port = static_cast<uint16_t>(n);
    } else if (a == "--host") {
      o->host = std::string(v);
    } else if (a == "--workers") {
      if (!parse_uint(v, &n) || n == 0 || n > 1024) return bad(a, "expects a count 1-1024");
      o->workers = static_cast<int>(n);
    } else if (a == "--accept") {
      if (v == "reuseport")
        o->accept = AcceptMode::kReusePort;
      else if (v == "shared")
        o->accept = AcceptMode::kShared;
      else
        return bad(a, "expects reuseport or shared");
    } else if (a == "--idle-timeout" || a == "--read-timeout" || a == "--write-timeout" ||
               a == "--handler-timeout" || a == "--drain-timeout") {
      const auto d = parse_duration(v);
      if (!d) return bad(a, "expects a duration like 500ms, 20s, 1m");
      if (a == "--idle-timeout")
        o->config.idle_timeout = *d;
      else if (a == "--read-timeout")
        o->config.read_timeout = *d;
      else if (a == "--write-timeout")
        o->config.write_timeout = *d;
      else if (a == "--handler-timeout")
        o->config.handler_timeout = *d;
      else
        o->config.drain_timeout = *d;
    } else if (a == "--max-head") {
      if (!parse_uint(v, &n) || n < 256 || n > 60000) return bad(a, "expects bytes 256-60000");
      o->config.limits.max_head_bytes = static_cast<uint32_t>(n);
      if (o->config.limits.max_request_line > n) o->config.limits.max_request_line = static_cast<uint32_t>(n);
    } else if (a == "--uring-batch") {
      if (id.trigger != "uring") return bad(a, "only the uring variants batch completions");
      if (!parse_uint(v, &n) || n == 0 || n > 4096) return bad(a, "expects a count 1-4096");
      o->uring_batch = static_cast<unsigned>(n);
    } else if (a == "--root") {
      if (v.empty()) return bad(a, "expects a directory");
      o->root = std::string(v);
    } else if (a == "--mount") {
      if (v.empty() || v.front() != '/' || v.back() != '/')
        return bad(a, "expects a path that starts and ends with /");
      o->mount = std::string(v);
    } else if (a == "--file") {
      if (id.name != "floor") return bad(a, "only the floor answers every request with one file");
      if (v.empty()) return bad(a, "expects a file");
      o->file = std::string(v);
    } else if (a == "--small-file") {
      if (!parse_uint(v, &n) || n > (64 << 20)) return bad(a, "expects bytes 0-67108864");
      o->small_file = static_cast<int64_t>(n);
    } else if (a == "--pool-threads") {
      if (!parse_uint(v, &n) || n == 0 || n > 256) return bad(a, "expects a count 1-256");
      o->config.pool_threads = static_cast<unsigned>(n);
    } else if (a == "--max-body") {
      if (!parse_uint(v, &n)) return bad(a, "expects a byte count");
      o->config.limits.max_body = n;
    } else {
      return bad(a, "unknown option");
    }
  }
  if (o->workers == 0) o->workers = static_cast<int>(allowed_cpus().size());
  return -1;
}

}  // namespace hellepoll::variants
