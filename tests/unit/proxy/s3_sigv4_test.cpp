// SigV4 against the example requests AWS publishes in its S3 signing documentation (the
// expected signatures are AWS's; nothing here contacts a network), plus the encoding rules.
#include <gtest/gtest.h>

#include "proxy/s3/s3_xml.hpp"
#include "proxy/s3/sigv4.hpp"

namespace regmirror::proxy::s3 {
namespace {

SigningCredentials aws_example() {
  return {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3"};
}

constexpr const char* kEmptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(SigV4, AwsExampleGetObjectWithRange) {
  SigV4Signer signer(aws_example());
  SignedRequest request{"GET", "/test.txt", {},
                        {{"Host", "examplebucket.s3.amazonaws.com"},
                         {"Range", "bytes=0-9"},
                         {"x-amz-content-sha256", kEmptySha},
                         {"x-amz-date", "20130524T000000Z"}},
                        kEmptySha};
  EXPECT_EQ(signer.authorization(request, "20130524T000000Z"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, AwsExamplePutObjectEncodesDollarInKey) {
  SigV4Signer signer(aws_example());
  const std::string body = "Welcome to Amazon S3.";
  SignedRequest request{"PUT", "/test$file.text", {},
                        {{"Host", "examplebucket.s3.amazonaws.com"},
                         {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                         {"x-amz-date", "20130524T000000Z"},
                         {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                         {"x-amz-content-sha256", sha256_hex(body)}},
                        sha256_hex(body)};
  EXPECT_EQ(sha256_hex(body), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  std::string signed_headers;
  auto canonical = SigV4Signer::canonical_request(request, &signed_headers);
  EXPECT_NE(canonical.find("\n/test%24file.text\n"), std::string::npos) << canonical;
  EXPECT_EQ(signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_NE(signer.authorization(request, "20130524T000000Z")
                .find("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
            std::string::npos);
}

TEST(SigV4, AwsExampleListObjectsSortsQuery) {
  SigV4Signer signer(aws_example());
  // Given out of order on purpose: the canonical query is sorted.
  SignedRequest request{"GET", "/", {{"prefix", "J"}, {"max-keys", "2"}},
                        {{"Host", "examplebucket.s3.amazonaws.com"},
                         {"x-amz-content-sha256", kEmptySha},
                         {"x-amz-date", "20130524T000000Z"}},
                        kEmptySha};
  auto canonical = SigV4Signer::canonical_request(request, nullptr);
  EXPECT_NE(canonical.find("\nmax-keys=2&prefix=J\n"), std::string::npos) << canonical;
  EXPECT_NE(signer.authorization(request, "20130524T000000Z")
                .find("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
            std::string::npos);
}

TEST(SigV4, AwsExamplePresignedGet) {
  SigV4Signer signer(aws_example());
  auto query = signer.presign_query("GET", "/test.txt", "examplebucket.s3.amazonaws.com",
                                    "20130524T000000Z", std::chrono::seconds(86400));
  EXPECT_EQ(query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
            "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
            "X-Amz-SignedHeaders=host&X-Amz-Signature="
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4, KeysKeepSlashesAndEncodeReservedCharacters) {
  EXPECT_EQ(encode_path("/bucket/a+b=c/d e~f_g.h-i"), "/bucket/a%2Bb%3Dc/d%20e~f_g.h-i");
  EXPECT_EQ(encode_path("/b/%41"), "/b/%2541");  // a literal percent is data, not an escape
  EXPECT_EQ(encode_path(""), "/");
}

TEST(SigV4, QueryValuesEncodeEverythingReserved) {
  EXPECT_EQ(canonical_query({{"prefix", "tags/docker.io/library/"}, {"delimiter", "/"}}),
            "delimiter=%2F&prefix=tags%2Fdocker.io%2Flibrary%2F");
  EXPECT_EQ(canonical_query({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(canonical_query({{"k", "a+b=c&d?e#f g"}}), "k=a%2Bb%3Dc%26d%3Fe%23f%20g");
  // Sorted by encoded key, then by value for repeated keys.
  EXPECT_EQ(canonical_query({{"b", "2"}, {"a", "z"}, {"a", "y"}}), "a=y&a=z&b=2");
}

TEST(SigV4, HeaderValuesAreTrimmedAndNamesLowered) {
  SignedRequest request{"GET", "/k", {}, {{"X-Amz-Meta-A", "  two   spaces  "}, {"host", "h"}},
                        kEmptySha};
  std::string names;
  auto canonical = SigV4Signer::canonical_request(request, &names);
  EXPECT_NE(canonical.find("x-amz-meta-a:two spaces\n"), std::string::npos) << canonical;
  EXPECT_EQ(names, "host;x-amz-meta-a");
}

TEST(SigV4, AmzDateIsUtcBasicFormat) {
  EXPECT_EQ(amz_date(std::chrono::system_clock::from_time_t(1369353600)), "20130524T000000Z");
}

TEST(S3Xml, ReadsElementsByPathAndDecodesEntities) {
  const XmlDocument error(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
      "<Message>a &amp; b &lt;c&gt; &#65;&#x42;</Message><KeyCount>3</KeyCount><Key>k1</Key></Error>");
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error.root_name(), "Error");
  EXPECT_EQ(error.text("Error/Code"), "SignatureDoesNotMatch");
  EXPECT_EQ(error.text("Error/Message"), "a & b <c> AB");
  EXPECT_EQ(error.text("Error/Key"), "k1");  // not confused with <KeyCount>
  EXPECT_EQ(error.text("Error/Missing"), "");
  EXPECT_EQ(error.text("Code"), "");  // paths start at the root element
}

TEST(S3Xml, ListingRowsFollowTheirElementsAndNamespacesDoNotMatter) {
  const XmlDocument listing(
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
      "<Contents><Key>a%2Fb</Key><Size>3</Size></Contents><IsTruncated>false</IsTruncated>"
      "<Contents><Key>c</Key><ETag>&quot;e&quot;</ETag></Contents>"
      "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes></ListBucketResult>");
  auto rows = listing.each("ListBucketResult/Contents", {"Key", "Size", "ETag"});
  ASSERT_EQ(rows.size(), 2u);  // not stopped by the <IsTruncated> between them
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a%2Fb", "3", ""}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"c", "", "\"e\""}));
  EXPECT_EQ(listing.each("ListBucketResult/CommonPrefixes", {"Prefix"}).size(), 1u);
  EXPECT_TRUE(listing.each("ListBucketResult/Nothing", {"Key"}).empty());
  EXPECT_EQ(url_decode("tags%2Fdocker.io%2Fa%3Ab"), "tags/docker.io/a:b");
}

TEST(S3Xml, MalformedOrHostileBodiesReadAsEmpty) {
  for (const char* body : {"", "not xml", "<Error><Code>x</Code>", "<a></b>",
                           "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Error><Code>&e;</Code></Error>"}) {
    const XmlDocument doc(body);
    EXPECT_EQ(doc.text("Error/Code").find("root:"), std::string::npos) << body;
    if (!doc.ok()) {
      EXPECT_EQ(doc.root_name(), "") << body;
    }
  }
  EXPECT_FALSE(XmlDocument("<Error><Code>x</Code>").ok());
}

TEST(S3Xml, CompleteMultipartBodyQuotesAndEscapesEtags) {
  EXPECT_EQ(complete_multipart_xml({"abc", "d<&>"}),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"d&lt;&amp;&gt;\"</ETag></Part>"
            "</CompleteMultipartUpload>");
}

}  // namespace
}  // namespace regmirror::proxy::s3
