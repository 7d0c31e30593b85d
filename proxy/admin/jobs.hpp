#pragma once
// The admin API's jobs. Each is a blocking function (disk, RocksDB, hashing; run on the
// workers) of the parts, the request target (its query) and the JSON body (routes that take
// one), answering a status and a JSON document. One file per job; the table that routes to
// them is routes.cpp.
#include <string>
#include <string_view>

#include "proxy/admin/admin_handler.hpp"
#include "proxy/admin/reply.hpp"

namespace regmirror::proxy::admin {

using Job = Reply (*)(const AdminHandlerParts& parts, std::string_view target,
                      const std::string& body);

Reply list_cache(const AdminHandlerParts& parts, std::string_view target, const std::string& body);
Reply pin(const AdminHandlerParts& parts, std::string_view target, const std::string& body);
Reply unpin(const AdminHandlerParts& parts, std::string_view target, const std::string& body);
Reply forget_tag(const AdminHandlerParts& parts, std::string_view target, const std::string& body);
Reply upstream_states(const AdminHandlerParts& parts, std::string_view target,
                      const std::string& body);
Reply run_gc(const AdminHandlerParts& parts, std::string_view target, const std::string& body);
Reply run_blocked_gc(const AdminHandlerParts& parts, std::string_view target,
                     const std::string& body);
Reply run_bucket_gc(const AdminHandlerParts& parts, std::string_view target,
                    const std::string& body);
Reply verify(const AdminHandlerParts& parts, std::string_view target, const std::string& body);
Reply import(const AdminHandlerParts& parts, std::string_view target, const std::string& body);

}  // namespace regmirror::proxy::admin
