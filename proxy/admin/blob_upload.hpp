#pragma once
// PUT /admin/blobs/<digest>: streams the request body into the blob store through a 1 MiB
// buffer (so a multi-GiB layer needs no more memory than a small one); the store's commit
// verifies digest and size, so a bad or short upload never becomes visible. The committed blob
// is recorded for eviction.
#include <boost/asio/awaitable.hpp>
#include <optional>

#include "cache/digest.hpp"
#include "proxy/admin/reply.hpp"

namespace regmirror::proxy::server {
class Connection;
}

namespace regmirror::proxy::admin {

struct AdminHandlerParts;

// The answer to send, or nullopt when the client went away mid-body (nothing to answer).
boost::asio::awaitable<std::optional<Reply>> upload_blob(const AdminHandlerParts& parts,
                                                         server::Connection& connection,
                                                         cache::Digest digest);

}  // namespace regmirror::proxy::admin
