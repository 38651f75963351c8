"""A PostgREST-compatible HTTP server over PostgreSQL, for tests of the supabase-py stores.

It stands in for PostgREST, which cannot be installed here (it is neither a Debian nor a PyPI
package, and nothing else may be downloaded). It implements PostgREST's own rules, as documented,
for the requests supabase-py's query builder sends, and nothing more:

- `GET/HEAD/POST/PATCH/DELETE /rest/v1/<table>`; `select=` with columns, `alias:column` and `*`
  (no embedded resources: the stores do not use them);
- horizontal filters `col=[not.]op.value` with `eq neq gt gte lt lte like ilike is in` (`*` in a
  like pattern means `%`), and `or=(...)` / `and=(...)` trees with PostgREST's quoting: values
  with reserved characters are double-quoted, `\\` escapes inside quotes;
- `order=col.asc|desc[.nullsfirst|.nullslast]`, `limit`, `offset`;
- `Prefer: return=representation|minimal`, `resolution=merge-duplicates|ignore-duplicates` with
  `on_conflict=`, `count=exact`, `missing=default`; bulk inserts with `columns=`;
- `Accept: application/vnd.pgrst.object+json` (exactly one row, else 406 PGRST116 and the
  transaction is rolled back);
- errors as `{"code","details","hint","message"}` with PostgreSQL SQLSTATEs mapped to HTTP status
  the way PostgREST maps them (23505/23503 -> 409, 22P02 -> 400, 42P01 -> 404, ...).

Table and column names are checked against the catalog; values always travel as query
parameters (inserts and updates go through `json_populate_recordset`, as in PostgREST). The
Supabase API gateway's key check is reproduced: the `apikey` header must equal the key (401).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from werkzeug.datastructures import MultiDict
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

OBJECT_MEDIA = "application/vnd.pgrst.object+json"
SIMPLE_OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
LIKE_OPERATORS = {"like": "LIKE", "ilike": "ILIKE"}
IS_VALUES = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
RESERVED_PARAMS = {"select", "order", "limit", "offset", "on_conflict", "columns"}
TEXT_TYPES = ("text", "character varying", "character")


class ApiError(Exception):
    """A PostgREST error response."""

    def __init__(self, status: int, code: str | None, message: str, details: Any = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.hint = details, hint

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "details": self.details, "hint": self.hint,
                "message": self.message}


def sqlstate_status(code: str) -> int:
    """PostgREST's mapping of a PostgreSQL error code to an HTTP status."""
    exact = {"23503": 409, "23505": 409, "25006": 405, "42883": 404, "42P01": 404,
             "42P17": 500, "42501": 403, "P0001": 400, "57014": 500}
    if code in exact:
        return exact[code]
    by_class = {"08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500,
                "38": 500, "39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500,
                "57": 500, "58": 500, "F0": 500, "HV": 500, "P0": 500, "XX": 500}
    return by_class.get(code[:2], 400)


# --- parsing PostgREST's query grammar -------------------------------------------------------
@dataclass
class Condition:
    column: str
    operator: str
    value: Any  # str, or a list of str for `in`
    negated: bool = False


@dataclass
class Logic:
    operator: str  # "or" | "and"
    children: list[Condition | Logic] = field(default_factory=list)
    negated: bool = False


def parse_error(message: str, details: str | None = None) -> ApiError:
    return ApiError(400, "PGRST100", message, details)


def parse_condition_value(column: str, rest: str) -> Condition:
    """`[not.]op.value` after `column=`: the value is taken as is (no quoting at top level)."""
    negated = rest.startswith("not.")
    if negated:
        rest = rest[4:]
    operator, dot, value = rest.partition(".")
    if not dot:
        raise parse_error(f"failed to parse filter ({rest})", "unexpected end of input")
    if operator == "in":
        return Condition(column, operator, parse_list(value), negated)
    return Condition(column, operator, value, negated)


def parse_list(text: str) -> list[str]:
    """`(a,"b,c",d)`: the element list of `in`, quoted elements with `\\` escapes."""
    if not (text.startswith("(") and text.endswith(")")):
        raise parse_error(f"failed to parse filter (in.{text})", "expecting \"(\"")
    items, position, body = [], 0, text[1:-1]
    if body == "":
        return []
    while True:
        value, position = _read_value(body, position, stop=",")
        items.append(value)
        if position >= len(body):
            return items
        if body[position] != ",":
            raise parse_error(f"failed to parse filter (in.{text})")
        position += 1


