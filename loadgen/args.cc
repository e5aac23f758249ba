#include "loadgen/args.h"

#include <fstream>
#include <sstream>

#include "loadgen/units.h"
#include "server/duration.h"

namespace loadgen {

std::optional<Url> parse_url(std::string_view s, std::string* error) {
  constexpr std::string_view kScheme = "http://";
  if (s.substr(0, kScheme.size()) != kScheme) {
    *error = "URL must start with http:// (https is not supported): " + std::string(s);
    return std::nullopt;
  }
  s.remove_prefix(kScheme.size());
  const size_t slash = s.find('/');
  std::string_view authority = s.substr(0, slash);
  Url url;
  if (slash != std::string_view::npos) url.path = std::string(s.substr(slash));
  url.host_header = std::string(authority);
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {  // [::1]:8080
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *error = "unterminated [IPv6] address in URL";
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        *error = "junk after [IPv6] address in URL";
        return std::nullopt;
      }
      port = rest.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    *error = "URL has no host";
    return std::nullopt;
  }
  if (!port.empty()) {
    auto p = parse_count(port);
    if (!p || *p == 0 || *p > 65535 || port.find_first_not_of("0123456789") != std::string_view::npos) {
      *error = "bad port in URL: " + std::string(port);
      return std::nullopt;
    }
    url.port = std::string(port);
  }
  url.host = std::string(host);
  return url;
}

std::string_view backend_name(Backend b) { return b == Backend::kUring ? "uring" : "epoll"; }

namespace {

struct Option {
  const char* short_name;  // "-c" or nullptr
  const char* long_name;   // "--connections"
  bool takes_value;
};

constexpr Option kOptions[] = {
    {"-n", "--requests", true},       {"-c", "--connections", true},
    {"-t", "--threads", true},        {"-d", "--duration", true},
    {"-k", "--keepalive", false},     {nullptr, "--no-keepalive", false},
    {nullptr, "--latency", false},    {nullptr, "--pipeline", true},
    {"-R", "--rate", true},           {nullptr, "--http1.0", false},
    {"-H", "--header", true},         {"-m", "--method", true},
    {nullptr, "--body", true},        {nullptr, "--body-file", true},
    {nullptr, "--timeout", true},     {nullptr, "--warmup", true},
    {nullptr, "--json", true},        {"-h", "--help", false},
    {"-V", "--version", false},       {nullptr, "--expect-status", true},
    {nullptr, "--expect-body", true}, {nullptr, "--allow-unanswered", true},
    {nullptr, "--backend", true},
};

// Finds the option `arg` names; sets *inline_value for "-c25" and "--x=25".
const Option* find_option(std::string_view arg, std::optional<std::string_view>* inline_value) {
  for (const Option& o : kOptions) {
    const std::string_view lng = o.long_name;
    if (arg == lng) return &o;
    if (o.takes_value && arg.size() > lng.size() && arg.substr(0, lng.size()) == lng &&
        arg[lng.size()] == '=') {
      *inline_value = arg.substr(lng.size() + 1);
      return &o;
    }
    if (o.short_name == nullptr) continue;
    const std::string_view sh = o.short_name;
    if (arg == sh) return &o;
    if (o.takes_value && arg.size() > 2 && arg.substr(0, 2) == sh) {
      *inline_value = arg.substr(2);
      return &o;
    }
  }
  return nullptr;
}

bool read_file(std::string_view path, std::string* out) {
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

bool valid_method(std::string_view m) {
  if (m.empty()) return false;
  for (char c : m) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_')) return false;
  }
  return true;
}

}  // namespace

