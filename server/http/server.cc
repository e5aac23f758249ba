#include "server/http/server.h"

namespace hellepoll::http {

template class Connection<LtWrite>;
template class Connection<LtWritev>;
template class Connection<EtWrite>;
template class Connection<EtWritev>;
template class HttpServer<LtWrite>;
template class HttpServer<LtWritev>;
template class HttpServer<EtWrite>;
template class HttpServer<EtWritev>;

}  // namespace hellepoll::http
