"""The README says what the code does.

Parameter defaults and reload rules, topic types, diagnostic keys, the simulator's parameters and every
`dyq-vla` command and option it shows are checked against the contract, the node's code and the CLI parser.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest

from dyq_vla_ros import contract

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    """The README's text under a '## title' heading, up to the next one."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of every body row of the markdown tables in text (header and rule rows left out)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows[1:] if rows else rows


def ticked(cell: str) -> list[str]:
    """The `code` spans of a cell, in order."""
    return re.findall(r"`([^`]*)`", cell)


def split_values(cell: str) -> list[str]:
    """A default cell's values: comma-separated at the top level (not inside brackets or code spans)."""
    values, depth, code, current = [], 0, False, ""
    for ch in cell:
        if ch == "`":
            code = not code
        elif not code and ch in "[(":
            depth += 1
        elif not code and ch in "])":
            depth -= 1
        if ch == "," and depth == 0 and not code:
            values.append(current.strip())
            current = ""
        else:
            current += ch
    return [*values, current.strip()]


def parse_default(text: str) -> object:
    """One documented default as a Python value: `""`, true/false, numbers, lists, bare words, multiples of π."""
    text = text.strip().strip("`").replace("\u2212", "-")
    if text in ("true", "false"):
        return text == "true"
    pi = re.fullmatch(r"(-?\d*\.?\d*)π", text)
    if pi:
        factor = pi.group(1)
        return (float(factor) if factor not in ("", "-") else float(f"{factor}1")) * math.pi
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: a string default such as auto or tool0


def same(documented: object, default: object) -> bool:
    """Whether a documented default equals the contract's (a scalar bound documents a one-element list)."""
    if isinstance(default, list) and not isinstance(documented, list):
        documented = [documented]
    if isinstance(default, bool) or isinstance(documented, bool):
        return type(documented) is type(default) and documented == default
    if isinstance(default, list):
        return (
            isinstance(documented, list)
            and len(documented) == len(default)
            and all(same(a, b) for a, b in zip(documented, default, strict=True))
        )
    if isinstance(default, float):
        return isinstance(documented, int | float) and math.isclose(documented, default, rel_tol=1e-9)
    return type(documented) is type(default) and documented == default


def parameter_rows() -> dict[str, tuple[object, bool]]:
    """Parameter name -> (documented default, documented as read-only), from the Parameters table."""
    documented: dict[str, tuple[object, bool]] = {}
    for names_cell, default_cell, meaning in table_rows(section("Parameters")):
        names = ticked(names_cell)
        values = split_values(default_cell)
        assert len(values) == len(names), f"row {names}: {len(names)} parameters but defaults {values}"
        for name, value in zip(names, values, strict=True):
            assert name not in documented, f"{name} has two rows"
            documented[name] = (parse_default(value), meaning.endswith("(read-only)"))
    return documented


def test_parse_default_reads_what_the_table_writes():
    assert parse_default('`""`') == "" and parse_default("`auto`") == "auto" and parse_default("tool0") == "tool0"
    assert parse_default("10.0") == 10.0 and parse_default("5") == 5 and parse_default("true") is True
    assert parse_default("`['']`") == [""] and parse_default("\u22122π") == pytest.approx(-2 * math.pi)
    assert split_values("`['a', 'b']`, 0.3") == ["`['a', 'b']`", "0.3"]
    assert not same(1, True) and not same(5.0, 5) and same(5, 5.0) and same(2 * math.pi, [2 * math.pi])


def test_the_parameter_table_documents_every_parameter_with_its_default_and_reload_rule():
    documented = parameter_rows()
    assert set(documented) == {p.name for p in contract.PARAMETERS}  # none missing, none the node lacks
    wrong_default = {
        p.name: (documented[p.name][0], p.default)
        for p in contract.PARAMETERS
        if not same(documented[p.name][0], p.default)
    }
    assert not wrong_default, f"README default != contract default: {wrong_default}"
    wrong_rule = [p.name for p in contract.PARAMETERS if documented[p.name][1] != p.read_only]
    assert not wrong_rule, f"README's (read-only) marking disagrees with ParameterSpec.read_only for {wrong_rule}"


def _module_classes(path: Path) -> dict[str, str]:
    """Message classes imported by a module: class name -> 'pkg/Name'."""
    tree = ast.parse(path.read_text())
    return {
        a.asname or a.name: f"{n.module.split('.')[0]}/{a.name}"
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module and n.module.endswith(".msg")
        for a in n.names
    }


