"""Phase 2 for salesflow.yaml and pipelines: values that a schema cannot judge."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from salesflow.config.jinja_check import check_jinja
from salesflow.config.model import CONTACT_TARGETS, DEAL_TARGETS, DatabaseUrl, Pipeline
from salesflow.config.scope import PAYLOAD_SCOPE
from salesflow.config.yamlfile import YamlFile, render_keypath
from salesflow.durations import parse_duration
from salesflow.errors import Problem, did_you_mean
from salesflow.values import EMAIL


def check_settings(document: YamlFile, env) -> list[Problem]:
    """Time zone, locale, currency, addresses, team, custom fields and forms of salesflow.yaml."""
    data = document.data
    problems = [
        *_check_timezone(document, data["timezone"]),
        *_check_locale(document, data.get("locale")),
        *_check_currency(document, data.get("currency")),
        *_check_email_settings(document, data.get("email", {})),
        *_check_team(document, data.get("team", [])),
        *_check_serve(document, data.get("serve", {})),
        *_check_database(document, data.get("database")),
    ]
    for kind, declared in data.get("fields", {}).items():
        for name, spec in declared.items():
            problems += _check_options(document, ("fields", kind, name), spec)
    for name, form in data.get("forms", {}).items():
        problems += _check_form(document, name, form, env)
    return problems


def _check_timezone(document: YamlFile, name: str) -> list[Problem]:
    try:
        ZoneInfo(name)
        return []
    except (ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(name, available_timezones())
        return [document.problem(("timezone",), f"unknown time zone '{name}'{hint}")]


def _check_database(document: YamlFile, text: str | None) -> list[Problem]:
    """A password written into salesflow.yaml would be committed with it."""
    if text is None or DatabaseUrl.parse(text) is None:
        return []
    if DatabaseUrl(text).has_password:
        message = (
            "a password in the database URL would be kept in Git with this file: remove it,"
            " and give it to PostgreSQL's client as PGPASSWORD, in ~/.pgpass or in a service"
            " file (PGSERVICEFILE)"
        )
        return [document.problem(("database",), message)]
    return []


def _check_locale(document: YamlFile, name: str | None) -> list[Problem]:
    from babel import Locale, UnknownLocaleError

    if name is None:
        return []
    bare = re.split(r"[.@]", name)[0]  # fr_FR.UTF-8, de_DE@euro: the system's spelling
    language, _, country = bare.replace("-", "_").partition("_")
    fixed = f"{language.lower()}_{country.upper()}" if country else language.lower()
    try:
        Locale.parse(fixed)
    except (UnknownLocaleError, ValueError):
        message = f"unknown locale '{name}': language_COUNTRY, e.g. fr_FR, en_US, de_CH"
        return [document.problem(("locale",), message)]
    if fixed != name:
        return [document.problem(("locale",), f"'{name}' is written {fixed} here")]
    return []


def _check_currency(document: YamlFile, code: str | None) -> list[Problem]:
    from babel.numbers import list_currencies

    if code is None or code in list_currencies():
        return []
    if code.upper() in list_currencies():
        return [document.problem(("currency",), f"'{code}' is written {code.upper()} here")]
    common = ("EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY", "SEK", "NOK", "DKK", "PLN")
    hint = did_you_mean(code.upper(), common) or did_you_mean(code.upper(), list_currencies())
    message = f"'{code}' is not a currency code{hint}: three capitals (ISO 4217), e.g. EUR, USD"
    return [document.problem(("currency",), message)]


def _check_email_settings(document: YamlFile, email: dict) -> list[Problem]:
    problems = [
        document.problem(("email", key), f"'{email[key]}' is not an email address")
        for key in ("from", "reply_to")
        if key in email and not EMAIL.match(parseaddr(email[key])[1])
    ]
    if email.get("transport") == "smtp" and "smtp" not in email:
        message = "transport smtp needs an smtp section with at least a host"
        problems.append(document.problem(("email", "transport"), message))
    return problems


def maildir_warnings(document: YamlFile, root: Path) -> list[Problem]:
    """`email.inbound.maildir` names a folder without new/, cur/ and tmp/: the mail server
    may not have created it yet, or it is on another machine — a warning; `run` stores the
    same fault each time it reads, and `check` reports it."""
    folder = document.data.get("email", {}).get("inbound", {}).get("maildir")
    if folder is None:
        return []
    missing = [sub for sub in ("new", "cur", "tmp") if not (root / folder / sub).is_dir()]
    if not missing:
        return []
    message = (
        f"{folder} is not a Maildir folder: it has no {'/, '.join(missing)}/; create it with"
        f" `mkdir -p {folder.rstrip('/')}/{{new,cur,tmp}}`, or name the folder the mail"
        " server delivers to"
    )
    return [document.problem(("email", "inbound", "maildir"), message)]


def _check_team(document: YamlFile, team: list[dict]) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for index, member in enumerate(team):
        if member["id"] in seen:
            message = f"team member id '{member['id']}' is used twice"
            problems.append(document.problem(("team", index, "id"), message))
        seen.add(member["id"])
        if not EMAIL.match(member["email"]):
            message = f"'{member['email']}' is not an email address"
            problems.append(document.problem(("team", index, "email"), message))
    return problems


def _check_serve(document: YamlFile, serve: dict) -> list[Problem]:
    """A session idle period shorter than a minute would end sessions between two clicks
    (their last use is noted once a minute); one past 7 days is never reached."""
    if "session_idle" not in serve:
        return []
    idle = parse_duration(serve["session_idle"])
    if timedelta(minutes=1) <= idle <= timedelta(days=7):
        return []
    message = f"session_idle {serve['session_idle']} is out of range: from 1m to 7d"
    return [document.problem(("serve", "session_idle"), message)]


def _check_options(document: YamlFile, keypath: tuple, spec: dict) -> list[Problem]:
    if spec["type"] == "choice" and not spec.get("options"):
        return [document.problem(keypath, "a choice field needs options: [a, b, …]")]
    if spec["type"] != "choice" and "options" in spec:
        message = f"options only apply to choice fields, not {spec['type']}"
        return [document.problem((*keypath, "options"), message, of_key=True)]
    return []


def _check_form(document: YamlFile, name: str, form: dict, env) -> list[Problem]:
    problems = []
    for field_name, spec in form["fields"].items():
        problems += _check_options(document, ("forms", name, "fields", field_name), spec)
    expressions = [(("forms", name, "key"), form["key"])] if "key" in form else []
    expressions += [
        (("forms", name, "map", key), text) for key, text in form.get("map", {}).items()
    ]
    for keypath, text in expressions:
        problems += jinja_problems(document, keypath, text, env, PAYLOAD_SCOPE)
    return problems


def jinja_problems(
    document: YamlFile, keypath: tuple, text: str, env, scope, **kw
) -> list[Problem]:
    """Jinja problems of a YAML value, located at the value's line (plus the template's)."""
    line, column = document.position(keypath)
    key = render_keypath(document.as_written(keypath))
    return [
        Problem(document.path, line + lineno - 1, column, message, key)
        for lineno, message in check_jinja(text, env, scope, **kw)
    ]


def check_pipeline(document: YamlFile, pipeline: Pipeline) -> list[Problem]:
    """The file is named after the id, stage ids are unique, some stage is still open, and
    exactly one stage is won: `deals won`, the forecast and the funnel's end need to know
    which (several lost stages are fine: they are reasons to lose)."""
    problems = check_file_name(document, pipeline.id, "pipeline")
    seen: set[str] = set()
    for index, stage in enumerate(pipeline.stages):
        if stage.id in seen:
            message = f"stage id '{stage.id}' is used twice in this pipeline"
            problems.append(document.problem(("stages", index, "id"), message))
        seen.add(stage.id)
    if all(stage.outcome for stage in pipeline.stages):
        message = "every stage is won or lost: add at least one open stage"
        problems.append(document.problem(("stages",), message))
    won = [index for index, stage in enumerate(pipeline.stages) if stage.outcome == "won"]
    if not won:
        message = "no stage is won: mark the stage that closes a sale with `outcome: won`"
        problems.append(document.problem(("stages",), message))
    for index in won[1:]:
        first = pipeline.stages[won[0]].id
        message = (
            f"a second won stage ('{pipeline.stages[index].id}' after '{first}'): a pipeline"
            " has one; make the others open stages before it"
        )
        problems.append(document.problem(("stages", index, "outcome"), message))
    return problems


def check_file_name(document: YamlFile, identifier: str, kind: str) -> list[Problem]:
    if Path(document.path).stem == identifier:
        return []
    message = f"the {kind} id '{identifier}' differs from the file name; rename one of them"
    return [document.problem(("id",), message)]


def check_imports(document: YamlFile, pipelines: dict, contact_fields: dict) -> list[Problem]:
    """Import mappings name real fields, pipelines and stages."""
    problems = []
    for name, spec in document.data.get("imports", {}).items():
        where = ("imports", name)
        pipeline = pipelines.get(spec.get("pipeline"))
        if "pipeline" in spec and pipeline is None:
            hint = did_you_mean(spec["pipeline"], list(pipelines))
            problems.append(
                document.problem(
                    (*where, "pipeline"), f"unknown pipeline '{spec['pipeline']}'{hint}"
                )
            )
        if "stage" in spec and pipeline and pipeline.stage(spec["stage"]) is None:
            hint = did_you_mean(spec["stage"], [stage.id for stage in pipeline.stages])
            message = f"'{spec['stage']}' is not a stage of pipeline '{pipeline.id}'{hint}"
            problems.append(document.problem((*where, "stage"), message))
        targets = [*CONTACT_TARGETS, *contact_fields, "ignore"]
        targets += list(DEAL_TARGETS) if "pipeline" in spec else []
        for column, target in spec.get("map", {}).items():
            if target not in targets:
                message = f"'{target}' is not a field to import into{did_you_mean(target, targets)}"
                problems.append(document.problem((*where, "map", column), message))
    return problems
