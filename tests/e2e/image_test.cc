// End to end (issue 5): `warden image host-42 /dev/loopN` reads a read-only loop device full of
// known random data on the test host and stores it in the controller's evidence store. Both
// hashes equal sha256sum of the device, the stored file is 0444 (and immutable where
// supported), `evidence verify` passes and catches a changed byte, `evidence get` gives the
// device's bytes back, zstd storage restores exactly, and transfers resume after the agent or
// the controller is killed part way. Bad input (a directory, a missing path, a file the agent
// may not read, a full evidence disk) fails clearly and leaves nothing listed as complete.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

// A read-only loop device over `size` bytes of seeded random data, detached on destruction.
struct RandomLoopDevice {
  std::string device;
  std::string sha256;  // sha256sum of the device
  ~RandomLoopDevice() {
    if (!device.empty()) (void)run({"losetup", "-d", device});
  }
};

void attachRandomLoopDevice(const std::string& backing, std::size_t size, std::uint64_t seed,
                            RandomLoopDevice& out) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (std::size_t i = 0; i < data.size(); i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(data.data() + i, &v, 8);
  }
  std::ofstream(backing, std::ios::binary) << data;
  auto attached = run({"losetup", "--find", "--show", "--read-only", backing});
  ASSERT_TRUE(attached.ok() && attached->exit_code == 0);
  out.device = std::string(absl::StripTrailingAsciiWhitespace(attached->out));
  auto sum = run({"sha256sum", out.device});
  ASSERT_TRUE(sum.ok());
  out.sha256 = sum->out.substr(0, 64);
}

std::string sha256sum(const std::string& path) {
  auto sum = run({"sha256sum", path});
  return sum.ok() && sum->exit_code == 0 ? sum->out.substr(0, 64) : "";
}

// The unquoted value of "KEY": VALUE (numbers, booleans), or "".
std::string jsonNumber(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\": ";
  const auto at = json.find(k);
  if (at == std::string::npos) return "";
  std::string v =
      json.substr(at + k.size(), json.find_first_of(",\n}", at + k.size()) - at - k.size());
  if (!v.empty() && v.front() == '"') v = v.substr(1, v.size() - 2);  // int64 as JSON strings
  return v;
}

// Lifts the immutable attribute from everything in the evidence store so the scratch directory
// can be removed (declared after the deployment: runs first).
struct LiftImmutable {
  std::string dir;
  ~LiftImmutable() {
    if (!dir.empty()) (void)run({"chattr", "-R", "-i", dir});
  }
};

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto created =
        WardenDeployment::create(absl::StrFormat("img%d", getpid() % 100000), {{"host-42", 42}});
    ASSERT_TRUE(created.ok()) << created.status();
    d_ = std::move(*created);
    ASSERT_TRUE(d_->enroll("host-42").ok());
    ASSERT_TRUE(d_->startAgent("host-42").ok()) << d_->agentLog("host-42");
    lift_.dir = d_->dataDir() + "/evidence";
  }

  void attach(std::size_t size, std::uint64_t seed) {
    ASSERT_NO_FATAL_FAILURE(attachRandomLoopDevice(
        d_->controllerHost().dir() + absl::StrFormat("/disk%d.img", seed), size, seed, loop_));
  }

  // `warden image host-42 ARGS... --json`: exit 0 expected; returns the evidence id.
  std::string image(std::vector<std::string> args) {
    std::vector<std::string> argv = {"image", "host-42"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--json");
    auto r = d_->cli(argv, absl::Seconds(180));
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code, 0) << r->out << r->err << d_->agentLog("host-42")
                               << d_->controllerLog();
    last_out_ = r->out;
    return jsonString(r->out, "evidence_ids");
  }

  // Starts `warden image host-42 DEV --rate 8 --json` (32 MiB: about 4 s) and returns once the
  // controller holds at least 2 MiB of it (waiting at most 60 s), so whatever interrupts the
  // transfer next interrupts it in the middle however slow the machine is.
  void startSlowImage(std::unique_ptr<Process>& out) {
    auto p =
        d_->controllerHost().spawn({wardenBinary("warden"), "--profile", d_->profile(), "image",
                                    "host-42", loop_.device, "--rate", "8", "--json"});
    ASSERT_TRUE(p.ok()) << p.status();
    out = std::move(*p);
    std::uint64_t held = 0;
    std::string listed;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (held < (2u << 20) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
      auto r = d_->cli({"evidence", "list", "--host", "host-42", "--json"}, absl::Seconds(10));
      if (!r.ok() || r->exit_code != 0) continue;
      listed = r->out;
      if (jsonString(listed, "state") != "receiving") continue;
      held = std::stoull("0" + jsonNumber(listed, "size"));
    }
    ASSERT_GE(held, 2u << 20) << "the transfer never got going: " << listed
                              << d_->agentLog("host-42") << d_->controllerLog();
  }

  RunResult cli(const std::vector<std::string>& args) {
    auto r = d_->cli(args, absl::Seconds(120));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : RunResult{};
  }

  std::unique_ptr<WardenDeployment> d_;
  LiftImmutable lift_;
  RandomLoopDevice loop_;
  std::string last_out_;
};

