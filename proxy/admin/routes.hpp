#pragma once
// The admin API's route table: method, path and (for variants of one path) a query key the
// route requires, whether it takes a JSON body, and the job that answers it.
#include <boost/beast/http/verb.hpp>
#include <string_view>

#include "proxy/admin/jobs.hpp"

namespace regmirror::proxy::admin {

struct AdminRoute {
  boost::beast::http::verb method;
  std::string_view path;
  std::string_view flag;  // a query parameter the request must carry ("": none)
  bool json_body = false;
  Job job = nullptr;
};

// The first route matching the request (variants with a flag come before the plain path);
// nullptr when none does. /admin/blobs/<digest> streams and is not in the table.
const AdminRoute* find_route(boost::beast::http::verb method, std::string_view target);

}  // namespace regmirror::proxy::admin
