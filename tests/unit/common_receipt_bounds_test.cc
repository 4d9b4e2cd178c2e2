// Receipt bounds: a receipt of any size the host can make fits the message limit, with what was
// cut said (markers, counts), and small receipts keep their exact bytes.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/receipt_bounds.h"
#include "gtest/gtest.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

v1::ProcessInfo process(int pid, std::size_t cmdline_bytes) {
  v1::ProcessInfo p;
  p.set_pid(pid);
  p.set_ppid(1);
  p.set_user("mallory");
  p.set_exe("/usr/bin/sleep");
  p.set_exe_sha256(std::string(64, 'a'));
  p.set_cmdline(absl::StrCat("sleep ", pid, " ", std::string(cmdline_bytes, 'x')));
  return p;
}

Receipt killReceipt(const v1::KillReport& report) {
  Receipt r;
  r.command_id = "a-0123456789abcdef";
  r.host_id = "host-42";
  r.kind = "kill-sessions";
  r.status = ReceiptStatus::kSucceeded;
  r.message = absl::StrCat("killed ", report.processes_size(), " processes");
  r.details[kReceiptResultDetail] = crypto::base64(report.SerializeAsString());
  r.details["killed"] = absl::StrCat(report.processes_size());
  return r;
}

template <typename Message>
Message resultOf(const Receipt& r) {
  Message m;
  auto raw = crypto::unbase64(r.details.at(kReceiptResultDetail));
  EXPECT_TRUE(raw.ok());
  EXPECT_TRUE(m.ParseFromString(*raw));
  return m;
}

TEST(BoundString, FitsAndEndsInAMarkerNamingTheFullSize) {
  EXPECT_EQ(boundString("short", 1024), "short");
  const std::string cut = boundString(std::string(4096, 'x'), 1024);
  EXPECT_EQ(cut.size(), 1024u);
  EXPECT_TRUE(cut.ends_with("...[truncated: 4096 bytes]")) << cut.substr(990);
  EXPECT_TRUE(cut.starts_with("xxxx"));
}

TEST(BoundString, NeverSplitsAUtf8Character) {
  // "é" is two bytes: a cut through one backs up to its start.
  std::string s;
  for (int i = 0; i < 600; ++i) s += "\xc3\xa9";
  const std::string cut = boundString(s, 101);
  EXPECT_LE(cut.size(), 101u);
  const std::string body = cut.substr(0, cut.find(kTruncationMarker));
  EXPECT_EQ(body.size() % 2, 0u);
  EXPECT_NE(static_cast<unsigned char>(body.back()), 0xc3);
}

TEST(BoundReceipt, SmallReceiptKeepsItsExactBytes) {
  v1::KillReport report;
  for (int i = 0; i < 5; ++i) *report.add_processes() = process(100 + i, 20);
  Receipt r = killReceipt(report);
  const std::string before = encodeReceipt(r);
  const ReceiptTrim trim = boundReceipt(r);
  EXPECT_FALSE(trim.changed());
  EXPECT_EQ(encodeReceipt(r), before);
}

