// Args: the command line, for both habits.
//
// ab style:  loadgen -n 100k -c 25 -k URL       (run until N responses)
// wrk style: loadgen -d 10s -t 2 -c 100 --latency URL  (run for a duration)
// parse_args() never exits or prints: it returns a Config or an error message
// that names the offending argument, so it is testable as a table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/scheduler.h"

namespace loadgen {

inline constexpr std::string_view kVersion = "0.1";

struct Url {
  std::string host;  // as written (name or address; IPv6 without brackets)
  std::string port = "80";
  std::string path = "/";   // path and query
  std::string host_header;  // "host" or "host:port" as sent in Host:
};
// Parses "http://host[:port][/path]". Only http: is supported.
std::optional<Url> parse_url(std::string_view s, std::string* error);

// The scheduler a worker runs on: epoll (edge-triggered readiness) or
// io_uring (completions: multishot receive, sends submitted with the wait).
enum class Backend : uint8_t { kEpoll, kUring };
// The default: the cheaper client here. Keep-alive -c25 against helloworld,
// 7 alternating rounds: 6.16 CPU µs a response on uring, 7.14 on epoll, 8.48
// for wrk (results/2026-12-03-vm-client-cost). Where io_uring is unavailable
// loadgen says so and exits 2; `--backend epoll` runs there.
inline constexpr Backend kDefaultBackend = Backend::kUring;
// "epoll" or "uring", as --backend and the JSON spell it.
std::string_view backend_name(Backend b);

struct Config {
  std::string url_text;  // the first URL
  Url url;
  // Every URL's path, in the order given: requests go to them in rotation
  // on each connection (one URL: every request the same).
  std::vector<std::string> paths;
  std::vector<std::string> command;  // argv, for the JSON record

  uint64_t requests = 0;  // -n; 0 means "run for a duration"
  hellepoll::Duration duration = std::chrono::seconds(10);
  bool duration_given = false;
  uint32_t threads = 1;
  uint32_t connections = 10;
  uint32_t pipeline = 1;
  Backend backend = kDefaultBackend;
  double rate = 0;  // total requests per second; 0 = closed loop
  bool keepalive = true;
  bool http10 = false;
  bool latency = false;  // print the latency distribution (always in JSON)
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string body;
  hellepoll::Duration timeout = std::chrono::seconds(2);
  hellepoll::Duration warmup{};
  std::string json_path;  // "" = none, "-" = stdout
  // What every response must be; a response that differs is an error.
  int expect_status = 0;  // 0: any 2xx
  bool expect_body_given = false;
  std::string expect_body;
  // Requests unanswered at the end or never sent that still leave the run
  // valid; 0 unless the user says otherwise.
  uint64_t allow_unanswered = 0;

  bool count_mode() const { return requests > 0; }
};

struct ParseResult {
  enum class Action { kRun, kHelp, kVersion, kError } action = Action::kRun;
  Config config;
  std::string error;
};

ParseResult parse_args(int argc, const char* const* argv);

// The usage block printed by --help (and after an argument error).
std::string usage();

}  // namespace loadgen
