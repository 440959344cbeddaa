"""The Velocity subset of designs: what renders as in Velocity 1.7, and what the sandbox refuses."""

from __future__ import annotations

from typing import Any

import pytest

from cible.recs.velocity import (
    Limits,
    TemplateLimitError,
    TemplateSyntaxError,
    compile_template,
)

ENTITIES = [
    {"id": "kit2001", "name": "Toaster <Oven>", "value": "19.2", "categoriesList": ["a", "b"]},
    {"id": "kit2002", "name": "Kettle", "value": "35", "genre": "New, Web"},
]


def render(script: str, context: dict[str, Any] | None = None, **limits: int) -> str:
    ctx = context if context is not None else _context()
    return compile_template(script).render(ctx, Limits(**limits) if limits else None)


def _context() -> dict[str, Any]:
    ctx: dict[str, Any] = {"entities": ENTITIES, "key": {"id": "k1", "name": "Key item"}}
    for i, entity in enumerate(ENTITIES, start=1):
        ctx[f"entity{i}"] = entity
    return ctx


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("$entity1.name", "Toaster <Oven>"),
        ("${entity1.id}.gif", "kit2001.gif"),
        ("$entity1.get('id')", "kit2001"),
        ("$key.name", "Key item"),
        ("$entities.size()", "2"),
        ("$entities[1].name", "Kettle"),
        ("$entity2.genre", "New, Web"),
        # a reference without a value prints as written, unless quiet
        ("[$entity3.name]", "[$entity3.name]"),
        ("[$!entity3.name]", "[]"),
        ("[$entity1.nothing]", "[$entity1.nothing]"),
        # Target's own tokens are escaped so that they reach the page
        ("\\${profile.favorite}", "${profile.favorite}"),
        ("price: $5 #fff", "price: $5 #fff"),
        (
            "#foreach($e in $entities)$velocityCount:$e.id#if($foreach.hasNext),#end#end",
            "1:kit2001,2:kit2002",
        ),
        ("#foreach($c in $entity1.categoriesList)<$c>#end", "<a><b>"),
        ("#foreach($i in [1..3])$i#end", "123"),
        ("#foreach($i in [3..1])$i#end", "321"),
        ("#foreach($i in [1..5])#if($i == 3)#break#end$i#end", "12"),
        ("#set($n = 2)#if($n > 3)big#elseif($n == 2)two#{else}small#end", "two"),
        ("#if($entity1.nothing)yes#else no#end", " no"),
        ("#if(!$entity1.nothing && $entity1)ok#end", "ok"),
        ("#if($entity1.value > 10 and $entity1.value lt 20)in#end", "in"),
        ("#set($d = 0.1)$d.parseDouble($entity1.get('value'))", "19.2"),
        ("#set($x = 7 / 2)$x #set($y = 7.0 / 2)$y #set($z = -7 % 2)$z", "3 3.5 -1"),
        ('#set($s = "id=$entity1.id")$s', "id=kit2001"),
        ("#set($s = 'id=$entity1.id')$s", "id=$entity1.id"),
        ("#set($s = 'a' + 1)$s", "a1"),
        ("$entity1.name.toUpperCase().length()", "14"),
        ("$esc.html($entity1.name)", "Toaster &lt;Oven&gt;"),
        ('$esc.javascript("it\'s")', "it\\'s"),
        ("$esc.url('a b&c')", "a+b%26c"),
        ("$esc.json('say \"hi\"')", 'say \\"hi\\"'),
        ("a ## comment\nb #* block *#c#[[$raw]]#", "a b c$raw"),
        ("#set($x = 1)\n  #if($x == 1)\n    one\n  #end\ndone", "    one\ndone"),
    ],
)
def test_renders_like_velocity(script: str, expected: str) -> None:
    assert render(script) == expected


def test_a_json_design_renders_values_unescaped() -> None:
    script = '{"key": "$key.id", "slot-01": "$entity1.id", "slot-02": "$entity2.id"}'
    assert render(script) == '{"key": "k1", "slot-01": "kit2001", "slot-02": "kit2002"}'


@pytest.mark.parametrize(
    "script",
    [
        "$entity1.getClass()",
        "#set($String='')#set($e=$String.class.forName('java.lang.Runtime'))",
        "#include('/etc/passwd')",
        "#parse('other.vm')",
        "#evaluate('$x')",
        "#macro(m)x#end",
        "#define($b)x#end",
        "#if($x)never closed",
        "#end",
        "#set(x = 1)",
        "#foreach($i [1..2])#end",
        "$entity1.get('a'",
        "#set($s = 'unclosed)",
    ],
)
def test_refused_or_malformed_scripts_do_not_parse(script: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        compile_template(script)


def test_a_syntax_error_names_its_line_and_column() -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template("line one\n  $x.getClass()")
    assert (info.value.line, info.value.column) == (2, 6)


def test_attributes_reach_only_the_data_given() -> None:
    # Python attributes of the values are never read: a design sees mapping keys only.
    script = "$entity1.items $entities.size $esc.html $entity1.id.real $foreach.count"
    assert render(script) == script
    assert render("$entity1.__class__").endswith("}.__class__")  # a name cannot start with _


def test_loops_are_bounded() -> None:
    with pytest.raises(TemplateLimitError, match="loop iterations"):
        render("#foreach($i in [1..50])#foreach($j in [1..50])x#end#end", max_iterations=1000)
    with pytest.raises(TemplateLimitError, match="range"):
        render("#foreach($i in [1..999999999])x#end")


def test_a_huge_output_is_refused() -> None:
    with pytest.raises(TemplateLimitError):
        render("#foreach($i in [1..2000])0123456789#end", max_output_chars=10_000)


def test_doubling_a_string_is_refused_before_memory_runs_out() -> None:
    script = "#set($s = 'xx')#foreach($i in [1..100])#set($s = \"$s$s\")#end$s.length()"
    with pytest.raises(TemplateLimitError):
        render(script)


def test_doubling_a_list_is_refused() -> None:
    script = "#set($l = [1])#foreach($i in [1..100])#set($l = [$l, $l])#end$l"
    with pytest.raises(TemplateLimitError):
        render(script)


def test_evaluation_steps_are_bounded() -> None:
    body = "$entity1.id" * 50
    script = "#foreach($i in [1..5000])" + body + "#end"
    with pytest.raises(TemplateLimitError, match="steps"):
        render(script, max_steps=100_000, max_output_chars=10_000_000)


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(TemplateSyntaxError, match="nesting"):
        compile_template("#if(true)" * 60 + "x" + "#end" * 60)
    with pytest.raises(TemplateSyntaxError, match="nesting"):
        compile_template("#set($x = " + "(" * 80 + "1" + ")" * 80 + ")")


def test_overlong_scripts_are_refused() -> None:
    with pytest.raises(TemplateSyntaxError, match="65000"):
        compile_template("x" * 65_001)


def test_integers_beyond_a_long_have_no_value() -> None:
    script = "#set($n = 3)#foreach($i in [1..100])#set($n = $n * $n)#end$n"
    assert render(script).isdigit()
