#include "controller/alerts/notifier.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "common/log.h"
#include "common/status.h"
#include "controller/alerts/https_post.h"

namespace warden {
namespace {

using Clock = std::chrono::steady_clock;

// One event as sent: the same id and body to every target and on every attempt, so a
// receiver can drop a retry it already has (Standard Webhooks: webhook-id is the idempotency
// key). What the failure log names travels with it.
struct Message {
  std::string id;
  std::string body;
  std::string type;
  std::string host;
  std::string ref;
};

// One message to one target.
struct Delivery {
  std::shared_ptr<const Message> message;
  webhook::HttpsUrl url;
  std::uint32_t attempts = 0;  // made so far
  Clock::time_point not_before;
};

// The thin body: only the documented fields, empty ones left out. log_index 0 is the log's
// genesis entry, never an action's, so 0 means "none".
std::string eventBody(const NotifyEvent& e, absl::Time at) {
  Json j = Json::object();
  auto put = [&j](const char* name, const std::string& value) {
    if (!value.empty()) j[name] = value;
  };
  put("type", e.type);
  put("host", e.host);
  put("action", e.action);
  put("outcome", e.outcome);
  put("ref", e.ref);
  if (e.log_index != 0) j["log_index"] = e.log_index;
  put("incident", e.incident);
  j["timestamp"] = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", at, absl::UTCTimeZone());
  return dumpJson(j);
}

// first_retry_ms, then four times longer each time; capped at an hour, far beyond any
// configured schedule, so the arithmetic cannot overflow.
std::chrono::milliseconds retryDelay(std::uint32_t first_ms, std::uint32_t attempts_made) {
  std::uint64_t ms = first_ms;
  for (std::uint32_t i = 1; i < attempts_made && ms < 3'600'000; ++i) ms *= 4;
  return std::chrono::milliseconds(std::min<std::uint64_t>(ms, 3'600'000));
}

class WebhookNotifier final : public Notifier {
 public:
  WebhookNotifier(crypto::Ed25519Key key, NotifierOptions options)
      : key_(std::move(key)), options_(std::move(options)), poster_(options_.ca_file) {}
  ~WebhookNotifier() override { stop(); }

  // Throws std::system_error when the thread cannot start.
  void begin() {
    std::lock_guard<std::mutex> lock(join_mu_);
    thread_ = std::thread([this] { run(); });
  }

  void setTargets(std::vector<std::string> urls) override {
    std::vector<webhook::HttpsUrl> parsed;
    std::vector<std::string> seen;
    for (const std::string& url : urls) {
      if (std::find(seen.begin(), seen.end(), url) != seen.end()) continue;
      seen.push_back(url);
      auto u = webhook::parseHttpsUrl(url);
      if (!u.ok()) {
        // The query may hold a token: never logged.
        logWarning("notify URL %s ignored: %s", url.substr(0, url.find('?')), u.status().message());
        continue;
      }
      parsed.push_back(*std::move(u));
    }
    std::lock_guard<std::mutex> lock(mu_);
    targets_ = std::move(parsed);
  }

  void notify(const NotifyEvent& e) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (targets_.empty()) return;
    }
    // Built outside the lock, which the delivery thread takes too.
    auto id = crypto::randomBytes(16);
    auto message = std::make_shared<Message>();
    if (id.ok()) {
      message->id = "msg_" + crypto::hex(*id);
      message->body = eventBody(e, absl::Now());
      message->type = e.type;
      message->host = e.host;
      message->ref = e.ref;
    }
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    bool queued = false;
    for (const webhook::HttpsUrl& url : targets_) {
      if (!id.ok() || stopping_ || queue_.size() >= options_.max_queued) {
        ++counts_.dropped;
        continue;
      }
      queue_.push_back(Delivery{message, url, 0, now});
      queued = true;
    }
    if (queued) cv_.notify_one();
  }

  Counts counts() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }

  void stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    std::lock_guard<std::mutex> lock(join_mu_);
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    Delivery d;
    while (next(d)) attempt(d);
  }

  // Waits for the first queued delivery that is due; false when stopping. A retry that is not
  // due yet does not hold up the deliveries behind it.
  bool next(Delivery& out) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (stopping_) {
        if (!queue_.empty()) {
          logWarning("%u webhook notifications not sent: the controller is stopping",
                     queue_.size());
          queue_.clear();
        }
        return false;
      }
      const auto now = Clock::now();
      auto earliest = Clock::time_point::max();
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (it->not_before <= now) {
          out = std::move(*it);
          queue_.erase(it);
          return true;
        }
        earliest = std::min(earliest, it->not_before);
      }
      if (queue_.empty()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, earliest);
      }
    }
  }

  void attempt(Delivery& d) {
    const Message& m = *d.message;
    const std::int64_t ts = absl::ToUnixSeconds(absl::Now());
    absl::StatusOr<unsigned> answer = absl::InternalError("not sent");
    auto signature = webhookSignature(key_, m.id, ts, m.body);
    if (signature.ok()) {
      const webhook::HttpHeaders headers = {{"webhook-id", m.id},
                                            {"webhook-timestamp", absl::StrCat(ts)},
                                            {"webhook-signature", *signature}};
      answer = poster_.post(d.url, headers, m.body, std::chrono::milliseconds(options_.timeout_ms));
    } else {
      answer = signature.status();
    }
    ++d.attempts;
    if (answer.ok() && *answer >= 200 && *answer < 300) {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_.delivered;
      return;
    }
    const std::uint32_t attempts = std::max<std::uint32_t>(options_.attempts, 1);
    if (d.attempts < attempts && signature.ok()) {
      d.not_before = Clock::now() + retryDelay(options_.first_retry_ms, d.attempts);
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(d));  // may pass max_queued by this one, already counted
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_.failed;
    }
    const std::string why =
        answer.ok() ? absl::StrCat("HTTP ", *answer) : std::string(answer.status().message());
    logWarning("webhook notification %s (%s, host %s, ref %s) to %s failed after %u attempt(s): %s",
               m.id, m.type, m.host, m.ref, d.url.forLog(), d.attempts, why);
  }

  const crypto::Ed25519Key key_;
  const NotifierOptions options_;
  webhook::HttpsPoster poster_;  // the delivery thread's alone

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<webhook::HttpsUrl> targets_;
  std::deque<Delivery> queue_;
  Counts counts_;
  bool stopping_ = false;

  std::mutex join_mu_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Notifier> Notifier::start(crypto::Ed25519Key key, NotifierOptions options) {
  auto notifier = std::make_unique<WebhookNotifier>(std::move(key), std::move(options));
  try {
    notifier->begin();
  } catch (const std::system_error& e) {
    logError("cannot start the webhook notifier: %s", e.what());
    return nullptr;
  }
  return notifier;
}

absl::StatusOr<std::string> webhookSignature(const crypto::Ed25519Key& key, const std::string& id,
                                             std::int64_t timestamp_s, const std::string& body) {
  WARDEN_ASSIGN_OR_RETURN(std::string signature,
                          key.sign(absl::StrCat(id, ".", timestamp_s, ".", body)));
  return "v1a," + crypto::base64(signature);
}

}  // namespace warden
