// common/merkle.h (RFC 6962 Merkle trees): hashing with domain separation, the published
// known-answer vectors of the reference tree (roots, inclusion and consistency proofs, and
// corruptions of them that must fail), edge cases and the reasons verification gives.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/merkle.h"

namespace warden::merkle {
namespace {

using ::testing::HasSubstr;
using Proof = std::vector<std::string>;

// ---- Known-answer vectors -----------------------------------------------------------------------
// The RFC 6962 reference tree used by the certificate-transparency C++/Go tests and by
// transparency-dev/merkle (proof/verify_test.go): eight leaves, the roots of every prefix, and
// the audit paths and consistency proofs published with them. Those files number leaves from 1;
// the indices below are 0-based.

const char* const kEntriesHex[] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};

const char* const kRootsHex[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  // size 0
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",  // size 8
};

struct InclusionVector {
  std::uint64_t index;
  std::uint64_t size;
  std::vector<const char*> proof;
};

const InclusionVector kInclusionVectors[] = {
    {0, 1, {}},
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

struct ConsistencyVector {
  std::uint64_t old_size;
  std::uint64_t new_size;
  std::vector<const char*> proof;
};

const ConsistencyVector kConsistencyVectors[] = {
    {1, 1, {}},
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

const char kSomeHashHex[] = "abacaba000000000000000000000000000000000000000000060061e00123456";

std::string unhex(std::string_view h) {
  absl::StatusOr<std::string> bytes = crypto::unhex(h);
  EXPECT_TRUE(bytes.ok()) << h;
  return bytes.ok() ? *bytes : std::string();
}

std::vector<std::string> unhexAll(const std::vector<const char*>& hs) {
  std::vector<std::string> out;
  for (const char* h : hs) out.push_back(unhex(h));
  return out;
}

std::vector<std::string> referenceLeafHashes() {
  std::vector<std::string> out;
  for (const char* e : kEntriesHex) out.push_back(leafHash(unhex(e)));
  return out;
}

MerkleTree referenceTree() {
  MerkleTree tree;
  for (const char* e : kEntriesHex) tree.append(unhex(e));
  return tree;
}

std::vector<std::string> with(std::vector<std::string> v, std::size_t at, std::string h) {
  v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), std::move(h));
  return v;
}
// ---- Hashing ------------------------------------------------------------------------------------

TEST(MerkleHash, EmptyRootIsSha256OfNothing) {
  EXPECT_EQ(crypto::hex(emptyRoot()), kRootsHex[0]);
  EXPECT_EQ(crypto::hex(rootFromLeafHashes({})), kRootsHex[0]);
  EXPECT_EQ(crypto::hex(MerkleTree().root()), kRootsHex[0]);
}

TEST(MerkleHash, LeafAndNodeDomainSeparation) {
  EXPECT_EQ(leafHash(""), crypto::sha256(std::string(1, '\0')));
  EXPECT_EQ(crypto::hex(leafHash("")), kRootsHex[1]);  // a 1-leaf tree's root is its leaf hash
  const std::string l = leafHash("l");
  const std::string r = leafHash("r");
  EXPECT_EQ(nodeHash(l, r), crypto::sha256(std::string(1, '\1') + l + r));
  EXPECT_NE(nodeHash(l, r), nodeHash(r, l));
  EXPECT_NE(leafHash(l + r), nodeHash(l, r));
  EXPECT_EQ(leafHash("abc").size(), kHashSize);
}

// ---- Known answers ------------------------------------------------------------------------------

TEST(MerkleKat, RootsOfEveryPrefix) {
  const std::vector<std::string> leaves = referenceLeafHashes();
  MerkleTree incremental;
  for (std::size_t n = 0; n <= leaves.size(); ++n) {
    SCOPED_TRACE(n);
    EXPECT_EQ(crypto::hex(rootFromLeafHashes(std::span(leaves).first(n))), kRootsHex[n]);
    EXPECT_EQ(crypto::hex(incremental.root()), kRootsHex[n]);
    if (n < leaves.size()) incremental.append(unhex(kEntriesHex[n]));
  }
  const MerkleTree tree = referenceTree();
  for (std::uint64_t n = 0; n <= 8; ++n) {
    absl::StatusOr<std::string> root = tree.rootAt(n);
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(crypto::hex(*root), kRootsHex[n]) << n;
  }
}

TEST(MerkleKat, InclusionProofs) {
  const std::vector<std::string> leaves = referenceLeafHashes();
  const MerkleTree tree = referenceTree();
  auto accessor = [&](std::uint64_t i) { return leaves[i]; };
  for (const InclusionVector& v : kInclusionVectors) {
    SCOPED_TRACE(testing::Message() << "leaf " << v.index << " of " << v.size);
    const std::vector<std::string> want = unhexAll(v.proof);
    absl::StatusOr<std::vector<std::string>> stateless = inclusionProof(v.index, v.size, accessor);
    ASSERT_TRUE(stateless.ok()) << stateless.status();
    EXPECT_EQ(*stateless, want);
    absl::StatusOr<std::vector<std::string>> cached = tree.inclusionProof(v.index, v.size);
    ASSERT_TRUE(cached.ok()) << cached.status();
    EXPECT_EQ(*cached, want);
    EXPECT_EQ(inclusionProofLength(v.index, v.size), want.size());

    const std::string root = unhex(kRootsHex[v.size]);
    absl::StatusOr<std::string> computed =
        rootFromInclusionProof(v.index, v.size, leaves[v.index], want);
    ASSERT_TRUE(computed.ok()) << computed.status();
    EXPECT_EQ(*computed, root);
    EXPECT_TRUE(verifyInclusion(v.index, v.size, leaves[v.index], want, root).ok());
  }
}

// The corruptions transparency-dev/merkle probes its verifier with; none may verify.
TEST(MerkleKat, CorruptedInclusionProofsFail) {
  const std::vector<std::string> leaves = referenceLeafHashes();
  const std::string some = unhex(kSomeHashHex);
  const std::string empty_root = emptyRoot();
  for (const InclusionVector& v : kInclusionVectors) {
    SCOPED_TRACE(testing::Message() << "leaf " << v.index << " of " << v.size);
    const std::vector<std::string> proof = unhexAll(v.proof);
    const std::string root = unhex(kRootsHex[v.size]);
    const std::string& leaf = leaves[v.index];
    EXPECT_FALSE(verifyInclusion(v.index - 1, v.size, leaf, proof, root).ok());
    EXPECT_FALSE(verifyInclusion(v.index + 1, v.size, leaf, proof, root).ok());
    EXPECT_FALSE(verifyInclusion(v.index ^ 2, v.size, leaf, proof, root).ok());
    EXPECT_FALSE(verifyInclusion(v.index, v.size * 2, leaf, proof, root).ok());
    EXPECT_FALSE(verifyInclusion(v.index, v.size / 2, leaf, proof, root).ok());
    EXPECT_FALSE(verifyInclusion(v.index, v.size, "WrongLeaf", proof, root).ok());
    EXPECT_FALSE(verifyInclusion(v.index, v.size, some, proof, root).ok());
    EXPECT_FALSE(verifyInclusion(v.index, v.size, leaf, proof, empty_root).ok());
    EXPECT_FALSE(verifyInclusion(v.index, v.size, leaf, proof, some).ok());
    EXPECT_FALSE(verifyInclusion(v.index, v.size, leaf, with(proof, proof.size(), ""), root).ok());
    EXPECT_FALSE(
        verifyInclusion(v.index, v.size, leaf, with(proof, proof.size(), root), root).ok());
    EXPECT_FALSE(verifyInclusion(v.index, v.size, leaf, with(proof, 0, ""), root).ok());
    EXPECT_FALSE(verifyInclusion(v.index, v.size, leaf, with(proof, 0, root), root).ok());
    for (std::size_t i = 0; i < proof.size(); ++i) {
      std::vector<std::string> flipped = proof;
      flipped[i][0] ^= 8;
      EXPECT_FALSE(verifyInclusion(v.index, v.size, leaf, flipped, root).ok()) << i;
    }
    if (!proof.empty()) {
      std::vector<std::string> removed(proof.begin(), proof.end() - 1);
      EXPECT_FALSE(verifyInclusion(v.index, v.size, leaf, removed, root).ok());
    }
    if (proof.size() > 1) {
      EXPECT_FALSE(verifyInclusion(v.index, v.size, leaf, with(proof, 1, some), root).ok());
    }
  }
}

TEST(MerkleKat, ConsistencyProofs) {
  const std::vector<std::string> leaves = referenceLeafHashes();
  const MerkleTree tree = referenceTree();
  auto accessor = [&](std::uint64_t i) { return leaves[i]; };
  for (const ConsistencyVector& v : kConsistencyVectors) {
    SCOPED_TRACE(testing::Message() << v.old_size << " -> " << v.new_size);
    const std::vector<std::string> want = unhexAll(v.proof);
    absl::StatusOr<std::vector<std::string>> stateless =
        consistencyProof(v.old_size, v.new_size, accessor);
    ASSERT_TRUE(stateless.ok()) << stateless.status();
    EXPECT_EQ(*stateless, want);
    absl::StatusOr<std::vector<std::string>> cached = tree.consistencyProof(v.old_size, v.new_size);
    ASSERT_TRUE(cached.ok()) << cached.status();
    EXPECT_EQ(*cached, want);
    EXPECT_EQ(consistencyProofLength(v.old_size, v.new_size), want.size());
    EXPECT_TRUE(verifyConsistency(v.old_size, v.new_size, unhex(kRootsHex[v.old_size]),
                                  unhex(kRootsHex[v.new_size]), want)
                    .ok());
  }
}

TEST(MerkleKat, CorruptedConsistencyProofsFail) {
  for (const ConsistencyVector& v : kConsistencyVectors) {
    if (v.proof.empty()) continue;
    SCOPED_TRACE(testing::Message() << v.old_size << " -> " << v.new_size);
    const std::vector<std::string> proof = unhexAll(v.proof);
    const std::string r1 = unhex(kRootsHex[v.old_size]);
    const std::string r2 = unhex(kRootsHex[v.new_size]);
    const std::uint64_t s1 = v.old_size;
    const std::uint64_t s2 = v.new_size;
    EXPECT_FALSE(verifyConsistency(s1 - 1, s2, r1, r2, proof).ok());
    EXPECT_FALSE(verifyConsistency(s1 + 1, s2, r1, r2, proof).ok());
    EXPECT_FALSE(verifyConsistency(s1 ^ 2, s2, r1, r2, proof).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2 * 2, r1, r2, proof).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2 / 2, r1, r2, proof).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, "WrongRoot", r2, proof).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, "WrongRoot", proof).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r2, r1, proof).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, {}).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, with(proof, proof.size(), "")).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, with(proof, proof.size(), r1)).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, with(proof, proof.size(), r2)).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, with(proof, 0, "")).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, with(proof, 0, r1)).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, with(proof, 0, r2)).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, with(proof, 0, proof[0])).ok());
    EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, std::span(proof).first(proof.size() - 1)).ok());
    for (std::size_t i = 0; i < proof.size(); ++i) {
      std::vector<std::string> flipped = proof;
      flipped[i][0] ^= 16;
      EXPECT_FALSE(verifyConsistency(s1, s2, r1, r2, flipped).ok()) << i;
    }
  }
}

