"""The pages a manager looks at, one module per page kind — today, board, stage, funnel,
forecast, deal (and its move prompt), contact, message, activity, login — each with the
changes made there beside it, and their routes (`page()` in web/auth.py puts each behind
the login, but the login page itself).
Every page is JSON too at its path + `.json` (`/deals/4.json`, the board `/.json`), the
data of the CLI's --json for the same question (each `…_json` function names its command).
A visitor's pages — forms.py (a web form's submission and its thank-you) and unsubscribe.py
— are here too; web/app.py routes them outside the login.
Each reads the same report functions as the CLI and changes deals through the same library
calls (history written, events recorded, so the workflows fire); no SQL here."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import Route

from salesflow.store.db import LARGEST_ID
from salesflow.web.auth import data, page
from salesflow.web.pages.activity import activity, activity_json, retry_run
from salesflow.web.pages.board import board, board_json
from salesflow.web.pages.contact import contact, contact_json, email_status
from salesflow.web.pages.deal import check, deal, deal_json, edit, lost, move, won
from salesflow.web.pages.forecast import forecast, forecast_json
from salesflow.web.pages.funnel import funnel, funnel_json
from salesflow.web.pages.login import login, login_form, logout
from salesflow.web.pages.message import email_html, message, message_json, retry_message
from salesflow.web.pages.prompt import prompt
from salesflow.web.pages.stage import stage, stage_json
from salesflow.web.pages.today import today, today_json


class _Id(Convertor):
    """A record's id in a path. Digits too many for any id (past SQLite's integers, or past
    the 4,300 Python reads) stand for LARGEST_ID + 1: found nowhere, a 404 like any other."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value) if len(value) <= len(str(LARGEST_ID)) else LARGEST_ID + 1

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", _Id())


JSON_ROUTES = [
    Route(path, page(data(handler)), methods=["GET"])
    for path, handler in (
        ("/.json", board_json),
        ("/pipelines/{pipeline}/stages/{stage}.json", stage_json),
        ("/funnel.json", funnel_json),
        ("/forecast.json", forecast_json),
        ("/activity.json", activity_json),
        ("/today.json", today_json),
        ("/deals/{deal:id}.json", deal_json),
        ("/contacts/{contact:id}.json", contact_json),
        ("/messages/{message:id}.json", message_json),
    )
]
"""Before the pages: `/pipelines/p/stages/s.json` would be the page of a stage `s.json`."""

ROUTES = [
    *JSON_ROUTES,
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", page(logout), methods=["POST"]),
    Route("/", page(board), methods=["GET"]),
    Route("/pipelines/{pipeline}/stages/{stage}", page(stage), methods=["GET"]),
    Route("/funnel", page(funnel), methods=["GET"]),
    Route("/forecast", page(forecast), methods=["GET"]),
    Route("/activity", page(activity), methods=["GET"]),
    Route("/today", page(today), methods=["GET"]),
    Route("/deals/{deal:id}", page(deal), methods=["GET"]),
    Route("/deals/{deal:id}/move", page(prompt), methods=["GET"]),
    Route("/deals/{deal:id}/move", page(move, change=True), methods=["POST"]),
    Route("/deals/{deal:id}/check", page(check, change=True), methods=["POST"]),
    Route("/deals/{deal:id}/won", page(won, change=True), methods=["POST"]),
    Route("/deals/{deal:id}/lost", page(lost, change=True), methods=["POST"]),
    Route("/deals/{deal:id}/edit", page(edit, change=True), methods=["POST"]),
    Route("/contacts/{contact:id}", page(contact), methods=["GET"]),
    Route("/contacts/{contact:id}/email-status", page(email_status, change=True), methods=["POST"]),
    Route("/messages/{message:id}", page(message), methods=["GET"]),
    Route("/messages/{message:id}/html", page(email_html), methods=["GET"]),
    Route("/messages/{message:id}/retry", page(retry_message, change=True), methods=["POST"]),
    Route("/runs/{run:id}/retry", page(retry_run, change=True), methods=["POST"]),
]
