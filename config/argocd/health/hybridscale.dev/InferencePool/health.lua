-- Argo CD health check for hybridscale.dev/InferencePool.
-- Contract: the global `obj` is the live object; return {status = ..., message = ...}.
-- Written for both Argo CD's gopher-lua (Lua 5.1) and Lua 5.4, which the tests run it with.
local function condition(status, type_)
  if status == nil or status.conditions == nil then return nil end
  for _, c in ipairs(status.conditions) do
    if c.type == type_ then return c end
  end
  return nil
end

local function describe(c)
  local text = c.type
  if c.reason ~= nil and c.reason ~= "" then text = text .. " (" .. c.reason .. ")" end
  if c.message ~= nil and c.message ~= "" then text = text .. ": " .. c.message end
  return text
end

local function is_true(c) return c ~= nil and c.status == "True" end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  return { status = "Progressing", message = "Waiting for hybridscale to report status" }
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  return { status = "Progressing",
           message = "Waiting for hybridscale to observe generation " .. tostring(generation) }
end

-- Problems first: any of them makes the pool Degraded even while it still serves traffic.
for _, t in ipairs({ "Degraded", "SignalsStale", "BudgetExceeded" }) do
  local c = condition(status, t)
  if is_true(c) then return { status = "Degraded", message = describe(c) } end
end

local progressing = condition(status, "Progressing")
if is_true(progressing) then return { status = "Progressing", message = describe(progressing) } end

local ready = condition(status, "Ready")
if is_true(ready) then
  local message = describe(ready)
  if is_true(condition(status, "RecommendOnly")) then
    message = message .. " (Recommend mode: the cluster is not changed)"
  end
  return { status = "Healthy", message = message }
end
if ready ~= nil and ready.status == "False" then
  return { status = "Degraded", message = describe(ready) }
end
return { status = "Progressing", message = "Waiting for the Ready condition" }