def _read_value(text: str, position: int, stop: str) -> tuple[str, int]:
    """A quoted value (`"..."` with `\\` escapes) or a run of characters up to a stop char."""
    if position < len(text) and text[position] == '"':
        out, position = [], position + 1
        while position < len(text):
            char = text[position]
            if char == "\\" and position + 1 < len(text):
                out.append(text[position + 1])
                position += 2
            elif char == '"':
                return "".join(out), position + 1
            else:
                out.append(char)
                position += 1
        raise parse_error("failed to parse logic tree", "unterminated quoted value")
    end = position
    while end < len(text) and text[end] not in stop:
        end += 1
    return text[position:end], end


class LogicParser:
    """`(expr,expr,...)` where expr is `col.[not.]op.value`, `[not.]and(...)` or `[not.]or(...)`."""

    def __init__(self, text: str) -> None:
        self.text, self.position = text, 0

    def fail(self) -> ApiError:
        return parse_error(f"failed to parse logic tree ({self.text})",
                           f"unexpected input at position {self.position}")

    def parse(self, operator: str, negated: bool) -> Logic:
        node = self.group(operator, negated)
        if self.position != len(self.text):
            raise self.fail()
        return node

    def group(self, operator: str, negated: bool) -> Logic:
        if not self.text.startswith("(", self.position):
            raise self.fail()
        self.position += 1
        node = Logic(operator, [], negated)
        while True:
            node.children.append(self.expression())
            if self.text.startswith(",", self.position):
                self.position += 1
                continue
            if self.text.startswith(")", self.position):
                self.position += 1
                return node
            raise self.fail()

    def expression(self) -> Condition | Logic:
        negated = self.text.startswith("not.", self.position)
        start = self.position + (4 if negated else 0)
        for operator in ("and", "or"):
            if self.text.startswith(operator + "(", start):
                self.position = start + len(operator)
                return self.group(operator, negated)
        column_end = self.text.find(".", self.position)
        if column_end < 0:
            raise self.fail()
        column = self.text[self.position:column_end]
        self.position = column_end + 1
        negated = self.text.startswith("not.", self.position)
        if negated:
            self.position += 4
        op_end = self.text.find(".", self.position)
        if op_end < 0:
            raise self.fail()
        operator = self.text[self.position:op_end]
        self.position = op_end + 1
        if operator == "in":
            close = self._list_end()
            values = parse_list(self.text[self.position:close])
            self.position = close
            return Condition(column, operator, values, negated)
        value, self.position = _read_value(self.text, self.position, stop=",)")
        return Condition(column, operator, value, negated)

    def _list_end(self) -> int:
        """The position after the `(...)` list starting here, quotes respected."""
        if not self.text.startswith("(", self.position):
            raise self.fail()
        position, quoted = self.position + 1, False
        while position < len(self.text):
            char = self.text[position]
            if quoted and char == "\\":
                position += 2
                continue
            if char == '"':
                quoted = not quoted
            elif char == ")" and not quoted:
                return position + 1
            position += 1
        raise self.fail()


# --- the catalog ------------------------------------------------------------------------------
@dataclass
class Table:
    name: str
    columns: dict[str, str]  # name -> SQL type as format_type() spells it
    primary_key: list[str]


def load_catalog(conn: psycopg.Connection, schema: str) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    rows = conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'p', 'm', 'f') "
        "ORDER BY c.relname, a.attnum",
        (schema,),
    ).fetchall()
    for table, column, kind in rows:
        tables.setdefault(table, Table(table, {}, [])).columns[column] = kind
    keys = conn.execute(
        "SELECT c.relname, a.attname FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) "
        "WHERE i.indisprimary AND n.nspname = %s ORDER BY c.relname, a.attnum",
        (schema,),
    ).fetchall()
    for table, column in keys:
        if table in tables:
            tables[table].primary_key.append(column)
    return tables


