#include "common/merkle.h"

#include <openssl/evp.h>

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>

#include "absl/strings/str_format.h"

namespace warden::merkle {
namespace {

using Hash = MerkleTree::Hash;
using RangeHash = absl::FunctionRef<std::string(std::uint64_t, std::uint64_t)>;

constexpr unsigned char kLeafPrefix = 0x00;  // RFC 9162 §2.1.1
constexpr unsigned char kNodePrefix = 0x01;

[[noreturn]] void hashFailure() {
  // SHA-256 through EVP only fails when OpenSSL cannot allocate; a log must never continue with
  // a made-up hash.
  std::fputs("warden: merkle: SHA-256 failed\n", stderr);
  std::abort();
}

const EVP_MD* sha256Md() {
  // Fetched once: the implicit fetch inside EVP_Digest(EVP_sha256()) costs more than hashing
  // 65 bytes.
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) hashFailure();
    return fetched;
  }();
  return md;
}

struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// SHA-256 over the concatenation of `parts`, into `out` (32 bytes). One context per thread,
// bound to SHA-256 once and reset for each digest.
void digest(std::initializer_list<std::string_view> parts, unsigned char* out) {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx = [] {
    std::unique_ptr<EVP_MD_CTX, CtxFree> c(EVP_MD_CTX_new());
    if (c == nullptr || EVP_DigestInit_ex2(c.get(), sha256Md(), nullptr) != 1) hashFailure();
    return c;
  }();
  if (EVP_DigestInit_ex2(ctx.get(), nullptr, nullptr) != 1) hashFailure();
  for (std::string_view part : parts) {
    if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) hashFailure();
  }
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out, &len) != 1 || len != kHashSize) hashFailure();
}

std::string_view view(const Hash& h) {
  return std::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

std::string toString(const Hash& h) { return std::string(view(h)); }

Hash toHash(std::string_view s) {
  Hash h;
  std::memcpy(h.data(), s.data(), kHashSize);
  return h;
}

const std::string_view kLeafPrefixView(reinterpret_cast<const char*>(&kLeafPrefix), 1);
const std::string_view kNodePrefixView(reinterpret_cast<const char*>(&kNodePrefix), 1);

Hash leafHashRaw(std::string_view entry) {
  Hash h;
  digest({kLeafPrefixView, entry}, h.data());
  return h;
}

Hash nodeHashRaw(const Hash& left, const Hash& right) {
  // 0x01 || left || right in one buffer: one update is measurably cheaper than three.
  std::array<char, 1 + 2 * kHashSize> buf;
  buf[0] = static_cast<char>(kNodePrefix);
  std::memcpy(buf.data() + 1, left.data(), kHashSize);
  std::memcpy(buf.data() + 1 + kHashSize, right.data(), kHashSize);
  Hash h;
  digest({std::string_view(buf.data(), buf.size())}, h.data());
  return h;
}

// The largest power of two smaller than n, n >= 2 (RFC 9162 §2.1.1's k).
std::uint64_t splitPoint(std::uint64_t n) { return std::bit_floor(n - 1); }

// PATH(m, D[begin:end]) of RFC 9162 §2.1.3.1, appended leaf to root.
void auditPath(std::uint64_t m, std::uint64_t begin, std::uint64_t end, RangeHash mth,
               std::vector<std::string>& out) {
  const std::uint64_t n = end - begin;
  if (n <= 1) return;  // PATH(0, {d(0)}) = {}
  const std::uint64_t k = splitPoint(n);
  if (m < k) {
    auditPath(m, begin, begin + k, mth, out);  // PATH(m, D[0:k]) : MTH(D[k:n])
    out.push_back(mth(begin + k, end));
  } else {
    auditPath(m - k, begin + k, end, mth, out);  // PATH(m - k, D[k:n]) : MTH(D[0:k])
    out.push_back(mth(begin, begin + k));
  }
}

// SUBPROOF(m, D[begin:end], b) of RFC 9162 §2.1.4.1.
void subproof(std::uint64_t m, std::uint64_t begin, std::uint64_t end, bool b, RangeHash mth,
              std::vector<std::string>& out) {
  const std::uint64_t n = end - begin;
  if (m == n) {
    if (!b) out.push_back(mth(begin, end));  // SUBPROOF(m, D[m], false) = {MTH(D[m])}
    return;                                  // SUBPROOF(m, D[m], true) = {}
  }
  const std::uint64_t k = splitPoint(n);
  if (m <= k) {
    subproof(m, begin, begin + k, b, mth, out);  // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
    out.push_back(mth(begin + k, end));
  } else {
    subproof(m - k, begin + k, end, false, mth, out);  // SUBPROOF(m - k, D[k:n], false) :
    out.push_back(mth(begin, begin + k));              //   MTH(D[0:k])
  }
}

absl::Status checkHash(std::string_view h, std::string_view what) {
  if (h.size() != kHashSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "merkle: malformed hash: %s is %d bytes, want %d", what, h.size(), kHashSize));
  }
  return absl::OkStatus();
}

