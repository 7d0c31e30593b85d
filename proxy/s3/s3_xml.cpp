#include "proxy/s3/s3_xml.hpp"

#include <pugixml.hpp>

#include <sstream>

#include "config/reference.hpp"

namespace regmirror::proxy::s3 {
namespace {

// The element at "A/B/C" below the document, or an empty node.
pugi::xml_node element_at(const pugi::xml_document& doc, std::string_view path) {
  return doc.first_element_by_path(std::string(path).c_str(), '/');
}

}  // namespace

XmlDocument::XmlDocument(std::string_view xml) : doc_(std::make_unique<pugi::xml_document>()) {
  // No DOCTYPE or entity expansion beyond the predefined and numeric ones: pugixml never reads
  // external entities, so a hostile endpoint cannot make us fetch or expand anything.
  auto parsed = doc_->load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  ok_ = static_cast<bool>(parsed) && doc_->document_element();
  if (!ok_) doc_->reset();
}

XmlDocument::~XmlDocument() = default;
XmlDocument::XmlDocument(XmlDocument&&) noexcept = default;
XmlDocument& XmlDocument::operator=(XmlDocument&&) noexcept = default;

std::string XmlDocument::root_name() const { return doc_->document_element().name(); }

std::string XmlDocument::text(std::string_view path) const {
  return element_at(*doc_, path).text().get();
}

std::vector<std::vector<std::string>> XmlDocument::each(
    std::string_view path, const std::vector<std::string_view>& fields) const {
  std::vector<std::vector<std::string>> out;
  auto slash = path.rfind('/');
  auto first = element_at(*doc_, path);
  const std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
  for (auto node = first; node; node = node.next_sibling(name.c_str())) {
    std::vector<std::string> row;
    row.reserve(fields.size());
    for (auto field : fields) row.emplace_back(node.child(std::string(field).c_str()).text().get());
    out.push_back(std::move(row));
  }
  return out;
}

std::string complete_multipart_xml(const std::vector<std::string>& part_etags) {
  pugi::xml_document doc;
  auto root = doc.append_child("CompleteMultipartUpload");
  for (std::size_t i = 0; i < part_etags.size(); ++i) {
    auto part = root.append_child("Part");
    part.append_child("PartNumber").text().set(static_cast<unsigned long long>(i) + 1);
    part.append_child("ETag").text().set(("\"" + part_etags[i] + "\"").c_str());
  }
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

std::string url_decode(std::string_view text) {
  using config::hex_value;
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {  // '+' stays: RGW sends it literally, and our keys never hold spaces
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace regmirror::proxy::s3