# --- building SQL -----------------------------------------------------------------------------
class QueryBuilder:
    """Turns one request's parameters into SQL fragments for one table."""

    def __init__(self, schema: str, table: Table) -> None:
        self.schema, self.table = schema, table

    @property
    def target(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.table.name)

    def column(self, name: str, qualified: bool = True) -> tuple[sql.Composable, str]:
        """The column's identifier (qualified by the table name, so UPDATE ... FROM and
        subqueries stay unambiguous) and its SQL type."""
        kind = self.table.columns.get(name)
        if kind is None:
            raise ApiError(400, "42703", f"column {self.table.name}.{name} does not exist")
        if qualified:
            return sql.Identifier(self.table.name, name), kind
        return sql.Identifier(name), kind

    def condition(self, node: Condition | Logic, params: list[Any]) -> sql.Composable:
        if isinstance(node, Logic):
            joiner = sql.SQL(" OR " if node.operator == "or" else " AND ")
            inner = sql.SQL("({})").format(
                joiner.join(self.condition(child, params) for child in node.children)
            )
            return sql.SQL("NOT {}").format(inner) if node.negated else inner
        column, kind = self.column(node.column)
        if node.operator in SIMPLE_OPERATORS:
            params.append(node.value)
            expression = sql.SQL("{} {} %s::{}").format(
                column, sql.SQL(SIMPLE_OPERATORS[node.operator]), sql.SQL(kind)
            )
        elif node.operator in LIKE_OPERATORS:
            params.append(node.value.replace("*", "%"))
            target = column if kind in TEXT_TYPES else sql.SQL("{}::text").format(column)
            expression = sql.SQL("{} {} %s").format(target, sql.SQL(LIKE_OPERATORS[node.operator]))
        elif node.operator == "is":
            keyword = IS_VALUES.get(node.value.lower())
            if keyword is None:
                raise parse_error(f"failed to parse filter (is.{node.value})")
            expression = sql.SQL("{} IS {}").format(column, sql.SQL(keyword))
        elif node.operator == "in":
            params.append(list(node.value))
            expression = sql.SQL("{} = ANY (%s::{}[])").format(column, sql.SQL(kind))
        else:
            raise parse_error(f"failed to parse filter ({node.operator}.{node.value})",
                              f"unknown operator {node.operator!r}")
        return sql.SQL("NOT ({})").format(expression) if node.negated else expression

    def where(self, args: MultiDict, params: list[Any]) -> sql.Composable:
        parts: list[sql.Composable] = []
        for key, value in args.items(multi=True):
            if key in RESERVED_PARAMS:
                continue
            if key in ("or", "and", "not.or", "not.and"):
                negated = key.startswith("not.")
                tree = LogicParser(value).parse(key.removeprefix("not."), negated)
                parts.append(self.condition(tree, params))
            elif "." in key:
                raise ApiError(400, "PGRST108", f"'{key}' is not an embedded resource in "
                               "this request (embedding is not supported by this test server)")
            else:
                parts.append(self.condition(parse_condition_value(key, value), params))
        if not parts:
            return sql.SQL("")
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts)

    def select_list(self, text: str | None) -> sql.Composable:
        text = "".join((text or "*").split())
        items: list[sql.Composable] = []
        for item in text.split(","):
            if item == "*":
                items.append(sql.SQL("*"))
                continue
            if "(" in item:
                raise ApiError(400, "PGRST200", "Could not find a relationship in the schema "
                               "cache (embedding is not supported by this test server)")
            alias, _, name = item.rpartition(":")
            column, _ = self.column(name, qualified=False)
            items.append(sql.SQL("{} AS {}").format(column, sql.Identifier(alias or name)))
        return sql.SQL(", ").join(items)

    def order(self, text: str | None) -> sql.Composable:
        if not text:
            return sql.SQL("")
        terms: list[sql.Composable] = []
        for term in text.split(","):
            name, *modifiers = term.split(".")
            column, _ = self.column(name)
            words = [column]
            for modifier in modifiers:
                keyword = {"asc": "ASC", "desc": "DESC", "nullsfirst": "NULLS FIRST",
                           "nullslast": "NULLS LAST"}.get(modifier)
                if keyword is None:
                    raise parse_error(f"failed to parse order ({text})")
                words.append(sql.SQL(keyword))
            terms.append(sql.SQL(" ").join(words))
        return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms)

    def columns(self, names: list[str]) -> list[str]:
        for name in names:
            if name not in self.table.columns:
                raise ApiError(400, "PGRST204", f"Could not find the '{name}' column of "
                               f"'{self.table.name}' in the schema cache")
        return names


def _int_param(args: MultiDict, name: str) -> int | None:
    value = args.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise parse_error(f"failed to parse {name} ({value})") from None
    if number < 0:
        raise parse_error(f"failed to parse {name} ({value})")
    return number


def _prefer(request: Request) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for header in request.headers.getlist("Prefer"):
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            if key:
                prefs[key] = value
    return prefs


# --- the server -------------------------------------------------------------------------------
class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """No access log: test output stays readable (`PostgrestServer.requests` counts)."""


