"""The Debian mirror debootstrap uses, taken from the host's own apt sources at run time.

Nothing about this machine's mirror is written into the repository: whatever the host
installs its packages from is what the base image is bootstrapped from.
"""

import glob
import os
from dataclasses import dataclass
from pathlib import Path

APT_SOURCES_LIST = "/etc/apt/sources.list"
APT_SOURCES_DIR = "/etc/apt/sources.list.d"
MIRROR_OVERRIDE_ENV = "CATTLE_DEBIAN_MIRROR"


class MirrorNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class AptSource:
    types: tuple
    uris: tuple
    suites: tuple
    components: tuple
    signed_by: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class Mirror:
    uri: str
    keyring: str = ""  # a keyring file when the source names one, else debootstrap's default


def debian_mirror(suite, sources_list=APT_SOURCES_LIST, sources_dir=APT_SOURCES_DIR):
    """The first enabled `deb` source for `suite` with the `main` component."""
    override = os.environ.get(MIRROR_OVERRIDE_ENV)
    if override:
        return Mirror(uri=override)
    sources = read_apt_sources(sources_list, sources_dir)
    for source in sources:
        if source.enabled and "deb" in source.types and suite in source.suites and "main" in source.components:
            return Mirror(uri=source.uris[0], keyring=keyring_path(source.signed_by))
    raise MirrorNotFound(
        f"no enabled 'deb' source for {suite} main in {sources_list} or {sources_dir}/*.sources|*.list; "
        f"set {MIRROR_OVERRIDE_ENV} to a Debian mirror URI"
    )


def keyring_path(signed_by):
    """Signed-By may hold a file name or an inline key; debootstrap only takes a file."""
    first = signed_by.strip().splitlines()[0] if signed_by.strip() else ""
    return first if first.startswith("/") and Path(first).is_file() else ""


def read_apt_sources(sources_list=APT_SOURCES_LIST, sources_dir=APT_SOURCES_DIR):
    sources = []
    for path in sorted(glob.glob(os.path.join(sources_dir, "*.sources"))):
        sources += parse_deb822_sources(Path(path).read_text())
    one_line_files = [sources_list] + sorted(glob.glob(os.path.join(sources_dir, "*.list")))
    for path in one_line_files:
        if Path(path).is_file():
            sources += parse_one_line_sources(Path(path).read_text())
    return sources


def parse_deb822_sources(text):
    return [source_from_stanza(stanza) for stanza in deb822_stanzas(text) if "uris" in stanza]


def deb822_stanzas(text):
    """Blank-line separated stanzas of `Field: value` lines; indented lines continue a value."""
    stanzas, current, field = [], {}, None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, field = {}, None
        elif line[0] in " \t" and field:
            current[field] += "\n" + line.strip()
        elif ":" in line:
            field, value = line.split(":", 1)
            field = field.strip().lower()
            current[field] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def source_from_stanza(stanza):
    return AptSource(
        types=tuple(stanza.get("types", "").split()),
        uris=tuple(stanza.get("uris", "").split()),
        suites=tuple(stanza.get("suites", "").split()),
        components=tuple(stanza.get("components", "").split()),
        signed_by=stanza.get("signed-by", ""),
        enabled=stanza.get("enabled", "yes").lower() not in ("no", "false", "0"),
    )


def parse_one_line_sources(text):
    """`deb [opt=value ...] URI SUITE COMPONENT...` lines."""
    sources = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 3 or words[0] not in ("deb", "deb-src"):
            continue
        options, rest = split_options(words[1:])
        if len(rest) < 2:
            continue
        sources.append(
            AptSource(
                types=(words[0],),
                uris=(rest[0],),
                suites=(rest[1],),
                components=tuple(rest[2:]),
                signed_by=options.get("signed-by", ""),
            )
        )
    return sources


def split_options(words):
    """Splits a leading `[a=b c=d]` option block (possibly over several words) off."""
    if not words or not words[0].startswith("["):
        return {}, words
    options, index = {}, 0
    for index, word in enumerate(words):
        for item in word.strip("[]").split():
            if "=" in item:
                key, value = item.split("=", 1)
                options[key] = value
        if word.endswith("]"):
            break
    return options, words[index + 1 :]
