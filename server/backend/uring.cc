#include "server/backend/uring.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace hellepoll {
namespace {

constexpr unsigned kFastFlags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
constexpr uint16_t kGroup = 0;  // the one provided-buffer group

// The sysctl that turns io_uring off (Linux 6.6+): -1 where there is none.
int io_uring_disabled_sysctl() {
  std::ifstream f("/proc/sys/kernel/io_uring_disabled");
  int v = -1;
  return f >> v ? v : -1;
}

// Why io_uring_setup failed, and what to do, in one line.
std::string setup_failure(int err) {
  const std::string variant = " (or run an epoll variant: lt_* or et_*)";
  const int sysctl = io_uring_disabled_sysctl();
  if (sysctl == 2) {
    return "io_uring is disabled on this machine (sysctl kernel.io_uring_disabled=2): "
           "set it to 0 with `sysctl kernel.io_uring_disabled=0`" +
           variant;
  }
  if (err == EPERM && sysctl == 1) {
    return "io_uring is restricted (sysctl kernel.io_uring_disabled=1) and this user is not in "
           "kernel.io_uring_group: set the sysctl to 0 or add the group" +
           variant;
  }
  if (err == EPERM || err == EACCES) {
    return std::string("io_uring_setup was refused (") + std::strerror(err) +
           "): a seccomp filter forbids it (container runtimes' default profiles do); allow "
           "io_uring_setup, io_uring_enter and io_uring_register in the profile" +
           variant;
  }
  if (err == ENOSYS) {
    return "io_uring_setup does not exist here (ENOSYS): a kernel older than 5.1, one built without "
           "CONFIG_IO_URING, or a seccomp filter that hides it; use Linux 6.1 or later" +
           variant;
  }
  if (err == ENOMEM) {
    return "io_uring_setup could not lock memory for the ring (ENOMEM): raise RLIMIT_MEMLOCK "
           "(`ulimit -l`) or use Linux 5.12 or later, which does not charge it" +
           variant;
  }
  return std::string("io_uring_setup failed: ") + std::strerror(err) + variant;
}

// Sets `ring` up as the backend does; empty on success, else the line.
std::string setup_ring(io_uring* ring, unsigned entries, unsigned* flags) {
  io_uring_params p{};
  // Disabled until the loop's thread enables it (UringScheduler::enable()).
  p.flags = kFastFlags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED;
  p.cq_entries = entries * 4;
  int r = io_uring_queue_init_params(entries, ring, &p);
  if (r == -EINVAL) {
    // A kernel before 6.1 has no DEFER_TASKRUN (nor SINGLE_ISSUER before
    // 6.0): the ring still works, a little more slowly.
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
    p.cq_entries = entries * 4;
    r = io_uring_queue_init_params(entries, ring, &p);
  }
  if (r < 0) return setup_failure(-r);
  *flags = p.flags;
  if (!(p.features & IORING_FEAT_EXT_ARG)) {
    io_uring_queue_exit(ring);
    return "this kernel's io_uring cannot wait with a timeout in one call (no IORING_FEAT_EXT_ARG, "
           "Linux 5.11): use Linux 6.1 or later (or run an epoll variant: lt_* or et_*)";
  }
  io_uring_probe* probe = io_uring_get_probe_ring(ring);
  if (!probe) {
    io_uring_queue_exit(ring);
    return "io_uring cannot list its operations (IORING_REGISTER_PROBE, Linux 5.6): use Linux 6.1 or "
           "later (or run an epoll variant: lt_* or et_*)";
  }
  struct Needed {
    int op;
    const char* name;
  };
  static constexpr Needed kOps[] = {
      {IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_RECV, "RECV"},
      {IORING_OP_SEND, "SEND"},         {IORING_OP_SENDMSG, "SENDMSG"},
      {IORING_OP_POLL_ADD, "POLL_ADD"}, {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
      {IORING_OP_CLOSE, "CLOSE"},       {IORING_OP_SHUTDOWN, "SHUTDOWN"},
  };
  for (const Needed& n : kOps) {
    if (!io_uring_opcode_supported(probe, n.op)) {
      io_uring_free_probe(probe);
      io_uring_queue_exit(ring);
      return std::string("this kernel's io_uring lacks IORING_OP_") + n.name +
             ": use Linux 6.1 or later (or run an epoll variant: lt_* or et_*)";
    }
  }
  io_uring_free_probe(probe);
  return {};
}

}  // namespace

std::string UringScheduler::unavailable(const Options& opts) {
  io_uring ring{};
  unsigned flags = 0;
  std::string why = setup_ring(&ring, opts.entries, &flags);
  if (!why.empty()) return why;
  // Multishot receive needs a provided-buffer ring (Linux 5.19).
  const size_t bytes = sizeof(io_uring_buf) * opts.buffers;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    io_uring_queue_exit(&ring);
    return std::string("mmap for the receive buffer ring failed: ") + std::strerror(errno);
  }
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(mem);
  reg.ring_entries = opts.buffers;
  reg.bgid = kGroup;
  int r = io_uring_register_buf_ring(&ring, &reg, 0);
  munmap(mem, bytes);
  io_uring_queue_exit(&ring);
  if (r < 0) {
    return std::string("io_uring cannot register a provided-buffer ring (") + std::strerror(-r) +
           "; Linux 5.19): use Linux 6.1 or later (or run an epoll variant: lt_* or et_*)";
  }
  return {};
}