ParseResult parse_args(int argc, const char* const* argv) {
  ParseResult r;
  Config& c = r.config;
  auto error = [&r](std::string msg) {
    r.action = ParseResult::Action::kError;
    r.error = std::move(msg);
    return r;
  };
  for (int i = 0; i < argc; ++i) c.command.emplace_back(argv[i]);

  bool keepalive_flag = false, no_keepalive_flag = false, pipeline_given = false;
  std::vector<std::string_view> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    std::optional<std::string_view> inline_value;
    const Option* o = find_option(arg, &inline_value);
    if (o == nullptr) return error("unknown option " + std::string(arg));
    const std::string name = o->long_name;
    std::string_view v;
    if (o->takes_value) {
      if (inline_value) {
        v = *inline_value;
      } else if (i + 1 < argc) {
        v = argv[++i];
      } else {
        return error(name + " needs a value");
      }
    }
    auto bad = [&](const char* what) {
      return error("bad value for " + name + ": '" + std::string(v) + "' (" + what + ")");
    };
    if (name == "--requests") {
      auto n = parse_count(v);
      if (!n || *n == 0) return bad("a positive count such as 1000 or 100k");
      c.requests = *n;
    } else if (name == "--connections") {
      auto n = parse_count(v);
      if (!n || *n == 0 || *n > 10'000'000) return bad("a positive count such as 25 or 10k");
      c.connections = static_cast<uint32_t>(*n);
    } else if (name == "--threads") {
      auto n = parse_count(v);
      if (!n || *n == 0 || *n > 1024) return bad("1 to 1024");
      c.threads = static_cast<uint32_t>(*n);
    } else if (name == "--duration") {
      auto d = hellepoll::parse_duration(v);
      if (!d || *d <= hellepoll::Duration::zero()) return bad("a duration such as 10s or 500ms");
      c.duration = *d;
      c.duration_given = true;
    } else if (name == "--keepalive") {
      keepalive_flag = true;
    } else if (name == "--no-keepalive") {
      no_keepalive_flag = true;
    } else if (name == "--latency") {
      c.latency = true;
    } else if (name == "--pipeline") {
      auto n = parse_count(v);
      if (!n || *n == 0 || *n > 1024) return bad("1 to 1024");
      c.pipeline = static_cast<uint32_t>(*n);
      pipeline_given = true;
    } else if (name == "--backend") {
      if (v == "epoll") {
        c.backend = Backend::kEpoll;
      } else if (v == "uring") {
        c.backend = Backend::kUring;
      } else {
        return bad("epoll or uring");
      }
    } else if (name == "--rate") {
      auto x = parse_si(v);
      if (!x || *x <= 0) return bad("requests per second such as 5000 or 50k");
      c.rate = *x;
    } else if (name == "--http1.0") {
      c.http10 = true;
    } else if (name == "--header") {
      const size_t colon = v.find(':');
      if (colon == 0 || colon == std::string_view::npos) return bad("\"Name: value\"");
      c.headers.emplace_back(v);
    } else if (name == "--method") {
      if (!valid_method(v)) return bad("a method such as GET, POST or HEAD");
      c.method = std::string(v);
    } else if (name == "--body") {
      c.body = std::string(v);
    } else if (name == "--body-file") {
      if (!read_file(v, &c.body)) return error("cannot read --body-file " + std::string(v));
    } else if (name == "--timeout") {
      auto d = hellepoll::parse_duration(v);
      if (!d) return bad("a duration such as 2s; 0 = none");
      c.timeout = *d;
    } else if (name == "--warmup") {
      auto d = hellepoll::parse_duration(v);
      if (!d) return bad("a duration such as 2s");
      c.warmup = *d;
    } else if (name == "--json") {
      if (v.empty()) return bad("a file name, or - for stdout");
      c.json_path = std::string(v);
    } else if (name == "--expect-status") {
      auto n = parse_count(v);
      if (!n || *n < 100 || *n > 999) return bad("a status code such as 200");
      c.expect_status = static_cast<int>(*n);
    } else if (name == "--expect-body") {
      c.expect_body_given = true;
      if (!v.empty() && v.front() == '@') {
        if (!read_file(v.substr(1), &c.expect_body)) {
          return error("cannot read --expect-body file " + std::string(v.substr(1)));
        }
      } else {
        c.expect_body = std::string(v);
      }
    } else if (name == "--allow-unanswered") {
      auto n = parse_count(v);
      if (!n) return bad("a count such as 0 or 10");
      c.allow_unanswered = *n;
    } else if (name == "--help") {
      r.action = ParseResult::Action::kHelp;
      return r;
    } else if (name == "--version") {
      r.action = ParseResult::Action::kVersion;
      return r;
    }
  }

  if (positional.empty()) return error("no URL given (for example http://127.0.0.1:42042/)");
  c.url_text = std::string(positional[0]);
  std::string url_error;
  auto url = parse_url(c.url_text, &url_error);
  if (!url) return error(url_error);
  c.url = std::move(*url);
  for (std::string_view p : positional) {
    auto u = parse_url(p, &url_error);
    if (!u) return error(url_error);
    if (u->host != c.url.host || u->port != c.url.port) {
      return error("every URL must name the same server: " + std::string(p) + " is not " + c.url_text);
    }
    c.paths.push_back(u->path);
  }

  // ab habit: -n without -k opens a connection per request. wrk habit: -d
  // keeps connections alive.
  c.keepalive = c.count_mode() ? keepalive_flag : true;
  if (no_keepalive_flag) {
    if (keepalive_flag) return error("-k and --no-keepalive contradict each other");
    c.keepalive = false;
  }
  if (c.threads > c.connections) {
    return error("-t " + std::to_string(c.threads) + " is more than -c " + std::to_string(c.connections) +
                 ": each thread needs a connection");
  }
  if (c.count_mode() && c.requests < c.connections) {
    return error("-c " + std::to_string(c.connections) + " is more than -n " + std::to_string(c.requests) +
                 ": lower -c or raise -n");
  }
  if (c.expect_body_given && c.method == "HEAD") {
    return error("--expect-body with HEAD: a response to HEAD has no body");
  }
  if (pipeline_given && c.pipeline > 1 && !c.keepalive) {
    return error("--pipeline needs keep-alive (add -k, or drop --no-keepalive)");
  }
  return r;
}

