// End to end: the signed action log. After real isolate/release/block runs on the test fleet,
// `warden audit export` + `warden audit verify` pass offline; every kind of tampering with
// the export is caught and named; a command whose log proof is missing or wrong is refused by
// the agent (and the refusal is logged); a controller killed between logging and answering
// loses nothing it acknowledged and leaves a log that verifies.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/audit/log_entry.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

std::vector<std::string> readLines(const std::string& path) {
  auto text = readFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return {};
  return absl::StrSplit(*text, '\n', absl::SkipEmpty());
}

void writeLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream(path, std::ios::trunc) << absl::StrJoin(lines, "\n") << "\n";
}

// Index in `lines` of the export line holding entry `n` (0-based).
std::size_t lineOfEntry(const std::vector<std::string>& lines, std::size_t n) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("entry ", 0) == 0 && seen++ == n) return i;
  }
  ADD_FAILURE() << "no entry " << n;
  return 0;
}

LogEntry entryOf(const std::string& line) {
  auto raw = crypto::unbase64(line.substr(6));
  EXPECT_TRUE(raw.ok());
  auto e = decodeLogEntry(raw.ok() ? *raw : "");
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : LogEntry{};
}

std::string lineOf(const LogEntry& e) { return "entry " + crypto::base64(encodeLogEntry(e)); }

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto created = WardenDeployment::create(absl::StrFormat("aud%d", getpid() % 100000),
                                            {{"host-42", 42}, {"host-43", 43}});
    ASSERT_TRUE(created.ok()) << created.status();
    d_ = std::move(*created);
    for (const char* h : {"host-42", "host-43"}) {
      ASSERT_TRUE(d_->enroll(h).ok());
      ASSERT_TRUE(d_->startAgent(h).ok()) << d_->agentLog(h);
    }
    dir_ = d_->controllerHost().dir();
    vkey_ = d_->dataDir() + "/log.vkey";
  }

  RunResult warden(const std::vector<std::string>& args) { return d_->cliResult(args); }

  // Exports the log to DIR/name and returns the path.
  std::string exportLog(const std::string& name) {
    const std::string path = dir_ + "/" + name;
    RunResult r = warden({"audit", "export", "--out", path});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return path;
  }

  RunResult verify(const std::string& path, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"audit", "verify", path, "--vkey", vkey_};
    args.insert(args.end(), extra.begin(), extra.end());
    return warden(args);
  }

  // Writes `lines` to a scratch file and expects verify to fail naming `expect`.
  void expectCaught(const std::vector<std::string>& lines, const std::string& expect,
                    const std::string& what) {
    const std::string path = dir_ + "/tampered.export";
    writeLines(path, lines);
    RunResult r = verify(path);
    EXPECT_EQ(r.exit_code, 1) << what << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << what << ": " << r.err;
  }

  std::unique_ptr<WardenDeployment> d_;
  std::string dir_;
  std::string vkey_;
};