UringScheduler::UringScheduler(Options opts) : opts_(opts) {
  std::string why = setup_ring(&ring_, opts_.entries, &flags_);
  if (why.empty()) {
    buf_ring_bytes_ = sizeof(io_uring_buf) * opts_.buffers;
    void* mem = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    bufs_bytes_ = size_t{opts_.buffers} * opts_.buffer_size;
    void* bufs =
        mmap(nullptr, bufs_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED || bufs == MAP_FAILED) {
      why = std::string("mmap for receive buffers failed: ") + std::strerror(errno);
    } else {
      buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
      bufs_ = static_cast<char*>(bufs);
      io_uring_buf_ring_init(buf_ring_);
      io_uring_buf_reg reg{};
      reg.ring_addr = reinterpret_cast<uintptr_t>(mem);
      reg.ring_entries = opts_.buffers;
      reg.bgid = kGroup;
      if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r < 0) {
        why = std::string("io_uring cannot register a provided-buffer ring: ") + std::strerror(-r);
      }
    }
  }
  if (!why.empty()) {
    std::fprintf(stderr, "hellepoll: %s\n", why.c_str());
    std::abort();
  }
  const int mask = io_uring_buf_ring_mask(opts_.buffers);
  for (unsigned i = 0; i < opts_.buffers; ++i) {
    io_uring_buf_ring_add(buf_ring_, bufs_ + size_t{i} * opts_.buffer_size, opts_.buffer_size,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(opts_.buffers));
  arm_wake();
}

void UringScheduler::enable() {
  if (!enabled_) {
    // liburing 2.3 declares io_uring_enable_rings() but does not export it.
    if (syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0) {
      std::fprintf(stderr, "hellepoll: io_uring cannot enable its ring: %s\n", std::strerror(errno));
      std::abort();
    }
    enabled_ = true;
    owner_ = std::this_thread::get_id();
  }
  // A registered ring fd saves the fd lookup in every io_uring_enter; a
  // kernel without it (before 5.18) just does not. It is this thread's:
  // given back when run() ends (run_ended()), registered again next turn.
  if (!ring_fd_registered_ && ring_fd_registrable_ && owner_ == std::this_thread::get_id()) {
    ring_fd_registered_ = io_uring_register_ring_fd(&ring_) == 1;
    ring_fd_registrable_ = ring_fd_registered_;
  }
}

void UringScheduler::run_ended() {
  // A ring fd registered in this thread holds the ring for as long as the
  // thread lives: destroyed on another thread meanwhile, the scheduler
  // would leave the ring running, its armed receives holding their sockets
  // open and aiming at buffers it unmapped.
  if (ring_fd_registered_ && io_uring_unregister_ring_fd(&ring_) == 1) ring_fd_registered_ = false;
}