// ---- Edge cases and error reasons ---------------------------------------------------------------

TEST(MerkleVerify, SingleEntryTree) {
  const std::string h = leafHash("data");  // the root of a 1-leaf tree is its leaf hash
  EXPECT_TRUE(verifyInclusion(0, 1, h, {}, h).ok());
  EXPECT_FALSE(verifyInclusion(0, 1, "", {}, h).ok());
  EXPECT_FALSE(verifyInclusion(0, 1, h, {}, "").ok());
  EXPECT_FALSE(verifyInclusion(0, 1, "", {}, "").ok());
  EXPECT_FALSE(verifyInclusion(0, 1, h, Proof{h}, h).ok());
}

TEST(MerkleVerify, InclusionIndexOutOfRange) {
  const std::string some = unhex(kSomeHashHex);
  const std::string empty = emptyRoot();
  for (auto [index, size] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {0, 0}, {1, 0}, {1, 1}, {2, 1}, {8, 8}}) {
    absl::Status s = verifyInclusion(index, size, some, {}, empty);
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("out of range")) << index << "/" << size;
  }
  absl::Status s = verifyInclusion(0, 1, some, {}, empty);
  EXPECT_THAT(s.message(), HasSubstr("root mismatch"));
}

TEST(MerkleVerify, ReasonsAreSpecific) {
  const MerkleTree tree = referenceTree();
  const std::string leaf = *tree.leafHashAt(5);
  const std::string root = tree.root();
  std::vector<std::string> proof = *tree.inclusionProof(5, 8);

  absl::Status s = verifyInclusion(5, 8, leaf, std::span(proof).first(2), root);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("wrong proof length"));
  EXPECT_THAT(s.message(), HasSubstr("has 2 hashes, want 3"));

  s = verifyInclusion(5, 8, leaf.substr(1), proof, root);
  EXPECT_THAT(s.message(), HasSubstr("malformed hash"));

  proof[1][31] ^= 1;
  s = verifyInclusion(5, 8, leaf, proof, root);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("root mismatch"));

  s = verifyConsistency(8, 6, root, root, {});
  EXPECT_THAT(s.message(), HasSubstr("out of range"));
  s = verifyConsistency(6, 8, *tree.rootAt(6), root, {});
  EXPECT_THAT(s.message(), HasSubstr("wrong proof length"));
  std::vector<std::string> cproof = *tree.consistencyProof(6, 8);
  s = verifyConsistency(6, 8, *tree.rootAt(6), *tree.rootAt(7), cproof);
  EXPECT_THAT(s.message(), HasSubstr("new root"));
  s = verifyConsistency(6, 8, *tree.rootAt(5), root, cproof);
  EXPECT_THAT(s.message(), HasSubstr("root mismatch"));
}

