#pragma once
// Encoding of index keys and records, shared by every MetadataStore that persists bytes.
#include <optional>
#include <string>

#include "cache/metadata_store.hpp"

namespace regmirror::cache::codec {

std::string manifest_key(const Digest& digest);
std::string tag_key(const TagKey& key);
std::string tag_prefix(const std::string& registry, const std::string& repository);

// Prefixes of whole key families, for full scans.
std::string all_tags_prefix();
std::string pin_prefix();
std::string blob_prefix();
std::string pin_key(const std::string& ref);
std::string blob_key(const Digest& digest);
// The last-use order: "a\0" + 8-byte big-endian (last_access + 2^63) + digest text, so byte
// order is time order. The value is empty; the record lives under blob_key().
std::string age_prefix();
std::string age_key(std::int64_t last_access, const std::string& digest);
// (last_access, digest text) of an age_key(); nullopt for anything else.
std::optional<BlobAge> parse_age_key(const std::string& key);
// Running totals of the blob records (one key), and the marker that the age order and the
// totals were built for every record (indexes written before they existed get them at open).
std::string blob_usage_key();
// "o\0<registry>\0<repository>\0<digest>": the repository holds the digest (empty value).
std::string repository_digest_key(const std::string& registry, const std::string& repository,
                                  const Digest& digest);
std::string encode(const BlobUsage& usage);
std::optional<BlobUsage> decode_usage(const std::string& bytes);
// Referrers: "r\0<subject digest>\0<referrer digest>", so one subject's referrers are one
// prefix scan, sorted by referrer digest.
std::string referrer_prefix(const Digest& subject);
std::string referrer_key(const Digest& subject, const Digest& referrer);
// The parts of a key produced by tag_key(); nullopt for anything else.
std::optional<TagKey> parse_tag_key(const std::string& key);

std::string encode(const ManifestRecord& record);
std::string encode(const PinRecord& record);
std::string encode(const BlobRecord& record);
std::optional<PinRecord> decode_pin(const std::string& bytes);
std::optional<BlobRecord> decode_blob(const std::string& bytes);
std::string encode(const TagRecord& record);
std::optional<ManifestRecord> decode_manifest(const std::string& bytes);
std::optional<TagRecord> decode_tag(const std::string& bytes);
std::string encode(const ReferrerRecord& record);
std::optional<ReferrerRecord> decode_referrer(const std::string& bytes);

}  // namespace regmirror::cache::codec