UringScheduler::~UringScheduler() {
  // What is queued is issued: the closes of released connections among it
  // (their fds were handed to the ring). Only the thread that enabled the
  // ring may submit (SINGLE_ISSUER); on another, the queued closes are done
  // here, and the rest of the queue dropped.
  enable();
  if (owner_ == std::this_thread::get_id()) {
    io_uring_submit(&ring_);
  } else {
    for (unsigned i = ring_.sq.sqe_head; i != ring_.sq.sqe_tail; ++i) {
      const io_uring_sqe& q = ring_.sq.sqes[i & ring_.sq.ring_mask];
      if (q.opcode == IORING_OP_CLOSE) ::close(q.fd);
    }
    if (ring_fd_registered_) {
      // Registered in the owner's registry (a scheduler driven by
      // run_once(), never run()): queue_exit would unregister that index
      // in this thread's registry, someone else's ring. liburing 2.3 keeps
      // the registration in int_flags bit 0 and enter_ring_fd.
      ring_.int_flags &= static_cast<__u8>(~1u);
      ring_.enter_ring_fd = ring_.ring_fd;
    }
  }
  io_uring_queue_exit(&ring_);  // cancels what is in flight; the tasks are not told
  for (auto& [r, fn] : detached_) fn();
  if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
  if (bufs_) munmap(bufs_, bufs_bytes_);
}

io_uring_sqe* UringScheduler::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (s == nullptr) {
    // The queue is full within one turn: submit what is there (no wait).
    enable();
    io_uring_submit(&ring_);
    ++enters_;
    s = io_uring_get_sqe(&ring_);
    if (s == nullptr) {
      std::fprintf(stderr, "hellepoll: io_uring submission queue stays full\n");
      std::abort();
    }
  }
  return s;
}

// ---------------------------------------------------------------- registrations

UringScheduler::Reg UringScheduler::attach(int fd, Task* task) {
  Reg r;
  if (free_slots_.empty()) {
    r = static_cast<Reg>(slots_.size());
    slots_.emplace_back();
  } else {
    r = free_slots_.back();
    free_slots_.pop_back();
  }
  slots_[r] = Slot{};
  slots_[r].task = task;
  slots_[r].fd = fd;
  // A pooled task's entry from its last registration may have been dropped
  // unrun (released first): its flag must not block again() now.
  read_again_of(task) = false;
  return r;
}

void UringScheduler::done(Reg r) {
  Slot& s = slots_[r];
  if (--s.inflight != 0 || !s.releasing) return;
  Task* t = s.task;
  const int fd = s.fd;
  const bool when_done = s.when_done;
  s = Slot{};
  free_slots_.push_back(r);
  if (when_done) {
    for (auto it = detached_.begin(); it != detached_.end(); ++it) {
      if (it->first != r) continue;
      auto fn = std::move(it->second);
      detached_.erase(it);
      fn();
      break;
    }
  }
  if (!t) return;
  try {
    t->on_released();
  } catch (...) {
    task_threw(fd, t, false);
  }
}

void UringScheduler::detach(Reg r, std::function<void()> when_done) {
  slots_[r].task = nullptr;
  if (!when_done) return;
  slots_[r].when_done = true;
  detached_.emplace_back(r, std::move(when_done));
}

void UringScheduler::release(Reg r, UniqueFd fd) {
  Slot& s = slots_[r];
  s.releasing = true;
  s.want_receive = false;
  if (s.receiving) cancel(r, kCancelRecv);
  if (s.accepting && !s.accept_ending) cancel(r, kCancelAccept);
  if (s.polling) cancel(r, kPollRemove);
  if (s.polling_out) cancel(r, kPollOutRemove);
  if (fd) {
    // Behind the sends already queued: they are issued (and hold the file)
    // before the descriptor goes.
    io_uring_sqe* q = sqe();
    io_uring_prep_close(q, fd.release());
    io_uring_sqe_set_data64(q, data(kClose, r));
    ++slots_[r].inflight;
  }
  if (slots_[r].inflight == 0) {
    ++slots_[r].inflight;
    done(r);
  }
}

