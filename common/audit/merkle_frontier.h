// The RFC 6962 root of an append-only list of leaves, kept as its frontier, for the streaming
// export writer and verifier.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace warden {

// The RFC 6962 root of an append-only list of leaves, kept as its frontier — the roots of the
// complete subtrees along the right edge, at most 64 hashes — so a streaming reader or writer
// knows the root at its current size without holding the leaves (transparency-dev's "compact
// range" of [0, n)).
class MerkleFrontier {
 public:
  std::uint64_t size() const { return size_; }
  // Appends SHA-256(0x00 || entry) (RFC 9162 §2.1.1).
  void append(std::string_view entry);
  void appendLeafHash(std::string_view leaf_hash);
  // MTH of the leaves so far; SHA-256("") when there are none.
  std::string root() const;

 private:
  struct Node {
    std::string hash;
    int level;  // the subtree holds 2^level leaves
  };
  std::vector<Node> nodes_;  // left to right, strictly decreasing levels
  std::uint64_t size_ = 0;
};

}  // namespace warden
