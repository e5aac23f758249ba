// The io_uring policies, in their own file: the two compile in parallel with
// the four epoll ones.
#include "server/http/server.h"

namespace hellepoll::http {

template class Connection<UringWrite>;
template class Connection<UringWritev>;
template class HttpServer<UringWrite>;
template class HttpServer<UringWritev>;

}  // namespace hellepoll::http
