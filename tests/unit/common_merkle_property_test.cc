// common/merkle.h against an independent implementation of RFC 6962's MTH on crypto::sha256:
// incremental roots, every inclusion and consistency proof in trees of up to 64 entries, and
// proofs for past sizes of a larger tree.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/crypto/hash.h"
#include "common/merkle.h"

namespace warden::merkle {
namespace {

using Proof = std::vector<std::string>;

// ---- An independent MTH, straight from RFC 6962 §2.1, on crypto::sha256
// ---------------------------

std::string refLeaf(std::string_view entry) {
  return crypto::sha256(std::string(1, '\0') + std::string(entry));
}

std::string refMth(const std::vector<std::string>& leaf_hashes, std::size_t begin,
                   std::size_t end) {
  const std::size_t n = end - begin;
  if (n == 0) return crypto::sha256("");
  if (n == 1) return leaf_hashes[begin];
  std::size_t k = 1;
  while (k * 2 < n) k *= 2;
  return crypto::sha256(std::string(1, '\1') + refMth(leaf_hashes, begin, begin + k) +
                        refMth(leaf_hashes, begin + k, end));
}

std::string entry(std::uint64_t i) { return "warden/test-entry\n" + std::to_string(i * 7919); }
// ---- Properties against the independent implementation ----------------------------------------

TEST(MerkleProperty, IncrementalRootsMatchReferenceUpTo300) {
  std::vector<std::string> leaves;
  MerkleTree tree;
  for (std::uint64_t n = 0; n <= 300; ++n) {
    ASSERT_EQ(tree.root(), refMth(leaves, 0, n)) << n;
    ASSERT_EQ(rootFromLeafHashes(leaves), tree.root()) << n;
    leaves.push_back(refLeaf(entry(n)));
    tree.append(entry(n));
  }
  MerkleTree reloaded;
  for (std::uint64_t n = 0; n <= 300; ++n) {
    ASSERT_EQ(*tree.rootAt(n), refMth(leaves, 0, n)) << n;
    ASSERT_EQ(reloaded.root(), *tree.rootAt(n)) << n;
    if (n < 300) {
      ASSERT_TRUE(reloaded.appendLeafHash(leaves[n]).ok());
    }
  }
}

TEST(MerkleProperty, EveryInclusionProofUpTo64Verifies) {
  std::vector<std::string> leaves;
  MerkleTree tree;
  for (std::uint64_t i = 0; i < 64; ++i) {
    leaves.push_back(refLeaf(entry(i)));
    tree.append(entry(i));
  }
  auto accessor = [&](std::uint64_t i) { return leaves[i]; };
  std::vector<std::string> roots;
  for (std::uint64_t n = 0; n <= 64; ++n) roots.push_back(refMth(leaves, 0, n));
  for (std::uint64_t size = 1; size <= 64; ++size) {
    const std::string& root = roots[size];
    for (std::uint64_t i = 0; i < size; ++i) {
      SCOPED_TRACE(testing::Message() << "leaf " << i << " of " << size);
      std::vector<std::string> proof = *tree.inclusionProof(i, size);
      ASSERT_EQ(proof, *inclusionProof(i, size, accessor));
      ASSERT_EQ(proof.size(), inclusionProofLength(i, size));
      ASSERT_TRUE(verifyInclusion(i, size, leaves[i], proof, root).ok());
      // Another leaf or index, or the tree at another size, must not verify. (The same root
      // claimed for another size can: the verifier checks a (size, root) pair, as a checkpoint
      // signs it.)
      EXPECT_FALSE(verifyInclusion(i, size, leaves[(i + 1) % 64], proof, root).ok());
      if (size > 1) {
        EXPECT_FALSE(verifyInclusion((i + 1) % size, size, leaves[i], proof, root).ok());
      }
      if (size < 64) {
        EXPECT_FALSE(verifyInclusion(i, size + 1, leaves[i], proof, roots[size + 1]).ok());
      }
      if (i + 1 < size) {
        EXPECT_FALSE(verifyInclusion(i, size - 1, leaves[i], proof, roots[size - 1]).ok());
      }
      EXPECT_FALSE(verifyInclusion(i, size * 2, leaves[i], proof, root).ok());
      for (std::size_t p = 0; p < proof.size(); ++p) {
        std::vector<std::string> flipped = proof;
        flipped[p][(i + p) % kHashSize] ^= static_cast<char>(1 << (p % 8));
        EXPECT_FALSE(verifyInclusion(i, size, leaves[i], flipped, root).ok()) << p;
      }
      std::string bad_root = root;
      bad_root[i % kHashSize] ^= 1;
      EXPECT_FALSE(verifyInclusion(i, size, leaves[i], proof, bad_root).ok());
    }
  }
}

TEST(MerkleProperty, EveryConsistencyProofUpTo64Verifies) {
  std::vector<std::string> leaves;
  MerkleTree tree;
  for (std::uint64_t i = 0; i < 64; ++i) {
    leaves.push_back(refLeaf(entry(i)));
    tree.append(entry(i));
  }
  auto accessor = [&](std::uint64_t i) { return leaves[i]; };
  std::vector<std::string> roots;
  for (std::uint64_t n = 0; n <= 64; ++n) roots.push_back(refMth(leaves, 0, n));
  for (std::uint64_t m = 0; m <= 64; ++m) {
    for (std::uint64_t n = m; n <= 64; ++n) {
      SCOPED_TRACE(testing::Message() << m << " -> " << n);
      std::vector<std::string> proof = *tree.consistencyProof(m, n);
      ASSERT_EQ(proof, *consistencyProof(m, n, accessor));
      ASSERT_EQ(proof.size(), consistencyProofLength(m, n));
      ASSERT_TRUE(verifyConsistency(m, n, roots[m], roots[n], proof).ok());
      if (m != 0 && m != n) {
        // Another old or new tree must not verify. (Anything extends the empty tree.)
        EXPECT_FALSE(verifyConsistency(m, n, roots[m - 1], roots[n], proof).ok());
        EXPECT_FALSE(verifyConsistency(m, n, roots[m], roots[n - 1], proof).ok());
        if (n < 64) {
          EXPECT_FALSE(verifyConsistency(m, n + 1, roots[m], roots[n + 1], proof).ok());
        }
        if (m + 1 < n) {
          EXPECT_FALSE(verifyConsistency(m + 1, n, roots[m + 1], roots[n], proof).ok());
        }
      }
      for (std::size_t p = 0; p < proof.size(); ++p) {
        std::vector<std::string> flipped = proof;
        flipped[p][(m + n + p) % kHashSize] ^= static_cast<char>(1 << (p % 8));
        EXPECT_FALSE(verifyConsistency(m, n, roots[m], roots[n], flipped).ok()) << p;
      }
    }
  }
}

// Proofs from a big tree for past sizes, checked against roots the tree had at the time.
TEST(MerkleProperty, PastSizesInALargerTree) {
  constexpr std::uint64_t kSize = 5000;
  MerkleTree tree;
  std::vector<std::string> roots = {tree.root()};
  for (std::uint64_t i = 0; i < kSize; ++i) {
    tree.append(entry(i));
    roots.push_back(tree.root());
  }
  for (std::uint64_t size = 1; size <= kSize; size += 97) {
    ASSERT_EQ(*tree.rootAt(size), roots[size]) << size;
    for (std::uint64_t i = 0; i < size; i += 131) {
      std::vector<std::string> proof = *tree.inclusionProof(i, size);
      ASSERT_TRUE(verifyInclusion(i, size, leafHash(entry(i)), proof, roots[size]).ok())
          << i << "/" << size;
    }
    for (std::uint64_t newer = size; newer <= kSize; newer += 401) {
      std::vector<std::string> proof = *tree.consistencyProof(size, newer);
      ASSERT_TRUE(verifyConsistency(size, newer, roots[size], roots[newer], proof).ok())
          << size << " -> " << newer;
    }
  }
  // Every leaf of the full tree.
  const std::string root = tree.root();
  for (std::uint64_t i = 0; i < kSize; ++i) {
    ASSERT_TRUE(
        verifyInclusion(i, kSize, leafHash(entry(i)), *tree.inclusionProof(i, kSize), root).ok())
        << i;
  }
}

}  // namespace
}  // namespace warden::merkle