TEST_F(AuditTest, ExportVerifiesAndEveryTamperingIsCaughtAndNamed) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"isolate", "host-42", "--reason", "INC-1"},
                                             {"block", "198.18.0.66", "--host", "host-43"},
                                             {"release", "host-42"}}) {
    RunResult r = warden(args);
    ASSERT_EQ(r.exit_code, 0) << args[0] << ": " << r.out << r.err;
  }
  const std::string path = exportLog("good.export");
  RunResult ok = verify(path);
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("verified:"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("3 receipt"), std::string::npos) << ok.out;

  // The human timeline names who did what, where, and the result.
  RunResult show = warden({"audit", "show", "--host", "host-42"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("operator:admin"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("requested isolate host-42 reason: INC-1"), std::string::npos)
      << show.out;
  EXPECT_NE(show.out.find("succeeded isolate"), std::string::npos) << show.out;

  const std::vector<std::string> lines = readLines(path);
  std::size_t entries = 0;
  for (const auto& l : lines) entries += l.rfind("entry ", 0) == 0;
  ASSERT_GE(entries, 12u);

  // Any single flipped byte of any entry (one position per entry, spread over the entries).
  for (std::size_t n = 0; n < entries; ++n) {
    std::vector<std::string> bad = lines;
    const std::size_t at = lineOfEntry(bad, n);
    auto raw = crypto::unbase64(bad[at].substr(6));
    ASSERT_TRUE(raw.ok());
    (*raw)[(n * 7919) % raw->size()] ^= 0x20;
    bad[at] = "entry " + crypto::base64(*raw);
    // A flip in signed or structured bytes names the entry; one in bytes only the tree covers
    // (free text, a time) is caught by the next checkpoint, which names the entries it covers.
    const std::string file = dir_ + "/flipped.export";
    writeLines(file, bad);
    RunResult r = verify(file);
    EXPECT_EQ(r.exit_code, 1) << "flip in entry " << n << ": " << r.err;
    bool named = r.err.find(absl::StrFormat("entry %d ", n)) != std::string::npos;
    if (auto at_range = r.err.find("one of entries "); at_range != std::string::npos) {
      unsigned first = 0, last = 0;
      if (std::sscanf(r.err.c_str() + at_range, "one of entries %u..%u", &first, &last) == 2) {
        named = named || (first <= n && n <= last);
      }
    }
    EXPECT_TRUE(named) << "flip in entry " << n << ": " << r.err;
  }

  // A dropped entry, and two entries in swapped order.
  const std::size_t last_receipt = [&] {
    std::size_t found = 0;
    for (std::size_t n = 0; n < entries; ++n) {
      if (entryOf(lines[lineOfEntry(lines, n)]).type == entry_type::kReceipt) found = n;
    }
    return found;
  }();
  {
    std::vector<std::string> bad = lines;
    bad.erase(bad.begin() + static_cast<std::ptrdiff_t>(lineOfEntry(bad, last_receipt - 1)));
    expectCaught(bad, "FAILED", "dropped entry");
  }
  {
    std::vector<std::string> bad = lines;
    std::swap(bad[lineOfEntry(bad, last_receipt)], bad[lineOfEntry(bad, last_receipt - 1)]);
    expectCaught(bad, "FAILED", "reordered entries");
  }

  // host-42's receipt re-signed by host-43's agent key.
  {
    auto key_pem = readFile(d_->agentStateDir("host-43") + "/receipt.key");
    ASSERT_TRUE(key_pem.ok()) << key_pem.status();
    auto other = crypto::Ed25519Key::fromPem(*key_pem);
    ASSERT_TRUE(other.ok());
    std::vector<std::string> bad = lines;
    const std::size_t at = lineOfEntry(bad, last_receipt);
    LogEntry e = entryOf(bad[at]);
    ASSERT_EQ(e.host_id, "host-42");
    auto sig = other->sign(e.body);
    ASSERT_TRUE(sig.ok());
    e.signature = *sig;
    bad[at] = lineOf(e);
    expectCaught(bad, absl::StrFormat("entry %d (receipt", last_receipt), "foreign receipt");
  }

  // An older checkpoint presented as the newest: moved after the last entry.
  {
    std::vector<std::string> bad = lines;
    std::vector<std::size_t> cps;
    for (std::size_t i = 0; i < bad.size(); ++i) {
      if (bad[i].rfind("checkpoint ", 0) == 0) cps.push_back(i);
    }
    ASSERT_GE(cps.size(), 2u) << "the export should hold several checkpoints";
    const std::string old = bad[cps.front()];
    bad.erase(bad.begin() + static_cast<std::ptrdiff_t>(cps.back()));
    bad.insert(bad.end() - 1, old);
    expectCaught(bad, "checkpoint", "older checkpoint as newest");
  }
}

TEST_F(AuditTest, SavedCheckpointCatchesRollbackAndProofsCheckOut) {
  RunResult iso = warden({"isolate", "host-42"});
  ASSERT_EQ(iso.exit_code, 0) << iso.err;
  const std::string before = exportLog("before.export");
  RunResult cp = warden({"audit", "checkpoint"});
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  const std::string saved = dir_ + "/saved.checkpoint";
  ASSERT_TRUE(writeFileAtomic(saved, cp.out, 0644).ok());

  RunResult rel = warden({"release", "host-42"});
  ASSERT_EQ(rel.exit_code, 0) << rel.err;
  const std::string after = exportLog("after.export");
  // The newer log extends the checkpoint the auditor kept ...
  RunResult extends = verify(after, {"--checkpoint", saved});
  EXPECT_EQ(extends.exit_code, 0) << extends.out << extends.err;
  EXPECT_NE(extends.out.find("no rollback"), std::string::npos) << extends.out;
  // ... and a log older than a checkpoint the auditor holds is a rollback.
  RunResult newer = warden({"audit", "checkpoint"});
  const std::string newer_path = dir_ + "/newer.checkpoint";
  ASSERT_TRUE(writeFileAtomic(newer_path, newer.out, 0644).ok());
  RunResult rolled = verify(before, {"--checkpoint", newer_path});
  EXPECT_EQ(rolled.exit_code, 1) << rolled.out << rolled.err;
  EXPECT_NE(rolled.err.find("FAILED"), std::string::npos) << rolled.err;

  // A file that is not an export, and one that does not exist: bad input (2).
  ASSERT_TRUE(writeFileAtomic(dir_ + "/junk", "hello\n", 0644).ok());
  EXPECT_EQ(verify(dir_ + "/junk").exit_code, 1);
  EXPECT_EQ(verify(dir_ + "/missing").exit_code, 2);

  // `audit prove` gives what standard tooling needs; the CLI checked the proof already.
  RunResult prove = warden({"audit", "prove", "3", "--json"});
  ASSERT_EQ(prove.exit_code, 0) << prove.err;
  for (const char* key : {"\"index\": 3", "\"tree_size\"", "\"entry\"", "\"leaf_hash\"",
                          "\"proof\"", "\"checkpoint\""}) {
    EXPECT_NE(prove.out.find(key), std::string::npos) << key << " in " << prove.out;
  }
  RunResult past_end = warden({"audit", "prove", "100000"});
  EXPECT_EQ(past_end.exit_code, 1) << past_end.err;
}

TEST_F(AuditTest, CommandWithoutAValidLogProofIsRefusedAndTheRefusalIsLogged) {
  for (const char* fault : {"dispatch-proof-corrupt", "dispatch-proof-missing"}) {
    ASSERT_TRUE(d_->restartController({std::string("WARDEN_FAULT_INJECT=") + fault}).ok());
    ASSERT_TRUE(d_->waitConnected("host-42", true).ok());
    RunResult r = warden({"isolate", "host-42", "--json"});
    EXPECT_EQ(r.exit_code, 1) << fault << ": " << r.out << r.err;
    EXPECT_NE(r.out.find("\"state\": \"refused\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("not proven to be in the action log"), std::string::npos) << r.out;
    // Nothing changed on the host.
    auto nft = d_->host("host-42").exec({"nft", "list", "tables"});
    ASSERT_TRUE(nft.ok());
    EXPECT_EQ(nft->out.find("warden"), std::string::npos) << fault << ": " << nft->out;
  }
  ASSERT_TRUE(d_->restartController().ok());
  ASSERT_TRUE(d_->waitConnected("host-42", true).ok());
  RunResult show = warden({"audit", "show", "--json", "--last", "0"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  int refused_receipts = 0;
  for (auto at = show.out.find("refused isolate"); at != std::string::npos;
       at = show.out.find("refused isolate", at + 1)) {
    ++refused_receipts;
  }
  EXPECT_EQ(refused_receipts, 2) << show.out;
  EXPECT_NE(show.out.find("\"type\": \"refusal\", \"logged_unix_ms\""), std::string::npos)
      << show.out;
  // The refusals are part of a log that still verifies.
  RunResult ok = verify(exportLog("refusals.export"));
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  // And with a correct proof the same command runs.
  RunResult iso = warden({"isolate", "host-42"});
  EXPECT_EQ(iso.exit_code, 0) << iso.out << iso.err;
}

TEST_F(AuditTest, ControllerKilledBetweenLoggingAndAnsweringLosesNothing) {
  // Killed after the request is durable, before anything is dispatched or answered.
  ASSERT_TRUE(d_->restartController({"WARDEN_FAULT_INJECT=exit-after-log:request"}).ok());
  RunResult lost = warden({"isolate", "host-42", "--reason", "crash-1"});
  EXPECT_NE(lost.exit_code, 0) << lost.out;
  auto ended = d_->waitControllerExit();
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->exit_code, 70);

  // Killed after host-42's receipt is durable, before the agent gets its ack: the agent sends
  // the receipt again to the restarted controller, which does not log it twice.
  ASSERT_TRUE(d_->restartController({"WARDEN_FAULT_INJECT=exit-after-log:receipt"}).ok());
  ASSERT_TRUE(d_->waitConnected("host-42", true).ok());
  RunResult unacked = warden({"block", "198.18.0.66", "--host", "host-42", "--timeout", "5s"});
  EXPECT_NE(unacked.exit_code, 0) << unacked.out;
  ended = d_->waitControllerExit();
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->exit_code, 70);

  ASSERT_TRUE(d_->restartController().ok());
  ASSERT_TRUE(d_->waitConnected("host-42", true).ok());
  // The re-sent receipt finishes the action.
  bool done = false;
  for (int i = 0; i < 100 && !done; ++i) {
    RunResult a = warden({"actions", "--host", "host-42", "--json"});
    done = a.out.find("\"state\": \"succeeded\"") != std::string::npos;
    if (!done) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(done) << d_->controllerLog();

  RunResult show = warden({"audit", "show", "--json", "--last", "0"});
  EXPECT_NE(show.out.find("reason: crash-1"), std::string::npos) << "the durable request survived";
  int receipts = 0;
  for (auto at = show.out.find("\"type\": \"receipt\""); at != std::string::npos;
       at = show.out.find("\"type\": \"receipt\"", at + 1)) {
    ++receipts;
  }
  EXPECT_EQ(receipts, 1) << show.out;
  RunResult ok = verify(exportLog("crash.export"));
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
}

// A registry from before the action log (here: the log directory removed while the
// controller was down) gets a log whose genesis records the operators and the hosts already
// enrolled, so their receipts verify; work goes on as before.
TEST_F(AuditTest, ExistingRegistryGetsAGenesisThatCoversItsHosts) {
  RunResult iso = warden({"isolate", "host-43"});
  ASSERT_EQ(iso.exit_code, 0) << iso.err;
  ASSERT_TRUE(d_->stopController().ok());
  ASSERT_EQ(std::system(("rm -rf '" + d_->dataDir() + "/log'").c_str()), 0);
  ASSERT_TRUE(d_->restartController().ok());
  ASSERT_TRUE(d_->waitConnected("host-43", true).ok());
  RunResult rel = warden({"release", "host-43"});
  ASSERT_EQ(rel.exit_code, 0) << rel.out << rel.err;
  RunResult show = warden({"audit", "show", "--last", "0"});
  EXPECT_NE(show.out.find("enrolled before the action log existed"), std::string::npos) << show.out;
  RunResult ok = verify(exportLog("genesis.export"));
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
}

}  // namespace
}  // namespace warden::testing
