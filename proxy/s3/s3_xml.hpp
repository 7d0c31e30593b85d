#pragma once
// The little XML S3 answers with (errors, listings, multipart ids): flat element extraction,
// enough for these fixed, non-recursive documents. Not a general XML parser.
#include <string>
#include <string_view>
#include <vector>

namespace regmirror::proxy::s3 {

// The inner text of every <tag>...</tag> in `xml`, entity-decoded (&amp; &lt; &gt; &quot;
// &apos; and numeric). Nested elements are returned as raw text (use it for <Contents>).
std::vector<std::string> xml_values(std::string_view xml, std::string_view tag);
// The first such value, or "".
std::string xml_value(std::string_view xml, std::string_view tag);
// Escapes text for an XML element body.
std::string xml_escape(std::string_view text);
// Percent-decoding (listings ask for encoding-type=url so any key survives the XML).
std::string url_decode(std::string_view text);

}  // namespace regmirror::proxy::s3