TEST_F(ImageTest, LoopDeviceIsStoredReadOnlyVerifiedAndACorruptCopyFails) {
  ASSERT_NO_FATAL_FAILURE(attach(24 << 20, 42));
  const std::string id = image({loop_.device});
  ASSERT_FALSE(id.empty()) << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".sha256"), loop_.sha256) << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".controller_sha256"), loop_.sha256) << last_out_;

  // The manifest and the custody record agree with the device.
  RunResult show = cli({"evidence", "show", id, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.out << show.err;
  EXPECT_EQ(jsonString(show.out, "state"), "complete");
  EXPECT_EQ(jsonString(show.out, "sha256"), loop_.sha256);
  EXPECT_EQ(jsonString(show.out, "host_id"), "host-42");
  EXPECT_EQ(jsonString(show.out, "operator"), "admin");
  EXPECT_EQ(jsonString(show.out, "compression"), "none");
  const std::string stored = d_->dataDir() + "/evidence/" + jsonString(show.out, "stored_name");
  struct stat st {};
  ASSERT_EQ(::stat(stored.c_str(), &st), 0) << stored;
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_EQ(sha256sum(stored), loop_.sha256);
  const bool immutable = jsonNumber(show.out, "immutable") == "true";
  if (immutable) {
    auto attrs = run({"lsattr", stored});
    ASSERT_TRUE(attrs.ok());
    EXPECT_EQ(attrs->out.substr(0, attrs->out.find(' ')).find('i') != std::string::npos, true)
        << attrs->out;
  }
  auto manifest = d_->controllerHost().readFile(d_->dataDir() + "/evidence/" + id + ".manifest");
  ASSERT_TRUE(manifest.ok());
  EXPECT_NE(manifest->find("\"sha256\": \"" + loop_.sha256 + "\""), std::string::npos);
  EXPECT_NE(manifest->find("\nsignature "), std::string::npos);

  RunResult list = cli({"evidence", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("\"id\": \"" + id + "\""), std::string::npos) << list.out;

  RunResult verify = cli({"evidence", "verify", id});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_EQ(verify.out.find("FAILED"), std::string::npos) << verify.out;
  EXPECT_NE(verify.out.find("RECEIPT entry"), std::string::npos) << verify.out;

  // `evidence get` gives the device's bytes back, checked; it never overwrites a file.
  const std::string copy = d_->controllerHost().dir() + "/copy.img";
  RunResult get = cli({"evidence", "get", id, "--out", copy});
  EXPECT_EQ(get.exit_code, 0) << get.out << get.err;
  EXPECT_EQ(sha256sum(copy), loop_.sha256);
  EXPECT_EQ(cli({"evidence", "get", id, "--out", copy}).exit_code, 2);

  // Someone lifts the attribute and changes one byte: verify fails and says where.
  if (immutable) {
    ASSERT_EQ(run({"chattr", "-i", stored})->exit_code, 0);
  }
  ASSERT_EQ(::chmod(stored.c_str(), 0644), 0);
  {
    std::fstream f(stored, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(4096);
    const char c = static_cast<char>(f.get());
    f.seekp(4096);
    f.put(static_cast<char>(c ^ 0x01));
  }
  RunResult bad = cli({"evidence", "verify", id});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("FAILED content"), std::string::npos) << bad.out;
  EXPECT_NE(bad.err.find("does NOT verify"), std::string::npos) << bad.err;
  // And `get` refuses to hand out bytes that no longer match.
  EXPECT_EQ(cli({"evidence", "get", id, "--out", copy + ".2"}).exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(copy + ".2"));
}

TEST_F(ImageTest, ZstdStorageRestoresTheExactImage) {
  ASSERT_NO_FATAL_FAILURE(attach(12 << 20, 9));
  const std::string id = image({loop_.device, "--compress", "zstd"});
  ASSERT_FALSE(id.empty()) << last_out_;
  RunResult show = cli({"evidence", "show", id, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(jsonString(show.out, "compression"), "zstd");
  const std::string stored = d_->dataDir() + "/evidence/" + jsonString(show.out, "stored_name");
  EXPECT_TRUE(stored.ends_with(".img.zst")) << stored;
  // The stored file is a plain zstd stream: the standard tool restores the device's bytes.
  auto restored = run({"sh", "-c", "zstd -dc " + stored + " | sha256sum"});
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->out.substr(0, 64), loop_.sha256);
  EXPECT_EQ(sha256sum(stored), jsonString(show.out, "stored_sha256"));
  RunResult verify = cli({"evidence", "verify", id});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const std::string copy = d_->controllerHost().dir() + "/copy.img";
  EXPECT_EQ(cli({"evidence", "get", id, "--out", copy}).exit_code, 0);
  EXPECT_EQ(sha256sum(copy), loop_.sha256);
}

// An auditor with copies of the store's files and an export of the log checks the evidence
// offline (`warden audit verify EXPORT --vkey log.vkey --evidence FILE`): raw and zstd items
// verify; a changed byte of the content, a manifest whose signed bytes were edited, or an item
// whose receipt is not in the log each fail, naming the check.
TEST_F(ImageTest, AnAuditorVerifiesCopiedEvidenceOfflineAgainstTheLog) {
  ASSERT_NO_FATAL_FAILURE(attach(6 << 20, 13));
  const std::string raw = image({loop_.device});
  ASSERT_FALSE(raw.empty()) << last_out_;
  const std::string packed = image({loop_.device, "--compress", "zstd"});
  ASSERT_FALSE(packed.empty()) << last_out_;
  const std::string early = d_->controllerHost().dir() + "/early.export";
  ASSERT_EQ(cli({"audit", "export", "--out", early}).exit_code, 0);

  // The auditor's copies (writable, so the test can tamper with them below).
  const std::string store = d_->dataDir() + "/evidence/";
  const std::string copies = d_->controllerHost().dir() + "/auditor";
  std::filesystem::create_directories(copies);
  for (const std::string& name :
       {raw + ".img", raw + ".manifest", packed + ".img.zst", packed + ".manifest"}) {
    std::filesystem::copy_file(store + name, copies + "/" + name);
    std::filesystem::permissions(copies + "/" + name, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
  }
  const std::string exported = d_->controllerHost().dir() + "/audit.export";
  ASSERT_EQ(cli({"audit", "export", "--out", exported}).exit_code, 0);
  const std::string vkey = d_->dataDir() + "/log.vkey";
  auto verify = [&](const std::string& log, const std::vector<std::string>& items) {
    std::vector<std::string> argv = {"audit", "verify", log, "--vkey", vkey};
    for (const auto& i : items) {
      argv.push_back("--evidence");
      argv.push_back(copies + "/" + i);
    }
    return cli(argv);
  };

  RunResult good = verify(exported, {raw + ".img", packed + ".manifest"});
  std::printf("%s", good.out.c_str());
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
  EXPECT_NE(good.out.find("evidence " + raw + ": verified"), std::string::npos) << good.out;
  EXPECT_NE(good.out.find("evidence " + packed + ": verified"), std::string::npos) << good.out;
  EXPECT_NE(good.out.find(loop_.sha256), std::string::npos) << good.out;
  EXPECT_NE(good.out.find("decompressed"), std::string::npos) << good.out;

  // An item imaged after the export: that log has no receipt for it, so cannot vouch for it.
  const std::string late = image({loop_.device});
  ASSERT_FALSE(late.empty());
  for (const std::string& name : {late + ".img", late + ".manifest"}) {
    std::filesystem::copy_file(store + name, copies + "/" + name);
  }
  RunResult unlogged = verify(early, {late + ".img"});
  EXPECT_EQ(unlogged.exit_code, 1) << unlogged.out << unlogged.err;
  EXPECT_NE(unlogged.out.find("the log has no receipt of action"), std::string::npos)
      << unlogged.out;

  // One changed byte of the content.
  {
    std::fstream f(copies + "/" + raw + ".img", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12345);
    f.put('\x5a');
  }
  RunResult changed = verify(exported, {raw + ".img"});
  EXPECT_EQ(changed.exit_code, 1) << changed.out << changed.err;
  EXPECT_NE(changed.out.find("content   FAIL"), std::string::npos) << changed.out;

  // The manifest's signed bytes edited (its size claim), signature line kept.
  const std::string manifest_path = copies + "/" + packed + ".manifest";
  auto manifest = readFile(manifest_path);
  ASSERT_TRUE(manifest.ok());
  std::string edited = *manifest;
  const std::size_t at = edited.find("\"size_bytes\": ");
  ASSERT_NE(at, std::string::npos);
  edited.insert(at + 14, "1");
  ASSERT_TRUE(writeFileAtomic(manifest_path, edited, 0644).ok());
  RunResult forged = verify(exported, {packed + ".img.zst"});
  EXPECT_EQ(forged.exit_code, 1) << forged.out << forged.err;
  EXPECT_NE(forged.out.find("signature FAIL"), std::string::npos) << forged.out;
  EXPECT_NE(forged.out.find("receipt   FAIL"), std::string::npos) << forged.out;

  // A name the store never uses is bad input, before anything is read; so is evidence without
  // a pinned log key (a log checked against its own key could be forged to match).
  EXPECT_EQ(verify(exported, {"../audit.export"}).exit_code, 2);
  EXPECT_EQ(cli({"audit", "verify", exported, "--evidence", copies + "/" + raw + ".img"}).exit_code,
            2);
}

// On a terminal, `warden image` draws the transfer: percentage, bytes, rate and time left.
TEST_F(ImageTest, ProgressOnATerminal) {
  ASSERT_NO_FATAL_FAILURE(attach(16 << 20, 3));
  // script(1) gives the CLI a pseudo-terminal; its output is what the operator would see.
  const std::string command = absl::StrFormat("%s --profile %s image host-42 %s --rate 8",
                                              wardenBinary("warden"), d_->profile(), loop_.device);
  auto r = d_->controllerHost().exec({"script", "-qfec", command, "/dev/null"}, absl::Seconds(120));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
  EXPECT_NE(r->out.find("MB/s"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("ETA "), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("/ 16.0 MiB"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("sha256 " + loop_.sha256), std::string::npos) << r->out;
}

// The agent is killed part way through a rate-limited transfer and started again: the image
// completes with the right hash, resumed from what the controller held, and nothing beyond the
// chunk in flight crossed the network twice.
TEST_F(ImageTest, KilledAgentResumesWhereTheControllerStands) {
  ASSERT_NO_FATAL_FAILURE(attach(32 << 20, 7));
  std::unique_ptr<Process> cli_process;
  ASSERT_NO_FATAL_FAILURE(startSlowImage(cli_process));
  ASSERT_TRUE(d_->killAgent("host-42", SIGKILL).ok());
  ASSERT_TRUE(d_->startAgent("host-42").ok());
  auto ended = cli_process->wait(absl::Seconds(120));
  ASSERT_TRUE(ended.ok()) << ended.status();
  const std::string out = cli_process->output();
  ASSERT_EQ(ended->exit_code, 0) << out << d_->agentLog("host-42") << d_->controllerLog();
  const std::string id = jsonString(out, "evidence_ids");
  EXPECT_EQ(jsonString(out, id + ".controller_sha256"), loop_.sha256) << out;
  const std::string resumed = jsonString(out, id + ".resumed_from");
  EXPECT_NE(resumed, "0") << "it resumed where the controller stood: " << out;
  EXPECT_FALSE(resumed.empty()) << out;

  RunResult show = cli({"evidence", "show", id, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  const std::uint64_t size = 32 << 20;
  const std::uint64_t wire = std::stoull("0" + jsonNumber(show.out, "wire_bytes"));
  EXPECT_GE(std::stoi("0" + jsonNumber(show.out, "streams")), 2) << show.out;
  EXPECT_GE(wire, size) << show.out;
  EXPECT_LE(wire, size + (1 << 20)) << "re-sent more than the chunk in flight: " << show.out;
  EXPECT_EQ(cli({"evidence", "verify", id}).exit_code, 0);
}

// The controller restarts in the middle of a transfer: the agent finds where the new process
// stands and finishes; the operator follows the action with `warden action`.
TEST_F(ImageTest, ControllerRestartMidTransferResumes) {
  ASSERT_NO_FATAL_FAILURE(attach(32 << 20, 11));
  std::unique_ptr<Process> cli_process;
  ASSERT_NO_FATAL_FAILURE(startSlowImage(cli_process));
  ASSERT_TRUE(d_->restartController().ok()) << d_->controllerLog();
  (void)cli_process->wait(absl::Seconds(30));
  // The action, from the controller's list.
  std::string action_id;
  for (int i = 0; i < 100 && action_id.empty(); ++i) {
    RunResult actions = cli({"actions", "--host", "host-42", "--json"});
    for (absl::string_view line : absl::StrSplit(actions.out, '\n')) {
      if (line.find("\"id\": \"") != absl::string_view::npos) {
        action_id = jsonString(std::string(line), "id");
      }
      if (line.find("\"kind\": \"image\"") != absl::string_view::npos) break;
    }
    if (action_id.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(action_id.empty());
  std::string state, shown;
  for (int i = 0; i < 600 && (state.empty() || state == "queued" || state == "delivered"); ++i) {
    RunResult a = cli({"action", action_id, "--json"});
    state = jsonString(a.out, "state");
    shown = a.out;
    if (state == "queued" || state == "delivered") absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(state, "succeeded") << shown << d_->agentLog("host-42") << d_->controllerLog();
  const std::string id = action_id + "-1";
  EXPECT_EQ(jsonString(shown, id + ".controller_sha256"), loop_.sha256) << shown;
  EXPECT_NE(jsonString(shown, id + ".resumed_from"), "0") << shown;
  EXPECT_EQ(cli({"evidence", "verify", id}).exit_code, 0);
}

TEST_F(ImageTest, BadSourcesFailClearlyAndNothingIsListedComplete) {
  // A directory and a missing path: bad input (exit 2), the reason named.
  RunResult dir = cli({"image", "host-42", "/etc"});
  EXPECT_EQ(dir.exit_code, 2) << dir.out << dir.err;
  EXPECT_NE((dir.out + dir.err).find("/etc"), std::string::npos) << dir.out << dir.err;
  RunResult missing = cli({"image", "host-42", "/dev/does-not-exist"});
  EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
  EXPECT_EQ(cli({"image", "host-42", "relative/path"}).exit_code, 2);
  EXPECT_EQ(cli({"image", "host-42", "/dev/null", "--compress", "lz4"}).exit_code, 2);

  // A source the agent may not read: an agent without the capability to override file modes
  // and a file that only its owner (nobody) may read.
  ASSERT_TRUE(d_->killAgent("host-42", SIGTERM).ok());
  ASSERT_TRUE(d_->startAgent("host-42", {},
                             {"setpriv", "--bounding-set=-dac_override,-dac_read_search",
                              "--inh-caps=-dac_override,-dac_read_search", "--"})
                  .ok())
      << d_->agentLog("host-42");
  const std::string secret = d_->host("host-42").dir() + "/unreadable.img";
  std::ofstream(secret) << std::string(1 << 20, 's');
  ASSERT_EQ(::chown(secret.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  RunResult denied = cli({"image", "host-42", secret});
  EXPECT_EQ(denied.exit_code, 1) << denied.out << denied.err;
  EXPECT_NE((denied.out + denied.err).find("ermission denied"), std::string::npos)
      << denied.out << denied.err;

  RunResult list = cli({"evidence", "list", "--json"});
  EXPECT_EQ(list.out.find("\"state\": \"complete\""), std::string::npos) << list.out;
}

// A source with bad sectors (a FUSE file on host-42 whose reads of two ranges fail with EIO,
// see tests/support/eio_fuse.h): the image completes, the bad sectors are zeros in it and
// everything else is the source's, the receipt says how much was replaced, the agent-signed
// manifest lists each range, and `evidence verify` passes on what was stored.
TEST_F(ImageTest, UnreadableSectorsAreZeroFilledAndNamedInTheManifest) {
  TestHost& host = d_->host("host-42");
  const std::size_t size = 3 << 20;
  std::mt19937_64 rng(5);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  const std::string content = host.dir() + "/bad-disk.content";
  std::ofstream(content, std::ios::binary) << data;
  const std::string mnt = host.dir() + "/bad-disk";
  std::filesystem::create_directories(mnt);
  const std::uint64_t bad1 = (1 << 20) + (64 << 10), bad2 = (2 << 20) + 512;
  std::string zeroed = data;
  std::memset(zeroed.data() + bad1, 0, 8192);
  std::memset(zeroed.data() + bad2, 0, 512);
  const std::string expected = crypto::hex(crypto::sha256(zeroed));

  auto fs = host.spawn({wardenBinary("warden-test-eiofs"), mnt, content,
                        absl::StrFormat("%d:8192", bad1), absl::StrFormat("%d:512", bad2)});
  ASSERT_TRUE(fs.ok()) << fs.status();
  for (int i = 0; i < 100 && (*fs)->output().find("ready") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_NE((*fs)->output().find("ready"), std::string::npos) << (*fs)->output();

  const std::string id = image({mnt + "/disk.img"});
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(jsonString(last_out_, id + ".sha256"), expected) << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".controller_sha256"), expected) << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".read_errors"), "2") << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".zero_filled_bytes"), "8704") << last_out_;
  EXPECT_NE(last_out_.find("2 unreadable range(s), 8704 bytes replaced by zeros"),
            std::string::npos)
      << last_out_;
  auto manifest = d_->controllerHost().readFile(d_->dataDir() + "/evidence/" + id + ".manifest");
  ASSERT_TRUE(manifest.ok());
  EXPECT_NE(manifest->find(absl::StrFormat("\"read_errors\": [{\"offset\": %d, \"length\": 8192, "
                                           "\"errno\": %d}, {\"offset\": %d, \"length\": 512, "
                                           "\"errno\": %d}]",
                                           bad1, EIO, bad2, EIO)),
            std::string::npos)
      << *manifest;
  EXPECT_EQ(cli({"evidence", "verify", id}).exit_code, 0);
  ASSERT_TRUE((*fs)->signal(SIGTERM).ok());
  auto stopped = (*fs)->wait(absl::Seconds(30));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_NE((*fs)->output().find("stopping after"), std::string::npos) << (*fs)->output();
  EXPECT_EQ((*fs)->output().find("stopping after 0 failed reads"), std::string::npos)
      << (*fs)->output();
}

// The controller's evidence disk fills up part way: the action fails saying so, and the partial
// copy is listed as incomplete, never as complete.
TEST_F(ImageTest, FullEvidenceDiskFailsClearlyAndLeavesNoCompleteItem) {
  ASSERT_NO_FATAL_FAILURE(attach(32 << 20, 5));
  // A 16 MiB ext4 file system mounted over the evidence directory, in the controller's own
  // mount namespace only.
  TestHost& ctl = d_->controllerHost();
  const std::string fs = ctl.dir() + "/small-evidence.ext4";
  ASSERT_EQ(run({"truncate", "-s", "16M", fs})->exit_code, 0);
  auto mkfs = run({"mkfs.ext4", "-q", "-F", "-m", "0", fs});
  ASSERT_TRUE(mkfs.ok() && mkfs->exit_code == 0) << (mkfs.ok() ? mkfs->err : "");
  const std::string store = d_->dataDir() + "/evidence";
  auto mounted = ctl.exec({"mount", "-o", "loop", fs, store});
  ASSERT_TRUE(mounted.ok() && mounted->exit_code == 0) << (mounted.ok() ? mounted->err : "");
  struct Unmount {
    TestHost& host;
    std::string dir;
    ~Unmount() {
      (void)run({"chattr", "-R", "-i", dir});
      (void)host.exec({"umount", dir});
    }
  } unmount{ctl, store};
  ASSERT_EQ(ctl.exec({"chmod", "0700", store})->exit_code, 0);

  RunResult r = cli({"image", "host-42", loop_.device});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("No space left on device"), std::string::npos)
      << r.out << r.err << d_->controllerLog();
  RunResult list = cli({"evidence", "list", "--json"});
  EXPECT_EQ(list.out.find("\"state\": \"complete\""), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("\"state\": \"incomplete\""), std::string::npos) << list.out;
}

}  // namespace
}  // namespace warden::testing
