// End to end: certificates renewed over the channel (DESIGN.md "The hostile host"), with
// certificates of seconds so the tests see whole lifetimes go by. An agent renews while
// connected and keeps acting after its first certificate has expired; an agent whose certificate
// expired while it was stopped renews with its enrolled key alone (no join token) and its
// isolated host is released through the controller; an operator's profile renews on use and on
// `warden operator renew`, keeping its mode; the controller renews its own TLS certificate while
// it runs and warns of a CA that expires soon. The action log verifies after each.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/cert_lifetime.h"
#include "common/crypto/x509.h"
#include "common/files.h"
#include "common/profile.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

// Short enough that a test sees renewals and expiries; the controller's minimum is 20s.
const std::vector<std::string> kShortAgentCerts = {"--agent-cert-validity", "20s"};

std::string label(const char* base) { return absl::StrFormat("%s%d", base, getpid() % 100000); }

struct CertOnDisk {
  std::string pem;
  std::string fingerprint;
  crypto::CertValidity validity;
};

CertOnDisk readCert(const std::string& path) {
  CertOnDisk c;
  auto pem = readFile(path);
  EXPECT_TRUE(pem.ok()) << pem.status();
  if (!pem.ok()) return c;
  c.pem = *pem;
  c.fingerprint = crypto::certFingerprint(c.pem).value_or("");
  c.validity = crypto::certValidity(c.pem).value_or(crypto::CertValidity{});
  return c;
}

