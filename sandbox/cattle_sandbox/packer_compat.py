"""Packer 1.6.6 compatibility: a copy of a template without what only newer Packer knows.

The golden template (packer/golden) is written for current Packer. Debian's Packer 1.6.6,
the only one installable on the sandbox's machines, rejects exactly three things in it:

| removed            | where                                  | what it does on current Packer                         |
|--------------------|----------------------------------------|--------------------------------------------------------|
| `required_plugins` | block in `packer {}` (plugins.pkr.hcl) | plugins `packer init` installs (Packer 1.7+)           |
| `metadata_options` | block in the amazon-ebs source         | IMDSv2 on the build instance (http_tokens = required)  |
| `imds_support`     | attribute in the amazon-ebs source     | ImdsSupport v2.0 on the AMI                             |

`legacy_copy(src, dst)` copies the template directory and removes those lines from its
`*.pkr.hcl` files, nothing else: every other line stays byte for byte. The build
instance of the sandbox is a stand-in that has no metadata service, and image_build sets
ImdsSupport on the AMI afterwards (its `imds_support` option), so the copy builds the
same image.

    python -m cattle_sandbox.packer_compat packer/golden /tmp/golden-1.6

prints what it removed, one line each.
"""

import argparse
import json
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

TEMPLATE_SUFFIX = ".pkr.hcl"
# name -> kind: the complete list of what the copy leaves out.
LEGACY_REMOVALS = {
    "required_plugins": "block",
    "metadata_options": "block",
    "imds_support": "attribute",
}
_ARTICLE = {"block": "a block", "attribute": "an attribute"}
_STATEMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(=|\{)")
_HEREDOC = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)\s*$")


class CompatError(ValueError):
    """A template the copy cannot be made from safely (the message says where)."""


@dataclass(frozen=True)
class Removal:
    file: str  # relative to the template directory
    name: str
    kind: str
    first_line: int  # 1-based, inclusive
    last_line: int


def legacy_copy(src_dir, dst_dir):
    """Copy src_dir to dst_dir (which must not exist or be empty) without LEGACY_REMOVALS.

    Returns the list of Removal, in file and line order.
    """
    src, dst = Path(src_dir), Path(dst_dir)
    if not src.is_dir():
        raise CompatError(f"{src} is not a template directory")
    if dst.exists() and any(dst.iterdir()):
        raise CompatError(f"{dst} exists and is not empty; the copy goes into a new directory")
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    removals = []
    for path in sorted(dst.rglob("*" + TEMPLATE_SUFFIX)):
        if path.is_symlink() or not path.is_file():
            continue
        relative = str(path.relative_to(dst))
        kept, removed = strip_legacy(path.read_text(encoding="utf-8"), relative)
        if removed:
            path.write_text(kept, encoding="utf-8")
            removals.extend(removed)
    return removals


def strip_legacy(text, file_name="template"):
    """(text without the LEGACY_REMOVALS statements, [Removal])."""
    lines = text.splitlines(keepends=True)
    code = code_only(lines)
    drop, removals = set(), []
    index = 0
    while index < len(lines):
        match = _STATEMENT.match(code[index])
        name = match.group(1) if match else None
        if name not in LEGACY_REMOVALS:
            index += 1
            continue
        kind = "block" if match.group(2) == "{" else "attribute"
        if kind != LEGACY_REMOVALS[name]:
            raise CompatError(f"{file_name}:{index + 1}: {name} is {_ARTICLE[kind]} here, "
                              f"expected {_ARTICLE[LEGACY_REMOVALS[name]]}")
        last = statement_end(code, index, match.end() - 1, file_name)
        drop.update(range(index, last + 1))
        removals.append(Removal(file_name, name, kind, index + 1, last + 1))
        index = last + 1
    return "".join(line for number, line in enumerate(lines) if number not in drop), removals


def statement_end(code, first, opening, file_name):
    """Index of the line that ends the statement starting on line `first`.

    A block ends at the brace that closes the one at `opening`; an attribute at the end of
    its line, unless brackets it opens run on. Nothing else may follow on the last line.
    """
    depth, index, column = 0, first, opening
    if code[first][opening] != "{":
        column = code[first].index("=") + 1
    while index < len(code):
        for position in range(column, len(code[index])):
            character = code[index][position]
            if character in "{[(":
                depth += 1
            elif character in "}])":
                depth -= 1
                if depth == 0 and code[first][opening] == "{":
                    if code[index][position + 1:].strip():
                        raise CompatError(f"{file_name}:{index + 1}: something follows the end of the block")
                    return index
        if depth == 0 and code[first][opening] != "{":
            return index
        index, column = index + 1, 0
    raise CompatError(f"{file_name}:{first + 1}: the statement does not end")


def code_only(lines):
    """Each line with comments and the contents of strings and heredocs blanked out.

    Keeps the line count and positions, so braces and names are seen only where they are
    code: `imds_support` in a comment or a string is not a statement.
    """
    result, heredoc, in_block_comment = [], None, False
    for line in lines:
        if heredoc is not None:
            result.append("")
            if line.strip() == heredoc:
                heredoc = None
            continue
        cleaned, in_block_comment = _blank_line(line.rstrip("\n"), in_block_comment)
        result.append(cleaned)
        opened = _HEREDOC.search(cleaned)
        if opened:
            heredoc = opened.group(1)
    return result


def _blank_line(line, in_block_comment):
    """One line with comments and string contents (interpolations too) turned into spaces.

    A stack follows where we are: code, a string, or a ${...} / %{...} inside a string,
    which may hold strings of its own.
    """
    out, position, stack = [], 0, []  # stack entries: "string" or an interpolation's brace depth
    while position < len(line):
        character, pair = line[position], line[position:position + 2]
        if in_block_comment:
            in_block_comment = pair != "*/"
            step = 1 if in_block_comment else 2
        elif stack and stack[-1] == "string":
            step = _in_string(character, pair, stack)
        elif character == "#" or pair == "//":
            break
        elif pair == "/*":
            in_block_comment, step = True, 2
        elif stack:
            step = _in_interpolation(character, stack)
        else:
            if character == '"':
                stack.append("string")
            out.append(character)
            position += 1
            continue
        out.append(" " * step)
        position += step
    return "".join(out)[: len(line)], in_block_comment


def _in_string(character, pair, stack):
    if character == "\\":
        return 2
    if pair in ("${", "%{"):
        stack.append(0)
        return 2
    if character == '"':
        stack.pop()
    return 1


def _in_interpolation(character, stack):
    if character == '"':
        stack.append("string")
    elif character == "{":
        stack[-1] += 1
    elif character == "}":
        if stack[-1] == 0:
            stack.pop()
        else:
            stack[-1] -= 1
    return 1


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m cattle_sandbox.packer_compat",
        description="Copy a Packer template for Packer 1.6.6: without required_plugins, "
        "metadata_options and imds_support.",
    )
    parser.add_argument("src", help="template directory (for example packer/golden)")
    parser.add_argument("dst", help="new directory for the copy")
    parser.add_argument("--json", action="store_true", help="print the removals as JSON")
    options = parser.parse_args(argv)
    try:
        removals = legacy_copy(options.src, options.dst)
    except (CompatError, OSError) as error:
        print(f"packer_compat: {error}", file=sys.stderr)
        return 2
    if options.json:
        print(json.dumps([asdict(removal) for removal in removals], indent=2))
    else:
        for removal in removals:
            print(f"removed {removal.kind} {removal.name} from {removal.file}, "
                  f"lines {removal.first_line}-{removal.last_line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