void UringScheduler::cancel(Reg r, Op what) {
  io_uring_sqe* q = sqe();
  if (what == kPollRemove || what == kPollOutRemove) {
    io_uring_prep_poll_remove(q, data(what == kPollRemove ? kPoll : kPollOut, r));
  } else {
    io_uring_prep_cancel64(q, data(what == kCancelRecv ? kRecv : kAccept, r), 0);
  }
  io_uring_sqe_set_data64(q, data(what, r));
  ++slots_[r].inflight;
}

void UringScheduler::receive(Reg r) {
  Slot& s = slots_[r];
  s.want_receive = true;
  if (!s.receiving) arm_receive(r);
}

void UringScheduler::stop_receiving(Reg r) {
  Slot& s = slots_[r];
  if (!s.want_receive) return;
  s.want_receive = false;
  if (s.receiving) cancel(r, kCancelRecv);
}

void UringScheduler::arm_receive(Reg r) {
  io_uring_sqe* q = sqe();
  io_uring_prep_recv_multishot(q, slots_[r].fd, nullptr, 0, 0);
  q->flags |= IOSQE_BUFFER_SELECT;
  q->buf_group = kGroup;
  io_uring_sqe_set_data64(q, data(kRecv, r));
  slots_[r].receiving = true;
  ++slots_[r].inflight;
}

void UringScheduler::send(Reg r, const void* p, size_t n, int flags) {
  io_uring_sqe* q = sqe();
  io_uring_prep_send(q, slots_[r].fd, p, n, flags);
  io_uring_sqe_set_data64(q, data(kSend, r));
  ++slots_[r].inflight;
}

void UringScheduler::sendmsg(Reg r, const msghdr* m, int flags) {
  io_uring_sqe* q = sqe();
  io_uring_prep_sendmsg(q, slots_[r].fd, m, static_cast<unsigned>(flags));
  io_uring_sqe_set_data64(q, data(kSend, r));
  ++slots_[r].inflight;
}

void UringScheduler::poll_out(Reg r) {
  io_uring_sqe* q = sqe();
  io_uring_prep_poll_add(q, slots_[r].fd, POLLOUT);
  io_uring_sqe_set_data64(q, data(kPollOut, r));
  slots_[r].polling_out = true;
  ++slots_[r].inflight;
}

void UringScheduler::read(Reg r, int file, void* buf, size_t n, uint64_t offset) {
  io_uring_sqe* q = sqe();
  io_uring_prep_read(q, file, buf, static_cast<unsigned>(n), offset);
  io_uring_sqe_set_data64(q, data(kRead, r));
  ++slots_[r].inflight;
}

// ---------------------------------------------------------------- readiness

// A registration found by its fd (readiness, accepting): kNoReg on a bad fd.
UringScheduler::Reg UringScheduler::attach_fd(int fd, Task* task) {
  if (fd < 0) {
    errno = EBADF;
    return kNoReg;
  }
  const Reg r = attach(fd, task);
  if (static_cast<size_t>(fd) >= poll_regs_.size()) {
    poll_regs_.resize(std::max<size_t>(fd + 1, poll_regs_.size() * 2), kNoReg);
  }
  poll_regs_[fd] = r;
  ++task_count_;
  return r;
}

bool UringScheduler::add(int fd, Task* task, uint32_t interest) {
  const Reg r = attach_fd(fd, task);
  if (r == kNoReg) return false;
  slots_[r].interest = interest;
  read_again_of(task) = false;
  arm_poll(r);
  return true;
}

void UringScheduler::arm_poll(Reg r) {
  io_uring_sqe* q = sqe();
  io_uring_prep_poll_multishot(q, slots_[r].fd, slots_[r].interest);
  io_uring_sqe_set_data64(q, data(kPoll, r));
  slots_[r].polling = true;
  ++slots_[r].inflight;
}

