#include "config/result.hpp"

#include <stdexcept>

namespace regmirror {

void throw_exception_from_error(const MessageError& error, const boost::source_location&) {
  throw std::runtime_error(error.message);
}

}  // namespace regmirror
