#include "controller/renewal/certificate_watch.h"

#include <algorithm>

#include "common/cert_lifetime.h"
#include "common/log.h"
#include "controller/renewal/expiry_warnings.h"
#include "controller/renewal/server_certificate.h"

namespace warden {
namespace {

constexpr absl::Duration kWarningInterval = absl::Hours(24);
constexpr int kMaxHostLines = 20;

}  // namespace

void CertificateWatch::start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      lock.unlock();
      const absl::Time next = lookOnce(absl::Now());
      lock.lock();
      const absl::Duration wait = std::max(next - absl::Now(), absl::Milliseconds(100));
      cv_.wait_for(lock, absl::ToChronoMilliseconds(wait), [this] { return stopping_; });
    }
  });
}

void CertificateWatch::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Time CertificateWatch::lookOnce(absl::Time now) {
  ServerCertificate& served = *ctx_.server_certificate;
  absl::Time next = now + kWarningInterval;
  if (auto renewed = served.renewIfDue(now, *ctx_.log); !renewed.ok()) {
    ++renewal_failures_;
    const absl::Duration retry = renewalRetryDelay(served.validity(), renewal_failures_);
    logError("cannot renew the controller's TLS certificate (attempt %d; next in %s): %s",
             renewal_failures_, absl::FormatDuration(retry), renewed.status().message());
    next = std::min(next, now + retry);
  } else {
    renewal_failures_ = 0;
  }
  const crypto::CertValidity v = served.validity();
  if (!endsWithCa(v, served.caValidity()) && renewalStart(v) > now) {
    next = std::min(next, renewalStart(v));
  }
  if (now >= next_warning_) {
    warn(now);
    next_warning_ = now + kWarningInterval;
  }
  return std::min(next, next_warning_);
}

void CertificateWatch::warn(absl::Time now) {
  const ServerCertificate& served = *ctx_.server_certificate;
  for (const ExpiryWarning& w :
       controllerExpiryWarnings(served.caValidity(), served.validity(), now)) {
    logWarning("%s", w.message);
  }
  auto hosts = ctx_.registry().listHosts();
  if (!hosts.ok()) {
    logError("cannot list hosts to check their certificates: %s", hosts.status().message());
    return;
  }
  int named = 0, more = 0;
  for (const HostRecord& h : *hosts) {
    const std::string w =
        hostCertificateWarning(h.cert_not_after_ms, ctx_.sessions.find(h.host_id) != nullptr, now);
    if (w.empty()) continue;
    if (named++ < kMaxHostLines) {
      logWarning("host %s: %s", h.host_id, w);
    } else {
      ++more;
    }
  }
  if (more > 0)
    logWarning("... and %d more hosts whose certificates expire soon ('warden hosts')", more);
}

}  // namespace warden
