-- Argo CD health check for hybridscale.dev/CostPolicy.
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

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  return { status = "Progressing", message = "Waiting for hybridscale to validate the policy" }
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  return { status = "Progressing",
           message = "Waiting for hybridscale to observe generation " .. tostring(generation) }
end

local valid = condition(status, "Valid")
if valid ~= nil and valid.status == "False" then
  return { status = "Degraded", message = describe(valid) }
end
local budget = condition(status, "BudgetExceeded")
if budget ~= nil and budget.status == "True" then
  return { status = "Degraded", message = describe(budget) }
end
if valid ~= nil and valid.status == "True" then
  return { status = "Healthy", message = describe(valid) }
end
return { status = "Progressing", message = "Waiting for the Valid condition" }
