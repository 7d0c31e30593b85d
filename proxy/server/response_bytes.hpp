#pragma once
// A response as the bytes that go on the wire, in one buffer: status line, fields, blank line,
// then the body. Every answer leaves through one write of these bytes (one TLS record, or one
// send(2) on plain TCP) instead of Beast's serializer, whose buffer-sequence iterators and
// composed write cost about a tenth of the CPU of a cached manifest (bench/README.md).
#include <boost/beast/http/message.hpp>
#include <string>
#include <string_view>

namespace regmirror::proxy::server {

std::string serialized_response(const boost::beast::http::response_header<>& head,
                                std::string_view body = {});

}  // namespace regmirror::proxy::server