TEST(MerkleVerify, ConsistencyTrivialSizes) {
  const std::string empty = emptyRoot();
  const std::string a = leafHash("a");
  const std::string b = leafHash("b");
  // Same size: empty proof, equal roots.
  EXPECT_TRUE(verifyConsistency(0, 0, empty, empty, {}).ok());
  EXPECT_TRUE(verifyConsistency(1, 1, a, a, {}).ok());
  EXPECT_TRUE(verifyConsistency(5, 5, b, b, {}).ok());
  EXPECT_FALSE(verifyConsistency(1, 1, a, b, {}).ok());
  EXPECT_FALSE(verifyConsistency(1, 1, a, a, Proof{a}).ok());
  EXPECT_FALSE(verifyConsistency(0, 0, empty, a, {}).ok());
  EXPECT_FALSE(verifyConsistency(0, 0, empty, empty, Proof{empty}).ok());
  // The empty tree is a prefix of every tree; its root must be SHA-256("") (stricter than
  // transparency-dev, which ignores it).
  EXPECT_TRUE(verifyConsistency(0, 1, empty, a, {}).ok());
  EXPECT_TRUE(verifyConsistency(0, 1000, empty, b, {}).ok());
  EXPECT_FALSE(verifyConsistency(0, 1, a, a, {}).ok());
  EXPECT_FALSE(verifyConsistency(0, 1, empty, a, Proof{empty}).ok());
  // Time travel.
  EXPECT_FALSE(verifyConsistency(1, 0, a, empty, {}).ok());
  EXPECT_FALSE(verifyConsistency(2, 1, a, b, {}).ok());
  // Growing needs a proof.
  EXPECT_FALSE(verifyConsistency(1, 2, a, nodeHash(a, b), {}).ok());
  EXPECT_TRUE(verifyConsistency(1, 2, a, nodeHash(a, b), Proof{b}).ok());
  // Malformed roots.
  EXPECT_FALSE(verifyConsistency(1, 1, "x", "x", {}).ok());
}