// Waits (bounded) until `path` holds a certificate other than `fingerprint`.
bool waitCertChanged(const std::string& path, const std::string& fingerprint,
                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto pem = readFile(path);
    if (pem.ok()) {
      auto fp = crypto::certFingerprint(*pem);
      if (fp.ok() && *fp != fingerprint) return true;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  return false;
}

void sleepUntil(absl::Time t) {
  const absl::Duration left = t - absl::Now();
  if (left > absl::ZeroDuration()) absl::SleepFor(left);
}

// Exports the log and verifies it offline against the controller's log key; the verifier's
// summary line.
std::string exportAndVerify(WardenDeployment& d, const std::string& name) {
  const std::string path = d.controllerHost().dir() + "/" + name;
  RunResult ex = d.cliResult({"audit", "export", "--out", path});
  EXPECT_EQ(ex.exit_code, 0) << ex.out << ex.err;
  RunResult v = d.cliResult({"audit", "verify", path, "--vkey", d.dataDir() + "/log.vkey"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  return v.out;
}

TEST(CertRenewalTest, AgentRenewsOverTheChannelAndActsAfterItsFirstCertificateExpired) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created = WardenDeployment::create(label("crn"), {{"host-41", 41}, {"host-42", 42}}, {},
                                          kShortAgentCerts);
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  ASSERT_TRUE(d.enroll("host-42").ok());
  const std::string crt = d.agentStateDir("host-42") + "/tls.crt";
  const CertOnDisk first = readCert(crt);
  ASSERT_FALSE(first.fingerprint.empty());
  // The controller issued what it was told to: 20 seconds (two of them back-dated).
  EXPECT_NEAR(absl::ToDoubleSeconds(first.validity.not_after - first.validity.not_before), 22, 1);
  ASSERT_TRUE(d.startAgent("host-42").ok()) << d.agentLog("host-42");
  RunResult iso = d.cliResult({"isolate", "host-42", "--reason", "renewal e2e"});
  ASSERT_EQ(iso.exit_code, 0) << iso.out << iso.err << d.agentLog("host-42");

  // Renewed over the channel once its last third began, with a new key.
  const std::string key_before = readFile(d.agentStateDir("host-42") + "/tls.key").value_or("");
  ASSERT_TRUE(waitCertChanged(crt, first.fingerprint, absl::Seconds(30)))
      << d.agentLog("host-42") << d.controllerLog();
  const CertOnDisk second = readCert(crt);
  EXPECT_GT(second.validity.not_after, first.validity.not_after);
  EXPECT_NE(readFile(d.agentStateDir("host-42") + "/tls.key").value_or(""), key_before);
  EXPECT_TRUE(absl::StrContains(d.agentLog("host-42"), "certificate renewed over the channel"))
      << d.agentLog("host-42");

  // After the first certificate expired, the host still answers through the controller: the
  // stream it opened keeps going, and a new connection uses the stored certificate.
  sleepUntil(first.validity.not_after + absl::Seconds(2));
  RunResult rel = d.cliResult({"release", "host-42"});
  EXPECT_EQ(rel.exit_code, 0) << rel.out << rel.err << d.agentLog("host-42");
  ASSERT_TRUE(d.killAgent("host-42", SIGTERM).ok());
  ASSERT_TRUE(d.startAgent("host-42").ok()) << d.agentLog("host-42");
  RunResult again = d.cliResult({"isolate", "host-42"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err << d.agentLog("host-42");
  EXPECT_EQ(d.cliResult({"release", "host-42"}).exit_code, 0);
  // The controller knows when the certificate in use expires.
  auto j = d.hostJson("host-42");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_NE(jsonNumber(*j, "cert_not_after_unix_ms"), "0") << *j;

  const std::string verified = exportAndVerify(d, "renewal.export");
  EXPECT_TRUE(absl::StrContains(verified, " renewal")) << verified;
}

TEST(CertRenewalTest, ExpiredWhileOfflineRenewsWithTheEnrolledKeyAndIsReleased) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created = WardenDeployment::create(label("cre"), {{"host-41", 41}, {"host-42", 42}}, {},
                                          kShortAgentCerts);
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  ASSERT_TRUE(d.enroll("host-42").ok());
  ASSERT_TRUE(d.startAgent("host-42").ok()) << d.agentLog("host-42");
  auto server = TcpEchoServer::start(d.host("host-42"));
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(tcpConnect(d.host("host-41"), d.host("host-42").ipv4(), (*server)->port()));
  RunResult iso = d.cliResult({"isolate", "host-42", "--reason", "offline expiry e2e"});
  ASSERT_EQ(iso.exit_code, 0) << iso.out << iso.err << d.agentLog("host-42");

  // The agent stops; its certificate runs out while it is away (whichever one it held then).
  ASSERT_TRUE(d.killAgent("host-42", SIGTERM).ok());
  ASSERT_TRUE(d.waitConnected("host-42", false).ok());
  const std::string crt = d.agentStateDir("host-42") + "/tls.crt";
  const CertOnDisk stale = readCert(crt);
  sleepUntil(stale.validity.not_after + absl::Seconds(2));
  EXPECT_FALSE(
      tcpConnect(d.host("host-41"), d.host("host-42").ipv4(), (*server)->port(), absl::Seconds(1)))
      << "isolation must hold while the agent is away";

  // `warden hosts` says so, in the table and in --json.
  auto j = d.hostJson("host-42");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_TRUE(absl::StrContains(jsonString(*j, "cert_warning"), "expired")) << *j;
  RunResult table = d.cliResult({"hosts"});
  EXPECT_TRUE(absl::StrContains(table.out, "Certificates:")) << table.out;

  // Back: no join token, no valid certificate; the enrolled key renews it, and the host is
  // released through the controller.
  ASSERT_TRUE(d.startAgent("host-42").ok()) << d.agentLog("host-42") << d.controllerLog();
  EXPECT_TRUE(
      absl::StrContains(d.agentLog("host-42"), "it had expired: proven with the enrolled key"))
      << d.agentLog("host-42");
  const CertOnDisk fresh = readCert(crt);
  EXPECT_NE(fresh.fingerprint, stale.fingerprint);
  RunResult rel = d.cliResult({"release", "host-42"});
  EXPECT_EQ(rel.exit_code, 0) << rel.out << rel.err << d.agentLog("host-42");
  EXPECT_TRUE(tcpConnect(d.host("host-41"), d.host("host-42").ipv4(), (*server)->port()));
  j = d.hostJson("host-42");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_FALSE(absl::StrContains(jsonString(*j, "cert_warning"), "expired")) << *j;

  // The renewal is in the log, as one made with the enrolled key, and the log verifies.
  RunResult shown = d.cliResult({"audit", "show", "--host", "host-42", "--last", "0"});
  EXPECT_TRUE(absl::StrContains(shown.out, "enrolled key over a single-use challenge"))
      << shown.out;
  const std::string verified = exportAndVerify(d, "expired.export");
  EXPECT_TRUE(absl::StrContains(verified, " renewal")) << verified;
}

TEST(CertRenewalTest, OperatorProfilesAndTheControllerCertificateRenewAndTheCaWarns) {
  WARDEN_REQUIRE_PRIVILEGES();
  // A CA of 30 days: inside the 60-day warning from its first day.
  const std::vector<std::string> serve = {"--operator-cert-validity", "20s",
                                          "--controller-cert-validity", "20s"};
  auto created = WardenDeployment::create(label("cro"), {}, {"--ca-validity", "30d"}, serve);
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;

  // The CA and the controller's certificate (which ends with the CA) are warned about.
  RunResult hosts = d.cliResult({"hosts", "--json"});
  ASSERT_EQ(hosts.exit_code, 0) << hosts.out << hosts.err;
  EXPECT_TRUE(absl::StrContains(hosts.out, "\"subject\": \"ca\"")) << hosts.out;
  EXPECT_TRUE(absl::StrContains(hosts.out, "\"subject\": \"controller\"")) << hosts.out;
  EXPECT_TRUE(absl::StrContains(hosts.err, "warning: the Warden CA expires in")) << hosts.err;
  EXPECT_TRUE(absl::StrContains(d.controllerLog(), "the Warden CA expires in"))
      << d.controllerLog();

  // The controller's own certificate: give it one of 20 seconds, from its CA, and restart it.
  const std::string dir = d.dataDir();
  auto ca_key = readFile(dir + "/ca.key");
  auto ca_pem = readFile(dir + "/ca.pem");
  auto server_key = readFile(dir + "/server.key");
  ASSERT_TRUE(ca_key.ok() && ca_pem.ok() && server_key.ok());
  crypto::CertProfile profile;
  profile.common_name = "warden-controller";
  profile.dns_names = {"warden-controller"};
  profile.ip_addresses = {d.controllerHost().ipv4()};
  profile.server = true;
  profile.validity = absl::Seconds(20);
  auto short_cert = crypto::issueCertificate(crypto::CertificateAuthority{*ca_pem, *ca_key},
                                             *server_key, profile);
  ASSERT_TRUE(short_cert.ok()) << short_cert.status();
  ASSERT_TRUE(d.stopController().ok());
  ASSERT_TRUE(writeFileAtomic(dir + "/server.pem", *short_cert, 0644).ok());
  ASSERT_TRUE(d.restartController({}, serve).ok());
  const CertOnDisk served_first = readCert(dir + "/server.pem");

  // An operator of the short-lived kind, with a profile of mode 0640.
  const std::string carol = d.controllerHost().dir() + "/carol.profile";
  RunResult add = d.cliResult({"operator", "add", "carol", "--role", "auditor", "--out", carol});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_EQ(::chmod(carol.c_str(), 0640), 0);
  auto profile_before = loadProfile(carol);
  ASSERT_TRUE(profile_before.ok()) << profile_before.status();
  auto carol_validity = crypto::certValidity(profile_before->cert_pem);
  ASSERT_TRUE(carol_validity.ok());

  // Any call once the renewal is due renews the profile, with a note on stderr.
  sleepUntil(renewalStart(*carol_validity) + absl::Milliseconds(500));
  auto as_carol = d.cliWithProfile(carol, {"hosts", "--json"});
  ASSERT_TRUE(as_carol.ok()) << as_carol.status();
  EXPECT_EQ(as_carol->exit_code, 0) << as_carol->out << as_carol->err;
  EXPECT_TRUE(absl::StrContains(as_carol->err, "renewed the operator certificate"))
      << as_carol->err;
  auto profile_after = loadProfile(carol);
  ASSERT_TRUE(profile_after.ok()) << profile_after.status();
  EXPECT_NE(profile_after->cert_pem, profile_before->cert_pem);
  EXPECT_NE(profile_after->key_pem, profile_before->key_pem);
  EXPECT_EQ(profile_after->signing_key_pem, profile_before->signing_key_pem);
  struct stat st = {};
  ASSERT_EQ(::stat(carol.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  // After the first certificate has expired the profile still works; `operator renew` renews
  // at once.
  sleepUntil(carol_validity->not_after + absl::Seconds(1));
  as_carol = d.cliWithProfile(carol, {"operator", "renew", "--json"});
  ASSERT_TRUE(as_carol.ok()) << as_carol.status();
  EXPECT_EQ(as_carol->exit_code, 0) << as_carol->out << as_carol->err;
  EXPECT_TRUE(absl::StrContains(as_carol->out, "\"operator\": \"carol\"")) << as_carol->out;

  // By now the controller renewed its own certificate (due ten seconds into its twenty) and
  // serves the new one: the CLI still connects after the first one expired.
  ASSERT_TRUE(waitCertChanged(dir + "/server.pem", served_first.fingerprint, absl::Seconds(20)))
      << d.controllerLog();
  sleepUntil(served_first.validity.not_after + absl::Seconds(3));
  RunResult after = d.cliResult({"hosts"});
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err << d.controllerLog();
  EXPECT_TRUE(absl::StrContains(d.controllerLog(), "controller TLS certificate"))
      << d.controllerLog();

  const std::string verified = exportAndVerify(d, "operators.export");
  EXPECT_TRUE(absl::StrContains(verified, " renewal")) << verified;
}

}  // namespace
}  // namespace warden::testing