bool UringScheduler::modify(int fd, uint32_t interest) {
  const Reg r = poll_reg(fd);
  if (r == kNoReg) {
    errno = ENOENT;
    return false;
  }
  slots_[r].interest = interest;
  if (!slots_[r].polling) {
    arm_poll(r);
    return true;
  }
  io_uring_sqe* q = sqe();
  // The poll keeps its user_data (no IORING_POLL_UPDATE_USER_DATA). One that
  // ended meanwhile (ENOENT) is armed again, with this interest, by its
  // last completion.
  io_uring_prep_poll_update(q, data(kPoll, r), 0, interest,
                            IORING_POLL_UPDATE_EVENTS | IORING_POLL_ADD_MULTI);
  io_uring_sqe_set_data64(q, data(kPollUpdate, r));
  ++slots_[r].inflight;
  return true;
}

void UringScheduler::remove(int fd) { forget(fd); }

void UringScheduler::forget(int fd) {
  const Reg r = poll_reg(fd);
  if (r == kNoReg) return;
  poll_regs_[fd] = kNoReg;
  --task_count_;
  // Its queued read_again() entry, if any, is skipped: registered again, it
  // must be able to queue a new one.
  if (slots_[r].task) read_again_of(slots_[r].task) = false;
  // Readiness and accepting tasks hear nothing more, not even
  // on_released(): their owner may destroy them as soon as this returns.
  slots_[r].task = nullptr;
  release(r, UniqueFd());
}

void UringScheduler::read_again(int fd, Task* task) {
  // Multishot poll reports a wake-up once: a task that stopped early is
  // called again next turn, if still registered then.
  if (!registered(fd, task)) return;
  again(poll_reg(fd));
}

void UringScheduler::again(Reg r) {
  if (r == kNoReg) return;
  Task* task = slots_[r].task;
  if (!holds(r, task)) return;
  sated_of(task) = true;
  if (read_again_of(task)) return;
  read_again_of(task) = true;
  read_again_.push_back({r, task});
}

void UringScheduler::run_read_again() {
  if (read_again_.empty()) return;
  read_again_running_.swap(read_again_);
  for (const ReadAgain& a : read_again_running_) {
    if (!holds(a.reg, a.task)) continue;  // released: attach() clears its flag
    read_again_of(a.task) = false;
    try {
      events_of(a.task) = EPOLLIN;
      a.task->on_readable();
    } catch (...) {
      task_threw(slots_[a.reg].fd, a.task, holds(a.reg, a.task));
    }
  }
  read_again_running_.clear();
}

bool UringScheduler::watch_accept(int fd, Task* task,
                                  bool /*exclusive: io_uring's accept waits exclusively*/) {
  const Reg r = attach_fd(fd, task);
  if (r == kNoReg) return false;
  arm_accept(r);
  return true;
}

