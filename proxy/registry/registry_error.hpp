#pragma once
// The one error model of the registry layer: what went wrong, as the OCI error the client gets
// (mapped to HTTP status and body in oci_error.cpp, the only place), with a message that names
// the repository, reference or digest, and Retry-After when an upstream asked for one.
// Services return Answer<T>; the handler turns an error into the response.
#include <string>

#include "config/result.hpp"
#include "proxy/registry/oci_error.hpp"

namespace regmirror::proxy::registry {

struct RegistryError {
  OciError code = OciError::kInternal;
  std::string message;  // never carries secrets
  std::string retry_after;
};

// The registry layer's name for its results: what the client will be answered.
template <class T>
using Answer = Result<T, RegistryError>;

inline RegistryError registry_error(OciError code, std::string message,
                                    std::string retry_after = {}) {
  return RegistryError{code, std::move(message), std::move(retry_after)};
}

}  // namespace regmirror::proxy::registry