absl::Status checkProofHashes(std::span<const std::string> proof) {
  for (std::size_t i = 0; i < proof.size(); ++i) {
    if (proof[i].size() != kHashSize) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "merkle: malformed hash: proof[%d] is %d bytes, want %d", i, proof[i].size(), kHashSize));
    }
  }
  return absl::OkStatus();
}

absl::Status checkProofLength(std::string_view kind, std::size_t got, std::size_t want) {
  if (got != want) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "merkle: wrong proof length: %s proof has %d hashes, want %d", kind, got, want));
  }
  return absl::OkStatus();
}

absl::Status checkSizes(std::uint64_t old_size, std::uint64_t new_size) {
  if (old_size > new_size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("merkle: out of range: old tree size %d is larger than new tree size %d",
                        old_size, new_size));
  }
  return absl::OkStatus();
}

}  // namespace

std::string nodeHash(std::string_view left, std::string_view right) {
  Hash h;
  digest({kNodePrefixView, left, right}, h.data());
  return toString(h);
}

namespace {

// MTH(D[begin:end]) straight from the definition (RFC 9162 §2.1.1), from leaf hashes. Works on
// the accessor's strings as given, so a malformed (not 32-byte) leaf hash cannot cause an
// out-of-bounds read; it just yields a root nothing matches.
std::string naiveRange(std::uint64_t begin, std::uint64_t end, LeafHashAccessor leaf) {
  const std::uint64_t n = end - begin;
  if (n == 1) return leaf(begin);
  const std::uint64_t k = splitPoint(n);
  return nodeHash(naiveRange(begin, begin + k, leaf), naiveRange(begin + k, end, leaf));
}

}  // namespace

std::string leafHash(std::string_view entry) { return toString(leafHashRaw(entry)); }

std::string emptyRoot() {
  Hash h;
  digest({}, h.data());
  return toString(h);
}

std::string rootFromLeafHashes(std::span<const std::string> leaf_hashes) {
  if (leaf_hashes.empty()) return emptyRoot();
  return naiveRange(0, leaf_hashes.size(),
                    [&](std::uint64_t i) { return std::string(leaf_hashes[i]); });
}

absl::StatusOr<std::vector<std::string>> inclusionProof(std::uint64_t leaf_index,
                                                        std::uint64_t tree_size,
                                                        LeafHashAccessor leaf_hash) {
  if (leaf_index >= tree_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "merkle: out of range: leaf index %d in a tree of size %d", leaf_index, tree_size));
  }
  std::vector<std::string> out;
  auditPath(
      leaf_index, 0, tree_size,
      [&](std::uint64_t b, std::uint64_t e) { return naiveRange(b, e, leaf_hash); }, out);
  return out;
}

absl::StatusOr<std::vector<std::string>> consistencyProof(std::uint64_t old_size,
                                                          std::uint64_t new_size,
                                                          LeafHashAccessor leaf_hash) {
  if (absl::Status s = checkSizes(old_size, new_size); !s.ok()) return s;
  std::vector<std::string> out;
  if (old_size == 0) return out;  // the empty tree is a prefix of every tree
  subproof(
      old_size, 0, new_size, true,
      [&](std::uint64_t b, std::uint64_t e) { return naiveRange(b, e, leaf_hash); }, out);
  return out;
}

std::size_t inclusionProofLength(std::uint64_t leaf_index, std::uint64_t tree_size) {
  // One hash per split on the way down from the root to the leaf (RFC 9162 §2.1.3.1).
  std::size_t len = 0;
  while (tree_size > 1) {
    const std::uint64_t k = splitPoint(tree_size);
    if (leaf_index < k) {
      tree_size = k;
    } else {
      leaf_index -= k;
      tree_size -= k;
    }
    ++len;
  }
  return len;
}

std::size_t consistencyProofLength(std::uint64_t old_size, std::uint64_t new_size) {
  // Follows SUBPROOF (RFC 9162 §2.1.4.1) without hashing.
  if (old_size == 0 || old_size >= new_size) return 0;
  std::size_t len = 0;
  bool b = true;
  while (old_size != new_size) {
    const std::uint64_t k = splitPoint(new_size);
    if (old_size <= k) {
      new_size = k;
    } else {
      old_size -= k;
      new_size -= k;
      b = false;
    }
    ++len;
  }
  return len + (b ? 0 : 1);
}