void UringScheduler::arm_accept(Reg r) {
  io_uring_sqe* q = sqe();
  io_uring_prep_multishot_accept(q, slots_[r].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(q, data(kAccept, r));
  slots_[r].accepting = true;
  ++slots_[r].inflight;
}

void UringScheduler::unwatch_accept(int fd) { forget(fd); }

bool UringScheduler::end_accept(int fd) {
  const Reg r = poll_reg(fd);
  if (r == kNoReg) return false;
  Slot& s = slots_[r];
  if (!s.accepting || !s.task) {
    forget(fd);
    return false;
  }
  if (!s.accept_ending) {
    s.accept_ending = true;
    cancel(r, kCancelAccept);
  }
  return true;
}

// The multishot accept that end_accept() cancelled has ended: nothing more
// can be accepted. The task hears it once the registration is gone, so
// that it may close the socket or be destroyed.
void UringScheduler::accept_ended(Reg r) {
  Task* t = slots_[r].task;
  const int fd = slots_[r].fd;
  forget(fd);
  try {
    t->on_released();
  } catch (...) {
    task_threw(fd, t, false);
  }
}

void UringScheduler::arm_wake() {
  io_uring_sqe* q = sqe();
  io_uring_prep_poll_multishot(q, wake_fd(), POLLIN);
  io_uring_sqe_set_data64(q, data(kWake, 0));
}

// ---------------------------------------------------------------- the turn

bool UringScheduler::poll(Duration max_wait) {
  auto timespec_of = [](Duration d) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return __kernel_timespec{ns / 1000000000, ns % 1000000000};
  };
  enable();
  io_uring_cqe* cqe = nullptr;
  int r;
  if (max_wait <= Duration::zero() || io_uring_cq_ready(&ring_) > 0) {
    r = io_uring_submit_and_get_events(&ring_);  // runs deferred work: completions without sleeping
    ++enters_;
  } else if (opts_.batch > 1) {
    // The batching knob: a turn waits for `batch` completions, or
    // batch_wait, before it serves them. Fewer kernel entries per request,
    // later answers.
    __kernel_timespec ts = timespec_of(std::min(max_wait, opts_.batch_wait));
    r = io_uring_submit_and_wait_timeout(&ring_, &cqe, opts_.batch, &ts, nullptr);
    ++enters_;
    if (r == -ETIME && io_uring_cq_ready(&ring_) == 0 && max_wait > opts_.batch_wait) {
      ts = timespec_of(max_wait - opts_.batch_wait);
      r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      ++enters_;
    }
  } else {
    __kernel_timespec ts = timespec_of(max_wait);
    r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    ++enters_;
  }
  if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
    std::fprintf(stderr, "hellepoll: io_uring_enter failed: %s\n", std::strerror(-r));
    return false;
  }
  begin_turn();
  // Tasks that yielded last turn go first, then the completions.
  run_read_again();
  // Completions are copied out before any is dispatched: a task's call may
  // submit (a full queue), and the ring's head must not move under us.
  struct Completion {
    uint64_t user_data;
    int res;
    uint32_t flags;
  };
  constexpr unsigned kBatch = 256;
  Completion batch[kBatch];
  io_uring_cqe* cqes[kBatch];
  for (int rounds = 0; rounds < 64; ++rounds) {
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kBatch);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) batch[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    io_uring_cq_advance(&ring_, n);
    for (unsigned i = 0; i < n; ++i) dispatch(batch[i].user_data, batch[i].res, batch[i].flags);
    if (n < kBatch) break;
  }
  if (recycled_) {
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(recycled_));
    recycled_ = 0;
  }
  // Receives that ended (the buffers ran out, a cancel that was changed
  // back) and are wanted again: armed behind the buffers just returned.
  // One stopped after it ended (no cancel was needed) is told it ended.
  for (size_t i = 0; i < rearm_.size(); ++i) {
    const auto [reg, task] = rearm_[i];
    const Slot& s = slots_[reg];
    // A slot freed and reused this turn (a full queue submits mid-turn)
    // names another task now: not this receive's.
    if (s.receiving || s.releasing || !s.task || s.task != task) continue;
    if (s.want_receive) {
      arm_receive(reg);
      continue;
    }
    Task* t = s.task;
    try {
      t->on_receive_end(ECANCELED);
    } catch (...) {
      task_threw(slots_[reg].fd, t, holds(reg, t));
    }
  }
  rearm_.clear();
  return true;
}

void UringScheduler::recycle(uint16_t bid) {
  io_uring_buf_ring_add(buf_ring_, bufs_ + size_t{bid} * opts_.buffer_size, opts_.buffer_size, bid,
                        io_uring_buf_ring_mask(opts_.buffers), static_cast<int>(recycled_++));
}