class PostgrestServer:
    """Serves `/rest/v1/<table>` for one database on 127.0.0.1 (a free port), in a thread."""

    def __init__(
        self, dsn: str, key: str, schema: str = "public", max_rows: int | None = None
    ) -> None:
        """`max_rows` caps every read, like PostgREST's `db-max-rows` (Supabase: 1000)."""
        self.dsn, self.key, self.schema, self.max_rows = dsn, key, schema, max_rows
        self._pool: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._catalog: dict[str, Table] = {}
        self._catalog_lock = threading.Lock()
        self._server = make_server(
            "127.0.0.1", 0, self.wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> PostgrestServer:
        self.reload_schema()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        while not self._pool.empty():
            self._pool.get_nowait().close()

    def __enter__(self) -> PostgrestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(self.dsn, autocommit=True, options="-c timezone=UTC")
        try:
            yield conn
        finally:
            if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.close()
            else:
                self._pool.put(conn)

    def reload_schema(self) -> None:
        """Read the catalog again (PostgREST does so on `NOTIFY pgrst, 'reload schema'`)."""
        with self.connection() as conn:
            with conn.transaction():
                catalog = load_catalog(conn, self.schema)
        with self._catalog_lock:
            self._catalog = catalog

    def _table(self, name: str) -> Table:
        table = self._catalog.get(name)
        if table is None:
            self.reload_schema()
            table = self._catalog.get(name)
        if table is None:
            raise ApiError(404, "PGRST205", f"Could not find the table '{self.schema}.{name}' "
                           "in the schema cache")
        return table

    # --- WSGI ---------------------------------------------------------------------------------
    def wsgi(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        self.requests += 1
        try:
            response = self.handle(request)
        except ApiError as exc:
            response = self._json(exc.status, json.dumps(exc.body()))
        return response(environ, start_response)

    @staticmethod
    def _json(status: int, body: str | None, headers: dict[str, str] | None = None) -> Response:
        if body is None:
            return Response(status=status, headers=headers or {})
        return Response(body, status=status, headers=headers or {},
                        content_type="application/json; charset=utf-8")

    def handle(self, request: Request) -> Response:
        if request.headers.get("apikey") != self.key:
            raise ApiError(401, None, "Invalid API key",
                           hint="Double check your Supabase `anon` or `service_role` API key.")
        prefix = "/rest/v1/"
        if not request.path.startswith(prefix) or "/" in request.path[len(prefix):]:
            raise ApiError(404, None, f"no route for {request.path}")
        table = self._table(request.path[len(prefix):])
        builder = QueryBuilder(self.schema, table)
        method = request.method
        if method in ("GET", "HEAD"):
            return self._read(request, builder, head=method == "HEAD")
        if method in ("POST", "PATCH", "DELETE"):
            return self._write(request, builder)
        raise ApiError(405, None, f"method {method} not allowed")

    def _run(self, request: Request, query: sql.Composable, params: list[Any],
             count_query: sql.Composable | None = None) -> tuple[str, int, int | None]:
        """Run in one transaction: (JSON array text, rows, total); singular checks roll back."""
        single = OBJECT_MEDIA in (request.headers.get("Accept") or "")
        with self.connection() as conn:
            try:
                with conn.transaction():
                    body, rows = conn.execute(query, params).fetchone()
                    total = None
                    if count_query is not None:
                        total = conn.execute(count_query, params).fetchone()[0]
                    if single and rows != 1:
                        raise ApiError(406, "PGRST116", "JSON object requested, multiple (or no) "
                                       "rows returned", f"The result contains {rows} rows")
            except psycopg.Error as exc:
                diag = exc.diag
                code = diag.sqlstate or "XX000"
                raise ApiError(sqlstate_status(code), code, diag.message_primary or str(exc),
                               diag.message_detail, diag.message_hint) from None
        return body, rows, total

    def _respond(self, request: Request, status: int, body: str, rows: int,
                 content_range: str) -> Response:
        headers = {"Content-Range": content_range}
        if OBJECT_MEDIA in (request.headers.get("Accept") or ""):
            body = json.dumps(json.loads(body)[0], ensure_ascii=False)
        return self._json(status, body, headers)

    def _read(self, request: Request, builder: QueryBuilder, head: bool) -> Response:
        args, params = request.args, []
        where = builder.where(args, params)
        limit, offset = _int_param(args, "limit"), _int_param(args, "offset") or 0
        if self.max_rows is not None:
            limit = self.max_rows if limit is None else min(limit, self.max_rows)
        page = sql.SQL("")
        if limit is not None:
            page += sql.SQL(" LIMIT {}").format(sql.Literal(limit))
        if offset:
            page += sql.SQL(" OFFSET {}").format(sql.Literal(offset))
        inner = sql.SQL("SELECT {} FROM {}{}{}{}").format(
            builder.select_list(args.get("select")), builder.target, where,
            builder.order(args.get("order")), page,
        )
        query = sql.SQL("SELECT coalesce(json_agg(_t), '[]')::text, count(*) FROM ({}) _t").format(
            inner
        )
        count = _prefer(request).get("count") == "exact"
        count_query = (
            sql.SQL("SELECT count(*) FROM {}{}").format(builder.target, where) if count else None
        )
        body, rows, total = self._run(request, query, params, count_query)
        content_range = f"{offset}-{offset + rows - 1}" if rows else "*"
        content_range += f"/{total if total is not None else '*'}"
        status = 200
        if total is not None and rows < total and (offset or limit is not None):
            status = 206
        response = self._respond(request, status, body, rows, content_range)
        if head:
            response.set_data(b"")
        return response

    def _write(self, request: Request, builder: QueryBuilder) -> Response:
        prefs = _prefer(request)
        args, params = request.args, []
        representation = prefs.get("return") == "representation"
        if request.method == "POST":
            statement = self._insert(request, builder, prefs, params)
            status = 201
        elif request.method == "PATCH":
            statement = self._update(request, builder, params)
            status = 200 if representation else 204
        else:
            statement = sql.SQL("DELETE FROM {}{} RETURNING {}.*").format(
                builder.target, builder.where(args, params), builder.target
            )
            status = 200 if representation else 204
        query = sql.SQL(
            "WITH pgrst_source AS ({}) SELECT coalesce(json_agg(_t), '[]')::text, count(*) "
            "FROM (SELECT {} FROM pgrst_source) _t"
        ).format(statement, builder.select_list(args.get("select")))
        body, rows, _ = self._run(request, query, params)
        content_range = f"*/{rows}" if prefs.get("count") == "exact" else "*/*"
        if not representation:
            return self._json(status, None, {"Content-Range": content_range})
        return self._respond(request, status, body, rows, content_range)

    @staticmethod
    def _body(request: Request) -> Any:
        try:
            return json.loads(request.get_data() or b"null")
        except ValueError:
            raise ApiError(400, "PGRST102", "Empty or invalid json") from None

    def _insert(self, request: Request, builder: QueryBuilder, prefs: dict[str, str],
                params: list[Any]) -> sql.Composable:
        payload = self._body(request)
        rows = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(row, dict) for row in rows):
            raise ApiError(400, "PGRST102", "All object keys must match")
        if "columns" in request.args:
            names = [n.strip().strip('"') for n in request.args["columns"].split(",")]
        elif isinstance(payload, list):
            names = sorted({key for row in rows for key in row})
        else:
            names = list(payload)
        # A key absent from one row of a bulk insert becomes NULL (supabase-py's default,
        # `default_to_null`); `missing=default` is not implemented (the stores never send it).
        builder.columns(names)
        identifiers = sql.SQL(", ").join(sql.Identifier(n) for n in names)
        params.append(json.dumps(rows))
        statement = sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM json_populate_recordset(NULL::{}, %s::json) _"
        ).format(builder.target, identifiers, identifiers, builder.target)
        resolution = prefs.get("resolution")
        if resolution in ("merge-duplicates", "ignore-duplicates"):
            if "on_conflict" in request.args:
                target = [n.strip() for n in request.args["on_conflict"].split(",")]
            else:
                target = builder.table.primary_key
            builder.columns(target)
            conflict = sql.SQL(", ").join(sql.Identifier(n) for n in target)
            if resolution == "ignore-duplicates" or not names:
                action = sql.SQL("DO NOTHING")
            else:
                action = sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
                    sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n))
                    for n in names
                )
            statement += sql.SQL(" ON CONFLICT ({}) {}").format(conflict, action)
        return statement + sql.SQL(" RETURNING {}.*").format(builder.target)

    def _update(self, request: Request, builder: QueryBuilder,
                params: list[Any]) -> sql.Composable:
        payload = self._body(request)
        if not isinstance(payload, dict):
            raise ApiError(400, "PGRST102", "Empty or invalid json")
        names = builder.columns(list(payload))
        if not names:
            # PostgREST answers an empty PATCH without touching any row.
            return sql.SQL("SELECT * FROM {} WHERE false").format(builder.target)
        params.append(json.dumps(payload))
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = _src.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in names
        )
        where_params: list[Any] = []
        where = builder.where(request.args, where_params)
        params.extend(where_params)
        return sql.SQL(
            "UPDATE {} SET {} FROM (SELECT * FROM json_populate_record(NULL::{}, %s::json)) _src"
            "{} RETURNING {}.*"
        ).format(builder.target, assignments, builder.target, where, builder.target)