absl::StatusOr<std::string> rootFromInclusionProof(std::uint64_t leaf_index,
                                                   std::uint64_t tree_size,
                                                   std::string_view leaf_hash,
                                                   std::span<const std::string> proof) {
  // RFC 9162 §2.1.3.2 step 1.
  if (leaf_index >= tree_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "merkle: out of range: leaf index %d in a tree of size %d", leaf_index, tree_size));
  }
  if (absl::Status s = checkHash(leaf_hash, "leaf hash"); !s.ok()) return s;
  if (absl::Status s = checkProofHashes(proof); !s.ok()) return s;
  if (absl::Status s =
          checkProofLength("inclusion", proof.size(), inclusionProofLength(leaf_index, tree_size));
      !s.ok()) {
    return s;
  }
  // Step 2.
  std::uint64_t fn = leaf_index;
  std::uint64_t sn = tree_size - 1;
  Hash r = toHash(leaf_hash);
  // Step 3.
  for (const std::string& p : proof) {
    if (sn == 0) {  // 3a; the length check above already rules this out
      return absl::InvalidArgumentError("merkle: wrong proof length: inclusion proof too long");
    }
    const Hash ph = toHash(p);
    if ((fn & 1) != 0 || fn == sn) {  // 3b
      r = nodeHashRaw(ph, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {  // 3b, otherwise
      r = nodeHashRaw(r, ph);
    }
    fn >>= 1;  // 3c
    sn >>= 1;
  }
  // Step 4: sn must be 0 (the length check above makes this hold).
  if (sn != 0) {
    return absl::InvalidArgumentError("merkle: wrong proof length: inclusion proof too short");
  }
  return toString(r);
}

absl::Status verifyInclusion(std::uint64_t leaf_index, std::uint64_t tree_size,
                             std::string_view leaf_hash, std::span<const std::string> proof,
                             std::string_view root) {
  if (absl::Status s = checkHash(root, "root"); !s.ok()) return s;
  absl::StatusOr<std::string> computed =
      rootFromInclusionProof(leaf_index, tree_size, leaf_hash, proof);
  if (!computed.ok()) return computed.status();
  if (*computed != root) {  // RFC 9162 §2.1.3.2 step 4
    return absl::InvalidArgumentError(absl::StrFormat(
        "merkle: root mismatch: inclusion proof for leaf %d of %d does not lead to the root",
        leaf_index, tree_size));
  }
  return absl::OkStatus();
}

absl::Status verifyConsistency(std::uint64_t old_size, std::uint64_t new_size,
                               std::string_view old_root, std::string_view new_root,
                               std::span<const std::string> proof) {
  if (absl::Status s = checkSizes(old_size, new_size); !s.ok()) return s;
  if (absl::Status s = checkHash(old_root, "old root"); !s.ok()) return s;
  if (absl::Status s = checkHash(new_root, "new root"); !s.ok()) return s;
  if (absl::Status s = checkProofHashes(proof); !s.ok()) return s;
  if (absl::Status s =
          checkProofLength("consistency", proof.size(), consistencyProofLength(old_size, new_size));
      !s.ok()) {
    return s;
  }
  if (old_size == new_size) {
    if (old_root != new_root) {
      return absl::InvalidArgumentError(
          absl::StrFormat("merkle: root mismatch: two different roots for tree size %d", old_size));
    }
    if (old_size == 0 && old_root != emptyRoot()) {
      return absl::InvalidArgumentError(
          "merkle: root mismatch: the empty tree's root is not "
          "SHA-256(\"\")");
    }
    return absl::OkStatus();
  }
  if (old_size == 0) {
    if (old_root != emptyRoot()) {
      return absl::InvalidArgumentError(
          "merkle: root mismatch: the empty tree's root is not "
          "SHA-256(\"\")");
    }
    return absl::OkStatus();
  }

  // RFC 9162 §2.1.4.2. Step 1 (empty proof) is covered by the length check above.
  // Step 2: if first is an exact power of 2, prepend first_hash to the path.
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(old_size)) path.push_back(toHash(old_root));
  for (const std::string& c : proof) path.push_back(toHash(c));
  // Step 3.
  std::uint64_t fn = old_size - 1;
  std::uint64_t sn = new_size - 1;
  // Step 4.
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  // Step 5.
  Hash fr = path[0];
  Hash sr = path[0];
  // Step 6.
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) {  // 6a; the length check above already rules this out
      return absl::InvalidArgumentError("merkle: wrong proof length: consistency proof too long");
    }
    if ((fn & 1) != 0 || fn == sn) {  // 6b
      fr = nodeHashRaw(c, fr);
      sr = nodeHashRaw(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {  // 6b, otherwise
      sr = nodeHashRaw(sr, c);
    }
    fn >>= 1;  // 6c
    sn >>= 1;
  }
  // Step 7.
  if (sn != 0) {
    return absl::InvalidArgumentError("merkle: wrong proof length: consistency proof too short");
  }
  if (view(fr) != old_root) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "merkle: root mismatch: consistency proof %d -> %d does not lead to the old root", old_size,
        new_size));
  }
  if (view(sr) != new_root) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "merkle: root mismatch: consistency proof %d -> %d does not lead to the new root", old_size,
        new_size));
  }
  return absl::OkStatus();
}