// The case: ~1,000 processes with long command lines. Command lines are cut to 1 KiB,
// the list to what fits the result's 1 MiB; the rest is a count.
TEST(BoundReceipt, ThousandLongCommandLinesFitWithCounts) {
  v1::KillReport report;
  report.set_freeze_method("sigstop");
  for (int i = 0; i < 1000; ++i) *report.add_processes() = process(1000 + i, 4096);
  *report.add_survivors() = process(7, 4096);
  Receipt r = killReceipt(report);
  ASSERT_GT(encodeReceipt(r).size(), 4u << 20) << "the receipt the issue describes";

  const ReceiptTrim trim = boundReceipt(r);
  EXPECT_TRUE(trim.changed());
  const std::string bytes = encodeReceipt(r);
  EXPECT_LE(bytes.size(), kMaxReceiptBytes);
  EXPECT_EQ(trim.bytes_after, bytes.size());
  EXPECT_LE(r.details.at(kReceiptResultDetail).size(), kMaxResultDetailBytes);
  // Still one receipt, decodable, with the same identity.
  auto decoded = decodeReceipt(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->command_id, "a-0123456789abcdef");

  const auto out = resultOf<v1::KillReport>(r);
  EXPECT_EQ(out.freeze_method(), "sigstop");
  ASSERT_EQ(out.survivors_size(), 1) << "survivors are kept first";
  EXPECT_EQ(out.unlisted_survivors(), 0u);
  EXPECT_GT(out.processes_size(), 100);
  EXPECT_GT(out.unlisted_processes(), 0u);
  EXPECT_EQ(static_cast<std::uint64_t>(out.processes_size()) + out.unlisted_processes(), 1000u);
  // The listed ones are a prefix, each command line cut with its marker.
  for (int i = 0; i < out.processes_size(); ++i) {
    const auto& p = out.processes(i);
    EXPECT_EQ(p.pid(), 1000 + i);
    EXPECT_LE(p.cmdline().size(), kMaxHostStringBytes);
    EXPECT_NE(p.cmdline().find(kTruncationMarker), std::string::npos);
    EXPECT_EQ(p.exe(), "/usr/bin/sleep");
  }
  EXPECT_EQ(trim.entries_unlisted, out.unlisted_processes());
  EXPECT_EQ(r.details.at("killed"), "1000");
}

TEST(BoundReceipt, CountsAddToWhatTheActionLeftOut) {
  v1::KillReport report;
  for (int i = 0; i < 100; ++i) *report.add_processes() = process(i + 2, 1000);
  report.set_unlisted_processes(5);
  Receipt r = killReceipt(report);
  ReceiptLimits limits;
  limits.result_bytes = 16 << 10;
  boundReceipt(r, limits);
  const auto out = resultOf<v1::KillReport>(r);
  EXPECT_LT(out.processes_size(), 100);
  EXPECT_EQ(static_cast<std::uint64_t>(out.processes_size()) + out.unlisted_processes(), 105u);
  EXPECT_LE(r.details.at(kReceiptResultDetail).size(), limits.result_bytes);
}

TEST(BoundReceipt, SessionsAndAccountChangesAreCounted) {
  v1::SessionList list;
  for (int i = 0; i < 50000; ++i) {
    auto* s = list.add_sessions();
    s->set_id(absl::StrCat(i));
    s->set_user(std::string(2000, 'u'));
    s->set_tty("pts/1");
  }
  Receipt r;
  r.kind = "sessions";
  r.details[kReceiptResultDetail] = crypto::base64(list.SerializeAsString());
  boundReceipt(r);
  EXPECT_LE(encodeReceipt(r).size(), kMaxReceiptBytes);
  const auto sessions = resultOf<v1::SessionList>(r);
  EXPECT_GT(sessions.sessions_size(), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(sessions.sessions_size()) + sessions.unlisted_sessions(),
            50000u);
  EXPECT_LE(sessions.sessions(0).user().size(), kMaxHostStringBytes);

  v1::AccountReport accounts;
  for (int i = 0; i < 40000; ++i) {
    auto* c = accounts.add_changes();
    c->set_user(absl::StrCat("user", i));
    c->set_action("locked");
    c->set_old_line_sha256(std::string(64, 'b'));
    c->set_new_line_sha256(std::string(64, 'c'));
  }
  accounts.set_sealed_root_password("sealed");
  Receipt a;
  a.kind = "lock-accounts";
  a.details[kReceiptResultDetail] = crypto::base64(accounts.SerializeAsString());
  boundReceipt(a);
  const auto changes = resultOf<v1::AccountReport>(a);
  EXPECT_EQ(changes.sealed_root_password(), "sealed") << "the rotated password is never cut";
  EXPECT_GT(changes.unlisted_changes(), 0u);
  EXPECT_EQ(static_cast<std::uint64_t>(changes.changes_size()) + changes.unlisted_changes(),
            40000u);
}