void UringScheduler::dispatch(uint64_t user_data, int res, uint32_t flags) {
  const auto op = static_cast<Op>(user_data >> 32);
  const auto r = static_cast<Reg>(user_data);
  const bool more = flags & IORING_CQE_F_MORE;
  switch (op) {
    case kCancelRecv:
    case kCancelAccept:
    case kPollRemove:
    case kPollOutRemove: {
      // EALREADY: the target is running and may not end by itself.
      const Slot& s = slots_[r];
      const bool armed = op == kCancelRecv     ? s.receiving
                         : op == kCancelAccept ? s.accepting
                         : op == kPollRemove   ? s.polling
                                               : s.polling_out;
      if (res == -EALREADY && armed) cancel(r, op);
      done(r);
      return;
    }
    case kPollUpdate:
    case kClose:
      done(r);
      return;
    case kWake:
      drain_wake();
      if (!more) arm_wake();
      return;
    case kRecv:
      on_recv(r, res, flags);
      return;
    default:
      break;
  }
  Task* t = slots_[r].task;
  const int fd = slots_[r].fd;
  auto live = [&] { return t && slots_[r].task == t && !slots_[r].releasing; };
  try {
    switch (op) {
      case kPoll:
        if (!more) slots_[r].polling = false;
        if (live() && res > 0) {
          const auto ev = static_cast<uint32_t>(res);
          events_of(t) = ev;
          if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) t->on_readable();
          if (live() && (ev & EPOLLOUT)) t->on_writable();
        }
        // A multishot poll can end without being asked (its completion
        // queue overflowed): armed again while the task is registered.
        if (!more && live() && res >= 0 && !slots_[r].polling) arm_poll(r);
        break;
      case kAccept:
        if (!more) slots_[r].accepting = false;
        if (live()) {
          if (res != -ECANCELED) t->on_accepted(res);
        } else if (res >= 0) {
          ::close(res);  // accepted as the listener went: nobody owns it
        }
        if (!more && live() && !slots_[r].accepting && !slots_[r].accept_ending) arm_accept(r);
        break;
      case kSend:
        if (live()) t->on_sent(res);
        break;
      case kRead:
        if (live()) t->on_file_read(res);
        break;
      case kPollOut:
        slots_[r].polling_out = false;
        // An error too: the task's next write meets it (or waits again).
        if (live()) t->on_writable();
        break;
      default:
        break;
    }
  } catch (...) {
    task_threw(fd, t, live());
  }
  // After the catch: a throwing last on_accepted() must not keep the
  // listener from ending.
  if (op == kAccept && !more && live() && slots_[r].accept_ending && !slots_[r].accepting) accept_ended(r);
  if (op == kSend || op == kRead || op == kPollOut || !more) done(r);
}

void UringScheduler::on_recv(Reg r, int res, uint32_t flags) {
  const bool more = flags & IORING_CQE_F_MORE;
  Task* t = slots_[r].task;
  const int fd = slots_[r].fd;
  auto live = [&] { return t && slots_[r].task == t && !slots_[r].releasing; };
  if (!more) slots_[r].receiving = false;
  try {
    if (flags & IORING_CQE_F_BUFFER) {
      const auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      // Back to the ring at the end of the turn, whatever the task does.
      recycle(bid);
      if (res > 0 && live()) {
        const std::string_view bytes(bufs_ + size_t{bid} * opts_.buffer_size, static_cast<size_t>(res));
        [[maybe_unused]] const size_t took = t->on_received(bytes);
#ifndef NDEBUG
        if (took != bytes.size() && slots_[r].task == t) {
          std::fprintf(stderr,
                       "hellepoll: task '%.*s' (fd %d) took %zu of %zu received bytes; the rest "
                       "would be lost when the buffer goes back to the ring\n",
                       static_cast<int>(t->task_name().size()), t->task_name().data(), fd, took,
                       bytes.size());
          std::abort();
        }
#endif
      }
    }
    if (!more && live()) {
      if (res == 0) {
        t->on_receive_end(0);  // the peer's FIN
      } else if (res < 0 && res != -ENOBUFS && res != -ECANCELED) {
        t->on_receive_end(-res);
      } else if (slots_[r].want_receive) {
        rearm_.push_back({r, t});  // out of buffers, or ended while wanted: again
      } else {
        // stop_receiving() took effect: nothing more comes. A receive that
        // ended by itself after it was called (out of buffers, a full
        // completion queue) counts the same: its cancel will find nothing.
        t->on_receive_end(ECANCELED);
      }
    }
  } catch (...) {
    task_threw(fd, t, live());
  }
  if (!more) done(r);
}

}  // namespace hellepoll
