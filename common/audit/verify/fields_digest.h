// What a request asked for beyond its kind and hosts, kept small: the verifier remembers it for
// every request, to check each dispatch against it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace warden::audit_verify {

// What a request asked for, beyond its kind and hosts, normalized as the controller does before
// it dispatches (common/request_lists.h): a 16-byte SHA-256 prefix of the incident, args, allow
// list and addresses, so that memory stays small per request (32 bytes in all); and a cheap
// in-process 32-bit hash per field, only to name the field that differs in an error message
// (the SHA-256 prefix alone decides whether they match).
struct FieldsDigest {
  std::array<char, 16> all{};
  std::array<std::uint32_t, 4> field{};  // incident, args, allow, addresses
};

inline constexpr std::array<const char*, 4> kFieldNames = {
    "incident (version 1: reason)", "argument list", "allow list", "address list"};

// `scratch` is the caller's buffer, reused so that no entry allocates for it.
FieldsDigest digestFields(std::string& scratch, std::string_view incident,
                          const std::vector<std::string>& args,
                          const std::vector<std::string>& allow,
                          const std::vector<std::string>& addresses);

}  // namespace warden::audit_verify
