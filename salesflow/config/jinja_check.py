"""Static checks of Jinja templates and expressions: syntax, unknown filters, and names that
cannot exist (`contact.frist_name`), so a typo fails validation instead of the first real email.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jinja2 import TemplateSyntaxError, nodes
from jinja2.environment import Environment

from salesflow.errors import did_you_mean

# What may follow a name: None = anything (not known statically), else the known attributes;
# a string: nothing, the name is empty where it is read (the string says why); under the key
# "" of known attributes, why the others are empty.
Scope = dict[str, "Scope | str | None"]
_DICT_METHODS = {"get", "items", "keys", "values"}
# Attributes of functions, generators and code that the sandbox blocks besides `_…` names.
_UNSAFE = {"mro", "func_globals", "func_code", "gi_frame", "gi_code", "cr_frame", "cr_code",
           "ag_frame", "ag_code", "f_globals", "f_locals", "f_builtins", "f_code"}  # fmt: skip


def is_template(text: object) -> bool:
    return isinstance(text, str) and ("{{" in text or "{%" in text)


def check_jinja(
    source: str,
    env: Environment,
    scope: Scope,
    *,
    expression: bool = False,
    templates: set[str] | None = None,
) -> list[tuple[int, str]]:
    """(line, message) pairs for everything wrong in `source`; lines are 1-based in `source`.

    `templates`, when given, are the template file names that extends/include may name.
    """
    text = "{{ (" + source + ") }}" if expression else source
    try:
        if expression:
            env.compile_expression(source)
        tree = env.parse(text)  # parsed once; no code generated: its checks are done below
    except TemplateSyntaxError as error:
        unclosed = _unclosed_block(text) if "Unexpected end of template" in error.message else None
        return [unclosed or (error.lineno or 1, _syntax_message(error, env))]
    every = _every_node(tree)
    unknown = _unknown_filters(every, env)
    if unknown:
        return unknown
    problems = [
        (lineno, message)
        for lineno, chain, names in _chains(tree, {**scope, **_defined(tree.body)})
        for message in [_check_chain(chain, names, env)]
        if message
    ]
    problems += _unsafe_attributes(every)
    if templates is not None:
        problems += _missing_references(every, templates)
    return problems


def _every_node(tree: nodes.Template) -> list[nodes.Node]:
    """All the nodes of `tree`, walked once: each check then filters this list (a tag-dense
    template has ~100,000 nodes; walking them once per check doubled the checks' cost)."""
    found: list[nodes.Node] = []
    pending: list[nodes.Node] = [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        pending.extend(reversed(list(node.iter_child_nodes())))  # keeps document order
    return found


def _unsafe_attributes(every: list[nodes.Node]) -> list[tuple[int, str]]:
    """`x.__class__`, `f.__globals__`, `x['__mro__']`…: the sandbox refuses them when the
    email is rendered; say so now, at the line that reaches for one."""
    problems = []
    for node in every:
        if (
            isinstance(node, nodes.Getattr | nodes.Getitem)
            and _unsafe(node)
            and not _reaches_unsafe(node.node)
        ):  # the first one of a chain
            message = (
                f"'{_unsafe(node)}' cannot be reached from a template (the sandbox refuses it)"
            )
            problems.append((node.lineno, message))
    return problems


def _unsafe(node: nodes.Node) -> str | None:
    """The attribute or constant key `node` looks up, when the sandbox would refuse it."""
    if isinstance(node, nodes.Getattr):
        attr = node.attr
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        attr = node.arg.value
    else:
        return None
    return attr if isinstance(attr, str) and (attr.startswith("_") or attr in _UNSAFE) else None


def _reaches_unsafe(node: nodes.Node) -> bool:
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if _unsafe(node):
            return True
        node = node.node
    return False


_TAG = re.compile(r"\{%-?\s*(\w+)(.*?)-?%\}", re.S)
_BLOCKS = {"for", "if", "macro", "call", "filter", "block", "with", "raw", "autoescape", "trans"}


def _unclosed_block(text: str) -> tuple[int, str] | None:
    """(line, message) at the opening tag of the innermost block never closed: where the
    user must look, not the end of the file where Jinja noticed."""
    stack: list[tuple[str, int]] = []
    for match in _TAG.finditer(text):
        name, rest = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if name in _BLOCKS or (name == "set" and "=" not in rest):
            stack.append((name, line))
        elif name.startswith("end") and stack and stack[-1][0] == name[3:]:
            stack.pop()
    if not stack:
        return None
    name, line = stack[-1]
    return line, f"this {{% {name} %}} is never closed: add {{% end{name} %}}"


def _syntax_message(error: TemplateSyntaxError, env: Environment) -> str:
    unknown_filter = re.match(r"No filter named '(.+?)'", error.message or "")
    if unknown_filter:
        name = unknown_filter.group(1)
        return f"unknown filter '{name}'{did_you_mean(name, list(env.filters))}"
    return f"Jinja syntax error: {error.message}"


def _unknown_filters(every: list[nodes.Node], env: Environment) -> list[tuple[int, str]]:
    """Filters and tests the environment lacks (what compiling would refuse)."""
    problems = []
    for node in every:
        if not isinstance(node, nodes.Filter | nodes.Test):
            continue
        known = env.filters if isinstance(node, nodes.Filter) else env.tests
        if node.name not in known:
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            problems.append(
                (node.lineno, f"unknown {kind} '{node.name}'{did_you_mean(node.name, list(known))}")
            )
    return problems


# What Jinja's `loop` offers inside a {% for %}.
_LOOP: Scope = dict.fromkeys(("index", "index0", "revindex", "revindex0", "first", "last",
                              "length", "cycle", "depth", "depth0", "previtem", "nextitem",
                              "changed"))  # fmt: skip
# Names Jinja defines in one tag's body only.
_ONLY_INSIDE = {"loop": "a {% for %} loop", "caller": "a {% macro %} called by {% call %}",
                "varargs": "a {% macro %}", "kwargs": "a {% macro %}",
                "super": "a {% block %}"}  # fmt: skip
# Tags whose body is a scope of its own: what is set inside stays inside.
_SCOPES = nodes.For | nodes.Macro | nodes.CallBlock | nodes.With | nodes.Block


def _chains(node: nodes.Node, names: Scope) -> Iterator[tuple[int, list[str], Scope]]:
    """Every `name.attr['key']…` chain of constant lookups, with its line and the names in
    scope there: the context's, and those the template defines around it."""
    chain = _chain(node)
    if chain is not None:
        yield node.lineno, chain, names
        inner = node
        while isinstance(inner, nodes.Getitem | nodes.Getattr):
            if isinstance(inner, nodes.Getitem):
                yield from _chains(inner.arg, names)
            inner = inner.node
        return
    for children, seen in _parts(node, names):
        for child in children:
            yield from _chains(child, seen)


def _parts(node: nodes.Node, names: Scope) -> list[tuple[list[nodes.Node], Scope]]:
    """The children of `node`, each group with the names it sees: a for-loop's body sees its
    targets and `loop`, a macro's its arguments and `caller`, a with's its variables."""
    if isinstance(node, nodes.For):
        targets = {**names, **_bound(node.target)}
        body = {**targets, "loop": _LOOP, **_defined(node.body)}
        test = [node.test] if node.test else []
        return [([node.iter, *node.else_], names), (test, targets), (node.body, body)]
    if isinstance(node, nodes.Macro | nodes.CallBlock):
        params = {name: None for arg in node.args for name in _bound(arg)}
        own: Scope = {"varargs": None, "kwargs": None}
        if isinstance(node, nodes.Macro):
            own["caller"] = None
        body = {**names, **own, **params, **_defined(node.body)}
        outside = [node.call] if isinstance(node, nodes.CallBlock) else []
        return [([*node.defaults, *outside], names), (node.body, body)]
    if isinstance(node, nodes.With):
        variables = {name: None for target in node.targets for name in _bound(target)}
        return [(node.values, names), (node.body, {**names, **variables, **_defined(node.body)})]
    if isinstance(node, nodes.Block):
        return [(node.body, {**names, "super": None, **_defined(node.body)})]
    return [(list(node.iter_child_nodes()), names)]


def _defined(body: list[nodes.Node]) -> Scope:
    """The names the statements of one scope define (set, macro, import), wherever they stand
    in it: an {% if %} opens no scope; for, macro, call, with and block do."""
    names: Scope = {}
    pending = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, nodes.Assign | nodes.AssignBlock):
            names.update(_bound(node.target))
        elif isinstance(node, nodes.Macro):
            names[node.name] = None
        elif isinstance(node, nodes.Import):
            names[node.target] = None
        elif isinstance(node, nodes.FromImport):
            names.update(dict.fromkeys(n if isinstance(n, str) else n[1] for n in node.names))
        if not isinstance(node, _SCOPES):
            pending.extend(c for c in node.iter_child_nodes() if isinstance(c, nodes.Stmt))
    return names


def _bound(target: nodes.Node) -> Scope:
    """The names an assignment target binds: `x`, or each of `(key, value)`."""
    if isinstance(target, nodes.Name):
        return {target.name: None}
    if isinstance(target, nodes.Tuple):
        return {name: None for item in target.items for name in _bound(item)}
    return {}  # ns.attr: sets an attribute, binds no name


def _chain(node: nodes.Node) -> list[str] | None:
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            parts.append(node.name)
            return parts[::-1]
        else:
            return None


def _check_chain(chain: list[str], scope: Scope, env: Environment) -> str | None:
    name = chain[0]
    if name not in scope:
        if name in env.globals:
            return None
        if name in _ONLY_INSIDE:
            return f"unknown variable '{name}': it exists only inside {_ONLY_INSIDE[name]}"
        return f"unknown variable '{name}'{did_you_mean(name, list(scope))}"
    level = scope[name]
    for depth, attr in enumerate(chain[1:], start=1):
        if isinstance(level, str):
            return level
        if level is None or attr.startswith("_") or attr in _UNSAFE:  # said by _unsafe_…
            return None
        if attr not in level:
            if attr in _DICT_METHODS:
                return None
            if isinstance(level.get(""), str):
                return level[""]
            owner = ".".join(chain[:depth])
            return f"'{attr}' is not a field of {owner}{did_you_mean(attr, list(level))}"
        level = level[attr]
    return None


def _missing_references(every: list[nodes.Node], templates: set[str]) -> list[tuple[int, str]]:
    problems = []
    references = nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport
    for node in every:
        if (
            isinstance(node, references)
            and isinstance(node.template, nodes.Const)
            and node.template.value not in templates
        ):
            name = node.template.value
            problems.append(
                (node.lineno, f"no template file '{name}'{did_you_mean(name, templates)}")
            )
    return problems
