#include "proxy/registry/oci_error.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace regmirror::proxy::registry {
namespace {

TEST(OciError, MapsCodesToStatusAndBody) {
  EXPECT_EQ(http_status(OciError::kNameInvalid), 400u);
  EXPECT_EQ(http_status(OciError::kManifestUnknown), 404u);
  EXPECT_EQ(http_status(OciError::kBlobUnknown), 404u);
  EXPECT_EQ(http_status(OciError::kUnsupported), 405u);
  EXPECT_EQ(http_status(OciError::kRangeInvalid), 416u);
  EXPECT_EQ(http_status(OciError::kTooManyRequests), 429u);
  EXPECT_EQ(http_status(OciError::kUnavailable), 503u);
  auto body = nlohmann::json::parse(error_body(OciError::kNameInvalid, "bad \"name\""));
  EXPECT_EQ(body["errors"][0]["code"], "NAME_INVALID");
  EXPECT_EQ(body["errors"][0]["message"], "bad \"name\"");
  // Invalid UTF-8 from a client never breaks the JSON.
  EXPECT_NO_THROW(nlohmann::json::parse(error_body(OciError::kNameInvalid, "\xff\xfe")));
}

}  // namespace
}  // namespace regmirror::proxy::registry
