#pragma once
// S3's XML through pugixml: answers (errors, listings, multipart ids) are parsed into a document
// and read by element path; the one request body we send (CompleteMultipartUpload) is written by
// the same library, so escaping is its job, not ours.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pugi {
class xml_document;
}

namespace regmirror::proxy::s3 {

class XmlDocument {
 public:
  // Parses `xml`. A body that is not well-formed XML (or is empty) gives a document that
  // answers "" and nothing to every lookup; ok() says which it was.
  explicit XmlDocument(std::string_view xml);
  ~XmlDocument();
  XmlDocument(XmlDocument&&) noexcept;
  XmlDocument& operator=(XmlDocument&&) noexcept;

  bool ok() const { return ok_; }
  // The root element's name ("Error", "ListBucketResult"), or "".
  std::string root_name() const;
  // The text of the first element at `path` ("Error/Code"), entities decoded, or "".
  std::string text(std::string_view path) const;
  // For every element at `path` ("ListBucketResult/Contents"), the text of each child named in
  // `fields`, in that order ("" for a missing child).
  std::vector<std::vector<std::string>> each(std::string_view path,
                                             const std::vector<std::string_view>& fields) const;

 private:
  std::unique_ptr<pugi::xml_document> doc_;
  bool ok_ = false;
};

// <CompleteMultipartUpload> naming parts 1..n with these ETags (unquoted; quoted here).
std::string complete_multipart_xml(const std::vector<std::string>& part_etags);
// Percent-decoding (listings ask for encoding-type=url so any key survives the XML).
std::string url_decode(std::string_view text);

}  // namespace regmirror::proxy::s3