std::string usage() {
  return R"(Usage: loadgen [options] URL [URL...]

Runs until N responses (-n, ab style) or for a duration (-d, wrk style).
  -n, --requests N       stop after N requests (ab style; keep-alive only with -k)
  -d, --duration D       run for D (default 10s; with -n, a time limit)
  -c, --connections N    concurrent connections (default 10)
  -t, --threads N        threads, each with its own event loop (default 1)
      --backend B        the threads' event loop: epoll (edge-triggered
                         readiness) or uring (io_uring completions)
                         (default )" +
         std::string(backend_name(kDefaultBackend)) + R"()
  -k, --keepalive        keep connections alive (the default with -d)
      --no-keepalive     a new connection per request, also with -d
      --pipeline N       requests in flight per connection (default 1)
  -R, --rate R           open loop at R requests/s in total; latency counted
                         from each request's scheduled send time
      --http1.0          send HTTP/1.0 (with Connection: keep-alive if kept alive)
  -H, --header "K: V"    add a request header (repeatable)
  -m, --method M         request method (default GET)
      --body S           request body (Content-Length is added)
      --body-file F      request body from file F
      --timeout D        fail a request with no response after D (default 2s;
                         0: never); at the end, wait up to D for answers
                         (2s with --timeout 0)
      --expect-status N  count a response whose status is not N as an error
      --expect-body B    count a response whose body is not B as an error
                         (@FILE: the bytes of FILE)
      --allow-unanswered N
                         leave the run valid with up to N requests unanswered
                         at the end or never sent (default 0)
      --warmup D         load for D first and discard it from the figures
      --latency          print the latency distribution (always in --json)
      --json FILE        write every figure as JSON to FILE (- for stdout)
  -h, --help             this text
  -V, --version          print the version

Several URLs (one server): each connection sends requests to them in
rotation; the requests are padded to one size with an X-Pad header.
Numbers take SI suffixes (100k, 1.5M).
)" + std::string(hellepoll::kDurationHelp) +
         R"(At the end (-d), loadgen stops issuing and waits up to --timeout for what is
in flight. Requests still unanswered then ("unanswered at end"), and
requests that fell due (--rate) or were queued on a connection but were
never fully written ("not sent"), make the run invalid; with --rate they
enter the latency figures at their age.
Exit status: 0 if every request got a 2xx response (or --expect-status's)
with --expect-body's body, 1 if any failed, went unanswered or was not sent
(beyond --allow-unanswered), 2 on bad usage.

Examples:
  loadgen -n 100k -c 25 -k http://127.0.0.1:42042/          ab -k -c25 habit
  loadgen -n 20k -c 25 --http1.0 http://127.0.0.1:42042/    ab -c25: a connection per request
  loadgen -d 10s -t 1 -c 25 --latency http://127.0.0.1:42042/
  loadgen -d 10s -c 25 --pipeline 16 http://127.0.0.1:42042/
  loadgen -d 10s -c 25 --backend uring http://127.0.0.1:42042/
  loadgen -d 30s -c 25 --rate 50k --warmup 5s --json out.json http://127.0.0.1:42042/
  loadgen -d 10s -c 25 --expect-status 200 --expect-body 'Hello World' http://127.0.0.1:42042/
)";
}

}  // namespace loadgen
