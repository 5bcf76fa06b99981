"""findig.tools.protector.scopeutil: the scope grammar and its laws."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from findig.tools.protector import scopeutil
from findig.tools.protector.scopeutil import (
    ANY,
    check_encapsulates,
    compress_scope_items,
    normalize_scope_items,
)

ANY_ITEM = next(iter(ANY))

# -- strategies ---------------------------------------------------------------

fragments = st.sampled_from(["a", "b", "ab", "user", "users", "x"])
names = st.lists(fragments, min_size=1, max_size=4).map("/".join)
perm_sets = st.sets(st.sampled_from("crud"), max_size=4)


@st.composite
def items(draw: st.DrawFn, allow_any: bool = False) -> str:
    if allow_any and draw(st.integers(0, 19)) == 0:
        return ANY_ITEM
    name = draw(names)
    perms = "".join(draw(st.permutations(sorted(draw(perm_sets)))))
    return f"{name}+{perms}" if perms else name


@st.composite
def single_items(draw: st.DrawFn) -> str:
    """A normalized item: one permission."""
    return f"{draw(names)}+{draw(st.sampled_from('crud'))}"


item_sets = st.sets(items(allow_any=True), max_size=8)


def grants(scopes: set[str], requested: str, sep: str | None = "/") -> bool:
    """Whether *scopes* grant every permission of *requested*."""
    return all(
        any(check_encapsulates(g, part, sep) for g in scopes)
        for part in normalize_scope_items([requested])
    )


# -- the documented examples ------------------------------------------------


def test_normalize_examples_from_the_spec():
    assert normalize_scope_items(["user"]) == {"user+r"}
    assert normalize_scope_items(["user+ud"]) == {"user+u", "user+d"}
    # permissions are atomic: u does not imply r
    assert normalize_scope_items(["user+u"]) == {"user+u"}
    assert normalize_scope_items(["user"], default_mode="d") == {"user+d"}
    assert normalize_scope_items(["user"], default_mode="cr") == {"user+c", "user+r"}


def test_encapsulation_examples_from_the_spec():
    assert check_encapsulates("user+r", "user/emails+r")
    assert check_encapsulates("user+r", "user/friends+r")
    assert check_encapsulates("user", "user/friends")  # r implied on both
    assert check_encapsulates("foobar+rd", "foobar+d")
    assert not check_encapsulates("foobar+rd", "foobar+u")
    # a sub-scope does not imply its super-scope
    assert not check_encapsulates("user/emails+r", "user+r")


def test_any_is_the_documented_set_and_encapsulates_everything():
    documented = {"$^&#THISISGARBAGE#*@&@#$*@$&DFDF#&#@&@&##*&@DHJGDJH#@&*^@#*+crud"}
    assert documented == ANY
    assert isinstance(ANY, frozenset)  # nobody can add to it by accident
    for child in ("a", "a/b+crud", "x+d", ANY_ITEM):
        assert check_encapsulates(ANY_ITEM, child)
    assert not check_encapsulates("a+crud", ANY_ITEM)
    assert normalize_scope_items(ANY) == set(ANY)
    assert compress_scope_items({"a+r", ANY_ITEM}) == set(ANY)
    # Only the exact item is special: the same name with fewer permissions
    # is an ordinary scope.
    lookalike = ANY_ITEM[: -len("crud")] + "r"
    assert not check_encapsulates(lookalike, "user+r")


@pytest.mark.parametrize(
    "item",
    [
        "",
        "+r",
        "user+",
        "user+x",
        "user+R",
        "user+r+d",
        "a//b",
        "/a",
        "a/",
        "a b",
        " a",
        "a\tb",
        "a\nb",
        "a\x00b",
        "a\u00a0b",
        "a+r d",
    ],
)
def test_malformed_scopes(item):
    with pytest.raises(ValueError, match="Malformed scope item"):
        normalize_scope_items(["ok", item])
    assert normalize_scope_items(["ok", item], raise_err=False) == {"ok+r"}
    with pytest.raises(ValueError):
        check_encapsulates(item, "ok")
    with pytest.raises(ValueError):
        check_encapsulates("ok", item)
    with pytest.raises(ValueError):
        compress_scope_items(["ok+r", item])


def test_non_strings_are_malformed_and_strings_are_not_iterables_of_scopes():
    with pytest.raises(ValueError):
        normalize_scope_items([b"user"])  # type: ignore[list-item]
    assert normalize_scope_items([None, "a"], raise_err=False) == {  # type: ignore[list-item]
        "a+r"
    }
    with pytest.raises(TypeError, match="not the string"):
        normalize_scope_items("user")
    with pytest.raises(TypeError):
        compress_scope_items("user")


@pytest.mark.parametrize("mode", ["", "x", "R", None, "r+"])
def test_bad_default_mode(mode):
    with pytest.raises(ValueError, match="default_mode"):
        normalize_scope_items(["a"], default_mode=mode)


def test_case_and_lookalikes():
    assert not check_encapsulates("User", "user")
    assert not check_encapsulates("user", "users/x")
    assert not check_encapsulates("user", "user2")
    assert not check_encapsulates("user", "use")
    assert check_encapsulates("user", "user/x/y")


def test_separators():
    assert check_encapsulates("a+r", "a:b+r", sep=":")
    assert not check_encapsulates("a+r", "a/b+r", sep=":")
    assert check_encapsulates("a+r", "a::b+r", sep="::")
    assert not check_encapsulates("a+r", "a:b+r", sep="::")
    # no separator: a scope only covers itself
    assert not check_encapsulates("a+r", "a/b+r", sep=None)
    assert not check_encapsulates("a+r", "a/b+r", sep="")
    assert check_encapsulates("a+r", "a+r", sep=None)


def test_compress_examples():
    assert compress_scope_items({"user+r", "user+d", "user/friends+r"}) == {"user+rd"}
    assert compress_scope_items({"user+r", "user/emails+d", "user/emails+r"}) == {
        "user+r",
        "user/emails+d",
    }
    assert compress_scope_items({"a/b+r", "a+u"}) == {"a/b+r", "a+u"}
    # un-normalized input is accepted
    assert compress_scope_items(["a", "a/b+rc"]) == {"a+r", "a/b+c"}
    assert compress_scope_items([]) == set()


# -- laws -------------------------------------------------------------------


@given(item_sets)
def test_normalizing_is_idempotent(scopes):
    once = normalize_scope_items(scopes)
    assert normalize_scope_items(once) == once
    for item in once:
        assert item == ANY_ITEM or len(item.rpartition("+")[2]) == 1


@given(item_sets, items())
def test_normalizing_preserves_what_is_granted(scopes, requested):
    assert grants(normalize_scope_items(scopes), requested) == grants(scopes, requested)


@given(item_sets, st.lists(items(), min_size=1, max_size=5))
def test_compressed_set_grants_exactly_what_the_original_grants(scopes, requests):
    normalized = normalize_scope_items(scopes)
    compressed = compress_scope_items(normalized)
    assert len(compressed) <= len(normalized)
    assert compress_scope_items(compressed) == compressed  # a fixed point
    for requested in requests:
        assert grants(compressed, requested) == grants(normalized, requested)


@given(items(allow_any=True), st.sampled_from(["/", ":", "::", None]))
def test_encapsulation_is_reflexive(item, sep):
    assert check_encapsulates(item, item, sep)


@st.composite
def chains(draw: st.DrawFn) -> tuple[str, str, str]:
    """Three items, each potentially encapsulating the next."""
    frags = draw(st.lists(fragments, min_size=1, max_size=6))
    cuts = sorted(draw(st.lists(st.integers(1, len(frags)), min_size=3, max_size=3)))
    perms = sorted(draw(perm_sets) | {"r"})
    widths = sorted(draw(st.lists(st.integers(1, len(perms)), min_size=3, max_size=3)))
    out = []
    for cut, width in zip(cuts, reversed(widths), strict=True):
        out.append(f"{'/'.join(frags[:cut])}+{''.join(perms[:width])}")
    return out[0], out[1], out[2]


@given(st.one_of(chains(), st.tuples(items(True), items(True), items(True))))
def test_encapsulation_is_transitive(triple):
    a, b, c = triple
    if check_encapsulates(a, b) and check_encapsulates(b, c):
        assert check_encapsulates(a, c)


@given(chains())
def test_constructed_chains_do_encapsulate(triple):
    a, b, c = triple
    assert check_encapsulates(a, b)
    assert check_encapsulates(b, c)
    assert check_encapsulates(a, c)


@given(names, names, st.sampled_from("crud"))
def test_super_scopes_imply_sub_scopes_with_the_same_permission(parent, sub, perm):
    child = f"{parent}/{sub}"
    assert check_encapsulates(f"{parent}+{perm}", f"{child}+{perm}")
    assert not check_encapsulates(f"{child}+{perm}", f"{parent}+{perm}")
    other = next(p for p in "crud" if p != perm)
    assert not check_encapsulates(f"{parent}+{perm}", f"{child}+{other}")


@given(
    st.sets(single_items(), max_size=8),
    single_items(),
    st.sampled_from(["/", ":", "b", None]),
)
def test_protector_fast_path_matches_check_encapsulates(granted, requested, sep):
    # The protector precomputes, for a required item, the granted items that
    # would cover it; a set lookup on those must agree with the reference.
    candidates = scopeutil._candidates(requested, sep)
    fast = any(c in granted for c in candidates)
    assert fast == grants(granted, requested, sep)


colon_names = st.text(alphabet="a:", min_size=1, max_size=7)


@st.composite
def prefix_grants(draw: st.DrawFn) -> tuple[set[str], str]:
    """A requested item, and grants of some of its prefixes (some of them
    super-scopes, whatever the separator)."""
    name = draw(colon_names)
    perm = draw(st.sampled_from("rd"))
    cuts = draw(st.sets(st.integers(1, len(name)), max_size=4))
    granted = {f"{name[:cut]}+{draw(st.sampled_from('rd'))}" for cut in cuts}
    return granted, f"{name}+{perm}"


@given(prefix_grants(), st.sampled_from([":", "::", "a:", ":a:"]))
@example(({"a:+r"}, "a:::a+r"), "::")
@example(({"a:a+r"}, "a:a:a:a+r"), ":a:")
def test_fast_path_with_overlapping_separators(case, sep):
    # Separators that can overlap themselves ("::" in "a:::b") are found at
    # every position, exactly as check_encapsulates' prefix test finds them.
    granted, requested = case
    fast = any(c in granted for c in scopeutil._candidates(requested, sep))
    assert fast == grants(granted, requested, sep)
