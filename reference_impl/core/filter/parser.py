"""Filter stage 2: tokens -> syntax tree (fexpr's grammar), without recursion.

```
expr     := group ( ("&&" | "||") group )*
group    := "(" expr ")" | operand SIGN operand
operand  := identifier | text | number | function
function := name "(" [operand ("," operand)* [","]] ")"     (at most 3 levels deep)
```

fexpr has no precedence: the tree is a flat list of items joined by ``&&``/``||``; the
resolver gives it SQL's (AND before OR), as PocketBase's one SQL expression does.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference_impl.core.filter.lexer import Token, tokenize
from reference_impl.ir.errors import FilterError

MAX_EXPRESSIONS = 200
MAX_FUNCTION_DEPTH = 3
MAX_FUNCTION_ARGS = 10
OPERATORS = ("!=", ">=", "<=", "!~", "=", ">", "<", "~")
ANY_OPERATORS = ("?!=", "?>=", "?<=", "?!~", "?=", "?>", "?<", "?~")


@dataclass(frozen=True)
class Ident:
    name: str


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Num:
    value: int | float


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Operand, ...]


Operand = Ident | Text | Num | Call


@dataclass(frozen=True)
class Expr:
    left: Operand
    op: str
    right: Operand


@dataclass(frozen=True)
class Group:
    items: tuple[tuple[str, Expr | Group], ...]  # (join "&&"/"||" or "" for the first, node)


def parse(text: str) -> Group:
    tokens = tokenize(text)
    if not tokens:
        raise FilterError("empty filter")
    return _Parser(tokens).parse()


_INCOMPLETE = "invalid or incomplete filter expression"


class _Parser:
    """An explicit stack of open groups, so 1,000 nested parentheses (which PocketBase
    accepts) cost no Python frames. A group of one item is that item (``((a = 1))`` is
    ``a = 1``); what is left nests at most once per expression, and expressions are capped,
    so later stages recurse a bounded depth."""

    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.pos = 0
        self.count = 0

    def _peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> Token:
        token = self._peek()
        if token is None:
            raise FilterError(_INCOMPLETE)
        self.pos += 1
        return token

    def parse(self) -> Group:
        # One list of (join, item) per open group; the join that preceded each open group.
        open_groups: list[list[tuple[str, Expr | Group]]] = [[]]
        joins: list[str] = []
        join = ""
        expect_item = True
        while (token := self._peek()) is not None:
            if expect_item:
                if token == ("paren", "("):
                    self.pos += 1
                    open_groups.append([])
                    joins.append(join)
                    join = ""
                    continue
                open_groups[-1].append((join, self.expr()))
                expect_item = False
            elif token[0] == "join":
                self.pos += 1
                join = token[1]
                expect_item = True
            elif token == ("paren", ")") and len(open_groups) > 1:
                self.pos += 1
                items = open_groups.pop()
                node = items[0][1] if len(items) == 1 else Group(tuple(items))
                open_groups[-1].append((joins.pop(), node))
            else:
                raise FilterError(_INCOMPLETE)
        if expect_item:
            raise FilterError(_INCOMPLETE)
        if len(open_groups) > 1:
            raise FilterError("missing closing parenthesis")
        return Group(tuple(open_groups[0]))

    def expr(self) -> Expr:
        left = self.operand(0)
        kind, op = self._next()
        if kind != "op":
            raise FilterError(_INCOMPLETE)
        right = self.operand(0)
        self.count += 1
        if self.count > MAX_EXPRESSIONS:
            raise FilterError(f"more than {MAX_EXPRESSIONS} expressions")
        return Expr(left, op, right)

    def operand(self, depth: int) -> Operand:
        kind, value = self._next()
        if kind == "text":
            return Text(value)
        if kind == "num":
            number = float(value)
            # PocketBase binds every number as float64; keep exact ints only inside int64
            # (``-0`` stays the float -0.0: its text under ``~`` is ``-0``, as in Go).
            negative_zero = number == 0 and value.startswith("-")
            if "." not in value and -(2**63) <= int(value) < 2**63 and not negative_zero:
                return Num(int(value))
            return Num(number)
        if kind == "ident":
            return Ident(value)
        if kind == "call":
            return self.call(value, depth + 1)
        raise FilterError(_INCOMPLETE)

    def call(self, name: str, depth: int) -> Call:
        """Arguments are operands; functions nest at most 3 levels (fexpr's limit, which
        bounds this recursion)."""
        if depth > MAX_FUNCTION_DEPTH:
            raise FilterError(f"functions nest at most {MAX_FUNCTION_DEPTH} levels")
        self.pos += 1  # "("
        args: list[Operand] = []
        while True:
            token = self._peek()
            if token == ("paren", ")"):
                self.pos += 1
                break
            args.append(self.operand(depth))
            token = self._next()
            if token == ("paren", ")"):
                break
            if token[0] != "comma":
                raise FilterError(f"invalid arguments of {name}()")
        if len(args) > MAX_FUNCTION_ARGS:
            raise FilterError(f"{name}() takes at most {MAX_FUNCTION_ARGS} arguments")
        return Call(name, tuple(args))
