-- Argo CD health check for codevector.dev/AuditSink (docs/argocd.md). Generic CodeVector rules,
-- the same for every kind: Current (kstatus) = status.observedGeneration equals
-- metadata.generation and the Ready condition is True. Written for gopher-lua (Lua 5.1), which
-- Argo CD embeds; tested against objects the operator wrote (e2e/src/live-status.test.ts).
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the CodeVector operator to reconcile this AuditSink"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "The operator has not reconciled generation " .. tostring(obj.metadata.generation) .. " yet"
  return hs
end
local ready = nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  end
end
if ready == nil or ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if ready.observedGeneration ~= nil and obj.metadata.generation ~= nil and ready.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "The Ready condition is from an older generation"
  return hs
end
if ready.status == "False" then
  -- Waiting on another resource that is being reconciled (a Model before its Provider).
  if ready.reason == "ProviderNotReady" then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = ready.reason .. ": " .. (ready.message or "")
  return hs
end
if obj.status.lastError ~= nil and obj.status.lagRows ~= nil and obj.status.lagRows > 0 then
  hs.status = "Degraded"
  hs.message = tostring(obj.status.lagRows) .. " audit rows not delivered; last error: " .. obj.status.lastError
  return hs
end
hs.status = "Healthy"
hs.message = ready.message or "Ready"
return hs
