#include "controller/agent_channel/agent_writer.h"

namespace warden {

bool AgentWriter::send(const v1::ControllerMessage& m) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  return stream_->Write(m);
}

void AgentWriter::close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
}

}  // namespace warden
