// Asio and Beast are header-only by default; with *_SEPARATE_COMPILATION their implementation
// is compiled once, here, instead of in every translation unit that includes them.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
