// loadgen: Hellepoll's HTTP/1.x load generator. See loadgen/README.md.
//
// main() parses the command line, checks that --backend can run here,
// raises the descriptor limit, resolves the target, runs one Worker per
// thread on --backend's scheduler from a common start time (run_workers()),
// merges the per-thread Stats and reports. Exit status: 0 when every request got a
// 2xx (or the expected) response with the expected body, 1 when any failed,
// went unanswered or was not sent, 2 on bad usage or setup.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/args.h"
#include "loadgen/net.h"
#include "loadgen/report.h"
#include "loadgen/request.h"
#include "loadgen/units.h"
#include "loadgen/worker.h"
#include "server/backend/uring.h"

namespace {

std::atomic<bool>* g_stop = nullptr;
std::atomic<bool> g_interrupted{false};

void on_interrupt(int) {
  g_interrupted.store(true);
  if (g_stop) g_stop->store(true);  // the workers' sweep timers notice within 100 ms
}

// Why --backend uring cannot run here, in one line; empty when it can. The
// scheduler's line ends with the server's advice (an epoll variant), which
// for loadgen is --backend epoll.
std::string uring_unavailable() {
  std::string why = hellepoll::UringScheduler::unavailable();
  constexpr std::string_view kServerAdvice = " (or run an epoll variant: lt_* or et_*)";
  if (const size_t at = why.find(kServerAdvice); at != std::string::npos) {
    why.replace(at, kServerAdvice.size(), " (or use --backend epoll)");
  }
  return why;
}

// Descriptors each thread needs besides its connections: epoll or the
// io_uring ring, eventfd, timerfd, and slack for stdio and the JSON file.
constexpr uint64_t kFdsPerThread = 4;
constexpr uint64_t kFdsSpare = 32;

}  // namespace

int main(int argc, char** argv) {
  using namespace loadgen;
  ParseResult parsed = parse_args(argc, argv);
  switch (parsed.action) {
    case ParseResult::Action::kHelp:
      std::fputs(usage().c_str(), stdout);
      return 0;
    case ParseResult::Action::kVersion:
      std::printf("hellepoll-loadgen %.*s\n", static_cast<int>(kVersion.size()), kVersion.data());
      return 0;
    case ParseResult::Action::kError:
      std::fprintf(stderr, "loadgen: %s\n\n%s", parsed.error.c_str(), usage().c_str());
      return 2;
    case ParseResult::Action::kRun:
      break;
  }
  Config& cfg = parsed.config;
  if (cfg.backend == Backend::kUring) {
    // Never a silent fallback to epoll: the figures would name the wrong
    // backend.
    const std::string why = uring_unavailable();
    if (!why.empty()) {
      std::fprintf(stderr, "loadgen: %s\n", why.c_str());
      return 2;
    }
  }
  std::vector<std::string> notes;

  const uint64_t fd_limit = raise_fd_limit();
  const uint64_t overhead = kFdsPerThread * cfg.threads + kFdsSpare;
  if (cfg.connections + overhead > fd_limit) {
    const uint64_t fit = fd_limit > overhead + cfg.threads ? fd_limit - overhead : cfg.threads;
    notes.push_back("-c " + std::to_string(cfg.connections) + " needs more descriptors than the limit of " +
                    std::to_string(fd_limit) + " (RLIMIT_NOFILE, raised to its hard limit); running " +
                    std::to_string(fit) + " connections. Raise the hard limit (ulimit -Hn) for more.");
    std::fprintf(stderr, "loadgen: note: %s\n", notes.back().c_str());
    cfg.connections = static_cast<uint32_t>(fit);
  }

  std::string error;
  const auto target = resolve(cfg.url, &error);
  if (!target) {
    std::fprintf(stderr, "loadgen: %s\n", error.c_str());
    return 2;
  }
  std::FILE* json_file = nullptr;
  if (!cfg.json_path.empty() && cfg.json_path != "-") {
    json_file = std::fopen(cfg.json_path.c_str(), "w");  // fail now, not after the run
    if (json_file == nullptr) {
      std::fprintf(stderr, "loadgen: cannot write --json %s: %s\n", cfg.json_path.c_str(),
                   std::strerror(errno));
      return 2;
    }
  }

  const RenderedRequest request(cfg);
  Run run(cfg, request, *target);
  run.start = hellepoll::Clock::now();
  run.measure_start = run.start + cfg.warmup;
  if (!cfg.count_mode() || cfg.duration_given) run.end = run.measure_start + cfg.duration;

  if (target->loopback_v4) {
    const uint32_t spread = (cfg.connections - 1) / kConnectionsPerSource + 1;
    run.sources_used.store(std::min(spread, kMaxSourceIndex + 1));
  }

  g_stop = &run.stop;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // send() uses MSG_NOSIGNAL; this covers the rest

  const Stats total = run_workers(run);
  Report report{cfg, target->text, total, run.fatal(), g_interrupted.load(), run.sources_used.load(), notes};

  const bool json_stdout = cfg.json_path == "-";
  print_human(json_stdout ? stderr : stdout, report);
  if (!cfg.json_path.empty()) {
    const std::string json = to_json(report);
    std::FILE* f = json_stdout ? stdout : json_file;
    if (std::fwrite(json.data(), 1, json.size(), f) != json.size() || std::fflush(f) != 0) {
      std::fprintf(stderr, "loadgen: writing --json failed: %s\n", std::strerror(errno));
      return 2;
    }
    if (json_file) std::fclose(json_file);
  }
  return report.valid() ? 0 : 1;
}
