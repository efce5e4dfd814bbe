-- A Model's fallbacks (ADR 0122): a request may try several upstreams before one answers. Each
-- attempt is a usage row with the request's id and its attempt number (1, 2, ...); the failed
-- ones cost nothing (no upstream served them) and carry outcome 'fallback'. Adding a column
-- with a constant default rewrites no rows.
alter table usage add column attempt smallint not null default 1;