TEST(MerkleTree, Errors) {
  MerkleTree tree = referenceTree();
  EXPECT_EQ(tree.size(), 8u);
  EXPECT_TRUE(absl::IsOutOfRange(tree.rootAt(9).status()));
  EXPECT_TRUE(absl::IsOutOfRange(tree.leafHashAt(8).status()));
  EXPECT_FALSE(tree.inclusionProof(8, 8).ok());
  EXPECT_FALSE(tree.inclusionProof(0, 9).ok());
  EXPECT_FALSE(tree.inclusionProof(0, 0).ok());
  EXPECT_FALSE(tree.consistencyProof(5, 4).ok());
  EXPECT_FALSE(tree.consistencyProof(5, 9).ok());
  EXPECT_TRUE(tree.consistencyProof(0, 8)->empty());
  EXPECT_TRUE(tree.consistencyProof(8, 8)->empty());
  EXPECT_FALSE(tree.appendLeafHash("short").ok());
  EXPECT_EQ(tree.size(), 8u);
  absl::StatusOr<std::uint64_t> index = tree.appendLeafHash(leafHash("x"));
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(*index, 8u);
  EXPECT_EQ(tree.append("y"), 9u);
  EXPECT_EQ(*tree.leafHashAt(8), leafHash("x"));
  EXPECT_EQ(*tree.leafHashAt(0), leafHash(""));
  // Malformed leaf hashes in the stateless API give a root nothing matches, not a crash.
  const std::vector<std::string> short_leaves = {"short", "x", ""};
  EXPECT_EQ(rootFromLeafHashes(short_leaves).size(), kHashSize);
  auto none = [](std::uint64_t) { return std::string(); };
  EXPECT_FALSE(inclusionProof(3, 3, none).ok());
  EXPECT_FALSE(consistencyProof(4, 3, none).ok());
}

}  // namespace
}  // namespace warden::merkle
