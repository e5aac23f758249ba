// The backend of a trigger, as a type: what a policy that names its trigger
// (http::IoPolicy) runs on.
#pragma once

#include <type_traits>

#include "server/backend/epoll.h"
#include "server/backend/uring.h"
#include "server/scheduler.h"

namespace hellepoll {

template <Trigger T>
using SchedulerFor =
    std::conditional_t<T == Trigger::kCompletion, UringScheduler,
                       EpollScheduler<T == Trigger::kEdge ? Trigger::kEdge : Trigger::kLevel>>;

}  // namespace hellepoll