// ---- MerkleTree ---------------------------------------------------------------------------------

std::uint64_t MerkleTree::append(std::string_view entry) {
  push(leafHashRaw(entry));
  return leaves_.size() - 1;
}

absl::StatusOr<std::uint64_t> MerkleTree::appendLeafHash(std::string_view leaf_hash) {
  if (absl::Status s = checkHash(leaf_hash, "leaf hash"); !s.ok()) return s;
  push(toHash(leaf_hash));
  return leaves_.size() - 1;
}

void MerkleTree::push(const Hash& leaf) {
  const std::uint64_t n = leaves_.size();  // index of the new leaf
  leaves_.push_back(leaf);
  // Merge with the right-edge subtrees this leaf completes, like a binary counter carrying.
  Hash h = leaf;
  int level = 0;
  while (((n >> level) & 1) != 0) {
    h = nodeHashRaw(frontier_[level], h);
    ++level;
    if (level % kCacheStride == 0) {
      const std::size_t j = level / kCacheStride - 1;
      if (cache_.size() <= j) cache_.resize(j + 1);
      cache_[j].push_back(h);
    }
  }
  frontier_[level] = h;
}

MerkleTree::Hash MerkleTree::subtree(int level, std::uint64_t index) const {
  if (level == 0) return leaves_[index];
  if (level % kCacheStride == 0) return cache_[level / kCacheStride - 1][index];
  return nodeHashRaw(subtree(level - 1, 2 * index), subtree(level - 1, 2 * index + 1));
}

MerkleTree::Hash MerkleTree::rangeHash(std::uint64_t begin, std::uint64_t end) const {
  const std::uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    return subtree(std::countr_zero(n), begin / n);
  }
  // MTH(D[n]) = H(0x01 || MTH(D[0:k]) || MTH(D[k:n])), RFC 9162 §2.1.1.
  const std::uint64_t k = splitPoint(n);
  return nodeHashRaw(rangeHash(begin, begin + k), rangeHash(begin + k, end));
}

absl::StatusOr<std::string> MerkleTree::leafHashAt(std::uint64_t index) const {
  if (index >= size()) {
    return absl::OutOfRangeError(
        absl::StrFormat("merkle: out of range: leaf index %d in a tree of size %d", index, size()));
  }
  return toString(leaves_[index]);
}

std::string MerkleTree::root() const {
  if (leaves_.empty()) return emptyRoot();
  // Fold the frontier from the smallest subtree up: MTH = H(0x01 || bigger || MTH(rest)).
  const std::uint64_t n = size();
  int level = std::countr_zero(n);
  Hash r = frontier_[level];
  for (++level; level < 64; ++level) {
    if (((n >> level) & 1) != 0) r = nodeHashRaw(frontier_[level], r);
  }
  return toString(r);
}

absl::StatusOr<std::string> MerkleTree::rootAt(std::uint64_t tree_size) const {
  if (tree_size > size()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "merkle: out of range: tree size %d, the tree has %d leaves", tree_size, size()));
  }
  if (tree_size == size()) return root();
  if (tree_size == 0) return emptyRoot();
  return toString(rangeHash(0, tree_size));
}

absl::StatusOr<std::vector<std::string>> MerkleTree::inclusionProof(std::uint64_t leaf_index,
                                                                    std::uint64_t tree_size) const {
  if (tree_size > size() || leaf_index >= tree_size) {
    return absl::OutOfRangeError(absl::StrFormat(
        "merkle: out of range: leaf index %d in a tree of size %d (the tree has %d leaves)",
        leaf_index, tree_size, size()));
  }
  std::vector<std::string> out;
  out.reserve(inclusionProofLength(leaf_index, tree_size));
  auditPath(
      leaf_index, 0, tree_size,
      [this](std::uint64_t b, std::uint64_t e) { return toString(rangeHash(b, e)); }, out);
  return out;
}

absl::StatusOr<std::vector<std::string>> MerkleTree::consistencyProof(
    std::uint64_t old_size, std::uint64_t new_size) const {
  if (absl::Status s = checkSizes(old_size, new_size); !s.ok()) return s;
  if (new_size > size()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "merkle: out of range: tree size %d, the tree has %d leaves", new_size, size()));
  }
  std::vector<std::string> out;
  if (old_size == 0) return out;
  out.reserve(consistencyProofLength(old_size, new_size));
  subproof(
      old_size, 0, new_size, true,
      [this](std::uint64_t b, std::uint64_t e) { return toString(rangeHash(b, e)); }, out);
  return out;
}

}  // namespace warden::merkle
