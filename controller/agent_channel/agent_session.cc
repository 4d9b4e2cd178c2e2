#include "controller/agent_channel/agent_session.h"

namespace warden {

std::shared_ptr<AgentSession> AgentSessions::find(const std::string& host_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(host_id);
  return it == sessions_.end() ? nullptr : it->second;
}

void AgentSessions::add(std::shared_ptr<AgentSession> session) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = sessions_[session->host_id];
  if (slot) slot->ctx->TryCancel();
  slot = std::move(session);
}

void AgentSessions::remove(const std::shared_ptr<AgentSession>& session) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(session->host_id);
  if (it != sessions_.end() && it->second == session) sessions_.erase(it);
}

void AgentSessions::cancel(const std::string& host_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = sessions_.find(host_id); it != sessions_.end()) it->second->ctx->TryCancel();
}

}  // namespace warden