TEST(BoundReceipt, SshKeyReportKeepsItsFilesAndCountsTheKeysLeftOut) {
  v1::SshKeyReport keys;
  for (int i = 0; i < 20000; ++i) {
    auto* k = keys.add_keys();
    k->set_user("mallory");
    k->set_file("/home/mallory/.ssh/authorized_keys");
    k->set_fingerprint(absl::StrCat("SHA256:", std::string(42, 'A'), i % 10));
    k->set_comment(std::string(5000, 'c'));  // host text: cut
    k->set_options(std::string(5000, 'o'));
    k->set_action("revoked");
  }
  keys.add_files()->set_path("/home/mallory/.ssh/authorized_keys");
  keys.add_krl_fingerprints("SHA256:" + std::string(43, 'A'));
  Receipt r;
  r.kind = "revoke-keys";
  r.details[kReceiptResultDetail] = crypto::base64(keys.SerializeAsString());
  boundReceipt(r);
  EXPECT_LE(encodeReceipt(r).size(), kMaxReceiptBytes);
  const auto out = resultOf<v1::SshKeyReport>(r);
  EXPECT_EQ(out.files_size(), 1);
  EXPECT_EQ(out.krl_fingerprints_size(), 1);
  EXPECT_GT(out.keys_size(), 0);
  EXPECT_LE(out.keys(0).comment().size(), kMaxHostStringBytes);
  EXPECT_EQ(static_cast<std::uint64_t>(out.keys_size()) + out.unlisted_keys(), 20000u);
}

TEST(BoundReceipt, MessageAndOtherDetailsAreCut) {
  Receipt r;
  r.kind = "isolate";
  r.message = std::string(100000, 'm');
  r.details["warnings"] = std::string(100000, 'w');
  const ReceiptTrim trim = boundReceipt(r);
  EXPECT_EQ(trim.strings_cut, 2u);
  EXPECT_EQ(r.message.size(), kMaxReceiptTextBytes);
  EXPECT_TRUE(r.message.ends_with("...[truncated: 100000 bytes]"));
  EXPECT_EQ(r.details.at("warnings").size(), kMaxReceiptTextBytes);
}

TEST(BoundReceipt, AResultItCannotCutGoesWholeAndIsSaidToHaveGone) {
  Receipt r;
  r.kind = "collect";
  r.details[kReceiptResultDetail] = std::string(3u << 20, 'A');
  r.details["evidence_ids"] = "e-1";
  const ReceiptTrim trim = boundReceipt(r);
  EXPECT_EQ(trim.details_dropped, 1u);
  EXPECT_FALSE(r.details.contains(kReceiptResultDetail));
  EXPECT_EQ(r.details.at(kDroppedDetailsDetail), "1");
  EXPECT_EQ(r.details.at("evidence_ids"), "e-1");
  EXPECT_LE(encodeReceipt(r).size(), kMaxReceiptBytes);
}

TEST(BoundReceipt, VeryManyDetailsFitByDroppingTheLargest) {
  Receipt r;
  r.kind = "image";
  for (int i = 0; i < 2000; ++i) r.details[absl::StrCat("d", i)] = std::string(1000 + i, 'v');
  const ReceiptTrim trim = boundReceipt(r);
  EXPECT_GT(trim.details_dropped, 0u);
  EXPECT_LE(encodeReceipt(r).size(), kMaxReceiptBytes);
  EXPECT_EQ(r.details.at(kDroppedDetailsDetail), absl::StrCat(trim.details_dropped));
  EXPECT_TRUE(r.details.contains("d0")) << "the smallest stay";
  EXPECT_FALSE(r.details.contains("d1999"));
}

}  // namespace
}  // namespace warden
