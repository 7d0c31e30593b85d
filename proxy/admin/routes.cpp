#include "proxy/admin/routes.hpp"

#include <array>

namespace regmirror::proxy::admin {

namespace http = boost::beast::http;

namespace {

constexpr std::array kRoutes{
    AdminRoute{http::verb::get, "/admin/cache", "", false, &list_cache},
    AdminRoute{http::verb::post, "/admin/pins", "", true, &pin},
    AdminRoute{http::verb::delete_, "/admin/pins", "", false, &unpin},
    AdminRoute{http::verb::delete_, "/admin/tags", "", false, &forget_tag},
    AdminRoute{http::verb::get, "/admin/upstreams", "", false, &upstream_states},
    AdminRoute{http::verb::post, "/admin/gc", "s3", false, &run_bucket_gc},
    AdminRoute{http::verb::post, "/admin/gc", "blocked", false, &run_blocked_gc},
    AdminRoute{http::verb::post, "/admin/gc", "", false, &run_gc},
    AdminRoute{http::verb::post, "/admin/verify", "", false, &verify},
    AdminRoute{http::verb::post, "/admin/import", "", true, &import},
};

}  // namespace

const AdminRoute* find_route(http::verb method, std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  for (const auto& route : kRoutes) {
    if (route.method != method || route.path != path) continue;
    if (!route.flag.empty() && !query_param(target, route.flag)) continue;
    return &route;
  }
  return nullptr;
}

}  // namespace regmirror::proxy::admin