def node_topic_types() -> dict[str, tuple[str, str]]:
    """Topic -> (message type, 'in' or 'out') as dyq_vla_node's code creates its publishers and subscriptions.

    Read from the source: each create_publisher / create_lifecycle_publisher / create_subscription call, and
    each (key, MessageClass, contract.TOPIC_*) tuple its publishers are made from. The camera subscriptions
    take their topics from the checkpoint's cameras; they stand for the default camera topics.
    """
    path = ROOT / "dyq_vla_ros" / "ros" / "policy_node.py"
    classes = _module_classes(path)
    found: dict[str, tuple[str, str]] = {}

    def topic_of(node: ast.AST) -> str | None:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "contract":
            return getattr(contract, node.attr)
        return None

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and len(node.args) >= 2:
            kind = {"create_publisher": "out", "create_lifecycle_publisher": "out", "create_subscription": "in"}
            direction = kind.get(node.func.attr)
            cls = node.args[0].id if isinstance(node.args[0], ast.Name) else None
            if direction is None or cls not in classes:
                continue
            topic = topic_of(node.args[1])
            if topic is not None:
                found[topic] = (classes[cls], direction)
            elif isinstance(node.args[1], ast.JoinedStr):  # f"{topic}/compressed": the image_transport twin
                for camera in contract.DEFAULT_CAMERA_TOPICS.values():
                    found[f"{camera}/compressed"] = (classes[cls], direction)
            else:  # a camera topic
                for camera in contract.DEFAULT_CAMERA_TOPICS.values():
                    found[camera] = (classes[cls], direction)
        elif isinstance(node, ast.Tuple) and len(node.elts) == 3:
            cls, topic = node.elts[1], topic_of(node.elts[2])
            if isinstance(cls, ast.Name) and cls.id in classes and topic is not None:
                found[topic] = (classes[cls.id], "out")  # the (key, class, topic) publisher table
    return found


def test_every_topic_row_gives_the_message_type_and_direction_the_node_uses():
    rows = {ticked(topic)[0]: (kind, direction) for topic, kind, direction in table_rows(section("Topics"))}
    node = node_topic_types()
    assert set(contract.SUBSCRIBED_TOPICS) <= set(node) and set(contract.PUBLISHED_TOPICS) <= set(node)
    for topic in contract.SUBSCRIBED_TOPICS + contract.PUBLISHED_TOPICS:
        assert topic in rows, f"{topic} has no row in the Topics table"
        kind, direction = rows[topic]
        documented = kind.split()[0].rstrip(",;:")
        assert (documented, direction) == node[topic], f"{topic}: README {documented} {direction}, node {node[topic]}"
    expected = {contract.SUBSCRIBED_TOPICS: "in", contract.PUBLISHED_TOPICS: "out"}
    assert all(rows[t][1] == d for topics, d in expected.items() for t in topics)
    # the one templated row is the default topic of any further camera
    templated = set(rows) - set(contract.SUBSCRIBED_TOPICS + contract.PUBLISHED_TOPICS)
    assert templated == {contract.camera_topic("NAME")}


def test_every_diagnostic_key_is_documented_and_every_documented_one_is_reported():
    from dyq_vla_ros.ros.inputs import COUNTERS  # the node's counters, reported beside the contract's keys

    paragraph = next(p for p in section("Topics").split("\n\n") if contract.DIAGNOSTIC_STATUS_NAME in p)
    named = set(ticked(paragraph))
    missing = [k for k in contract.DIAGNOSTIC_KEYS if k not in named]
    assert not missing, f"diagnostic keys not documented: {missing}"
    parameters = {p.name for p in contract.PARAMETERS}
    reported = set(contract.DIAGNOSTIC_KEYS) | set(COUNTERS)
    unknown = named - reported - parameters - {contract.DIAGNOSTIC_STATUS_NAME}
    assert not unknown, f"the diagnostics paragraph names keys the status does not carry: {unknown}"
    # the safety section's counters (`rejected_images`, `clipped_actions`, ...) are reported too
    safety = {n for n in ticked(section("Safety and robustness")) if re.fullmatch(r"[a-z_0-9]+", n)}
    unknown = safety - reported - parameters
    assert not unknown, f"the safety section names counters the status does not carry: {unknown}"


