#include "controller/agent_channel/agent_writer.h"

#include "common/log.h"

namespace warden {

AgentWriter::AgentWriter(AgentStream* stream, grpc::ServerContext* ctx, std::string host_id,
                         AgentQueueLimits limits)
    : stream_(stream), ctx_(ctx), host_id_(std::move(host_id)), limits_(limits) {
  thread_ = std::thread([this] { run(); });
}

AgentWriter::~AgentWriter() { close(); }

bool AgentWriter::send(const v1::ControllerMessage& m) {
  const std::size_t size = m.ByteSizeLong();
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  if (queue_.size() + 1 > limits_.max_messages || queued_bytes_ + size > limits_.max_bytes) {
    logWarning(
        "host %s: outbound queue full (%d messages, %d bytes): the agent is not reading; "
        "disconnecting it",
        host_id_, queue_.size(), queued_bytes_);
    closed_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    cv_.notify_all();
    ctx_->TryCancel();
    return false;
  }
  queue_.push_back(m);
  queued_bytes_ += size;
  cv_.notify_all();
  return true;
}

void AgentWriter::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return closed_ || !queue_.empty(); });
    if (closed_) break;
    v1::ControllerMessage m = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= std::min(queued_bytes_, m.ByteSizeLong());
    writing_ = true;
    lock.unlock();
    const bool ok = stream_->Write(m);
    lock.lock();
    writing_ = false;
    cv_.notify_all();
    if (!ok) {
      // The stream broke: the reader sees it too and ends the session.
      closed_ = true;
      queue_.clear();
      queued_bytes_ = 0;
      break;
    }
  }
}

void AgentWriter::close() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    closed_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    cv_.notify_all();
    // A write to a peer that stopped reading never ends on its own.
    if (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return !writing_; })) {
      ctx_->TryCancel();
    }
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace warden
