"""The engine's handlers, one per action of salesflow.config.actions.ACTIONS (a test checks
that both registries name the same actions)."""

from __future__ import annotations

from salesflow.engine.actions import flow, messages, records, requests, team

HANDLERS = {
    "upsert_contact": records.upsert_contact,
    "update_contact": records.update_contact,
    "create_deal": records.create_deal,
    "move_deal": records.move_deal,
    "update_deal": records.update_deal,
    "create_ticket": records.create_ticket,
    "move_ticket": records.move_ticket,
    "update_ticket": records.update_ticket,
    "assign_owner": team.assign_owner,
    "send_email": messages.send_email,
    "notify": messages.notify,
    "create_task": team.create_task,
    "http": requests.http,
    "wait": flow.wait,
    "wait_until": flow.wait_until,
    "branch": flow.branch,
    "stop": flow.stop,
}
