// The action log's Merkle tree: RFC 6962 §2.1 / RFC 9162 §2.1 over SHA-256, as Certificate
// Transparency and the transparency-dev / Go checksum-database tooling compute it, so standard
// tools agree with our roots and proofs byte for byte.
//
//   leaf hash  = SHA-256(0x00 || entry)              (RFC 9162 §2.1.1)
//   node hash  = SHA-256(0x01 || left || right)
//   empty root = SHA-256("")
//
// Hashes are raw 32-byte std::string values, like crypto::sha256. Proofs are lists of such
// hashes, ordered from the leaf (or the old tree) towards the root, exactly as RFC 9162 §2.1.3.1
// and §2.1.4.1 define them.
//
// Verification failures are absl::InvalidArgumentError with a reason: "out of range", "wrong
// proof length", "malformed hash" or "root mismatch".
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warden::merkle {

inline constexpr std::size_t kHashSize = 32;

// SHA-256(0x00 || entry) — RFC 9162 §2.1.1.
std::string leafHash(std::string_view entry);
// SHA-256(0x01 || left || right) — RFC 9162 §2.1.1. Both arguments are 32-byte hashes.
std::string nodeHash(std::string_view left, std::string_view right);
// MTH({}) = SHA-256("").
std::string emptyRoot();

// MTH(D[n]) (RFC 6962 §2.1 / RFC 9162 §2.1.1) of a list of leaf hashes: split at the largest
// power of two smaller than n. O(n).
std::string rootFromLeafHashes(std::span<const std::string> leaf_hashes);

// Returns the leaf hash at a 0-based index (< the tree size being proved).
using LeafHashAccessor = absl::FunctionRef<std::string(std::uint64_t)>;

// PATH(m, D[n]) — the audit path of RFC 9162 §2.1.3.1, leaf to root. Stateless: recomputes the
// subtree hashes from the leaves, O(n); use MerkleTree for large trees.
absl::StatusOr<std::vector<std::string>> inclusionProof(std::uint64_t leaf_index,
                                                        std::uint64_t tree_size,
                                                        LeafHashAccessor leaf_hash);
// PROOF(m, D[n]) — the consistency proof of RFC 9162 §2.1.4.1 for 0 < old_size <= new_size
// (empty when old_size == new_size, and for old_size == 0). Stateless, O(n).
absl::StatusOr<std::vector<std::string>> consistencyProof(std::uint64_t old_size,
                                                          std::uint64_t new_size,
                                                          LeafHashAccessor leaf_hash);

// Number of hashes in PATH(leaf_index, D[tree_size]) / PROOF(old_size, D[new_size]).
std::size_t inclusionProofLength(std::uint64_t leaf_index, std::uint64_t tree_size);
std::size_t consistencyProofLength(std::uint64_t old_size, std::uint64_t new_size);

// The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1-3 and the sn == 0 check).
absl::StatusOr<std::string> rootFromInclusionProof(std::uint64_t leaf_index,
                                                   std::uint64_t tree_size,
                                                   std::string_view leaf_hash,
                                                   std::span<const std::string> proof);
// OK when `proof` shows the leaf with hash `leaf_hash` at `leaf_index` in the tree of
// `tree_size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
absl::Status verifyInclusion(std::uint64_t leaf_index, std::uint64_t tree_size,
                             std::string_view leaf_hash, std::span<const std::string> proof,
                             std::string_view root);
// OK when the tree with root `new_root` at `new_size` extends the tree with root `old_root` at
// `old_size` (RFC 9162 §2.1.4.2). Edge cases, as in transparency-dev/merkle except where noted:
//   old_size > new_size          -> error
//   old_size == new_size         -> proof must be empty and the roots equal
//   old_size == 0 < new_size     -> proof must be empty, and (stricter than transparency-dev,
//                                   which ignores it) old_root must be SHA-256("")
absl::Status verifyConsistency(std::uint64_t old_size, std::uint64_t new_size,
                               std::string_view old_root, std::string_view new_root,
                               std::span<const std::string> proof);

// An append-only Merkle tree kept in memory, for a log of millions of entries.
//
// Keeps every leaf hash, the hashes of completed subtrees at every second level (2^2, 2^4, ...
// leaves; about n/3 extra hashes), and the frontier — the roots of the complete subtrees along
// the right edge — so that:
//   append / appendLeafHash   O(1) amortised hashing (plus O(log n) worst case)
//   root()                    O(log n)
//   rootAt, proofs            O(log n) subtree lookups, each at most one extra hash
// Memory is about 43 bytes per leaf. Not internally synchronised: const methods may run
// concurrently with each other, not with append.
class MerkleTree {
 public:
  using Hash = std::array<std::uint8_t, kHashSize>;

  MerkleTree() = default;

  std::uint64_t size() const { return leaves_.size(); }
  // Hashes and appends an entry; returns its 0-based index.
  std::uint64_t append(std::string_view entry);
  // Appends an already computed leaf hash (e.g. when reloading a log from storage).
  absl::StatusOr<std::uint64_t> appendLeafHash(std::string_view leaf_hash);

  absl::StatusOr<std::string> leafHashAt(std::uint64_t index) const;
  // MTH of the whole tree.
  std::string root() const;
  // MTH of the first `tree_size` leaves (any size up to size()).
  absl::StatusOr<std::string> rootAt(std::uint64_t tree_size) const;
  // RFC 9162 §2.1.3.1 audit path of `leaf_index` in the tree of the first `tree_size` leaves.
  absl::StatusOr<std::vector<std::string>> inclusionProof(std::uint64_t leaf_index,
                                                          std::uint64_t tree_size) const;
  // RFC 9162 §2.1.4.1 consistency proof between two past (or current) sizes.
  absl::StatusOr<std::vector<std::string>> consistencyProof(std::uint64_t old_size,
                                                            std::uint64_t new_size) const;

 private:
  // Completed subtrees are cached at levels kCacheStride, 2 * kCacheStride, ...; a lookup at
  // another level hashes up from the cached level below it (one hash when the stride is 2).
  static constexpr int kCacheStride = 2;

  // Hash of the complete subtree of 2^level leaves starting at leaf index << level.
  Hash subtree(int level, std::uint64_t index) const;
  // MTH(D[begin:end]) for a range that the RFC recursion produces (begin aligned).
  Hash rangeHash(std::uint64_t begin, std::uint64_t end) const;
  void push(const Hash& leaf);

  std::vector<Hash> leaves_;
  // cache_[j][i] = subtree(kCacheStride * (j + 1), i), for every completed such subtree.
  std::vector<std::vector<Hash>> cache_;
  // frontier_[k] = root of the complete right-edge subtree of 2^k leaves, valid when bit k of
  // size() is set.
  std::array<Hash, 64> frontier_{};
};

}  // namespace warden::merkle
