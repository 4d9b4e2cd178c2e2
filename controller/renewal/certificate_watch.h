// The controller's look at certificates, at start and then daily (and whenever its own
// certificate's renewal falls due): renews its TLS certificate (server_certificate.h) and logs a
// warning for the CA or its certificate expiring within 60 days and for each host whose
// certificate expires within 30 (DESIGN.md "The hostile host"). One thread, stopped with the
// server.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "controller/context.h"

namespace warden {

class CertificateWatch {
 public:
  explicit CertificateWatch(ControllerContext& ctx) : ctx_(ctx) {}
  ~CertificateWatch() { stop(); }

  void start();
  void stop();
  // One look at `now`; returns when to look next.
  absl::Time lookOnce(absl::Time now);

 private:
  void warn(absl::Time now);

  ControllerContext& ctx_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  int renewal_failures_ = 0;
  absl::Time next_warning_ = absl::InfinitePast();
  std::thread thread_;
};

}  // namespace warden
