#include "common/audit/merkle_frontier.h"

#include <utility>

#include "common/merkle.h"

namespace warden {

void MerkleFrontier::append(std::string_view entry) { appendLeafHash(merkle::leafHash(entry)); }

void MerkleFrontier::appendLeafHash(std::string_view leaf_hash) {
  // Binary-counter carry: two subtrees of the same size merge into their parent.
  std::string hash(leaf_hash);
  int level = 0;
  while (!nodes_.empty() && nodes_.back().level == level) {
    hash = merkle::nodeHash(nodes_.back().hash, hash);
    nodes_.pop_back();
    ++level;
  }
  nodes_.push_back(Node{std::move(hash), level});
  ++size_;
}

std::string MerkleFrontier::root() const {
  if (nodes_.empty()) return merkle::emptyRoot();
  // RFC 6962 §2.1 splits at the largest power of two below n: the leftmost complete subtree
  // is the left child of the root, the rest (recursively) the right child.
  std::string hash = nodes_.back().hash;
  for (auto it = nodes_.rbegin() + 1; it != nodes_.rend(); ++it) {
    hash = merkle::nodeHash(it->hash, hash);
  }
  return hash;
}

}  // namespace warden
