// An action log in a scratch directory for the controller/action_log.h tests: a fixed signing
// key, options with checkpoints far off unless a test asks, numbered entries of varied sizes,
// and checkpoint notes verified the way an auditor's tooling does.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/crypto/ed25519.h"
#include "common/files.h"
#include "common/merkle.h"
#include "common/note.h"
#include "controller/action_log.h"

namespace warden::testing {

inline constexpr char kOrigin[] = "warden.test/log";

inline crypto::Ed25519Key testKey() {
  auto key = crypto::Ed25519Key::fromRawPrivate(std::string(32, '\x42'));
  EXPECT_TRUE(key.ok()) << key.status();
  return *key;
}

inline ActionLogOptions options(const std::string& dir, absl::Duration delay = absl::Hours(1),
                                absl::Duration idle = absl::Hours(1)) {
  return ActionLogOptions{.dir = dir + "/log",
                          .origin = kOrigin,
                          .key = testKey(),
                          .checkpoint_delay = delay,
                          .idle_checkpoint = idle,
                          .max_entry_bytes = 4096};
}

inline std::unique_ptr<ActionLog> mustOpen(ActionLogOptions opts) {
  auto log = ActionLog::open(std::move(opts));
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? std::move(*log) : nullptr;
}

inline std::string makeEntry(std::uint64_t i) {
  std::string e = absl::StrFormat("entry %d:", i);
  e.append(i % 97 + 1, static_cast<char>('a' + i % 26));
  return e;
}

inline std::string rootOf(const std::vector<std::string>& entries) {
  std::vector<std::string> leaves;
  for (const auto& e : entries) leaves.push_back(merkle::leafHash(e));
  return merkle::rootFromLeafHashes(leaves);
}

inline std::vector<std::string> appendN(ActionLog& log, std::uint64_t n) {
  std::vector<std::string> entries;
  const std::uint64_t base = log.size();
  for (std::uint64_t i = 0; i < n; ++i) {
    entries.push_back(makeEntry(base + i));
    auto index = log.append(entries.back());
    EXPECT_TRUE(index.ok()) << index.status();
    if (index.ok()) {
      EXPECT_EQ(*index, base + i);
    }
  }
  return entries;
}

inline std::string readAll(const std::string& path) {
  auto data = readFile(path, 1 << 30);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *data : "";
}

inline void writeAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good());
}

// Verifies a checkpoint note with the standard tooling path and returns its body.
inline note::Checkpoint verifiedCheckpoint(const std::string& signed_note) {
  auto vkey = note::formatVerifierKey(kOrigin, testKey().publicKey());
  EXPECT_TRUE(vkey.ok()) << vkey.status();
  auto verifier = note::parseVerifierKey(*vkey);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  auto opened = note::openNote(signed_note, {*verifier});
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (!opened.ok()) return {};
  auto cp = note::parseCheckpoint(opened->text);
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() ? *cp : note::Checkpoint{};
}

}  // namespace warden::testing
