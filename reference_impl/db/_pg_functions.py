"""SQL functions the PostgreSQL dialect renders filters with, installed at engine start.

``pb_strftime(format, time_value, modifiers text[])`` is SQLite's ``strftime`` (the filter
function PocketBase passes straight to SQLite), in PL/pgSQL:

- time values: ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM[:SS[.fff]]`` (space or ``T``) with an
  optional ``Z`` or ``±HH:MM``, ``HH:MM[:SS[.fff]]`` (on 2000-01-01), ``now``, and a number
  (a Julian day, or Unix seconds after ``unixepoch``); anything else gives NULL;
- modifiers: ``±N days|hours|minutes|seconds|months|years`` (singular too; months and
  years keep the day and let it overflow, as SQLite), ``±HH:MM[:SS]``, ``start of
  day|month|year``, ``weekday N``, ``unixepoch``, ``julianday``, ``auto``, ``utc``,
  ``localtime`` (the server runs in UTC, as PocketBase's), ``subsec``; an unknown one gives
  NULL;
- formats: ``%d %e %f %F %H %I %j %J %k %l %m %M %p %R %s %S %T %u %w %W %Y %%``; an unknown
  one gives NULL.

Everything is UTC. Created with ``CREATE OR REPLACE`` under a transaction-scoped advisory
lock, so several servers starting on one database do not collide.
"""

from __future__ import annotations

INSTALL_LOCK = 7_311_802_401  # pg_advisory_xact_lock key: installing these functions