def test_the_simulator_section_lists_its_parameters_and_their_defaults():
    text = section("The built-in simulator")
    listing = text.split("Its parameters:", 1)[1].split("On a ROS machine", 1)[0]
    named = {name for name in ticked(listing) if re.fullmatch(r"[a-z_0-9]+", name)}  # not `dyq-vla demo`
    assert named == {p.name for p in contract.SIM_PARAMETERS}
    defaults = contract.SIM_PARAMETER_DEFAULTS
    flat = " ".join(text.split())
    camera = re.search(r"`/camera/image_raw` \((\d+) Hz\)", flat)
    joints = re.search(r"`/joint_states` \((\d+) Hz", flat)
    size = re.search(r"A fixed (\d+)x(\d+) RGB camera", flat)
    subscribers = re.search(r"`min_instruction_subscribers` \((\d+);", flat)
    held_out = re.search(r"held-out evaluation seeds\s+start at (\d+)", flat)
    assert camera and joints and size and subscribers and held_out
    assert float(camera.group(1)) == defaults["camera_rate_hz"] and float(joints.group(1)) == defaults["joint_rate_hz"]
    assert (int(size.group(1)), int(size.group(2))) == (defaults["image_width"], defaults["image_height"])
    assert int(subscribers.group(1)) == defaults["min_instruction_subscribers"]
    assert int(held_out.group(1)) == defaults["first_seed"]
    assert defaults["wrist_camera"] is True and "off with `wrist_camera:=false`" in flat


def _parser():
    from dyq_vla_ros.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return parser, sub.choices


def cli_mentions() -> list[tuple[str, str, bool]]:
    """(command, text, is a code-block line) for every `dyq-vla COMMAND ...` the README shows.

    Code-block lines are joined over trailing backslashes and lose their comments; inline code spans
    count when they start with the command (`dyq-vla demo --episodes 3`, or `gen-data --wrist-camera`).
    """
    _, commands = _parser()
    mentions = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].strip()
            if line.startswith("dyq-vla "):
                mentions.append((line.split()[1], line, True))
    for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README, flags=re.S)):
        words = span.split()
        if words and words[0] == "dyq-vla" and len(words) > 1:
            mentions.append((words[1], span, False))
        elif words and words[0] in commands and len(words) > 1 and words[1].startswith("--"):
            mentions.append((words[0], span, False))
    return mentions


def _options(parser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def check_choices(parser, text: str) -> None:
    """Every `--option {a,b,c}` in text lists exactly the option's choices."""
    choices = {o: {str(c) for c in a.choices} for a in parser._actions if a.choices for o in a.option_strings}
    for option, listed in re.findall(r"(--[a-z][a-z0-9-]*) \{([^}|]+)\}", text):
        if option in choices:
            assert set(listed.split(",")) == choices[option], f"README lists other choices for {option}: {text}"


def test_every_dyq_vla_command_and_option_the_readme_shows_exists():
    parser, commands = _parser()
    mentions = cli_mentions()
    assert len(mentions) > 20 and {c for c, _, _ in mentions} >= {"demo", "replay", "train", "eval", "bench"}
    for command, text, _ in mentions:
        assert command in commands, f"README shows `dyq-vla {command}`, which the CLI does not have: {text}"
        unknown = set(re.findall(r"--[a-z][a-z0-9-]*", text)) - _options(commands[command])
        assert not unknown, f"`dyq-vla {command}` has no option {sorted(unknown)} (README: {text})"
        check_choices(commands[command], text)
    # complete command lines (no [optional] or {a|b} synopsis) parse as they are written
    for _command, text, block in mentions:
        if block and not re.search(r"[\[{]", text):
            try:
                parser.parse_args(text.split()[1:])
            except SystemExit:
                pytest.fail(f"README's command line does not parse: {text}")
    # an option named alone (`--workers N`) is an option of some command; the demo's list is the demo's
    every = set().union(*(_options(c) for c in commands.values()))
    for option in re.findall(r"`(--[a-z][a-z0-9-]*)", README):
        assert option in every, f"README names {option}, which no dyq-vla command has"
    two_commands = section("Two commands")
    demo_options = re.search(r"^Options: (.*?)\n\n", two_commands, re.S | re.M)
    assert demo_options and "`make demo` runs `dyq-vla demo" in two_commands
    listed = set(re.findall(r"`(--[a-z][a-z0-9-]*)", demo_options.group(1)))
    assert listed == _options(commands["demo"]) - {"-h", "--help"}
    check_choices(commands["demo"], demo_options.group(1).replace("`", ""))


def test_the_two_commands_come_first():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
