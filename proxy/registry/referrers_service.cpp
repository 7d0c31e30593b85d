#include "proxy/registry/referrers_service.hpp"

#include "cache/digest.hpp"
#include "proxy/registry/manifest_service.hpp"
#include "proxy/registry/upstream_chain.hpp"

namespace regmirror::proxy::registry {

namespace asio = boost::asio;

asio::awaitable<Answer<Referrers>> fetch_referrers(const UpstreamChain& chain, bool offline,
                                                   std::string repository, std::string digest) {
  if (!cache::Digest::parse(digest)) {
    co_return Answer<Referrers>(boost::system::in_place_error,
                                registry_error(OciError::kDigestInvalid, "invalid digest " + digest));
  }
  if (offline) {
    co_return Answer<Referrers>(
        boost::system::in_place_error,
        registry_error(OciError::kManifestUnknown,
                       "referrers of " + digest + " are not cached (offline mode)"));
  }
  // Named, not a braced list in the co_await expression: GCC 12 rejects that in coroutines.
  std::vector<std::string> accept{"Accept: application/vnd.oci.image.index.v1+json"};
  auto got = co_await chain.fetch(repository, "GET", "/referrers/" + digest, std::move(accept),
                                  kMaxManifestBytes, "referrers", OciError::kManifestUnknown,
                                  "referrers of " + digest);
  if (!got) co_return Answer<Referrers>(boost::system::in_place_error, got.error());
  Referrers out;
  out.content_type = got->response.header("content-type");
  if (out.content_type.empty()) out.content_type = "application/vnd.oci.image.index.v1+json";
  out.filters_applied = got->response.header("oci-filters-applied");
  out.body = std::move(got->response.body);
  co_return out;
}

}  // namespace regmirror::proxy::registry