STRFTIME = r"""
CREATE OR REPLACE FUNCTION pb_strftime(fmt text, tv text, mods text[] DEFAULT '{}')
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
DECLARE
    t timestamp;
    num double precision;
    is_num boolean := false;
    m text;
    parts text[];
    n double precision;
    unit text;
    y int; mo int; d int;
    out text := '';
    i int := 1;
    c text;
    jd double precision;
BEGIN
    IF fmt IS NULL OR tv IS NULL THEN
        RETURN NULL;
    END IF;
    tv := btrim(tv);
    IF lower(tv) = 'now' THEN
        t := (now() AT TIME ZONE 'UTC');
    ELSIF tv ~ '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$' THEN
        num := tv::double precision;
        is_num := true;
        IF num < 0 OR num > 5373484.499999 THEN  -- SQLite's Julian day range
            IF NOT ('unixepoch' = ANY (mods)) OR abs(num) > 253402300799 THEN
                RETURN NULL;
            END IF;
        ELSE
            t := timestamp '1970-01-01' + ((num - 2440587.5) * 86400) * interval '1 second';
        END IF;
    ELSIF tv ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        BEGIN t := tv::timestamp; EXCEPTION WHEN others THEN RETURN NULL; END;
    ELSIF tv ~ ('^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?'
                || '(Z|z|[+-][0-9]{2}:[0-9]{2})?$') THEN
        BEGIN
            IF tv ~ '[Zz]$' THEN
                t := (rtrim(rtrim(tv, 'Z'), 'z') || '+00:00')::timestamptz AT TIME ZONE 'UTC';
            ELSIF tv ~ '[+-][0-9]{2}:[0-9]{2}$' THEN
                t := tv::timestamptz AT TIME ZONE 'UTC';
            ELSE
                t := tv::timestamp;
            END IF;
        EXCEPTION WHEN others THEN RETURN NULL;
        END;
    ELSIF tv ~ '^[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?$' THEN
        BEGIN t := ('2000-01-01 ' || tv)::timestamp; EXCEPTION WHEN others THEN RETURN NULL; END;
    ELSE
        RETURN NULL;
    END IF;

    FOREACH m IN ARRAY mods LOOP
        IF m IS NULL THEN RETURN NULL; END IF;
        m := lower(btrim(m));
        IF m = 'unixepoch' AND is_num THEN
            t := timestamp '1970-01-01' + num * interval '1 second';
        ELSIF m IN ('julianday', 'auto', 'utc', 'localtime', 'subsec', 'subsecond') THEN
            NULL;
        ELSIF m = 'start of day' THEN
            t := date_trunc('day', t);
        ELSIF m = 'start of month' THEN
            t := date_trunc('month', t);
        ELSIF m = 'start of year' THEN
            t := date_trunc('year', t);
        ELSIF m ~ '^weekday [0-6]$' THEN
            t := t + ((substr(m, 9)::int - extract(dow FROM t)::int + 7) % 7) * interval '1 day';
        ELSIF m ~ '^[+-]?[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?$' THEN
            IF left(m, 1) = '-' THEN
                t := t - ltrim(m, '-')::interval;
            ELSE
                t := t + ltrim(m, '+')::interval;
            END IF;
        ELSIF m ~ ('^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+) +'
                   || '(day|hour|minute|second|month|year)s?$') THEN
            parts := regexp_split_to_array(m, ' +');
            n := parts[1]::double precision;
            IF abs(n) > 10000000 THEN  -- beyond any date SQLite can hold
                RETURN NULL;
            END IF;
            unit := rtrim(parts[2], 's');
            IF unit IN ('month', 'year') THEN
                -- SQLite: change the month (or year), keep the day, let it overflow
                y := extract(year FROM t)::int;
                mo := extract(month FROM t)::int - 1
                      + trunc(n)::int * (CASE WHEN unit = 'year' THEN 12 ELSE 1 END);
                d := extract(day FROM t)::int;
                y := y + floor(mo / 12.0)::int;
                mo := mo - floor(mo / 12.0)::int * 12;
                t := make_timestamp(y, mo + 1, 1, 0, 0, 0) + (d - 1) * interval '1 day'
                     + (t - date_trunc('day', t));
                IF n <> trunc(n) THEN
                    t := t + (n - trunc(n))
                         * (CASE WHEN unit = 'year' THEN 365 ELSE 30 END) * interval '1 day';
                END IF;
            ELSE
                t := t + n * ('1 ' || unit)::interval;
            END IF;
        ELSE
            RETURN NULL;
        END IF;
    END LOOP;

    IF t IS NULL OR t < timestamp '0001-01-01 BC' OR t >= timestamp '10000-01-01' THEN
        RETURN NULL;
    END IF;
    jd := extract(epoch FROM t) / 86400.0 + 2440587.5;
    WHILE i <= length(fmt) LOOP
        c := substr(fmt, i, 1);
        IF c <> '%' THEN
            out := out || c;
            i := i + 1;
            CONTINUE;
        END IF;
        c := substr(fmt, i + 1, 1);
        i := i + 2;
        out := out || CASE c
            WHEN 'd' THEN to_char(t, 'DD')
            WHEN 'e' THEN lpad(extract(day FROM t)::int::text, 2)
            WHEN 'f' THEN to_char(t, 'SS.MS')
            WHEN 'F' THEN to_char(t, 'YYYY-MM-DD')
            WHEN 'H' THEN to_char(t, 'HH24')
            WHEN 'I' THEN to_char(t, 'HH12')
            WHEN 'j' THEN to_char(t, 'DDD')
            WHEN 'J' THEN rtrim(rtrim(to_char(jd, 'FM99999999990.999999999'), '0'), '.')
            WHEN 'k' THEN lpad(extract(hour FROM t)::int::text, 2)
            WHEN 'l' THEN lpad((((extract(hour FROM t)::int + 11) % 12) + 1)::text, 2)
            WHEN 'm' THEN to_char(t, 'MM')
            WHEN 'M' THEN to_char(t, 'MI')
            WHEN 'p' THEN CASE WHEN extract(hour FROM t) < 12 THEN 'AM' ELSE 'PM' END
            WHEN 'P' THEN CASE WHEN extract(hour FROM t) < 12 THEN 'am' ELSE 'pm' END
            WHEN 'R' THEN to_char(t, 'HH24:MI')
            WHEN 's' THEN floor(extract(epoch FROM t))::bigint::text
            WHEN 'S' THEN to_char(t, 'SS')
            WHEN 'T' THEN to_char(t, 'HH24:MI:SS')
            WHEN 'u' THEN extract(isodow FROM t)::int::text
            WHEN 'w' THEN extract(dow FROM t)::int::text
            WHEN 'W' THEN lpad(((extract(doy FROM t)::int + 6
                                - ((extract(dow FROM t)::int + 6) % 7)) / 7)::text, 2, '0')
            WHEN 'Y' THEN lpad(extract(year FROM t)::int::text, 4, '0')
            WHEN '%' THEN '%'
            ELSE NULL
        END;
        IF out IS NULL THEN
            RETURN NULL;
        END IF;
    END LOOP;
    RETURN out;
END
$fn$
"""


def install_statements(schema_ref: str) -> list[str]:
    """The statements that (re)create the functions in the app's schema."""
    return [
        f"SELECT pg_advisory_xact_lock({INSTALL_LOCK})",
        f"SET LOCAL search_path TO {schema_ref}",
        STRFTIME,
    ]
